//! What the API gateway serves, as plain data: the management plane builds a [`GatewayConfig`]
//! from its records (API Management services, their hostnames with the certificates read from
//! vaults, APIs, subscriptions, backends) and the gateway runtime compiles it into its SNI table
//! and route table. Also the pure rules both sides share: host name matching (an exact name beats
//! a wildcard) and which certificate a connection without SNI gets.

use std::fmt;
use std::sync::Arc;

/// Everything every gateway of this instance serves. `generation` grows with every change, so a
/// runtime can skip a reload that would change nothing.
#[derive(Clone, Debug, Default)]
pub struct GatewayConfig {
    pub generation: u64,
    pub services: Vec<GatewayService>,
}

/// One API Management service instance.
#[derive(Clone, Debug)]
pub struct GatewayService {
    /// The service's name (`Microsoft.ApiManagement/service/{name}`).
    pub name: String,
    /// Its ARM resource id.
    pub resource_id: String,
    /// The built-in proxy host, `<name>.gateway.<domain>` (lowercase, no port), served with the
    /// instance's own certificate.
    pub default_host: String,
    /// Custom host names with their certificates (only entries whose certificate is in hand).
    pub hostnames: Vec<ServedHostname>,
    pub apis: Vec<GatewayApi>,
    pub subscriptions: Vec<GatewaySubscription>,
    pub backends: Vec<GatewayBackend>,
}

/// `hostnameConfigurations[].type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostnameType {
    Proxy,
    Portal,
    Management,
    Scm,
    DeveloperPortal,
    ConfigurationApi,
}

impl HostnameType {
    /// Azure's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "Proxy",
            Self::Portal => "Portal",
            Self::Management => "Management",
            Self::Scm => "Scm",
            Self::DeveloperPortal => "DeveloperPortal",
            Self::ConfigurationApi => "ConfigurationApi",
        }
    }

    /// Parses Azure's name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Proxy,
            Self::Portal,
            Self::Management,
            Self::Scm,
            Self::DeveloperPortal,
            Self::ConfigurationApi,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A custom host name as the gateway serves it.
#[derive(Clone, Debug)]
pub struct ServedHostname {
    /// Lowercase, no port; `*.example.com` for a wildcard.
    pub host: String,
    pub kind: HostnameType,
    pub default_ssl_binding: bool,
    pub negotiate_client_certificate: bool,
    pub certificate: Arc<CertificateMaterial>,
}

/// A certificate with its private key, ready for TLS: the chain leaf first, DER encoded, and the
/// key as PKCS#8 DER. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateMaterial {
    pub chain_der: Vec<Vec<u8>>,
    pub key_pkcs8_der: Vec<u8>,
    /// SHA-1 of the leaf, uppercase hex, as Azure shows thumbprints.
    pub thumbprint: String,
}

impl fmt::Debug for CertificateMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateMaterial")
            .field("chain_len", &self.chain_der.len())
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// An API: requests under `/{path}/` on the service's proxy hosts go to `service_url`.
#[derive(Clone, Debug)]
pub struct GatewayApi {
    /// The API's id (`apis/{id}`).
    pub id: String,
    /// URL suffix without leading or trailing `/`; empty for an API at the root.
    pub path: String,
    /// Backend base URL; `None` means every request answers 500 as APIM does for an API
    /// without a backend.
    pub service_url: Option<String>,
    pub subscription_required: bool,
    /// Header and query parameter carrying the subscription key.
    pub subscription_key_header: String,
    pub subscription_key_query: String,
    pub operations: Vec<GatewayOperation>,
    /// Ids of the products the API is in.
    pub products: Vec<String>,
}

/// An operation: a method and a URL template (`/users/{id}`), relative to the API's path.
#[derive(Clone, Debug)]
pub struct GatewayOperation {
    pub id: String,
    /// Uppercase HTTP method, or `*`.
    pub method: String,
    pub url_template: String,
}

/// What a subscription's keys open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionScope {
    AllApis,
    Api(String),
    Product(String),
}

/// A subscription with its two keys.
#[derive(Clone, Debug)]
pub struct GatewaySubscription {
    pub id: String,
    pub scope: SubscriptionScope,
    pub primary_key: String,
    pub secondary_key: String,
    /// Only `active` subscriptions open anything.
    pub active: bool,
}

/// A backend entity: requests to an API whose `service_url` starts with `url` use its TLS
/// settings and client certificate.
#[derive(Clone, Debug)]
pub struct GatewayBackend {
    pub id: String,
    pub url: String,
    pub validate_certificate_chain: bool,
    pub validate_certificate_name: bool,
    /// The client certificate presented to the backend, if its credentials name one (read from a
    /// vault with the gateway's identity, or uploaded).
    pub client_certificate: Option<Arc<CertificateMaterial>>,
}

/// Normalises a host name for matching: lowercase, port and trailing dot removed.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let without_port = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a configured host name (`api.contoso.com` or `*.contoso.com`) covers `host`. A
/// wildcard covers exactly one label, as in certificates.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = normalize_host(host);
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// Among `candidates` (configured host names), the one that serves `host`: an exact name beats
/// a wildcard. Returns its index.
pub fn best_host_match<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    host: &str,
) -> Option<usize> {
    let mut wildcard = None;
    for (i, c) in candidates.into_iter().enumerate() {
        if !host_matches(c, host) {
            continue;
        }
        if !c.starts_with("*.") {
            return Some(i);
        }
        wildcard.get_or_insert(i);
    }
    wildcard
}

/// For a connection without SNI, the custom proxy host name whose certificate it gets: the one
/// marked `defaultSslBinding`, else the only custom proxy host name; `None` means the built-in
/// certificate.
pub fn no_sni_binding(hosts: &[&ServedHostname]) -> Option<usize> {
    let proxies: Vec<usize> = (0..hosts.len())
        .filter(|&i| hosts[i].kind == HostnameType::Proxy)
        .collect();
    proxies
        .iter()
        .copied()
        .find(|&i| hosts[i].default_ssl_binding)
        .or(match proxies.as_slice() {
            [only] => Some(*only),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(host: &str, default: bool) -> ServedHostname {
        ServedHostname {
            host: host.to_owned(),
            kind: HostnameType::Proxy,
            default_ssl_binding: default,
            negotiate_client_certificate: false,
            certificate: Arc::new(CertificateMaterial {
                chain_der: vec![],
                key_pkcs8_der: vec![1, 2, 3],
                thumbprint: "AB".into(),
            }),
        }
    }

    #[test]
    fn hosts_match_exactly_or_by_one_wildcard_label() {
        assert!(host_matches("api.contoso.test", "API.Contoso.test:443"));
        assert!(host_matches("api.contoso.test", "api.contoso.test."));
        assert!(host_matches("*.contoso.test", "api.contoso.test"));
        assert!(!host_matches("*.contoso.test", "contoso.test"));
        assert!(!host_matches("*.contoso.test", "a.b.contoso.test"));
        assert!(!host_matches("api.contoso.test", "www.contoso.test"));
    }

    #[test]
    fn exact_beats_wildcard_whatever_the_order() {
        let c = ["*.contoso.test", "api.contoso.test"];
        assert_eq!(best_host_match(c, "api.contoso.test"), Some(1));
        assert_eq!(best_host_match(c, "www.contoso.test"), Some(0));
        assert_eq!(best_host_match(c, "example.test"), None);
    }

    #[test]
    fn no_sni_prefers_the_default_binding_then_a_single_proxy() {
        let a = served("a.test", false);
        let b = served("b.test", true);
        assert_eq!(no_sni_binding(&[&a, &b]), Some(1));
        assert_eq!(no_sni_binding(&[&a]), Some(0));
        let c = served("c.test", false);
        assert_eq!(no_sni_binding(&[&a, &c]), None);
        assert_eq!(no_sni_binding(&[]), None);
    }

    #[test]
    fn key_material_is_not_in_debug_output() {
        let text = format!("{:?}", served("a.test", false).certificate);
        assert!(!text.contains("[1, 2, 3]") && text.contains("AB"));
    }

    #[test]
    fn hostname_types_round_trip() {
        for t in ["Proxy", "portal", "Management", "Scm", "DeveloperPortal"] {
            let parsed = HostnameType::parse(t).map(HostnameType::as_str);
            assert!(parsed.is_some_and(|p| p.eq_ignore_ascii_case(t)));
        }
        assert!(HostnameType::parse("Other").is_none());
    }
}
