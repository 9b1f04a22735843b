//! The seeds' 403 cases over HTTPS, each with Azure's exact message: no access policy, a policy
//! on a look-alike (same display name, other object id), the firewall refusing the client
//! address, trusted services with bypass AzureServices and None, public network access
//! disabled, and `X-Forwarded-For` believed only from a configured trusted proxy.

use std::net::IpAddr;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::Server;

const KV: &str = "2026-02-01";
/// The address the tests' "trusted proxy" client connects from.
pub(crate) const PROXY: &str = "127.0.0.2";

/// A started server with clients, management access and helpers to make principals.
pub(crate) struct Kit {
    pub(crate) s: Server,
    /// Connects from 127.0.0.1.
    pub(crate) c: reqwest::Client,
    /// Connects from [`PROXY`].
    pub(crate) proxy: reqwest::Client,
    mgmt: String,
    graph: String,
}

/// A principal of the directory with a vault token.
pub(crate) struct Caller {
    pub(crate) app_id: String,
    pub(crate) oid: String,
    pub(crate) iss: String,
    pub(crate) token: String,
}

impl Caller {
    pub(crate) fn describe(&self) -> String {
        format!("appid={};oid={};iss={}", self.app_id, self.oid, self.iss)
    }
}

pub(crate) fn client_from(s: &Server, local: &str) -> reqwest::Client {
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.port));
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false)
        .local_address(local.parse::<IpAddr>().unwrap());
    for host in [
        "login.localhost",
        "dev.vault.localhost",
        "management.localhost",
        "graph.localhost",
    ] {
        b = b.resolve(host, addr);
    }
    b.build().unwrap()
}

pub(crate) fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

async fn token(
    c: &reqwest::Client,
    s: &Server,
    client_id: &str,
    secret: &str,
    resource: &str,
) -> String {
    let r = c
        .post(format!(
            "{}/{}/oauth2/token",
            s.b("authority"),
            s.b("tenant_id")
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl Kit {
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let s = Server::start_with(extra);
        let c = client_from(&s, "127.0.0.1");
        let proxy = client_from(&s, PROXY);
        let mgmt = token(
            &c,
            &s,
            &s.b("client_id"),
            &s.b("client_secret"),
            &format!("{}/", s.b("management_url")),
        )
        .await;
        let graph = token(
            &c,
            &s,
            &s.b("client_id"),
            &s.b("client_secret"),
            &s.b("graph_url"),
        )
        .await;
        Self {
            s,
            c,
            proxy,
            mgmt,
            graph,
        }
    }

    pub(crate) async fn admin(&self) -> Caller {
        let t = token(
            &self.c,
            &self.s,
            &self.s.b("client_id"),
            &self.s.b("client_secret"),
            &self.s.b("vault_resource"),
        )
        .await;
        caller_of(t)
    }

    /// A new application (and service principal) called `name`, with a vault token.
    pub(crate) async fn new_app(&self, name: &str) -> Caller {
        let graph = self.s.b("graph_url");
        let app: Value = self
            .c
            .post(format!("{graph}/v1.0/applications"))
            .bearer_auth(&self.graph)
            .json(&json!({"displayName": name}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let p: Value = self
            .c
            .post(format!(
                "{graph}/v1.0/applications/{}/addPassword",
                app["id"].as_str().unwrap()
            ))
            .bearer_auth(&self.graph)
            .json(&json!({"passwordCredential": {"displayName": "t"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let t = token(
            &self.c,
            &self.s,
            app["appId"].as_str().unwrap(),
            p["secretText"].as_str().unwrap(),
            &self.s.b("vault_resource"),
        )
        .await;
        caller_of(t)
    }

    pub(crate) fn vault_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/dev",
            self.s.b("subscription_id"),
            self.s.b("resource_group")
        )
    }

    /// Calls the management API; returns status and JSON body.
    pub(crate) async fn arm(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut rb = self
            .c
            .request(
                method,
                format!("{}{path}{sep}api-version={KV}", self.s.b("management_url")),
            )
            .bearer_auth(&self.mgmt);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let text = r.text().await.unwrap();
        (st, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn patch_vault(&self, properties: Value) {
        let (st, v) = self
            .arm(
                reqwest::Method::PATCH,
                &self.vault_path(),
                Some(json!({"properties": properties})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }

    pub(crate) async fn grant_secrets(&self, oid: &str, perms: &[&str]) {
        let (st, v) = self
            .arm(
                reqwest::Method::PUT,
                &format!("{}/accessPolicies/add", self.vault_path()),
                Some(json!({"properties": {"accessPolicies": [{
                    "tenantId": self.s.b("tenant_id"),
                    "objectId": oid,
                    "permissions": {"secrets": perms},
                }]}})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }

    /// `GET /secrets/{name}` as `who` through `via`, with an optional `X-Forwarded-For`.
    pub(crate) async fn get_secret(
        &self,
        via: &reqwest::Client,
        who: &Caller,
        name: &str,
        xff: Option<&str>,
    ) -> (u16, HeaderMap, Value) {
        let mut rb = via
            .get(format!("{}/secrets/{name}?api-version=7.6", self.s.vault()))
            .bearer_auth(&who.token);
        if let Some(x) = xff {
            rb = rb.header("x-forwarded-for", x);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let h = r.headers().clone();
        (st, h, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn set_secret(&self, who: &Caller, name: &str, value: &str) -> u16 {
        self.c
            .put(format!("{}/secrets/{name}?api-version=7.6", self.s.vault()))
            .bearer_auth(&who.token)
            .json(&json!({"value": value}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn caller_of(token: String) -> Caller {
    let c = claims(&token);
    Caller {
        app_id: c["appid"].as_str().unwrap().to_owned(),
        oid: c["oid"].as_str().unwrap().to_owned(),
        iss: c["iss"].as_str().unwrap().to_owned(),
        token,
    }
}

pub(crate) fn access_denied(who: &Caller, permission: &str) -> String {
    format!(
        "The user, group or application '{}' does not have secrets {permission} permission on key vault 'dev;location=local'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
        who.describe()
    )
}

pub(crate) fn firewall_denied(who: &Caller, addr: &str) -> String {
    format!(
        "Client address is not authorized and caller is not a trusted service.\r\nClient address: {addr}\r\nCaller: {}\r\nVault: dev;location=local",
        who.describe()
    )
}

pub(crate) fn assert_forbidden(st: u16, v: &Value, inner: &str, message: &str) {
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "Forbidden", "{v}");
    assert_eq!(v["error"]["innererror"]["code"], inner, "{v}");
    assert_eq!(v["error"]["message"], message);
}

fn network_addr(h: &HeaderMap) -> String {
    let info = h["x-ms-keyvault-network-info"].to_str().unwrap();
    info.split(';')
        .find_map(|p| p.strip_prefix("addr="))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn access_policy_refusals_name_the_real_caller() {
    let k = Kit::start(&[]).await;
    let admin = k.admin().await;
    assert_eq!(k.set_secret(&admin, "db", "v").await, 200);

    // No access policy at all.
    let x = k.new_app("look-alike").await;
    let (st, _, v) = k.get_secret(&k.c, &x, "db", None).await;
    assert_forbidden(st, &v, "AccessDenied", &access_denied(&x, "get"));

    // A policy on another principal with the same display name does not help.
    let y = k.new_app("look-alike").await;
    assert_ne!(x.oid, y.oid);
    k.grant_secrets(&y.oid, &["get"]).await;
    let (st, _, v) = k.get_secret(&k.c, &x, "db", None).await;
    assert_forbidden(st, &v, "AccessDenied", &access_denied(&x, "get"));
    let (st, _, v) = k.get_secret(&k.c, &y, "db", None).await;
    assert_eq!(st, 200, "the look-alike's own policy works at once: {v}");

    // A policy that names the caller but not the permission.
    let list =
        k.c.get(format!("{}/secrets?api-version=7.6", k.s.vault()))
            .bearer_auth(&y.token)
            .send()
            .await
            .unwrap();
    let st = list.status().as_u16();
    let v: Value = list.json().await.unwrap();
    assert_forbidden(st, &v, "AccessDenied", &access_denied(&y, "list"));
}

#[tokio::test]
async fn the_firewall_judges_the_client_address_before_the_access_policy() {
    let k = Kit::start(&["--trusted-proxy", PROXY]).await;
    let admin = k.admin().await;
    assert_eq!(k.set_secret(&admin, "db", "v").await, 200);
    let nobody = k.new_app("no-policy").await;
    let (st, h, _) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_eq!(st, 200);
    assert_eq!(network_addr(&h), "127.0.0.1");

    k.patch_vault(json!({"networkAcls": {
        "defaultAction": "Deny", "bypass": "None", "ipRules": [{"value": "203.0.113.7"}]
    }}))
    .await;
    let (st, h, v) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&admin, "127.0.0.1"),
    );
    assert_eq!(network_addr(&h), "127.0.0.1");
    // Firewall first: a caller without any policy learns about the firewall, not the policy.
    let (st, _, v) = k.get_secret(&k.c, &nobody, "db", None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&nobody, "127.0.0.1"),
    );
    // But authentication comes before both.
    let r =
        k.c.get(format!("{}/secrets/db?api-version=7.6", k.s.vault()))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);

    // A forged X-Forwarded-For from an untrusted peer is ignored.
    let (st, h, v) = k.get_secret(&k.c, &admin, "db", Some("203.0.113.7")).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&admin, "127.0.0.1"),
    );
    assert_eq!(network_addr(&h), "127.0.0.1");

    // From the trusted proxy it is honoured: its right-most untrusted hop is the client.
    let (st, h, v) = k
        .get_secret(&k.proxy, &admin, "db", Some("203.0.113.7"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(network_addr(&h), "203.0.113.7");
    let (st, h, v) = k
        .get_secret(&k.proxy, &admin, "db", Some("203.0.113.7, 198.51.100.1"))
        .await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&admin, "198.51.100.1"),
    );
    assert_eq!(network_addr(&h), "198.51.100.1");
    let (st, _, v) = k.get_secret(&k.proxy, &admin, "db", None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&admin, PROXY),
    );

    // An ipRule for the client lets it in at the next request.
    k.patch_vault(json!({"networkAcls": {
        "defaultAction": "Deny", "bypass": "None",
        "ipRules": [{"value": "203.0.113.7"}, {"value": "127.0.0.0/24"}]
    }}))
    .await;
    let (st, _, _) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_eq!(st, 200);
    let (st, _, v) = k.get_secret(&k.c, &nobody, "db", None).await;
    assert_forbidden(st, &v, "AccessDenied", &access_denied(&nobody, "get"));
}

#[tokio::test]
async fn trusted_services_pass_only_with_bypass_azure_services() {
    let k = Kit::start(&[]).await;
    let admin = k.admin().await;
    assert_eq!(k.set_secret(&admin, "db", "v").await, 200);
    let gateway = k.new_app("gateway").await;
    k.grant_secrets(&gateway.oid, &["get"]).await;

    // Flag it through Coffer's directory extension (what `coffer ad sp update` calls).
    let path = format!(
        "/providers/Coffer.Directory/servicePrincipals/{}",
        gateway.oid
    );
    let (st, v) = k.arm(reqwest::Method::GET, &path, None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["trustedService"], false);
    assert_eq!(v["principalType"], "ServicePrincipal");
    let (st, v) = k
        .arm(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"trustedService": true})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["trustedService"], true);
    let (st, v) = k
        .arm(
            reqwest::Method::PATCH,
            "/providers/Coffer.Directory/servicePrincipals/00000000-0000-0000-0000-000000000000",
            Some(json!({"trustedService": true})),
        )
        .await;
    assert_eq!(st, 404, "{v}");

    k.patch_vault(
        json!({"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}),
    )
    .await;
    let (st, _, v) = k.get_secret(&k.c, &gateway, "db", None).await;
    assert_eq!(
        st, 200,
        "a trusted service passes with bypass AzureServices: {v}"
    );
    let (st, _, v) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&admin, "127.0.0.1"),
    );

    k.patch_vault(
        json!({"networkAcls": {"defaultAction": "Deny", "bypass": "None", "ipRules": []}}),
    )
    .await;
    let (st, _, v) = k.get_secret(&k.c, &gateway, "db", None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByFirewall",
        &firewall_denied(&gateway, "127.0.0.1"),
    );

    // Public network access disabled: only trusted services, and only with the bypass.
    k.patch_vault(json!({
        "publicNetworkAccess": "Disabled",
        "networkAcls": {"defaultAction": "Allow", "bypass": "AzureServices", "ipRules": []},
    }))
    .await;
    let (st, _, v) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_forbidden(
        st,
        &v,
        "ForbiddenByConnection",
        &format!(
            "Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: {}\r\nVault: dev;location=local",
            admin.describe()
        ),
    );
    let (st, _, _) = k.get_secret(&k.c, &gateway, "db", None).await;
    assert_eq!(st, 200);

    // Unflagged, it is an ordinary caller again at its next request.
    let (st, _) = k
        .arm(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"trustedService": false})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _, v) = k.get_secret(&k.c, &gateway, "db", None).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["innererror"]["code"], "ForbiddenByConnection");
}
