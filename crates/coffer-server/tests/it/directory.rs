//! The directory over HTTPS: the Graph-shaped API on `graph.localhost` (applications, service
//! principals, passwords, certificates, users, `/me`) and the credentials of the token endpoint
//! it manages (client secrets, certificate assertions, the password grant).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::{Server, url};

fn graph(s: &Server) -> String {
    format!("https://graph.localhost:{}", s.port)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn v2_endpoint(s: &Server) -> String {
    format!(
        "{}/{}/oauth2/v2.0/token",
        s.b("authority"),
        s.b("tenant_id")
    )
}

fn v1_endpoint(s: &Server) -> String {
    format!("{}/{}/oauth2/token", s.b("authority"), s.b("tenant_id"))
}

/// POSTs a v2 token request; returns status and body.
async fn token_request(s: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s
        .client()
        .post(v2_endpoint(s))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn secret_token(s: &Server, client_id: &str, secret: &str, resource: &str) -> (u16, Value) {
    let scope = format!("{resource}/.default");
    token_request(
        s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", &scope),
        ],
    )
    .await
}

/// A Graph token of the bootstrap administrator.
async fn admin_graph_token(s: &Server) -> String {
    let (st, v) = secret_token(s, &s.b("client_id"), &s.b("client_secret"), &graph(s)).await;
    assert_eq!(st, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// Calls the Graph endpoint; returns status, headers and body (Null when empty).
async fn call(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let c = s.client();
    let mut rb = c.request(method.parse().unwrap(), format!("{}{path}", graph(s)));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, headers, v)
}

fn assert_graph_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    for k in ["date", "request-id", "client-request-id"] {
        assert!(v["error"]["innerError"][k].is_string(), "{k} in {v}");
    }
}

async fn create_app(s: &Server, admin: &str, name: &str) -> Value {
    let (st, _, v) = call(
        s,
        "POST",
        "/v1.0/applications",
        Some(admin),
        Some(json!({ "displayName": name })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v
}

async fn add_password(s: &Server, admin: &str, app_object_id: &str) -> Value {
    let (st, _, v) = call(
        s,
        "POST",
        &format!("/v1.0/applications/{app_object_id}/addPassword"),
        Some(admin),
        Some(json!({ "passwordCredential": { "displayName": "test secret" } })),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v
}

#[tokio::test]
async fn graph_applications_service_principals_and_client_secrets() {
    let s = Server::start();
    let admin = admin_graph_token(&s).await;

    // Authentication comes first, in Graph's envelope, with a challenge.
    let (st, h, v) = call(&s, "GET", "/v1.0/applications", None, None).await;
    assert_eq!(st, 401);
    assert_graph_error(&v, "InvalidAuthenticationToken");
    assert!(h.contains_key("www-authenticate"));
    let vault_token = s.token().await;
    let (st, h, v) = call(&s, "GET", "/v1.0/applications", Some(&vault_token), None).await;
    assert_eq!(st, 401, "{v}");
    assert!(h.contains_key("www-authenticate"));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("audience"),
        "{v}"
    );

    // Two look-alike applications: same display name, every id distinct.
    let a = create_app(&s, &admin, "look-alike").await;
    let b = create_app(&s, &admin, "look-alike").await;
    assert!(
        a["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#applications/$entity")
    );
    for app in [&a, &b] {
        assert_ne!(app["id"], app["appId"]);
        assert_eq!(app["passwordCredentials"], json!([]));
    }
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["appId"], b["appId"]);

    let filter = "/v1.0/servicePrincipals?$filter=displayName%20eq%20'look-alike'";
    let (st, _, v) = call(&s, "GET", filter, Some(&admin), None).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#servicePrincipals")
    );
    let sps = v["value"].as_array().unwrap();
    assert_eq!(sps.len(), 2, "{v}");
    let sp_of = |app: &Value| {
        sps.iter()
            .find(|sp| sp["appId"] == app["appId"])
            .unwrap()
            .clone()
    };
    let (sp_a, sp_b) = (sp_of(&a), sp_of(&b));
    assert_ne!(sp_a["id"], sp_b["id"]);
    assert_ne!(
        sp_a["id"], a["id"],
        "the SP's object id is not the application's"
    );
    assert_eq!(sp_a["servicePrincipalNames"], json!([a["appId"]]));
    let (_, _, v) = call(
        &s,
        "GET",
        "/v1.0/servicePrincipals?$filter=startswith(displayName,'LOOK-')",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2, "{v}");
    // The Azure CLI's object-id look-up.
    let (st, _, v) = call(
        &s,
        "GET",
        &format!(
            "/v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c%20eq%20'{}')",
            a["appId"].as_str().unwrap()
        ),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert_eq!(v["value"][0]["id"], sp_a["id"]);
    let (st, _, v) = call(
        &s,
        "GET",
        &format!("/v1.0/servicePrincipals/{}", sp_b["id"].as_str().unwrap()),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["appId"], b["appId"]);
    let (st, _, v) = call(
        &s,
        "GET",
        "/v1.0/servicePrincipals?$filter=mail%20eq%20'x'",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert_graph_error(&v, "Request_UnsupportedQuery");

    // By object id (any case of the path) and by appId key.
    let a_id = a["id"].as_str().unwrap();
    let a_app_id = a["appId"].as_str().unwrap();
    let (st, _, v) = call(
        &s,
        "GET",
        &format!("/V1.0/Applications/{a_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["appId"], a["appId"]);
    let (st, _, v) = call(
        &s,
        "GET",
        &format!("/v1.0/applications(appId='{a_app_id}')"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["id"], a["id"]);
    let (_, _, v) = call(&s, "GET", "/v1.0/applications", Some(&admin), None).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 3, "{v}");

    // addPassword: the secret is shown once and works at the token endpoint.
    let p = add_password(&s, &admin, a_id).await;
    let secret = p["secretText"].as_str().unwrap().to_owned();
    assert_eq!(p["hint"], secret[..3]);
    assert!(
        p["endDateTime"].is_string() && p["keyId"].is_string(),
        "{p}"
    );
    let (_, _, v) = call(
        &s,
        "GET",
        &format!("/v1.0/applications/{a_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(v["passwordCredentials"][0]["keyId"], p["keyId"]);
    assert_eq!(v["passwordCredentials"][0]["secretText"], Value::Null);
    assert!(!v.to_string().contains(&secret));
    let r = s
        .client()
        .post(v1_endpoint(&s))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", a_app_id),
            ("client_secret", &secret),
            ("resource", &s.b("vault_resource")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["appid"], a["appId"]);
    assert_eq!(c["oid"], sp_a["id"]);
    assert_eq!(c["appidacr"], "1");

    // A principal that is not an administrator reads, but does not write; it has no /me.
    let (st, t) = secret_token(&s, a_app_id, &secret, &graph(&s)).await;
    assert_eq!(st, 200, "{t}");
    let app_graph = t["access_token"].as_str().unwrap().to_owned();
    let (st, _, v) = call(&s, "GET", "/v1.0/servicePrincipals", Some(&app_graph), None).await;
    assert_eq!(st, 200, "{v}");
    let (st, _, v) = call(
        &s,
        "POST",
        "/v1.0/applications",
        Some(&app_graph),
        Some(json!({"displayName": "sneaky"})),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    assert_graph_error(&v, "Authorization_RequestDenied");
    let (st, _, v) = call(
        &s,
        "POST",
        &format!("/v1.0/applications/{a_id}/addPassword"),
        Some(&app_graph),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    let (st, _, v) = call(&s, "GET", "/v1.0/me", Some(&app_graph), None).await;
    assert_eq!(st, 400, "{v}");
    assert_graph_error(&v, "BadRequest");
    assert_eq!(
        v["error"]["message"],
        "/me request is only valid with delegated authentication flow."
    );

    // removePassword: the secret stops working.
    let (st, _, v) = call(
        &s,
        "POST",
        &format!("/v1.0/applications(appId='{a_app_id}')/removePassword"),
        Some(&admin),
        Some(json!({ "keyId": p["keyId"] })),
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let (st, v) = secret_token(&s, a_app_id, &secret, &s.b("vault_resource")).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"][0], 7000215);
    let (st, _, v) = call(
        &s,
        "POST",
        &format!("/v1.0/applications/{a_id}/removePassword"),
        Some(&admin),
        Some(json!({ "keyId": p["keyId"] })),
    )
    .await;
    assert_eq!(st, 404, "{v}");

    // Bad input: 400/404 in Graph's envelope, never a 500.
    let bad: [(&str, &str, Option<Value>, u16, &str); 8] = [
        (
            "POST",
            "/v1.0/applications",
            Some(json!([1])),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/v1.0/applications",
            Some(json!({})),
            400,
            "Request_BadRequest",
        ),
        (
            "POST",
            "/v1.0/applications",
            Some(json!({"displayName": 5})),
            400,
            "Request_BadRequest",
        ),
        (
            "GET",
            "/v1.0/applications/00000000-0000-0000-0000-000000000000",
            None,
            404,
            "Request_ResourceNotFound",
        ),
        (
            "GET",
            "/v1.0/users/nobody@x.test",
            None,
            404,
            "Request_ResourceNotFound",
        ),
        ("GET", "/v1.0/groups", None, 400, "BadRequest"),
        ("GET", "/v2.5/applications", None, 400, "BadRequest"),
        (
            "PUT",
            "/v1.0/applications",
            Some(json!({})),
            405,
            "Request_BadRequest",
        ),
    ];
    for (method, path, body, status, code) in bad {
        let (st, _, v) = call(&s, method, path, Some(&admin), body).await;
        assert_eq!(st, status, "{method} {path}: {v}");
        assert_graph_error(&v, code);
    }
    let r = s
        .client()
        .post(format!("{}/v1.0/applications", graph(&s)))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Deleting an application removes its service principal; the bootstrap admin stays.
    let b_id = b["id"].as_str().unwrap();
    let (st, _, _) = call(
        &s,
        "DELETE",
        &format!("/v1.0/applications/{b_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _, v) = call(
        &s,
        "GET",
        &format!("/v1.0/applications/{b_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 404);
    assert_graph_error(&v, "Request_ResourceNotFound");
    let (_, _, v) = call(&s, "GET", filter, Some(&admin), None).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let (st, _, v) = call(
        &s,
        "GET",
        &format!("/v1.0/servicePrincipals/{}", sp_b["id"].as_str().unwrap()),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 404, "{v}");
    let (st, _, v) = call(
        &s,
        "DELETE",
        &format!("/v1.0/applications(appId='{}')", s.b("client_id")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 400, "{v}");
    // POST servicePrincipals for an existing app returns its (only) service principal.
    let (st, _, v) = call(
        &s,
        "POST",
        "/v1.0/servicePrincipals",
        Some(&admin),
        Some(json!({ "appId": a_app_id })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["id"], sp_a["id"]);
}

#[tokio::test]
async fn users_sign_in_through_an_application_with_the_password_grant() {
    let s = Server::start();
    let admin = admin_graph_token(&s).await;
    let app = create_app(&s, &admin, "user-facing app").await;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let app_oid = app["id"].as_str().unwrap().to_owned();
    let secret = add_password(&s, &admin, &app_oid).await["secretText"]
        .as_str()
        .unwrap()
        .to_owned();

    let upn = "alice@coffer.test";
    let password = "Corr3ct-Horse";
    let (st, _, user) = call(
        &s,
        "POST",
        "/v1.0/users",
        Some(&admin),
        Some(json!({
            "accountEnabled": true,
            "displayName": "Alice",
            "mailNickname": "alice",
            "userPrincipalName": upn,
            "passwordProfile": { "forceChangePasswordNextSignIn": false, "password": password },
        })),
    )
    .await;
    assert_eq!(st, 201, "{user}");
    assert!(!user.to_string().contains(password));
    let user_id = user["id"].as_str().unwrap().to_owned();
    for (body, what) in [
        (
            json!({"displayName": "A2", "userPrincipalName": "ALICE@coffer.test", "passwordProfile": {"password": password}}),
            "userPrincipalName",
        ),
        (
            json!({"displayName": "Bob", "userPrincipalName": "bob@coffer.test", "passwordProfile": {"password": "weak"}}),
            "password",
        ),
        (
            json!({"displayName": "Bob", "userPrincipalName": "bob", "passwordProfile": {"password": password}}),
            "userPrincipalName",
        ),
    ] {
        let (st, _, v) = call(&s, "POST", "/v1.0/users", Some(&admin), Some(body)).await;
        assert_eq!(st, 400, "{v}");
        assert_graph_error(&v, "Request_BadRequest");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(what),
            "{v}"
        );
    }
    let (st, _, v) = call(
        &s,
        "GET",
        "/v1.0/users/Alice@Coffer.Test",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["id"], user["id"]);
    let (_, _, v) = call(&s, "GET", "/v1.0/users", Some(&admin), None).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);

    // The password grant: a token for the user (oid) through the application (appid).
    let vault_scope = format!("{}/.default", s.b("vault_resource"));
    let grant = |client_secret: Option<&str>, pw: &str, scope: &str| {
        let mut f = vec![
            ("grant_type".to_owned(), "password".to_owned()),
            ("client_id".to_owned(), app_id.clone()),
            ("username".to_owned(), upn.to_owned()),
            ("password".to_owned(), pw.to_owned()),
            (
                "scope".to_owned(),
                format!("{scope} openid profile offline_access"),
            ),
        ];
        if let Some(cs) = client_secret {
            f.push(("client_secret".to_owned(), cs.to_owned()));
        }
        f
    };
    let post = |form: Vec<(String, String)>| {
        let c = s.client();
        let ep = v2_endpoint(&s);
        async move {
            let r = c.post(ep).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, t) = post(grant(Some(&secret), password, &vault_scope)).await;
    assert_eq!(st, 200, "{t}");
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], user_id);
    assert_eq!(c["sub"], user_id);
    assert_eq!(c["appid"], app_id);
    assert_eq!(c["upn"], upn);
    assert_eq!(c["aud"], s.b("vault_resource"));
    assert!(c["scp"].is_string());
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], app_id);
    assert_eq!(id["preferred_username"], upn);
    let ci: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ci["uid"], user_id);

    // No access policy names the user: the vault says who was refused.
    let r = s
        .client()
        .get(url(&s, "/secrets"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&user_id) && msg.contains(&app_id), "{msg}");

    // Failures, AADSTS-style.
    let (st, v) = post(grant(Some(&secret), "Wrong-Passw0rd", &vault_scope)).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["error_codes"][0], 50126);
    let (st, v) = post(grant(None, password, &vault_scope)).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error_codes"][0], 7000218);
    let (st, v) = post(grant(Some("nope"), password, &vault_scope)).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error_codes"][0], 7000215);

    // A user's Graph token has /me.
    let graph_scope = format!("{}/.default", graph(&s));
    let (st, t) = post(grant(Some(&secret), password, &graph_scope)).await;
    assert_eq!(st, 200, "{t}");
    let user_graph = t["access_token"].as_str().unwrap().to_owned();
    let (st, _, v) = call(&s, "GET", "/v1.0/me", Some(&user_graph), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["userPrincipalName"], upn);
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#users/$entity")
    );
    let (st, _, v) = call(
        &s,
        "POST",
        "/v1.0/users",
        Some(&user_graph),
        Some(json!({"displayName": "x"})),
    )
    .await;
    assert_eq!(st, 403, "{v}");

    // A public client (isFallbackPublicClient) needs no client secret for the password grant.
    let (st, _, v) = call(
        &s,
        "PATCH",
        &format!("/v1.0/applications/{app_oid}"),
        Some(&admin),
        Some(json!({ "isFallbackPublicClient": true })),
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let (st, t) = post(grant(None, password, &vault_scope)).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(claims(t["access_token"].as_str().unwrap())["appidacr"], "0");

    // A disabled or deleted user cannot sign in.
    let (st, _, _) = call(
        &s,
        "PATCH",
        &format!("/v1.0/users/{user_id}"),
        Some(&admin),
        Some(json!({ "accountEnabled": false })),
    )
    .await;
    assert_eq!(st, 204);
    let (_, v) = post(grant(None, password, &vault_scope)).await;
    assert_eq!(v["error_codes"][0], 50057, "{v}");
    let (st, _, _) = call(
        &s,
        "DELETE",
        &format!("/v1.0/users/{upn}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, v) = post(grant(None, password, &vault_scope)).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"][0], 50126);
}

/// A self-signed RSA certificate and its key, as a client would make one.
fn certificate() -> (Vec<u8>, EncodingKey) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client.coffer.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let enc = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap();
    (cert.der().to_vec(), enc)
}

fn thumbprint(alg: &'static aws_lc_rs::digest::Algorithm, der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(alg, der).as_ref())
}

struct Assertion<'a> {
    alg: Algorithm,
    x5t: Option<String>,
    x5t_s256: Option<String>,
    claims: Value,
    key: &'a EncodingKey,
}

impl Assertion<'_> {
    fn sign(&self) -> String {
        let mut h = Header::new(self.alg);
        h.x5t = self.x5t.clone();
        h.x5t_s256 = self.x5t_s256.clone();
        jsonwebtoken::encode(&h, &self.claims, self.key).unwrap()
    }
}

#[tokio::test]
async fn certificate_credentials_sign_client_assertions() {
    let s = Server::start();
    let admin = admin_graph_token(&s).await;
    let app = create_app(&s, &admin, "cert app").await;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let app_oid = app["id"].as_str().unwrap().to_owned();
    let (der, key) = certificate();
    let (other_der, other_key) = certificate();

    // Garbage is refused with a 400 that says what is wrong.
    for garbage in [STANDARD.encode(b"not a certificate"), "%%%".to_owned()] {
        let (st, _, v) = call(
            &s,
            "PATCH",
            &format!("/v1.0/applications/{app_oid}"),
            Some(&admin),
            Some(json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": garbage}]})),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        assert_graph_error(&v, "Request_BadRequest");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("'key'"),
            "{v}"
        );
    }
    let (st, _, v) = call(
        &s,
        "PATCH",
        &format!("/v1.0/applications/{app_oid}"),
        Some(&admin),
        Some(json!({"keyCredentials": [{
            "type": "AsymmetricX509Cert", "usage": "Verify",
            "key": STANDARD.encode(&der), "displayName": "CN=client"
        }]})),
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let (_, _, v) = call(
        &s,
        "GET",
        &format!("/v1.0/applications/{app_oid}"),
        Some(&admin),
        None,
    )
    .await;
    let kc = &v["keyCredentials"][0];
    assert_eq!(kc["type"], "AsymmetricX509Cert");
    assert_eq!(kc["usage"], "Verify");
    assert_eq!(kc["key"], Value::Null);
    let sha1 = thumbprint(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(
            STANDARD
                .decode(kc["customKeyIdentifier"].as_str().unwrap())
                .unwrap()
        ),
        sha1
    );
    assert!(kc["endDateTime"].is_string());

    let n = now();
    let good_claims = json!({
        "aud": v2_endpoint(&s), "iss": app_id, "sub": app_id,
        "jti": "8d1b9c9e-assertion-1", "nbf": n, "iat": n, "exp": n + 600,
    });
    let assertion_form = |assertion: String, v1: bool| {
        let mut f = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), app_id.clone()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion),
        ];
        if v1 {
            f.push(("resource".to_owned(), s.b("vault_resource")));
        } else {
            f.push((
                "scope".to_owned(),
                format!("{}/.default", s.b("vault_resource")),
            ));
        }
        f
    };
    let post = |form: Vec<(String, String)>, v1: bool| {
        let c = s.client();
        let ep = if v1 { v1_endpoint(&s) } else { v2_endpoint(&s) };
        async move {
            let r = c.post(ep).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // RS256 with x5t: a token with appidacr "2", usable at the vault (which refuses for want of
    // a policy, naming the caller).
    let a = Assertion {
        alg: Algorithm::RS256,
        x5t: Some(sha1.clone()),
        x5t_s256: None,
        claims: good_claims.clone(),
        key: &key,
    };
    let (st, t) = post(assertion_form(a.sign(), false), false).await;
    assert_eq!(st, 200, "{t}");
    let token = t["access_token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(c["appid"], app_id);
    assert_eq!(c["appidacr"], "2");
    let r = s
        .client()
        .get(url(&s, "/secrets"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(body.contains(&app_id), "{body}");

    // PS256 with x5t#S256, and the v1 endpoint with its own audience.
    let a = Assertion {
        alg: Algorithm::PS256,
        x5t: None,
        x5t_s256: Some(thumbprint(&aws_lc_rs::digest::SHA256, &der)),
        claims: good_claims.clone(),
        key: &key,
    };
    let (st, t) = post(assertion_form(a.sign(), false), false).await;
    assert_eq!(st, 200, "{t}");
    let mut v1_claims = good_claims.clone();
    v1_claims["aud"] = v1_endpoint(&s).into();
    let a = Assertion {
        alg: Algorithm::RS256,
        x5t: Some(sha1.clone()),
        x5t_s256: None,
        claims: v1_claims,
        key: &key,
    };
    let (st, t) = post(assertion_form(a.sign(), true), true).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["resource"], s.b("vault_resource"));

    // Each broken assertion gets its own AADSTS code.
    let with = |patch: Value| {
        let mut c = good_claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let cases: Vec<(Assertion, u32, &str)> = vec![
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: Some(sha1.clone()),
                x5t_s256: None,
                claims: with(json!({"exp": n - 3600, "nbf": n - 7200})),
                key: &key,
            },
            700024,
            "valid time range",
        ),
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: Some(sha1.clone()),
                x5t_s256: None,
                claims: good_claims.clone(),
                key: &other_key,
            },
            700027,
            "signature",
        ),
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: Some(thumbprint(
                    &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    &other_der,
                )),
                x5t_s256: None,
                claims: good_claims.clone(),
                key: &other_key,
            },
            700027,
            "not registered",
        ),
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: None,
                x5t_s256: None,
                claims: good_claims.clone(),
                key: &key,
            },
            700027,
            "x5t",
        ),
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: Some(sha1.clone()),
                x5t_s256: None,
                claims: with(json!({"aud": "https://login.example/other/oauth2/v2.0/token"})),
                key: &key,
            },
            50027,
            "audience",
        ),
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: Some(sha1.clone()),
                x5t_s256: None,
                claims: with(json!({"iss": "someone-else"})),
                key: &key,
            },
            700021,
            "client_id",
        ),
        (
            Assertion {
                alg: Algorithm::RS256,
                x5t: Some(sha1.clone()),
                x5t_s256: None,
                claims: with(json!({"jti": null})),
                key: &key,
            },
            50027,
            "jti",
        ),
    ];
    for (a, code, text) in cases {
        let (st, v) = post(assertion_form(a.sign(), false), false).await;
        assert_eq!(st, 401, "{text}: {v}");
        assert_eq!(v["error"], "invalid_client", "{text}: {v}");
        assert_eq!(v["error_codes"][0], code, "{text}: {v}");
        let d = v["error_description"].as_str().unwrap();
        assert!(d.contains(text), "{text}: {d}");
    }
    // An HMAC "assertion" keyed with anything is not accepted.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good_claims,
        &EncodingKey::from_secret(&der),
    )
    .unwrap();
    let (st, v) = post(assertion_form(hs, false), false).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error_codes"][0], 50027);
    let mut form = assertion_form(a_sign_garbage(), false);
    form[2].1 = "urn:something-else".to_owned();
    let (st, v) = post(form, false).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error_codes"][0], 50027);

    // Replacing the collection without the certificate revokes it.
    let (st, _, _) = call(
        &s,
        "PATCH",
        &format!("/v1.0/applications/{app_oid}"),
        Some(&admin),
        Some(json!({"keyCredentials": []})),
    )
    .await;
    assert_eq!(st, 204);
    let a = Assertion {
        alg: Algorithm::RS256,
        x5t: Some(sha1),
        x5t_s256: None,
        claims: good_claims,
        key: &key,
    };
    let (st, v) = post(assertion_form(a.sign(), false), false).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error_codes"][0], 700027);
}

fn a_sign_garbage() -> String {
    "a.b.c".to_owned()
}
