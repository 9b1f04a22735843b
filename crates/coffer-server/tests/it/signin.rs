//! Interactive sign-in over HTTPS, driven by hand as a browser would: the authorization code
//! flow with PKCE (GET `/authorize`, read the form's CSRF field and the binding cookie, POST the
//! form, read the `Location`), the token endpoint's code and refresh grants, the pages' errors
//! and lockout, and the device code flow with its code-entry page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{Server, url};

const PASSWORD: &str = "Corr3ct-Horse";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://localhost:8400/";

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A browser-like client: it does not follow redirects (the test reads `Location`).
fn browser(s: &Server) -> reqwest::Client {
    s.client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn login(s: &Server) -> String {
    format!("{}/{}", s.b("authority"), s.b("tenant_id"))
}

async fn graph_call(s: &Server, method: &str, path: &str, body: Value) -> Value {
    let admin = s
        .token_for(&s.client(), &format!("https://graph.localhost:{}", s.port))
        .await;
    let r = s
        .client()
        .request(
            method.parse().unwrap(),
            format!("https://graph.localhost:{}{path}", s.port),
        )
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// A public client app (loopback redirect, public client flows) and a user.
async fn app_and_user(s: &Server, upn: &str) -> (String, String) {
    let app = graph_call(
        s,
        "POST",
        "/v1.0/applications",
        json!({
            "displayName": "desktop app",
            "isFallbackPublicClient": true,
            "publicClient": { "redirectUris": ["http://localhost"] },
            "web": { "redirectUris": ["https://web.coffer.test/cb"] },
        }),
    )
    .await;
    assert_eq!(
        app["publicClient"]["redirectUris"],
        json!(["http://localhost"])
    );
    let user = graph_call(
        s,
        "POST",
        "/v1.0/users",
        json!({
            "displayName": "Alice",
            "userPrincipalName": upn,
            "passwordProfile": { "password": PASSWORD },
        }),
    )
    .await;
    (
        app["appId"].as_str().unwrap().to_owned(),
        user["id"].as_str().unwrap().to_owned(),
    )
}

/// The value of a hidden or text input named `name` in a page.
fn input(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

fn set_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-coffer-signin="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// A page as the browser got it: status, body, the cookie it carries on.
struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    html: String,
}

async fn get_page(c: &reqwest::Client, u: &str, cookie: &mut Option<String>) -> Page {
    let mut rb = c.get(u);
    if let Some(k) = cookie.as_deref() {
        rb = rb.header("cookie", k);
    }
    let r = rb.send().await.unwrap();
    if let Some(k) = set_cookie(&r) {
        *cookie = Some(k);
    }
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        html: r.text().await.unwrap(),
    }
}

async fn post_form(
    c: &reqwest::Client,
    u: &str,
    cookie: &Option<String>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = c.post(u).form(form);
    if let Some(k) = cookie.as_deref() {
        rb = rb.header("cookie", k);
    }
    rb.send().await.unwrap()
}

fn authorize_url(s: &Server, client_id: &str, extra: &[(&str, &str)]) -> String {
    let scope = format!(
        "{}/.default openid profile offline_access",
        s.b("vault_resource")
    );
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", &scope)
        .append_pair("state", "st-1")
        .append_pair("nonce", "nonce-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{}/oauth2/v2.0/authorize?{}", login(s), q.finish())
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

async fn token(s: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s
        .client()
        .post(format!("{}/oauth2/v2.0/token", login(s)))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_code_with_pkce_then_refresh() {
    let s = Server::start();
    let (app_id, user_id) = app_and_user(&s, "alice@coffer.test").await;
    let c = browser(&s);
    let mut cookie = None;

    let page = get_page(
        &c,
        &authorize_url(&s, &app_id, &[("login_hint", "alice@coffer.test")]),
        &mut cookie,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(cookie.is_some(), "the page binds itself to a cookie");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("form-action 'self' http://localhost:8400"),
        "{csp}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.html.contains("<script"));
    assert_eq!(
        input(&page.html, "login").as_deref(),
        Some("alice@coffer.test")
    );
    let csrf = input(&page.html, "csrf").expect("a CSRF field");

    let form_url = format!("{}/login", login(&s));
    let r = post_form(
        &c,
        &form_url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("login", "alice@coffer.test"),
            ("passwd", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let q = query_of(&location);
    assert_eq!(param(&q, "state").as_deref(), Some("st-1"));
    let code = param(&q, "code").expect("a code");

    // The page was single use.
    let again = post_form(
        &c,
        &form_url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("login", "alice@coffer.test"),
            ("passwd", PASSWORD),
        ],
    )
    .await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("AADSTS50089"));

    let redeem = |verifier: &'static str| {
        let code = code.clone();
        let app_id = app_id.clone();
        let s = &s;
        async move {
            token(
                s,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &app_id),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                    ("client_info", "1"),
                    (
                        "scope",
                        &format!(
                            "{}/.default openid profile offline_access",
                            s.b("vault_resource")
                        ),
                    ),
                ],
            )
            .await
        }
    };
    let (st, v) = redeem("wrong-verifier-wrong-verifier-wrong-verifier-x").await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["error_codes"][0], 501481);
    let (st, t) = redeem(VERIFIER).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["expires_in"].is_i64());
    let scope = t["scope"].as_str().unwrap();
    assert!(
        scope.contains(&format!("{}/.default", s.b("vault_resource"))),
        "{scope}"
    );
    let at = claims(t["access_token"].as_str().unwrap());
    assert_eq!(at["oid"], user_id.as_str());
    assert_eq!(at["appid"], app_id.as_str());
    assert_eq!(at["aud"], s.b("vault_resource"));
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["aud"], app_id.as_str());
    assert_eq!(id["preferred_username"], "alice@coffer.test");
    let info: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info, json!({"uid": user_id, "utid": s.b("tenant_id")}));
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    assert!(!rt.contains('.'), "an opaque refresh token, not a JWT");

    // The code is single use.
    let (st, v) = redeem(VERIFIER).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"][0], 54005);

    // The vault authenticates the user (no policy names them, so it refuses by name).
    let r = s
        .client()
        .get(url(&s, "/secrets"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains(&user_id));

    // Refresh, for another resource; the old refresh token is spent.
    let mgmt_scope = format!("{}/.default offline_access", s.b("management_url") + "/");
    let (st, t2) = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app_id),
            ("refresh_token", &rt),
            ("scope", &mgmt_scope),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t2}");
    assert_eq!(
        claims(t2["access_token"].as_str().unwrap())["aud"],
        format!("{}/", s.b("management_url"))
    );
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt2, rt);
    let (st, v) = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app_id),
            ("refresh_token", &rt),
            ("scope", &mgmt_scope),
        ],
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "invalid_grant");

    // Revoking the user's sessions revokes the refresh token; the store never held it.
    graph_call(
        &s,
        "POST",
        &format!("/v1.0/users/{user_id}/revokeSignInSessions"),
        json!({}),
    )
    .await;
    let (st, v) = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app_id),
            ("refresh_token", rt2),
            ("scope", &mgmt_scope),
        ],
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error_codes"][0], 50173);
    let db = std::fs::read(s.data_dir().join("coffer.db")).unwrap();
    let wal = std::fs::read(s.data_dir().join("coffer.db-wal")).unwrap_or_default();
    for secret in [rt.as_str(), rt2, code.as_str()] {
        let needle = secret.as_bytes();
        assert!(
            !db.windows(needle.len()).any(|w| w == needle)
                && !wal.windows(needle.len()).any(|w| w == needle),
            "a code or refresh token is stored in the clear"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_errors_and_lockout() {
    let s = Server::start();
    let (app_id, _) = app_and_user(&s, "bob@coffer.test").await;
    let c = browser(&s);
    let mut cookie = None;

    // An unregistered redirect URI: the error stays on the page, never redirected.
    let bad = authorize_url(&s, &app_id, &[]).replace(
        "redirect_uri=http%3A%2F%2Flocalhost%3A8400%2F",
        "redirect_uri=https%3A%2F%2Fevil.example%2F",
    );
    let r = c.get(&bad).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("AADSTS50011"), "{html}");
    assert!(html.contains("https://evil.example/"));
    let r = c
        .get(authorize_url(
            &s,
            "00000000-0000-0000-0000-0000000000aa",
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));

    // Past the redirect check, errors go back to the application.
    let plain = authorize_url(&s, &app_id, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = c.get(&plain).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(param(&q, "error").as_deref(), Some("invalid_request"));
    assert!(
        param(&q, "error_description")
            .unwrap()
            .starts_with("AADSTS9002313")
    );
    assert_eq!(param(&q, "state").as_deref(), Some("st-1"));

    // Bad passwords: a fresh page each time, then the lockout.
    let page = get_page(&c, &authorize_url(&s, &app_id, &[]), &mut cookie).await;
    let mut csrf = input(&page.html, "csrf").unwrap();
    let form_url = format!("{}/login", login(&s));
    for _ in 0..5 {
        let r = post_form(
            &c,
            &form_url,
            &cookie,
            &[
                ("csrf", &csrf),
                ("login", "bob@coffer.test"),
                ("passwd", "Wrong-Passw0rd"),
            ],
        )
        .await;
        assert_eq!(r.status(), 400);
        let html = r.text().await.unwrap();
        assert!(html.contains("AADSTS50126"), "{html}");
        csrf = input(&html, "csrf").unwrap();
    }
    let r = post_form(
        &c,
        &form_url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("login", "bob@coffer.test"),
            ("passwd", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50053"));

    // A form posted without the page's cookie (another site's form) is refused.
    let page = get_page(&c, &authorize_url(&s, &app_id, &[]), &mut cookie).await;
    let csrf = input(&page.html, "csrf").unwrap();
    let r = post_form(
        &c,
        &form_url,
        &None,
        &[
            ("csrf", &csrf),
            ("login", "bob@coffer.test"),
            ("passwd", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50089"));
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_flow() {
    let s = Server::start();
    let (app_id, user_id) = app_and_user(&s, "carol@coffer.test").await;

    let disco: Value = s
        .client()
        .get(format!(
            "{}/v2.0/.well-known/openid-configuration",
            login(&s)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = disco["device_authorization_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(endpoint, format!("{}/oauth2/v2.0/devicecode", login(&s)));

    let scope = format!("{}/.default offline_access openid", s.b("vault_resource"));
    let r = s
        .client()
        .post(&endpoint)
        .form(&[("client_id", app_id.as_str()), ("scope", &scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    assert_eq!(
        d["verification_uri"],
        format!("{}/devicelogin", s.b("authority"))
    );
    assert_eq!(d["interval"], 5);
    assert_eq!(d["expires_in"], 900);
    assert!(d["message"].as_str().unwrap().contains(&user_code));
    let poll_form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", app_id.as_str()),
        ("device_code", device_code.as_str()),
    ];
    let poll = || token(&s, &poll_form);
    let (st, v) = poll().await;
    assert_eq!(st, 400);
    assert_eq!(v["error"], "authorization_pending");
    assert_eq!(v["error_codes"], json!([70016]));

    let c = browser(&s);
    let mut cookie = None;
    let page = get_page(&c, d["verification_uri"].as_str().unwrap(), &mut cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("name=\"otc\""));
    let devicelogin = format!("{}/devicelogin", s.b("authority"));
    let r = post_form(&c, &devicelogin, &cookie, &[("otc", "BCDFGHJKM")]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS70018"));
    let r = post_form(
        &c,
        &devicelogin,
        &cookie,
        &[("otc", &user_code.to_lowercase())],
    )
    .await;
    assert_eq!(r.status(), 200);
    if let Some(k) = set_cookie(&r) {
        cookie = Some(k);
    }
    let html = r.text().await.unwrap();
    assert!(html.contains("desktop app"), "{html}");
    let csrf = input(&html, "csrf").unwrap();
    let r = post_form(
        &c,
        &format!("{}/login", login(&s)),
        &cookie,
        &[
            ("csrf", &csrf),
            ("login", "carol@coffer.test"),
            ("passwd", PASSWORD),
            ("action", "signin"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("You may now close this window")
    );

    let (st, t) = poll().await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["oid"],
        user_id.as_str()
    );
    assert!(t["refresh_token"].is_string() && t["id_token"].is_string());
    let (st, v) = poll().await;
    assert_eq!(st, 400);
    assert_eq!(v["error"], "bad_verification_code");

    // An app without public client flows cannot start one.
    let confidential = graph_call(
        &s,
        "POST",
        "/v1.0/applications",
        json!({"displayName": "web"}),
    )
    .await;
    let r = s
        .client()
        .post(&endpoint)
        .form(&[
            ("client_id", confidential["appId"].as_str().unwrap()),
            ("scope", &scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_codes"], json!([7000218]));
}
