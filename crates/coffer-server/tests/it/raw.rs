//! A raw TLS client for the hostile-client tests: bytes exactly as written, which no HTTP
//! client library would send (partial heads, NUL bytes, conflicting lengths, idle sockets).

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::harness::Server;

/// A TLS connection to the server, ALPN `http/1.1`, with the handshake done.
pub(crate) async fn connect(s: &Server) -> TlsStream<TcpStream> {
    connect_alpn(s, b"http/1.1").await
}

/// A TLS connection offering only the ALPN protocol `alpn`.
pub(crate) async fn connect_alpn(s: &Server, alpn: &[u8]) -> TlsStream<TcpStream> {
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
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let name = ServerName::try_from("dev.vault.localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Sends `bytes` and reads until the server closes (or `wait` passes): everything it answered.
pub(crate) async fn exchange(s: &Server, bytes: &[u8], wait: Duration) -> String {
    let mut c = connect(s).await;
    c.write_all(bytes).await.unwrap();
    c.flush().await.unwrap();
    read_for(&mut c, wait).await
}

/// What arrives until the server closes the connection or `wait` passes.
pub(crate) async fn read_for(c: &mut TlsStream<TcpStream>, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 8192];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server closes `c` within `wait` (EOF or reset), reading and dropping anything.
pub(crate) async fn closed_within(c: &mut TlsStream<TcpStream>, wait: Duration) -> bool {
    tokio::time::timeout(wait, async {
        let mut buf = [0u8; 1024];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The status and the parsed JSON body of a raw HTTP/1.1 answer.
pub(crate) fn status_and_json(answer: &str) -> (u16, serde_json::Value) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: body {body:?}"));
    (status, json)
}
