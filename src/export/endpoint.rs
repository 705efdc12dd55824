//! The `-export-otlp` URL: `http://HOST[:PORT][/PATH]`.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// The path OTLP/HTTP receivers serve logs on, used when the URL has none.
pub const DEFAULT_PATH: &str = "/v1/logs";

/// Where records are POSTed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// A name or an address, IPv6 without its brackets: what the driver
    /// resolves and connects to.
    host: String,
    port: u16,
    /// `host:port` as the URL wrote it (IPv6 in brackets): the `Host` header.
    authority: String,
    /// Path and query: the request target.
    target: String,
}

/// Why a URL is not an endpoint we can export to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointError {
    /// `https://`: there is no TLS here.
    Https,
    /// Not `http://`.
    Scheme,
    Empty,
    /// `user:password@`: credentials are not sent.
    UserInfo,
    BadHost,
    BadPort,
    /// A `#fragment`, which is never sent.
    Fragment,
    /// A space or a control character, which cannot go in a request line.
    BadChar,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointError::Https => {
                "https is not supported: export over http:// to a local collector (e.g. http://127.0.0.1:4318/v1/logs)"
            }
            EndpointError::Scheme => {
                "the URL must start with http:// (e.g. http://127.0.0.1:4318/v1/logs)"
            }
            EndpointError::Empty => "the URL has no host",
            EndpointError::UserInfo => "credentials in the URL are not supported",
            EndpointError::BadHost => {
                "the host must be a name, an IPv4 address or an IPv6 address in brackets"
            }
            EndpointError::BadPort => "the port must be a number from 1 to 65535",
            EndpointError::Fragment => "the URL must not have a #fragment",
            EndpointError::BadChar => "the URL must not contain spaces or control characters",
        })
    }
}

impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Parses `http://HOST[:PORT][/PATH][?QUERY]`. Without a port it is 80,
    /// as for any `http://` URL; without a path it is [`DEFAULT_PATH`] (a
    /// collector's base address is enough, as for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(EndpointError::BadChar);
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(EndpointError::Scheme);
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(EndpointError::Https);
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(EndpointError::Scheme);
        }
        if rest.contains('#') {
            return Err(EndpointError::Fragment);
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        if authority.is_empty() {
            return Err(EndpointError::Empty);
        }
        let (host, port) = split_host_port(authority)?;
        let target = match target {
            "" | "/" => DEFAULT_PATH.to_string(),
            t if t.starts_with('?') => format!("{DEFAULT_PATH}{t}"),
            t => t.to_string(),
        };
        Ok(Endpoint {
            host: host.to_string(),
            port,
            authority: authority.to_string(),
            target,
        })
    }

    /// The endpoint's address, resolved (once, at start-up: a name that
    /// moves needs a restart).
    pub fn resolve(&self) -> Result<std::net::SocketAddr, String> {
        use std::net::ToSocketAddrs;
        (self.host(), self.port())
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("cannot resolve the -export-otlp host {:?}", self.host()))
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.target)
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), EndpointError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(EndpointError::BadHost)?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(EndpointError::BadHost);
        }
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or(EndpointError::BadHost)?),
            ),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let name_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        if host.is_empty() || !host.bytes().all(name_char) {
            return Err(EndpointError::BadHost);
        }
        (host, port)
    };
    let port = match port {
        None => 80,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or(EndpointError::BadPort)?,
        Some(_) => return Err(EndpointError::BadPort),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, u16, String, String) {
        let e = Endpoint::parse(url).unwrap();
        (
            e.host().to_string(),
            e.port(),
            e.authority().to_string(),
            e.target().to_string(),
        )
    }

    #[test]
    fn parses_the_usual_endpoints() {
        assert_eq!(
            parts("http://127.0.0.1:4318/v1/logs"),
            (
                "127.0.0.1".into(),
                4318,
                "127.0.0.1:4318".into(),
                "/v1/logs".into()
            )
        );
        assert_eq!(
            parts("HTTP://collector.local:4318/otlp/v1/logs?tenant=a"),
            (
                "collector.local".into(),
                4318,
                "collector.local:4318".into(),
                "/otlp/v1/logs?tenant=a".into()
            )
        );
        assert_eq!(
            parts("http://[::1]:4318/v1/logs"),
            ("::1".into(), 4318, "[::1]:4318".into(), "/v1/logs".into())
        );
    }

    #[test]
    fn a_base_address_gets_the_logs_path_and_port_80() {
        assert_eq!(parts("http://localhost:4318").3, "/v1/logs");
        assert_eq!(parts("http://localhost:4318/").3, "/v1/logs");
        assert_eq!(parts("http://localhost?x=1").3, "/v1/logs?x=1");
        assert_eq!(parts("http://localhost").1, 80);
        assert_eq!(parts("http://[::1]/v1/logs").1, 80);
    }

    #[test]
    fn refuses_what_it_cannot_send_with_a_clear_reason() {
        for (url, err) in [
            ("https://127.0.0.1:4318/v1/logs", EndpointError::Https),
            ("grpc://127.0.0.1:4317", EndpointError::Scheme),
            ("127.0.0.1:4318", EndpointError::Scheme),
            ("http://", EndpointError::Empty),
            ("http:///v1/logs", EndpointError::Empty),
            ("http://u:p@host:4318/v1/logs", EndpointError::UserInfo),
            ("http://host:0/v1/logs", EndpointError::BadPort),
            ("http://host:65536/v1/logs", EndpointError::BadPort),
            ("http://host:/v1/logs", EndpointError::BadPort),
            ("http://host:+80/v1/logs", EndpointError::BadPort),
            ("http://host:4318:1/v1/logs", EndpointError::BadPort),
            ("http://[::1/v1/logs", EndpointError::BadHost),
            ("http://[zz]:4318/v1/logs", EndpointError::BadHost),
            ("http://[::1]4318/v1/logs", EndpointError::BadHost),
            ("http://ho%st/v1/logs", EndpointError::BadHost),
            ("http://host/v1/logs#frag", EndpointError::Fragment),
            ("http://host/v1 logs", EndpointError::BadChar),
            ("http://host/v1/logs\r\nX: y", EndpointError::BadChar),
        ] {
            assert_eq!(Endpoint::parse(url), Err(err.clone()), "{url}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn displays_as_the_url_it_posts_to() {
        assert_eq!(
            Endpoint::parse("http://localhost:4318")
                .unwrap()
                .to_string(),
            "http://localhost:4318/v1/logs"
        );
    }
}
