//! Token endpoint bodies: the success response and the AADSTS-style error.

use serde::Serialize;

/// Successful token response (`expires_in` is an integer: the Rust SDK requires it).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub token_type: &'static str,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    /// v1 only: absolute expiry and not-before, as strings like Entra ID's v1 endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub access_token: String,
}

/// Entra ID's error body.
#[derive(Debug, Serialize)]
pub struct TokenError {
    pub error: String,
    pub error_description: String,
    pub error_codes: Vec<u32>,
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
}
