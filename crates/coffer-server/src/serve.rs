//! The HTTPS listener: admits TCP connections within the limits (`conn_limits`), completes TLS,
//! serves HTTP/1.1 and HTTP/2 with the API router under the header, body and idle timeouts, and
//! drains connections on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::conn_limits::{BusyGuard, Limits, Registry};
use crate::refusal_io::EnvelopeIo;

/// A TLS handshake that takes longer than this is abandoned, so idle sockets cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection told to close (idle, evicted) may take to finish its last response.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until a shutdown signal arrives.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: Limits,
) -> Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let fd_limit = crate::conn_limits::raise_fd_limit();
    let cap = crate::conn_limits::effective_cap(limits.max_connections, fd_limit);
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            fd_limit,
            "the connection cap is lowered to fit the descriptor limit"
        );
    }
    let registry = Registry::new(cap, limits.max_per_address);
    let reporter = tokio::spawn(Arc::clone(&registry).report_forever());
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = Arc::new(limits);
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Running out of file descriptors must not end the server; back off
                    // briefly, and count it for the periodic report instead of logging each.
                    registry.count_accept_error();
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admitted = match registry.admit(peer.ip().to_canonical()) {
            Ok(a) => a,
            Err(why) => {
                // Closed before TLS: nothing is spent on it, and it is counted for the report.
                tracing::debug!(%peer, ?why, "connection refused: limit reached");
                drop(tcp);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let limits = Arc::clone(&limits);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = Arc::clone(&admitted.conn);
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let tls = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                () = conn.evicted.notified() => return,
            };
            let tls_version = match tls.get_ref().1.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => Some(coffer_service::TlsVersion::Tls13),
                Some(rustls::ProtocolVersion::TLSv1_2) => Some(coffer_service::TlsVersion::Tls12),
                _ => None,
            };
            let body_idle = limits.body_idle_timeout;
            let tracked = Arc::clone(&conn);
            let svc = tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                // The connection counts as busy from here until the response body is sent.
                let busy = tracked.busy();
                let mut req = req.map(|b| coffer_api::with_idle_timeout(b, body_idle));
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                if let Some(v) = tls_version {
                    req.extensions_mut().insert(v);
                }
                let app = app.clone();
                async move {
                    let resp = app.oneshot(req).await?;
                    Ok::<_, std::convert::Infallible>(
                        resp.map(|inner| Body::new(Tracked { inner, _busy: busy })),
                    )
                }
            });
            let builder = builder(&limits);
            let io = TokioIo::new(EnvelopeIo::new(tls));
            let conn_fut =
                builder.serve_connection_with_upgrades(io, TowerToHyperService::new(svc));
            let mut conn_fut = std::pin::pin!(conn_fut);
            let mut closing: Option<tokio::time::Instant> = None;
            loop {
                let idle_check = match conn.idle_for() {
                    Some(idle) => limits.idle_timeout.saturating_sub(idle),
                    None => limits.idle_timeout,
                };
                tokio::select! {
                    r = conn_fut.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if closing.is_none() => {
                        conn_fut.as_mut().graceful_shutdown();
                        closing = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                    }
                    () = conn.evicted.notified(), if closing.is_none() => {
                        tracing::debug!(%peer, "idle connection closed to make room");
                        conn_fut.as_mut().graceful_shutdown();
                        closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                    }
                    () = tokio::time::sleep(idle_check), if closing.is_none() => {
                        if conn.idle_for().is_some_and(|d| d >= limits.idle_timeout) {
                            tracing::debug!(%peer, "idle connection timed out");
                            conn_fut.as_mut().graceful_shutdown();
                            closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                        }
                    }
                    () = sleep_until(closing), if closing.is_some() => break,
                }
            }
            drop(admitted);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracing::info!("shutting down: draining connections");
    tokio::select! {
        () = registry.wait_empty() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_TIMEOUT + Duration::from_secs(1)) => tracing::warn!("drain timed out; closing remaining connections"),
    }
    reporter.abort();
    Ok(())
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// hyper's settings for one connection. Its own header limits sit above the edge's
/// (`coffer_api::MAX_HEADER_BLOCK`, `MAX_HEADERS`), so the edge answers in the envelope first.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(2 * coffer_api::MAX_HEADER_BLOCK + coffer_api::MAX_URI)
        .max_headers(2 * coffer_api::MAX_HEADERS);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(2 * coffer_api::MAX_HEADER_BLOCK).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.h2_ping_interval)
        .keep_alive_timeout(limits.h2_ping_timeout);
    b
}

/// A response body that keeps its connection marked busy until hyper has sent (and dropped) it.
struct Tracked {
    inner: Body,
    _busy: BusyGuard,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Binds the listening socket.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
