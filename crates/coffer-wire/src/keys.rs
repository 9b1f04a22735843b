//! Key bodies: create, import and update parameters, `KeyBundle` and `KeyItem` (and their deleted
//! variants), JSON Web Keys, cryptographic operation parameters and results, random bytes and
//! rotation policies. Binary members are base64url without padding, as JWK has them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Key attributes as sent by clients (read-only fields are ignored if present).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAttributesIn {
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub exportable: Option<bool>,
}

/// Key attributes as returned.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAttributesOut {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
}

/// A key release policy, kept as the caller sent it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReleasePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// Body of `POST /keys/{name}/create`.
#[derive(Debug, Deserialize)]
pub struct KeyCreateParameters {
    pub kty: String,
    #[serde(default)]
    pub key_size: Option<u32>,
    #[serde(default)]
    pub public_exponent: Option<u32>,
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    #[serde(default)]
    pub attributes: Option<KeyAttributesIn>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub release_policy: Option<KeyReleasePolicy>,
}

/// A JSON Web Key as clients send it for import (private members included).
#[derive(Debug, Default, Deserialize)]
pub struct JsonWebKeyIn {
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub kty: Option<String>,
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub d: Option<String>,
    #[serde(default)]
    pub dp: Option<String>,
    #[serde(default)]
    pub dq: Option<String>,
    #[serde(default)]
    pub qi: Option<String>,
    #[serde(default)]
    pub p: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub k: Option<String>,
    #[serde(default)]
    pub key_hsm: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

/// Body of `PUT /keys/{name}` (import).
#[derive(Debug, Deserialize)]
pub struct KeyImportParameters {
    #[serde(default, rename = "Hsm")]
    pub hsm: Option<bool>,
    pub key: JsonWebKeyIn,
    #[serde(default)]
    pub attributes: Option<KeyAttributesIn>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub release_policy: Option<KeyReleasePolicy>,
}

/// Body of `PATCH /keys/{name}/{version}`.
#[derive(Debug, Default, Deserialize)]
pub struct KeyUpdateParameters {
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    #[serde(default)]
    pub attributes: Option<KeyAttributesIn>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub release_policy: Option<KeyReleasePolicy>,
}

/// The public half of a key as returned: never a private member.
#[derive(Debug, Serialize)]
pub struct JsonWebKeyOut {
    pub kid: String,
    pub kty: String,
    pub key_ops: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A key (and, when deleted, its deletion fields).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyBundle {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
    pub key: JsonWebKeyOut,
    pub attributes: KeyAttributesOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "release_policy")]
    pub release_policy: Option<KeyReleasePolicy>,
}

/// A key as listed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
    pub kid: String,
    pub attributes: KeyAttributesOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
}

/// Body of encrypt, decrypt, wrapKey and unwrapKey.
#[derive(Debug, Deserialize)]
pub struct KeyOperationsParameters {
    pub alg: String,
    pub value: String,
    #[serde(default)]
    pub iv: Option<String>,
    #[serde(default)]
    pub aad: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
}

/// Result of encrypt, decrypt, wrapKey and unwrapKey.
#[derive(Debug, Serialize)]
pub struct KeyOperationResult {
    pub kid: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
}

/// Body of sign.
#[derive(Debug, Deserialize)]
pub struct KeySignParameters {
    pub alg: String,
    pub value: String,
}

/// Body of verify.
#[derive(Debug, Deserialize)]
pub struct KeyVerifyParameters {
    pub alg: String,
    pub digest: String,
    pub value: String,
}

/// Result of verify.
#[derive(Debug, Serialize)]
pub struct KeyVerifyResult {
    pub value: bool,
}

/// Body of `POST /rng`.
#[derive(Debug, Deserialize)]
pub struct GetRandomBytesRequest {
    pub count: i64,
}

/// Result of `POST /rng`.
#[derive(Debug, Serialize)]
pub struct RandomBytes {
    pub value: String,
}

/// Body of `POST /keys/{name}/{version}/release`.
#[derive(Debug, Deserialize)]
pub struct KeyReleaseParameters {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub enc: Option<String>,
}

/// When a lifetime action fires: a duration after creation or before expiry (ISO 8601).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeActionTrigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

/// What a lifetime action does: `Rotate` or `Notify`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LifetimeActionType {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct KeyLifetimeAction {
    pub trigger: LifetimeActionTrigger,
    pub action: LifetimeActionType,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicyAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

/// A key's rotation policy, in and out.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub lifetime_actions: Vec<KeyLifetimeAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<KeyRotationPolicyAttributes>,
}
