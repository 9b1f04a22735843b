//! Headers every response carries: `x-ms-request-id`, the echoed `x-ms-client-request-id`, the
//! caller's network information and the service version, plus one access-log line per request.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

/// The request id, available to handlers through request extensions.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

pub(crate) async fn common_headers(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let client_request_id = req
        .headers()
        .get("x-ms-client-request-id")
        .filter(|v| v.len() <= 256)
        .cloned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let host = crate::host::authority(&req);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(v) = client_request_id {
        h.insert("x-ms-client-request-id", v);
    }
    if let Some(p) = peer {
        let (conn, fam) = if p.is_ipv4() {
            ("Ipv4", "InterNetwork")
        } else {
            ("Ipv6", "InterNetworkV6")
        };
        let ip = p.ip().to_canonical();
        if let Ok(v) =
            HeaderValue::from_str(&format!("conn_type={conn};addr={ip};act_addr_fam={fam};"))
        {
            h.insert("x-ms-keyvault-network-info", v);
        }
    }
    h.insert(
        "x-ms-keyvault-service-version",
        HeaderValue::from_static(concat!("coffer/", env!("CARGO_PKG_VERSION"))),
    );
    h.insert("x-ms-keyvault-region", HeaderValue::from_static("local"));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    tracing::info!(
        target: "coffer::access",
        %method,
        host = %host.chars().take(128).collect::<String>(),
        path = %path.chars().take(256).collect::<String>(),
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        request_id = %request_id,
        peer = ?peer,
    );
    resp
}
