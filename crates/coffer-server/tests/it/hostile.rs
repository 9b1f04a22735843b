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

/// Odd paths, queries, methods and bodies against every role: never a 5xx, always the server
/// still answering afterwards.
#[tokio::test]
async fn no_input_reaches_a_5xx_on_any_role() {
    let s = Server::start();
    let c = s.client();
    let vault_token = s.token().await;
    let hosts = [
        format!("https://dev.vault.localhost:{}", s.port),
        format!("https://login.localhost:{}", s.port),
        format!("https://management.localhost:{}", s.port),
        format!("https://graph.localhost:{}", s.port),
    ];
    let paths = [
        "/",
        "//",
        "/%",
        "/%zz",
        "/%00",
        "/secrets/%2e%2e",
        "/secrets/a%2Fb",
        "/secrets/\u{e9}",
        "/secrets/a/b/c/d/e",
        "/secrets//",
        "/deletedsecrets/x/recover/extra",
        "/keys/x/create",
        "/x/oauth2/v2.0/token",
        "/common/v2.0/.well-known/openid-configuration",
        "/subscriptions/%zz",
        "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z",
        "/v1.0/applications(appId='",
        "/v1.0/servicePrincipals?$filter=startswith(",
        "/v1.0/users/%ff",
        "/msi/token",
        "/metadata/identity/oauth2/token",
    ];
    let queries = [
        "",
        "?api-version=7.6",
        "?api-version=2024-11-30&$filter=displayName eq '",
        "?maxresults=-1&api-version=7.6",
    ];
    let bodies: [&[u8]; 4] = [
        b"",
        b"{",
        b"\xff\xfe",
        b"{\"value\": {\"nested\": [1,2,3]}, \"tags\": \"x\"}",
    ];
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::POST,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ];
    let mut checked = 0;
    for host in &hosts {
        for path in paths {
            for (i, query) in queries.iter().enumerate() {
                let method = methods[(checked + i) % methods.len()].clone();
                let body = bodies[(checked + i) % bodies.len()];
                let r = c
                    .request(method.clone(), format!("{host}{path}{query}"))
                    .bearer_auth(&vault_token)
                    .header("content-type", "application/json")
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap();
                assert!(
                    r.status().as_u16() < 500,
                    "{method} {host}{path}{query} -> {}",
                    r.status()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 300);
    assert_eq!(
        c.get(format!("{}/healthz", hosts[0]))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
