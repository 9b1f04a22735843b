//! Bad input: every case is a 4xx in Azure's envelope and leaves stored data unchanged.

use serde_json::{Value, json};

use crate::harness::{Server, url};

#[tokio::test]
async fn bad_requests_are_4xx_in_the_envelope_and_change_nothing() {
    let s = Server::start();
    let c = s.client();
    let t = s.token().await;
    c.put(url(&s, "/secrets/keep"))
        .bearer_auth(&t)
        .json(&json!({"value": "original"}))
        .send()
        .await
        .unwrap();
    let big = "x".repeat(25 * 1024 + 1);
    let tags: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("t{i}"), json!("v"))).collect();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.put(url(&s, "/secrets/keep")).body("{not json"),
            400,
            "BadParameter",
        ),
        (
            c.put(url(&s, "/secrets/keep")).body(r#"{"value": 5}"#),
            400,
            "BadParameter",
        ),
        (
            c.put(url(&s, "/secrets/keep")).body(r#"{"tags": {}}"#),
            400,
            "BadParameter",
        ),
        (c.put(url(&s, "/secrets/keep")), 400, "BadParameter"),
        (
            c.put(url(&s, "/secrets/keep")).json(&json!({"value": big})),
            400,
            "BadParameter",
        ),
        (
            c.put(url(&s, "/secrets/keep"))
                .json(&json!({"value": "x", "tags": tags})),
            400,
            "BadParameter",
        ),
        (
            c.put(url(&s, "/secrets/bad_name"))
                .json(&json!({"value": "x"})),
            400,
            "BadParameter",
        ),
        (
            c.put(url(&s, &format!("/secrets/{}", "n".repeat(128))))
                .json(&json!({"value": "x"})),
            400,
            "BadParameter",
        ),
        (
            c.put(format!("{}/secrets/keep", s.vault()))
                .json(&json!({"value": "x"})),
            400,
            "BadParameter",
        ),
        (
            c.put(format!("{}/secrets/keep?api-version=9.9", s.vault()))
                .json(&json!({"value": "x"})),
            400,
            "BadParameter",
        ),
        (
            c.put(url(&s, "/secrets/keep"))
                .body(vec![b' '; 5 * 1024 * 1024]),
            413,
            "RequestBodyTooLarge",
        ),
        (
            c.get(url(&s, "/secrets?maxresults=26")),
            400,
            "BadParameter",
        ),
        (
            c.get(url(&s, "/secrets?maxresults=abc")),
            400,
            "BadParameter",
        ),
        (
            c.get(url(&s, "/secrets?$skiptoken=%%%")),
            400,
            "BadParameter",
        ),
        (
            c.post(url(&s, "/secrets/restore"))
                .json(&json!({"value": "!!!"})),
            400,
            "BadParameter",
        ),
        (c.get(url(&s, "/secrets/nope")), 404, "SecretNotFound"),
        (c.get(url(&s, "/../../etc/passwd")), 404, "NotFound"),
        (c.post(url(&s, "/secrets/keep")), 405, "MethodNotAllowed"),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let r = req
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "case {i}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "case {i}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            !v.to_string().contains(&"x".repeat(100)),
            "errors never echo values"
        );
    }
    let v: Value = c
        .get(url(&s, "/secrets/keep"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"], "original");
    let versions: Value = c
        .get(url(&s, "/secrets/keep/versions"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["value"].as_array().unwrap().len(), 1);
}
