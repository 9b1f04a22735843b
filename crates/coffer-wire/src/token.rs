//! Token endpoint bodies: the success response, the device authorization response and the
//! AADSTS-style error.

use serde::Serialize;

/// Successful token response (`expires_in` is an integer: the Rust SDK requires it).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub token_type: &'static str,
    /// Delegated grants: the granted scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
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
    /// Delegated grants that asked for `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Delegated grants that asked for `openid` (and the password grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// MSAL's `client_info`: base64url of `{"uid":<object id>,"utid":<tenant>}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`'s answer.
#[derive(Debug, Serialize)]
pub struct DeviceCodeResponse {
    pub user_code: String,
    pub device_code: String,
    pub verification_uri: String,
    pub expires_in: i64,
    pub interval: i64,
    pub message: String,
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
