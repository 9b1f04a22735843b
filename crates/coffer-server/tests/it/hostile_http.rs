//! Strict HTTP and JSON: every refusal a client can see, including those made below the router,
//! is a 4xx in Azure's envelope, and none of them changes what is stored.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::harness::{Server, url};
use crate::raw::{connect, exchange, read_for, status_and_json};

const WAIT: Duration = Duration::from_secs(10);

async fn secret_value(s: &Server, t: &str, name: &str) -> Value {
    let r = s
        .client()
        .get(url(s, &format!("/secrets/{name}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    v["value"].clone()
}

#[tokio::test]
async fn malformed_http_is_refused_in_the_envelope() {
    let s = Server::start();
    let t = s.token().await;
    let c = s.client();
    c.put(url(&s, "/secrets/keep"))
        .bearer_auth(&t)
        .json(&json!({"value": "original"}))
        .send()
        .await
        .unwrap();
    let host = format!("dev.vault.localhost:{}", s.port);
    let put = |headers: &str, body: &str| {
        format!(
            "PUT /secrets/keep?api-version=7.6 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\n{headers}\r\n{body}"
        )
    };
    let get = |headers: &str| {
        format!(
            "GET /secrets/keep?api-version=7.6 HTTP/1.1\r\nAuthorization: Bearer {t}\r\n{headers}\r\n"
        )
    };
    let pad = |n: usize| "a".repeat(n);
    let many = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "two Host headers",
            get(&format!("Host: {host}\r\nHost: {host}\r\n")),
            400,
            "BadRequest",
        ),
        (
            "a Host with a path",
            get(&format!("Host: {host}/x\r\n")),
            400,
            "BadRequest",
        ),
        (
            "a port above 65535",
            get("Host: dev.vault.localhost:70000\r\n"),
            400,
            "BadRequest",
        ),
        ("no Host", get(""), 400, "BadRequest"),
        (
            "Transfer-Encoding other than chunked",
            put(
                "Transfer-Encoding: gzip, chunked\r\n",
                "14\r\n{\"value\":\"gzipped\"}\r\n0\r\n\r\n",
            ),
            400,
            "BadRequest",
        ),
        (
            "an unsupported Expect",
            put("Expect: 200-ok\r\nContent-Length: 2\r\n", "{}"),
            417,
            "ExpectationFailed",
        ),
        (
            "a malformed chunked body",
            put("Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n"),
            400,
            "BadParameter",
        ),
        (
            "conflicting Content-Length",
            put("Content-Length: 5\r\nContent-Length: 6\r\n", "{}"),
            400,
            "BadRequest",
        ),
        (
            "a NUL in a header",
            get(&format!("Host: {host}\r\nX-A: a\0b\r\n")),
            400,
            "BadRequest",
        ),
        (
            "obsolete line folding",
            get(&format!("Host: {host}\r\nX-A: a\r\n b\r\n")),
            400,
            "BadRequest",
        ),
        (
            "a 100 KiB header (the edge's limit)",
            get(&format!("Host: {host}\r\nX-Pad: {}\r\n", pad(100 * 1024))),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "a 300 KiB header (hyper's limit)",
            get(&format!("Host: {host}\r\nX-Pad: {}\r\n", pad(300 * 1024))),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "150 headers (the edge's limit)",
            get(&format!("Host: {host}\r\n{}", many(150))),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "500 headers (hyper's limit)",
            get(&format!("Host: {host}\r\n{}", many(500))),
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (
            "a 9 KiB URI (the edge's limit)",
            format!(
                "GET /secrets/{}?api-version=7.6 HTTP/1.1\r\nHost: {host}\r\n\r\n",
                pad(9 * 1024)
            ),
            414,
            "RequestUriTooLong",
        ),
        (
            "a 70 KiB URI (hyper's limit)",
            format!(
                "GET /secrets/{}?api-version=7.6 HTTP/1.1\r\nHost: {host}\r\n\r\n",
                pad(70 * 1024)
            ),
            414,
            "RequestUriTooLong",
        ),
    ];
    for (what, request, status, code) in cases {
        let answer = exchange(&s, request.as_bytes(), WAIT).await;
        let (got, v) = status_and_json(&answer);
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(!answer.contains("/x/secrets"), "{what}: host reflected");
    }

    // Two Authorization headers: a 401 that says so, with the challenge.
    let answer = exchange(
        &s,
        format!(
            "GET /secrets/keep?api-version=7.6 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {t}\r\nAuthorization: Bearer {t}\r\n\r\n"
        )
        .as_bytes(),
        WAIT,
    )
    .await;
    let (status, v) = status_and_json(&answer);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(
        v["error"]["innererror"]["code"],
        "DuplicateAuthorizationHeader"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    );

    // A declared body over the limit is refused before any of it is sent.
    let mut conn = connect(&s).await;
    conn.write_all(put("Content-Length: 5000000\r\n", "").as_bytes())
        .await
        .unwrap();
    let answer = read_for(&mut conn, WAIT).await;
    let (status, v) = status_and_json(&answer);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(v["error"]["code"], "RequestBodyTooLarge");

    assert_eq!(secret_value(&s, &t, "keep").await, "original");
}

#[tokio::test]
async fn http2_refusals_reach_the_envelope_too() {
    let s = Server::start();
    let t = s.token().await;
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false)
        .http2_prior_knowledge()
        .resolve(
            "dev.vault.localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], s.port)),
        )
        .build()
        .unwrap();
    // A declared body over the limit: the 413, not a stream error.
    let r = c
        .put(url(&s, "/secrets/keep"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(vec![b' '; 5 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "RequestBodyTooLarge");
    // A header block up to the limit reaches the token validator (a 50 KiB token: 401).
    let r = c
        .get(url(&s, "/secrets"))
        .bearer_auth("a".repeat(50 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["innererror"]["code"], "MalformedToken");
    // Beyond it: 431 in the envelope.
    let r = c
        .get(url(&s, "/secrets"))
        .bearer_auth(&t)
        .header("x-pad", "a".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "RequestHeaderFieldsTooLarge");
    // And an ordinary request on the same client still works.
    let r = c
        .get(url(&s, "/secrets"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn json_bodies_must_be_objects_of_valid_utf8_and_bounded_depth() {
    let s = Server::start();
    let t = s.token().await;
    let c = s.client();
    c.put(url(&s, "/secrets/keep"))
        .bearer_auth(&t)
        .json(&json!({"value": "original"}))
        .send()
        .await
        .unwrap();
    let mut bad_utf8 = br#"{"value":"changed","ignored":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    bad_utf8.extend_from_slice(br#""}"#);
    let deep = format!(
        r#"{{"value":"changed","tags":{}1{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let cases: Vec<(&str, reqwest::Method, String, Vec<u8>)> = vec![
        (
            "an array as a PUT body",
            reqwest::Method::PUT,
            "/secrets/keep".into(),
            br#"["from-array"]"#.to_vec(),
        ),
        (
            "an array as a PATCH body",
            reqwest::Method::PATCH,
            "/secrets/keep/".into(),
            b"[]".to_vec(),
        ),
        (
            "a string as a body",
            reqwest::Method::PUT,
            "/secrets/keep".into(),
            br#""changed""#.to_vec(),
        ),
        (
            "an array where an object belongs",
            reqwest::Method::PUT,
            "/secrets/keep".into(),
            br#"{"value":"changed","attributes":[false]}"#.to_vec(),
        ),
        (
            "invalid UTF-8 in an ignored field",
            reqwest::Method::PUT,
            "/secrets/keep".into(),
            bad_utf8,
        ),
        (
            "nesting 40 deep",
            reqwest::Method::PUT,
            "/secrets/keep".into(),
            deep.into_bytes(),
        ),
    ];
    for (what, method, path, body) in cases {
        let r = c
            .request(method, url(&s, &path))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "BadParameter", "{what}: {v}");
    }
    assert_eq!(secret_value(&s, &t, "keep").await, "original");
    // ARM bodies are held to the same rules.
    let m = format!(
        "{}/subscriptions/{}/resourcegroups/{}?api-version=2021-04-01",
        s.b("management_url"),
        s.b("subscription_id"),
        "strict-rg"
    );
    let arm_token = management_token(&s).await;
    let r = c
        .put(&m)
        .bearer_auth(&arm_token)
        .header("content-type", "application/json")
        .body(r#"["westeurope"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "InvalidRequestContent", "{v}");
}

async fn management_token(s: &Server) -> String {
    let resp = s
        .client()
        .post(format!(
            "{}/{}/oauth2/token",
            s.b("authority"),
            s.b("tenant_id")
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.b("client_id")),
            ("client_secret", &s.b("client_secret")),
            ("resource", &format!("{}/", s.b("management_url"))),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}
