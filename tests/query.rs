//! The query API: every parameter and format, headers, HTTP behaviour.
