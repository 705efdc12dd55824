//! What the three binaries share on their command lines: Go-style
//! one-dash long flags, sizes, durations and the default socket paths
//! ([`config`]); the manual pages and shell completions ([`manual`]), and
//! the documentation of the query parameters they share ([`params`]).

#![forbid(unsafe_code)]

pub mod config;
pub mod manual;
pub mod params;
