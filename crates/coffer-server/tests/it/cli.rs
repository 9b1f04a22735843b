//! The `coffer token` verbs, run as a user would, against a real server.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Server, url};

fn coffer(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_get_and_decode_with_a_verdict() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let (ok, vault_token, err) = coffer(&["token", "get", "--raw", "--data-dir", &dir]);
    assert!(ok, "{err}");
    let vault_token = vault_token.trim().to_owned();
    let (ok, out, err) = coffer(&[
        "token",
        "decode",
        &vault_token,
        "--vault",
        &s.vault(),
        "--data-dir",
        &dir,
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["header"]["alg"], "RS256");
    assert_eq!(v["claims"]["tid"], s.b("tenant_id"));
    assert!(v["times"]["exp"].as_str().unwrap().contains("(in "));
    assert_eq!(v["verdict"]["accepted"], true);

    let mgmt = format!("https://management.localhost:{}/", s.port);
    let (ok, mgmt_token, err) = coffer(&[
        "token",
        "get",
        "--raw",
        "--resource",
        &mgmt,
        "--data-dir",
        &dir,
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = coffer(&[
        "token",
        "decode",
        mgmt_token.trim(),
        "--vault",
        &s.vault(),
        "--data-dir",
        &dir,
    ]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"]["accepted"], false);
    assert_eq!(v["verdict"]["failed_check"], "AKV10022");
    assert!(
        v["verdict"]["fix"]
            .as_str()
            .unwrap()
            .contains(&s.b("vault_resource"))
    );

    let (ok, _, err) = coffer(&["token", "decode", "garbage"]);
    assert!(!ok);
    assert!(err.contains("Malformed token"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_issued_tokens_valid() {
    let mut s = Server::start();
    let dir = s.data_dir().to_path_buf();
    let old = s.token().await;
    let (ok, out, err) = coffer(&[
        "token",
        "keys",
        "rotate",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let kid: Value = serde_json::from_str(&out).unwrap();
    s.stop();
    let s = Server::start_in(&dir, s.port);
    let c = s.client();
    let jwks: Value = c
        .get(format!(
            "{}/{}/discovery/v2.0/keys",
            s.b("authority"),
            s.b("tenant_id")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "current and previous key"
    );
    let r = c
        .get(url(&s, "/secrets"))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a token signed by the previous key still works"
    );
    let new = s.token().await;
    let (ok, out, _) = coffer(&["token", "decode", &new]);
    assert!(ok);
    let decoded: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        decoded["header"]["kid"], kid["kid"],
        "new tokens are signed by the new key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_and_identity_verbs_show_object_ids() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &dir]);
        let (ok, out, err) = coffer(&all);
        assert!(ok, "coffer {args:?}: {err}");
        out
    };
    // Two applications with the same display name: listings tell them apart by object id.
    let create = || -> Value {
        serde_json::from_str(&run(&[
            "ad",
            "app",
            "create",
            "--display-name",
            "look-alike",
        ]))
        .unwrap()
    };
    let (a, b) = (create(), create());
    let sps: Value =
        serde_json::from_str(&run(&["ad", "sp", "list", "--display-name", "look-alike"])).unwrap();
    let ids: Vec<&str> = sps
        .as_array()
        .unwrap()
        .iter()
        .map(|sp| sp["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&a["servicePrincipalObjectId"].as_str().unwrap()));
    assert!(ids.contains(&b["servicePrincipalObjectId"].as_str().unwrap()));
    let table = run(&[
        "ad",
        "sp",
        "list",
        "--display-name",
        "look-alike",
        "-o",
        "table",
    ]);
    assert!(table.lines().next().unwrap().contains("ObjectId"));
    assert_eq!(
        table.lines().count(),
        4,
        "header, rule and two rows:\n{table}"
    );

    // A reset credential signs in.
    let app_id = a["appId"].as_str().unwrap();
    let cred: Value =
        serde_json::from_str(&run(&["ad", "app", "credential", "reset", "--id", app_id])).unwrap();
    let secret = cred["password"].as_str().unwrap();
    let tok = run(&[
        "token",
        "get",
        "--raw",
        "--client-id",
        app_id,
        "--client-secret",
        secret,
    ]);
    let (ok, out, _) = coffer(&["token", "decode", tok.trim()]);
    assert!(ok);
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["claims"]["appid"], app_id);
    assert_eq!(claims["claims"]["oid"], a["servicePrincipalObjectId"]);
    // A client certificate, registered from a PEM file.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem_path = s.data_dir().join("client-cert.pem");
    std::fs::write(&pem_path, cert.pem()).unwrap();
    let creds: Value = serde_json::from_str(&run(&[
        "ad",
        "app",
        "credential",
        "add-cert",
        "--id",
        app_id,
        "--cert",
        pem_path.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(creds.as_array().unwrap().len(), 1, "{creds}");
    let (ok, _, err) = coffer(&[
        "ad",
        "app",
        "credential",
        "add-cert",
        "--id",
        app_id,
        "--cert",
        "/dev/null",
        "--data-dir",
        &dir,
    ]);
    assert!(!ok && err.contains("neither a PEM nor a DER"), "{err}");
    run(&["ad", "app", "delete", "--id", app_id]);
    let apps: Value =
        serde_json::from_str(&run(&["ad", "app", "list", "--display-name", "look-alike"])).unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 1);

    // User-assigned managed identities.
    let mi: Value = serde_json::from_str(&run(&["identity", "create", "-n", "web"])).unwrap();
    assert!(mi["properties"]["principalId"].is_string());
    let list: Value = serde_json::from_str(&run(&["identity", "list"])).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "web" && i["resourceGroup"] == s.b("resource_group"))
    );
    run(&["identity", "delete", "-n", "web"]);
    let list: Value = serde_json::from_str(&run(&["identity", "list"])).unwrap();
    // Only the bootstrap identity is left.
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev-app"]);
}
