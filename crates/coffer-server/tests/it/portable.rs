//! `coffer vault export` / `import` between two instances: secrets with every version, keys and
//! certificates arrive intact; the file does not open with a wrong passphrase; an existing file
//! and names in use are refused unless `--force`.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Server, url};

fn coffer(args: &[&str], pass: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .env("COFFER_EXPORT_PASSPHRASE", pass)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn send(req: reqwest::RequestBuilder, want: u16) -> Value {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, want, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_moves_to_another_instance_with_every_version() {
    let a = Server::start();
    let (c, t) = (a.client(), a.token().await);
    for v in ["one", "two"] {
        send(
            c.put(url(&a, "/secrets/db"))
                .bearer_auth(&t)
                .json(&json!({"value": v, "tags": {"env": "test"}})),
            200,
        )
        .await;
    }
    let key = send(
        c.post(url(&a, "/keys/k1/create"))
            .bearer_auth(&t)
            .json(&json!({"kty": "RSA", "key_size": 2048})),
        200,
    )
    .await;
    let policy = json!({"policy": {
        "issuer": {"name": "Self"},
        "x509_props": {"subject": "CN=c1.example.test", "validity_months": 12},
        "key_props": {"kty": "EC", "crv": "P-256", "exportable": true},
        "secret_props": {"contentType": "application/x-pkcs12"}
    }});
    send(
        c.post(url(&a, "/certificates/c1/create"))
            .bearer_auth(&t)
            .json(&policy),
        202,
    )
    .await;
    let cert = send(c.get(url(&a, "/certificates/c1")).bearer_auth(&t), 200).await;

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("dev.coffer");
    let f = file.to_str().unwrap();
    let dir_a = a.data_dir().to_str().unwrap().to_owned();
    let pass = "a long passphrase";
    let (ok, out, err) = coffer(
        &[
            "vault",
            "export",
            "--vault",
            "dev",
            "--out",
            f,
            "--data-dir",
            &dir_a,
        ],
        pass,
    );
    assert!(ok, "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["objects"], 5, "{out}"); // db, k1, c1 and c1's key and secret
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(
        !raw.contains("coffer-vault-export") && !raw.contains("\"objects\""),
        "the file is encrypted"
    );
    // An existing file is not overwritten unless told.
    let (ok, _, err) = coffer(
        &[
            "vault",
            "export",
            "--vault",
            "dev",
            "--out",
            f,
            "--data-dir",
            &dir_a,
        ],
        pass,
    );
    assert!(!ok && err.contains("--force"), "{err}");

    let b = Server::start();
    let dir_b = b.data_dir().to_str().unwrap().to_owned();
    let (ok, _, err) = coffer(
        &["vault", "import", "--in", f, "--data-dir", &dir_b],
        "wrong passphrase!",
    );
    assert!(!ok && err.contains("wrong passphrase"), "{err}");
    let (ok, out, err) = coffer(&["vault", "import", "--in", f, "--data-dir", &dir_b], pass);
    assert!(ok, "{err}");
    assert!(out.contains("\"imported\": 5"), "{out}");

    let (cb, tb) = (b.client(), b.token().await);
    let got = send(cb.get(url(&b, "/secrets/db")).bearer_auth(&tb), 200).await;
    assert_eq!(got["value"], "two");
    assert_eq!(got["tags"]["env"], "test");
    let versions = send(
        cb.get(url(&b, "/secrets/db/versions")).bearer_auth(&tb),
        200,
    )
    .await;
    let ids: Vec<String> = versions["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2);
    let mut values = Vec::new();
    for id in &ids {
        let v = send(
            cb.get(url(&b, &format!("/secrets/db/{id}")))
                .bearer_auth(&tb),
            200,
        )
        .await;
        values.push(v["value"].as_str().unwrap().to_owned());
    }
    values.sort();
    assert_eq!(values, ["one", "two"]);
    let k = send(cb.get(url(&b, "/keys/k1")).bearer_auth(&tb), 200).await;
    assert_eq!(k["key"]["n"], key["key"]["n"]);
    let sig = send(
        cb.post(url(
            &b,
            &format!(
                "/keys/k1/{}/sign",
                k["key"]["kid"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
            ),
        ))
        .bearer_auth(&tb)
        .json(&json!({"alg": "RS256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})),
        200,
    )
    .await;
    assert!(sig["value"].as_str().is_some());
    let cb1 = send(cb.get(url(&b, "/certificates/c1")).bearer_auth(&tb), 200).await;
    assert_eq!(cb1["x5t"], cert["x5t"]);

    // Again: every name is in use now, so nothing is written unless --force.
    let (ok, _, err) = coffer(&["vault", "import", "--in", f, "--data-dir", &dir_b], pass);
    assert!(
        !ok && err.contains("ObjectsExist") && err.contains("--force"),
        "{err}"
    );
    let (ok, out, err) = coffer(
        &[
            "vault",
            "import",
            "--in",
            f,
            "--force",
            "--data-dir",
            &dir_b,
        ],
        pass,
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"replaced\": 5"), "{out}");

    // Into a vault that does not exist yet: it is created with the exported settings.
    let (ok, out, err) = coffer(
        &[
            "vault",
            "import",
            "--in",
            f,
            "--vault",
            "copy-kv",
            "--data-dir",
            &dir_b,
        ],
        pass,
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"created\": true"), "{out}");
}
