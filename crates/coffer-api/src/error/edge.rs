//! The edge's refusals (`crate::edge`) and the protocol layer's (hyper's parse errors) as
//! statuses and codes, in the envelope of the role the request was for: OAuth2's for the token
//! issuer, ARM's, Graph's, or Key Vault's (also when the host itself is what is wrong).

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::ApiError;
use super::arm::ArmError;
use super::graph::GraphError;
use super::oauth::oauth_error;
use crate::Role;
use crate::edge::Refusal;

fn status_and_code(r: &Refusal) -> (StatusCode, &'static str) {
    match r {
        Refusal::HeadersTooLarge(_) | Refusal::TooManyHeaders(_) => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
        ),
        Refusal::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "RequestUriTooLong"),
        Refusal::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge"),
        Refusal::Expectation(_) => (StatusCode::EXPECTATION_FAILED, "ExpectationFailed"),
        Refusal::BadContentLength
        | Refusal::LengthAndTransferEncoding
        | Refusal::TransferEncoding(_)
        | Refusal::MissingHost
        | Refusal::DuplicateHost
        | Refusal::HostMismatch
        | Refusal::BadHost(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
    }
}

/// The refusal `r` of a request for `role` (`None` when the host could not be read).
pub(crate) fn refusal(
    r: &Refusal,
    role: Option<&Role>,
    request_id: &str,
    client_request_id: &str,
) -> Response {
    let (status, code) = status_and_code(r);
    let message = r.to_string();
    match role {
        Some(Role::Identity) => oauth_error(status, "invalid_request", message, 900144, request_id),
        Some(Role::Management) => ArmError::new(status, code, message).into_response(),
        Some(Role::Graph) => {
            GraphError::new(status, code, message).render(request_id, client_request_id)
        }
        Some(Role::Vault(_) | Role::Other(_)) | None => {
            ApiError::new(status, code, message).into_response()
        }
    }
}

/// The body of a refusal the protocol layer makes before a request exists (a header line it
/// cannot parse, a head too large for its buffer): Key Vault's envelope, since no host is known.
/// `None` for a status the protocol layer is not known to send.
pub fn protocol_refusal(status: u16) -> Option<(StatusCode, String)> {
    let (code, message) = match status {
        400 => (
            "BadRequest",
            "The request is not valid HTTP: a header line is malformed (a NUL, an obsolete line folding, an invalid name) or its Content-Length is invalid or conflicting.",
        ),
        414 => (
            "RequestUriTooLong",
            "The request URI is longer than the protocol layer accepts.",
        ),
        431 => (
            "RequestHeaderFieldsTooLarge",
            "The request's header fields are larger than the protocol layer accepts.",
        ),
        _ => return None,
    };
    let status = StatusCode::from_u16(status).ok()?;
    let body = coffer_wire::ErrorEnvelope::new(code, message.to_owned(), None);
    Some((status, serde_json::to_string(&body).ok()?))
}
