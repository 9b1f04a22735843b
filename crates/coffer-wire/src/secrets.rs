//! Secret bodies: `SecretSetParameters`, `SecretUpdateParameters`, `SecretBundle`, `SecretItem`,
//! their deleted variants, list pages and backup blobs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Attributes as sent by clients (read-only fields are ignored if present).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributesIn {
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
}

/// Attributes as returned.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributesOut {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recoverable_days: Option<u32>,
    pub recovery_level: String,
}

/// Body of `PUT /secrets/{name}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSetParameters {
    pub value: String,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub attributes: Option<AttributesIn>,
}

/// Body of `PATCH /secrets/{name}/{version}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretUpdateParameters {
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub attributes: Option<AttributesIn>,
}

/// A secret with its value (and, when deleted, its deletion fields).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretBundle {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub id: String,
    pub attributes: AttributesOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

/// A secret as listed (no value).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
    pub id: String,
    pub attributes: AttributesOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

/// One page of a list operation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub value: Vec<T>,
    pub next_link: Option<String>,
}

/// Body of a backup response and of a restore request.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupBlob {
    pub value: String,
}
