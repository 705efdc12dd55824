//! The query API's routes, one row each: what a path serves, the method it
//! takes and whether a browser's `Origin` is checked. The `404`, the `405`
//! with its `Allow` and the cross-origin `403` follow from the table, so a
//! new route is one row in [`ROUTES`] and one arm where [`Endpoint`] is
//! answered (`Conn::query`); the compiler asks for the arm.
//!
//! The control API's table is [`crate::serve::control`]'s `ROUTES`; both
//! take methods by the same rule ([`check_method`]).

use crate::http::Method;
use crate::serve::control::{RouteError, check_method};

/// What a query route answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `GET /`: the ring's messages, streamed.
    Dump,
    /// `GET /ws`: a websocket follower.
    Follow,
    /// `GET /ui`: the viewer page.
    Ui,
    /// `GET /snapshots`: the list.
    Snapshots,
    /// `GET /snapshots/ID/`: a snapshot's messages, streamed.
    SnapshotDump,
    /// `GET /histogram`: the ring's matches per time bucket and severity.
    Histogram,
    /// `GET /snapshots/ID/histogram`: the same of a snapshot.
    SnapshotHistogram,
}

/// One row of the query API.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    pub(super) endpoint: Endpoint,
    /// The method it takes ([`Method::Get`] takes `HEAD` too); any other
    /// is a `405`.
    pub(super) method: Method,
    /// The path, exactly; [`ID`] in it stands for a snapshot id (digits).
    pub(super) path: &'static str,
    /// Over TCP, a request whose `Origin` is not the `Host` it was sent to
    /// is refused `403`: what a browser page loads or upgrades to, and
    /// must not read from another site.
    pub(super) same_origin: bool,
}

/// Where a snapshot id goes in [`Route::path`].
pub(super) const ID: &str = "{id}";

/// Every query route. A path with a snapshot id is listed with and without
/// its last slash when both are taken.
pub(super) const ROUTES: &[Route] = &[
    Route {
        endpoint: Endpoint::Dump,
        method: Method::Get,
        path: "/",
        same_origin: false,
    },
    Route {
        endpoint: Endpoint::Follow,
        method: Method::Get,
        path: "/ws",
        same_origin: true,
    },
    Route {
        endpoint: Endpoint::Ui,
        method: Method::Get,
        path: "/ui",
        same_origin: true,
    },
    // The list, for readers who may read snapshots but not control the
    // daemon (the control socket has it too).
    Route {
        endpoint: Endpoint::Snapshots,
        method: Method::Get,
        path: "/snapshots",
        same_origin: false,
    },
    Route {
        endpoint: Endpoint::SnapshotDump,
        method: Method::Get,
        path: "/snapshots/{id}/",
        same_origin: false,
    },
    Route {
        endpoint: Endpoint::SnapshotDump,
        method: Method::Get,
        path: "/snapshots/{id}",
        same_origin: false,
    },
    Route {
        endpoint: Endpoint::Histogram,
        method: Method::Get,
        path: "/histogram",
        same_origin: false,
    },
    Route {
        endpoint: Endpoint::SnapshotHistogram,
        method: Method::Get,
        path: "/snapshots/{id}/histogram",
        same_origin: false,
    },
];

/// A request's route, and the snapshot id its path names (`None` for a
/// path without one).
pub(super) fn find(
    method: Method,
    path: &str,
) -> Result<(&'static Route, Option<u64>), RouteError> {
    let (route, id) = ROUTES
        .iter()
        .find_map(|r| matches(r.path, path).map(|id| (r, id)))
        .ok_or(RouteError::NotFound)?;
    check_method(route.method, method)?;
    match id {
        // An id too large for a u64 names no snapshot.
        Some(digits) => match digits.parse() {
            Ok(id) => Ok((route, Some(id))),
            Err(_) => Err(RouteError::NotFound),
        },
        None => Ok((route, None)),
    }
}

/// Whether `path` is `pattern`: `Some(None)` for a pattern without an id,
/// `Some(Some(digits))` with the id's digits, `None` when it is not.
fn matches<'p>(pattern: &str, path: &'p str) -> Option<Option<&'p str>> {
    let Some((before, after)) = pattern.split_once(ID) else {
        return (pattern == path).then_some(None);
    };
    let digits = path.strip_prefix(before)?.strip_suffix(after)?;
    let is_id = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    is_id.then_some(Some(digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_exactly_and_ids_are_digits() {
        let endpoint = |path: &str| find(Method::Get, path).map(|(r, id)| (r.endpoint, id));
        assert_eq!(endpoint("/"), Ok((Endpoint::Dump, None)));
        assert_eq!(endpoint("/ws"), Ok((Endpoint::Follow, None)));
        assert_eq!(endpoint("/snapshots"), Ok((Endpoint::Snapshots, None)));
        assert_eq!(
            endpoint("/snapshots/7/"),
            Ok((Endpoint::SnapshotDump, Some(7)))
        );
        assert_eq!(
            endpoint("/snapshots/7"),
            Ok((Endpoint::SnapshotDump, Some(7)))
        );
        for path in [
            "/ws/",
            "/ui/",
            "//",
            "/snapshots/",
            "/snapshots//",
            "/snapshots/x/",
            "/snapshots/-1",
            "/snapshots/7//",
            "/snapshots/99999999999999999999/",
            "",
        ] {
            assert_eq!(endpoint(path), Err(RouteError::NotFound), "{path:?}");
        }
    }

    #[test]
    fn an_id_may_sit_anywhere_in_a_pattern() {
        let pattern = "/snapshots/{id}/histogram";
        assert_eq!(
            matches(pattern, "/snapshots/12/histogram"),
            Some(Some("12"))
        );
        for path in [
            "/snapshots/12/histogram/",
            "/snapshots//histogram",
            "/snapshots/1x/histogram",
            "/snapshots/12",
        ] {
            assert_eq!(matches(pattern, path), None, "{path}");
        }
        assert_eq!(matches("/histogram", "/histogram"), Some(None));
    }

    #[test]
    fn every_route_takes_its_method_and_refuses_the_others() {
        let all = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Delete,
            Method::Other,
        ];
        for r in ROUTES {
            let path = r.path.replace(ID, "1");
            for m in all {
                let taken = m == r.method || (r.method == Method::Get && m == Method::Head);
                match find(m, &path) {
                    Ok((found, _)) => {
                        assert!(taken, "{m:?} {path}");
                        assert_eq!(found.endpoint, r.endpoint, "{path}");
                    }
                    Err(RouteError::MethodNotAllowed(allow)) => {
                        assert!(!taken, "{m:?} {path}");
                        let want = if r.method == Method::Get {
                            "GET, HEAD"
                        } else {
                            allow
                        };
                        assert_eq!(allow, want);
                    }
                    Err(e) => panic!("{m:?} {path}: {e:?}"),
                }
            }
        }
    }
}
