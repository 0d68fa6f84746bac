//! `REVIEWGATE_LISTEN`: the IP address and port the server binds.
//!
//! An error says what is wrong with the value, not only what a good one looks like: a
//! hostname (the server binds an address; it does not look names up), a port out of range, a
//! missing port, an IPv6 address without brackets.

use std::net::{IpAddr, SocketAddr};

use super::{ConfigError, err};

const SETTING: &str = "REVIEWGATE_LISTEN";

pub(super) fn parse(value: &str) -> Result<SocketAddr, ConfigError> {
    let v = value.trim();
    v.parse::<SocketAddr>().map_err(|_| {
        err(
            SETTING,
            format!(
                "must be an address and port such as 0.0.0.0:8080 or [::]:8080, not {value:?}: {}",
                why(v)
            ),
        )
    })
}

/// What is wrong with a value `SocketAddr` does not accept.
fn why(v: &str) -> String {
    if v.is_empty() {
        return "it is empty".into();
    }
    if v.parse::<IpAddr>().is_ok() {
        return if v.contains(':') {
            "an IPv6 address needs brackets and a port, such as [::]:8080".into()
        } else {
            format!("the port is missing; add it after a colon, such as {v}:8080")
        };
    }
    let bracketed = v.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if bracketed.is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok()) {
        return format!("the port is missing; add it after the bracket, such as {v}:8080");
    }
    if v.chars().all(|c| c.is_ascii_digit()) {
        return format!("only a port; give the address too, such as 0.0.0.0:{v}");
    }
    let (host, port) = match v.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (v, None),
    };
    let host_ok = host.parse::<IpAddr>().is_ok()
        || host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    if !host_ok {
        if host.contains(':') {
            return "an IPv6 address needs brackets, such as [::]:8080 or [::1]:8080".into();
        }
        return format!(
            "{host:?} is not an IP address; a hostname is not allowed (use 0.0.0.0 for every IPv4 interface, [::] for every interface, 127.0.0.1 for this machine only)"
        );
    }
    match port {
        None | Some("") => "the port is missing; add it after a colon, such as :8080".into(),
        Some(p) if p.chars().all(|c| c.is_ascii_digit()) => {
            format!("the port {p} is out of range (0 to 65535)")
        }
        Some(p) => format!("the port {p:?} is not a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_both_families_are_read() {
        assert_eq!(
            parse("0.0.0.0:8080").expect("v4").to_string(),
            "0.0.0.0:8080"
        );
        assert_eq!(parse(" [::]:8080 ").expect("v6").to_string(), "[::]:8080");
        assert_eq!(parse("[::1]:9000").expect("v6").port(), 9000);
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            ("localhost:8080", "a hostname is not allowed"),
            ("reviewgate.example:8080", "a hostname is not allowed"),
            (
                "0.0.0.0:70000",
                "the port 70000 is out of range (0 to 65535)",
            ),
            ("[::]:99999", "the port 99999 is out of range"),
            ("0.0.0.0:http", "the port \"http\" is not a number"),
            (
                "8080",
                "only a port; give the address too, such as 0.0.0.0:8080",
            ),
            ("0.0.0.0", "the port is missing"),
            ("0.0.0.0:", "the port is missing"),
            (
                "[::1]",
                "the port is missing; add it after the bracket, such as [::1]:8080",
            ),
            ("::", "an IPv6 address needs brackets"),
            ("::1:8080", "an IPv6 address needs brackets"),
            ("", "it is empty"),
        ];
        for (value, want) in cases {
            let e = parse(value).expect_err(value).to_string();
            assert!(
                e.starts_with("REVIEWGATE_LISTEN: must be an address and port"),
                "{e}"
            );
            assert!(e.contains(want), "{value}: want {want:?} in {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
