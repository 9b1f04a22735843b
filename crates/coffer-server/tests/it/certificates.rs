//! Certificates over HTTPS with bad input: broken PFX/PEM, wrong passwords, a merge with a
//! certificate for another key and oversized values are 4xx in the envelope and store nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::harness::{Server, url};

/// Sends `req` and checks it is `status` with Azure's `{"error": {"code", "message"}}` envelope.
async fn expect_error(req: reqwest::RequestBuilder, status: u16, what: &str) -> Value {
    let r = req.send().await.unwrap();
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{what}: {body}");
    assert!(body["error"]["code"].is_string(), "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
    body
}

/// Checks that no certificate, managed key or managed secret exists under `name`.
async fn assert_nothing_stored(s: &Server, c: &reqwest::Client, t: &str, name: &str) {
    for kind in ["certificates", "keys", "secrets"] {
        let r = c
            .get(url(s, &format!("/{kind}/{name}")))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{kind}/{name} exists");
    }
    let r = c
        .get(url(s, "/certificates"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    let ids: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert!(
        !ids.iter().any(|id| id.ends_with(&format!("/{name}"))),
        "{name} is listed: {ids:?}"
    );
}

/// Creates a self-signed certificate and returns its bundle.
async fn create_self(s: &Server, c: &reqwest::Client, t: &str, name: &str) -> Value {
    let policy = json!({"policy": {
        "issuer": {"name": "Self"},
        "x509_props": {"subject": format!("CN={name}.example.test"), "validity_months": 12},
        "key_props": {"kty": "EC", "crv": "P-256", "exportable": true},
        "secret_props": {"contentType": "application/x-pkcs12"}
    }});
    let r = c
        .post(url(s, &format!("/certificates/{name}/create")))
        .bearer_auth(t)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let r = c
        .get(url(s, &format!("/certificates/{name}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn pseudo_random(n: usize) -> Vec<u8> {
    // Deterministic filler that no parser mistakes for DER or PEM.
    (0..n).map(|i| (i * 7919 % 251) as u8 ^ 0x5a).collect()
}

#[tokio::test]
async fn broken_pfx_pem_and_wrong_password_are_400_and_store_nothing() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    let good = create_self(&s, &c, &t, "source").await;
    let cer = good["cer"].as_str().unwrap().to_owned();
    // The managed secret is the PFX, written with the empty password.
    let secret: Value = c
        .get(url(&s, "/secrets/source"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pfx = secret["value"].as_str().unwrap().to_owned();
    let cert_only_pem = format!("-----BEGIN CERTIFICATE-----\n{cer}\n-----END CERTIFICATE-----\n");
    let mut truncated = B64.decode(&pfx).unwrap();
    truncated.truncate(truncated.len() / 2);

    let cases: Vec<(&str, Value)> = vec![
        ("not base64", json!({"value": "%%% not base64 %%%"})),
        (
            "random bytes",
            json!({"value": B64.encode(pseudo_random(2048))}),
        ),
        ("truncated PFX", json!({"value": B64.encode(&truncated)})),
        ("wrong password", json!({"value": pfx, "pwd": "wrong"})),
        (
            "broken PEM",
            json!({"value": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
        ),
        (
            "PEM key that is not a key",
            json!({"value": format!(
                "-----BEGIN PRIVATE KEY-----\nAAECAwQF\n-----END PRIVATE KEY-----\n{cert_only_pem}"
            )}),
        ),
        ("PEM without a key", json!({"value": cert_only_pem})),
        (
            "PEM without a key, base64",
            json!({"value": B64.encode(cert_only_pem.as_bytes())}),
        ),
        ("empty value", json!({"value": ""})),
        ("no value", json!({"pwd": "x"})),
    ];
    for (i, (what, body)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}");
        expect_error(
            c.post(url(&s, &format!("/certificates/{name}/import")))
                .bearer_auth(&t)
                .json(&body),
            400,
            what,
        )
        .await;
        assert_nothing_stored(&s, &c, &t, &name).await;
    }

    // The right (empty) password imports the same PFX, so the cases above failed for their flaw.
    let r = c
        .post(url(&s, "/certificates/copy/import"))
        .bearer_auth(&t)
        .json(&json!({"value": pfx}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let copy: Value = r.json().await.unwrap();
    assert_eq!(copy["cer"], good["cer"]);
}

#[tokio::test]
async fn merge_with_a_certificate_for_another_key_is_400_and_keeps_the_operation() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    let r = c
        .post(url(&s, "/certificates/pend/create"))
        .bearer_auth(&t)
        .json(&json!({"policy": {
            "issuer": {"name": "Unknown"},
            "x509_props": {"subject": "CN=pend.example.test"}
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let op: Value = r.json().await.unwrap();
    assert_eq!(op["status"], "inProgress");
    assert!(op["csr"].is_string());

    // A real certificate, but for the key of another certificate.
    let other = create_self(&s, &c, &t, "other").await;
    let merge = |x5c: Value| {
        c.post(url(&s, "/certificates/pend/pending/merge"))
            .bearer_auth(&t)
            .json(&json!({ "x5c": x5c }))
    };
    expect_error(merge(json!([other["cer"]])), 400, "foreign key").await;
    expect_error(merge(json!([])), 400, "empty x5c").await;
    expect_error(
        merge(json!([B64.encode(pseudo_random(600))])),
        400,
        "garbage certificate",
    )
    .await;
    expect_error(merge(json!(["%%%"])), 400, "not base64").await;

    let pending: Value = c
        .get(url(&s, "/certificates/pend/pending"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["status"], "inProgress", "{pending}");
    assert_eq!(pending["csr"], op["csr"]);
    for kind in ["keys", "secrets"] {
        let r = c
            .get(url(&s, &format!("/{kind}/pend")))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{kind}/pend exists");
    }
    let versions: Value = c
        .get(url(&s, "/certificates/pend/versions"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions["value"].as_array().map_or(0, Vec::len),
        0,
        "{versions}"
    );
}

#[tokio::test]
async fn oversized_values_are_refused_and_store_nothing() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    // Larger than the request body limit: refused before it is parsed.
    let huge = "A".repeat(5 * 1024 * 1024);
    expect_error(
        c.post(url(&s, "/certificates/huge/import"))
            .bearer_auth(&t)
            .json(&json!({"value": huge})),
        413,
        "body over the limit",
    )
    .await;
    assert_nothing_stored(&s, &c, &t, "huge").await;
    // Within the body limit but far beyond any certificate: refused as a bad PFX.
    let big = B64.encode(pseudo_random(1024 * 1024));
    expect_error(
        c.post(url(&s, "/certificates/big/import"))
            .bearer_auth(&t)
            .json(&json!({"value": big, "pwd": "x"})),
        400,
        "large garbage value",
    )
    .await;
    assert_nothing_stored(&s, &c, &t, "big").await;
    // An oversized merge body is refused the same way and leaves the operation waiting.
    let r = c
        .post(url(&s, "/certificates/pend/create"))
        .bearer_auth(&t)
        .json(&json!({"policy": {"issuer": {"name": "Unknown"},
            "x509_props": {"subject": "CN=pend.example.test"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    expect_error(
        c.post(url(&s, "/certificates/pend/pending/merge"))
            .bearer_auth(&t)
            .json(&json!({"x5c": ["A".repeat(5 * 1024 * 1024)]})),
        413,
        "merge body over the limit",
    )
    .await;
    let pending: Value = c
        .get(url(&s, "/certificates/pend/pending"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["status"], "inProgress", "{pending}");
}

#[tokio::test]
async fn pem_whose_key_is_not_the_certificates_is_400_and_stores_nothing() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    let mut pems = Vec::new();
    for name in ["pa", "pb"] {
        let policy = json!({"policy": {
            "issuer": {"name": "Self"},
            "x509_props": {"subject": format!("CN={name}.example.test")},
            "key_props": {"kty": "EC", "crv": "P-256", "exportable": true},
            "secret_props": {"contentType": "application/x-pem-file"}
        }});
        let r = c
            .post(url(&s, &format!("/certificates/{name}/create")))
            .bearer_auth(&t)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let secret: Value = c
            .get(url(&s, &format!("/secrets/{name}")))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pems.push(secret["value"].as_str().unwrap().to_owned());
    }
    let split = |pem: &str| {
        let at = pem.find("-----BEGIN CERTIFICATE-----").unwrap();
        (pem[..at].to_owned(), pem[at..].to_owned())
    };
    let (key_a, _) = split(&pems[0]);
    let (_, cert_b) = split(&pems[1]);
    assert!(key_a.contains("PRIVATE KEY"), "no key in the PEM secret");
    expect_error(
        c.post(url(&s, "/certificates/mixed/import"))
            .bearer_auth(&t)
            .json(&json!({"value": format!("{key_a}{cert_b}")})),
        400,
        "key of another certificate",
    )
    .await;
    assert_nothing_stored(&s, &c, &t, "mixed").await;
    let r = c
        .get(url(&s, "/certificates/mixed/policy"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a policy was left behind");
    // The matching pair imports, so the refusal above was for the mismatch.
    let r = c
        .post(url(&s, "/certificates/matched/import"))
        .bearer_auth(&t)
        .json(&json!({"value": pems[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_certificates_managed_secret_is_read_but_not_set_or_deleted_directly() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    create_self(&s, &c, &t, "owned").await;
    for (req, op) in [
        (
            c.put(url(&s, "/secrets/owned"))
                .bearer_auth(&t)
                .json(&json!({"value": "replaced"})),
            "set",
        ),
        (
            c.delete(url(&s, "/secrets/owned")).bearer_auth(&t),
            "delete",
        ),
    ] {
        let body = expect_error(req, 403, op).await;
        assert_eq!(body["error"]["code"], "Forbidden", "{body}");
        assert_eq!(
            body["error"]["innererror"]["code"], "SecretManagedByKeyVault",
            "{body}"
        );
        assert_eq!(
            body["error"]["message"],
            format!(
                "Operation \"{op}\" is not allowed as this object's lifetime is managed by Key Vault."
            )
        );
    }
    // The secret still holds the certificate's PFX, unchanged.
    let r = c
        .get(url(&s, "/secrets/owned/"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["managed"], true);
    assert_eq!(v["contentType"], "application/x-pkcs12");
    assert!(B64.decode(v["value"].as_str().unwrap()).is_ok());
}
