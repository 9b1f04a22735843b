//! The gateway runtime inside `coffer serve`: the dedicated `--gateway-listen` listener (no SNI
//! gets the built-in certificate, an unknown name is refused), the main listener still serving
//! the API for every name that is not a gateway host, and the gateway flags' checks.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::harness::Server;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TLS connection trusting the instance's CA, with `sni` (or none) and name checks on
/// `verify_as`.
async fn tls(
    s: &Server,
    port: u16,
    sni: Option<&str>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Without SNI the certificate is checked against 127.0.0.1, which the built-in one covers.
    config.enable_sni = sni.is_some();
    let name = match sni {
        Some(n) => ServerName::try_from(n.to_owned()).unwrap(),
        None => ServerName::try_from("127.0.0.1").unwrap(),
    };
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

async fn get(
    mut c: tokio_rustls::client::TlsStream<TcpStream>,
    host: &str,
    path: &str,
) -> (u16, serde_json::Value) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    crate::raw::status_and_json(&text)
}

#[tokio::test]
async fn the_gateway_listener_serves_its_names_only_and_the_main_one_keeps_the_api() {
    let gport = free_port();
    let listen = format!("127.0.0.1:{gport}");
    let s = Server::start_with(&["--gateway-listen", &listen, "--gateway-poll-interval", "2s"]);

    // No SNI on the gateway listener: the built-in certificate, and APIM's 404 for a host no
    // service has.
    let c = tls(&s, gport, None).await.expect("no-SNI handshake");
    let (status, body) = get(c, "nothing.gateway.localhost", "/echo").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        serde_json::json!({"statusCode": 404, "message": "Resource not found"})
    );

    // A name no gateway serves is refused at the handshake there.
    let err = match tls(&s, gport, Some("unknown.contoso.test")).await {
        Ok(_) => panic!("an unknown name was served"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("UnrecognisedName"), "{err}");

    // The main listener still answers the API, with or without SNI, gateway-like names too.
    for sni in [Some("dev.vault.localhost"), None] {
        let c = tls(&s, s.port, sni).await.expect("API handshake");
        let (status, body) = get(c, "dev.vault.localhost", "/secrets/none?api-version=7.6").await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
}

#[test]
fn gateway_flags_with_bad_values_are_named() {
    for (flag, value) in [
        ("--gateway-poll-interval", "soon"),
        ("--gateway-poll-interval", "0"),
        ("--gateway-backend-timeout", "5x"),
        ("--gateway-listen", "localhost"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag) && err.contains(value),
            "{flag} {value}: {err}"
        );
        // Nothing was made in the data directory.
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{flag}"
        );
    }
}
