//! Sign-in page errors: the status of a page that shows one, and the query an error sent back
//! to a verified redirect URI carries (`error`, `error_description` with the trace id, `state`).

use coffer_service::SigninError;
use http::StatusCode;

/// Status of a page that shows `e`.
pub(crate) fn page_status(e: &SigninError) -> StatusCode {
    match e {
        SigninError::Internal(m) => {
            tracing::error!(error = %m, "sign-in failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        SigninError::TenantNotFound(_)
        | SigninError::MissingParameter(_)
        | SigninError::UnknownClient { .. }
        | SigninError::NoReplyAddress
        | SigninError::NoRegisteredReplyAddress(_)
        | SigninError::RedirectMismatch { .. }
        | SigninError::UnsupportedResponseType(_)
        | SigninError::UnsupportedResponseMode(_)
        | SigninError::PlainPkce
        | SigninError::UnknownPkceMethod(_)
        | SigninError::InvalidCodeChallenge
        | SigninError::PkceRequired
        | SigninError::InvalidScope(_)
        | SigninError::LoginRequired
        | SigninError::PageExpired
        | SigninError::InvalidCredentials
        | SigninError::Locked(_)
        | SigninError::UserDisabled
        | SigninError::BadUserCode
        | SigninError::UserCodeExpired
        | SigninError::DeviceFlowDone => StatusCode::BAD_REQUEST,
    }
}

/// The parameters of an error sent back to the application.
pub(crate) fn reply_params(e: &SigninError, request_id: &str) -> Vec<(&'static str, String)> {
    if let SigninError::Internal(m) = e {
        tracing::error!(error = %m, "sign-in failed");
    }
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    vec![
        ("error", e.oauth_error().to_owned()),
        (
            "error_description",
            format!("{e}\r\nTrace ID: {request_id}\r\nTimestamp: {timestamp}"),
        ),
        ("error_codes", e.code().to_string()),
    ]
}
