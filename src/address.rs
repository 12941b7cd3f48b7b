//! Host and port, read once: `--host` and `--port` become an [`Address`]
//! here, IPv6 brackets included, so no other code trims or adds brackets.
//! Pure: resolving the name is the caller's business.

use std::fmt;
use std::net::IpAddr;

/// The port `serve` listens on and `join` connects to unless told otherwise.
pub const DEFAULT_PORT: u16 = 3000;

/// A host (a name, an IPv4 or an IPv6 address, stored without brackets)
/// and a port. Shown as a person writes it: `[::1]:3000`, `chat.lan:3000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Without brackets, as a resolver and a TLS name check want it.
    host: String,
    /// The TCP port; 0 asks the system for a free one (when listening).
    port: u16,
}

/// The port, as the command line gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Given (`--port`, or its environment variable): it must not be
    /// contradicted by a port written into the host.
    Given(u16),
    /// Not given: this one, unless the host names its own (`chat.lan:4000`).
    Default(u16),
}

/// Why a `--host` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Nothing given.
    Empty,
    /// `--host 127.0.0.1:3000 --port 4000`: which one is meant?
    TwoPorts {
        /// The host, bracketed if IPv6, without its port.
        host: String,
        /// The port written into the host.
        in_host: u16,
        /// The port given with `--port`.
        given: u16,
    },
    /// Neither a name nor an address (`a:b`, `[::1]x`).
    Malformed(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Empty => f.write_str("--host is empty: give a hostname or an IP address"),
            AddressError::TwoPorts {
                host,
                in_host,
                given,
            } => write!(
                f,
                "--host {host}:{in_host} names port {in_host} but --port (or SOCKCHAT_PORT) \
                 says {given}: give the port once, as --host {host} --port {in_host}"
            ),
            AddressError::Malformed(text) => {
                write!(f, "--host {text:?} is not a hostname or an IP address")
            }
        }
    }
}

impl std::error::Error for AddressError {}

impl Address {
    /// `host` as typed after `--host`: a name or an address, brackets
    /// around an IPv6 address optional, and optionally `:PORT` after it
    /// (`127.0.0.1:3000`, `[::1]:3000`), which stands in for a port not
    /// given otherwise and must agree with one that was.
    pub fn parse(host: &str, port: Port) -> Result<Address, AddressError> {
        let (bare, in_host) = split(host)?;
        if bare.is_empty() {
            return Err(AddressError::Empty);
        }
        let port = match (in_host, port) {
            (None, Port::Given(port) | Port::Default(port)) => port,
            (Some(in_host), Port::Default(_)) => in_host,
            (Some(in_host), Port::Given(given)) if in_host == given => given,
            (Some(in_host), Port::Given(given)) => {
                let host = bracketed(bare);
                return Err(AddressError::TwoPorts {
                    host,
                    in_host,
                    given,
                });
            }
        };
        Ok(Address {
            host: bare.to_string(),
            port,
        })
    }

    /// The host, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", bracketed(&self.host), self.port)
    }
}

/// `host` without its brackets, and the port written after it, if any.
/// One colon is a name or IPv4 address with a port; more are an IPv6
/// address, which needs brackets to carry a port.
fn split(host: &str) -> Result<(&str, Option<u16>), AddressError> {
    let malformed = || AddressError::Malformed(host.to_string());
    if let Some(rest) = host.strip_prefix('[') {
        let (inner, tail) = rest.split_once(']').ok_or_else(malformed)?;
        return match tail {
            "" => Ok((inner, None)),
            _ => {
                let port = tail.strip_prefix(':').ok_or_else(malformed)?;
                Ok((inner, Some(port.parse().map_err(|_| malformed())?)))
            }
        };
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => {
            Ok((name, Some(port.parse().map_err(|_| malformed())?)))
        }
        _ => Ok((host, None)),
    }
}

/// `::1` must be written `[::1]` before `:port`.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(host: &str) -> Result<Address, AddressError> {
        Address::parse(host, Port::Default(DEFAULT_PORT))
    }

    fn shown(host: &str, port: u16) -> String {
        Address::parse(host, Port::Given(port)).unwrap().to_string()
    }

    #[test]
    fn ipv6_hosts_are_bracketed_once() {
        assert_eq!(shown("::1", 3000), "[::1]:3000");
        assert_eq!(shown("[::1]", 3000), "[::1]:3000");
        assert_eq!(parse("[::1]").unwrap().host(), "::1");
        assert_eq!(shown("example.org", 80), "example.org:80");
        assert_eq!(shown("127.0.0.1", 0), "127.0.0.1:0");
    }

    #[test]
    fn ip_addresses_are_recognized_with_or_without_brackets() {
        let v6 = parse("[::]").unwrap();
        assert!(v6
            .ip()
            .is_some_and(|ip| ip.is_unspecified() && ip.is_ipv6()));
        assert!(parse("0.0.0.0").unwrap().ip().is_some());
        assert_eq!(parse("chat.lan").unwrap().ip(), None);
    }

    #[test]
    fn a_port_in_the_host_stands_in_for_a_port_not_given() {
        assert_eq!(
            parse("127.0.0.1:4000").unwrap().to_string(),
            "127.0.0.1:4000"
        );
        let v6 = parse("[::1]:4000").unwrap();
        assert_eq!((v6.host(), v6.port()), ("::1", 4000));
        assert_eq!(parse("chat.lan:0").unwrap().port(), 0);
        // The same port twice is no contradiction.
        assert_eq!(shown("chat.lan:4000", 4000), "chat.lan:4000");
    }

    #[test]
    fn two_different_ports_are_refused_with_the_way_to_give_one() {
        let error = Address::parse("127.0.0.1:4000", Port::Given(3001)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--host 127.0.0.1:4000 names port 4000 but --port (or SOCKCHAT_PORT) says 3001: \
             give the port once, as --host 127.0.0.1 --port 4000"
        );
        let error = Address::parse("[::1]:4000", Port::Given(3000)).unwrap_err();
        assert_eq!(
            error,
            AddressError::TwoPorts {
                host: "[::1]".into(),
                in_host: 4000,
                given: 3000
            }
        );
    }

    #[test]
    fn malformed_hosts_are_refused_in_words() {
        for bad in ["a:b", "[::1]x", "[::1", "[::1]:port", "host:99999", "host:"] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error, AddressError::Malformed(bad.into()), "{bad}");
        }
        assert_eq!(parse(""), Err(AddressError::Empty));
        assert_eq!(parse("[]"), Err(AddressError::Empty));
        assert_eq!(parse(":3000"), Err(AddressError::Empty));
    }
}
