//! The vault data plane on `<vault>.vault.<domain>`. Paths are matched by hand rather than with a
//! router because the SDKs send shapes a path router rejects: an empty version segment for
//! "latest" (`/secrets/x/`), doubled slashes, and percent-encoded query keys.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_domain::ApiVersion;
use coffer_service::{Coffer, ListPage, SecretInput, SecretUpdate, SecretView, VaultSession};
use coffer_wire::secrets::{
    AttributesIn, AttributesOut, BackupBlob, Page, SecretBundle, SecretItem, SecretSetParameters,
    SecretUpdateParameters,
};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::text::clip;
use crate::{ApiError, MAX_BODY_BYTES};

/// What a handler needs besides the session: where the client called us and in which version.
struct Ctx {
    base: String,
    api: ApiVersion,
}

pub(crate) async fn handle(app: Arc<Coffer>, vault: String, req: Request) -> Response {
    match handle_inner(&app, &vault, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle_inner(app: &Coffer, vault: &str, req: Request) -> Result<Response, ApiError> {
    let settings = app.settings();
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
    // Authentication comes before any other check: the SDKs' first, bodiless request must get
    // the 401 challenge whatever else is wrong with it.
    let session = app
        .open_vault(vault, authorization)
        .await
        .map_err(|e| ApiError::from_service(e, settings))?;
    let query = parse_query(req.uri().query());
    let api = ApiVersion::parse(query.get("api-version").map(String::as_str))
        .map_err(|e| ApiError::bad_parameter(e.to_string()))?;
    let ctx = Ctx {
        base: format!("https://{}", crate::host::authority(&req)),
        api,
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Paging parameters matter only to list operations; others ignore them, as Azure does.
    let is_list = method == Method::GET
        && matches!(
            segs.as_slice(),
            ["secrets" | "deletedsecrets"]
                | ["secrets" | "deletedsecrets", ""]
                | ["secrets", _, "versions"]
        );
    let max = if is_list { max_results(&query)? } else { None };
    let skip = query.get("$skiptoken").map(String::as_str);
    let svc = |e| ApiError::from_service(e, settings);
    let resp = match (&method, segs.as_slice()) {
        (&Method::GET, ["secrets"] | ["secrets", ""]) => {
            let page = app.list_secrets(&session, max, skip).await.map_err(svc)?;
            list_response(&ctx, "secrets", page, &query, false)
        }
        (&Method::GET, ["secrets", name, "versions"]) => {
            let page = app
                .list_secret_versions(&session, name, max, skip)
                .await
                .map_err(svc)?;
            list_response(
                &ctx,
                &format!("secrets/{name}/versions"),
                page,
                &query,
                true,
            )
        }
        (&Method::GET, ["secrets", name] | ["secrets", name, ""]) => {
            let v = app.get_secret(&session, name, None).await.map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::GET, ["secrets", name, version]) => {
            let v = app
                .get_secret(&session, name, Some(version))
                .await
                .map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::PUT, ["secrets", name]) => {
            let p: SecretSetParameters = json_body(req).await?;
            let a = p.attributes.unwrap_or_default();
            let input = SecretInput {
                value: Zeroizing::new(p.value),
                content_type: p.content_type,
                tags: p.tags,
                enabled: a.enabled,
                nbf: a.nbf,
                exp: a.exp,
            };
            let v = app.set_secret(&session, name, input).await.map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::PATCH, ["secrets", name] | ["secrets", name, ""] | ["secrets", name, _]) => {
            let version = segs.get(2).copied().filter(|v| !v.is_empty());
            let p: SecretUpdateParameters = json_body(req).await?;
            let a: AttributesIn = p.attributes.unwrap_or_default();
            let upd = SecretUpdate {
                content_type: p.content_type,
                tags: p.tags,
                enabled: a.enabled,
                nbf: a.nbf,
                exp: a.exp,
            };
            let v = app
                .update_secret(&session, name, version, upd)
                .await
                .map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::DELETE, ["secrets", name]) => {
            let v = app.delete_secret(&session, name).await.map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::POST, ["secrets", "restore"]) => {
            let p: BackupBlob = json_body(req).await?;
            let v = app.restore_secret(&session, &p.value).await.map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::POST, ["secrets", name, "backup"]) => {
            let value = app.backup_secret(&session, name).await.map_err(svc)?;
            Json(BackupBlob { value }).into_response()
        }
        (&Method::GET, ["deletedsecrets"] | ["deletedsecrets", ""]) => {
            let page = app
                .list_deleted_secrets(&session, max, skip)
                .await
                .map_err(svc)?;
            list_response(&ctx, "deletedsecrets", page, &query, false)
        }
        (&Method::GET, ["deletedsecrets", name]) => {
            let v = app.get_deleted_secret(&session, name).await.map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        (&Method::DELETE, ["deletedsecrets", name]) => {
            app.purge_deleted_secret(&session, name)
                .await
                .map_err(svc)?;
            StatusCode::NO_CONTENT.into_response()
        }
        (&Method::POST, ["deletedsecrets", name, "recover"]) => {
            let v = app
                .recover_deleted_secret(&session, name)
                .await
                .map_err(svc)?;
            Json(bundle(&ctx, v)).into_response()
        }
        _ => return Err(unknown_operation(&method, &path, &session)),
    };
    Ok(resp)
}

fn unknown_operation(method: &Method, path: &str, session: &VaultSession) -> ApiError {
    let known = ["secrets", "deletedsecrets"];
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if known.contains(&first) {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "{method} is not supported on {} in vault '{}'.",
                clip(path),
                session.vault_name()
            ),
        )
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "{method} {} is not a Key Vault operation that Coffer serves.",
                clip(path)
            ),
        )
    }
}

/// Decodes the query; keys are percent-decoded too (the JS SDK sends `api%2Dversion`).
fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
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

/// Reads and parses a JSON body, refusing oversized, empty or malformed ones with a 400/413.
async fn json_body<T: DeserializeOwned>(req: Request) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                format!("The request body is larger than the {MAX_BODY_BYTES}-byte limit."),
            )
        })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_parameter(
            "The request body is empty; this operation needs a JSON body.",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        // Serde's own text can quote the offending value, which may be a secret: keep only the
        // category, the position and, for missing fields, the field name.
        let text = e.to_string();
        let detail = if text.starts_with("missing field") {
            text.split(" at line").next().unwrap_or_default().to_owned()
        } else {
            match e.classify() {
                serde_json::error::Category::Data => {
                    "a field has the wrong type or value".to_owned()
                }
                serde_json::error::Category::Eof => "the JSON ends too early".to_owned(),
                _ => "the body is not valid JSON".to_owned(),
            }
        };
        ApiError::bad_parameter(format!(
            "Invalid request body: {detail} (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}

fn attributes(ctx: &Ctx, v: &SecretView) -> AttributesOut {
    AttributesOut {
        enabled: v.attributes.enabled,
        nbf: v.attributes.not_before,
        exp: v.attributes.expires,
        created: v.attributes.created,
        updated: v.attributes.updated,
        recoverable_days: v
            .recoverable_days
            .filter(|_| ctx.api.has_recoverable_days()),
        recovery_level: v.recovery_level.to_owned(),
    }
}

fn deletion_fields(ctx: &Ctx, v: &SecretView) -> (Option<String>, Option<i64>, Option<i64>) {
    match &v.deletion {
        Some(d) => (
            Some(format!("{}/deletedsecrets/{}", ctx.base, v.name)),
            Some(d.deleted_date),
            Some(d.scheduled_purge_date),
        ),
        None => (None, None, None),
    }
}

fn bundle(ctx: &Ctx, v: SecretView) -> SecretBundle {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    SecretBundle {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        attributes: attributes(ctx, &v),
        id: format!("{}/secrets/{}/{}", ctx.base, v.name, v.version),
        value: v.value.as_ref().map(|s| s.to_string()),
        content_type: v.content_type,
        tags: v.tags,
        kid: v.kid,
        managed: v.managed.then_some(true),
    }
}

fn item(ctx: &Ctx, v: SecretView, with_version: bool) -> SecretItem {
    let (recovery_id, deleted_date, scheduled_purge_date) = deletion_fields(ctx, &v);
    let id = if with_version {
        format!("{}/secrets/{}/{}", ctx.base, v.name, v.version)
    } else {
        format!("{}/secrets/{}", ctx.base, v.name)
    };
    SecretItem {
        recovery_id,
        deleted_date,
        scheduled_purge_date,
        attributes: attributes(ctx, &v),
        id,
        tags: v.tags,
        content_type: v.content_type,
        managed: v.managed.then_some(true),
    }
}

fn list_response(
    ctx: &Ctx,
    path: &str,
    page: ListPage<SecretView>,
    query: &HashMap<String, String>,
    with_version: bool,
) -> Response {
    let next_link = page.skiptoken.map(|t| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("api-version", ctx.api.as_str());
        q.append_pair("$skiptoken", &t);
        if let Some(m) = query.get("maxresults") {
            q.append_pair("maxresults", m);
        }
        format!("{}/{path}?{}", ctx.base, q.finish())
    });
    Json(Page {
        value: page
            .items
            .into_iter()
            .map(|v| item(ctx, v, with_version))
            .collect(),
        next_link,
    })
    .into_response()
}
