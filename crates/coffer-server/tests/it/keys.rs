//! Keys over HTTPS with raw requests: every bad input is a 4xx in Key Vault's envelope and changes
//! nothing; `key_ops`, `enabled`, `nbf` and `exp` rules with Azure's codes; `/rng` bounds; HSM key
//! types without a token; managed (certificate) keys; and RSA-4096 generation that does not stall
//! other requests.

use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::harness::{Server, url};

struct Api {
    c: reqwest::Client,
    t: String,
    s: Server,
}

impl Api {
    async fn start() -> Self {
        let s = Server::start();
        Self {
            c: s.client(),
            t: s.token().await,
            s,
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .c
            .request(method, url(&self.s, path))
            .bearer_auth(&self.t);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, v)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self.send(method, path, body).await;
        assert_eq!(st, 200, "{method} {path}: {v}");
        v
    }

    /// The versions of a key, as listed.
    async fn versions(&self, name: &str) -> usize {
        let v = self
            .ok("GET", &format!("/keys/{name}/versions"), None)
            .await;
        v["value"].as_array().unwrap().len()
    }
}

/// Checks Key Vault's error envelope and returns (code, inner code, message).
fn envelope(status: u16, want: u16, v: &Value, what: &str) -> (String, Option<String>, String) {
    assert_eq!(status, want, "{what}: {v}");
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{what}: {v}");
    let e = &v["error"];
    let code = e["code"].as_str().unwrap().to_owned();
    let message = e["message"].as_str().unwrap().to_owned();
    assert!(!code.is_empty() && !message.is_empty(), "{what}: {v}");
    let inner = e["innererror"]["code"].as_str().map(str::to_owned);
    (code, inner, message)
}

fn bad_parameter(status: u16, v: &Value, what: &str) -> String {
    let (code, _, message) = envelope(status, 400, v, what);
    assert_eq!(code, "BadParameter", "{what}: {v}");
    message
}

fn random(n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    SystemRandom::new().fill(&mut out).unwrap();
    out
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A valid private P-256 JWK made with aws-lc-rs, and its members.
fn p256_jwk() -> Value {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let d = pair.private_key().as_be_bytes().unwrap();
    json!({
        "kty": "EC", "crv": "P-256",
        "x": b64(&point[1..33]), "y": b64(&point[33..65]), "d": b64(d.as_ref()),
    })
}

fn with(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}

#[tokio::test]
async fn malformed_jwks_are_refused_and_change_nothing() {
    let api = Api::start().await;
    let ec = p256_jwk();
    let other = p256_jwk();
    assert_eq!(
        api.send("PUT", "/keys/Target", Some(json!({"key": ec})))
            .await
            .0,
        200
    );
    let rsa_random = json!({
        "kty": "RSA", "n": b64(&[&[0xc1][..], &random(255)].concat()), "e": "AQAB",
        "d": b64(&random(256)), "p": b64(&random(128)), "q": b64(&random(128)),
        "dp": b64(&random(128)), "dq": b64(&random(128)), "qi": b64(&random(128)),
    });
    let x = ec["x"].as_str().unwrap();
    let long_x = b64(&[B64.decode(x).unwrap(), vec![0]].concat());
    let cases: Vec<(&str, Value)> = vec![
        ("public-only EC", with(&ec, json!({"d": null}))),
        ("EC without y", with(&ec, json!({"y": null}))),
        ("EC without crv", with(&ec, json!({"crv": null}))),
        ("EC with an unknown crv", with(&ec, json!({"crv": "P-192"}))),
        ("EC on the wrong curve", with(&ec, json!({"crv": "P-384"}))),
        ("EC x too long", with(&ec, json!({"x": long_x}))),
        ("EC d of another key", with(&ec, json!({"d": other["d"]}))),
        (
            "EC point off the curve",
            with(&ec, json!({"y": other["y"]})),
        ),
        ("EC with bad base64", with(&ec, json!({"x": "not*base64"}))),
        (
            "RSA public only",
            json!({"kty": "RSA", "n": rsa_random["n"], "e": "AQAB"}),
        ),
        (
            "RSA without p, q, dp, dq, qi",
            with(
                &rsa_random,
                json!({"p": null, "q": null, "dp": null, "dq": null, "qi": null}),
            ),
        ),
        ("RSA with inconsistent parts", rsa_random.clone()),
        (
            "RSA of 1024 bits",
            with(
                &rsa_random,
                json!({"n": b64(&[&[0xc1][..], &random(127)].concat())}),
            ),
        ),
        ("RSA with an empty e", with(&rsa_random, json!({"e": ""}))),
        (
            "oct of 20 bytes",
            json!({"kty": "oct", "k": b64(&random(20))}),
        ),
        ("oct without k", json!({"kty": "oct"})),
        ("no kty", with(&ec, json!({"kty": null}))),
        ("unknown kty", with(&ec, json!({"kty": "DSA"}))),
        (
            "unknown key_ops",
            with(&ec, json!({"key_ops": ["sign", "teleport"]})),
        ),
        (
            "EC key_ops that EC cannot do",
            with(&ec, json!({"key_ops": ["encrypt"]})),
        ),
        ("key not an object", json!("just a string")),
    ];
    for (what, key) in cases {
        for name in ["Target", "Fresh"] {
            let (st, v) = api
                .send("PUT", &format!("/keys/{name}"), Some(json!({"key": key})))
                .await;
            let message = bad_parameter(st, &v, what);
            assert!(
                !message.contains(ec["d"].as_str().unwrap()),
                "{what}: the message echoes the private key"
            );
        }
    }
    // Not a JWK at all, and no key member.
    for body in [json!({}), json!({"key": {"kty": "oct", "k": 5}})] {
        let (st, v) = api.send("PUT", "/keys/Fresh", Some(body)).await;
        bad_parameter(st, &v, "no usable key member");
    }
    assert_eq!(api.versions("Target").await, 1);
    let (st, v) = api.send("GET", "/keys/Fresh", None).await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["error"]["code"], "KeyNotFound");
}

#[tokio::test]
async fn bad_operation_inputs_are_refused() {
    let api = Api::start().await;
    let aes = random(32);
    let oct = api
        .ok(
            "PUT",
            "/keys/aes",
            Some(json!({"key": {"kty": "oct", "k": b64(&aes)}})),
        )
        .await;
    let oct_kid = oct["key"]["kid"].as_str().unwrap().to_owned();
    let rsa = api
        .ok("POST", "/keys/rsa/create", Some(json!({"kty": "RSA"})))
        .await;
    api.ok(
        "POST",
        "/keys/ec/create",
        Some(json!({"kty": "EC", "crv": "P-256"})),
    )
    .await;
    let enc = api
        .ok(
            "POST",
            "/keys/aes//encrypt",
            Some(json!({"alg": "A256GCM", "value": b64(b"data"), "aad": b64(b"a")})),
        )
        .await;
    assert_eq!(enc["kid"], oct_kid.as_str());
    let (iv, tag, ct) = (&enc["iv"], &enc["tag"], &enc["value"]);
    // The well-formed decrypt works, so each refusal below is about its one bad member.
    let good = json!({"alg": "A256GCM", "value": ct, "iv": iv, "tag": tag, "aad": b64(b"a")});
    let dec = api
        .ok("POST", "/keys/aes//decrypt", Some(good.clone()))
        .await;
    assert_eq!(dec["value"], b64(b"data"));

    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "bad base64 value",
            "aes//encrypt",
            json!({"alg": "A256GCM", "value": "%%%"}),
        ),
        (
            "bad base64 iv",
            "aes//decrypt",
            with(&good, json!({"iv": "a b"})),
        ),
        (
            "bad base64 tag",
            "aes//decrypt",
            with(&good, json!({"tag": "@@"})),
        ),
        (
            "bad base64 aad",
            "aes//decrypt",
            with(&good, json!({"aad": "!"})),
        ),
        (
            "GCM decrypt without tag",
            "aes//decrypt",
            with(&good, json!({"tag": null})),
        ),
        (
            "GCM decrypt without iv",
            "aes//decrypt",
            with(&good, json!({"iv": null})),
        ),
        (
            "GCM with a short iv",
            "aes//decrypt",
            with(&good, json!({"iv": b64(&[0; 8])})),
        ),
        (
            "GCM with a wrong tag",
            "aes//decrypt",
            with(&good, json!({"tag": b64(&[0; 16])})),
        ),
        (
            "GCM with a short tag",
            "aes//decrypt",
            with(&good, json!({"tag": b64(&[0; 4])})),
        ),
        (
            "CBC without iv",
            "aes//encrypt",
            json!({"alg": "A256CBC", "value": b64(&[0; 16])}),
        ),
        (
            "CBC of a partial block",
            "aes//encrypt",
            json!({"alg": "A256CBC", "value": b64(&[0; 15]), "iv": b64(&[0; 16])}),
        ),
        (
            "AES size mismatch",
            "aes//encrypt",
            json!({"alg": "A128GCM", "value": b64(b"x")}),
        ),
        (
            "KW of 12 bytes",
            "aes//wrapkey",
            json!({"alg": "A256KW", "value": b64(&[0; 12])}),
        ),
        (
            "unknown alg",
            "aes//encrypt",
            json!({"alg": "A512GCM", "value": b64(b"x")}),
        ),
        ("no alg", "aes//encrypt", json!({"value": b64(b"x")})),
        ("no value", "aes//encrypt", json!({"alg": "A256GCM"})),
        (
            "RSA plaintext too long",
            "rsa//encrypt",
            json!({"alg": "RSA-OAEP", "value": b64(&[1; 215])}),
        ),
        (
            "RSA1_5 plaintext too long",
            "rsa//wrapkey",
            json!({"alg": "RSA1_5", "value": b64(&[1; 246])}),
        ),
        (
            "RSA garbage ciphertext",
            "rsa//decrypt",
            json!({"alg": "RSA-OAEP", "value": b64(&random(256))}),
        ),
        (
            "RSA alg on oct",
            "aes//encrypt",
            json!({"alg": "RSA-OAEP", "value": b64(b"x")}),
        ),
        (
            "AES alg on RSA",
            "rsa//encrypt",
            json!({"alg": "A256GCM", "value": b64(b"x")}),
        ),
        (
            "EC encrypt",
            "ec//encrypt",
            json!({"alg": "RSA-OAEP", "value": b64(b"x")}),
        ),
        (
            "sign with bad base64",
            "rsa//sign",
            json!({"alg": "RS256", "value": "?"}),
        ),
        (
            "sign a short digest",
            "rsa//sign",
            json!({"alg": "RS256", "value": b64(&[0; 31])}),
        ),
        (
            "ES256 digest of 48 bytes",
            "ec//sign",
            json!({"alg": "ES256", "value": b64(&[0; 48])}),
        ),
        (
            "ES384 on P-256",
            "ec//sign",
            json!({"alg": "ES384", "value": b64(&[0; 48])}),
        ),
        (
            "RS256 on EC",
            "ec//sign",
            json!({"alg": "RS256", "value": b64(&[0; 32])}),
        ),
        (
            "unknown signature alg",
            "rsa//sign",
            json!({"alg": "RS1", "value": b64(&[0; 32])}),
        ),
        (
            "sign on oct",
            "aes//sign",
            json!({"alg": "RS256", "value": b64(&[0; 32])}),
        ),
        (
            "verify bad digest base64",
            "rsa//verify",
            json!({"alg": "RS256", "digest": "*", "value": b64(&[0; 256])}),
        ),
        (
            "verify bad signature base64",
            "rsa//verify",
            json!({"alg": "RS256", "digest": b64(&[0; 32]), "value": "*"}),
        ),
        (
            "verify without digest",
            "rsa//verify",
            json!({"alg": "RS256", "value": b64(&[0; 256])}),
        ),
        (
            "verify a short digest",
            "ec//verify",
            json!({"alg": "ES256", "digest": b64(&[0; 20]), "value": b64(&[0; 64])}),
        ),
    ];
    for (what, op, body) in cases {
        let (st, v) = api.post(&format!("/keys/{op}"), body).await;
        let message = bad_parameter(st, &v, what);
        assert!(!message.contains(&b64(&aes)), "{what}: {message}");
    }
    // A malformed JSON body and an empty one.
    for raw in ["{\"alg\": ", ""] {
        let r = api
            .c
            .post(url(&api.s, "/keys/aes//encrypt"))
            .bearer_auth(&api.t)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        bad_parameter(st, &r.json().await.unwrap(), "malformed JSON");
    }
    // Nothing changed: one version each, and the key still decrypts.
    for name in ["aes", "rsa", "ec"] {
        assert_eq!(api.versions(name).await, 1, "{name}");
    }
    let again = api.ok("GET", "/keys/rsa/", None).await;
    assert_eq!(again["attributes"]["updated"], rsa["attributes"]["updated"]);
    assert_eq!(
        api.ok("POST", "/keys/aes//decrypt", Some(good)).await["value"],
        b64(b"data")
    );
}

/// Azure's answer to an operation a key's state forbids: 403 Forbidden with this inner code.
async fn refused(api: &Api, path: &str, body: &Value, inner: &str) {
    let (st, v) = api.post(path, body.clone()).await;
    let (code, got, message) = envelope(st, 403, &v, path);
    assert_eq!(code, "Forbidden", "{path}: {v}");
    assert_eq!(got.as_deref(), Some(inner), "{path}: {message}");
}

#[tokio::test]
async fn key_ops_enabled_and_validity_window_are_enforced() {
    let api = Api::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let digest = json!({"alg": "RS256", "value": b64(&[7; 32])});
    let encrypt = json!({"alg": "RSA-OAEP", "value": b64(b"data")});
    let wrap = json!({"alg": "RSA-OAEP", "value": b64(&[1; 32])});

    // key_ops: only what the key lists.
    api.ok(
        "POST",
        "/keys/signer/create",
        Some(json!({"kty": "RSA", "key_ops": ["sign", "verify"]})),
    )
    .await;
    let sig = api
        .ok("POST", "/keys/signer//sign", Some(digest.clone()))
        .await["value"]
        .clone();
    for (op, body) in [
        ("encrypt", &encrypt),
        ("wrapkey", &wrap),
        ("decrypt", &encrypt),
    ] {
        refused(
            &api,
            &format!("/keys/signer//{op}"),
            body,
            "KeyOperationForbidden",
        )
        .await;
    }
    api.ok(
        "PATCH",
        "/keys/signer/",
        Some(json!({"key_ops": ["encrypt", "decrypt"]})),
    )
    .await;
    refused(&api, "/keys/signer//sign", &digest, "KeyOperationForbidden").await;
    let ct = api
        .ok("POST", "/keys/signer//encrypt", Some(encrypt.clone()))
        .await["value"]
        .clone();
    let decrypt = json!({"alg": "RSA-OAEP", "value": ct});

    // Disabled: the private-key operations are refused, public ones still work (as on live Key
    // Vault); the key is still readable.
    api.ok(
        "PATCH",
        "/keys/signer/",
        Some(json!({"key_ops": ["sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"], "attributes": {"enabled": false}})),
    )
    .await;
    refused(&api, "/keys/signer//decrypt", &decrypt, "KeyDisabled").await;
    refused(&api, "/keys/signer//sign", &digest, "KeyDisabled").await;
    refused(&api, "/keys/signer//unwrapkey", &decrypt, "KeyDisabled").await;
    for (path, body) in [
        ("/keys/signer//encrypt", &encrypt),
        ("/keys/signer//wrapkey", &wrap),
    ] {
        let (status, _) = api.post(path, body.clone()).await;
        assert_eq!(status, 200, "{path} on a disabled RSA key");
    }
    let verify = json!({"alg": "RS256", "digest": b64(&[7; 32]), "value": sig});
    let (status, _) = api.post("/keys/signer//verify", verify.clone()).await;
    assert_eq!(status, 200, "verify on a disabled RSA key");
    let got = api.ok("GET", "/keys/signer/", None).await;
    assert_eq!(got["attributes"]["enabled"], false);

    // Expired: no new protected data (sign, encrypt, wrap); old data stays usable.
    api.ok(
        "PATCH",
        "/keys/signer/",
        Some(json!({"attributes": {"enabled": true, "exp": now - 60}})),
    )
    .await;
    refused(&api, "/keys/signer//sign", &digest, "KeyExpired").await;
    refused(&api, "/keys/signer//encrypt", &encrypt, "KeyExpired").await;
    refused(&api, "/keys/signer//wrapkey", &wrap, "KeyExpired").await;
    assert_eq!(
        api.ok("POST", "/keys/signer//decrypt", Some(decrypt.clone()))
            .await["value"],
        b64(b"data")
    );
    assert_eq!(
        api.ok("POST", "/keys/signer//verify", Some(verify.clone()))
            .await["value"],
        true
    );

    // Not yet valid: the same rules before nbf.
    api.ok(
        "PATCH",
        "/keys/signer/",
        Some(json!({"attributes": {"exp": now + 86_400, "nbf": now + 3_600}})),
    )
    .await;
    refused(&api, "/keys/signer//sign", &digest, "KeyNotYetValid").await;
    refused(&api, "/keys/signer//encrypt", &encrypt, "KeyNotYetValid").await;
    assert_eq!(
        api.ok("POST", "/keys/signer//decrypt", Some(decrypt)).await["value"],
        b64(b"data")
    );
    assert_eq!(
        api.ok("POST", "/keys/signer//verify", Some(verify)).await["value"],
        true
    );

    // Inside the window again, everything works.
    api.ok(
        "PATCH",
        "/keys/signer/",
        Some(json!({"attributes": {"nbf": now - 3_600}})),
    )
    .await;
    api.ok("POST", "/keys/signer//sign", Some(digest)).await;
}

#[tokio::test]
async fn random_bytes_count_is_bounded() {
    let api = Api::start().await;
    for count in [1, 64, 128] {
        let v = api.ok("POST", "/rng", Some(json!({"count": count}))).await;
        let bytes = B64.decode(v["value"].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), count);
    }
    for body in [
        json!({"count": 0}),
        json!({"count": -1}),
        json!({"count": 129}),
        json!({"count": 1_000_000_000_000_i64}),
        json!({"count": "8"}),
        json!({"count": 1.5}),
        json!({}),
    ] {
        let (st, v) = api.post("/rng", body.clone()).await;
        bad_parameter(st, &v, &body.to_string());
    }
}

#[tokio::test]
async fn hsm_key_types_without_a_token_are_refused_clearly() {
    let api = Api::start().await;
    for kty in ["RSA-HSM", "EC-HSM", "oct-HSM"] {
        let (st, v) = api.post("/keys/hsm/create", json!({"kty": kty})).await;
        let message = bad_parameter(st, &v, kty);
        assert!(
            message.contains(kty) && message.contains("PKCS#11"),
            "{message}"
        );
    }
    let (st, v) = api
        .send(
            "PUT",
            "/keys/hsm",
            Some(json!({"Hsm": true, "key": {"kty": "oct", "k": b64(&random(32))}})),
        )
        .await;
    bad_parameter(st, &v, "import with Hsm");
    let (st, v) = api
        .send("PUT", "/keys/hsm", Some(json!({"key": p256_jwk()})))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(api.versions("hsm").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rsa_4096_burst_does_not_stall_secret_gets() {
    const CREATIONS: usize = 6;
    let api = Api::start().await;
    api.ok("PUT", "/secrets/probe", Some(json!({"value": "v"})))
        .await;
    let started = Instant::now();
    let mut burst = Vec::new();
    for i in 0..CREATIONS {
        let (c, t, u) = (
            api.c.clone(),
            api.t.clone(),
            url(&api.s, &format!("/keys/big{i}/create")),
        );
        burst.push(tokio::spawn(async move {
            let r = c
                .post(u)
                .bearer_auth(t)
                .json(&json!({"kty": "RSA", "key_size": 4096}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }));
    }
    // GET the secret over and over while the burst runs; record the slowest answer.
    let mut slowest = Duration::ZERO;
    let mut gets = 0;
    while !burst.iter().all(|h| h.is_finished()) {
        let t0 = Instant::now();
        let v = api.ok("GET", "/secrets/probe/", None).await;
        assert_eq!(v["value"], "v");
        slowest = slowest.max(t0.elapsed());
        gets += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for h in burst {
        h.await.unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{CREATIONS} RSA-4096 creations took {elapsed:?}; {gets} GETs, the slowest {slowest:?}"
    );
    assert!(gets >= 3, "only {gets} GETs ran during a {elapsed:?} burst");
    assert!(
        slowest < Duration::from_secs(1),
        "a GET took {slowest:?} during the RSA-4096 burst"
    );
    assert!(
        slowest * 4 < elapsed,
        "the slowest GET ({slowest:?}) is not well under the burst ({elapsed:?})"
    );
}

#[tokio::test]
async fn a_certificates_managed_key_is_used_but_not_changed_through_keys() {
    let api = Api::start().await;
    let policy = json!({"policy": {
        "issuer": {"name": "Self"},
        "x509_props": {"subject": "CN=managed.example.test", "validity_months": 12},
        "key_props": {"kty": "EC", "crv": "P-256", "exportable": true},
        "secret_props": {"contentType": "application/x-pkcs12"}
    }});
    let (st, v) = api.post("/certificates/managed/create", policy).await;
    assert_eq!(st, 202, "{v}");
    let key = api.ok("GET", "/keys/managed/", None).await;
    assert_eq!(key["managed"], true, "{key}");
    // The key signs like any other; deleting, updating or rotating it goes through the
    // certificate, so each is a 4xx that changes nothing.
    let signed = api
        .ok(
            "POST",
            "/keys/managed//sign",
            Some(json!({"alg": "ES256", "value": b64(&[3; 32])})),
        )
        .await;
    assert_eq!(
        B64.decode(signed["value"].as_str().unwrap()).unwrap().len(),
        64
    );
    let (st, v) = api.send("DELETE", "/keys/managed", None).await;
    bad_parameter(st, &v, "delete a managed key");
    let (st, v) = api
        .send("PATCH", "/keys/managed/", Some(json!({"tags": {"a": "b"}})))
        .await;
    bad_parameter(st, &v, "update a managed key");
    let (st, v) = api.post("/keys/managed/rotate", json!({})).await;
    bad_parameter(st, &v, "rotate a managed key");
    let again = api.ok("GET", "/keys/managed/", None).await;
    assert_eq!(again["key"]["kid"], key["key"]["kid"]);
    assert!(again.get("tags").is_none(), "{again}");
    assert_eq!(api.versions("managed").await, 1);
}
