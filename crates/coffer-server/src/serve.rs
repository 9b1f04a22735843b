//! The HTTPS listeners: admit TCP connections within the limits (`conn_limits`), complete TLS,
//! serve HTTP/1.1 and HTTP/2 under the header, body and idle timeouts, and drain connections on
//! SIGTERM or Ctrl-C. The ClientHello decides whose a connection is: a gateway host's (by SNI,
//! see `coffer_gateway`) goes to the gateway's proxy, anything else to the API router. The
//! optional `--gateway-listen` listener is all gateway. Both share the limits and the drain.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use coffer_gateway::{ConnInfo, Gateway, Handshake, ListenerKind};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::conn_limits::{Admitted, BusyGuard, Conn, Limits, Registry};
use crate::refusal_io::EnvelopeIo;

/// A TLS handshake that takes longer than this is abandoned, so idle sockets cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection told to close (idle, evicted) may take to finish its last response.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What the listeners serve.
pub(crate) struct Frontend {
    /// The API's TLS configuration (the instance's certificate).
    pub(crate) tls: Arc<rustls::ServerConfig>,
    pub(crate) app: Router,
    pub(crate) gateway: Option<Arc<Gateway>>,
}

/// Everything a connection task needs.
struct Shared {
    front: Frontend,
    acceptor: TlsAcceptor,
    limits: Limits,
    registry: Arc<Registry>,
}

/// Whose a connection's requests are.
#[derive(Clone)]
enum Route {
    Api(Option<coffer_service::TlsVersion>),
    Gateway(Arc<Gateway>, Arc<ConnInfo>),
}

/// Serves `main` (and `gateway_listener`, if any) until a shutdown signal arrives.
pub(crate) async fn run(
    main: TcpListener,
    gateway_listener: Option<TcpListener>,
    front: Frontend,
    limits: Limits,
) -> Result<()> {
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
    let shared = Arc::new(Shared {
        acceptor: TlsAcceptor::from(Arc::clone(&front.tls)),
        front,
        limits,
        registry: Arc::clone(&registry),
    });
    let mut loops = vec![tokio::spawn(accept_loop(
        main,
        ListenerKind::Main,
        Arc::clone(&shared),
        stop_rx.clone(),
    ))];
    if let Some(l) = gateway_listener {
        loops.push(tokio::spawn(accept_loop(
            l,
            ListenerKind::Dedicated,
            Arc::clone(&shared),
            stop_rx.clone(),
        )));
    }
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    tracing::info!("shutting down: draining connections");
    tokio::select! {
        () = registry.wait_empty() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_TIMEOUT + Duration::from_secs(1)) => tracing::warn!("drain timed out; closing remaining connections"),
    }
    reporter.abort();
    Ok(())
}

/// Accepts on one listener until the stop signal; the listener closes when this returns.
async fn accept_loop(
    listener: TcpListener,
    kind: ListenerKind,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Running out of file descriptors must not end the server; back off
                    // briefly, and count it for the periodic report instead of logging each.
                    shared.registry.count_accept_error();
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let admitted = match shared.registry.admit(peer.ip().to_canonical()) {
            Ok(a) => a,
            Err(why) => {
                // Closed before TLS: nothing is spent on it, and it is counted for the report.
                tracing::debug!(%peer, ?why, "connection refused: limit reached");
                drop(tcp);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(
            tcp,
            peer,
            kind,
            admitted,
            Arc::clone(&shared),
            stop.clone(),
        ));
    }
}

/// The TLS stream of a connection, by whose it is.
enum Tls {
    Api(tokio_rustls::server::TlsStream<TcpStream>),
    Gateway(
        tokio_rustls::server::TlsStream<TcpStream>,
        Arc<Gateway>,
        ConnInfo,
    ),
}

async fn handshake(tcp: TcpStream, kind: ListenerKind, shared: &Shared) -> Result<Tls> {
    let Some(gw) = &shared.front.gateway else {
        return Ok(Tls::Api(shared.acceptor.accept(tcp).await?));
    };
    match gw.handshake(tcp, kind).await? {
        Handshake::Gateway(s, info) => Ok(Tls::Gateway(s, Arc::clone(gw), info)),
        Handshake::Other(start) => Ok(Tls::Api(
            start.into_stream(Arc::clone(&shared.front.tls)).await?,
        )),
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    kind: ListenerKind,
    admitted: Admitted,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let conn = Arc::clone(&admitted.conn);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(tcp, kind, &shared));
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
    match tls {
        Tls::Api(s) => {
            let tls_version = match s.get_ref().1.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => Some(coffer_service::TlsVersion::Tls13),
                Some(rustls::ProtocolVersion::TLSv1_2) => Some(coffer_service::TlsVersion::Tls12),
                _ => None,
            };
            // The envelope rewrite is the API's: a proxied backend's bare 400 stays as it is.
            let io = EnvelopeIo::new(s);
            serve_http(io, Route::Api(tls_version), peer, &conn, &shared, stop).await;
        }
        Tls::Gateway(s, gw, info) => {
            let route = Route::Gateway(gw, Arc::new(info));
            serve_http(s, route, peer, &conn, &shared, stop).await;
        }
    }
    drop(admitted);
}

/// HTTP on an established connection, under the idle timeout, eviction and the drain.
async fn serve_http<I>(
    io: I,
    route: Route,
    peer: SocketAddr,
    conn: &Arc<Conn>,
    shared: &Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let body_idle = limits.body_idle_timeout;
    let tracked = Arc::clone(conn);
    let app = shared.front.app.clone();
    let svc = tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        // The connection counts as busy from here until the response body is sent.
        let busy = tracked.busy();
        let mut req = req.map(|b| coffer_api::with_idle_timeout(b, body_idle));
        let route = route.clone();
        let app = app.clone();
        async move {
            let resp = match route {
                Route::Api(tls_version) => {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    if let Some(v) = tls_version {
                        req.extensions_mut().insert(v);
                    }
                    app.oneshot(req).await?
                }
                Route::Gateway(gw, info) => gw.handle(req, &info, peer).await.map(Body::new),
            };
            Ok::<_, std::convert::Infallible>(
                resp.map(|inner| Body::new(Tracked { inner, _busy: busy })),
            )
        }
    });
    let builder = builder(limits);
    let conn_fut =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(svc));
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
