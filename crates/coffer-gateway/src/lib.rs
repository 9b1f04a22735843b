//! The API gateway runtime. [`Gateway::apply`] compiles a [`GatewayConfig`] (certificates into
//! rustls keys, one `ServerConfig` per host, the route table) and swaps it in atomically; the
//! listener asks [`Gateway::choose`] which configuration a ClientHello gets (no I/O, only the
//! swapped-in table), and hands the connection's requests to [`Gateway::handle`], the streaming
//! reverse proxy. Open connections keep the configuration they were accepted with, so a new
//! certificate reaches new handshakes only and nothing is dropped.

mod backend;
mod compile;
mod errors;
mod handshake;
mod proxy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use coffer_domain::gateway::GatewayConfig;
use rustls::ServerConfig;
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;

pub use compile::ApplyReport;
pub use handshake::{Handshake, HandshakeError};
pub use proxy::ProxyBody;

/// The default time a backend has to answer with its response head.
pub const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a connection came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// The instance's main listener: gateway hosts by SNI, everything else is the API.
    Main,
    /// `--gateway-listen`: everything is gateway; an unknown name is refused.
    Dedicated,
}

/// What a ClientHello gets.
#[derive(Clone, Debug)]
pub enum Choice {
    /// Not the gateway's: the caller serves it as before.
    NotGateway,
    /// The gateway's, with this TLS configuration.
    Gateway(Arc<ServerConfig>, ConnInfo),
    /// Refused: the name is not served here (send `unrecognized_name`).
    Refuse,
}

/// What the gateway remembers about a connection from its handshake.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// The service the SNI (or the no-SNI binding) chose; `None` lets the Host header choose
    /// among all services.
    pub service: Option<String>,
}

/// Settings fixed for the life of the process.
#[derive(Clone)]
pub struct GatewayOptions {
    /// The instance's own certificate, served for `<svc>.gateway.<domain>`.
    pub builtin: Arc<CertifiedKey>,
    /// Extra roots trusted for https backends (this instance's CA), besides the system's.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Whether the system's roots are trusted for backends too.
    pub system_roots: bool,
    /// How long a backend may take to send its response head (then 504).
    pub backend_timeout: Duration,
}

impl std::fmt::Debug for GatewayOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayOptions")
            .field("extra_roots", &self.extra_roots.len())
            .field("system_roots", &self.system_roots)
            .field("backend_timeout", &self.backend_timeout)
            .finish_non_exhaustive()
    }
}

/// Errors building the runtime itself (never from a configuration entry, which is skipped).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// The running gateway: the compiled configuration behind an atomic pointer, and the caches
/// that let a reload reuse what did not change.
pub struct Gateway {
    options: GatewayOptions,
    current: ArcSwap<compile::Compiled>,
    caches: Mutex<compile::Caches>,
    backends: backend::Backends,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway serving nothing until the first [`apply`](Self::apply).
    pub fn new(options: GatewayOptions) -> Result<Self, GatewayError> {
        let mut caches = compile::Caches::default();
        let empty = compile::compile(&options, &mut caches, &GatewayConfig::default(), None)?;
        let backends = backend::Backends::new(&options)?;
        Ok(Self {
            options,
            current: ArcSwap::from_pointee(empty.0),
            caches: Mutex::new(caches),
            backends,
        })
    }

    /// Compiles `config` and swaps it in. Entries that cannot be used (a key that does not
    /// load) are skipped and logged; the rest is served.
    pub fn apply(&self, config: &GatewayConfig) -> ApplyReport {
        let mut caches = match self.caches.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        match compile::compile(&self.options, &mut caches, config, Some(config.generation)) {
            Ok((compiled, report)) => {
                self.current.store(Arc::new(compiled));
                self.backends.retain(config);
                report
            }
            Err(e) => {
                tracing::error!(error = %e, "the gateway configuration could not be compiled; the previous one stays");
                ApplyReport {
                    skipped: vec![format!("whole configuration: {e}")],
                    ..ApplyReport::default()
                }
            }
        }
    }

    /// The generation last applied (`None` before the first apply).
    pub fn generation(&self) -> Option<u64> {
        self.current.load().generation
    }

    /// Which TLS configuration a ClientHello with `sni` gets on `listener`. Reads only the
    /// in-memory table.
    pub fn choose(&self, listener: ListenerKind, sni: Option<&str>) -> Choice {
        self.current.load().choose(listener, sni)
    }

    /// Whether any host is served at all (the listener can skip the lookups when not).
    pub fn is_empty(&self) -> bool {
        self.current.load().is_empty()
    }

    /// Answers one request of a gateway connection: routing, subscription check, forwarding.
    pub async fn handle<B>(
        &self,
        req: http::Request<B>,
        conn: &ConnInfo,
        peer: std::net::SocketAddr,
    ) -> http::Response<ProxyBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let snapshot = self.current.load_full();
        proxy::handle(&snapshot, &self.backends, &self.options, req, conn, peer).await
    }
}

/// Certificates already turned into rustls keys, by thumbprint, and the per-host server
/// configurations built from them, so a reload of an unchanged entry keeps its session cache.
pub(crate) type KeyCache = HashMap<String, Arc<CertifiedKey>>;
