//! How a key version is stored: its metadata (public half, operations, attributes) beside the
//! sealed material the provider needs to use it again.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use coffer_crypto::keys::{Curve, PublicKey};
use serde::{Deserialize, Serialize};

use crate::ServiceError;

/// Version metadata of a key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyMeta {
    /// The name as the caller spelled it.
    pub(crate) name: String,
    /// Azure's `kty`: RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM.
    pub(crate) kty: String,
    pub(crate) key_ops: Vec<String>,
    pub(crate) public: PublicRecord,
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    #[serde(default)]
    pub(crate) exportable: Option<bool>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) managed: bool,
    #[serde(default)]
    pub(crate) release_policy: Option<ReleasePolicyRecord>,
    /// Which provider holds the private half: `software` or `pkcs11`.
    pub(crate) provider: String,
}

/// The public half, base64url as JWK members.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum PublicRecord {
    Rsa { n: String, e: String },
    Ec { crv: String, x: String, y: String },
    Oct { bits: u32 },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReleasePolicyRecord {
    pub(crate) content_type: Option<String>,
    pub(crate) immutable: Option<bool>,
    pub(crate) data: Option<String>,
}

impl PublicRecord {
    /// The key's row in the throttling table.
    pub(crate) fn throttle_size(&self) -> Option<coffer_domain::throttle::KeySize> {
        use coffer_domain::throttle::KeySize;
        match self {
            // Unpadded base64url: 4 characters per 3 bytes.
            Self::Rsa { n, .. } => Some(KeySize::rsa(
                u32::try_from(n.len() * 6 / 8 * 8).unwrap_or(u32::MAX),
            )),
            Self::Ec { crv, .. } => KeySize::ec(crv),
            Self::Oct { .. } => Some(KeySize::Oct),
        }
    }

    pub(crate) fn from_key(k: &PublicKey) -> Self {
        match k {
            PublicKey::Rsa { n, e } => Self::Rsa {
                n: B64URL.encode(n),
                e: B64URL.encode(e),
            },
            PublicKey::Ec { curve, x, y } => Self::Ec {
                crv: curve.as_str().to_owned(),
                x: B64URL.encode(x),
                y: B64URL.encode(y),
            },
            PublicKey::Oct { bits } => Self::Oct { bits: *bits },
        }
    }

    pub(crate) fn to_key(&self) -> Result<PublicKey, ServiceError> {
        let bad = || ServiceError::Internal("stored public key is malformed".to_owned());
        let dec = |s: &str| B64URL.decode(s).map_err(|_| bad());
        Ok(match self {
            Self::Rsa { n, e } => PublicKey::Rsa {
                n: dec(n)?,
                e: dec(e)?,
            },
            Self::Ec { crv, x, y } => PublicKey::Ec {
                curve: Curve::parse(crv).ok_or_else(bad)?,
                x: dec(x)?,
                y: dec(y)?,
            },
            Self::Oct { bits } => PublicKey::Oct { bits: *bits },
        })
    }
}

/// A key's rotation policy (document kind [`ROTATION_POLICY`], id `<vault id>/<key name>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RotationPolicyDoc {
    pub(crate) lifetime_actions: Vec<LifetimeActionRecord>,
    pub(crate) expiry_time: Option<String>,
    pub(crate) created: i64,
    pub(crate) updated: i64,
    /// The version the background task last rotated from, so it acts once per version.
    #[serde(default)]
    pub(crate) rotated_from: Option<String>,
    /// The version a `Notify` action last fired for.
    #[serde(default)]
    pub(crate) notified_for: Option<String>,
    /// The vault's name and the key's, so the background pass can find them.
    pub(crate) vault: String,
    pub(crate) key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LifetimeActionRecord {
    /// `Rotate` or `Notify`.
    pub(crate) action: String,
    pub(crate) time_after_create: Option<String>,
    pub(crate) time_before_expiry: Option<String>,
}

pub(crate) const ROTATION_POLICY: &str = "key-rotation-policy";
