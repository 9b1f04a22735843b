//! Importing an API from an OpenAPI 3 document, JSON or YAML (`properties.format` +
//! `properties.value`, what
//! `az apim api import --specification-format OpenApiJson|OpenApi` sends): the title and
//! description, the first server's URL as the backend, and one operation per path and method,
//! named by `operationId` (else derived from method and path, as API Management does). Links are
//! refused: Coffer fetches nothing from outside.

use serde_json::Value;

use crate::management::{ManagementError, bad, clip};

/// Most operations one import may create.
const MAX_OPERATIONS: usize = 500;
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub(super) struct ImportedOperation {
    pub(super) id: String,
    pub(super) display_name: String,
    pub(super) method: String,
    pub(super) url_template: String,
    pub(super) description: Option<String>,
}

pub(super) struct Imported {
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) server_url: Option<String>,
    pub(super) operations: Vec<ImportedOperation>,
}

fn invalid(message: String) -> ManagementError {
    bad("ValidationError", message)
}

/// Parses the document of an import.
pub(super) fn import(format: &str, value: &str) -> Result<Imported, ManagementError> {
    let f = format.trim().to_ascii_lowercase();
    let doc: Value = match f.as_str() {
        "openapi+json" | "swagger-json" => serde_json::from_str(value).map_err(|e| {
            invalid(format!(
                "The OpenAPI document is not valid JSON: {}.",
                clip(&e.to_string())
            ))
        })?,
        // What `az apim api import --specification-format OpenApi` sends: YAML (or JSON).
        "openapi" => match serde_json::from_str(value) {
            Ok(v) => v,
            Err(_) => serde_yaml_ng::from_str::<Value>(value).map_err(|e| {
                invalid(format!(
                    "The OpenAPI document is not valid YAML: {}.",
                    clip(&e.to_string())
                ))
            })?,
        },
        l if l.ends_with("-link") => {
            return Err(invalid(format!(
                "Import format '{}' is not supported: Coffer does not fetch documents from other hosts. Send the document itself (format openapi+json).",
                clip(format)
            )));
        }
        _ => {
            return Err(invalid(format!(
                "Import format '{}' is not supported: use openapi+json or openapi.",
                clip(format)
            )));
        }
    };
    let version = doc
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with('3') {
        return Err(invalid(
            "The document is not an OpenAPI 3 document (its 'openapi' field must be 3.x)."
                .to_owned(),
        ));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let info = doc.get("info");
    let server_url = doc
        .get("servers")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(|u| u.trim_end_matches('/').to_owned());
    let mut operations: Vec<ImportedOperation> = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            if !path.starts_with('/') {
                return Err(invalid(format!(
                    "Path '{}' of the document does not start with '/'.",
                    clip(path)
                )));
            }
            for m in METHODS {
                let Some(op) = item.get(m) else { continue };
                let id = text(op.get("operationId"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| derived_id(m, path));
                if operations.iter().any(|o| o.id.eq_ignore_ascii_case(&id)) {
                    return Err(invalid(format!(
                        "Operation id '{}' appears twice in the document.",
                        clip(&id)
                    )));
                }
                if operations.len() >= MAX_OPERATIONS {
                    return Err(invalid(format!(
                        "The document has more than {MAX_OPERATIONS} operations."
                    )));
                }
                operations.push(ImportedOperation {
                    display_name: text(op.get("summary")).unwrap_or_else(|| id.clone()),
                    id,
                    method: m.to_ascii_uppercase(),
                    url_template: path.clone(),
                    description: text(op.get("description")),
                });
            }
        }
    }
    Ok(Imported {
        title: text(info.and_then(|i| i.get("title"))),
        description: text(info.and_then(|i| i.get("description"))),
        server_url,
        operations,
    })
}

/// `get-users-id` for `GET /users/{id}`: letters and digits kept, the rest one `-`.
fn derived_id(method: &str, path: &str) -> String {
    let mut out = method.to_owned();
    let mut dash = true;
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            if dash {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else {
            dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_come_from_paths() {
        let doc = r#"{"openapi":"3.0.1","info":{"title":"Pets"},"servers":[{"url":"https://backend.test/v1/"}],
            "paths":{"/pets":{"get":{"operationId":"listPets","summary":"List"},"post":{}},
                     "/pets/{id}":{"get":{"operationId":"getPet"}}}}"#;
        let i = import("openapi+json", doc).unwrap();
        assert_eq!(i.title.as_deref(), Some("Pets"));
        assert_eq!(i.server_url.as_deref(), Some("https://backend.test/v1"));
        let ids: Vec<&str> = i.operations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["listPets", "post-pets", "getPet"]);
        assert_eq!(i.operations[2].url_template, "/pets/{id}");
        assert_eq!(i.operations[1].method, "POST");
        assert!(import("openapi+json-link", "https://example.test/x.json").is_err());
        let yaml =
            "openapi: 3.0.0\ninfo:\n  title: Y\npaths:\n  /a:\n    get:\n      operationId: getA\n";
        let y = import("openapi", yaml).unwrap();
        assert_eq!(
            (y.title.as_deref(), y.operations[0].id.as_str()),
            (Some("Y"), "getA")
        );
        assert!(import("openapi", "openapi: [").is_err());
        assert!(import("openapi", r#"{"openapi":"3.0.0","paths":{}}"#).is_ok());
        assert!(import("openapi+json", r#"{"swagger":"2.0"}"#).is_err());
    }
}
