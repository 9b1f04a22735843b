//! API Management services as ARM resources (`Microsoft.ApiManagement/service`), over HTTPS:
//! create, the built-in host name, the seed's refusal with the identity off, the identity's
//! service principal in Graph, the CLI's whole-resource PUT keeping the identity, child entities
//! with ETags and hidden keys, delete, and the seed's Forbidden refusal read from the vault over
//! the server's own HTTPS data plane. The whole story with serving and rotation is in
//! `gateway_seed.rs`.

use serde_json::{Value, json};

use crate::harness::Server;

const APIM: &str = "2024-05-01";

struct Arm {
    c: reqwest::Client,
    base: String,
    token: String,
    sub: String,
    rg: String,
    port: u16,
}

impl Arm {
    async fn new(s: &Server) -> Self {
        let c = s.client();
        let base = s.b("management_url");
        let token = s.token_for(&c, &format!("{base}/")).await;
        Self {
            c,
            base,
            token,
            sub: s.b("subscription_id"),
            rg: s.b("resource_group"),
            port: s.port,
        }
    }

    fn svc(&self, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{name}",
            self.sub, self.rg
        )
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> (u16, Option<String>, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}{path}{sep}api-version={APIM}", self.base);
        let mut rb = self
            .c
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        if let Some(m) = if_match {
            rb = rb.header("If-Match", m);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        (st, etag, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The SDK's create body, with its five always-sent defaults.
    async fn create(&self, name: &str, identity: Option<&str>) -> Value {
        let mut body = json!({
            "location": "local",
            "sku": {"name": "Developer", "capacity": 1},
            "properties": {
                "publisherEmail": "admin@contoso.test", "publisherName": "Contoso",
                "enableClientCertificate": false, "disableGateway": false, "restore": false,
                "legacyPortalStatus": "Enabled", "developerPortalStatus": "Enabled",
            },
        });
        if let Some(t) = identity {
            body["identity"] = json!({"type": t});
        }
        let (st, _, v) = self.call("PUT", &self.svc(name), Some(body), None).await;
        assert_eq!(st, 201, "{v}");
        v
    }

    async fn set_hosts(&self, name: &str, hosts: Value) -> (u16, Value) {
        let (st, _, v) = self
            .call(
                "PATCH",
                &self.svc(name),
                Some(json!({"properties": {"hostnameConfigurations": hosts}})),
                None,
            )
            .await;
        (st, v)
    }

    /// A self-signed certificate for `host` in the default vault; its secret URL, versionless
    /// with the trailing slash of the seed.
    async fn vault_certificate(&self, s: &Server, name: &str, host: &str) -> String {
        let t = s.token().await;
        let policy = json!({"policy": {
            "issuer": {"name": "Self"},
            "x509_props": {"subject": format!("CN={host}"), "sans": {"dns_names": [host]}, "validity_months": 12},
            "key_props": {"kty": "RSA", "key_size": 2048, "exportable": true},
            "secret_props": {"contentType": "application/x-pkcs12"}
        }});
        let r = self
            .c
            .post(format!(
                "{}/certificates/{name}/create?api-version=7.4",
                s.vault()
            ))
            .bearer_auth(&t)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        format!("{}/secrets/{name}/", s.vault().trim_end_matches('/'))
    }
}

#[tokio::test]
async fn services_hostnames_identity_and_the_seeds_first_refusal() {
    let s = Server::start();
    let a = Arm::new(&s).await;
    let v = a.create("gw", None).await;
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        v["properties"]["gatewayUrl"],
        format!("https://gw.gateway.localhost:{}", a.port)
    );
    let builtin = &v["properties"]["hostnameConfigurations"][0];
    assert_eq!(builtin["hostName"], "gw.gateway.localhost");
    assert_eq!(builtin["certificateSource"], "BuiltIn");
    assert!(
        v["identity"].is_null(),
        "no identity is shown as none at all: {v}"
    );

    // The certificate and the seed's first attempt: no identity.
    let url = a.vault_certificate(&s, "gwcert", "api.contoso.test").await;
    let hosts = json!([{"type": "Proxy", "hostName": "api.contoso.test", "keyVaultId": url,
        "defaultSslBinding": false, "negotiateClientCertificate": false}]);
    let (st, e) = a.set_hosts("gw", hosts.clone()).await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["code"], "InvalidOperation");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Managed Service Identity (MSI) is not enabled")
    );

    // "Register with Azure Active Directory": the identity's service principal is named after
    // the service.
    let (st, _, v) = a
        .call(
            "PATCH",
            &a.svc("gw"),
            Some(json!({"identity": {"type": "SystemAssigned"}})),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let oid = v["identity"]["principalId"].as_str().unwrap().to_owned();
    assert_eq!(v["identity"]["tenantId"], s.b("tenant_id"));
    let graph = format!("https://graph.localhost:{}", a.port);
    let gt = s.token_for(&a.c, &format!("{graph}/")).await;
    let r =
        a.c.get(format!(
            "{graph}/v1.0/servicePrincipals?$filter=displayName eq 'gw'"
        ))
        .bearer_auth(&gt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["value"][0]["id"], oid.as_str());
    assert_eq!(list["value"][0]["servicePrincipalType"], "ManagedIdentity");

    // The CLI's whole-resource PUT (GET, modify, PUT without identity) keeps the identity;
    // read-only fields and the built-in entry sent back are ignored.
    let (_, _, mut got) = a.call("GET", &a.svc("gw"), None, None).await;
    got.as_object_mut().unwrap().remove("identity");
    got["tags"] = json!({"env": "test"});
    let (st, _, v) = a.call("PUT", &a.svc("gw"), Some(got), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["identity"]["principalId"], oid.as_str());
    assert_eq!(v["tags"]["env"], "test");

    // Listing and delete (the system identity goes with the service).
    let (st, _, l) = a
        .call(
            "GET",
            &format!(
                "/subscriptions/{}/providers/Microsoft.ApiManagement/service",
                a.sub
            ),
            None,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(l["value"].as_array().unwrap().len(), 1);
    let (st, _, _) = a.call("DELETE", &a.svc("gw"), None, None).await;
    assert_eq!(st, 200);
    let (st, _, _) = a.call("GET", &a.svc("gw"), None, None).await;
    assert_eq!(st, 404);
    let r =
        a.c.get(format!(
            "{graph}/v1.0/servicePrincipals?$filter=displayName eq 'gw'"
        ))
        .bearer_auth(&gt)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert!(list["value"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test]
async fn the_seed_forbidden_then_the_access_policy() {
    let s = Server::start();
    let a = Arm::new(&s).await;
    let v = a.create("gw", Some("SystemAssigned")).await;
    let oid = v["identity"]["principalId"].as_str().unwrap().to_owned();
    let url = a.vault_certificate(&s, "gwcert", "api.contoso.test").await;
    let hosts = json!([{"type": "Proxy", "hostName": "api.contoso.test", "keyVaultId": url}]);
    let (st, e) = a.set_hosts("gw", hosts.clone()).await;
    assert_eq!(st, 400, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    let prefix = format!(
        "Failed to update API Management service hostnames. Request to resource '{url}?api-version=7.0' failed with StatusCode: Forbidden for RequestId: "
    );
    assert!(m.starts_with(&prefix), "{m}");
    assert!(
        m.ends_with(". Exception message: Operation returned an invalid status code 'Forbidden'")
    );
    let (_, _, got) = a.call("GET", &a.svc("gw"), None, None).await;
    assert_eq!(
        got["properties"]["hostnameConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The seed's fix: secrets Get for the gateway's principal.
    let vault_path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/dev/accessPolicies/add",
        a.sub, a.rg
    );
    let r =
        a.c.put(format!("{}{vault_path}?api-version=2026-02-01", a.base))
            .bearer_auth(&a.token)
            .json(&json!({"properties": {"accessPolicies": [{
            "tenantId": s.b("tenant_id"), "objectId": oid,
            "permissions": {"secrets": ["get", "list"]}}]}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let (st, v) = a.set_hosts("gw", hosts).await;
    assert_eq!(st, 200, "{v}");
    let h = &v["properties"]["hostnameConfigurations"][1];
    assert_eq!(h["certificateSource"], "KeyVault");
    assert_eq!(h["certificate"]["thumbprint"].as_str().unwrap().len(), 40);
}

#[tokio::test]
async fn child_entities_carry_etags_and_keys_stay_hidden() {
    let s = Server::start();
    let a = Arm::new(&s).await;
    a.create("gw", None).await;
    let api = format!("{}/apis/echo", a.svc("gw"));
    let (st, etag, v) = a
        .call(
            "PUT",
            &api,
            Some(
                json!({"properties": {"path": "echo", "serviceUrl": "https://backend.test",
                "displayName": "Echo", "protocols": ["https"]}}),
            ),
            None,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let etag = etag.unwrap();
    assert_eq!(v["properties"]["subscriptionRequired"], true);
    let (st, _, _) = a
        .call(
            "PATCH",
            &api,
            Some(json!({"properties": {"displayName": "E"}})),
            Some("\"nope\""),
        )
        .await;
    assert_eq!(st, 412);
    let (st, new_etag, _) = a
        .call(
            "PATCH",
            &api,
            Some(json!({"properties": {"displayName": "E"}})),
            Some(&etag),
        )
        .await;
    assert_eq!(st, 200);
    assert_ne!(new_etag.unwrap(), etag);

    // An OpenAPI import (what `az apim api import --specification-format OpenApiJson` sends).
    let spec = json!({"openapi": "3.0.1", "info": {"title": "Pets"},
        "servers": [{"url": "https://pets.backend.test"}],
        "paths": {"/pets": {"get": {"operationId": "listPets"}}}});
    let (st, _, v) = a
        .call(
            "PUT",
            &format!("{}/apis/pets", a.svc("gw")),
            Some(
                json!({"properties": {"path": "pets", "format": "openapi+json",
                "value": spec.to_string()}}),
            ),
            None,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["properties"]["serviceUrl"], "https://pets.backend.test");
    let (_, _, ops) = a
        .call(
            "GET",
            &format!("{}/apis/pets/operations", a.svc("gw")),
            None,
            None,
        )
        .await;
    assert_eq!(ops["value"][0]["name"], "listPets");

    // A subscription: keys never in GET, only from listSecrets.
    let sub = format!("{}/subscriptions/s1", a.svc("gw"));
    let (st, _, v) = a
        .call(
            "PUT",
            &sub,
            Some(json!({"properties": {"scope": "/apis/echo", "displayName": "S1"}})),
            None,
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["properties"]["primaryKey"], Value::Null);
    let (st, _, k) = a
        .call("POST", &format!("{sub}/listSecrets"), None, None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(k["primaryKey"].as_str().unwrap().len(), 32);
    let (st, _, _) = a
        .call("POST", &format!("{sub}/regeneratePrimaryKey"), None, None)
        .await;
    assert_eq!(st, 204);

    // API delete answers 204 (the SDK refuses a 200); If-Match is required.
    let (st, _, e) = a.call("DELETE", &api, None, None).await;
    assert_eq!(st, 400, "{e}");
    let (st, _, _) = a.call("DELETE", &api, None, Some("*")).await;
    assert_eq!(st, 204);
}

/// Runs `coffer gateway ...` against the server's data directory; returns stdout.
fn gateway_cli(s: &Server, args: &[&str]) -> String {
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let mut all = vec!["gateway"];
    all.extend_from_slice(args);
    all.extend(["--data-dir", &dir]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(&all)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "coffer {all:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_gateway_cli_verbs() {
    let s = Server::start();
    let v: Value = serde_json::from_str(&gateway_cli(&s, &["create", "--name", "gwcli"])).unwrap();
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    let v: Value = serde_json::from_str(&gateway_cli(
        &s,
        &["identity", "--name", "gwcli", "--type", "SystemAssigned"],
    ))
    .unwrap();
    assert!(v["principalId"].as_str().is_some());
    let spec = s.data_dir().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"openapi":"3.0.0","info":{"title":"T"},"paths":{"/x":{"get":{}}}}"#,
    )
    .unwrap();
    gateway_cli(
        &s,
        &[
            "api",
            "import",
            "--name",
            "gwcli",
            "--api-id",
            "t",
            "--path",
            "t",
            "--spec",
            spec.to_str().unwrap(),
            "--service-url",
            "https://backend.test",
        ],
    );
    let list: Value =
        serde_json::from_str(&gateway_cli(&s, &["api", "list", "--name", "gwcli"])).unwrap();
    assert_eq!(list[0]["name"], "t");
    gateway_cli(
        &s,
        &[
            "subscription",
            "create",
            "--name",
            "gwcli",
            "--sid",
            "s1",
            "--scope",
            "/apis/t",
        ],
    );
    let keys: Value = serde_json::from_str(&gateway_cli(
        &s,
        &["subscription", "keys", "--name", "gwcli", "--sid", "s1"],
    ))
    .unwrap();
    assert_eq!(keys["primaryKey"].as_str().unwrap().len(), 32);
    let table = gateway_cli(&s, &["show", "--name", "gwcli", "--output", "table"]);
    assert!(
        table.contains("gwcli.gateway.localhost source=BuiltIn"),
        "{table}"
    );
    gateway_cli(&s, &["delete", "--name", "gwcli"]);
    let list: Value = serde_json::from_str(&gateway_cli(&s, &["list"])).unwrap();
    assert_eq!(list, json!([]));
}
