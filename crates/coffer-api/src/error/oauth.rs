//! OAuth2 error bodies: Entra ID's for the token endpoints (`error`, `error_description`,
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`) and the managed identity endpoints'
//! (`error`, `error_description`, plus App Service's `statusCode`/`message`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use coffer_service::{AuthError, MiError};
use coffer_wire::token::TokenError;
use http::StatusCode;
use serde_json::json;

pub(crate) fn auth_error(e: AuthError, request_id: &str) -> Response {
    if let AuthError::Internal(m) = &e {
        tracing::error!(error = %m, "token issuance failed");
    }
    let status = match e.oauth_error() {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    oauth_error(status, e.oauth_error(), e.to_string(), e.code(), request_id)
}

pub(crate) fn oauth_error(
    status: StatusCode,
    error: &str,
    description: String,
    code: u32,
    request_id: &str,
) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let timestamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = TokenError {
        error: error.to_owned(),
        error_description: format!(
            "{description}\r\nTrace ID: {request_id}\r\nTimestamp: {timestamp}"
        ),
        error_codes: vec![code],
        timestamp,
        trace_id: request_id.to_owned(),
        correlation_id: request_id.to_owned(),
    };
    (status, Json(body)).into_response()
}

/// Maps a managed identity failure to its status and body.
pub(crate) fn mi_error(e: MiError) -> Response {
    if let MiError::Internal(m) = &e {
        tracing::error!(error = %m, "managed identity token issuance failed");
    }
    let status = match e {
        MiError::InvalidRequest(_) | MiError::IdentityNotFound(_) | MiError::UnknownResource(_) => {
            StatusCode::BAD_REQUEST
        }
        MiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        MiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    mi_error_body(status, e.oauth_error(), &e.to_string())
}

/// The OAuth2 error body, plus App Service's `statusCode`/`message` (MSAL shows those two).
pub(crate) fn mi_error_body(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({
            "error": code,
            "error_description": description,
            "statusCode": status.as_u16(),
            "message": description,
        })),
    )
        .into_response()
}
