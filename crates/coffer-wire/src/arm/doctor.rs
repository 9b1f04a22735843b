//! Coffer's own `providers/Coffer.Diagnostics/doctor` action on a vault: what `coffer doctor`
//! sends and what it answers.

use serde::{Deserialize, Serialize};

/// Body of `POST {vaultId}/providers/Coffer.Diagnostics/doctor`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

/// One failed check.
#[derive(Debug, Deserialize, Serialize)]
pub struct DoctorFinding {
    pub id: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The answer: what was looked at, and the findings (empty when the request would pass).
#[derive(Debug, Deserialize, Serialize)]
pub struct DoctorReport {
    pub vault: String,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub findings: Vec<DoctorFinding>,
    /// For a gateway's refused certificate read: which service, identity and secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}
