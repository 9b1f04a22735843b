//! Instance settings the services need: the public domain and port that URLs, audiences and the
//! token issuer are built from, and token lifetime.

/// Where this instance is reachable and how long its tokens live.
#[derive(Clone, Debug)]
pub struct Settings {
    /// DNS domain under which roles live (`login.<domain>`, `<vault>.vault.<domain>`).
    pub domain: String,
    /// Public HTTPS port; omitted from URLs when 443.
    pub port: u16,
    /// Lifetime of access tokens in seconds.
    pub token_lifetime_secs: i64,
    /// Allowed clock skew for token validation in seconds.
    pub clock_skew_secs: i64,
}

impl Settings {
    fn host(&self, prefix: &str) -> String {
        if self.port == 443 {
            format!("https://{prefix}.{}", self.domain)
        } else {
            format!("https://{prefix}.{}:{}", self.domain, self.port)
        }
    }

    /// The token authority, e.g. `https://login.localhost:8443`.
    pub fn authority(&self) -> String {
        self.host("login")
    }

    /// The vault audience (resource), e.g. `https://vault.localhost:8443`.
    pub fn vault_resource(&self) -> String {
        self.host("vault")
    }

    /// The management (ARM) resource, with its trailing slash as Azure spells it.
    pub fn management_resource(&self) -> String {
        format!("{}/", self.host("management"))
    }

    /// The Microsoft Graph-style resource, e.g. `https://graph.localhost:8443`.
    pub fn graph_resource(&self) -> String {
        self.host("graph")
    }

    /// Base URL of the Graph endpoint (same as its resource).
    pub fn graph_url(&self) -> String {
        self.host("graph")
    }

    /// Base URL of the management (ARM) endpoint, without trailing slash.
    pub fn management_url(&self) -> String {
        self.host("management")
    }

    /// URL of a vault, e.g. `https://dev.vault.localhost:8443`.
    pub fn vault_url(&self, vault: &str) -> String {
        self.host(&format!("{vault}.vault"))
    }
}
