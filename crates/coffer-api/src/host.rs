//! Host-based routing: which role a request is for, read from `:authority` or `Host`, and the
//! strict syntax an authority must have before it is used (it is echoed into response ids).

use axum::extract::Request;

/// The role a request's host names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `login.<domain>`: the token issuer.
    Identity,
    /// `<vault>.vault.<domain>`.
    Vault(String),
    /// `management.<domain>`: the ARM-shaped management API.
    Management,
    /// `graph.<domain>`: the Microsoft Graph-shaped directory API.
    Graph,
    /// Anything else (kept for the error message).
    Other(String),
}

/// The host (with port) the client addressed.
pub(crate) fn authority(req: &Request) -> String {
    authority_of(req.uri(), req.headers())
}

/// The host (with port) named by a request's URI (HTTP/2) or `Host` header (HTTP/1.1).
pub(crate) fn authority_of(uri: &http::Uri, headers: &http::HeaderMap) -> String {
    uri.authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Why a `Host` or `:authority` is not a valid authority.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than 262 characters")]
    TooLong,
    #[error("its host has a character that a host name cannot have")]
    BadHost,
    #[error("its bracketed IPv6 address is not valid")]
    BadIpv6,
    #[error("its port is not a number from 0 to 65535")]
    BadPort,
}

/// A syntactically valid authority: a DNS name (letters, digits, `-`, `_`, `.`), an IPv4
/// address or a bracketed IPv6 address, then an optional `:port` of at most 65535. Nothing else:
/// no user info, path, query or fragment, no empty port.
pub fn parse_authority(s: &str) -> Result<(&str, Option<u16>), AuthorityError> {
    if s.is_empty() {
        return Err(AuthorityError::Empty);
    }
    // 253 for the name, brackets or not, and ":65535".
    if s.len() > 262 {
        return Err(AuthorityError::TooLong);
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or(AuthorityError::BadIpv6)?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| AuthorityError::BadIpv6)?;
        let host = s.get(..addr.len() + 2).ok_or(AuthorityError::BadIpv6)?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or(AuthorityError::BadPort)?),
            ),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !host.starts_with('[') && (host.is_empty() || !host.chars().all(name_char)) {
        return Err(AuthorityError::BadHost);
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| AuthorityError::BadPort)?)
        }
        Some(_) => return Err(AuthorityError::BadPort),
    };
    Ok((host, port))
}

/// Strips the port from `host[:port]` (IPv6 literals keep their brackets).
fn hostname(authority: &str) -> &str {
    if authority.starts_with('[') {
        // `[::1]:8443` → `[::1]`; a lone or unclosed bracket is kept whole (and matches nothing).
        return match authority.find(']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

pub(crate) fn classify(req: &Request, domain: &str) -> Role {
    let auth = authority(req);
    let host = hostname(&auth).trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    if host == format!("login.{domain}") {
        return Role::Identity;
    }
    if host == format!("management.{domain}") {
        return Role::Management;
    }
    if host == format!("graph.{domain}") {
        return Role::Graph;
    }
    if let Some(vault) = host.strip_suffix(&format!(".vault.{domain}"))
        && !vault.is_empty()
        && !vault.contains('.')
    {
        return Role::Vault(vault.to_owned());
    }
    Role::Other(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str) -> Request {
        http::Request::builder()
            .uri("/x")
            .header("host", host)
            .body(axum::body::Body::empty())
            .unwrap_or_default()
    }

    #[test]
    fn authorities() {
        let good: &[(&str, &str, Option<u16>)] = &[
            (
                "dev.vault.localhost:8443",
                "dev.vault.localhost",
                Some(8443),
            ),
            ("localhost", "localhost", None),
            ("127.0.0.1:0", "127.0.0.1", Some(0)),
            ("[::1]:65535", "[::1]", Some(65535)),
            ("[2001:db8::1]", "[2001:db8::1]", None),
            ("my_host.example.", "my_host.example.", None),
        ];
        for (s, host, port) in good {
            assert_eq!(parse_authority(s), Ok((*host, *port)), "{s}");
        }
        let bad: &[(&str, AuthorityError)] = &[
            ("", AuthorityError::Empty),
            ("dev.vault.localhost:8443/x", AuthorityError::BadPort),
            ("dev.vault.localhost/x", AuthorityError::BadHost),
            ("dev.vault.localhost:65536", AuthorityError::BadPort),
            ("dev.vault.localhost:99999", AuthorityError::BadPort),
            ("dev.vault.localhost:123456", AuthorityError::BadPort),
            ("dev.vault.localhost:", AuthorityError::BadPort),
            ("dev.vault.localhost:+1", AuthorityError::BadPort),
            ("user@dev.vault.localhost", AuthorityError::BadHost),
            ("a:1:2", AuthorityError::BadPort),
            (":8443", AuthorityError::BadHost),
            ("[::1", AuthorityError::BadIpv6),
            ("[zz]:1", AuthorityError::BadIpv6),
            ("[::1]x", AuthorityError::BadPort),
            ("host name", AuthorityError::BadHost),
            ("h\u{e9}st", AuthorityError::BadHost),
        ];
        for (s, want) in bad {
            assert_eq!(parse_authority(s), Err(want.clone()), "{s}");
        }
        assert_eq!(
            parse_authority(&"a".repeat(300)),
            Err(AuthorityError::TooLong)
        );
    }

    #[test]
    fn roles() {
        assert_eq!(
            classify(&req("login.localhost:8443"), "localhost"),
            Role::Identity
        );
        assert_eq!(
            classify(&req("dev.vault.localhost:8443"), "localhost"),
            Role::Vault("dev".into())
        );
        assert_eq!(
            classify(&req("DEV.vault.localhost"), "localhost"),
            Role::Vault("dev".into())
        );
        assert_eq!(
            classify(&req("a.b.vault.localhost"), "localhost"),
            Role::Other("a.b.vault.localhost".into())
        );
        assert_eq!(
            classify(&req("127.0.0.1:8443"), "localhost"),
            Role::Other("127.0.0.1:8443".into())
        );
        assert_eq!(
            classify(&req("[::1]:8443"), "localhost"),
            Role::Other("[::1]:8443".into())
        );
    }
}
