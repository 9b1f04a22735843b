//! Keys of the instance itself: the data keys for its own records and for backup blobs, the
//! per-vault data keys, and the token signing keys (sealed in the store, never in plaintext).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{DataKey, RootKey};
use coffer_identity::{KeySet, SigningKey};
use coffer_store::{DocMode, DocWrite, Store};

use crate::ServiceError;
use crate::records::{INSTANCE, InstanceKeysDoc, SIGNING_KEY, SigningKeyDoc, VaultDoc};

const INSTANCE_KEYS_ID: &str = "keys";

/// The instance's unwrapped keys.
pub(crate) struct InstanceKeys {
    pub(crate) instance: DataKey,
    pub(crate) backup: DataKey,
    pub(crate) instance_id: String,
}

pub(crate) async fn instance_keys(
    store: &dyn Store,
    root: &RootKey,
) -> Result<InstanceKeys, ServiceError> {
    if let Some(doc) = store.get_doc(INSTANCE, INSTANCE_KEYS_ID).await? {
        let d: InstanceKeysDoc = serde_json::from_slice(&doc.body)?;
        return unwrap_instance(&d, root);
    }
    let d = InstanceKeysDoc {
        wrapped_instance_key: B64.encode(root.wrap(&DataKey::generate()?, "instance")?),
        wrapped_backup_key: B64.encode(root.wrap(&DataKey::generate()?, "backup")?),
        instance_id: uuid::Uuid::new_v4().to_string(),
    };
    let write = DocWrite::Put {
        kind: INSTANCE.to_owned(),
        id: INSTANCE_KEYS_ID.to_owned(),
        body: serde_json::to_vec(&d)?,
        mode: DocMode::Create,
    };
    match store.write_docs(vec![write]).await {
        Ok(()) => unwrap_instance(&d, root),
        // Another node created them first: use theirs.
        Err(coffer_store::StoreError::AlreadyExists) => Box::pin(instance_keys(store, root)).await,
        Err(e) => Err(e.into()),
    }
}

fn unwrap_instance(d: &InstanceKeysDoc, root: &RootKey) -> Result<InstanceKeys, ServiceError> {
    let dec = |s: &str| {
        B64.decode(s)
            .map_err(|e| ServiceError::Internal(format!("instance keys: {e}")))
    };
    let instance = root
        .unwrap_key(&dec(&d.wrapped_instance_key)?, "instance")
        .map_err(root_mismatch)?;
    let backup = root
        .unwrap_key(&dec(&d.wrapped_backup_key)?, "backup")
        .map_err(root_mismatch)?;
    Ok(InstanceKeys {
        instance,
        backup,
        instance_id: d.instance_id.clone(),
    })
}

fn root_mismatch(_: coffer_crypto::CryptoError) -> ServiceError {
    ServiceError::Internal(
        "the root key does not open this data directory's keys (wrong COFFER_ROOT_KEY or root.key?)".to_owned(),
    )
}

/// How long a replaced signing key keeps verifying tokens: the longest token lifetime Coffer
/// issues plus the clock skew it allows, so no token dies before its `exp`.
pub(crate) const RETIRED_KEY_GRACE_SECS: i64 = 86_400 + 300;

/// Loads the token signing keys, newest first, creating the first one on a new instance.
pub(crate) async fn load_or_create_signing_keys(
    store: &dyn Store,
    root: &RootKey,
    now: i64,
) -> Result<KeySet, ServiceError> {
    if store.list_docs(SIGNING_KEY).await?.is_empty() {
        add_signing_key(store, root, now).await?;
    }
    load_signing_keys(store, root).await
}

/// Reads every signing key, newest first.
pub(crate) async fn load_signing_keys(
    store: &dyn Store,
    root: &RootKey,
) -> Result<KeySet, ServiceError> {
    let keys = instance_keys(store, root).await?;
    let mut docs = signing_key_docs(store).await?;
    docs.sort_by_key(|d| std::cmp::Reverse(d.created));
    let mut out = Vec::with_capacity(docs.len());
    for d in &docs {
        let sealed = B64
            .decode(&d.sealed)
            .map_err(|e| ServiceError::Internal(format!("signing key: {e}")))?;
        let der = keys
            .instance
            .open(signing_aad(&d.kid).as_bytes(), &sealed)?;
        out.push(SigningKey::from_pkcs8(&der).map_err(|e| ServiceError::Internal(e.to_string()))?);
    }
    KeySet::new(out).map_err(|e| ServiceError::Internal(e.to_string()))
}

async fn signing_key_docs(store: &dyn Store) -> Result<Vec<SigningKeyDoc>, ServiceError> {
    store
        .list_docs(SIGNING_KEY)
        .await?
        .iter()
        .map(|d| serde_json::from_slice(&d.body).map_err(ServiceError::from))
        .collect()
}

/// Adds a new signing key, which becomes the current one, and retires keys whose successor has
/// been current for longer than [`RETIRED_KEY_GRACE_SECS`]. Returns the new key id.
pub(crate) async fn add_signing_key(
    store: &dyn Store,
    root: &RootKey,
    now: i64,
) -> Result<String, ServiceError> {
    let keys = instance_keys(store, root).await?;
    let mut existing = signing_key_docs(store).await?;
    existing.sort_by_key(|d| d.created);
    let key = SigningKey::generate().map_err(|e| ServiceError::Internal(e.to_string()))?;
    // Keys are ordered by creation time; a rotation in the same second as the last one must
    // still sort after it.
    let created = existing
        .last()
        .map_or(now, |last| now.max(last.created + 1));
    let doc = SigningKeyDoc {
        kid: key.kid().to_owned(),
        created,
        sealed: B64.encode(
            keys.instance
                .seal(signing_aad(key.kid()).as_bytes(), key.pkcs8_der())?,
        ),
    };
    let mut writes = vec![DocWrite::Put {
        kind: SIGNING_KEY.to_owned(),
        id: doc.kid.clone(),
        body: serde_json::to_vec(&doc)?,
        mode: DocMode::Create,
    }];
    // A key is retired once the key after it has been signing for the whole grace period.
    for pair in existing.windows(2) {
        if pair[1].created + RETIRED_KEY_GRACE_SECS <= now {
            writes.push(DocWrite::Delete {
                kind: SIGNING_KEY.to_owned(),
                id: pair[0].kid.clone(),
            });
        }
    }
    store.write_docs(writes).await?;
    Ok(doc.kid)
}

fn signing_aad(kid: &str) -> String {
    format!("coffer/signing-key/{kid}")
}

/// A vault's data key, unwrapped.
pub(crate) fn vault_key(root: &RootKey, vault: &VaultDoc) -> Result<DataKey, ServiceError> {
    let wrapped = B64
        .decode(&vault.wrapped_key)
        .map_err(|e| ServiceError::Internal(format!("vault key: {e}")))?;
    root.unwrap_key(&wrapped, &format!("vault:{}", vault.id))
        .map_err(root_mismatch)
}

/// A new data key for a vault, wrapped for storage.
pub(crate) fn new_vault_key(root: &RootKey, vault_id: &str) -> Result<String, ServiceError> {
    Ok(B64.encode(root.wrap(&DataKey::generate()?, &format!("vault:{vault_id}"))?))
}

#[cfg(test)]
mod tests {
    use coffer_store_sqlite::SqliteStore;

    use super::*;

    #[tokio::test]
    async fn rotation_keeps_the_previous_key_until_its_grace_ends() {
        let store = SqliteStore::open_in_memory().unwrap();
        let root = RootKey::generate().unwrap();
        let first = load_or_create_signing_keys(&store, &root, 1000)
            .await
            .unwrap();
        assert_eq!(first.keys().len(), 1);
        let old_kid = first.current().kid().to_owned();

        let new_kid = add_signing_key(&store, &root, 1000).await.unwrap();
        let set = load_signing_keys(&store, &root).await.unwrap();
        assert_eq!(set.current().kid(), new_kid, "the newest key signs");
        assert!(
            set.find(&old_kid).is_some(),
            "the previous key still verifies"
        );

        // Long after the second key took over, the next rotation retires the first.
        let third = add_signing_key(&store, &root, 1000 + RETIRED_KEY_GRACE_SECS + 1)
            .await
            .unwrap();
        let set = load_signing_keys(&store, &root).await.unwrap();
        assert_eq!(set.current().kid(), third);
        assert!(set.find(&old_kid).is_none());
        assert!(set.find(&new_kid).is_some());
        // A wrong root key cannot open them.
        assert!(
            load_signing_keys(&store, &RootKey::generate().unwrap())
                .await
                .is_err()
        );
    }
}
