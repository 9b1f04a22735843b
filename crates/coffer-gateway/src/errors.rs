//! The gateway's own answers, in API Management's shape: `{"statusCode": N, "message": ...}`.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

use crate::proxy::ProxyBody;

pub(crate) const NOT_FOUND: &str = "Resource not found";
pub(crate) const MISSING_KEY: &str = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.";
pub(crate) const INVALID_KEY: &str = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.";
pub(crate) const NO_BACKEND: &str = "Internal server error";
pub(crate) const BAD_GATEWAY: &str = "Bad gateway: the backend service could not be reached";
pub(crate) const TIMEOUT: &str = "Gateway timeout: the backend service did not answer in time";

/// A response with `status` and `message` in API Management's error shape.
pub(crate) fn apim_error(status: u16, message: &str) -> http::Response<ProxyBody> {
    let body = serde_json::json!({ "statusCode": status, "message": message }).to_string();
    let mut resp = http::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if status == 401 {
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(
                "AzureApiManagementKey realm=\"\",name=\"Ocp-Apim-Subscription-Key\",type=\"header\"",
            ),
        );
    }
    resp
}
