//! The management (ARM) endpoint and the managed identity token endpoints, driven over HTTPS.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Server, url};

const MSI: &str = "2024-11-30";

/// A client that resolves every role's host name (management and graph too) to the server.
fn client(s: &Server) -> reqwest::Client {
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.port));
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false);
    for host in [
        "login.localhost",
        "management.localhost",
        "graph.localhost",
        "vault.localhost",
        "dev.vault.localhost",
    ] {
        b = b.resolve(host, addr);
    }
    b.build().unwrap()
}

async fn mgmt_token(s: &Server) -> String {
    s.token_for(&client(s), &format!("{}/", s.b("management_url")))
        .await
}

fn mgmt(s: &Server, path: &str, api: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{}{path}{sep}api-version={api}", s.b("management_url"))
}

fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

#[tokio::test]
async fn bootstrap_contract_names_the_management_scope() {
    let s = Server::start();
    let sub = s.b("subscription_id");
    assert!(uuid_like(&sub), "subscription id is a GUID: {sub}");
    assert_eq!(s.b("resource_group"), "coffer-rg");
    assert_eq!(
        s.b("management_url"),
        format!("https://management.localhost:{}", s.port)
    );
    assert_eq!(
        s.b("graph_url"),
        format!("https://graph.localhost:{}", s.port)
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[tokio::test]
async fn cloud_metadata_is_public_and_versioned() {
    let s = Server::start();
    let c = client(&s);
    let (st, doc) = json_of(
        c.get(mgmt(&s, "/metadata/endpoints", "2022-09-01"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert!(doc.is_object(), "one object from 2022-09-01 on: {doc}");
    assert_eq!(doc["authentication"]["loginEndpoint"], s.b("authority"));
    assert_eq!(
        doc["authentication"]["audiences"][0],
        format!("{}/", s.b("management_url"))
    );
    assert_eq!(
        doc["resourceManager"],
        format!("{}/", s.b("management_url"))
    );
    assert_eq!(
        doc["microsoftGraphResourceId"],
        format!("{}/", s.b("graph_url"))
    );
    assert_eq!(
        doc["suffixes"]["keyVaultDns"],
        format!("vault.localhost:{}", s.port)
    );
    assert!(doc["name"].is_string());

    let (st, old) = json_of(
        c.get(mgmt(&s, "/METADATA/Endpoints", "2019-05-01"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(old, json!([doc]), "an array before 2022-09-01");

    let (st, e) = json_of(
        c.get(format!("{}/metadata/endpoints", s.b("management_url")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "MissingApiVersionParameter");
}

#[tokio::test]
async fn sign_in_surface_and_refusals() {
    let s = Server::start();
    let c = client(&s);
    let sub = s.b("subscription_id");

    // No token: ARM's 401 with the challenge pointing at the authority and tenant.
    let r = c
        .get(mgmt(&s, "/subscriptions", "2022-12-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with(&format!(
            "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"",
            s.b("authority"),
            s.b("tenant_id")
        )),
        "{challenge}"
    );
    let (_, e) = json_of(r).await;
    assert_eq!(e["error"]["code"], "AuthenticationFailed");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization")
    );

    // A vault token is for another audience: 401 naming expected and found audience.
    let vault_token = s.token().await;
    let r = c
        .get(mgmt(&s, &format!("/subscriptions/{sub}"), "2022-12-01"))
        .bearer_auth(&vault_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let (_, e) = json_of(r).await;
    assert_eq!(e["error"]["code"], "InvalidAuthenticationTokenAudience");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("audience"), "{msg}");
    assert!(
        msg.contains(&s.b("vault_resource")),
        "names the token's audience: {msg}"
    );
    assert!(
        msg.contains("management.localhost"),
        "names the expected one: {msg}"
    );

    // A garbage token names its own failed check.
    let r = c
        .get(mgmt(&s, "/subscriptions", "2022-12-01"))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, e) = json_of(r).await;
    assert_eq!(e["error"]["code"], "InvalidAuthenticationToken");

    let t = mgmt_token(&s).await;
    let (st, list) = json_of(
        c.get(mgmt(&s, "/subscriptions", "2022-12-01"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    let items = list["value"].as_array().unwrap();
    let mine = items
        .iter()
        .find(|i| i["subscriptionId"] == sub.as_str())
        .expect("the bootstrap subscription is listed");
    assert_eq!(mine["id"], format!("/subscriptions/{sub}"));
    assert_eq!(mine["tenantId"], s.b("tenant_id"));
    assert_eq!(mine["state"], "Enabled");
    assert!(mine["displayName"].is_string());

    let (st, one) = json_of(
        c.get(mgmt(&s, &format!("/SUBSCRIPTIONS/{sub}"), "2022-12-01"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(&one, mine);

    let (st, tenants) = json_of(
        c.get(mgmt(&s, "/tenants", "2022-12-01"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(tenants["value"][0]["tenantId"], s.b("tenant_id"));
    assert_eq!(
        tenants["value"][0]["id"],
        format!("/tenants/{}", s.b("tenant_id"))
    );

    let (st, p) = json_of(
        c.get(mgmt(
            &s,
            &format!("/subscriptions/{sub}/providers/microsoft.managedidentity"),
            "2021-04-01",
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(p["registrationState"], "Registered");
    assert_eq!(p["namespace"], "Microsoft.ManagedIdentity");

    // api-version is required, and must look like a date.
    let (st, e) = json_of(
        c.get(format!("{}/subscriptions", s.b("management_url")))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "MissingApiVersionParameter");
    let (st, e) = json_of(
        c.get(mgmt(&s, "/subscriptions", "7.6"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "InvalidApiVersionParameter");

    // Unknown subscription.
    let (st, e) = json_of(
        c.get(mgmt(
            &s,
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups",
            "2025-04-01",
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(e["error"]["code"], "SubscriptionNotFound");
}

#[tokio::test]
async fn resource_groups() {
    let s = Server::start();
    let c = client(&s);
    let t = mgmt_token(&s).await;
    let sub = s.b("subscription_id");
    let rg_url = |rg: &str| {
        mgmt(
            &s,
            &format!("/subscriptions/{sub}/resourcegroups/{rg}"),
            "2025-04-01",
        )
    };

    let (st, list) = json_of(
        c.get(mgmt(
            &s,
            &format!("/subscriptions/{sub}/resourceGroups"),
            "2024-11-01",
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert!(
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "coffer-rg"),
        "{list}"
    );

    let r = c
        .put(rg_url("Team-A"))
        .bearer_auth(&t)
        .json(&json!({"location": "West Europe", "tags": {"env": "test"}}))
        .send()
        .await
        .unwrap();
    let (st, g) = json_of(r).await;
    assert_eq!(st, 201, "{g}");
    assert_eq!(
        g["id"],
        format!("/subscriptions/{sub}/resourceGroups/Team-A")
    );
    assert_eq!(g["location"], "westeurope");
    assert_eq!(g["type"], "Microsoft.Resources/resourceGroups");
    assert_eq!(g["properties"]["provisioningState"], "Succeeded");
    let (st, g2) = json_of(
        c.put(rg_url("team-a"))
            .bearer_auth(&t)
            .json(&json!({"location": "westeurope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "an update: {g2}");
    assert_eq!(g2["name"], "Team-A", "keeps the created spelling");
    assert_eq!(g2["tags"], json!({}));
    let (st, e) = json_of(
        c.put(rg_url("team-a"))
            .bearer_auth(&t)
            .json(&json!({"location": "eastus"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 409, "{e}");

    let r = c
        .head(rg_url("team-a"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c.head(rg_url("nope")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (st, e) = json_of(c.get(rg_url("nope")).bearer_auth(&t).send().await.unwrap()).await;
    assert_eq!(st, 404);
    assert_eq!(e["error"]["code"], "ResourceGroupNotFound");
    let (st, e) = json_of(
        c.put(rg_url("bad."))
            .bearer_auth(&t)
            .json(&json!({"location": "local"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "InvalidResourceGroupName");
    let (st, e) = json_of(
        c.put(rg_url("nolocation"))
            .bearer_auth(&t)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "LocationRequired");
    let (st, e) = json_of(
        c.put(rg_url("broken"))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body("{\"location\":")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["code"], "InvalidRequestContent");

    let r = c
        .delete(rg_url("TEAM-A"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .head(rg_url("team-a"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .delete(rg_url("team-a"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn identity_url(s: &Server, rg: &str, name: &str, tail: &str) -> String {
    mgmt(
        s,
        &format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}{tail}",
            s.b("subscription_id")
        ),
        MSI,
    )
}

#[tokio::test]
async fn user_assigned_identities_and_their_tokens() {
    let s = Server::start();
    let c = client(&s);
    let t = mgmt_token(&s).await;
    let sub = s.b("subscription_id");
    let rg = s.b("resource_group");

    // Create (201), update (200), read, list.
    let (st, id) = json_of(
        c.put(identity_url(&s, &rg, "app-identity", ""))
            .bearer_auth(&t)
            .json(&json!({"location": "local", "tags": {"team": "a"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{id}");
    let rid = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-identity"
    );
    assert_eq!(id["id"], rid);
    assert_eq!(id["name"], "app-identity");
    assert_eq!(
        id["type"],
        "Microsoft.ManagedIdentity/userAssignedIdentities"
    );
    assert_eq!(id["location"], "local");
    assert_eq!(id["tags"], json!({"team": "a"}));
    assert_eq!(id["properties"]["tenantId"], s.b("tenant_id"));
    let principal_id = id["properties"]["principalId"].as_str().unwrap().to_owned();
    let client_id = id["properties"]["clientId"].as_str().unwrap().to_owned();
    assert!(uuid_like(&principal_id) && uuid_like(&client_id));
    assert!(
        !id.to_string().to_lowercase().contains("header"),
        "no secret in the PUT answer"
    );

    let (st, again) = json_of(
        c.put(identity_url(&s, &rg.to_uppercase(), "app-identity", ""))
            .bearer_auth(&t)
            .json(&json!({"location": "local", "tags": {"team": "b"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(again["properties"]["principalId"], principal_id.as_str());
    assert_eq!(again["tags"], json!({"team": "b"}));

    let (st, got) = json_of(
        c.get(identity_url(&s, &rg, "app-identity", ""))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(got, again);
    for list_url in [
        mgmt(
            &s,
            &format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
            ),
            MSI,
        ),
        mgmt(
            &s,
            &format!(
                "/subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
            ),
            MSI,
        ),
    ] {
        let (st, list) = json_of(c.get(list_url).bearer_auth(&t).send().await.unwrap()).await;
        assert_eq!(st, 200);
        // Besides the bootstrap identity every instance has.
        let mine: Vec<&Value> = list["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"] != "dev-app")
            .collect();
        assert_eq!(mine, [&got]);
    }
    let (st, e) = json_of(
        c.put(identity_url(&s, "no-such-rg", "x-identity", ""))
            .bearer_auth(&t)
            .json(&json!({"location": "local"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(e["error"]["code"], "ResourceGroupNotFound");

    // App Service style: the header from listSecrets proves the identity.
    let (st, secrets) = json_of(
        c.post(identity_url(&s, &rg, "app-identity", "/listSecrets"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{secrets}");
    let endpoint = secrets["identityEndpoint"].as_str().unwrap().to_owned();
    let header = secrets["identityHeader"].as_str().unwrap().to_owned();
    assert_eq!(endpoint, format!("{}/msi/token", s.b("authority")));
    let r = c
        .get(&endpoint)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", &s.b("vault_resource")),
            ("client_id", &client_id),
        ])
        .header("X-IDENTITY-HEADER", &header)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    let (st, tok) = json_of(r).await;
    assert_eq!(st, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["client_id"], client_id.as_str());
    assert_eq!(tok["resource"], s.b("vault_resource"));
    let expires_on: i64 = tok["expires_on"].as_str().unwrap().parse().unwrap();
    let expires_in: i64 = tok["expires_in"].as_str().unwrap().parse().unwrap();
    assert!(expires_in > 0 && expires_on > expires_in);
    let mi_token = tok["access_token"].as_str().unwrap().to_owned();
    let cl = claims(&mi_token);
    assert_eq!(cl["oid"], principal_id.as_str());
    assert_eq!(cl["appid"], client_id.as_str());
    assert_eq!(cl["tid"], s.b("tenant_id"));
    assert_eq!(cl["idtyp"], "ManagedIdentity");
    assert_eq!(cl["xms_mirid"], rid);
    assert_eq!(cl["aud"], s.b("vault_resource"));

    // The vault accepts the token and refuses access by policy: 403 naming the identity.
    let r = c
        .get(url(&s, "/secrets"))
        .bearer_auth(&mi_token)
        .send()
        .await
        .unwrap();
    let (st, e) = json_of(r).await;
    assert_eq!(st, 403, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("appid={client_id};oid={principal_id}")),
        "{msg}"
    );

    // The header selects the identity; a selector naming another one is refused.
    for (k, v) in [
        ("client_id", "00000000-0000-0000-0000-000000000001"),
        ("object_id", "00000000-0000-0000-0000-000000000001"),
        (
            "mi_res_id",
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z",
        ),
    ] {
        let (st, e) = json_of(
            c.get(&endpoint)
                .query(&[
                    ("api-version", "2019-08-01"),
                    ("resource", &s.b("vault_resource")),
                    (k, v),
                ])
                .header("X-IDENTITY-HEADER", &header)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 400, "{k}: {e}");
        assert_eq!(e["error"], "invalid_request");
        assert!(
            e["error_description"]
                .as_str()
                .unwrap()
                .contains("app-identity")
        );
    }
    // Selection by object id and resource id works too, and the management resource is issued.
    let (st, tok) = json_of(
        c.get(&endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", &format!("{}/", s.b("management_url"))),
                ("mi_res_id", &rid.to_lowercase()),
            ])
            .header("X-IDENTITY-HEADER", &header)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{tok}");
    let mi_mgmt = tok["access_token"].as_str().unwrap().to_owned();
    // A managed identity is a principal of the directory: it may use the management API.
    let (st, subs) = json_of(
        c.get(mgmt(&s, "/subscriptions", "2022-12-01"))
            .bearer_auth(&mi_mgmt)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(subs["value"][0]["subscriptionId"], sub.as_str());
    // Missing, wrong and unknown-resource requests.
    let (st, e) = json_of(
        c.get(&endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", &s.b("vault_resource")),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("X-IDENTITY-HEADER")
    );
    let last = if header.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &header[..header.len() - 1]);
    let (st, e) = json_of(
        c.get(&endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", &s.b("vault_resource")),
            ])
            .header("X-IDENTITY-HEADER", &forged)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 401, "{e}");
    assert!(e["error_description"].is_string() && e["message"].is_string());
    let (st, e) = json_of(
        c.get(&endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", "https://storage.example"),
            ])
            .header("X-IDENTITY-HEADER", &header)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(e["error"], "invalid_resource");

    // listSecrets rotates: the old header stops working.
    let (_, rotated) = json_of(
        c.post(identity_url(&s, &rg, "app-identity", "/listSecrets"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_ne!(rotated["identityHeader"], header.as_str());
    let r = c
        .get(&endpoint)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", &s.b("vault_resource")),
        ])
        .header("X-IDENTITY-HEADER", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // IMDS style: only source addresses bound to the identity get its tokens.
    let imds = format!("{}/metadata/identity/oauth2/token", s.b("authority"));
    let imds_query = [
        ("api-version", "2018-02-01"),
        ("resource", &s.b("vault_resource")),
    ];
    let (st, e) = json_of(
        c.get(&imds)
            .query(&imds_query)
            .header("Metadata", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "nothing bound yet: {e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );
    let (st, b) = json_of(
        c.put(identity_url(&s, &rg, "app-identity", "/imdsBindings"))
            .bearer_auth(&t)
            .json(&json!({"addresses": ["127.0.0.1", "::1"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["addresses"], json!(["127.0.0.1", "::1"]));
    let (st, e) = json_of(
        c.put(identity_url(&s, &rg, "app-identity", "/imdsBindings"))
            .bearer_auth(&t)
            .json(&json!({"addresses": ["not-an-ip"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (_, b) = json_of(
        c.get(identity_url(&s, &rg, "app-identity", "/imdsBindings"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(b["addresses"], json!(["127.0.0.1", "::1"]));
    let r = c.get(&imds).query(&imds_query).send().await.unwrap();
    let (st, e) = json_of(r).await;
    assert_eq!(st, 400, "the Metadata header is required: {e}");
    for path in [imds.clone(), format!("{imds}/")] {
        let (st, tok) = json_of(
            c.get(&path)
                .query(&imds_query)
                .header("Metadata", "true")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(st, 200, "{path}: {tok}");
        let cl = claims(tok["access_token"].as_str().unwrap());
        assert_eq!(cl["oid"], principal_id.as_str());
        assert_eq!(cl["idtyp"], "ManagedIdentity");
        assert!(tok["expires_in"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    }
    let (st, _) = json_of(
        c.get(&imds)
            .query(&[
                ("api-version", "2018-02-01"),
                ("resource", s.b("vault_resource").as_str()),
                ("client_id", "00000000-0000-0000-0000-000000000001"),
            ])
            .header("Metadata", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "a client id that is not bound here");

    // Delete: 200, then 204; the identity is gone.
    let r = c
        .delete(identity_url(&s, &rg, "app-identity", ""))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .delete(identity_url(&s, &rg, "app-identity", ""))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (st, e) = json_of(
        c.get(identity_url(&s, &rg, "app-identity", ""))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(e["error"]["code"], "ResourceNotFound");
    let r = c
        .get(&endpoint)
        .query(&[
            ("api-version", "2019-08-01"),
            ("resource", &s.b("vault_resource")),
        ])
        .header(
            "X-IDENTITY-HEADER",
            rotated["identityHeader"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a deleted identity's header is dead");
}

// Multi-threaded: the client's connection tasks must keep running (and close on the server's
// GOAWAY) while this thread waits for the server to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s = Server::start_in(tmp.path(), port);
    let sub = s.b("subscription_id");
    let t = mgmt_token(&s).await;
    let r = client(&s)
        .put(identity_url(&s, "coffer-rg", "kept", ""))
        .bearer_auth(&t)
        .json(&json!({"location": "local"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.stop();
    let s = Server::start_in(tmp.path(), port);
    assert_eq!(s.b("subscription_id"), sub, "the subscription is kept");
    let t = mgmt_token(&s).await;
    let r = client(&s)
        .get(identity_url(&s, "coffer-rg", "kept", ""))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
