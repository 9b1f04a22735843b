//! Azure Resource Manager's error envelope `{"error":{"code","message"}}`, the mapping of
//! management (and shared service) errors to ARM's statuses and codes, the request toolkit's own
//! refusals (api-version, path, query, body, preconditions), and ARM's 401 with its
//! `WWW-Authenticate` challenge.

use axum::Json;
use axum::response::{IntoResponse, Response};
use coffer_identity::TokenError;
use coffer_service::{ManagementError, ServiceError, Settings};
use coffer_wire::ErrorEnvelope;
use http::{HeaderValue, Method, StatusCode};

/// An error in ARM's envelope, with the challenge header on 401s.
#[derive(Debug)]
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
            ManagementError::PreconditionFailed { message } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                message,
            ),
            ManagementError::Service(e) => Self::from_service(e, settings),
            ManagementError::Internal(m) => Self::internal(&m),
        }
    }

    /// A failure of a use case shared with the data plane, in ARM's terms. Exhaustive on
    /// purpose: a new variant must be given a status here.
    fn from_service(e: ServiceError, settings: &Settings) -> Self {
        match e {
            ServiceError::BadParameter(m) => Self::new(StatusCode::BAD_REQUEST, "BadRequest", m),
            ServiceError::Conflict(m) => Self::new(StatusCode::CONFLICT, "Conflict", m),
            ServiceError::DeletedButRecoverable(m) => {
                Self::new(StatusCode::CONFLICT, "ConflictError", m)
            }
            ServiceError::Disabled { message, .. } => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
            }
            ServiceError::Forbidden(m) | ServiceError::PurgeProtected(m) => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden", m)
            }
            ServiceError::Firewall { message, .. } => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
            }
            ServiceError::AuditUnavailable(m) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", m)
            }
            // ARM calls are not throttled; the vault data plane's error can only pass through.
            ServiceError::Throttled { message, .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message)
            }
            ServiceError::Unavailable { message, .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                message,
            ),
            ServiceError::Internal(m) => Self::internal(&m),
            ServiceError::NotFound { message, code } => {
                Self::new(StatusCode::NOT_FOUND, code, message)
            }
            ServiceError::Unauthenticated { error, tenant_id } => {
                unauthenticated(&error, &tenant_id, settings)
            }
            ServiceError::VaultNotFound(m) => {
                Self::new(StatusCode::NOT_FOUND, "ResourceNotFound", m)
            }
        }
    }

    fn internal(log_message: &str) -> Self {
        tracing::error!(error = %log_message, "management operation failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The service encountered an internal error. The request id identifies it in the server log.",
        )
    }

    // ---- the request toolkit's refusals ---------------------------------------------------

    pub(crate) fn missing_api_version() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    pub(crate) fn invalid_api_version(given: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{given}' is invalid. The supported versions are dates such as '2024-11-30' (optionally with a suffix such as '-preview')."
            ),
        )
    }

    pub(crate) fn invalid_uri() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestUri",
            "The request path has an invalid percent-encoding.",
        )
    }

    /// A query parameter (`$top`, `$skiptoken`, `$filter`) ARM cannot use.
    pub(crate) fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            message,
        )
    }

    /// A body that could not be read: too large, malformed framing, or too slow.
    pub(crate) fn body(e: &crate::body::BodyError) -> Self {
        use crate::body::BodyError;
        let (status, code) = match e {
            BodyError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestContentTooLarge"),
            BodyError::Malformed => (StatusCode::BAD_REQUEST, "InvalidRequestContent"),
            BodyError::TimedOut(_) => (StatusCode::REQUEST_TIMEOUT, "RequestTimeout"),
        };
        Self::new(status, code, e.to_string())
    }

    /// A body that is not JSON, or not of the resource's shape.
    pub(crate) fn invalid_content(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequestContent", message)
    }

    pub(crate) fn method_not_allowed(method: &Method, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The HTTP method '{method}' is not supported at '{path}'."),
        )
    }

    pub(crate) fn no_route(method: &Method, path: &str, served: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No management operation matches {method} '{path}'. Coffer serves {served}."),
        )
    }

    /// `If-Match` named another version of the resource than the current one.
    pub(crate) fn precondition_failed(current: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "The specified precondition 'If-Match' failed: the resource's current ETag is {current}."
            ),
        )
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

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    fn settings() -> Settings {
        Settings {
            domain: "localhost".into(),
            port: 8443,
            token_lifetime_secs: 3600,
            clock_skew_secs: 300,
        }
    }

    async fn rendered(e: ArmError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_service_side_400_stays_a_400_in_arms_envelope() {
        let e = ManagementError::from(ServiceError::BadParameter("The name is invalid.".into()));
        let (status, body) = rendered(ArmError::from_management(e, &settings())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "BadRequest");
        assert_eq!(body["error"]["message"], "The name is invalid.");
    }

    #[tokio::test]
    async fn every_service_kind_has_its_own_status() {
        let cases = [
            (ServiceError::Conflict("c".into()), 409, "Conflict"),
            (
                ServiceError::DeletedButRecoverable("d".into()),
                409,
                "ConflictError",
            ),
            (ServiceError::Forbidden("f".into()), 403, "Forbidden"),
            (
                ServiceError::NotFound {
                    message: "n".into(),
                    code: "VaultNotFound",
                },
                404,
                "VaultNotFound",
            ),
            (
                ServiceError::VaultNotFound("v".into()),
                404,
                "ResourceNotFound",
            ),
            (
                ServiceError::Internal("disk on fire".into()),
                500,
                "InternalServerError",
            ),
        ];
        for (e, status, code) in cases {
            let (st, body) = rendered(ArmError::from_management(
                ManagementError::from(e),
                &settings(),
            ))
            .await;
            assert_eq!(st.as_u16(), status, "{body}");
            assert_eq!(body["error"]["code"], code);
            assert!(!body.to_string().contains("disk on fire"));
        }
    }
}
