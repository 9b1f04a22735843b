//! The one place where errors become HTTP: status, error code, message and, for 401s, the
//! `WWW-Authenticate` challenge. Each API family answers in its own envelope: Key Vault's (here),
//! ARM's (`arm`), Microsoft Graph's (`graph`) and OAuth2's for the token endpoints (`oauth`).

pub(crate) mod arm;
pub(crate) mod edge;
pub(crate) mod graph;
pub(crate) mod oauth;
pub(crate) mod signin;

use axum::response::{IntoResponse, Response};
use coffer_service::{ServiceError, Settings};
use coffer_wire::ErrorEnvelope;
use http::StatusCode;

/// An error response in Azure's envelope.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    inner: Option<&'static str>,
    challenge: Option<String>,
    /// Seconds for the `Retry-After` header of a 429.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            inner: None,
            challenge: None,
            retry_after: None,
        }
    }

    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    /// A body that could not be read: too large, malformed framing, or too slow.
    pub(crate) fn body(e: &crate::body::BodyError) -> Self {
        use crate::body::BodyError;
        let (status, code) = match e {
            BodyError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge"),
            BodyError::Malformed => (StatusCode::BAD_REQUEST, "BadParameter"),
            BodyError::TimedOut(_) => (StatusCode::REQUEST_TIMEOUT, "RequestTimeout"),
        };
        Self::new(status, code, e.to_string())
    }

    /// A known collection asked with a method it does not serve.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    /// A path or host that names nothing Coffer serves.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// The last resort for a bug: says nothing of the cause.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The service encountered an internal error.",
        )
    }

    /// The answer's message: Coffer's own text, which never holds a secret value.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    fn with_inner(mut self, inner: &'static str) -> Self {
        self.inner = Some(inner);
        self
    }

    /// The challenge a vault of `tenant_id` sends: where to get a token, and for which resource.
    pub(crate) fn challenge(settings: &Settings, tenant_id: &str) -> String {
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"{}\"",
            settings.authority(),
            tenant_id,
            settings.vault_resource()
        )
    }

    /// Maps a service error. Exhaustive on purpose: a new variant must be given a status here.
    pub fn from_service(e: ServiceError, settings: &Settings) -> Self {
        match e {
            ServiceError::BadParameter(m) => Self::bad_parameter(m),
            ServiceError::Conflict(m) => Self::new(StatusCode::CONFLICT, "Conflict", m),
            ServiceError::DeletedButRecoverable(m) => {
                Self::new(StatusCode::CONFLICT, "Conflict", m)
                    .with_inner("ObjectIsDeletedButRecoverable")
            }
            ServiceError::Disabled {
                message,
                inner_code,
            } => Self::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner(inner_code),
            ServiceError::Forbidden(m) => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden", m).with_inner("AccessDenied")
            }
            ServiceError::Firewall {
                message,
                inner_code,
            } => Self::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner(inner_code),
            ServiceError::AuditUnavailable(m) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", m)
            }
            ServiceError::Throttled {
                message,
                retry_after_secs,
            } => {
                let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "Throttled", message);
                e.retry_after = Some(retry_after_secs);
                e
            }
            ServiceError::Unavailable {
                message,
                retry_after_secs,
            } => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    message,
                );
                e.retry_after = Some(retry_after_secs);
                e
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "The service encountered an internal error. The request id identifies it in the server log.",
                )
            }
            ServiceError::NotFound { message, code } => {
                Self::new(StatusCode::NOT_FOUND, code, message)
            }
            ServiceError::PurgeProtected(m) => Self::new(StatusCode::FORBIDDEN, "Forbidden", m)
                .with_inner("PurgeProtectionEnabled"),
            ServiceError::Unauthenticated { error, tenant_id } => {
                let mut e = Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", error.to_string());
                e.inner = Some(error.code());
                e.challenge = Some(Self::challenge(settings, &tenant_id));
                e
            }
            ServiceError::VaultNotFound(m) => Self::new(StatusCode::NOT_FOUND, "VaultNotFound", m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope::new(self.code, self.message, self.inner);
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(c) = self.challenge
            && let Ok(v) = http::HeaderValue::from_str(&c)
        {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        resp
    }
}
