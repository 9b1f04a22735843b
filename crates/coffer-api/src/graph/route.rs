//! Authentication first, then the version segment, then the entity set (with Graph's key
//! syntax `applications(appId='…')`) and its handler.

use axum::extract::Request;
use axum::response::Response;
use coffer_service::{Coffer, Resource};
use http::{Method, StatusCode};

use super::Ctx;
use super::applications::applications;
use super::filter::parse_quoted;
use super::service_principals::service_principals;
use super::users::{me, users};
use crate::error::graph::{GraphError, unauthenticated};
use crate::management::toolkit::{bearer_of, query_pairs};
use crate::text::{clip, decode_segment};

pub(super) async fn handle_inner(
    app: &Coffer,
    ctx: &mut Ctx,
    req: Request,
) -> Result<Response, GraphError> {
    // Authentication first, whatever else is wrong with the request.
    let authorization = bearer_of(req.headers());
    let (principal, claims) = match app.authenticate_for(authorization, Resource::Graph).await {
        Ok(ok) => ok,
        Err(e) => {
            let tenant = app
                .default_tenant_id()
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "common".to_owned());
            return Err(unauthenticated(&e, app, &tenant));
        }
    };
    let caller = app.directory_caller(&principal, &claims).await?;

    let method = req.method().clone();
    let raw_path = req.uri().path().to_owned();
    let query = query_pairs(req.uri().query());
    let mut segs = Vec::new();
    for s in raw_path.split('/').filter(|s| !s.is_empty()) {
        segs.push(decode_segment(s).ok_or_else(|| GraphError::no_segment(s))?);
    }
    let Some((version, rest)) = segs.split_first() else {
        return Err(GraphError::no_segment(""));
    };
    let version = version.to_ascii_lowercase();
    if version != "v1.0" && version != "beta" {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Invalid version: {}", clip(&version)),
        ));
    }
    ctx.base = format!(
        "{}/{version}",
        ctx.base.trim_end_matches("/v1.0").trim_end_matches('/')
    );
    let Some((entity, rest)) = rest.split_first() else {
        return Err(GraphError::no_segment(&version));
    };
    let tenant = caller.tenant_id.clone();
    let (entity_name, key) = split_key(entity)?;
    match entity_name.as_str() {
        "applications" => {
            applications(app, ctx, &caller, &tenant, &method, key, rest, &query, req).await
        }
        "serviceprincipals" => {
            service_principals(app, ctx, &caller, &tenant, &method, key, rest, &query, req).await
        }
        "users" => users(app, ctx, &caller, &tenant, &method, key, rest, &query, req).await,
        "me" if key.is_none() && rest.is_empty() => {
            if method != Method::GET {
                return Err(GraphError::method_not_allowed());
            }
            me(app, ctx, &caller).await
        }
        _ => Err(GraphError::no_segment(entity)),
    }
}

/// `applications(appId='x')` → (`applications`, Some(("appid", "x"))); plain names have no key.
fn split_key(segment: &str) -> Result<(String, Option<(String, String)>), GraphError> {
    let Some(open) = segment.find('(') else {
        return Ok((segment.to_ascii_lowercase(), None));
    };
    let name = segment[..open].to_ascii_lowercase();
    let inner = segment[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| GraphError::no_segment(segment))?;
    let (prop, value) = inner
        .split_once('=')
        .ok_or_else(|| GraphError::no_segment(segment))?;
    let value = parse_quoted(value.trim())
        .filter(|(_, rest)| rest.trim().is_empty())
        .map(|(v, _)| v)
        .ok_or_else(|| GraphError::no_segment(segment))?;
    Ok((name, Some((prop.trim().to_ascii_lowercase(), value))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_and_segments() {
        let (n, k) = split_key("applications(appId='a''b')").unwrap();
        assert_eq!(n, "applications");
        assert_eq!(k, Some(("appid".into(), "a'b".into())));
        assert_eq!(split_key("Users").unwrap(), ("users".into(), None));
        assert!(split_key("applications(appId='x'").is_err());
        assert!(split_key("applications(appId=x)").is_err());
        assert_eq!(decode_segment("a%27b").as_deref(), Some("a'b"));
        assert_eq!(decode_segment("%zz"), None);
    }
}
