//! Throttling over HTTPS: a server started with a small limits file refuses the transaction past
//! a vault's limit with Key Vault's 429 (`Throttled`, `Retry-After`), serves again after the wait,
//! and shares a subscription's ceiling between its vaults.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Server;

/// A window of 3 s, 4 vault transactions per vault, and a subscription ceiling of 1× that.
pub(crate) const SMALL_LIMITS: &str = r#"
window_seconds = 3
subscription_multiplier = 1
[vault]
all = 4
[keys.rsa-2048]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.rsa-3072]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.rsa-4096]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.ec-p256]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.ec-p384]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.ec-p521]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.ec-secp256k1]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
[keys.oct]
hsm_create = 1
hsm_other = 2
software_create = 2
software_other = 4
"#;

fn start_small() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("limits.toml");
    std::fs::write(&file, SMALL_LIMITS).unwrap();
    let s = Server::start_with(&["--limits", file.to_str().unwrap()]);
    (s, dir)
}

fn client(s: &Server, vaults: &[&str]) -> reqwest::Client {
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.port));
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false)
        .resolve("login.localhost", addr)
        .resolve("management.localhost", addr);
    for v in vaults {
        b = b.resolve(&format!("{v}.vault.localhost"), addr);
    }
    b.build().unwrap()
}

/// Sets a secret in `vault`; status, `Retry-After` and body.
async fn set(s: &Server, c: &reqwest::Client, tok: &str, vault: &str) -> (u16, Option<u64>, Value) {
    let r = c
        .put(format!(
            "https://{vault}.vault.localhost:{}/secrets/t?api-version=7.6",
            s.port
        ))
        .bearer_auth(tok)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

/// Sets secrets until the first refusal (bounded: at most two windows' worth get through).
async fn until_throttled(s: &Server, c: &reqwest::Client, tok: &str, vault: &str) -> (u64, Value) {
    for _ in 0..12 {
        let (status, retry, body) = set(s, c, tok, vault).await;
        if status == 429 {
            return (retry.expect("a 429 has Retry-After"), body);
        }
        assert_eq!(status, 200, "{body}");
    }
    panic!("never throttled");
}

#[tokio::test]
async fn past_the_limit_a_vault_answers_429_with_retry_after_then_serves_again() {
    let (s, _limits) = start_small();
    let c = client(&s, &["dev"]);
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    let (retry, body) = until_throttled(&s, &c, &tok, "dev").await;
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    assert_eq!(body["error"]["code"], "Throttled", "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("'dev'"), "{msg}");
    assert!(
        msg.contains("secrets, managed storage and vault transactions: 4 per 3 s per vault"),
        "{msg}"
    );
    // Refused requests do not count: after the wait the vault serves again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (status, _, body) = set(&s, &c, &tok, "dev").await;
    assert_eq!(status, 200, "{body}");
    // An unauthenticated request is refused before throttling is consulted (401, not 429).
    let r = c
        .get(format!(
            "https://dev.vault.localhost:{}/secrets/t?api-version=7.6",
            s.port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_subscription_ceiling_spans_its_vaults() {
    let (s, _limits) = start_small();
    let c = client(&s, &["dev", "second"]);
    let arm = s
        .token_for(&c, &format!("{}/", s.b("management_url")))
        .await;
    let path = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/second?api-version=2026-02-01",
        s.b("management_url"),
        s.b("subscription_id"),
        s.b("resource_group")
    );
    let r = c
        .put(path)
        .bearer_auth(&arm)
        .json(&json!({
            "location": "local",
            "properties": {
                "tenantId": s.b("tenant_id"),
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [{
                    "tenantId": s.b("tenant_id"),
                    "objectId": s.b("object_id"),
                    "permissions": {"secrets": ["get", "set"]},
                }],
            },
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    // Spend the subscription's budget through `dev`; `second`, which has used none of its own
    // budget, is refused by the subscription's ceiling in the same window. A window that ends
    // between the two requests lets `second` through, so try a few windows.
    for _ in 0..5 {
        let _ = until_throttled(&s, &c, &tok, "dev").await;
        let (status, retry, body) = set(&s, &c, &tok, "second").await;
        if status == 200 {
            continue;
        }
        assert_eq!(status, 429, "{body}");
        assert!(retry.is_some());
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("'second'"), "{msg}");
        assert!(msg.contains("per subscription"), "{msg}");
        return;
    }
    panic!("the subscription ceiling never refused the second vault");
}

#[tokio::test]
async fn a_vaults_lowered_limit_is_a_test_helper_that_marks_its_answers() {
    let s = Server::start();
    let c = client(&s, &["dev"]);
    let arm = s
        .token_for(&c, &format!("{}/", s.b("management_url")))
        .await;
    let settings = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/dev/providers/Coffer.Testing/settings/default?api-version=2026-02-01",
        s.b("management_url"),
        s.b("subscription_id"),
        s.b("resource_group")
    );
    let put = |body: Value| c.put(&settings).bearer_auth(&arm).json(&body).send();
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    // Off by default: Key Vault's own limits, no test-mode mark.
    let r = c
        .put(format!(
            "https://dev.vault.localhost:{}/secrets/t?api-version=7.6",
            s.port
        ))
        .bearer_auth(&tok)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-coffer-test-mode").is_none());

    let r = put(json!({"properties": {"throttleLimit": 2}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["properties"]["throttleLimit"], 2, "{v}");
    assert_eq!(v["type"], "Coffer.Testing/settings");
    let r = c.get(&settings).bearer_auth(&arm).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["properties"]["throttleLimit"],
        2
    );

    let (retry, body) = until_throttled(&s, &c, &tok, "dev").await;
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(": 2 per 10 s per vault"), "{msg}");
    let r = c
        .get(format!(
            "https://dev.vault.localhost:{}/secrets/t?api-version=7.6",
            s.port
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-coffer-test-mode"], "true");

    // Bad input is a 400 and changes nothing; an empty body switches the helpers off.
    let r = put(json!({"properties": {"throttleLimit": -1}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    let r = put(json!({"properties": {}})).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!(
            "https://dev.vault.localhost:{}/secrets/t?api-version=7.6",
            s.port
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-coffer-test-mode").is_none());
}

#[tokio::test]
async fn coffer_vault_test_mode_lowers_the_limit_and_vault_show_says_so() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let run = |args: &[&str]| -> Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg("vault")
            .args(args)
            .args(["--data-dir", &dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "coffer vault {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = run(&["show", "--name", "dev"]);
    assert!(v.get("testMode").is_none(), "{v}");
    let v = run(&["test-mode", "--name", "dev", "--throttle-limit", "1"]);
    assert_eq!(v["throttleLimit"], 1, "{v}");
    let v = run(&["show", "--name", "dev"]);
    assert_eq!(v["testMode"]["throttleLimit"], 1, "{v}");
    let c = client(&s, &["dev"]);
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    let (retry, _) = until_throttled(&s, &c, &tok, "dev").await;
    assert!(retry >= 1);
    let v = run(&["test-mode", "--name", "dev", "--off"]);
    assert!(v["throttleLimit"].is_null(), "{v}");
    let v = run(&["show", "--name", "dev"]);
    assert!(v.get("testMode").is_none(), "{v}");
}

#[tokio::test]
async fn injected_faults_answer_429_or_503_for_a_count_a_share_or_one_operation() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["vault", "test-mode", "--name", "dev"])
            .args(args)
            .args(["--data-dir", &dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let c = client(&s, &["dev"]);
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    let get = || {
        c.get(format!(
            "https://dev.vault.localhost:{}/secrets/t?api-version=7.6",
            s.port
        ))
        .bearer_auth(&tok)
        .send()
    };
    assert_eq!(set(&s, &c, &tok, "dev").await.0, 200);

    // The next two requests get a 429, then the vault serves again.
    let v = cli(&["--fault", "429", "--fault-count", "2"]);
    assert_eq!(v["fault"]["status"], 429, "{v}");
    for _ in 0..2 {
        let (status, retry, body) = set(&s, &c, &tok, "dev").await;
        assert_eq!((status, retry), (429, Some(1)), "{body}");
        assert_eq!(body["error"]["code"], "Throttled");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("injected")
        );
    }
    assert_eq!(set(&s, &c, &tok, "dev").await.0, 200);

    // 503 for half of the SecretGet requests only; a lowered limit set before stays.
    cli(&["--throttle-limit", "1000"]);
    let v = cli(&[
        "--fault",
        "503",
        "--fault-percent",
        "50",
        "--fault-operation",
        "secretget",
    ]);
    assert_eq!(v["fault"]["operation"], "SecretGet", "{v}");
    assert_eq!(v["throttleLimit"], 1000, "{v}");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = get().await.unwrap();
        if r.status() == 503 {
            assert_eq!(r.headers()["retry-after"], "1");
            assert_eq!(r.headers()["x-coffer-test-mode"], "true");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 503, 200, 503]);
    assert_eq!(
        set(&s, &c, &tok, "dev").await.0,
        200,
        "other operations pass"
    );

    // Bad faults are refused and change nothing.
    let arm = s
        .token_for(&c, &format!("{}/", s.b("management_url")))
        .await;
    let r = c
        .put(format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/dev/providers/Coffer.Testing/settings/default?api-version=2026-02-01",
            s.b("management_url"),
            s.b("subscription_id"),
            s.b("resource_group")
        ))
        .bearer_auth(&arm)
        .json(&json!({"properties": {"fault": {"status": 500}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    cli(&["--off"]);
    assert_eq!(get().await.unwrap().status(), 200);
    assert_eq!(get().await.unwrap().status(), 200);
}

#[tokio::test]
async fn coffer_doctor_on_a_throttled_request_names_the_limit_and_the_fixes() {
    let (s, _limits) = start_small();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let coffer = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .args(["--data-dir", &dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    coffer(&["vault", "diagnostics", "set", "--name", "dev"]);
    let c = client(&s, &["dev"]);
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    let mut id = None;
    for _ in 0..12 {
        let r = c
            .put(format!(
                "https://dev.vault.localhost:{}/secrets/t?api-version=7.6",
                s.port
            ))
            .bearer_auth(&tok)
            .json(&json!({"value": "v"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            id = Some(r.headers()["x-ms-request-id"].to_str().unwrap().to_owned());
            break;
        }
    }
    let id = id.expect("throttled");
    // The audit writer appends in batches every 100 ms.
    let mut out = String::new();
    for _ in 0..50 {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["doctor", &id, "--vault", "dev", "--data-dir", &dir])
            .output()
            .unwrap();
        out = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() && out.contains("throttle.limit") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{out}");
    assert!(out.contains("[throttle.limit]"), "{out}");
    assert!(out.contains("4 per 3 s per vault"), "{out}");
    assert!(out.contains("Retry-After"), "{out}");
}

#[tokio::test]
async fn the_vault_clock_moves_exp_checks_and_scheduled_purges_forward() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let clock = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["vault", "clock", "--vault", "dev"])
            .args(args)
            .args(["--data-dir", &dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let c = client(&s, &["dev"]);
    let tok = s.token_for(&c, &s.b("vault_resource")).await;
    let vault = format!("https://dev.vault.localhost:{}", s.port);
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = c
            .request(method, format!("{vault}{path}?api-version=7.6"))
            .bearer_auth(&tok);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = call(
        reqwest::Method::POST,
        "/keys/short-lived/create",
        Some(json!({"kty": "RSA", "key_size": 2048, "attributes": {"exp": now + 86_400}})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let encrypt = || {
        call(
            reqwest::Method::POST,
            "/keys/short-lived//encrypt",
            Some(json!({"alg": "RSA-OAEP", "value": "aGVsbG8"})),
        )
    };
    assert_eq!(encrypt().await.unwrap().status(), 200);

    // A deleted secret, scheduled for purge in 90 days.
    assert_eq!(set(&s, &c, &tok, "dev").await.0, 200);
    let r = call(reqwest::Method::DELETE, "/secrets/t", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deleted = || call(reqwest::Method::GET, "/deletedsecrets/t", None);
    assert_eq!(deleted().await.unwrap().status(), 200);

    let v = clock(&["--advance", "2d"]);
    assert_eq!(v["clockOffsetSeconds"], 2 * 86_400, "{v}");
    let r = encrypt().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-coffer-test-mode"], "true");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["innererror"]["code"], "KeyExpired", "{body}");
    assert_eq!(deleted().await.unwrap().status(), 200, "not due yet");

    let v = clock(&["--advance", "89d"]);
    assert_eq!(v["clockOffsetSeconds"], 91 * 86_400, "{v}");
    assert_eq!(deleted().await.unwrap().status(), 404, "purged on schedule");

    let v = clock(&["--reset"]);
    assert!(v["clockOffsetSeconds"].is_null(), "{v}");
    assert_eq!(encrypt().await.unwrap().status(), 200);
}
