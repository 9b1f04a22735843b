//! Microsoft Graph's error envelope: `{"error":{"code","message","innerError":{...}}}`, the
//! mapping of service errors to Graph's codes, and Graph's 401 with its challenge.

use axum::Json;
use axum::response::{IntoResponse, Response};
use coffer_identity::TokenError;
use coffer_service::{Coffer, Resource, ServiceError};
use http::{HeaderValue, StatusCode};
use serde_json::json;

/// A Graph error: status, code, message; rendered in Graph's envelope with `innerError`.
#[derive(Debug)]
pub(crate) struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
    challenge: Option<String>,
}

impl GraphError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// A body that could not be read: too large, malformed framing, or too slow.
    pub(crate) fn body(e: &crate::body::BodyError) -> Self {
        use crate::body::BodyError;
        let status = match e {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Malformed => StatusCode::BAD_REQUEST,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
        };
        Self::new(status, "Request_BadRequest", e.to_string())
    }

    pub(crate) fn invalid_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    pub(crate) fn no_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "Resource not found for the segment '{}'.",
                segment.chars().take(100).collect::<String>()
            ),
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    /// Maps a service error. Exhaustive on purpose: a new variant must be given a status here.
    pub(crate) fn from_service(e: ServiceError) -> Self {
        match e {
            ServiceError::BadParameter(m) => Self::bad_request(m),
            ServiceError::Conflict(m) | ServiceError::DeletedButRecoverable(m) => {
                Self::new(StatusCode::CONFLICT, "Request_BadRequest", m)
            }
            ServiceError::Disabled { message, .. } => Self::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                message,
            ),
            ServiceError::Forbidden(m)
            | ServiceError::PurgeProtected(m)
            | ServiceError::Firewall { message: m, .. } => {
                Self::new(StatusCode::FORBIDDEN, "Authorization_RequestDenied", m)
            }
            ServiceError::AuditUnavailable(m) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", m)
            }
            ServiceError::Throttled { message, .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "activityLimitReached",
                message,
            ),
            ServiceError::Unavailable { message, .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                message,
            ),
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "directory request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    "The service encountered an internal error. The request id identifies it in the server log.",
                )
            }
            ServiceError::NotFound { message, .. } | ServiceError::VaultNotFound(message) => {
                Self::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", message)
            }
            ServiceError::Unauthenticated { error, .. } => Self::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                error.to_string(),
            ),
        }
    }

    /// Renders the envelope; Graph's `innerError` carries the request ids and the date.
    pub(crate) fn render(self, request_id: &str, client_request_id: &str) -> Response {
        let date = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date.trim_end_matches('Z'),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                }
            }
        });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(c) = self.challenge
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

impl From<ServiceError> for GraphError {
    fn from(e: ServiceError) -> Self {
        Self::from_service(e)
    }
}

/// Graph's 401 for a refused token: the failed check in the message, and a challenge naming the
/// issuer to get a Graph token from.
pub(crate) fn unauthenticated(error: &TokenError, app: &Coffer, tenant_id: &str) -> GraphError {
    let message = match error {
        TokenError::Missing => "Access token is empty.".to_owned(),
        e => format!("Access token validation failure. {e}"),
    };
    let mut challenge = format!(
        "Bearer realm=\"\", authorization_uri=\"{}/{tenant_id}/oauth2/authorize\", resource=\"{}\"",
        app.settings().authority(),
        app.audience_of(Resource::Graph)
    );
    if *error != TokenError::Missing {
        challenge.push_str(", error=\"invalid_token\"");
    }
    let mut e = GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    e.challenge = Some(challenge);
    e
}
