//! The audit entry of one vault request: what the request says about itself is noted before it
//! is handled (`RequestMeta`), what the checks found comes from the service's
//! [`RequestFacts`], and the entry is handed to the audit writer once the answer is known. The
//! writer never blocks, so recording costs the request a queue push.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use coffer_domain::VaultOp;
use coffer_service::{
    AuditEntry, AuditOperation, Coffer, DenyCheck, Facts, RequestFacts, RequestUri, TlsVersion,
};

use crate::headers::{ClientAddr, RequestId};
use crate::vault::route;

/// What a request says about itself, noted before its body is consumed.
pub(super) struct RequestMeta {
    started: Instant,
    time_ms: i64,
    origin: String,
    path: String,
    query: Option<String>,
    op: Option<VaultOp>,
    named: bool,
    request_id: String,
    correlation_id: Option<String>,
    client_info: Option<String>,
    client: Option<ClientAddr>,
    tls: Option<TlsVersion>,
}

impl RequestMeta {
    /// The operation the path names, if any.
    pub(super) fn op(&self) -> Option<VaultOp> {
        self.op
    }

    /// Time since the request was noted.
    pub(super) fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    pub(super) fn of(req: &Request) -> Self {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let routed = route::route(req.method(), req.uri().path()).ok();
        Self {
            started: Instant::now(),
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            origin: format!("https://{}", crate::host::authority(req)),
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            op: routed.map(|r| r.op),
            named: routed.is_some_and(|r| r.name.is_some()),
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            correlation_id: header("x-ms-client-request-id"),
            client_info: header("user-agent"),
            client: req.extensions().get::<ClientAddr>().copied(),
            tls: req.extensions().get::<TlsVersion>().copied(),
        }
    }
}

/// Records the request if its vault's audit log is on. A request that named no vault operation
/// and was not refused by authentication (an unknown path) touches nothing and is not logged.
pub(super) fn record(
    app: &Coffer,
    facts: &Arc<RequestFacts>,
    meta: RequestMeta,
    status: u16,
    description: Option<String>,
) {
    let Some(writer) = app.audit_writer() else {
        return;
    };
    let f = facts.snapshot();
    if let Some(entry) = entry(&f, meta, status, description) {
        writer.record(entry);
    }
}

/// The entry for one request, or `None` when it is not logged (see [`record`]).
fn entry(
    f: &Facts,
    meta: RequestMeta,
    status: u16,
    description: Option<String>,
) -> Option<AuditEntry> {
    if !f.audit_enabled {
        return None;
    }
    let vault = f.vault.as_deref()?;
    let refused_token = f.deny.as_ref().is_some_and(|d| d.check == DenyCheck::Token);
    let operation = match meta.op {
        _ if refused_token => AuditOperation::Authentication,
        Some(op) => AuditOperation::Data(op),
        None => return None,
    };
    let request = RequestUri::new(&meta.origin, &meta.path, meta.query.as_deref());
    let mut e = AuditEntry::new(
        vault,
        f.resource_id.as_deref().unwrap_or_default(),
        operation,
        request,
        &meta.request_id,
        meta.time_ms,
    );
    e.duration_ms = u64::try_from(meta.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    e.status = status;
    // Coffer's messages name callers, vaults and objects, never a secret value.
    e.result_description = description;
    e.caller_ip = meta.client.map(|c| c.0);
    e.correlation_id = meta.correlation_id;
    e.client_info = meta.client_info;
    e.identity = f.identity.clone();
    e.object_id = meta.named.then(|| format!("{}{}", meta.origin, meta.path));
    e.access_policy_match = f.access_policy_match;
    e.tls_version = meta.tls;
    e.firewall = f.firewall.clone();
    e.throttling = f.throttling.clone();
    e.deny = f.deny.clone();
    Some(e)
}

#[cfg(test)]
mod tests {
    use coffer_service::{AuditIdentity, DenyReason, FirewallDecision};

    use super::*;

    fn meta(method: &str, path: &str) -> RequestMeta {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{path}?api-version=7.6&maxresults=3"))
            .header("host", "dev.vault.localhost:8443")
            .header("user-agent", "azsdk-python")
            .header("x-ms-client-request-id", "corr-1")
            .body(axum::body::Body::empty())
            .unwrap();
        let mut req = req;
        req.extensions_mut().insert(RequestId("req-1".into()));
        req.extensions_mut()
            .insert(ClientAddr("192.0.2.9".parse().unwrap()));
        req.extensions_mut().insert(TlsVersion::Tls13);
        RequestMeta::of(&req)
    }

    fn facts() -> Facts {
        Facts {
            vault: Some("dev".into()),
            resource_id: Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/dev".into(),
            ),
            audit_enabled: true,
            identity: Some(AuditIdentity {
                oid: Some("oid-1".into()),
                ..AuditIdentity::default()
            }),
            firewall: Some(FirewallDecision::DefaultAllow),
            access_policy_match: Some(true),
            test_mode: false,
            throttling: None,
            deny: None,
        }
    }

    #[test]
    fn a_throttled_request_records_the_limit_it_hit() {
        let mut f = facts();
        f.throttling = Some(coffer_service::Throttling {
            limit: "secrets, managed storage and vault transactions: 4000 per 10 s per vault"
                .into(),
            retry_after_secs: 4,
        });
        f.deny = Some(DenyReason {
            check: DenyCheck::Throttling,
            id: "Throttled",
        });
        let e = entry(&f, meta("GET", "/secrets/db/"), 429, None).unwrap();
        assert_eq!(e.throttling, f.throttling);
        assert_eq!(e.deny, f.deny);
    }

    #[test]
    fn an_entry_carries_what_the_request_and_its_checks_said() {
        let e = entry(&facts(), meta("GET", "/secrets/db/"), 200, None).unwrap();
        assert_eq!(e.operation, AuditOperation::Data(VaultOp::SecretGet));
        assert_eq!(
            e.request.as_str(),
            "https://dev.vault.localhost:8443/secrets/db/?api-version=7.6&maxresults"
        );
        assert_eq!(e.request_id, "req-1");
        assert_eq!(e.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(e.client_info.as_deref(), Some("azsdk-python"));
        assert_eq!(e.caller_ip, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(e.tls_version, Some(TlsVersion::Tls13));
        assert_eq!(
            e.object_id.as_deref(),
            Some("https://dev.vault.localhost:8443/secrets/db/")
        );
        assert_eq!(e.access_policy_match, Some(true));
        assert_eq!(e.status, 200);
    }

    #[test]
    fn refused_tokens_are_authentication_and_disabled_or_unrouted_are_not_logged() {
        let mut f = facts();
        f.identity = None;
        f.deny = Some(DenyReason {
            check: DenyCheck::Token,
            id: "AKV10000",
        });
        let e = entry(&f, meta("GET", "/secrets/db"), 401, Some("no token".into())).unwrap();
        assert_eq!(e.operation, AuditOperation::Authentication);
        assert_eq!(e.result_description.as_deref(), Some("no token"));

        assert!(entry(&facts(), meta("GET", "/nothing/here"), 404, None).is_none());
        let mut off = facts();
        off.audit_enabled = false;
        assert!(entry(&off, meta("GET", "/secrets/db"), 200, None).is_none());
    }
}
