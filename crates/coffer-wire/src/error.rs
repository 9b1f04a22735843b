//! Azure's error envelope: `{"error":{"code","message","innererror":{"code"}}}`.

use serde::Serialize;

/// The outer object of every Key Vault error response.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// Code, message and optional inner error, nested as Azure nests them.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: String,
    /// Empty only on inner errors, where Azure sends just a code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub innererror: Option<Box<ErrorBody>>,
}

impl ErrorEnvelope {
    pub fn new(code: &str, message: impl Into<String>, inner: Option<&str>) -> Self {
        Self {
            error: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                innererror: inner.map(|c| {
                    Box::new(ErrorBody {
                        code: c.to_owned(),
                        message: String::new(),
                        innererror: None,
                    })
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = ErrorEnvelope::new("Forbidden", "no", Some("SecretDisabled"));
        let v = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(v["error"]["code"], "Forbidden");
        assert_eq!(v["error"]["innererror"]["code"], "SecretDisabled");
        let plain = serde_json::to_value(ErrorEnvelope::new("X", "m", None)).unwrap_or_default();
        assert!(plain["error"].get("innererror").is_none());
    }
}
