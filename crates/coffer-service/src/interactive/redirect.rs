//! Redirect URIs: what an application may register per platform, and the exact match an
//! authorization request's `redirect_uri` must make against them. The one relaxation is Entra
//! ID's for native apps: a registered loopback URI (`http://localhost`, `http://127.0.0.1`,
//! `http://[::1]`) of the public-client platform matches the same URI on any port, because a
//! desktop app listens on whatever port is free.

use serde::{Deserialize, Serialize};

use crate::ServiceError;
use crate::records::ApplicationDoc;

/// Graph's limits: at most 256 redirect URIs per platform, each at most 256 characters.
const MAX_URIS: usize = 256;
const MAX_URI_LEN: usize = 256;

/// The platform a redirect URI is registered under, which decides how its code is redeemed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Platform {
    /// A confidential client: the code is redeemed with its client credential.
    Web,
    /// A desktop or mobile app: no credential, PKCE required.
    PublicClient,
    /// A single-page app: no credential, PKCE required.
    Spa,
}

impl Platform {
    /// Public clients cannot keep a secret, so PKCE is what binds their code to them.
    pub(crate) fn is_public(self) -> bool {
        !matches!(self, Self::Web)
    }

    fn graph_name(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::PublicClient => "publicClient",
            Self::Spa => "spa",
        }
    }
}

/// A URI split into the parts matching needs.
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    scheme: String,
    host: String,
    port: Option<&'a str>,
    /// Path and query, `/` when empty.
    rest: String,
}

fn split(uri: &str) -> Option<Parts<'_>> {
    let (scheme, after) = uri.split_once(':')?;
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let Some(after) = after.strip_prefix("//") else {
        // A custom scheme without an authority (`msal1234:/auth`), kept whole.
        return Some(Parts {
            scheme,
            host: String::new(),
            port: None,
            rest: after.to_owned(),
        });
    };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']')?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':')?),
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if let Some(p) = port
        && (!p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err())
    {
        return None;
    }
    let rest = if rest.is_empty() {
        "/".to_owned()
    } else if rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_owned()
    };
    Some(Parts {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        rest,
    })
}

fn is_loopback(p: &Parts<'_>) -> bool {
    p.scheme == "http" && matches!(p.host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

fn invalid(platform: Platform, uri: &str, why: &str) -> ServiceError {
    ServiceError::BadParameter(format!(
        "Invalid value specified for property 'redirectUris' of resource '{}': '{}' {why}",
        platform.graph_name(),
        uri.chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect::<String>()
    ))
}

/// Validates the redirect URIs an application registers for `platform` (duplicates dropped).
pub(crate) fn check_redirect_uris(
    platform: Platform,
    uris: Vec<String>,
) -> Result<Vec<String>, ServiceError> {
    if uris.len() > MAX_URIS {
        return Err(ServiceError::BadParameter(format!(
            "Invalid value specified for property 'redirectUris' of resource '{}': at most {MAX_URIS} redirect URIs.",
            platform.graph_name()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        let uri = uri.trim().to_owned();
        if uri.len() > MAX_URI_LEN {
            return Err(invalid(platform, &uri, "is longer than 256 characters."));
        }
        if uri.chars().any(|c| c.is_control() || c.is_whitespace()) || uri.contains('#') {
            return Err(invalid(
                platform,
                &uri,
                "must not contain spaces, control characters or a fragment.",
            ));
        }
        if uri.contains('*') {
            return Err(invalid(platform, &uri, "must not contain wildcards."));
        }
        let Some(p) = split(&uri) else {
            return Err(invalid(platform, &uri, "is not an absolute URI."));
        };
        let web_like = matches!(p.scheme.as_str(), "http" | "https");
        if web_like && p.host.is_empty() {
            return Err(invalid(platform, &uri, "names no host."));
        }
        let allowed = match platform {
            Platform::Web | Platform::Spa => p.scheme == "https" || is_loopback(&p),
            // Native apps may use custom schemes; plain http only on the loopback interface.
            Platform::PublicClient => p.scheme != "http" || is_loopback(&p),
        };
        if !allowed {
            return Err(invalid(
                platform,
                &uri,
                "must use https (http is allowed only for http://localhost).",
            ));
        }
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// The platform under which `requested` is registered for `app`, if it is.
pub(crate) fn match_redirect(app: &ApplicationDoc, requested: &str) -> Option<Platform> {
    let lists = [
        (Platform::Web, &app.web_redirect_uris),
        (Platform::PublicClient, &app.public_client_redirect_uris),
        (Platform::Spa, &app.spa_redirect_uris),
    ];
    for (platform, uris) in lists {
        if uris.iter().any(|u| u == requested) {
            return Some(platform);
        }
    }
    let want = split(requested)?;
    if !is_loopback(&want) {
        return None;
    }
    let same_but_port = |registered: &String| {
        split(registered)
            .is_some_and(|r| is_loopback(&r) && r.host == want.host && r.rest == want.rest)
    };
    app.public_client_redirect_uris
        .iter()
        .any(same_but_port)
        .then_some(Platform::PublicClient)
}

/// Whether an application has any redirect URI at all.
pub(crate) fn has_redirects(app: &ApplicationDoc) -> bool {
    !(app.web_redirect_uris.is_empty()
        && app.public_client_redirect_uris.is_empty()
        && app.spa_redirect_uris.is_empty())
}

/// `scheme://host[:port]` of a web redirect URI, for the sign-in page's `form-action`.
pub fn origin_of(uri: &str) -> Option<String> {
    let p = split(uri)?;
    if !matches!(p.scheme.as_str(), "http" | "https") {
        return None;
    }
    Some(match p.port {
        Some(port) => format!("{}://{}:{port}", p.scheme, p.host),
        None => format!("{}://{}", p.scheme, p.host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(web: &[&str], public: &[&str], spa: &[&str]) -> ApplicationDoc {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ApplicationDoc {
            tenant_id: "t".into(),
            app_id: "a".into(),
            object_id: "o".into(),
            display_name: "d".into(),
            secrets: vec![],
            app_object_id: "x".into(),
            key_credentials: vec![],
            directory_admin: false,
            public_client: false,
            created: None,
            web_redirect_uris: v(web),
            public_client_redirect_uris: v(public),
            spa_redirect_uris: v(spa),
        }
    }

    #[test]
    fn matching_is_exact() {
        let a = app(
            &["https://app.example/cb"],
            &["myapp://auth"],
            &["https://spa.example/"],
        );
        assert_eq!(
            match_redirect(&a, "https://app.example/cb"),
            Some(Platform::Web)
        );
        assert_eq!(
            match_redirect(&a, "myapp://auth"),
            Some(Platform::PublicClient)
        );
        assert_eq!(
            match_redirect(&a, "https://spa.example/"),
            Some(Platform::Spa)
        );
        for near_miss in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://app.example/cb?x=1",
            "https://app.example:443/cb",
            "http://app.example/cb",
            "https://app.example.evil/cb",
            "https://evil/https://app.example/cb",
            "myapp://auth/",
            "https://spa.example",
        ] {
            assert_eq!(match_redirect(&a, near_miss), None, "{near_miss}");
        }
    }

    #[test]
    fn loopback_ports_are_ignored_for_public_clients_only() {
        let a = app(&["http://localhost/web"], &["http://localhost"], &[]);
        for ok in [
            "http://localhost",
            "http://localhost:8400",
            "http://localhost:8400/",
            "http://LOCALHOST:1/",
        ] {
            assert_eq!(match_redirect(&a, ok), Some(Platform::PublicClient), "{ok}");
        }
        for bad in [
            "http://localhost:8400/other",
            "https://localhost:8400",
            "http://127.0.0.1:8400",
            "http://localhost.evil:8400",
            "http://localhost:8400@evil",
            "http://localhost:99999",
        ] {
            assert_eq!(match_redirect(&a, bad), None, "{bad}");
        }
        // The web platform's loopback URI matches only exactly.
        assert_eq!(
            match_redirect(&a, "http://localhost/web"),
            Some(Platform::Web)
        );
        assert_eq!(match_redirect(&a, "http://localhost:5000/web"), None);
        let ip = app(&[], &["http://127.0.0.1/cb"], &[]);
        assert_eq!(
            match_redirect(&ip, "http://127.0.0.1:5000/cb"),
            Some(Platform::PublicClient)
        );
        assert!(has_redirects(&ip));
        assert!(!has_redirects(&app(&[], &[], &[])));
    }

    #[test]
    fn registration_rules() {
        let ok = |p, u: &str| check_redirect_uris(p, vec![u.to_owned()]).is_ok();
        assert!(ok(Platform::Web, "https://app.example/cb"));
        assert!(ok(Platform::Web, "http://localhost:5000/cb"));
        assert!(!ok(Platform::Web, "http://app.example/cb"));
        assert!(!ok(Platform::Web, "myapp://auth"));
        assert!(!ok(Platform::Web, "https://app.example/cb#frag"));
        assert!(!ok(Platform::Web, "https://*.example/cb"));
        assert!(!ok(Platform::Web, "/relative"));
        assert!(!ok(Platform::Web, "https://"));
        assert!(!ok(Platform::Spa, "http://spa.example"));
        assert!(ok(Platform::PublicClient, "http://localhost"));
        assert!(ok(Platform::PublicClient, "msal1234://auth"));
        assert!(!ok(Platform::PublicClient, "http://app.example"));
        assert!(!ok(
            Platform::PublicClient,
            &format!("https://a.example/{}", "x".repeat(300))
        ));
        let dedup = check_redirect_uris(
            Platform::Web,
            vec!["https://a.example".into(), "https://a.example".into()],
        )
        .unwrap();
        assert_eq!(dedup, vec!["https://a.example".to_owned()]);
        assert!(check_redirect_uris(Platform::Web, vec!["https://a.example".into(); 257]).is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://localhost:8400/x?y").as_deref(),
            Some("http://localhost:8400")
        );
        assert_eq!(
            origin_of("https://App.Example/cb").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(origin_of("myapp://auth"), None);
    }
}
