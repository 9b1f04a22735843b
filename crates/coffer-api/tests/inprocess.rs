//! In-process API tests: the router driven with `oneshot`, over an in-memory store, no sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use coffer_crypto::RootKey;
use coffer_domain::SystemClock;
use coffer_service::{BootstrapInfo, Coffer, Settings};
use coffer_store_sqlite::SqliteStore;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const VAULT: &str = "dev.vault.localhost:8443";

async fn app() -> (Router, Arc<Coffer>, BootstrapInfo) {
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
    (coffer_api::router(Arc::clone(&coffer)), coffer, boot)
}

async fn call(
    app: &Router,
    method: &str,
    host: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, v)
}

/// A vault token for the bootstrap admin.
async fn admin_token(app: &Router, boot: &BootstrapInfo) -> String {
    token(
        app,
        &boot.tenant_id,
        &boot.client_id,
        boot.client_secret.as_deref().unwrap(),
    )
    .await
}

async fn token(app: &Router, tenant: &str, client_id: &str, secret: &str) -> String {
    let form = format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={}&resource=https%3A%2F%2Fvault.localhost%3A8443",
        form_escape(secret)
    );
    let req = Request::builder()
        .method("POST")
        .uri(format!("/{tenant}/oauth2/token"))
        .header("host", "login.localhost:8443")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["resource"], "https://vault.localhost:8443");
    v["access_token"].as_str().unwrap().to_owned()
}

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn challenge_then_set_and_get() {
    let (app, _, boot) = app().await;
    let (status, headers, body) =
        call(&app, "GET", VAULT, "/secrets/a?api-version=7.5", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        format!("Bearer authorization=\"https://login.localhost:8443/{}\", resource=\"https://vault.localhost:8443\"", boot.tenant_id).as_str()
    );
    assert_eq!(body["error"]["innererror"]["code"], "AKV10000");
    assert!(headers.contains_key("x-ms-request-id"));

    let t = admin_token(&app, &boot).await;
    let (status, _, body) = call(
        &app,
        "PUT",
        VAULT,
        "/secrets/a?api%2Dversion=7.5",
        Some(&t),
        Some(json!({"value": "v"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(
        &app,
        "GET",
        VAULT,
        "//secrets/a/?api-version=7.5",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], "v");
    assert!(
        body["id"]
            .as_str()
            .unwrap()
            .starts_with("https://dev.vault.localhost:8443/secrets/a/")
    );
}

#[tokio::test]
async fn caller_without_policy_gets_403_naming_caller_permission_and_vault() {
    let (app, coffer, boot) = app().await;
    let other = coffer
        .create_application(&boot.tenant_id, "coffer-admin")
        .await
        .unwrap();
    let t = token(&app, &boot.tenant_id, &other.app_id, &other.client_secret).await;
    let (status, _, body) = call(
        &app,
        "GET",
        VAULT,
        "/secrets?api-version=7.6",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(body["error"]["innererror"]["code"], "AccessDenied");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("appid={};oid={}", other.app_id, other.object_id)),
        "{msg}"
    );
    assert!(
        msg.contains("secrets list permission") && msg.contains("'dev;"),
        "{msg}"
    );
    // The look-alike admin (same display name) changed nothing: the real admin still works.
    let admin = admin_token(&app, &boot).await;
    let (status, _, _) = call(
        &app,
        "GET",
        VAULT,
        "/secrets?api-version=7.6",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn token_of_another_audience_or_tenant_is_refused() {
    let (app, coffer, boot) = app().await;
    // A management token is valid, but not for a vault: AKV10022 names both audiences.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.localhost%3A8443%2F%2F.default",
        boot.client_id,
        form_escape(boot.client_secret.as_deref().unwrap())
    );
    let req = Request::builder()
        .method("POST")
        .uri(format!("/{}/oauth2/v2.0/token", boot.tenant_id))
        .header("host", "login.localhost:8443")
        .body(Body::from(form))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let mgmt = v["access_token"].as_str().unwrap();
    let (status, headers, body) = call(
        &app,
        "GET",
        VAULT,
        "/secrets?api-version=7.6",
        Some(mgmt),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("AKV10022")
            && msg.contains("https://vault.localhost:8443")
            && msg.contains("https://management.localhost:8443/"),
        "{msg}"
    );
    let _ = coffer;
}

#[tokio::test]
async fn healthz_and_unknown_hosts() {
    let (app, _, _) = app().await;
    let (status, _, body) = call(&app, "GET", "127.0.0.1:8443", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, _, body) = call(&app, "GET", "example.org", "/secrets", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NotFound");
    let (status, _, body) = call(
        &app,
        "GET",
        "nosuch.vault.localhost:8443",
        "/secrets",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "VaultNotFound");
}
