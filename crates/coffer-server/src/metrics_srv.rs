//! The `/metrics` listener (`coffer serve --metrics-listen ADDR`): Prometheus's text format over
//! plain HTTP on its own address, so the public port never shows it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use coffer_api::Metrics;
use coffer_service::Coffer;

/// The listener, bound at startup so a taken address fails before anything is served.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding --metrics-listen {addr}"))
}

/// Serves `/metrics` until the process ends.
pub(crate) fn spawn(listener: tokio::net::TcpListener, app: Arc<Coffer>, metrics: Arc<Metrics>) {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state((app, metrics));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
    }
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
}

async fn scrape(State((app, metrics)): State<(Arc<Coffer>, Arc<Metrics>)>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(&app),
    )
}
