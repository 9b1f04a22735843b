//! The Microsoft Graph-shaped directory API on `graph.<domain>`.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_service::Coffer;
use http::StatusCode;

use crate::ApiError;

pub(crate) async fn handle(_app: Arc<Coffer>, req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "{} {} is not a directory operation.",
            req.method(),
            req.uri().path().chars().take(200).collect::<String>()
        ),
    )
    .into_response()
}
