//! Managed identity token endpoints on the identity host, in the shapes `ManagedIdentityCredential`
//! speaks: App Service style (`/msi/token`) and IMDS style (`/metadata/identity/oauth2/token`).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_service::Coffer;
use http::StatusCode;

use crate::ApiError;

pub(crate) async fn handle(_app: Arc<Coffer>, req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "{} is not a managed identity endpoint.",
            req.uri().path().chars().take(200).collect::<String>()
        ),
    )
    .into_response()
}
