//! Durability and encryption at rest: acknowledged writes survive SIGKILL, restarts reuse the
//! bootstrap contract, and no secret value appears in any file of the data directory.

use serde_json::{Value, json};

use crate::harness::{Server, url};

fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p);
            }
        }
    }
    hits
}

// Multi-threaded: stop() blocks one thread while the client must still answer the server's
// HTTP/2 shutdown handshake on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_values_are_encrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = Server::start_in(tmp.path(), port);
    eprintln!("start-to-ready: {} ms", s.ready_ms);
    let boot_before = s.boot.clone();
    let c = s.client();
    let t = s.token().await;
    let marker = "PLAINTEXT-MARKER-7f3a9c1e5b";
    for i in 0..20 {
        let r = c
            .put(url(&s, &format!("/secrets/s{i}")))
            .bearer_auth(&t)
            .json(&json!({"value": format!("{marker}-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    s.kill_hard();
    assert!(
        files_containing(tmp.path(), marker.as_bytes()).is_empty(),
        "plaintext found in data files"
    );

    let mut s = Server::start_in(tmp.path(), port);
    assert_eq!(
        s.boot, boot_before,
        "bootstrap contract is stable across restarts"
    );
    let c = s.client();
    let t = s.token().await;
    for i in 0..20 {
        let v: Value = c
            .get(url(&s, &format!("/secrets/s{i}")))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["value"], format!("{marker}-{i}"));
    }
    let status = s.stop().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status:?}"
    );
    assert!(files_containing(tmp.path(), marker.as_bytes()).is_empty());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(tmp.path().join("bootstrap.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

/// An operator's own certificate replaces the generated one; the contract then names no CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_certificate_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names = vec![
        "localhost".to_owned(),
        "login.localhost".to_owned(),
        "dev.vault.localhost".to_owned(),
    ];
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (tmp.path().join("own.pem"), tmp.path().join("own-key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tmp.path().join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ])
        .env("COFFER_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let boot_path = data.join("bootstrap.json");
    for _ in 0..300 {
        if boot_path.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let boot: Value = serde_json::from_str(&std::fs::read_to_string(&boot_path).unwrap()).unwrap();
    assert!(
        boot["ca_cert"].is_null(),
        "no generated CA to trust: {boot}"
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .resolve(
            "dev.vault.localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .build()
        .unwrap();
    let r = client
        .get(format!("https://dev.vault.localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
