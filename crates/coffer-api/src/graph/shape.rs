//! Response shapes every entity set shares: a collection with `@odata.context`, one entity, and
//! a created entity (201).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::Ctx;

pub(super) fn list(ctx: &Ctx, set: &str, value: Vec<Value>) -> Response {
    Json(json!({
        "@odata.context": ctx.context(set),
        "value": value,
    }))
    .into_response()
}

fn with_context(ctx: &Ctx, fragment: &str, mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert("@odata.context".to_owned(), ctx.context(fragment).into());
        out.append(m);
        return Value::Object(out);
    }
    v
}

pub(super) fn entity(ctx: &Ctx, fragment: &str, v: Value) -> Response {
    Json(with_context(ctx, fragment, v)).into_response()
}

pub(super) fn created(ctx: &Ctx, fragment: &str, v: Value) -> Response {
    (StatusCode::CREATED, Json(with_context(ctx, fragment, v))).into_response()
}
