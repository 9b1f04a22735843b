//! Key Vault's `AuditEvent` record, field for field as Azure writes it to a diagnostic setting,
//! with Coffer's additions under `properties`; and how an [`AuditEntry`] becomes one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::macros::format_description;

use super::entry::{AuditEntry, AuditIdentity, DenyCheck, FirewallDecision, clip};

/// `category` of every record, as Key Vault has it.
pub const CATEGORY: &str = "AuditEvent";

const MAX_DESCRIPTION: usize = 2048;
const MAX_CLIENT_INFO: usize = 512;
const MAX_CORRELATION_ID: usize = 128;
const MAX_ID: usize = 1024;
const MAX_RESOURCE_ID: usize = 512;
const MAX_LIMIT_NAME: usize = 128;

/// One audit record. Field names and order are Key Vault's; `durationMs` is text as Azure writes
/// it (and reads from text or a number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// UTC, RFC 3339 with 7 fractional digits: `2016-01-05T01:32:01.2690000Z`.
    pub time: String,
    /// The vault's ARM id, upper-case as Key Vault writes it.
    pub resource_id: String,
    pub operation_name: String,
    /// The api-version the client asked for (empty if none).
    pub operation_version: String,
    pub category: String,
    /// `Success` when the request was answered, refusals included, as Key Vault logs them;
    /// `Failure` when Coffer itself failed (5xx).
    pub result_type: String,
    /// The HTTP status's reason phrase: `OK`, `Forbidden`, `Not Found`...
    pub result_signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
    #[serde(with = "duration_text")]
    pub duration_ms: u64,
    pub caller_ip_address: String,
    /// The client's `x-ms-client-request-id` (empty if none).
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<EventIdentity>,
    pub properties: EventProperties,
}

/// `identity`: the token's kept claims under `claim`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventIdentity {
    pub claim: AuditIdentity,
}

/// `properties`: Key Vault's fields first, then Coffer's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventProperties {
    /// Id (URL) of the object the request was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
    pub http_status_code: u16,
    pub request_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_access_policy_match: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_rbac_authorized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_address_authorized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    // --- Coffer's additions ---
    /// Coffer's `x-ms-request-id`, what `coffer doctor <request-id>` takes.
    #[serde(default)]
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<EventFirewall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<EventThrottling>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<EventDenyReason>,
}

/// How the firewall decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFirewall {
    pub result: FirewallResult,
    pub decided_by: FirewallRule,
    /// The `ipRules` entry that matched, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_rule: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirewallResult {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FirewallRule {
    DefaultAction,
    IpRule,
    TrustedServiceBypass,
    PublicNetworkAccess,
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventThrottling {
    pub limit: String,
    pub retry_after_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDenyReason {
    pub check: DenyCheck,
    pub id: String,
}

impl AuditEvent {
    /// The record of one request. Every caller-supplied string is clipped; nothing is added that
    /// the entry does not hold.
    pub fn from_entry(e: &AuditEntry) -> Self {
        let firewall = e.firewall.as_ref().map(firewall_of);
        let identity = e.identity.clone().map(|claim| EventIdentity { claim });
        Self {
            time: format_time(e.time_ms),
            resource_id: clip(&e.resource_id, MAX_RESOURCE_ID).to_ascii_uppercase(),
            operation_name: e.operation.as_str().to_owned(),
            operation_version: e.request.api_version().unwrap_or_default().to_owned(),
            category: CATEGORY.to_owned(),
            result_type: if e.status >= 500 {
                "Failure"
            } else {
                "Success"
            }
            .to_owned(),
            result_signature: reason_phrase(e.status),
            result_description: e
                .result_description
                .as_deref()
                .map(|d| clip(d, MAX_DESCRIPTION)),
            duration_ms: e.duration_ms,
            caller_ip_address: e
                .caller_ip
                .map(|ip| ip.to_canonical().to_string())
                .unwrap_or_default(),
            correlation_id: e
                .correlation_id
                .as_deref()
                .map(|c| clip(c, MAX_CORRELATION_ID))
                .unwrap_or_default(),
            identity,
            properties: EventProperties {
                id: e.object_id.as_deref().map(|i| clip(i, MAX_ID)),
                client_info: e.client_info.as_deref().map(|c| clip(c, MAX_CLIENT_INFO)),
                http_status_code: e.status,
                request_uri: e.request.as_str().to_owned(),
                is_access_policy_match: e.access_policy_match,
                is_rbac_authorized: e.rbac_authorized,
                is_address_authorized: firewall.as_ref().map(|f| f.result == FirewallResult::Allow),
                tls_version: e.tls_version.map(|t| t.as_str().to_owned()),
                request_id: e.request_id.clone(),
                firewall,
                throttling: e.throttling.as_ref().map(|t| EventThrottling {
                    limit: clip(&t.limit, MAX_LIMIT_NAME),
                    retry_after_seconds: t.retry_after_secs,
                }),
                deny_reason: e.deny.as_ref().map(|d| EventDenyReason {
                    check: d.check,
                    id: d.id.to_owned(),
                }),
            },
        }
    }
}

fn firewall_of(d: &FirewallDecision) -> EventFirewall {
    let (result, decided_by, ip_rule) = match d {
        FirewallDecision::DefaultAllow => {
            (FirewallResult::Allow, FirewallRule::DefaultAction, None)
        }
        FirewallDecision::IpRule(rule) => (
            FirewallResult::Allow,
            FirewallRule::IpRule,
            Some(clip(rule, 64)),
        ),
        FirewallDecision::TrustedServiceBypass => (
            FirewallResult::Allow,
            FirewallRule::TrustedServiceBypass,
            None,
        ),
        FirewallDecision::DefaultDeny => (FirewallResult::Deny, FirewallRule::DefaultAction, None),
        FirewallDecision::PublicNetworkDisabled => (
            FirewallResult::Deny,
            FirewallRule::PublicNetworkAccess,
            None,
        ),
    };
    EventFirewall {
        result,
        decided_by,
        ip_rule,
    }
}

/// Unix milliseconds as Azure writes log times; out-of-range times become the epoch.
pub(crate) fn format_time(ms: i64) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.0000000Z".to_owned())
}

/// The reason phrase Key Vault puts in `resultSignature`; the number for a status without one.
fn reason_phrase(status: u16) -> String {
    let phrase = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => return status.to_string(),
    };
    phrase.to_owned()
}

/// `durationMs` is a string in Key Vault's records; read either form.
mod duration_text {
    use super::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ms)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use serde_json::json;

    use super::*;
    use coffer_domain::VaultOp;

    use crate::audit::{AuditOperation, DenyReason, RequestUri, Throttling, TlsVersion};

    fn entry() -> AuditEntry {
        let mut e = AuditEntry::new(
            "Dev",
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/dev",
            AuditOperation::Data(VaultOp::SecretGet),
            RequestUri::new(
                "https://dev.vault.localhost:8443",
                "/secrets/db-password/",
                Some("api-version=7.4"),
            ),
            "9d3c2f4e-0000-4000-8000-000000000001",
            1_451_957_521_269,
        );
        e.status = 200;
        e.duration_ms = 78;
        e.caller_ip = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        e.correlation_id = Some("c0rr".into());
        e.client_info = Some("azsdk-python-keyvault-secrets/4.8.0".into());
        e.identity = Some(AuditIdentity {
            appid: Some("app".into()),
            oid: Some("oid".into()),
            tid: Some("tid".into()),
            upn: None,
            idtyp: Some("app".into()),
        });
        e.object_id = Some("https://dev.vault.localhost:8443/secrets/db-password/abc".into());
        e.access_policy_match = Some(true);
        e.tls_version = Some(TlsVersion::Tls13);
        e.firewall = Some(FirewallDecision::IpRule("203.0.113.0/24".into()));
        e
    }

    #[test]
    fn serializes_in_key_vaults_shape() {
        let v = serde_json::to_value(AuditEvent::from_entry(&entry())).unwrap();
        assert_eq!(
            v,
            json!({
                "time": "2016-01-05T01:32:01.2690000Z",
                "resourceId": "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/DEV",
                "operationName": "SecretGet",
                "operationVersion": "7.4",
                "category": "AuditEvent",
                "resultType": "Success",
                "resultSignature": "OK",
                "durationMs": "78",
                "callerIpAddress": "203.0.113.7",
                "correlationId": "c0rr",
                "identity": {"claim": {"appid": "app", "oid": "oid", "tid": "tid", "idtyp": "app"}},
                "properties": {
                    "id": "https://dev.vault.localhost:8443/secrets/db-password/abc",
                    "clientInfo": "azsdk-python-keyvault-secrets/4.8.0",
                    "httpStatusCode": 200,
                    "requestUri": "https://dev.vault.localhost:8443/secrets/db-password/?api-version=7.4",
                    "isAccessPolicyMatch": true,
                    "isAddressAuthorized": true,
                    "tlsVersion": "TLS1_3",
                    "requestId": "9d3c2f4e-0000-4000-8000-000000000001",
                    "firewall": {"result": "Allow", "decidedBy": "ipRule", "ipRule": "203.0.113.0/24"}
                }
            })
        );
        let text = serde_json::to_string(&AuditEvent::from_entry(&entry())).unwrap();
        assert!(
            text.starts_with(r#"{"time":"#) && text.contains(r#""resourceId":"/SUB"#),
            "fields come in Key Vault's order: {text}"
        );
    }

    #[test]
    fn a_refusal_records_its_check() {
        let mut e = entry();
        e.status = 403;
        e.access_policy_match = None;
        e.firewall = Some(FirewallDecision::DefaultDeny);
        e.caller_ip = Some(IpAddr::V6(Ipv4Addr::new(198, 51, 100, 9).to_ipv6_mapped()));
        e.deny = Some(DenyReason {
            check: DenyCheck::Firewall,
            id: "ForbiddenByFirewall",
        });
        e.result_description =
            Some("Client address is not authorized and caller is not a trusted service.".into());
        let ev = AuditEvent::from_entry(&e);
        assert_eq!(
            ev.result_type, "Success",
            "a refusal is an answered request"
        );
        assert_eq!(ev.result_signature, "Forbidden");
        assert_eq!(
            ev.caller_ip_address, "198.51.100.9",
            "mapped v4 shown as v4"
        );
        assert_eq!(ev.properties.is_address_authorized, Some(false));
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v["properties"]["denyReason"],
            json!({"check": "firewall", "id": "ForbiddenByFirewall"})
        );
        assert_eq!(
            v["properties"]["firewall"],
            json!({"result": "Deny", "decidedBy": "defaultAction"})
        );
    }

    #[test]
    fn statuses_types_and_signatures() {
        for (status, signature, result_type) in [
            (200, "OK", "Success"),
            (401, "Unauthorized", "Success"),
            (404, "Not Found", "Success"),
            (429, "Too Many Requests", "Success"),
            (500, "Internal Server Error", "Failure"),
            (503, "Service Unavailable", "Failure"),
            (418, "418", "Success"),
        ] {
            let mut e = entry();
            e.status = status;
            let ev = AuditEvent::from_entry(&e);
            assert_eq!(
                (ev.result_signature.as_str(), ev.result_type.as_str()),
                (signature, result_type),
                "status {status}"
            );
        }
    }

    #[test]
    fn round_trips_and_reads_azures_own_records() {
        let mut e = entry();
        e.throttling = Some(Throttling {
            limit: "vault transactions per 10 s".into(),
            retry_after_secs: 3,
        });
        e.caller_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let ev = AuditEvent::from_entry(&e);
        let back: AuditEvent = serde_json::from_slice(&serde_json::to_vec(&ev).unwrap()).unwrap();
        assert_eq!(back, ev);

        // A record as Key Vault itself writes one (number-free durationMs, extra fields).
        let azure = json!({
            "time": "2016-01-05T01:32:01.2691226Z",
            "resourceId": "/SUBSCRIPTIONS/X/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "operationName": "VaultGet",
            "operationVersion": "2015-06-01",
            "category": "AuditEvent",
            "resultType": "Success",
            "resultSignature": "OK",
            "resultDescription": "",
            "durationMs": "78",
            "callerIpAddress": "104.40.82.76",
            "correlationId": "",
            "identity": {"claim": {"appid": "a", "http://schemas.microsoft.com/identity/claims/objectidentifier": "o"}},
            "properties": {"clientInfo": "azure-resource-manager/2.0", "requestUri": "https://x", "id": "https://v.vault.azure.net/", "httpStatusCode": 200}
        });
        let ev: AuditEvent = serde_json::from_value(azure).unwrap();
        assert_eq!(ev.duration_ms, 78);
        assert_eq!(ev.properties.request_id, "");
        assert_eq!(ev.identity.unwrap().claim.appid.as_deref(), Some("a"));
        let numeric: AuditEvent = serde_json::from_value({
            let mut v = serde_json::to_value(AuditEvent::from_entry(&entry())).unwrap();
            v["durationMs"] = json!(12);
            v
        })
        .unwrap();
        assert_eq!(numeric.duration_ms, 12, "a numeric durationMs reads too");
    }

    #[test]
    fn times_have_seven_fractional_digits() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(
            format_time(1_712_126_805_807),
            "2024-04-03T06:46:45.8070000Z"
        );
        assert_eq!(format_time(i64::MAX), "1970-01-01T00:00:00.0000000Z");
    }
}
