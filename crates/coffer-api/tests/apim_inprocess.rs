//! The seed's scenario in process: API Management reads the certificate through a vault reader
//! that drives this same router, so the real vault data plane (access policy, request ids)
//! judges the gateway's identity. Identity off, then no access policy (the exact Forbidden text
//! with the vault's request id), then the policy for the principal found in Graph by the
//! service's name; the doctor explains the refused read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use coffer_crypto::RootKey;
use coffer_domain::SystemClock;
use coffer_service::{Coffer, Settings, VaultReader, VaultReply, VaultUnreachable};
use coffer_store_sqlite::SqliteStore;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Reads vaults through the in-process router.
struct RouterReader(OnceLock<Router>);

#[async_trait]
impl VaultReader for RouterReader {
    async fn get(&self, url: &str, bearer: &str) -> Result<VaultReply, VaultUnreachable> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| VaultUnreachable("not https".into()))?;
        let (host, path) = rest.split_once('/').unwrap();
        let req = Request::builder()
            .uri(format!("/{path}"))
            .header("host", host)
            .header("authorization", format!("Bearer {bearer}"))
            .body(Body::empty())
            .unwrap();
        let resp = self.0.get().unwrap().clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-ms-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Ok(VaultReply {
            status,
            request_id,
            body,
        })
    }
}

struct Env {
    app: Router,
    coffer: Arc<Coffer>,
    tenant: String,
    client_id: String,
    secret: String,
    svc: String,
    vault_path: String,
}

impl Env {
    async fn new() -> Self {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let settings = Settings {
            domain: "localhost".into(),
            port: 8443,
            token_lifetime_secs: 3600,
            clock_skew_secs: 300,
        };
        let coffer = Arc::new(
            Coffer::open(
                store,
                RootKey::generate().unwrap(),
                Arc::new(SystemClock),
                settings,
            )
            .await
            .unwrap(),
        );
        let boot = coffer.bootstrap().await.unwrap();
        let app = coffer_api::router(Arc::clone(&coffer));
        let reader = Arc::new(RouterReader(OnceLock::new()));
        let _ = reader.0.set(app.clone());
        coffer.set_vault_reader(reader);
        let rg = format!(
            "/subscriptions/{}/resourceGroups/{}",
            boot.subscription_id, boot.resource_group
        );
        Self {
            app,
            coffer,
            tenant: boot.tenant_id.clone(),
            client_id: boot.client_id.clone(),
            secret: boot.client_secret.unwrap(),
            svc: format!("{rg}/providers/Microsoft.ApiManagement/service/gw"),
            vault_path: format!("{rg}/providers/Microsoft.KeyVault/vaults/dev"),
        }
    }

    async fn token(&self, resource: &str) -> String {
        let enc: String = form_urlencoded_pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.secret),
            ("resource", resource),
        ]);
        let req = Request::builder()
            .method("POST")
            .uri(format!("/{}/oauth2/token", self.tenant))
            .header("host", "login.localhost:8443")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(enc))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(
        &self,
        method: &str,
        host: &str,
        path: &str,
        resource: &str,
        body: Option<Value>,
    ) -> (StatusCode, http::HeaderMap, Value) {
        let token = self.token(resource).await;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, v)
    }

    async fn arm(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (st, _, v) = self
            .call(
                method,
                "management.localhost:8443",
                &format!("{path}{sep}api-version=2024-05-01"),
                "https://management.localhost:8443/",
                body,
            )
            .await;
        (st, v)
    }

    async fn set_hosts(&self, url: &str) -> (StatusCode, Value) {
        self.arm(
            "PATCH",
            &self.svc,
            Some(json!({"properties": {"hostnameConfigurations": [
                {"type": "Proxy", "hostName": "api.contoso.test", "keyVaultId": url}]}})),
        )
        .await
    }
}

fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn the_seed_scenario_through_the_real_vault_data_plane() {
    let e = Env::new().await;
    let (st, v) = e
        .arm(
            "PUT",
            &e.svc,
            Some(
                json!({"location": "local", "sku": {"name": "Developer", "capacity": 1},
                "properties": {"publisherEmail": "a@contoso.test", "publisherName": "Contoso"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    // A vault certificate for the custom domain.
    let (st, _, v) = e
        .call(
            "POST",
            "dev.vault.localhost:8443",
            "/certificates/gwcert/create?api-version=7.4",
            "https://vault.localhost:8443",
            Some(json!({"policy": {
                "issuer": {"name": "Self"},
                "x509_props": {"subject": "CN=api.contoso.test",
                    "sans": {"dns_names": ["api.contoso.test"]}, "validity_months": 12},
                "key_props": {"kty": "RSA", "key_size": 2048, "exportable": true},
                "secret_props": {"contentType": "application/x-pkcs12"}}})),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let url = "https://dev.vault.localhost:8443/secrets/gwcert/";

    // 1. No identity.
    let (st, v) = e.set_hosts(url).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "InvalidOperation");

    // 2. Identity on, no access policy: the vault's own 403 and request id.
    let (st, v) = e
        .arm(
            "PATCH",
            &e.svc,
            Some(json!({"identity": {"type": "SystemAssigned"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let oid = v["identity"]["principalId"].as_str().unwrap().to_owned();
    let (st, v) = e.set_hosts(url).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    let head = format!(
        "Failed to update API Management service hostnames. Request to resource '{url}?api-version=7.0' failed with StatusCode: Forbidden for RequestId: "
    );
    let tail = ". Exception message: Operation returned an invalid status code 'Forbidden'";
    assert!(m.starts_with(&head) && m.ends_with(tail), "{m}");
    let request_id = &m[head.len()..m.len() - tail.len()];
    assert!(!request_id.is_empty());
    let (_, v) = e.arm("GET", &e.svc, None).await;
    assert_eq!(
        v["properties"]["hostnameConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the built-in host name"
    );

    // The doctor explains it from the gateway's record (the vault's audit log is off).
    let (st, d) = e
        .arm(
            "POST",
            &format!("{}/providers/Coffer.Diagnostics/doctor", e.vault_path),
            Some(json!({"requestId": request_id})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert!(d["gateway"].as_str().unwrap().contains(&oid), "{d}");
    let text = d["findings"].to_string();
    assert!(text.contains(&oid) || text.contains("policy"), "{d}");

    // 3. The principal named after the service, found in Graph, gets secrets Get.
    let (st, _, g) = e
        .call(
            "GET",
            "graph.localhost:8443",
            "/v1.0/servicePrincipals?$filter=displayName%20eq%20'gw'",
            "https://graph.localhost:8443",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    assert_eq!(g["value"][0]["id"], oid.as_str());
    let (st, _, v) = e
        .call(
            "PUT",
            "management.localhost:8443",
            &format!("{}/accessPolicies/add?api-version=2026-02-01", e.vault_path),
            "https://management.localhost:8443/",
            Some(
                json!({"properties": {"accessPolicies": [{"tenantId": e.tenant,
                "objectId": oid, "permissions": {"secrets": ["get"]}}]}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = e.set_hosts(url).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let h = &v["properties"]["hostnameConfigurations"][1];
    assert_eq!(h["certificateSource"], "KeyVault");
    assert_eq!(h["certificateStatus"], "Completed");
    assert_eq!(h["certificate"]["subject"], "CN=api.contoso.test");
    assert!(h.get("encodedCertificate").is_none_or(Value::is_null));

    let cfg = e.coffer.gateway_config().await.unwrap();
    let served = &cfg.services[0].hostnames[0];
    assert_eq!(served.host, "api.contoso.test");
    assert_eq!(
        served.certificate.thumbprint,
        h["certificate"]["thumbprint"].as_str().unwrap()
    );
    assert!(!e.coffer.refresh_gateway_certificates().await.unwrap());
}
