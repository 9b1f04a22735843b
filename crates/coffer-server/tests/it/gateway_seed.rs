//! The seed's API Management scenario end to end, over HTTPS against the real binary: a gateway
//! without identity, then without an access policy, is refused with the seed's messages and the
//! old hostnames keep serving; after the seed's fix `api.contoso.test` is served by SNI with the
//! vault's certificate and proxies to a backend; a new certificate version is served after the
//! next poll with no failed request during the swap; and the vault firewall admits the gateway's
//! identity as a trusted service only while its bypass is `AzureServices`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::Server;

const APIM: &str = "2024-05-01";
const KV: &str = "2026-02-01";
const HOST: &str = "api.contoso.test";

/// Accepts any server certificate and keeps the leaf it saw: the certificate under test is a
/// vault's self-signed one, and what matters is which one the gateway serves.
#[derive(Debug)]
struct Recorder;

impl ServerCertVerifier for Recorder {
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
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS connection to the server's port sending `sni`; with the SHA-1 thumbprint of the leaf.
async fn connect(port: u16, sni: &str) -> std::io::Result<(Tls, String)> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(Recorder))
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(sni.to_owned()).map_err(std::io::Error::other)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| thumbprint(c.as_ref()))
        .unwrap_or_default();
    Ok((tls, leaf))
}

fn thumbprint(der: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// One keep-alive HTTP/1.1 request on `c`: status and body.
async fn request(c: &mut Tls, port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n");
    c.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = c.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-response"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok((status, body[..len].to_owned()));
            }
        }
    }
}

/// A backend on loopback answering every request with `backend saw <path>` and the client
/// address the gateway forwarded.
async fn backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                        let xff = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("x-forwarded-for")
                                    .then(|| v.trim().to_owned())
                            })
                            .unwrap_or_default();
                        let body = format!("backend saw {path} for {xff}");
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

struct Env {
    c: reqwest::Client,
    arm: String,
    arm_token: String,
    vault_token: String,
    vault: String,
    sub: String,
    rg: String,
}

impl Env {
    async fn new(s: &Server) -> Self {
        let c = s.client();
        let arm = s.b("management_url");
        let arm_token = s.token_for(&c, &format!("{arm}/")).await;
        Self {
            arm_token,
            vault_token: s.token().await,
            vault: s.vault(),
            sub: s.b("subscription_id"),
            rg: s.b("resource_group"),
            arm,
            c,
        }
    }

    fn svc(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/gw",
            self.sub, self.rg
        )
    }

    fn dev(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/dev",
            self.sub, self.rg
        )
    }

    async fn arm(&self, method: &str, path: &str, api: &str, body: Value) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = self
            .c
            .request(
                method.parse().unwrap(),
                format!("{}{path}{sep}api-version={api}", self.arm),
            )
            .bearer_auth(&self.arm_token)
            .header("If-Match", "*")
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }

    async fn vault(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .c
            .request(
                method.parse().unwrap(),
                format!("{}{path}?api-version=7.6", self.vault),
            )
            .bearer_auth(&self.vault_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }

    /// A new self-signed version of certificate `name` for `HOST`; its thumbprint.
    async fn certificate(&self, name: &str) -> String {
        let policy = json!({"policy": {
            "issuer": {"name": "Self"},
            "key_props": {"exportable": true, "kty": "RSA", "key_size": 2048, "reuse_key": false},
            "secret_props": {"contentType": "application/x-pkcs12"},
            "x509_props": {"subject": format!("CN={HOST}"), "sans": {"dns_names": [HOST, "*.contoso.test"]}, "validity_months": 12}
        }});
        let (st, op) = self
            .vault("POST", &format!("/certificates/{name}/create"), policy)
            .await;
        assert!(st == 202 || st == 200, "{st} {op}");
        for _ in 0..50 {
            let (st, cert) = self
                .vault("GET", &format!("/certificates/{name}"), json!({}))
                .await;
            if st == 200 && cert["x5t"].is_string() {
                let der = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    cert["cer"].as_str().unwrap(),
                )
                .unwrap();
                return thumbprint(&der);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("certificate {name} was not issued");
    }

    async fn set_hostnames(&self, hosts: &[(&str, &str)]) -> (u16, Value) {
        let entries: Vec<Value> = hosts
            .iter()
            .map(|(h, kv)| json!({"type": "Proxy", "hostName": h, "keyVaultId": kv}))
            .collect();
        self.arm(
            "PATCH",
            &self.svc(),
            APIM,
            json!({"properties": {"hostnameConfigurations": entries}}),
        )
        .await
    }
}

fn message(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn served_thumbprint(svc: &Value, host: &str) -> Option<String> {
    svc["properties"]["hostnameConfigurations"]
        .as_array()?
        .iter()
        .find(|h| h["hostName"] == host)
        .and_then(|h| h["certificate"]["thumbprint"].as_str())
        .map(str::to_ascii_uppercase)
}

#[tokio::test]
async fn the_seed_scenario_from_refusal_to_a_served_and_rotated_custom_domain() {
    let s = Server::start_with(&["--gateway-poll-interval", "1s"]);
    let e = Env::new(&s).await;
    let port = s.port;
    let secret_url = format!("{}/secrets/gwcert/", e.vault);
    let first = e.certificate("gwcert").await;

    let (st, created) = e
        .arm(
            "PUT",
            &e.svc(),
            APIM,
            json!({"location": "local", "sku": {"name": "Developer", "capacity": 1},
                   "properties": {"publisherEmail": "ops@contoso.test", "publisherName": "Contoso"}}),
        )
        .await;
    assert!(st == 200 || st == 201, "{st} {created}");

    // 1. No managed identity: refused, nothing changes.
    let (st, err) = e.set_hostnames(&[(HOST, &secret_url)]).await;
    assert_eq!(st, 400, "{err}");
    assert_eq!(err["error"]["code"], "InvalidOperation");
    assert!(message(&err).contains("Managed Service Identity"), "{err}");

    // 2. The identity on; its service principal carries the service's name.
    let (st, on) = e
        .arm(
            "PATCH",
            &e.svc(),
            APIM,
            json!({"identity": {"type": "SystemAssigned"}}),
        )
        .await;
    assert_eq!(st, 200, "{on}");
    let principal = on["identity"]["principalId"].as_str().unwrap().to_owned();

    // 3. No access policy for it: the seed's message, with the vault's request id.
    let (st, err) = e.set_hostnames(&[(HOST, &secret_url)]).await;
    assert_eq!(st, 400, "{err}");
    let m = message(&err);
    let head = format!(
        "Failed to update API Management service hostnames. Request to resource '{secret_url}?api-version=7.0' failed with StatusCode: Forbidden for RequestId: "
    );
    assert!(m.starts_with(&head), "{m}");
    let request_id = m[head.len()..].split('.').next().unwrap_or_default();
    assert_eq!(request_id.len(), 36, "a request id in {m}");
    assert!(
        m.ends_with("Exception message: Operation returned an invalid status code 'Forbidden'"),
        "{m}"
    );
    // Not a gateway host yet: the main listener answers the name as the API would, with the
    // instance's own certificate, never the vault's.
    assert!(
        connect(port, HOST)
            .await
            .map(|(_, t)| t != first)
            .unwrap_or(true),
        "nothing is served for the host before the update succeeds"
    );

    // 4. The seed's fix: secrets get (and list) for the gateway's principal.
    let tenant = s.b("tenant_id");
    let (st, body) = e
        .arm(
            "PUT",
            &format!("{}/accessPolicies/add", e.dev()),
            KV,
            json!({"properties": {"accessPolicies": [{"tenantId": tenant, "objectId": principal,
                   "permissions": {"secrets": ["get", "list"]}}]}}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, done) = e.set_hostnames(&[(HOST, &secret_url)]).await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(
        served_thumbprint(&done, HOST).as_deref(),
        Some(first.as_str())
    );

    // 5. An API in front of a backend, served on the custom domain with the vault's certificate.
    let b = backend().await;
    let (st, api) = e
        .arm(
            "PUT",
            &format!("{}/apis/echo", e.svc()),
            APIM,
            json!({"properties": {"displayName": "Echo", "path": "echo", "protocols": ["https"],
                   "serviceUrl": format!("http://{b}"), "subscriptionRequired": false}}),
        )
        .await;
    assert!(st == 200 || st == 201, "{st} {api}");
    let (st, op) = e
        .arm(
            "PUT",
            &format!("{}/apis/echo/operations/all", e.svc()),
            APIM,
            json!({"properties": {"displayName": "all", "method": "GET", "urlTemplate": "/*"}}),
        )
        .await;
    assert!(st == 200 || st == 201, "{st} {op}");
    let mut served = None;
    for _ in 0..50 {
        if let Ok((mut c, thumb)) = connect(port, HOST).await
            && thumb == first
            && let Ok((200, body)) = request(&mut c, port, "/echo/hello?x=1").await
        {
            served = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = served.expect("the custom domain serves the API with the vault's certificate");
    assert_eq!(body, "backend saw /hello?x=1 for 127.0.0.1");

    // 6. A later update that fails keeps what is served.
    let (st, err) = e
        .set_hostnames(&[
            (HOST, &secret_url),
            ("other.contoso.test", &format!("{}/secrets/nosuch", e.vault)),
        ])
        .await;
    assert_eq!(st, 400, "{err}");
    let (mut c, thumb) = connect(port, HOST).await.unwrap();
    assert_eq!(thumb, first);
    assert_eq!(request(&mut c, port, "/echo/a").await.unwrap().0, 200);

    // 7. Rotation: a new version is served after the next poll, and requests on open and new
    // connections never fail meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let done_requests = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, failures, done_requests) =
            (stop.clone(), failures.clone(), done_requests.clone());
        load.push(tokio::spawn(async move {
            let mut conn = connect(port, HOST).await.ok().map(|(c, _)| c);
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Every tenth request opens a new connection; the others reuse the open one.
                if n.is_multiple_of(10) {
                    conn = connect(port, HOST).await.ok().map(|(c, _)| c);
                }
                let ok = match conn.as_mut() {
                    Some(c) => matches!(request(c, port, "/echo/load").await, Ok((200, _))),
                    None => false,
                };
                if ok {
                    done_requests.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    conn = connect(port, HOST).await.ok().map(|(c, _)| c);
                }
            }
        }));
    }
    let second = e.certificate("gwcert").await;
    assert_ne!(second, first);
    let mut swapped = false;
    for _ in 0..100 {
        if let Ok((_, t)) = connect(port, HOST).await
            && t == second
        {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Some more load after the swap, on connections opened before and after it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert!(
        swapped,
        "the new certificate version is served after a poll"
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request failed during the swap"
    );
    assert!(done_requests.load(Ordering::Relaxed) > 20);
    let (_, shown) = e.arm("GET", &e.svc(), APIM, json!({})).await;
    assert_eq!(
        served_thumbprint(&shown, HOST).as_deref(),
        Some(second.as_str())
    );

    // 8. The vault firewall: Deny with the bypass for trusted services admits the gateway's
    // identity (its reads come from loopback, which no rule names); bypass None refuses it.
    let fw = |bypass: &str| json!({"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": bypass, "ipRules": []}}});
    let (st, body) = e.arm("PATCH", &e.dev(), KV, fw("AzureServices")).await;
    assert_eq!(st, 200, "{body}");
    let (st, ok) = e
        .set_hostnames(&[(HOST, &secret_url), ("www.contoso.test", &secret_url)])
        .await;
    assert_eq!(st, 200, "a trusted service passes the firewall: {ok}");
    let (st, body) = e.arm("PATCH", &e.dev(), KV, fw("None")).await;
    assert_eq!(st, 200, "{body}");
    let (st, err) = e
        .set_hostnames(&[
            (HOST, &secret_url),
            ("www.contoso.test", &secret_url),
            ("fw.contoso.test", &secret_url),
        ])
        .await;
    assert_eq!(st, 400, "{err}");
    assert!(
        message(&err).contains("failed with StatusCode: Forbidden for RequestId: "),
        "{err}"
    );
}
