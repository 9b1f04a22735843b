//! The audit log over HTTPS: turned on by a diagnostic setting, one record per request (success,
//! 401, firewall and policy 403s) with the fields Key Vault's AuditEvent has, readable after a
//! restart, silent when the setting is gone, never holding a secret value; `/readyz` and
//! `--audit-fail-closed` while records cannot be written.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::firewall::{Kit, access_denied, assert_forbidden, client_from, firewall_denied};

const CANARY: &str = "canary-7f3c9e1d-never-in-the-log";

/// What `az monitor diagnostic-settings create --logs '[{"category":"AuditEvent",...}]'` sends.
fn az_setting() -> Value {
    json!({"properties": {
        "workspaceId": "/subscriptions/s/resourceGroups/logs/providers/Microsoft.OperationalInsights/workspaces/w",
        "logs": [{"category": "AuditEvent", "enabled": true, "retentionPolicy": {"enabled": false, "days": 0}}],
        "metrics": [],
    }})
}

impl Kit {
    fn diag_path(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            self.vault_path()
        )
    }

    async fn events(&self, query: &str) -> Vec<Value> {
        let (st, v) = self
            .arm(
                reqwest::Method::GET,
                &format!(
                    "{}/providers/Coffer.Diagnostics/auditEvents?top=1000{query}",
                    self.vault_path()
                ),
                None,
            )
            .await;
        assert_eq!(st, 200, "{v}");
        v["value"].as_array().unwrap().clone()
    }

    /// Waits until the log holds at least `n` records (the writer batches every 100 ms).
    async fn events_at_least(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.events("").await;
            if e.len() >= n || Instant::now() > deadline {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn vault_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut rb = self
            .c
            .request(
                method,
                format!("{}{path}{sep}api-version=7.6", self.s.vault()),
            )
            .header("x-ms-client-request-id", "corr-audit-1")
            .header("user-agent", "coffer-audit-test/1.0");
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let id = r.headers()["x-ms-request-id"].to_str().unwrap().to_owned();
        (st, id, r.json().await.unwrap_or(Value::Null))
    }
}

fn by_request<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["properties"]["requestId"] == id)
        .unwrap_or_else(|| panic!("no record of request {id}"))
}

#[tokio::test]
async fn every_request_is_audited_once_a_diagnostic_setting_enables_it() {
    let mut k = Kit::start(&[]).await;
    let admin = k.admin().await;
    let tok = Some(admin.token.as_str());
    use reqwest::Method as M;

    // Off by default: requests leave no record.
    let (st, _, _) = k
        .vault_call(M::PUT, "/secrets/before", tok, Some(json!({"value": "x"})))
        .await;
    assert_eq!(st, 200);

    let (st, v) = k.arm(M::GET, &k.diag_path("to-audit"), None).await;
    assert_eq!(st, 404, "{v}");
    let (st, v) = k
        .arm(M::PUT, &k.diag_path("to-audit"), Some(az_setting()))
        .await;
    assert_eq!(st, 200, "Azure answers 200, created or not: {v}");
    assert_eq!(v["name"], "to-audit");
    assert_eq!(v["type"], "Microsoft.Insights/diagnosticSettings");
    assert_eq!(v["properties"]["logs"][0]["category"], "AuditEvent");
    assert!(
        v["properties"]["workspaceId"]
            .as_str()
            .unwrap()
            .ends_with("/workspaces/w"),
        "{v}"
    );
    let (st, v) = k
        .arm(M::PUT, &k.diag_path("to-audit"), Some(az_setting()))
        .await;
    assert_eq!(st, 200, "a replacement: {v}");
    let (st, v) = k
        .arm(
            M::GET,
            &format!(
                "{}/providers/Microsoft.Insights/diagnosticSettings",
                k.vault_path()
            ),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    let (st, v) = k
        .arm(
            M::PUT,
            &k.diag_path("bad"),
            Some(json!({"properties": {"logs": [{"category": "Everything", "enabled": true}]}})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(k.events("").await.is_empty(), "nothing was logged before");

    // A success, a 401, a policy 403 and a firewall 403.
    let (st, ok_id, _) = k.vault_call(M::GET, "/secrets/before", tok, None).await;
    assert_eq!(st, 200);
    let (st, unauth_id, _) = k.vault_call(M::GET, "/secrets/before", None, None).await;
    assert_eq!(st, 401);
    let stranger = k.new_app("stranger").await;
    let (st, policy_id, v) = k
        .vault_call(M::GET, "/secrets/before", Some(&stranger.token), None)
        .await;
    assert_forbidden(st, &v, "AccessDenied", &access_denied(&stranger, "get"));
    k.patch_vault(json!({"networkAcls": {"defaultAction": "Deny", "bypass": "None", "ipRules": [{"value": "203.0.113.7"}]}}))
        .await;
    let (st, fw_id, v) = k.vault_call(M::GET, "/secrets/before", tok, None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&admin, "127.0.0.1"),
    );
    k.patch_vault(json!({"networkAcls": {"defaultAction": "Allow", "bypass": "AzureServices", "ipRules": []}}))
        .await;

    let events = k.events_at_least(4).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let ok = by_request(&events, &ok_id);
    assert_eq!(ok["operationName"], "SecretGet");
    assert_eq!(ok["category"], "AuditEvent");
    assert_eq!(ok["resultType"], "Success");
    assert_eq!(ok["resultSignature"], "OK");
    assert_eq!(ok["operationVersion"], "7.6");
    assert_eq!(ok["callerIpAddress"], "127.0.0.1");
    assert_eq!(ok["correlationId"], "corr-audit-1");
    assert_eq!(ok["identity"]["claim"]["oid"], admin.oid.as_str());
    assert_eq!(ok["identity"]["claim"]["appid"], admin.app_id.as_str());
    assert!(
        ok["resourceId"]
            .as_str()
            .unwrap()
            .ends_with("/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/DEV"),
        "{ok}"
    );
    let p = &ok["properties"];
    assert_eq!(p["httpStatusCode"], 200);
    assert_eq!(p["isAccessPolicyMatch"], true);
    assert_eq!(p["isAddressAuthorized"], true);
    assert_eq!(p["firewall"]["decidedBy"], "defaultAction");
    assert_eq!(p["clientInfo"], "coffer-audit-test/1.0");
    assert_eq!(p["tlsVersion"], "TLS1_3");
    assert!(
        p["id"].as_str().unwrap().ends_with("/secrets/before"),
        "{p}"
    );
    assert!(
        p["requestUri"]
            .as_str()
            .unwrap()
            .ends_with("/secrets/before?api-version=7.6")
    );

    let unauth = by_request(&events, &unauth_id);
    assert_eq!(unauth["operationName"], "Authentication");
    assert_eq!(unauth["resultSignature"], "Unauthorized");
    assert_eq!(unauth["properties"]["httpStatusCode"], 401);
    assert_eq!(unauth["properties"]["denyReason"]["check"], "token");
    assert!(unauth.get("identity").is_none(), "{unauth}");
    assert!(unauth["properties"].get("firewall").is_none(), "{unauth}");

    let policy = by_request(&events, &policy_id);
    assert_eq!(policy["resultSignature"], "Forbidden");
    assert_eq!(policy["properties"]["isAccessPolicyMatch"], false);
    assert_eq!(policy["properties"]["denyReason"]["check"], "accessPolicy");
    assert_eq!(policy["properties"]["denyReason"]["id"], "NoAccessPolicy");
    assert_eq!(policy["identity"]["claim"]["oid"], stranger.oid.as_str());
    assert_eq!(policy["resultDescription"], access_denied(&stranger, "get"));

    let fw = by_request(&events, &fw_id);
    assert_eq!(fw["properties"]["httpStatusCode"], 403);
    assert_eq!(fw["properties"]["isAddressAuthorized"], false);
    assert_eq!(fw["properties"]["firewall"]["result"], "Deny");
    assert_eq!(fw["properties"]["firewall"]["decidedBy"], "defaultAction");
    assert_eq!(fw["properties"]["denyReason"]["check"], "firewall");
    assert!(
        fw["properties"].get("isAccessPolicyMatch").is_none(),
        "{fw}"
    );

    // Filters.
    assert_eq!(k.events("&status=403").await.len(), 2);
    assert_eq!(k.events(&format!("&requestId={fw_id}")).await.len(), 1);
    assert_eq!(k.events("&operation=Authentication").await.len(), 1);
    assert_eq!(
        k.events(&format!("&caller={}", stranger.oid)).await.len(),
        1
    );
    let first = events[0]["sequence"].as_u64().unwrap();
    assert_eq!(k.events(&format!("&after={first}")).await.len(), 3);
    assert_eq!(k.events("&since=1h").await.len(), 4);
    let newest = k.events("&order=newest&top=1").await;
    assert_eq!(newest[0]["sequence"], events[3]["sequence"]);

    // A canary value travels set → get → backup → delete → purge → restore, and is in no record.
    let (st, _, _) = k
        .vault_call(
            M::PUT,
            "/secrets/canary",
            tok,
            Some(json!({"value": CANARY})),
        )
        .await;
    assert_eq!(st, 200);
    let (_, _, v) = k.vault_call(M::GET, "/secrets/canary", tok, None).await;
    assert_eq!(v["value"], CANARY);
    let (st, _, backup) = k
        .vault_call(M::POST, "/secrets/canary/backup", tok, None)
        .await;
    assert_eq!(st, 200);
    let (st, _, _) = k.vault_call(M::DELETE, "/secrets/canary", tok, None).await;
    assert_eq!(st, 200);
    let (st, _, _) = k
        .vault_call(M::DELETE, "/deletedsecrets/canary", tok, None)
        .await;
    assert_eq!(st, 204);
    let (st, _, v) = k
        .vault_call(
            M::POST,
            "/secrets/restore",
            tok,
            Some(json!({"value": backup["value"]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let all = k.events_at_least(10).await;
    assert_eq!(all.len(), 10, "six more records");
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(CANARY), "the canary is in the log");
    assert!(
        !text.contains(backup["value"].as_str().unwrap()),
        "the backup blob is in the log"
    );
    assert!(!text.contains(&admin.token), "a token is in the log");

    // Durable: after a restart the records are still there, in order.
    let dir = k.s.data_dir().to_path_buf();
    k.s.restart(&[]);
    k.c = client_from(&k.s, "127.0.0.1");
    for f in ["audit.db", "audit.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(f)) {
            assert!(
                !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
                "the canary is in {f}"
            );
        }
    }
    let again = k.events("").await;
    assert_eq!(again.len(), 10);
    assert_eq!(again, all, "the same records after a restart");

    // Without the setting, requests are not logged any more.
    let (st, _) = k.arm(M::DELETE, &k.diag_path("to-audit"), None).await;
    assert_eq!(st, 200);
    let (st, _) = k.arm(M::DELETE, &k.diag_path("to-audit"), None).await;
    assert_eq!(st, 204, "already gone");
    let (st, _, _) = k.vault_call(M::GET, "/secrets/before", tok, None).await;
    assert_eq!(st, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(k.events("").await.len(), 10);
}

#[tokio::test]
async fn fail_closed_answers_503_while_records_cannot_be_written() {
    let fault_dir = tempfile::tempdir().unwrap();
    let fault = fault_dir.path().join("fault");
    let k = Kit::start(&[
        "--audit-fail-closed",
        "--test-only-audit-fault-file",
        fault.to_str().unwrap(),
    ])
    .await;
    let admin = k.admin().await;
    let tok = Some(admin.token.as_str());
    use reqwest::Method as M;
    let ready = || async {
        let r =
            k.c.get(format!("{}/readyz", k.s.vault()))
                .send()
                .await
                .unwrap();
        let st = r.status().as_u16();
        (st, r.json::<Value>().await.unwrap())
    };
    assert_eq!(ready().await.0, 200);
    let (st, _) = k.arm(M::PUT, &k.diag_path("a"), Some(az_setting())).await;
    assert_eq!(st, 200);
    let (st, _, _) = k
        .vault_call(M::PUT, "/secrets/s", tok, Some(json!({"value": "v"})))
        .await;
    assert_eq!(st, 200);

    // Appends start failing: once the writer notices, /readyz and the audited vault say 503.
    std::fs::write(&fault, b"").unwrap();
    let _ = k.vault_call(M::GET, "/secrets/s", tok, None).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (st, body) = loop {
        let r = ready().await;
        if r.0 == 503 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(body["reason"].as_str().unwrap().contains("audit"), "{body}");
    let r =
        k.c.get(format!("{}/healthz", k.s.vault()))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200, "liveness is unaffected");
    let (st, _, v) = k.vault_call(M::GET, "/secrets/s", tok, None).await;
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["error"]["code"], "ServiceUnavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--audit-fail-closed")
    );

    // The switch is cleared: the writer's probe recovers it without traffic.
    std::fs::remove_file(&fault).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready().await.0 != 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready().await.0, 200);
    let (st, _, _) = k.vault_call(M::GET, "/secrets/s", tok, None).await;
    assert_eq!(st, 200);
}
