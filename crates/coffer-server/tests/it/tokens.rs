//! The token issuer and the vault's 401 answers, driven over HTTPS.

use serde_json::Value;

use crate::harness::{Server, url};

#[tokio::test]
async fn challenge_discovery_and_token_round_trip() {
    let s = Server::start();
    let c = s.client();
    // No token: 401 with the challenge the SDKs parse, before any other validation.
    let r = c.put(url(&s, "/secrets/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"{}\"",
            s.b("authority"),
            s.b("tenant_id"),
            s.b("vault_resource")
        )
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("AKV10000")
    );

    // Discovery as MSAL fetches it: issuer on the authority's scheme, host and port.
    let d: Value = c
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            s.b("authority"),
            s.b("tenant_id")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["issuer"].as_str().unwrap().starts_with(&s.b("authority")));
    assert!(
        d["token_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/oauth2/v2.0/token")
    );
    let jwks: Value = c
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");

    // v1 endpoint with `resource`, as in the seed document.
    let r = c
        .post(format!(
            "{}/{}/oauth2/token",
            s.b("authority"),
            s.b("tenant_id")
        ))
        .form(&[
            ("resource", s.b("vault_resource").as_str()),
            ("client_id", &s.b("client_id")),
            ("client_secret", &s.b("client_secret")),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert!(t["expires_in"].is_i64());
    let token = t["access_token"].as_str().unwrap();
    let r = c
        .get(url(&s, "/secrets"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The same bearer for the unknown vault host: 404 naming the problem.
    let r = c
        .get(format!(
            "https://nosuch.vault.localhost:{}/secrets?api-version=7.6",
            s.port
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuch")
    );
}

/// Endpoint, form, expected status, OAuth2 error and AADSTS number.
type Case<'a> = (String, Vec<(&'a str, String)>, u16, &'a str, u64);

#[tokio::test]
async fn token_endpoint_errors_are_aadsts_shaped() {
    let s = Server::start();
    let c = s.client();
    let ep = |tenant: &str| format!("{}/{tenant}/oauth2/v2.0/token", s.b("authority"));
    let scope = format!("{}/.default", s.b("vault_resource"));
    let cases: Vec<Case<'_>> = vec![
        (
            ep(&s.b("tenant_id")),
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", s.b("client_id")),
                ("client_secret", "wrong".into()),
                ("scope", scope.clone()),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            ep("00000000-0000-0000-0000-000000000000"),
            vec![("grant_type", "client_credentials".into())],
            400,
            "invalid_request",
            90002,
        ),
        (
            ep(&s.b("tenant_id")),
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", "11111111-1111-1111-1111-111111111111".into()),
                ("client_secret", "x".into()),
                ("scope", scope.clone()),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            ep(&s.b("tenant_id")),
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", s.b("client_id")),
                ("client_secret", s.b("client_secret")),
                ("scope", "https://graph.example/.default".into()),
            ],
            400,
            "invalid_resource",
            500011,
        ),
        (
            ep(&s.b("tenant_id")),
            vec![(
                "grant_type",
                "urn:ietf:params:oauth:grant-type:saml1_1-bearer".into(),
            )],
            400,
            "unsupported_grant_type",
            70003,
        ),
        (
            ep(&s.b("tenant_id")),
            vec![("grant_type", "client_credentials".into())],
            400,
            "invalid_request",
            900144,
        ),
        (
            ep(&s.b("tenant_id")),
            vec![("grant_type", "authorization_code".into())],
            400,
            "invalid_request",
            900144,
        ),
    ];
    for (endpoint, form, status, error, code) in cases {
        let r = c.post(&endpoint).form(&form).send().await.unwrap();
        assert_eq!(r.status(), status, "{error}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], error);
        assert_eq!(v["error_codes"][0], code);
        for k in [
            "error_description",
            "timestamp",
            "trace_id",
            "correlation_id",
        ] {
            assert!(v[k].is_string(), "{k} missing for {error}");
        }
        assert!(!v.to_string().contains(&s.b("client_secret")));
    }
}

#[tokio::test]
async fn hostile_tokens_get_401_with_the_failed_check() {
    let s = Server::start();
    let c = s.client();
    let good = s.token().await;
    let parts: Vec<&str> = good.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_header = b64.encode(br#"{"typ":"JWT","alg":"none"}"#);
    let mut tampered_claims: Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    tampered_claims["oid"] = "00000000-0000-0000-0000-000000000000".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(tampered_claims.to_string()),
        parts[2]
    );
    let cases = [
        ("Basic abc".to_owned(), "scheme must be Bearer"),
        ("Bearer not-a-jwt".to_owned(), "Malformed token"),
        (format!("Bearer {none_header}.{}.", parts[1]), "only RS256"),
        (format!("Bearer {tampered}"), "signature"),
        (format!("Bearer {}", "a".repeat(20000)), "Malformed token"),
    ];
    for (auth, expect) in cases {
        let r = c
            .get(url(&s, "/secrets"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{expect}");
        assert!(r.headers().contains_key("www-authenticate"));
        let v: Value = r.json().await.unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(expect), "{msg} should mention {expect}");
    }
}
