//! The in-process harness: certificates from a test CA, the gateway on a loopback port (a
//! connection that is not the gateway's answers "api", as the API router would), a small hyper
//! backend that reports what it received, and a raw TLS client that chooses SNI and sees which
//! certificate it got.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use coffer_domain::gateway::{
    CertificateMaterial, GatewayApi, GatewayBackend, GatewayConfig, GatewayOperation,
    GatewayService, GatewaySubscription, HostnameType, ServedHostname, SubscriptionScope,
};
use coffer_gateway::{Gateway, GatewayOptions, Handshake, ListenerKind, ProxyBody};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) const KEY: &str = "key-primary";
pub(crate) const KEY2: &str = "key-secondary";
pub(crate) const KEY_OFF: &str = "key-of-a-suspended-subscription";

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A test CA issuing leaf certificates.
pub(crate) struct Pki {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) ca_der: CertificateDer<'static>,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        Self {
            ca_der: ca.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), good for server and client auth.
    pub(crate) fn leaf(&self, names: &[&str]) -> Arc<CertificateMaterial> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        for n in names {
            params
                .subject_alt_names
                .push(match n.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName((*n).try_into().unwrap()),
                });
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let der = cert.der().to_vec();
        Arc::new(CertificateMaterial {
            thumbprint: thumbprint(&der),
            chain_der: vec![der],
            key_pkcs8_der: key.serialize_der(),
        })
    }
}

/// A stand-in for the SHA-1 thumbprint: unique per certificate, which is all the runtime needs.
fn thumbprint(der: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in der {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}{:08X}", der.len())
}

pub(crate) fn certified(m: &CertificateMaterial) -> Arc<CertifiedKey> {
    Arc::new(
        CertifiedKey::from_der(
            m.chain_der
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key_pkcs8_der.clone())),
            &provider(),
        )
        .unwrap(),
    )
}

pub(crate) fn hostname(host: &str, cert: &Arc<CertificateMaterial>) -> ServedHostname {
    ServedHostname {
        host: host.into(),
        kind: HostnameType::Proxy,
        default_ssl_binding: false,
        negotiate_client_certificate: false,
        certificate: Arc::clone(cert),
    }
}

/// A service `name` with its default host `<name>.gateway.test`, the given custom hosts and
/// two APIs: `echo` (every method and path, key required) and `users` (`GET /{id}`, open).
pub(crate) fn service(name: &str, hostnames: Vec<ServedHostname>, backend: &str) -> GatewayService {
    let api = |id: &str, path: &str, required, ops: Vec<(&str, &str)>| GatewayApi {
        id: id.into(),
        path: path.into(),
        service_url: Some(backend.to_owned()),
        subscription_required: required,
        subscription_key_header: "Ocp-Apim-Subscription-Key".into(),
        subscription_key_query: "subscription-key".into(),
        operations: ops
            .into_iter()
            .map(|(m, t)| GatewayOperation {
                id: format!("{m} {t}"),
                method: m.into(),
                url_template: t.into(),
            })
            .collect(),
        products: vec!["starter".into()],
    };
    let sub = |id: &str, p: &str, s: &str, active| GatewaySubscription {
        id: id.into(),
        scope: SubscriptionScope::AllApis,
        primary_key: p.into(),
        secondary_key: s.into(),
        active,
    };
    GatewayService {
        name: name.into(),
        resource_id: format!(
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ApiManagement/service/{name}"
        ),
        default_host: format!("{name}.gateway.test"),
        hostnames,
        apis: vec![
            api("echo", "echo", true, vec![("*", "/*")]),
            api("users", "users", false, vec![("GET", "/{id}")]),
        ],
        subscriptions: vec![
            sub("s1", KEY, KEY2, true),
            sub("off", KEY_OFF, "unused-secondary", false),
        ],
        backends: Vec::<GatewayBackend>::new(),
    }
}

pub(crate) fn config(generation: u64, services: Vec<GatewayService>) -> GatewayConfig {
    GatewayConfig {
        generation,
        services,
    }
}

/// The gateway, with the built-in certificate for `*.gateway.test`.
pub(crate) fn gateway(
    pki: &Pki,
    backend_timeout: Duration,
) -> (Arc<Gateway>, Arc<CertificateMaterial>) {
    let builtin = pki.leaf(&["*.gateway.test"]);
    let gw = Gateway::new(GatewayOptions {
        builtin: certified(&builtin),
        extra_roots: vec![pki.ca_der.clone()],
        system_roots: false,
        backend_timeout,
    })
    .unwrap();
    (Arc::new(gw), builtin)
}

/// Serves `gw` on a loopback port as `kind`; a connection that is not the gateway's gets
/// `api_cert` and every request on it answers `api`.
pub(crate) async fn serve(
    gw: Arc<Gateway>,
    kind: ListenerKind,
    api_cert: &CertificateMaterial,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut api = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(certified(api_cert))));
    api.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let api = Arc::new(api);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let gw = Arc::clone(&gw);
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                match gw.handshake(tcp, kind).await {
                    Ok(Handshake::Gateway(tls, info)) => {
                        let info = Arc::new(info);
                        let svc = hyper::service::service_fn(
                            move |req: hyper::Request<Incoming>| {
                                let gw = Arc::clone(&gw);
                                let info = Arc::clone(&info);
                                async move { Ok::<_, Infallible>(gw.handle(req, &info, peer).await) }
                            },
                        );
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), svc)
                            .await;
                    }
                    Ok(Handshake::Other(start)) => {
                        let Ok(tls) = start.into_stream(api).await else {
                            return;
                        };
                        let svc =
                            hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
                                Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                    Bytes::from_static(b"api"),
                                )))
                            });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), svc)
                            .await;
                    }
                    Err(_) => {}
                }
            });
        }
    });
    addr
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// What the backend saw and the gates its streaming paths wait on.
#[derive(Default)]
pub(crate) struct BackendState {
    /// The leaf of the client certificate on the last TLS connection.
    pub(crate) client_cert: Mutex<Option<Vec<u8>>>,
    /// `/echo/stream` sends its last chunk only after this.
    pub(crate) release: Notify,
    /// `/echo/upload` signals this on the first request chunk.
    pub(crate) got_first: Notify,
}

/// A backend on a loopback port, plain HTTP or (with `tls`) HTTPS.
pub(crate) async fn backend(tls: Option<Arc<ServerConfig>>) -> (SocketAddr, Arc<BackendState>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(BackendState::default());
    let st = Arc::clone(&state);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let st = Arc::clone(&st);
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = {
                    let st = Arc::clone(&st);
                    hyper::service::service_fn(move |req| answer(req, Arc::clone(&st)))
                };
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                    Some(cfg) => {
                        let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await else {
                            return;
                        };
                        *st.client_cert.lock().unwrap() = s
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| c.to_vec());
                        let _ = http.serve_connection(TokioIo::new(s), svc).await;
                    }
                }
            });
        }
    });
    (addr, state)
}

async fn answer(
    req: hyper::Request<Incoming>,
    st: Arc<BackendState>,
) -> Result<hyper::Response<ProxyBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if path.ends_with("/stream") {
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, BoxError>::new(4);
        tokio::spawn(async move {
            let _ = tx.send_data(Bytes::from_static(b"first;")).await;
            st.release.notified().await;
            let _ = tx.send_data(Bytes::from_static(b"last")).await;
        });
        return Ok(hyper::Response::new(body.boxed_unsync()));
    }
    if path.ends_with("/upload") {
        let mut body = req.into_body();
        let mut total = 0usize;
        let mut first = true;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(d) = frame.data_ref() {
                total += d.len();
                if first {
                    first = false;
                    st.got_first.notify_one();
                }
            }
        }
        return Ok(hyper::Response::new(full(format!("received {total}"))));
    }
    let mut headers = BTreeMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|e: &mut String| {
                e.push_str(", ");
                e.push_str(v.to_str().unwrap_or_default());
            })
            .or_insert_with(|| v.to_str().unwrap_or_default().to_owned());
    }
    let report = serde_json::json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
    });
    let mut resp = hyper::Response::new(full(report.to_string()));
    let h = resp.headers_mut();
    h.insert("connection", "x-backend-hop".parse().unwrap());
    h.insert("x-backend-hop", "1".parse().unwrap());
    h.insert("keep-alive", "timeout=5".parse().unwrap());
    h.insert("x-backend-kept", "1".parse().unwrap());
    Ok(resp)
}

pub(crate) fn full(s: impl Into<Bytes>) -> ProxyBody {
    Full::new(s.into()).map_err(|n| match n {}).boxed_unsync()
}

pub(crate) fn empty() -> ProxyBody {
    full(Bytes::new())
}

/// A TLS server configuration for a backend; with `client_ca`, a client certificate from that
/// CA is required.
pub(crate) fn backend_tls(
    cert: &CertificateMaterial,
    client_ca: Option<&CertificateDer<'static>>,
) -> Arc<ServerConfig> {
    let b = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.clone()).unwrap();
            b.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                )
                .build()
                .unwrap(),
            )
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(b.with_cert_resolver(Arc::new(Fixed(certified(cert)))))
}

/// A client connection to the gateway and what its handshake showed.
pub(crate) struct Conn {
    pub(crate) send: hyper::client::conn::http1::SendRequest<ProxyBody>,
    /// The leaf certificate the server presented.
    pub(crate) leaf: Vec<u8>,
    /// Whether the server asked for a client certificate.
    pub(crate) asked_for_cert: bool,
}

/// How a test client connects.
#[derive(Clone, Copy, Default)]
pub(crate) struct ConnectOptions<'a> {
    /// `None`: no SNI at all.
    pub(crate) sni: Option<&'a str>,
    pub h2: bool,
}

fn client_config(h2: bool, sni: bool, asked: Arc<AtomicBool>) -> ClientConfig {
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
        .with_client_cert_resolver(Arc::new(Asked(asked)));
    cfg.enable_sni = sni;
    cfg.alpn_protocols = if h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    cfg
}

async fn tls_connect(
    addr: SocketAddr,
    o: ConnectOptions<'_>,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>, bool), std::io::Error> {
    let asked = Arc::new(AtomicBool::new(false));
    let cfg = client_config(o.h2, o.sni.is_some(), Arc::clone(&asked));
    let name = ServerName::try_from(o.sni.unwrap_or("no-sni.invalid").to_owned()).unwrap();
    let tcp = TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    Ok((tls, leaf, asked.load(Ordering::SeqCst)))
}

/// Connects over HTTP/1.1.
pub(crate) async fn connect(addr: SocketAddr, sni: Option<&str>) -> Result<Conn, std::io::Error> {
    let (tls, leaf, asked_for_cert) = tls_connect(addr, ConnectOptions { sni, h2: false }).await?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(Conn {
        send,
        leaf,
        asked_for_cert,
    })
}

/// Connects over HTTP/2.
pub(crate) async fn connect_h2(
    addr: SocketAddr,
    sni: &str,
) -> hyper::client::conn::http2::SendRequest<ProxyBody> {
    let (tls, _, _) = tls_connect(
        addr,
        ConnectOptions {
            sni: Some(sni),
            h2: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

impl Conn {
    /// Sends `method path` with `Host: host` and extra headers; returns status, headers, body.
    pub(crate) async fn request(
        &mut self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: ProxyBody,
    ) -> Result<(u16, http::HeaderMap, String), hyper::Error> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", host);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send.ready().await?;
        let resp = self.send.send_request(b.body(body).unwrap()).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
    }

    pub(crate) async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let (s, _, b) = self
            .request("GET", host, path, headers, empty())
            .await
            .unwrap();
        (s, b)
    }
}

/// A leaf's DER as a client saw it.
pub(crate) fn leaf_of(m: &CertificateMaterial) -> Vec<u8> {
    m.chain_der[0].clone()
}

#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Records whether the server asked for a client certificate; has none to give.
#[derive(Debug)]
struct Asked(Arc<AtomicBool>);

impl ResolvesClientCert for Asked {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.store(true, Ordering::SeqCst);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}
