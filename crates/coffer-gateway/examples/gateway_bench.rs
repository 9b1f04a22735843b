//! The gateway runtime alone, for `bench/gateway_proxy.sh` until services can be configured
//! through the management API on main: serves one open API at the root of HOST (certificate and
//! key from PEM files) proxying to BACKEND_URL, on LISTEN, as `coffer serve` does (SNI through
//! `Gateway::handshake`, HTTP/1.1 and HTTP/2, the same proxy).
//!
//! Usage: gateway_bench LISTEN HOST CERT_PEM KEY_PEM BACKEND_URL

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use coffer_domain::gateway::{
    CertificateMaterial, GatewayApi, GatewayConfig, GatewayOperation, GatewayService, HostnameType,
    ServedHostname,
};
use coffer_gateway::{Gateway, GatewayOptions, Handshake, ListenerKind};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, host, cert, key, backend] = args.as_slice() else {
        eprintln!("usage: gateway_bench LISTEN HOST CERT_PEM KEY_PEM BACKEND_URL");
        std::process::exit(2);
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key_der = match PrivateKeyDer::from_pem_file(key).unwrap() {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => panic!("the key must be PKCS#8 (BEGIN PRIVATE KEY)"),
    };
    let material = Arc::new(CertificateMaterial {
        chain_der: chain.iter().map(|c| c.to_vec()).collect(),
        key_pkcs8_der: key_der,
        thumbprint: "BENCH".into(),
    });
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let builtin = Arc::new(
        rustls::sign::CertifiedKey::from_der(
            chain,
            PrivateKeyDer::from_pem_file(key).unwrap(),
            &provider,
        )
        .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let gw = Arc::new(
            Gateway::new(GatewayOptions {
                builtin,
                extra_roots: vec![],
                system_roots: false,
                backend_timeout: Duration::from_secs(30),
            })
            .unwrap(),
        );
        let report = gw.apply(&GatewayConfig {
            generation: 1,
            services: vec![GatewayService {
                name: "bench".into(),
                resource_id: String::new(),
                default_host: "bench.gateway.localhost".into(),
                hostnames: vec![ServedHostname {
                    host: host.clone(),
                    kind: HostnameType::Proxy,
                    default_ssl_binding: false,
                    negotiate_client_certificate: false,
                    certificate: material,
                }],
                apis: vec![GatewayApi {
                    id: "root".into(),
                    path: String::new(),
                    service_url: Some(backend.clone()),
                    subscription_required: false,
                    subscription_key_header: "Ocp-Apim-Subscription-Key".into(),
                    subscription_key_query: "subscription-key".into(),
                    operations: vec![GatewayOperation {
                        id: "all".into(),
                        method: "*".into(),
                        url_template: "/*".into(),
                    }],
                    products: vec![],
                }],
                subscriptions: vec![],
                backends: vec![],
            }],
        });
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let listener = tokio::net::TcpListener::bind(listen.as_str())
            .await
            .unwrap();
        println!("gateway_bench ready on {}", listener.local_addr().unwrap());
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let gw = Arc::clone(&gw);
            tokio::spawn(async move {
                let Ok(Handshake::Gateway(tls, info)) =
                    gw.handshake(tcp, ListenerKind::Dedicated).await
                else {
                    return;
                };
                let info = Arc::new(info);
                let svc = hyper::service::service_fn(move |req| {
                    let gw = Arc::clone(&gw);
                    let info = Arc::clone(&info);
                    async move { Ok::<_, Infallible>(gw.handle(req, &info, peer).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
}
