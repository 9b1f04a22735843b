//! Vaults as ARM resources (`Microsoft.KeyVault/vaults`), driven over HTTPS: create, read, list
//! (by group, subscription, generic `/resources` and `$top` pages), update (PATCH and the CLI's
//! whole-vault PUT), access policies, firewall settings, soft delete, recovery and purge, with
//! the data plane serving and refusing the vault as its record changes.

use serde_json::{Value, json};

use crate::harness::Server;

const KV: &str = "2026-02-01";

/// A client that resolves the role host names and the given vault names to the server.
fn client(s: &Server, vaults: &[&str]) -> reqwest::Client {
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.port));
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false);
    for host in [
        "login.localhost",
        "management.localhost",
        "dev.vault.localhost",
    ] {
        b = b.resolve(host, addr);
    }
    for v in vaults {
        b = b.resolve(&format!("{v}.vault.localhost"), addr);
    }
    b.build().unwrap()
}

/// Calls the management API and returns status and JSON body.
struct Arm {
    c: reqwest::Client,
    base: String,
    token: String,
    sub: String,
    rg: String,
}

impl Arm {
    async fn new(s: &Server, c: &reqwest::Client) -> Self {
        let base = s.b("management_url");
        let token = s.token_for(c, &format!("{base}/")).await;
        Self {
            c: c.clone(),
            base,
            token,
            sub: s.b("subscription_id"),
            rg: s.b("resource_group"),
        }
    }

    fn vault_path(&self, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{name}",
            self.sub, self.rg
        )
    }

    fn sub_path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{rest}", self.sub)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = if path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}{sep}api-version={KV}", self.base)
        };
        let mut req = self.c.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
}

fn create_body(s: &Server, extra: Value) -> Value {
    let mut body = json!({
        "location": "local",
        "tags": {"team": "a"},
        "properties": {
            "tenantId": s.b("tenant_id"),
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [{
                "tenantId": s.b("tenant_id"),
                "objectId": s.b("object_id"),
                "permissions": {"secrets": ["Get", "LIST", "set", "delete", "recover", "purge"]},
            }],
            "enableRbacAuthorization": false,
            "enableSoftDelete": true,
            "softDeleteRetentionInDays": 90,
            "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow"},
        },
    });
    if let (Some(p), Some(extra)) = (body["properties"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            p.insert(k.clone(), v.clone());
        }
    }
    body
}

async fn secret_status(c: &reqwest::Client, vault_token: &str, vault: &str, port: u16) -> u16 {
    c.put(format!(
        "https://{vault}.vault.localhost:{port}/secrets/probe?api-version=7.6"
    ))
    .bearer_auth(vault_token)
    .json(&json!({"value": "v"}))
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

#[tokio::test]
async fn vault_lifecycle_over_arm_and_the_data_plane() {
    let s = Server::start();
    let c = client(&s, &["kv-life", "kv-other"]);
    let arm = Arm::new(&s, &c).await;
    let vault_token = s.token().await;
    let path = arm.vault_path("kv-life");

    // Not there yet: the CLI's first GET must be a 404.
    let (st, e) = arm.get(&path).await;
    assert_eq!(st, 404, "{e}");
    assert_eq!(e["error"]["code"], "ResourceNotFound");
    assert_eq!(
        secret_status(&c, &vault_token, "kv-life", s.port).await,
        404
    );

    // Create: synchronous 201 with provisioningState, no async headers.
    let r = c
        .put(format!("{}{path}?api-version={KV}", arm.base))
        .bearer_auth(&arm.token)
        .json(&create_body(&s, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("azure-asyncoperation").is_none());
    assert!(r.headers().get("location").is_none());
    assert!(r.headers().get("etag").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], path);
    assert_eq!(v["type"], "Microsoft.KeyVault/vaults");
    assert_eq!(v["name"], "kv-life");
    let p = &v["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(
        p["vaultUri"],
        format!("https://kv-life.vault.localhost:{}/", s.port)
    );
    assert_eq!(p["sku"], json!({"family": "A", "name": "standard"}));
    assert_eq!(p["enableRbacAuthorization"], false);
    assert!(p.get("enablePurgeProtection").is_none(), "{p}");
    assert_eq!(p["publicNetworkAccess"], "Enabled");
    assert_eq!(
        p["accessPolicies"][0]["permissions"]["secrets"],
        json!(["get", "list", "set", "delete", "recover", "purge"])
    );

    // Served by the data plane at once.
    assert_eq!(
        secret_status(&c, &vault_token, "kv-life", s.port).await,
        200
    );

    // Read, and lists by group, subscription and the generic listing.
    let (st, got) = arm.get(&path).await;
    assert_eq!(st, 200);
    assert_eq!(got["properties"]["tenantId"], s.b("tenant_id"));
    let (st, by_rg) = arm
        .get(&format!(
            "/subscriptions/{}/resourcegroups/{}/providers/Microsoft.KeyVault/vaults",
            arm.sub,
            arm.rg.to_uppercase()
        ))
        .await;
    assert_eq!(st, 200, "{by_rg}");
    let names: Vec<&str> = by_rg["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"kv-life") && names.contains(&"dev"),
        "{names:?}"
    );
    let (st, generic) = arm
        .get(&arm.sub_path(
            "/resources?$filter=resourceType eq 'Microsoft.KeyVault/vaults' and name eq 'kv-life'",
        ))
        .await;
    assert_eq!(st, 200, "{generic}");
    assert_eq!(generic["value"].as_array().unwrap().len(), 1, "{generic}");
    assert_eq!(generic["value"][0]["id"], path);
    assert_eq!(generic["value"][0]["location"], "local");

    // The same name elsewhere is taken; checkNameAvailability says so.
    let other_rg = format!("/subscriptions/{}/resourcegroups/other-rg", arm.sub);
    let (st, _) = arm
        .call(
            reqwest::Method::PUT,
            &format!("{other_rg}?api-version=2024-11-01"),
            Some(json!({"location": "local"})),
        )
        .await;
    assert_eq!(st, 201);
    let (st, e) = arm
        .put(
            &format!("{other_rg}/providers/Microsoft.KeyVault/vaults/KV-LIFE"),
            create_body(&s, json!({})),
        )
        .await;
    assert_eq!(st, 409, "{e}");
    assert_eq!(e["error"]["code"], "VaultAlreadyExists");
    let check = |name: &str| {
        let arm = &arm;
        let name = name.to_owned();
        async move {
            arm.call(
                reqwest::Method::POST,
                &arm.sub_path("/providers/Microsoft.KeyVault/checkNameAvailability"),
                Some(json!({"name": name, "type": "Microsoft.KeyVault/vaults"})),
            )
            .await
        }
    };
    let (st, a) = check("kv-life").await;
    assert_eq!(st, 200);
    assert_eq!(a["nameAvailable"], false);
    assert_eq!(a["reason"], "AlreadyExists");
    let (_, a) = check("kv-free-name").await;
    assert_eq!(a, json!({"nameAvailable": true}));
    let (_, a) = check("1-bad").await;
    assert_eq!(a["reason"], "AccountNameInvalid");

    // PATCH: only the given properties change; firewall values are normalised.
    let (st, v) = arm
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties": {"networkAcls": {
                "defaultAction": "deny",
                "ipRules": [{"value": "203.0.113.7"}, {"value": "10.1.2.3/16"}, {"value": "2001:db8::1"}],
                "virtualNetworkRules": [{"id": "/subscriptions/S/resourceGroups/R/providers/Microsoft.Network/virtualNetworks/V/subnets/A"}],
            }}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let acls = &v["properties"]["networkAcls"];
    assert_eq!(acls["defaultAction"], "Deny");
    assert_eq!(acls["bypass"], "AzureServices");
    assert_eq!(
        acls["ipRules"],
        json!([{"value": "203.0.113.7/32"}, {"value": "10.1.0.0/16"}, {"value": "2001:db8::1/128"}])
    );
    assert_eq!(
        acls["virtualNetworkRules"][0]["id"],
        "/subscriptions/s/resourcegroups/r/providers/microsoft.network/virtualnetworks/v/subnets/a"
    );
    assert_eq!(v["tags"], json!({"team": "a"}), "tags untouched by PATCH");
    assert_eq!(
        v["properties"]["accessPolicies"].as_array().unwrap().len(),
        1
    );

    // The CLI's whole-vault PUT: what GET returned, read-only fields included, sent back.
    let (_, mut whole) = arm.get(&path).await;
    whole["properties"]["networkAcls"]["defaultAction"] = json!("Allow");
    whole["tags"] = json!({"team": "b"});
    let (st, v) = arm.put(&path, whole).await;
    assert_eq!(st, 200, "an update: {v}");
    assert_eq!(v["properties"]["networkAcls"]["defaultAction"], "Allow");
    assert_eq!(
        v["properties"]["networkAcls"]["ipRules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(v["tags"], json!({"team": "b"}));

    // Access policies: add, replace, remove.
    let ap = |kind: &str| format!("{path}/accessPolicies/{kind}");
    let entry = |secrets: Value| {
        json!({"properties": {"accessPolicies": [{
            "tenantId": s.b("tenant_id"),
            "objectId": "00000000-0000-0000-0000-0000000000aa",
            "applicationId": "00000000-0000-0000-0000-0000000000bb",
            "permissions": {"secrets": secrets, "keys": ["all"]},
        }]}})
    };
    let (st, v) = arm.put(&ap("add"), entry(json!(["get"]))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["type"], "Microsoft.KeyVault/vaults/accessPolicies");
    assert_eq!(
        v["properties"]["accessPolicies"].as_array().unwrap().len(),
        2
    );
    let (_, v) = arm.put(&ap("add"), entry(json!(["list"]))).await;
    let added = &v["properties"]["accessPolicies"][1];
    assert_eq!(
        added["applicationId"],
        "00000000-0000-0000-0000-0000000000bb"
    );
    assert_eq!(added["permissions"]["secrets"], json!(["get", "list"]));
    assert_eq!(added["permissions"]["keys"].as_array().unwrap().len(), 20);
    let (_, v) = arm.put(&ap("replace"), entry(json!(["set"]))).await;
    assert_eq!(
        v["properties"]["accessPolicies"][1]["permissions"]["secrets"],
        json!(["set"])
    );
    let (st, e) = arm.put(&ap("add"), entry(json!(["sign"]))).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("sign"));
    let (st, _) = arm.put(&ap("merge"), entry(json!(["get"]))).await;
    assert_eq!(st, 404);
    let mut all = entry(json!(["set"]));
    all["properties"]["accessPolicies"][0]["permissions"]["keys"] = json!(["all"]);
    let (_, v) = arm.put(&ap("remove"), all).await;
    assert_eq!(
        v["properties"]["accessPolicies"].as_array().unwrap().len(),
        1
    );

    // Delete: soft, so the data plane stops serving it and the name stays taken.
    let (st, _) = arm.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(st, 200);
    let (st, _) = arm.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(st, 204, "already gone");
    assert_eq!(
        secret_status(&c, &vault_token, "kv-life", s.port).await,
        404
    );
    let (st, _) = arm.get(&path).await;
    assert_eq!(st, 404);
    let (st, deleted) = arm
        .get(&arm.sub_path("/providers/Microsoft.KeyVault/deletedVaults"))
        .await;
    assert_eq!(st, 200);
    let d = deleted["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "kv-life")
        .expect("listed as deleted")
        .clone();
    assert_eq!(d["type"], "Microsoft.KeyVault/deletedVaults");
    assert_eq!(d["properties"]["vaultId"], path);
    assert_eq!(d["properties"]["tags"], json!({"team": "b"}));
    assert!(
        d["properties"]["scheduledPurgeDate"].as_str().unwrap()
            > d["properties"]["deletionDate"].as_str().unwrap()
    );
    let deleted_path =
        arm.sub_path("/providers/Microsoft.KeyVault/locations/local/deletedVaults/kv-life");
    assert_eq!(d["id"], deleted_path);
    let (st, one) = arm.get(&deleted_path).await;
    assert_eq!(st, 200);
    assert_eq!(one["name"], "kv-life");
    let (st, e) = arm.put(&path, create_body(&s, json!({}))).await;
    assert_eq!(st, 409, "{e}");
    assert_eq!(e["error"]["code"], "ConflictError");
    let (_, a) = check("kv-life").await;
    assert_eq!(a["nameAvailable"], false);

    // Recover: the same vault, settings and objects, served again.
    let (st, v) = arm
        .put(
            &path,
            json!({"location": "local", "properties": {"createMode": "recover"}}),
        )
        .await;
    assert!(st == 200 || st == 201, "{st} {v}");
    assert_eq!(
        v["properties"]["networkAcls"]["ipRules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let got = c
        .get(format!(
            "https://kv-life.vault.localhost:{}/secrets/probe?api-version=7.6",
            s.port
        ))
        .bearer_auth(&vault_token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "the secret came back with the vault");
    assert_eq!(got.json::<Value>().await.unwrap()["value"], "v");

    // Delete and purge: the name is free again, and a new vault under it is empty.
    let (st, _) = arm.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(st, 200);
    let (st, _) = arm
        .call(
            reqwest::Method::POST,
            &format!("{deleted_path}/purge"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = arm.get(&deleted_path).await;
    assert_eq!(st, 404);
    let (_, a) = check("kv-life").await;
    assert_eq!(a["nameAvailable"], true);
    let (st, _) = arm.put(&path, create_body(&s, json!({}))).await;
    assert_eq!(st, 201);
    let r = c
        .get(format!(
            "https://kv-life.vault.localhost:{}/secrets/probe?api-version=7.6",
            s.port
        ))
        .bearer_auth(&vault_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a purged vault's objects are gone");
}

#[tokio::test]
async fn property_rules_and_refusals() {
    let s = Server::start();
    let c = client(&s, &["kv-rules"]);
    let arm = Arm::new(&s, &c).await;
    let path = arm.vault_path("kv-rules");
    let cases = [
        (
            json!({"enableRbacAuthorization": true}),
            400,
            "RbacAuthorizationNotSupported",
            "enable-rbac-authorization false",
        ),
        (
            json!({"enablePurgeProtection": false}),
            400,
            "BadRequest",
            "cannot be set to false",
        ),
        (
            json!({"softDeleteRetentionInDays": 6}),
            400,
            "BadRequest",
            "between 7 and 90",
        ),
        (
            json!({"softDeleteRetentionInDays": 91}),
            400,
            "BadRequest",
            "between 7 and 90",
        ),
        (
            json!({"sku": {"family": "A", "name": "gold"}}),
            400,
            "BadRequest",
            "sku",
        ),
        (
            json!({"publicNetworkAccess": "Sometimes"}),
            400,
            "BadRequest",
            "publicNetworkAccess",
        ),
        (
            json!({"networkAcls": {"defaultAction": "Block"}}),
            400,
            "BadRequest",
            "defaultAction",
        ),
        (
            json!({"networkAcls": {"bypass": "Everything"}}),
            400,
            "BadRequest",
            "bypass",
        ),
        (
            json!({"networkAcls": {"ipRules": [{"value": "300.1.1.1"}]}}),
            400,
            "BadRequest",
            "ipRules[0]",
        ),
        (
            json!({"networkAcls": {"ipRules": [{"value": "10.0.0.0/33"}]}}),
            400,
            "BadRequest",
            "ipRules[0]",
        ),
        (
            json!({"tenantId": "00000000-0000-0000-0000-00000000dead"}),
            400,
            "BadRequest",
            "tenant",
        ),
        (
            json!({"accessPolicies": [{"tenantId": "t", "objectId": "o", "permissions": {"secrets": ["fly"]}}]}),
            400,
            "BadRequest",
            "fly",
        ),
    ];
    for (i, (extra, status, code, words)) in cases.into_iter().enumerate() {
        let (st, e) = arm.put(&path, create_body(&s, extra)).await;
        assert_eq!(st, status, "case {i}: {e}");
        assert_eq!(e["error"]["code"], code, "case {i}: {e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(words), "case {i}: {msg}");
    }
    let (st, e) = arm
        .put(&arm.vault_path("1nvalid"), create_body(&s, json!({})))
        .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "VaultNameNotValid");
    for bad in ["ab", "a--b", "ends-", &"x".repeat(25)] {
        let (st, _) = arm
            .put(&arm.vault_path(bad), create_body(&s, json!({})))
            .await;
        assert_eq!(st, 400, "{bad}");
    }
    let mut no_location = create_body(&s, json!({}));
    no_location.as_object_mut().unwrap().remove("location");
    let (st, e) = arm.put(&path, no_location).await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "LocationRequired");
    let (st, e) = arm.call(reqwest::Method::PUT, &path, None).await;
    assert_eq!(st, 400, "{e}");
    let r = c
        .put(format!("{}{path}?api-version={KV}", arm.base))
        .bearer_auth(&arm.token)
        .header("content-type", "application/json")
        .body("{\"location\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "InvalidRequestContent"
    );
    let (st, _) = arm.get(&path).await;
    assert_eq!(st, 404, "nothing was created by a refused request");

    // Purge protection: on for good, and the deleted vault cannot be purged.
    let (st, v) = arm
        .put(
            &path,
            create_body(
                &s,
                json!({"enablePurgeProtection": true, "softDeleteRetentionInDays": 7}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["properties"]["enablePurgeProtection"], true);
    assert_eq!(v["properties"]["softDeleteRetentionInDays"], 7);
    let (st, e) = arm
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties": {"enablePurgeProtection": false}})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("irreversible")
    );
    let (st, e) = arm
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties": {"enableSoftDelete": false}})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    // An out-of-date If-Match is refused; the current ETag passes.
    let r = c
        .get(format!("{}{path}?api-version={KV}", arm.base))
        .bearer_auth(&arm.token)
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let patch = |if_match: &str| {
        c.patch(format!("{}{path}?api-version={KV}", arm.base))
            .bearer_auth(&arm.token)
            .header("if-match", if_match)
            .json(&json!({"tags": {"x": "1"}}))
            .send()
    };
    assert_eq!(patch("W/\"999\"").await.unwrap().status(), 412);
    assert_eq!(patch(&etag).await.unwrap().status(), 200);
    let (st, _) = arm.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(st, 200);
    let (st, e) = arm
        .call(
            reqwest::Method::POST,
            &arm.sub_path(
                "/providers/Microsoft.KeyVault/locations/local/deletedVaults/kv-rules/purge",
            ),
            None,
        )
        .await;
    assert_eq!(st, 409, "{e}");
    assert_eq!(e["error"]["code"], "PurgeProtectionEnabled");
}

#[tokio::test]
async fn the_default_vault_is_an_arm_resource_and_lists_page() {
    let s = Server::start();
    let c = client(&s, &[]);
    let arm = Arm::new(&s, &c).await;
    let (st, dev) = arm.get(&arm.vault_path("dev")).await;
    assert_eq!(st, 200, "{dev}");
    assert_eq!(dev["properties"]["tenantId"], s.b("tenant_id"));
    assert_eq!(
        dev["properties"]["accessPolicies"][0]["objectId"],
        s.b("object_id")
    );
    assert_eq!(dev["properties"]["vaultUri"], format!("{}/", s.vault()));

    for i in 0..3 {
        let (st, v) = arm
            .put(
                &arm.vault_path(&format!("kv-page-{i}")),
                create_body(&s, json!({})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    // $top pages through every vault of the subscription via nextLink.
    let mut names = Vec::new();
    let mut next = arm.sub_path("/providers/Microsoft.KeyVault/vaults?$top=2");
    for _ in 0..5 {
        let (st, page) = arm.get(&next).await;
        assert_eq!(st, 200, "{page}");
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(items.iter().map(|v| v["name"].as_str().unwrap().to_owned()));
        match page["nextLink"].as_str() {
            Some(n) => {
                assert!(n.starts_with(&arm.base), "{n}");
                next = n.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(names, ["dev", "kv-page-0", "kv-page-1", "kv-page-2"]);
    let (st, all) = arm.get(&arm.sub_path("/resources")).await;
    assert_eq!(st, 200);
    // The four vaults and the bootstrap managed identity.
    assert_eq!(all["value"].as_array().unwrap().len(), 5, "{all}");
    let (st, e) = arm
        .get(&arm.sub_path("/resources?$filter=tagName eq 'x'"))
        .await;
    assert_eq!(st, 400, "{e}");

    // Managed HSM lists are empty (the CLI's list-deleted fails on a 404 there).
    for p in [
        "/providers/Microsoft.KeyVault/managedHSMs",
        "/providers/Microsoft.KeyVault/deletedManagedHSMs",
    ] {
        let (st, v) = arm.get(&arm.sub_path(p)).await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(v, json!({"value": []}));
    }
    let (st, p) = arm
        .get(&arm.sub_path("/providers/Microsoft.KeyVault"))
        .await;
    assert_eq!(st, 200);
    assert_eq!(p["registrationState"], "Registered");

    // Deleting the resource group soft-deletes its vaults.
    let (st, _) = arm
        .call(
            reqwest::Method::DELETE,
            &format!(
                "/subscriptions/{}/resourcegroups/{}?api-version=2024-11-01",
                arm.sub, arm.rg
            ),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (_, deleted) = arm
        .get(&arm.sub_path("/providers/Microsoft.KeyVault/deletedVaults"))
        .await;
    assert_eq!(deleted["value"].as_array().unwrap().len(), 4, "{deleted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_vault_verbs() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let run = |args: &[&str]| -> Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg("vault")
            .args(args)
            .args(["--data-dir", &dir])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "coffer vault {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout))
    };
    let v = run(&["create", "--name", "kv-cli", "--retention-days", "7"]);
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(v["resourceGroup"], "coffer-rg");
    assert_eq!(v["properties"]["softDeleteRetentionInDays"], 7);
    assert_eq!(
        v["properties"]["accessPolicies"][0]["objectId"],
        s.b("object_id")
    );
    let v = run(&["show", "--name", "kv-cli"]);
    assert_eq!(v["name"], "kv-cli");
    let list = run(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "dev and kv-cli: {list}");
    let table = run(&["list", "-o", "table"]);
    let table = table.as_str().unwrap();
    assert!(
        table.starts_with("Name") && table.contains("kv-cli") && table.contains("VaultUri"),
        "{table}"
    );

    let oid = "00000000-0000-0000-0000-0000000000dd";
    let v = run(&[
        "set-policy",
        "--name",
        "kv-cli",
        "--object-id",
        oid,
        "--secret-permissions",
        "get",
        "list",
        "--key-permissions",
        "all",
    ]);
    let entry = v["properties"]["accessPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["objectId"] == oid)
        .unwrap()
        .clone();
    assert_eq!(entry["permissions"]["secrets"], json!(["get", "list"]));
    assert_eq!(entry["permissions"]["keys"].as_array().unwrap().len(), 20);
    let v = run(&["delete-policy", "--name", "kv-cli", "--object-id", oid]);
    assert_eq!(
        v["properties"]["accessPolicies"].as_array().unwrap().len(),
        1
    );

    let v = run(&[
        "update",
        "--name",
        "kv-cli",
        "--default-action",
        "Deny",
        "--bypass",
        "None",
    ]);
    assert_eq!(v["properties"]["networkAcls"]["defaultAction"], "Deny");
    assert_eq!(v["properties"]["networkAcls"]["bypass"], "None");
    let rules = run(&[
        "network-rule",
        "add",
        "--name",
        "kv-cli",
        "--ip-address",
        "127.0.0.1",
        "10.0.0.0/8",
    ]);
    assert_eq!(
        rules,
        json!([{"value": "127.0.0.1/32"}, {"value": "10.0.0.0/8"}])
    );
    let rules = run(&[
        "network-rule",
        "remove",
        "--name",
        "kv-cli",
        "--ip-address",
        "127.0.0.1",
    ]);
    assert_eq!(rules, json!([{"value": "10.0.0.0/8"}]));
    assert_eq!(run(&["network-rule", "list", "--name", "kv-cli"]), rules);

    run(&["delete", "--name", "kv-cli"]);
    let deleted = run(&["list-deleted"]);
    assert_eq!(deleted[0]["name"], "kv-cli");
    let v = run(&["recover", "--name", "kv-cli"]);
    assert_eq!(v["name"], "kv-cli");
    run(&["delete", "--name", "kv-cli"]);
    run(&["purge", "--name", "kv-cli"]);
    assert_eq!(run(&["list-deleted"]), json!([]));
}
