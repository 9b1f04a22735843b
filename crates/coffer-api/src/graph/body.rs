//! Request bodies: a bounded JSON object read with the management toolkit's helpers (refusals
//! in Graph's envelope), and typed, case-insensitive property access.

use axum::extract::Request;
use serde_json::{Map, Value};

use super::MAX_GRAPH_BODY;
use crate::error::graph::GraphError;
use crate::management::toolkit::json_body;

/// The JSON object of a request, bounded in size; `None` when the body is empty.
pub(super) async fn read_json(req: Request) -> Result<Option<Map<String, Value>>, GraphError> {
    let bytes = crate::body::read(req.into_body(), MAX_GRAPH_BODY)
        .await
        .map_err(|e| GraphError::body(&e))?;
    match json_body::<Map<String, Value>>(&bytes) {
        Ok(m) => Ok(m),
        Err(_) => Err(GraphError::invalid_json()),
    }
}

/// A property by name, case-insensitively (Graph accepts `displayname` for `displayName`).
pub(super) fn get_ci<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

pub(super) fn invalid_property(name: &str, resource: &str, want: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{name}' of resource '{resource}': {want} expected."
    ))
}

pub(super) fn str_prop(
    m: &Map<String, Value>,
    name: &str,
    resource: &str,
) -> Result<Option<String>, GraphError> {
    match get_ci(m, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_property(name, resource, "a string")),
    }
}

pub(super) fn bool_prop(
    m: &Map<String, Value>,
    name: &str,
    resource: &str,
) -> Result<Option<bool>, GraphError> {
    match get_ci(m, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid_property(name, resource, "true or false")),
    }
}
