//! Keys: thin handlers from a routed call to the service.

use axum::response::Response;

use super::{Call, misrouted};
use crate::ApiError;

pub(super) async fn handle(call: Call<'_>) -> Result<Response, ApiError> {
    Err(misrouted(call.route.op))
}
