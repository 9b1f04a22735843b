//! `coffer seed` on a data directory: refused while a server holds it or before an instance
//! exists, then the seeded secrets are served over HTTPS by the next `coffer serve`.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Server, url};

fn seed(dir: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("seed")
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env_remove("COFFER_STORE")
        .env_remove("COFFER_ROOT_KEY")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_secrets_are_served_by_the_next_server() {
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = seed(empty.path(), &["--count", "5"]);
    assert!(!ok && err.contains("holds no Coffer instance"), "{err}");
    assert!(!empty.path().join("coffer.db").exists());

    let mut s = Server::start();
    let dir = s.data_dir().to_path_buf();
    let (ok, _, err) = seed(&dir, &["--count", "5"]);
    assert!(
        !ok && err.contains("in use by another coffer serve"),
        "{err}"
    );

    s.stop();
    let (ok, out, err) = seed(
        &dir,
        &["--count", "30", "--batch", "7", "--prefix", "Load-"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("seeded 30 secrets Load-0 .. Load-29"), "{out}");
    let (ok, _, err) = seed(&dir, &["--count", "2", "--vault", "nosuch"]);
    assert!(!ok && err.contains("No vault named 'nosuch'"), "{err}");

    let s = Server::start_in(&dir, s.port);
    let (c, t) = (s.client(), s.token().await);
    let r = c
        .get(url(&s, "/secrets/load-17"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"], "seeded value of Load-17");
    assert!(
        v["id"].as_str().unwrap().contains("/secrets/Load-17/"),
        "{v}"
    );

    let r = c
        .get(url(&s, "/secrets?maxresults=25"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 25);
    let next = page["nextLink"].as_str().unwrap().to_owned();
    let rest: Value = c
        .get(next)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["value"].as_array().unwrap().len(), 5);
}
