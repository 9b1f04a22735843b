//! The interactive sign-in's HTTP surface on `login.<domain>`: `/authorize` (v2 and v1), the
//! sign-in form's `/{tenant}/login`, `/devicecode` and the `/devicelogin` code-entry page. The
//! handlers parse, call the service's `interactive` use cases and render `html.rs`; the
//! browser-binding cookie is `__Host-` prefixed (Secure, Path=/, no Domain), HttpOnly and
//! SameSite=Lax, and every page forbids scripts, framing and outside fetches.

mod html;

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_service::{
    AuthorizeRefusal, AuthorizeRequest, Coffer, ReplyTarget, ResponseMode, SigninDone, SigninError,
    SigninForm, SigninPage, SigninRetry,
};
use coffer_wire::token::DeviceCodeResponse;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::error::oauth::{auth_error, oauth_error};
use crate::error::signin::{page_status, reply_params};

/// The cookie that binds a sign-in page to the browser it was shown in.
const COOKIE: &str = "__Host-coffer-signin";
/// Largest form body the sign-in pages accept.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Reads the `application/x-www-form-urlencoded` pairs of a query string or body.
fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name` (a repeated parameter counts once).
fn field(p: &[(String, String)], name: &str) -> Option<String> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Reads a form body, or answers the error page.
async fn read_form(req: Request, request_id: &str) -> Result<Vec<(String, String)>, Response> {
    match crate::body::read(req.into_body(), MAX_FORM_BYTES).await {
        Ok(b) => Ok(pairs(&b)),
        Err(e) => {
            let status = match e {
                crate::body::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                crate::body::BodyError::Malformed => StatusCode::BAD_REQUEST,
                crate::body::BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            };
            Err(html_response(
                status,
                html::error(&format!("AADSTS90014: {e}"), request_id),
                None,
                None,
            ))
        }
    }
}

/// An HTML answer with the pages' security headers; `reply_origin` may also receive the form.
fn html_response(
    status: StatusCode,
    body: String,
    set_cookie: Option<&str>,
    reply_origin: Option<&str>,
) -> Response {
    let form_action = match reply_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; \
frame-ancestors 'none'; base-uri 'none'"
    );
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(c) = set_cookie
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={c}; Path=/; Secure; HttpOnly; SameSite=Lax"
        ))
    {
        h.insert(header::SET_COOKIE, v);
    }
    resp
}

fn error_page(e: &SigninError, request_id: &str) -> Response {
    html_response(
        page_status(e),
        html::error(&e.to_string(), request_id),
        None,
        None,
    )
}

/// The sign-in form for `page`, with the error of a refused attempt.
fn signin_page(page: &SigninPage, error: Option<&SigninError>, request_id: &str) -> Response {
    let action = format!("/{}/login", page.tenant_id);
    let message = error.map(ToString::to_string);
    let body = html::signin(&html::SigninView {
        action: &action,
        csrf: &page.csrf,
        app_name: &page.app_name,
        login_hint: page.login_hint.as_deref(),
        device: page.device,
        error: message.as_deref().map(|m| (m, request_id)),
    });
    let status = error.map_or(StatusCode::OK, page_status);
    html_response(
        status,
        body,
        page.set_cookie.as_deref(),
        page.reply_origin.as_deref(),
    )
}

/// Sends `params` (plus `state`) back to the application's verified redirect URI.
fn reply(target: &ReplyTarget, mut params: Vec<(&'static str, String)>) -> Response {
    if let Some(s) = &target.state {
        params.push(("state", s.clone()));
    }
    match target.response_mode {
        ResponseMode::Query => {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                q.append_pair(k, v);
            }
            let sep = if target.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            let location = format!("{}{sep}{}", target.redirect_uri, q.finish());
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            resp
        }
        ResponseMode::FormPost => {
            let fields: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let origin = coffer_service::origin_of(&target.redirect_uri);
            html_response(
                StatusCode::OK,
                html::form_post(&target.redirect_uri, &fields),
                None,
                origin.as_deref(),
            )
        }
    }
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize` (`v2`) and `/{tenant}/oauth2/authorize`.
pub(crate) async fn authorize(
    app: Arc<Coffer>,
    tenant: String,
    req: Request,
    v2: bool,
    request_id: String,
) -> Response {
    let browser = cookie(req.headers());
    let params = if req.method() == Method::POST {
        match read_form(req, &request_id).await {
            Ok(p) => p,
            Err(resp) => return resp,
        }
    } else {
        pairs(req.uri().query().unwrap_or_default().as_bytes())
    };
    let f = |n: &str| field(&params, n);
    let areq = AuthorizeRequest {
        client_id: f("client_id"),
        response_type: f("response_type"),
        redirect_uri: f("redirect_uri"),
        scope: f("scope"),
        resource: f("resource"),
        state: f("state"),
        code_challenge: f("code_challenge"),
        code_challenge_method: f("code_challenge_method"),
        nonce: f("nonce"),
        prompt: f("prompt"),
        login_hint: f("login_hint"),
        response_mode: f("response_mode"),
    };
    match app
        .begin_authorization(&tenant, areq, v2, browser.as_deref())
        .await
    {
        Ok(page) => signin_page(&page, None, &request_id),
        Err(AuthorizeRefusal::Page(e)) => error_page(&e, &request_id),
        Err(AuthorizeRefusal::Reply { target, error }) => {
            reply(&target, reply_params(&error, &request_id))
        }
    }
}

/// `POST /{tenant}/login`: the sign-in form.
pub(crate) async fn login(
    app: Arc<Coffer>,
    tenant: String,
    req: Request,
    request_id: String,
) -> Response {
    let browser = cookie(req.headers());
    let params = match read_form(req, &request_id).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let form = SigninForm {
        csrf: field(&params, "csrf").unwrap_or_default(),
        cookie: browser,
        username: field(&params, "login").unwrap_or_default(),
        password: field(&params, "passwd").unwrap_or_default(),
        decline: field(&params, "action").as_deref() == Some("decline"),
    };
    match app.sign_in(&tenant, form).await {
        Ok(SigninDone::Reply { target, code }) => reply(&target, vec![("code", code)]),
        Ok(SigninDone::DeviceApproved { app_name }) => html_response(
            StatusCode::OK,
            html::device_done(&app_name, false),
            None,
            None,
        ),
        Ok(SigninDone::DeviceDeclined { app_name }) => html_response(
            StatusCode::OK,
            html::device_done(&app_name, true),
            None,
            None,
        ),
        Err(SigninRetry {
            error,
            page: Some(page),
        }) => signin_page(&page, Some(&error), &request_id),
        Err(SigninRetry { error, page: None }) => error_page(&error, &request_id),
    }
}

/// `GET|POST /devicelogin`: the code-entry page, then the sign-in form of the code's flow.
pub(crate) async fn devicelogin(app: Arc<Coffer>, req: Request, request_id: String) -> Response {
    if req.method() != Method::POST {
        return html_response(StatusCode::OK, html::device_code(None), None, None);
    }
    let browser = cookie(req.headers());
    let params = match read_form(req, &request_id).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let code = field(&params, "otc").unwrap_or_default();
    match app.device_sign_in_page(&code, browser.as_deref()).await {
        Ok(page) => signin_page(&page, None, &request_id),
        Err(e @ SigninError::Internal(_)) => error_page(&e, &request_id),
        Err(e) => {
            let message = e.to_string();
            html_response(
                page_status(&e),
                html::device_code(Some((&message, &request_id))),
                None,
                None,
            )
        }
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (`v2`) and `/{tenant}/oauth2/devicecode`.
pub(crate) async fn devicecode(
    app: Arc<Coffer>,
    tenant: String,
    req: Request,
    v2: bool,
    request_id: String,
) -> Response {
    let params = match crate::body::read(req.into_body(), MAX_FORM_BYTES).await {
        Ok(b) => pairs(&b),
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("AADSTS900144: {e}"),
                900144,
                &request_id,
            );
        }
    };
    let f = |n: &str| field(&params, n);
    match app
        .start_device_flow(
            &tenant,
            f("client_id").as_deref(),
            f("scope").as_deref(),
            f("resource").as_deref(),
            v2,
        )
        .await
    {
        Ok(d) => Json(DeviceCodeResponse {
            user_code: d.user_code,
            device_code: d.device_code,
            verification_uri: d.verification_uri,
            expires_in: d.expires_in,
            interval: d.interval,
            message: d.message,
        })
        .into_response(),
        Err(e) => auth_error(e, &request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(cookie(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; __Host-coffer-signin=abc ;z=1"),
        );
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn replies_keep_the_redirect_uri_and_add_state() {
        let t = ReplyTarget {
            redirect_uri: "https://app.example/cb?x=1".into(),
            state: Some("a b&c".into()),
            response_mode: ResponseMode::Query,
        };
        let r = reply(&t, vec![("code", "k".into())]);
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://app.example/cb?x=1&code=k&state=a+b%26c"
        );
        let t = ReplyTarget {
            response_mode: ResponseMode::FormPost,
            ..t
        };
        let r = reply(&t, vec![("code", "k".into())]);
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("form-action 'self' https://app.example"),
            "{csp}"
        );
    }
}
