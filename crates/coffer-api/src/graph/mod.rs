//! The Microsoft Graph-shaped directory API on `graph.<domain>`: applications (with their client
//! secrets and certificates), service principals, users and `/me`, in Graph v1.0's JSON shapes
//! and error envelope. Every caller needs a token for the Graph resource; reads are open to any
//! principal of the tenant, changes only to an administrator of its directory.
//!
//! Paths are matched by hand, case-insensitively, because Graph's key syntax
//! (`/applications(appId='…')`) does not fit a path router.
//!
//! `route.rs` authenticates and dispatches by entity set, one file each for `applications`,
//! `service_principals` and `users` (with `/me`); `filter.rs` parses OData `$filter` and
//! quoted keys, `body.rs` reads request bodies, `shape.rs` and `dates.rs` build responses.

mod applications;
mod body;
mod dates;
mod filter;
mod route;
mod service_principals;
mod shape;
mod users;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use coffer_service::Coffer;

use crate::MAX_BODY_BYTES;
use crate::headers::RequestId;

/// Largest JSON body accepted by the directory (certificates are the largest legitimate part).
const MAX_GRAPH_BODY: usize = 256 * 1024;
const _: () = assert!(MAX_GRAPH_BODY <= MAX_BODY_BYTES);

/// What every response needs: where the client called us, and the ids for `innerError`.
struct Ctx {
    /// `https://<host:port>/<version>`, for `@odata.context`.
    base: String,
    request_id: String,
    client_request_id: String,
}

impl Ctx {
    fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.base)
    }
}

pub(crate) async fn handle(app: Arc<Coffer>, req: Request) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .or_else(|| req.headers().get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect())
        .unwrap_or_else(|| request_id.clone());
    let mut ctx = Ctx {
        base: format!("https://{}/v1.0", crate::host::authority(&req)),
        request_id,
        client_request_id,
    };
    match route::handle_inner(&app, &mut ctx, req).await {
        Ok(r) => r,
        Err(e) => e.render(&ctx.request_id, &ctx.client_request_id),
    }
}
