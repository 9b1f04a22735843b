//! HTTP/1.1 clients to backends, one keep-alive pool per TLS setting: the default (system roots
//! and this instance's CA) and one per backend entity with its validation flags and client
//! certificate, built on first use and dropped when the entity changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_domain::gateway::{GatewayBackend, GatewayConfig};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use crate::proxy::ProxyBody;
use crate::{GatewayError, GatewayOptions};

pub(crate) type BackendClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// What a pool's TLS depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PoolKey {
    url: String,
    validate_chain: bool,
    validate_name: bool,
    thumbprint: Option<String>,
}

impl PoolKey {
    fn of(b: &GatewayBackend) -> Self {
        Self {
            url: b.url.clone(),
            validate_chain: b.validate_certificate_chain,
            validate_name: b.validate_certificate_name,
            thumbprint: b.client_certificate.as_ref().map(|c| c.thumbprint.clone()),
        }
    }
}

pub(crate) struct Backends {
    roots: Arc<RootCertStore>,
    connect_timeout: Duration,
    default: BackendClient,
    pools: Mutex<HashMap<PoolKey, BackendClient>>,
}

impl Backends {
    pub(crate) fn new(options: &GatewayOptions) -> Result<Self, GatewayError> {
        let mut roots = RootCertStore::empty();
        if options.system_roots {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            tracing::debug!(added, "system roots trusted for gateway backends");
        }
        roots.add_parsable_certificates(options.extra_roots.iter().cloned());
        let roots = Arc::new(roots);
        let connect_timeout = options.backend_timeout;
        let default = client(tls(&roots, true, true, None)?, connect_timeout);
        Ok(Self {
            roots,
            connect_timeout,
            default,
            pools: Mutex::new(HashMap::new()),
        })
    }

    /// The client for requests that `backend` (if any) governs.
    pub(crate) fn client_for(
        &self,
        backend: Option<&GatewayBackend>,
    ) -> Result<BackendClient, String> {
        let Some(b) = backend else {
            return Ok(self.default.clone());
        };
        let key = PoolKey::of(b);
        let mut pools = match self.pools.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(c) = pools.get(&key) {
            return Ok(c.clone());
        }
        let cfg = tls(
            &self.roots,
            b.validate_certificate_chain,
            b.validate_certificate_name,
            b.client_certificate.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let c = client(cfg, self.connect_timeout);
        pools.insert(key, c.clone());
        Ok(c)
    }

    /// Drops the pools no backend of `config` uses any more (a new certificate makes a new pool).
    pub(crate) fn retain(&self, config: &GatewayConfig) {
        let wanted: std::collections::HashSet<PoolKey> = config
            .services
            .iter()
            .flat_map(|s| s.backends.iter().map(PoolKey::of))
            .collect();
        if let Ok(mut pools) = self.pools.lock() {
            pools.retain(|k, _| wanted.contains(k));
        }
    }
}

fn client(tls: ClientConfig, connect_timeout: Duration) -> BackendClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https)
}

fn tls(
    roots: &Arc<RootCertStore>,
    validate_chain: bool,
    validate_name: bool,
    client_cert: Option<&coffer_domain::gateway::CertificateMaterial>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = crate::compile::provider();
    let verifier: Arc<dyn ServerCertVerifier> = if validate_chain && roots.is_empty() {
        // Nothing is trusted (no system roots, no instance CA): every https backend is refused
        // at its handshake (502) rather than the gateway failing to start.
        Arc::new(Unchecked {
            provider: Arc::clone(&provider),
            accept: false,
        })
    } else if validate_chain {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        if validate_name {
            webpki
        } else {
            Arc::new(ChainOnly(webpki))
        }
    } else {
        Arc::new(Unchecked {
            provider: Arc::clone(&provider),
            accept: true,
        })
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    // hyper-rustls sets ALPN itself (http/1.1 only, as enabled below).
    let cfg = match client_cert {
        Some(m) => builder.with_client_auth_cert(
            m.chain_der
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key_pkcs8_der.clone())),
        )?,
        None => builder.with_no_client_auth(),
    };
    Ok(cfg)
}

/// `validateCertificateName: false`: the chain must still be trusted, the name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `validateCertificateChain: false`: any certificate, as long as the handshake is sound (with
/// `accept` false, none: there is nothing to trust).
#[derive(Debug)]
struct Unchecked {
    provider: Arc<CryptoProvider>,
    accept: bool,
}

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
