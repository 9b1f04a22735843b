//! Coffer's HTTP edge. One router serves every role; the `Host` decides which: the token issuer on
//! `login.<domain>`, a vault on `<vault>.vault.<domain>`. Handlers stay thin: they parse the
//! request, call the service, and shape the answer; errors become Azure's envelope in `error`.

mod body;
mod edge;
mod error;
mod graph;
mod headers;
mod host;
mod identity;
mod json;
mod management;
pub mod metrics;
mod msi;
mod signin;
mod text;
mod vault;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use coffer_domain::IpRule;
use coffer_service::Coffer;

pub use body::{IdleTimeout, with_idle_timeout};
pub use edge::{MAX_HEADER_BLOCK, MAX_HEADERS, MAX_URI};
pub use error::ApiError;
pub use error::edge::protocol_refusal;
pub use host::{AuthorityError, Role, parse_authority};
pub use metrics::Metrics;

/// Entry points for the fuzz targets in `fuzz/`: the pure parsers that read what a client sends.
#[doc(hidden)]
pub mod fuzzing {
    /// The vault route parser: method and path to an operation (or a refusal).
    pub fn vault_route(method: &http::Method, path: &str) -> bool {
        crate::vault::fuzz_route(method, path)
    }

    /// The strict JSON body parser, untyped and as the typed bodies of the three families.
    pub fn json_body(bytes: &[u8]) -> bool {
        use coffer_wire::{certificates, keys, secrets};
        let untyped = crate::json::parse_map(bytes).is_ok();
        let secret = crate::json::parse_object::<secrets::SecretSetParameters>(bytes).is_ok();
        let key = crate::json::parse_object::<keys::KeyCreateParameters>(bytes).is_ok();
        let policy = crate::json::parse_object::<certificates::CertificatePolicy>(bytes).is_ok();
        untyped || secret || key || policy
    }

    /// The edge's checks on a request built from raw header pairs.
    pub fn edge_check(uri: &str, headers: &[(&[u8], &[u8])]) -> bool {
        let mut b = http::Request::builder();
        if let Ok(u) = uri.parse::<http::Uri>() {
            b = b.uri(u);
        }
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k),
                http::HeaderValue::from_bytes(v),
            ) {
                b = b.header(k, v);
            }
        }
        match b.body(axum::body::Body::empty()) {
            Ok(req) => crate::edge::check(&req, crate::MAX_BODY_BYTES).is_ok(),
            Err(_) => false,
        }
    }
}

/// How the edge treats connections: which peers are proxies whose `X-Forwarded-For` is
/// believed.
#[derive(Clone, Debug, Default)]
pub struct Edge {
    pub trusted_proxies: Vec<IpRule>,
    /// Where requests are counted, when the server exposes metrics.
    pub metrics: Option<Arc<Metrics>>,
}

/// Largest request body accepted; restore blobs are the largest legitimate bodies.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Builds the router for every role, trusting no proxy.
pub fn router(app: Arc<Coffer>) -> Router {
    router_with(app, Edge::default())
}

/// Builds the router for every role with the edge settings `edge`.
pub fn router_with(app: Arc<Coffer>, edge: Edge) -> Router {
    let metrics = edge.metrics.clone();
    let mut router = Router::new().fallback(dispatch);
    if let Some(m) = metrics {
        router = router.layer(axum::Extension(m));
    }
    edge_layers(router.layer(axum::middleware::from_fn_with_state(
        Arc::new(edge),
        headers::common_headers,
    )))
    .with_state(app)
}

/// Last line of defence: a bug that panics answers 500 in the envelope instead of dropping the
/// connection, and is logged (without the request's content).
fn edge_layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        panic_response,
    ))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}

async fn dispatch(State(app): State<Arc<Coffer>>, req: Request) -> Response {
    if let Err(refusal) = edge::check(&req, MAX_BODY_BYTES) {
        return refuse(&app, &req, &refusal);
    }
    if req.uri().path() == "/healthz" {
        return (
            [(http::header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ok"}"#,
        )
            .into_response();
    }
    if req.uri().path() == "/readyz" {
        return readiness(&app).await;
    }
    let role = host::classify(&req, &app.settings().domain);
    let metrics = req.extensions().get::<metrics::Shared>().cloned();
    let started = std::time::Instant::now();
    let label = match &role {
        // Vault requests are counted by the vault handler, which knows the operation.
        Role::Vault(name) => return vault::handle(app, name.clone(), req).await,
        Role::Identity => "login",
        Role::Management => "management",
        Role::Graph => "graph",
        Role::Other(_) => "other",
    };
    let resp = match role {
        Role::Identity => identity::handle(app, req).await,
        Role::Vault(name) => vault::handle(app, name, req).await,
        Role::Management => management::handle(app, req).await,
        Role::Graph => graph::handle(app, req).await,
        Role::Other(h) => ApiError::not_found(format!(
                "No Coffer service answers on host '{}'. Use login.{d} for tokens and <vault>.vault.{d} for vaults.",
                h.chars().take(100).collect::<String>(),
            d = app.settings().domain
        ))
        .into_response(),
    };
    if let Some(m) = metrics {
        m.request(label, None, "", resp.status().as_u16(), started.elapsed());
    }
    resp
}

/// Answers an edge refusal in the envelope of the role the host names, when it names one.
fn refuse(app: &Coffer, req: &Request, refusal: &edge::Refusal) -> Response {
    let host_ok = !matches!(
        refusal,
        edge::Refusal::MissingHost
            | edge::Refusal::DuplicateHost
            | edge::Refusal::HostMismatch
            | edge::Refusal::BadHost(_)
    );
    let role = host_ok.then(|| host::classify(req, &app.settings().domain));
    let request_id = req
        .extensions()
        .get::<headers::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .or_else(|| req.headers().get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| request_id.clone(), |s| s.chars().take(100).collect());
    let mut resp = error::edge::refusal(refusal, role.as_ref(), &request_id, &client_request_id);
    // The client may still be sending a body nobody will read: say the connection ends here
    // (HTTP/1 only; HTTP/2 forbids the header and resets just the stream).
    if req.version() <= http::Version::HTTP_11 {
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// `/readyz`: ready while the store answers and audit records can be written (liveness is
/// `/healthz`).
async fn readiness(app: &Coffer) -> Response {
    let json = [(http::header::CONTENT_TYPE, "application/json")];
    if !app.store_reachable().await {
        let body = serde_json::json!({
            "status": "unavailable",
            "reason": "the database cannot be reached",
        });
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            json,
            body.to_string(),
        )
            .into_response();
    }
    match app.audit_writer() {
        Some(w) if !w.healthy() => {
            let body = serde_json::json!({
                "status": "unavailable",
                "reason": "the audit log cannot be written",
                "auditFailedRecords": w.failed_records(),
                "auditFailClosed": w.fail_closed(),
            });
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                json,
                body.to_string(),
            )
                .into_response()
        }
        Some(w) => {
            let body = serde_json::json!({
                "status": "ready",
                "auditWrittenRecords": w.written_records(),
                "auditFailedRecords": w.failed_records(),
            });
            (json, body.to_string()).into_response()
        }
        None => (json, r#"{"status":"ready","audit":"not configured"}"#).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_envelope() {
        async fn boom() -> Response {
            panic!("bug")
        }
        let app: Router = edge_layers(Router::new().fallback(boom));
        let req = http::Request::builder()
            .uri("/x")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "InternalServerError");
        assert!(
            !v.to_string().contains("bug"),
            "the panic message stays in the server"
        );
    }
}
