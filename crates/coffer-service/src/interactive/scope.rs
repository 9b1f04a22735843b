//! The `scope` of a delegated request: which resource the access token is for (one per request,
//! as in Entra ID), and which OpenID Connect scopes came with it (`openid` asks for an id token,
//! `offline_access` for a refresh token). The v1 endpoints name the resource in `resource`.

/// What a delegated token request asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Requested {
    /// The resource as the client spelled it (`https://management.localhost:8443/` keeps its
    /// slash), or `None` for OpenID scopes alone (the token is then for Graph).
    pub(crate) resource: Option<String>,
    pub(crate) openid: bool,
    pub(crate) profile: bool,
    pub(crate) email: bool,
    pub(crate) offline_access: bool,
}

impl Requested {
    /// Parses a v2 `scope` or a v1 `resource`. `Err` carries the scope for the message.
    pub(crate) fn parse(scope: Option<&str>, resource: Option<&str>) -> Result<Self, String> {
        let mut r = Self::default();
        if let Some(res) = resource.map(str::trim).filter(|s| !s.is_empty()) {
            r.resource = Some(res.to_owned());
        }
        for s in scope.unwrap_or_default().split_whitespace() {
            match s.to_ascii_lowercase().as_str() {
                "openid" => r.openid = true,
                "profile" => r.profile = true,
                "email" => r.email = true,
                "offline_access" => r.offline_access = true,
                _ => {
                    let Some(res) = resource_of(s) else {
                        // Graph's short names (User.Read, ...): a token for Graph.
                        continue;
                    };
                    match &r.resource {
                        Some(have) if !same_resource(have, &res) => {
                            // AADSTS700022 in Entra: one resource per request.
                            return Err(scope.unwrap_or_default().to_owned());
                        }
                        Some(_) => {}
                        None => r.resource = Some(res),
                    }
                }
            }
        }
        Ok(r)
    }

    /// The `scope` of the response: the resource's delegated scope and `.default` (what MSAL
    /// caches the token under), then the OpenID scopes that were asked for.
    pub(crate) fn granted(&self, resource: &str) -> String {
        let res = self.resource.as_deref().unwrap_or(resource);
        // `https://m.localhost/` gives `https://m.localhost//user_impersonation`, as Entra ID
        // writes ARM's scopes.
        let mut out = format!("{res}/user_impersonation {res}/.default");
        for (on, name) in [
            (self.openid, "openid"),
            (self.profile, "profile"),
            (self.email, "email"),
            (self.offline_access, "offline_access"),
        ] {
            if on {
                out.push(' ');
                out.push_str(name);
            }
        }
        out
    }
}

/// The resource of a URL-shaped scope: `<resource>/.default` or `<resource>/<scope name>`.
fn resource_of(scope: &str) -> Option<String> {
    let (_, after_scheme) = scope.split_once("://")?;
    if !after_scheme.contains('/') {
        return Some(scope.to_owned());
    }
    let r = match scope.strip_suffix("/.default") {
        Some(r) => r,
        None => scope.rsplit_once('/')?.0,
    };
    r.split_once("://")
        .is_some_and(|(_, host)| !host.is_empty())
        .then(|| r.to_owned())
}

fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(s: &str) -> Option<String> {
        Requested::parse(Some(s), None).unwrap().resource
    }

    #[test]
    fn resources_from_scopes() {
        assert_eq!(
            res("https://vault.localhost:8443/.default offline_access openid profile").as_deref(),
            Some("https://vault.localhost:8443")
        );
        assert_eq!(
            res("https://management.localhost:8443//.default").as_deref(),
            Some("https://management.localhost:8443/")
        );
        assert_eq!(
            res("https://vault.localhost:8443/user_impersonation").as_deref(),
            Some("https://vault.localhost:8443")
        );
        assert_eq!(
            res("https://management.localhost:8443//user_impersonation").as_deref(),
            Some("https://management.localhost:8443/")
        );
        assert_eq!(res("openid profile User.Read"), None);
        let r = Requested::parse(Some("openid offline_access"), None).unwrap();
        assert!(r.openid && r.offline_access && !r.profile);
        assert!(
            Requested::parse(
                Some("https://a.example/.default https://b.example/.default"),
                None
            )
            .is_err()
        );
        assert_eq!(
            Requested::parse(None, Some("https://vault.localhost:8443"))
                .unwrap()
                .resource
                .as_deref(),
            Some("https://vault.localhost:8443")
        );
    }

    #[test]
    fn granted_scopes_name_the_resource_as_asked() {
        let r = Requested::parse(
            Some("https://v.localhost:8443/.default openid offline_access"),
            None,
        )
        .unwrap();
        assert_eq!(
            r.granted("ignored"),
            "https://v.localhost:8443/user_impersonation https://v.localhost:8443/.default openid offline_access"
        );
        let m = Requested::parse(Some("https://m.localhost:8443//.default"), None).unwrap();
        assert_eq!(
            m.granted("x"),
            "https://m.localhost:8443//user_impersonation https://m.localhost:8443//.default"
        );
        let g = Requested::parse(Some("openid"), None).unwrap();
        assert_eq!(
            g.granted("https://graph.localhost"),
            "https://graph.localhost/user_impersonation https://graph.localhost/.default openid"
        );
    }
}
