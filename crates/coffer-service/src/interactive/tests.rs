//! The flows end to end on an in-memory store: codes are single use and bound to what they were
//! issued for, pages are single use and bound to the browser, lockout, refresh token rotation
//! and revocation, the device code flow.

use base64::Engine as _;

use super::*;
use crate::testing::setup;
use crate::{ApplicationSpec, AuthError, NewUser, RedirectUris, TokenRequest};

const PASSWORD: &str = "Corr3ct-Horse";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://localhost:8400";

struct World {
    coffer: Coffer,
    clock: std::sync::Arc<crate::testing::TestClock>,
    tenant: String,
    app_id: String,
    user_id: String,
    vault_scope: String,
}

async fn world() -> World {
    let (coffer, clock, _) = setup().await;
    let tenant = coffer.default_tenant_id().await.unwrap().unwrap();
    let app = coffer
        .register_application(
            &tenant,
            ApplicationSpec {
                display_name: "desktop app".into(),
                public_client: true,
                key_credentials: vec![],
                redirect_uris: RedirectUris {
                    public_client: vec!["http://localhost".into()],
                    web: vec!["https://web.example/cb".into()],
                    spa: vec![],
                },
            },
        )
        .await
        .unwrap();
    let user = coffer
        .create_user(
            &tenant,
            NewUser {
                display_name: "Alice".into(),
                user_principal_name: "alice@coffer.test".into(),
                password: PASSWORD.into(),
                account_enabled: true,
            },
        )
        .await
        .unwrap();
    let vault_scope = format!("{}/.default", coffer.settings().vault_resource());
    World {
        coffer,
        clock,
        tenant,
        app_id: app.app_id,
        user_id: user.object_id,
        vault_scope,
    }
}

impl World {
    fn authorize_request(&self) -> AuthorizeRequest {
        AuthorizeRequest {
            client_id: Some(self.app_id.clone()),
            response_type: Some("code".into()),
            redirect_uri: Some(REDIRECT.into()),
            scope: Some(format!("{} openid offline_access", self.vault_scope)),
            state: Some("st".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            nonce: Some("n-1".into()),
            ..AuthorizeRequest::default()
        }
    }

    async fn page(&self, req: AuthorizeRequest) -> SigninPage {
        self.coffer
            .begin_authorization(&self.tenant, req, true, None)
            .await
            .unwrap()
    }

    fn form(&self, page: &SigninPage, password: &str) -> SigninForm {
        SigninForm {
            csrf: page.csrf.clone(),
            cookie: page.set_cookie.clone(),
            username: "alice@coffer.test".into(),
            password: password.into(),
            decline: false,
        }
    }

    async fn code(&self) -> String {
        let page = self.page(self.authorize_request()).await;
        match self
            .coffer
            .sign_in(&self.tenant, self.form(&page, PASSWORD))
            .await
            .unwrap()
        {
            SigninDone::Reply { target, code } => {
                assert_eq!(target.redirect_uri, REDIRECT);
                assert_eq!(target.state.as_deref(), Some("st"));
                code
            }
            other => panic!("{other:?}"),
        }
    }

    fn code_request(&self, code: &str) -> TokenRequest {
        TokenRequest {
            grant_type: Some("authorization_code".into()),
            client_id: Some(self.app_id.clone()),
            code: Some(code.into()),
            redirect_uri: Some(REDIRECT.into()),
            code_verifier: Some(VERIFIER.into()),
            scope: Some(format!("{} openid offline_access", self.vault_scope)),
            client_info: true,
            ..TokenRequest::default()
        }
    }

    async fn device_start(&self) -> DeviceFlowStart {
        self.coffer
            .start_device_flow(
                &self.tenant,
                Some(&self.app_id),
                Some(&self.vault_scope),
                None,
                true,
            )
            .await
            .unwrap()
    }

    async fn token(&self, req: TokenRequest) -> Result<crate::IssuedGrant, AuthError> {
        self.coffer.issue_token_grant(&self.tenant, req, true).await
    }
}

fn claims(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn a_code_is_redeemed_once_for_the_user_with_its_verifier() {
    let w = world().await;
    let code = w.code().await;

    let mut wrong = w.code_request(&code);
    wrong.code_verifier = Some("x".repeat(43));
    assert!(matches!(
        w.token(wrong).await,
        Err(AuthError::CodeVerifierMismatch)
    ));
    let mut missing = w.code_request(&code);
    missing.code_verifier = None;
    assert!(matches!(
        w.token(missing).await,
        Err(AuthError::MissingParameter("code_verifier"))
    ));
    let mut other_uri = w.code_request(&code);
    other_uri.redirect_uri = Some("http://localhost:9999".into());
    assert!(matches!(
        w.token(other_uri).await,
        Err(AuthError::RedirectUriMismatch { .. })
    ));
    let mut secret = w.code_request(&code);
    secret.client_secret = Some("s".into());
    assert!(matches!(
        w.token(secret).await,
        Err(AuthError::PublicClientWithCredential)
    ));

    let g = w.token(w.code_request(&code)).await.unwrap();
    let at = claims(&g.token.access_token);
    assert_eq!(at["oid"], w.user_id.as_str());
    assert_eq!(at["appid"], w.app_id.as_str());
    assert_eq!(at["appidacr"], "0");
    let id = claims(g.id_token.as_deref().unwrap());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["aud"], w.app_id.as_str());
    assert!(g.refresh_token.is_some());
    assert!(g.client_info.is_some());
    assert!(g.scope.unwrap().contains("/.default"));

    assert!(matches!(
        w.token(w.code_request(&code)).await,
        Err(AuthError::AuthCodeRedeemed)
    ));
    assert!(matches!(
        w.token(w.code_request("not-a-code")).await,
        Err(AuthError::InvalidAuthCode)
    ));
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let w = world().await;
    let code = w.code().await;
    w.clock.advance(601);
    assert!(matches!(
        w.token(w.code_request(&code)).await,
        Err(AuthError::AuthCodeExpired)
    ));
    assert!(w.coffer.purge_expired_signin_records().await.unwrap() >= 1);
    assert!(matches!(
        w.token(w.code_request(&code)).await,
        Err(AuthError::InvalidAuthCode)
    ));
}

#[tokio::test]
async fn pages_are_single_use_and_bound_to_the_browser() {
    let w = world().await;
    let page = w.page(w.authorize_request()).await;
    assert!(page.set_cookie.is_some());
    assert_eq!(page.reply_origin.as_deref(), Some(REDIRECT));

    // Another browser's cookie, or none, does not get through.
    let mut foreign = w.form(&page, PASSWORD);
    foreign.cookie = Some(random_value().unwrap());
    let e = w.coffer.sign_in(&w.tenant, foreign).await.unwrap_err();
    assert!(matches!(e.error, SigninError::PageExpired) && e.page.is_none());
    // That attempt used the page up.
    let e = w
        .coffer
        .sign_in(&w.tenant, w.form(&page, PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(e.error, SigninError::PageExpired));

    // A page rendered for a browser that already has a cookie keeps it.
    let cookie = random_value().unwrap();
    let page = w
        .coffer
        .begin_authorization(&w.tenant, w.authorize_request(), true, Some(&cookie))
        .await
        .unwrap();
    assert!(page.set_cookie.is_none());
    let mut form = w.form(&page, PASSWORD);
    form.cookie = Some(cookie);
    let mut tampered = form.clone();
    tampered.csrf = random_value().unwrap();
    assert!(matches!(
        w.coffer
            .sign_in(&w.tenant, tampered)
            .await
            .unwrap_err()
            .error,
        SigninError::PageExpired
    ));
    assert!(w.coffer.sign_in(&w.tenant, form.clone()).await.is_ok());
    assert!(matches!(
        w.coffer.sign_in(&w.tenant, form).await.unwrap_err().error,
        SigninError::PageExpired
    ));
}

#[tokio::test]
async fn a_bad_password_gets_a_fresh_page_and_five_lock_the_user() {
    let w = world().await;
    let mut page = w.page(w.authorize_request()).await;
    let cookie = page.set_cookie.clone();
    for _ in 0..lockout::THRESHOLD {
        let mut form = w.form(&page, "Wrong-Passw0rd");
        form.cookie = cookie.clone();
        let e = w.coffer.sign_in(&w.tenant, form).await.unwrap_err();
        assert!(matches!(e.error, SigninError::InvalidCredentials), "{e:?}");
        page = e.page.expect("a new page to try again");
        assert_eq!(page.login_hint.as_deref(), Some("alice@coffer.test"));
    }
    // Locked: even the right password is refused for now, through the password grant too.
    let mut form = w.form(&page, PASSWORD);
    form.cookie = cookie.clone();
    let e = w.coffer.sign_in(&w.tenant, form).await.unwrap_err();
    assert!(matches!(e.error, SigninError::Locked(60)), "{e:?}");
    let ropc = TokenRequest {
        grant_type: Some("password".into()),
        client_id: Some(w.app_id.clone()),
        username: Some("alice@coffer.test".into()),
        password: Some(PASSWORD.into()),
        scope: Some(w.vault_scope.clone()),
        ..TokenRequest::default()
    };
    assert!(matches!(
        w.token(ropc).await,
        Err(AuthError::AccountLocked(_))
    ));
    w.clock.advance(61);
    let mut form = w.form(&e.page.unwrap(), PASSWORD);
    form.cookie = cookie;
    assert!(w.coffer.sign_in(&w.tenant, form).await.is_ok());
}

#[tokio::test]
async fn authorize_errors_reach_the_redirect_uri_only_once_it_is_verified() {
    let w = world().await;
    let refuse = |req| async {
        w.coffer
            .begin_authorization(&w.tenant, req, true, None)
            .await
            .unwrap_err()
    };

    let mut r = w.authorize_request();
    r.redirect_uri = Some("http://localhost:8400/other".into());
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Page(SigninError::RedirectMismatch { .. })
    ));
    let mut r = w.authorize_request();
    r.redirect_uri = None;
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Page(SigninError::NoReplyAddress)
    ));
    let mut r = w.authorize_request();
    r.client_id = Some("00000000-0000-0000-0000-000000000001".into());
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Page(SigninError::UnknownClient { .. })
    ));
    assert!(matches!(
        w.coffer
            .begin_authorization("nosuch-tenant", w.authorize_request(), true, None)
            .await
            .unwrap_err(),
        AuthorizeRefusal::Page(SigninError::TenantNotFound(_))
    ));

    // Past the redirect check, errors go back to the application.
    let mut r = w.authorize_request();
    r.code_challenge = None;
    r.code_challenge_method = None;
    match refuse(r).await {
        AuthorizeRefusal::Reply { target, error } => {
            assert!(matches!(error, SigninError::PkceRequired));
            assert_eq!(target.state.as_deref(), Some("st"));
        }
        other => panic!("{other:?}"),
    }
    let mut r = w.authorize_request();
    r.code_challenge_method = Some("plain".into());
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Reply {
            error: SigninError::PlainPkce,
            ..
        }
    ));
    let mut r = w.authorize_request();
    r.response_type = Some("token".into());
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Reply {
            error: SigninError::UnsupportedResponseType(_),
            ..
        }
    ));
    let mut r = w.authorize_request();
    r.prompt = Some("none".into());
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Reply {
            error: SigninError::LoginRequired,
            ..
        }
    ));
    let mut r = w.authorize_request();
    r.scope = Some("https://elsewhere.example/.default".into());
    assert!(matches!(
        refuse(r).await,
        AuthorizeRefusal::Reply {
            error: SigninError::InvalidScope(_),
            ..
        }
    ));

    // The web platform's URI is a confidential client: its code needs the client secret.
    let mut r = w.authorize_request();
    r.redirect_uri = Some("https://web.example/cb".into());
    r.code_challenge = None;
    r.code_challenge_method = None;
    let page = w.page(r).await;
    let SigninDone::Reply { code, .. } = w
        .coffer
        .sign_in(&w.tenant, w.form(&page, PASSWORD))
        .await
        .unwrap()
    else {
        panic!("no code")
    };
    let mut req = w.code_request(&code);
    req.redirect_uri = Some("https://web.example/cb".into());
    req.code_verifier = None;
    assert!(matches!(
        w.token(req).await,
        Err(AuthError::ClientCredentialRequired)
    ));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_can_be_revoked() {
    let w = world().await;
    let code = w.code().await;
    let first = w.token(w.code_request(&code)).await.unwrap();
    let rt = first.refresh_token.unwrap();
    let refresh = |rt: &str, scope: &str| TokenRequest {
        grant_type: Some("refresh_token".into()),
        client_id: Some(w.app_id.clone()),
        refresh_token: Some(rt.into()),
        scope: Some(format!("{scope} offline_access")),
        ..TokenRequest::default()
    };
    // Another resource than the first token's.
    let mgmt = format!("{}/.default", w.coffer.settings().management_resource());
    let second = w.token(refresh(&rt, &mgmt)).await.unwrap();
    assert_eq!(
        claims(&second.token.access_token)["aud"],
        w.coffer.settings().management_resource()
    );
    let rt2 = second.refresh_token.unwrap();
    assert_ne!(rt, rt2);
    assert!(matches!(
        w.token(refresh(&rt, &mgmt)).await,
        Err(AuthError::InvalidRefreshToken)
    ));
    let mut other_client = refresh(&rt2, &mgmt);
    other_client.client_id = Some(crate::AZURE_CLI_APP_ID.into());
    assert!(matches!(
        w.token(other_client).await,
        Err(AuthError::RefreshTokenOtherClient)
    ));
    w.coffer
        .revoke_sign_in_sessions(&w.tenant, &w.user_id)
        .await
        .unwrap();
    assert!(matches!(
        w.token(refresh(&rt2, &w.vault_scope)).await,
        Err(AuthError::RefreshTokenRevoked)
    ));
}

#[tokio::test]
async fn the_device_code_flow() {
    let w = world().await;
    let start = w
        .coffer
        .start_device_flow(
            &w.tenant,
            Some(&w.app_id),
            Some(&format!("{} offline_access openid", w.vault_scope)),
            None,
            true,
        )
        .await
        .unwrap();
    assert_eq!(start.user_code.len(), 9);
    assert!(start.verification_uri.ends_with("/devicelogin"));
    assert!(start.message.contains(&start.user_code));
    let poll = || TokenRequest {
        grant_type: Some("urn:ietf:params:oauth:grant-type:device_code".into()),
        client_id: Some(w.app_id.clone()),
        device_code: Some(start.device_code.clone()),
        ..TokenRequest::default()
    };
    assert!(matches!(
        w.token(poll()).await,
        Err(AuthError::AuthorizationPending)
    ));
    assert!(matches!(
        w.coffer.device_sign_in_page("BCDFGHJKM", None).await,
        Err(SigninError::BadUserCode)
    ));
    let typed = format!(
        " {}-{} ",
        &start.user_code[..4],
        &start.user_code[4..].to_lowercase()
    );
    let page = w.coffer.device_sign_in_page(&typed, None).await.unwrap();
    assert!(page.device);
    assert_eq!(page.app_name, "desktop app");
    match w
        .coffer
        .sign_in(&w.tenant, w.form(&page, PASSWORD))
        .await
        .unwrap()
    {
        SigninDone::DeviceApproved { .. } => {}
        other => panic!("{other:?}"),
    }
    // The code was used: entering it again says so.
    assert!(matches!(
        w.coffer.device_sign_in_page(&start.user_code, None).await,
        Err(SigninError::DeviceFlowDone)
    ));
    let g = w.token(poll()).await.unwrap();
    assert_eq!(claims(&g.token.access_token)["oid"], w.user_id.as_str());
    assert!(g.refresh_token.is_some() && g.id_token.is_some());
    assert!(matches!(
        w.token(poll()).await,
        Err(AuthError::BadDeviceCode)
    ));
}

#[tokio::test]
async fn device_flows_can_be_declined_and_expire() {
    let w = world().await;
    let poll = |d: &DeviceFlowStart| TokenRequest {
        grant_type: Some("urn:ietf:params:oauth:grant-type:device_code".into()),
        client_id: Some(w.app_id.clone()),
        device_code: Some(d.device_code.clone()),
        ..TokenRequest::default()
    };
    let d = w.device_start().await;
    let page = w
        .coffer
        .device_sign_in_page(&d.user_code, None)
        .await
        .unwrap();
    let mut form = w.form(&page, "");
    form.decline = true;
    assert!(matches!(
        w.coffer.sign_in(&w.tenant, form).await.unwrap(),
        SigninDone::DeviceDeclined { .. }
    ));
    assert!(matches!(
        w.token(poll(&d)).await,
        Err(AuthError::AuthorizationDeclined)
    ));

    let d = w.device_start().await;
    w.clock.advance(15 * 60 + 1);
    assert!(matches!(
        w.coffer.device_sign_in_page(&d.user_code, None).await,
        Err(SigninError::UserCodeExpired)
    ));
    assert!(matches!(
        w.token(poll(&d)).await,
        Err(AuthError::DeviceCodeExpired)
    ));

    // An application that does not allow public client flows cannot start one.
    let tenant = w.tenant.clone();
    let confidential = w
        .coffer
        .register_application(
            &tenant,
            ApplicationSpec {
                display_name: "web app".into(),
                ..ApplicationSpec::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        w.coffer
            .start_device_flow(
                &tenant,
                Some(&confidential.app_id),
                Some(&w.vault_scope),
                None,
                true
            )
            .await,
        Err(AuthError::PublicFlowsDisabled(_))
    ));
}

#[tokio::test]
async fn the_azure_cli_is_a_public_client_of_every_tenant() {
    let w = world().await;
    let start = w
        .coffer
        .start_device_flow(
            &w.tenant,
            Some(crate::AZURE_CLI_APP_ID),
            Some(&w.vault_scope),
            None,
            true,
        )
        .await
        .unwrap();
    let page = w
        .coffer
        .device_sign_in_page(&start.user_code, None)
        .await
        .unwrap();
    assert_eq!(page.app_name, "Microsoft Azure CLI");
    // It has no credential: never an app-only token.
    let cc = TokenRequest {
        grant_type: Some("client_credentials".into()),
        client_id: Some(crate::AZURE_CLI_APP_ID.into()),
        client_secret: Some("guess".into()),
        scope: Some(w.vault_scope.clone()),
        ..TokenRequest::default()
    };
    assert!(matches!(
        w.token(cc).await,
        Err(AuthError::InvalidClientSecret(_))
    ));
}
