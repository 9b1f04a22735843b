//! The plain record of one request that the request path fills in, built only from pieces that
//! cannot carry a secret: see the redaction rules in the module docs of `audit`.

use std::net::IpAddr;

use coffer_identity::ValidatedToken;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AuditOperation;

/// Longest request path kept (characters).
const MAX_PATH: usize = 1024;
/// Longest origin (`https://host:port`) kept.
const MAX_ORIGIN: usize = 256;
/// Query parameters whose *names* are kept (never their values): the ones Key Vault's and ARM's
/// clients send. Any other name is caller-chosen text and is dropped.
const KNOWN_QUERY_KEYS: &[&str] = &[
    "maxresults",
    "$skiptoken",
    "$top",
    "$filter",
    "$expand",
    "$select",
    "_",
];
/// Most query parameter names kept.
const MAX_QUERY_KEYS: usize = 16;
/// Longest api-version kept; Key Vault's and ARM's are at most `2016-10-01-preview` long.
const MAX_API_VERSION: usize = 32;
/// Longest claim value kept.
const MAX_CLAIM: usize = 256;

/// One request, as the audit log records it.
///
/// Every field is either chosen by Coffer (ids, names, decisions, the status) or is a caller input
/// that names or describes the request (user agent, correlation id, the path with object names).
/// There is deliberately no field for a body, a header map, a query value other than
/// `api-version`, or a token: see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// When the request arrived, unix milliseconds.
    pub time_ms: i64,
    /// Time spent answering, in milliseconds.
    pub duration_ms: u64,
    /// Canonical name of the vault the request addressed.
    pub vault: String,
    /// The vault's ARM resource id (`/subscriptions/.../vaults/<name>`).
    pub resource_id: String,
    pub operation: AuditOperation,
    /// What was asked, with query values removed.
    pub request: RequestUri,
    /// HTTP status of the answer.
    pub status: u16,
    /// The answer's error message, for a refused or failed request (Coffer's messages never hold
    /// a secret value).
    pub result_description: Option<String>,
    /// The client address the firewall judged (the peer, or the forwarded address from a trusted
    /// proxy).
    pub caller_ip: Option<IpAddr>,
    /// `x-ms-client-request-id`, if the client sent one.
    pub correlation_id: Option<String>,
    /// Coffer's `x-ms-request-id` of the answer; `coffer doctor` looks requests up by it.
    pub request_id: String,
    /// The client's `User-Agent`.
    pub client_info: Option<String>,
    /// Claims of the validated token; `None` when there was no valid token.
    pub identity: Option<AuditIdentity>,
    /// Id (URL) of the object the request was about, e.g. `https://v.vault.../secrets/name/ver`.
    pub object_id: Option<String>,
    /// Whether an access policy granted (`Some(true)`) or refused (`Some(false)`) the operation;
    /// `None` when the request did not get that far.
    pub access_policy_match: Option<bool>,
    /// The same for RBAC, on a vault that uses it.
    pub rbac_authorized: Option<bool>,
    pub tls_version: Option<TlsVersion>,
    /// How the firewall decided; `None` when it was not consulted (the token was refused first).
    pub firewall: Option<FirewallDecision>,
    /// Set when the request was throttled.
    pub throttling: Option<Throttling>,
    /// The check that refused the request, if one did.
    pub deny: Option<DenyReason>,
}

impl AuditEntry {
    /// An entry with what every request has; the request path fills in the rest as it learns it.
    pub fn new(
        vault: &str,
        resource_id: &str,
        operation: AuditOperation,
        request: RequestUri,
        request_id: &str,
        time_ms: i64,
    ) -> Self {
        Self {
            time_ms,
            duration_ms: 0,
            vault: vault.to_ascii_lowercase(),
            resource_id: resource_id.to_owned(),
            operation,
            request,
            status: 0,
            result_description: None,
            caller_ip: None,
            correlation_id: None,
            request_id: request_id.to_owned(),
            client_info: None,
            identity: None,
            object_id: None,
            access_policy_match: None,
            rbac_authorized: None,
            tls_version: None,
            firewall: None,
            throttling: None,
            deny: None,
        }
    }
}

/// A request URI with every query value removed except `api-version`'s, which is kept only when
/// it looks like an api-version. The names of the parameters Azure's clients send stay (they say
/// what was asked, e.g. `maxresults`), other names are dropped, values never stay:
/// `https://v.vault.localhost:8443/secrets/s?api-version=7.4&maxresults`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestUri {
    text: String,
    api_version: Option<String>,
}

impl RequestUri {
    /// `origin` is `scheme://host[:port]` as the client addressed it; `path` the raw path;
    /// `query` the raw query string without `?`.
    pub fn new(origin: &str, path: &str, query: Option<&str>) -> Self {
        let mut text = clean_origin(origin);
        text.push_str(&clip(path, MAX_PATH));
        let mut api_version = None;
        let mut keys = Vec::new();
        for pair in query.unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key.is_empty() || keys.len() == MAX_QUERY_KEYS {
                continue;
            }
            if key.eq_ignore_ascii_case("api-version") {
                match api_version_shape(value) {
                    Some(v) => {
                        keys.push(format!("api-version={v}"));
                        api_version.get_or_insert(v);
                    }
                    None => keys.push("api-version".to_owned()),
                }
            } else if let Some(known) = KNOWN_QUERY_KEYS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(key))
            {
                keys.push((*known).to_owned());
            }
        }
        if !keys.is_empty() {
            text.push('?');
            text.push_str(&keys.join("&"));
        }
        Self { text, api_version }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The api-version the client asked for, when it had the shape of one.
    pub fn api_version(&self) -> Option<&str> {
        self.api_version.as_deref()
    }
}

/// `scheme://authority` without any userinfo, and only characters a host and port can have.
fn clean_origin(origin: &str) -> String {
    let (scheme, authority) = origin.split_once("://").unwrap_or(("https", origin));
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let keep = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    let scheme: String = scheme
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(8)
        .collect();
    let mut out = String::with_capacity(scheme.len() + 3 + authority.len().min(MAX_ORIGIN));
    out.push_str(&scheme);
    out.push_str("://");
    if authority.len() <= MAX_ORIGIN && authority.chars().all(|c| keep(&c)) {
        out.push_str(authority);
    } else {
        out.extend(authority.chars().filter(keep).take(MAX_ORIGIN));
    }
    out
}

/// `Some(value)` when it looks like an api-version (`7.4`, `2016-10-01`, `2023-07-01-preview`).
fn api_version_shape(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_API_VERSION
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let lower = value.to_ascii_lowercase();
    let letters_ok = lower
        .split(|c: char| !c.is_ascii_alphabetic())
        .all(|word| word.is_empty() || word == "preview");
    (ok && letters_ok).then(|| value.to_owned())
}

/// The identity claims the log keeps: `appid`, `oid`, `tid`, `upn` and `idtyp`; never the token,
/// its signature or any other claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
}

impl AuditIdentity {
    /// Picks the kept claims out of a token's claims (`azp` stands in for `appid` in v2 tokens);
    /// values that are not strings are skipped.
    pub fn from_claims(claims: &Map<String, Value>) -> Self {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(|s| clip(s, MAX_CLAIM))
        };
        Self {
            appid: text("appid").or_else(|| text("azp")),
            oid: text("oid"),
            tid: text("tid"),
            upn: text("upn"),
            idtyp: text("idtyp"),
        }
    }

    /// The identity of a token that passed validation.
    pub fn from_token(token: &ValidatedToken) -> Self {
        Self::from_claims(&token.claims)
    }
}

/// The TLS version the request came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// As Key Vault logs it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls12 => "TLS1_2",
            Self::Tls13 => "TLS1_3",
        }
    }
}

/// What decided the firewall's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirewallDecision {
    /// No rule applied and the default action is Allow.
    DefaultAllow,
    /// This configured `ipRules` entry (address or CIDR range) matched.
    IpRule(String),
    /// A trusted service passed because `bypass` is `AzureServices`.
    TrustedServiceBypass,
    /// No rule matched and the default action is Deny.
    DefaultDeny,
    /// `publicNetworkAccess` is `Disabled`.
    PublicNetworkDisabled,
}

/// A throttled request: which limit it hit and when to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttling {
    /// The limit's name from configuration, e.g. `vault transactions per 10 s`.
    pub limit: String,
    pub retry_after_secs: u64,
}

/// The check that refused a request, with a stable id `coffer doctor` keys its explanations on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenyReason {
    pub check: DenyCheck,
    /// A fixed identifier of the failure (e.g. a token error's name, `MissingPermission`). A
    /// `&'static str`, so it can only ever be a constant of the code.
    pub id: &'static str,
}

/// The checks of the request path, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DenyCheck {
    /// The fail-closed audit log could not write, so the request was refused (503).
    AuditUnavailable,
    Token,
    Firewall,
    Throttling,
    AccessPolicy,
    /// The object is disabled, expired or not yet valid.
    ObjectState,
    /// A check of a newer Coffer, read by an older one.
    #[serde(other)]
    Other,
}

/// At most `max` characters of `s`, with control characters replaced so a line of `coffer logs`
/// stays one line.
pub(crate) fn clip(s: &str, max: usize) -> String {
    // The usual case, short, ASCII and clean, is one byte scan and one copy; every request's
    // entry takes this path. Non-ASCII text is checked by character (C1 controls are two bytes).
    let clean = if s.is_ascii() {
        !s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        !s.chars().any(char::is_control)
    };
    if s.len() <= max && clean {
        return s.to_owned();
    }
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://dev.vault.localhost:8443";

    #[test]
    fn request_uri_keeps_names_and_the_api_version_only() {
        let cases = [
            (None, "https://dev.vault.localhost:8443/secrets/s", None),
            (
                Some("api-version=7.4"),
                "https://dev.vault.localhost:8443/secrets/s?api-version=7.4",
                Some("7.4"),
            ),
            (
                Some("api-version=2016-10-01&maxresults=25&_=1712126805807"),
                "https://dev.vault.localhost:8443/secrets/s?api-version=2016-10-01&maxresults&_",
                Some("2016-10-01"),
            ),
            (
                Some("api-version=2023-07-01-preview"),
                "https://dev.vault.localhost:8443/secrets/s?api-version=2023-07-01-preview",
                Some("2023-07-01-preview"),
            ),
            (
                Some("api-version=hunter2&x=1&MaxResults=2"),
                "https://dev.vault.localhost:8443/secrets/s?api-version&maxresults",
                None,
            ),
            (
                Some("api-version=7.4-secret"),
                "https://dev.vault.localhost:8443/secrets/s?api-version",
                None,
            ),
            (
                Some("&&=v&flag&$top=1"),
                "https://dev.vault.localhost:8443/secrets/s?$top",
                None,
            ),
        ];
        for (query, text, version) in cases {
            let uri = RequestUri::new(ORIGIN, "/secrets/s", query);
            assert_eq!(uri.as_str(), text, "query {query:?}");
            assert_eq!(uri.api_version(), version, "query {query:?}");
        }
    }

    #[test]
    fn request_uri_drops_userinfo_and_bounds_its_size() {
        let uri = RequestUri::new("https://user:pw@dev.vault.localhost", "/", None);
        assert_eq!(uri.as_str(), "https://dev.vault.localhost/");
        let long_path = format!("/secrets/{}", "a".repeat(5000));
        let many = vec!["_=1"; 100].join("&");
        let uri = RequestUri::new(ORIGIN, &long_path, Some(&many));
        assert!(uri.as_str().len() < 1200, "{} chars", uri.as_str().len());
        assert_eq!(uri.as_str().matches('_').count(), 16, "at most 16 names");
    }

    #[test]
    fn identity_keeps_five_claims() {
        let claims = serde_json::json!({
            "aud": "https://vault.localhost:8443",
            "azp": "app-2",
            "oid": "oid-1",
            "tid": "tid-1",
            "upn": "someone@example.com",
            "idtyp": "user",
            "nonce": "n",
            "scp": "user_impersonation",
        });
        let id = AuditIdentity::from_claims(claims.as_object().unwrap());
        assert_eq!(
            id,
            AuditIdentity {
                appid: Some("app-2".into()),
                oid: Some("oid-1".into()),
                tid: Some("tid-1".into()),
                upn: Some("someone@example.com".into()),
                idtyp: Some("user".into()),
            }
        );
        let v1 = serde_json::json!({"appid": "app-1", "azp": "app-2", "oid": 7});
        let id = AuditIdentity::from_claims(v1.as_object().unwrap());
        assert_eq!(id.appid.as_deref(), Some("app-1"), "v1 appid wins over azp");
        assert_eq!(id.oid, None, "a non-string claim is skipped");
    }

    #[test]
    fn clip_bounds_and_flattens() {
        assert_eq!(clip("a\nb\u{7}c", 10), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(clip("žluťoučký", 4), "žluť");
        assert_eq!(clip("tab\there\u{7f}", 20), "tab\u{FFFD}here\u{FFFD}");
        assert_eq!(clip("c1\u{85}x", 20), "c1\u{FFFD}x");
        assert_eq!(clip("plain", 20), "plain");
    }
}
