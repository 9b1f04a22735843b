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
