//! The vault data plane on `<vault>.vault.<domain>`: authenticate, pass the firewall, read the
//! api-version, route the path to a [`VaultOp`] (`route`), then hand the call to its family's
//! thin handler (`secrets`, `keys`, `certificates`), which calls the service (where the access
//! policy is checked) and shapes the answer. Every answer is then audited (`audit`).

mod audit;
mod certificates;
mod keys;
mod route;
mod secrets;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_domain::{ApiVersion, Permission, VaultOp};
use coffer_service::{Coffer, RequestFacts, VaultSession};
use serde::de::DeserializeOwned;

use crate::management::toolkit;
use crate::text::clip;
use crate::{ApiError, MAX_BODY_BYTES};
use route::{Route, Unrouted};

/// Where the client called us and in which version: ids in answers use both.
pub(super) struct Ctx {
    pub(super) base: String,
    pub(super) api: ApiVersion,
}

/// Everything a family handler needs for one request.
pub(super) struct Call<'a> {
    pub(super) app: &'a Coffer,
    pub(super) session: VaultSession,
    pub(super) ctx: Ctx,
    pub(super) route: Route<'a>,
    pub(super) query: HashMap<String, String>,
    /// `maxresults`, read only for list operations (others ignore it, as Azure does).
    pub(super) max: Option<u32>,
    body: Body,
}

impl Call<'_> {
    /// The object name the route carries (every named operation has one).
    pub(super) fn name(&self) -> Result<&str, ApiError> {
        self.route.name.ok_or_else(ApiError::internal)
    }

    pub(super) fn skiptoken(&self) -> Option<&str> {
        self.query.get("$skiptoken").map(String::as_str)
    }

    /// Reads and parses the JSON body (refusing oversized, empty or malformed ones).
    pub(super) async fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        json_body(std::mem::take(&mut self.body)).await
    }

    /// The `nextLink` of a page, on the host and port the client called.
    pub(super) fn next_link(&self, path: &str, skiptoken: Option<String>) -> Option<String> {
        skiptoken.map(|t| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("api-version", self.ctx.api.as_str());
            q.append_pair("$skiptoken", &t);
            if let Some(m) = self.query.get("maxresults") {
                q.append_pair("maxresults", m);
            }
            format!("{}/{path}?{}", self.ctx.base, q.finish())
        })
    }
}

pub(crate) async fn handle(app: Arc<Coffer>, vault: String, req: Request) -> Response {
    let meta = audit::RequestMeta::of(&req);
    let metrics = req.extensions().get::<crate::metrics::Shared>().cloned();
    let op = meta.op();
    let facts = Arc::new(RequestFacts::default());
    let (resp, description) = match handle_inner(&app, &vault, req, &facts).await {
        Ok(r) => (r, None),
        Err(e) => {
            let message = e.message().to_owned();
            (e.into_response(), Some(message))
        }
    };
    let status = resp.status().as_u16();
    let elapsed = meta.elapsed();
    audit::record(&app, &facts, meta, status, description);
    if let Some(m) = metrics {
        // Only a vault that exists gets a label of its own: host names are the caller's text.
        let f = facts.snapshot();
        m.request(
            "vault",
            f.vault.as_deref(),
            op.map_or("", VaultOp::audit_name),
            status,
            elapsed,
        );
        if let Some(t) = &f.throttling {
            m.throttled(&t.limit);
        }
    }
    let mut resp = resp;
    if facts.test_mode() {
        // Nobody should mistake a vault with lowered limits or injected faults for a real one.
        resp.headers_mut()
            .insert("x-coffer-test-mode", http::HeaderValue::from_static("true"));
    }
    resp
}

async fn handle_inner(
    app: &Coffer,
    vault: &str,
    req: Request,
    facts: &Arc<RequestFacts>,
) -> Result<Response, ApiError> {
    let settings = app.settings();
    let authorization = toolkit::bearer_of(req.headers());
    let client = crate::headers::client_addr(&req);
    // Authentication comes before any other check: the SDKs' first, bodiless request must get
    // the 401 challenge whatever else is wrong with it. The firewall follows, as in Azure.
    let session = app
        .open_vault(vault, authorization, client, facts)
        .await
        .map_err(|e| ApiError::from_service(e, settings))?;
    // Keys are percent-decoded too (the JS SDK sends `api%2Dversion`).
    let query: HashMap<String, String> = toolkit::query_pairs(req.uri().query())
        .into_iter()
        .collect();
    let api = ApiVersion::parse(query.get("api-version").map(String::as_str))
        .map_err(|e| ApiError::bad_parameter(e.to_string()))?;
    let ctx = Ctx {
        base: format!("https://{}", crate::host::authority(&req)),
        api,
    };
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let route = route::route(&parts.method, path)
        .map_err(|u| unrouted(u, &parts.method, path, &session))?;
    let max = if route.op.is_list() {
        max_results(&query)?
    } else {
        None
    };
    let call = Call {
        app,
        session,
        ctx,
        route,
        query,
        max,
        body,
    };
    match route.op.permission() {
        Some(Permission::Secret(_)) => secrets::handle(call).await,
        Some(Permission::Certificate(_)) => certificates::handle(call).await,
        Some(Permission::Key(_) | Permission::Storage(_)) | None => keys::handle(call).await,
    }
}

fn unrouted(u: Unrouted, method: &http::Method, path: &str, session: &VaultSession) -> ApiError {
    match u {
        Unrouted::MethodNotAllowed => ApiError::method_not_allowed(format!(
            "{method} is not supported on {} in vault '{}'.",
            clip(path),
            session.vault_name()
        )),
        Unrouted::UnknownPath => ApiError::not_found(format!(
            "{method} {} is not a Key Vault operation that Coffer serves.",
            clip(path)
        )),
    }
}

/// Answers an operation routed to a family that does not serve it: a bug in the dispatch.
pub(super) fn misrouted(op: VaultOp) -> ApiError {
    tracing::error!(?op, "vault operation dispatched to the wrong family");
    ApiError::internal()
}

fn max_results(q: &HashMap<String, String>) -> Result<Option<u32>, ApiError> {
    match q.get("maxresults") {
        None => Ok(None),
        Some(s) => s.parse::<u32>().map(Some).map_err(|_| {
            ApiError::bad_parameter(format!(
                "Invalid maxresults value '{}': it must be an integer between 1 and 25.",
                clip(s)
            ))
        }),
    }
}

/// Reads and parses a JSON object body, refusing oversized, empty, malformed or non-object
/// ones with a 400/413 (`json`: the messages never quote the body, which may hold a secret).
async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = crate::body::read(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| ApiError::body(&e))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_parameter(
            "The request body is empty; this operation needs a JSON body.",
        ));
    }
    crate::json::parse_object(&bytes)
        .map_err(|e| ApiError::bad_parameter(format!("Invalid request body: {e}.")))
}

/// The route parser's verdict on a method and path, for the fuzz targets.
pub(crate) fn fuzz_route(method: &http::Method, path: &str) -> bool {
    route::route(method, path).is_ok()
}
