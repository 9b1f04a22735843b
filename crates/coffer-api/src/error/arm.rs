//! Azure Resource Manager's error envelope `{"error":{"code","message"}}`, the mapping of
//! management errors to ARM's codes, and ARM's 401 with its `WWW-Authenticate` challenge.

use axum::Json;
use axum::response::{IntoResponse, Response};
use coffer_identity::TokenError;
use coffer_service::{ManagementError, Settings};
use coffer_wire::ErrorEnvelope;
use http::{HeaderValue, StatusCode};

/// An error in ARM's envelope, with the challenge header on 401s.
pub(crate) struct ArmError {
    status: StatusCode,
    code: &'static str,
    message: String,
    challenge: Option<String>,
}

impl ArmError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
        }
    }

    pub(crate) fn from_management(e: ManagementError, settings: &Settings) -> Self {
        match e {
            ManagementError::Unauthenticated { error, tenant_id } => {
                unauthenticated(&error, &tenant_id, settings)
            }
            ManagementError::BadRequest { code, message } => {
                Self::new(StatusCode::BAD_REQUEST, code, message)
            }
            ManagementError::Forbidden { code, message } => {
                Self::new(StatusCode::FORBIDDEN, code, message)
            }
            ManagementError::NotFound { code, message } => {
                Self::new(StatusCode::NOT_FOUND, code, message)
            }
            ManagementError::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, code, message)
            }
            ManagementError::Internal(m) => {
                tracing::error!(error = %m, "management operation failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "The service encountered an internal error. The request id identifies it in the server log.",
                )
            }
        }
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope::new(self.code, self.message, None);
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(c) = self.challenge
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// ARM's 401: its code for the failed check, a message naming it, and the challenge
/// `Bearer authorization_uri="<authority>/<tenant>", error="invalid_token", error_description=…`.
pub(crate) fn unauthenticated(
    error: &TokenError,
    tenant_id: &str,
    settings: &Settings,
) -> ArmError {
    let (code, message) = match error {
        TokenError::Missing => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_owned(),
        ),
        TokenError::WrongAudience { .. } => {
            ("InvalidAuthenticationTokenAudience", error.to_string())
        }
        TokenError::Expired { .. } => ("ExpiredAuthenticationToken", error.to_string()),
        _ => ("InvalidAuthenticationToken", error.to_string()),
    };
    let description: String = message
        .chars()
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(400)
        .collect();
    let mut e = ArmError::new(StatusCode::UNAUTHORIZED, code, message);
    e.challenge = Some(format!(
        "Bearer authorization_uri=\"{}/{tenant_id}\", error=\"invalid_token\", error_description=\"{description}\"",
        settings.authority()
    ));
    e
}
