//! Host-based routing: which role a request is for, read from `:authority` or `Host`.

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
