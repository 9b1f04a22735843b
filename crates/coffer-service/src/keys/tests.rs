//! Keys use cases against a real (in-memory SQLite) store with a clock the tests move: rotation,
//! rotation policies and the background pass.

use coffer_crypto::keys::{KeyMaterial, KeySpec, PrivateKeyParts, PublicKey};
use coffer_domain::Clock;

use super::*;
use crate::testing::setup;

const DAY: i64 = 86_400;

fn ec() -> KeyCreate {
    KeyCreate {
        kty: "EC".into(),
        ..KeyCreate::default()
    }
}

fn rotate_after(after: &str, expiry: Option<&str>) -> RotationPolicy {
    RotationPolicy {
        lifetime_actions: vec![LifetimeAction {
            action: "Rotate".into(),
            time_after_create: Some(after.into()),
            time_before_expiry: None,
        }],
        expiry_time: expiry.map(Into::into),
        ..RotationPolicy::default()
    }
}

#[tokio::test]
async fn rotating_an_expired_key_gives_a_usable_version() {
    let (c, clock, s) = setup().await;
    let mut create = ec();
    create.attributes.exp = Some(clock.now() + DAY);
    c.create_key(&s, "k", create).await.unwrap();
    clock.advance(2 * DAY);
    let rotated = c.rotate_key(&s, "k").await.unwrap();
    assert_eq!(
        rotated.attributes.expires, None,
        "no policy expiryTime: no exp"
    );
    let signed = c.sign(&s, "k", None, "ES256", vec![1; 32]).await.unwrap();
    assert_eq!(signed.version, rotated.version);

    // With a policy expiryTime, the rotated version expires that long after its creation.
    c.set_rotation_policy(&s, "k", rotate_after("P90D", Some("P60D")))
        .await
        .unwrap();
    let again = c.rotate_key(&s, "k").await.unwrap();
    assert_eq!(again.attributes.expires, Some(clock.now() + 60 * DAY));
}

#[tokio::test]
async fn the_background_pass_rotates_once_per_due_version() {
    let (c, clock, s) = setup().await;
    let first = c.create_key(&s, "k", ec()).await.unwrap();
    c.set_rotation_policy(&s, "k", rotate_after("P7D", None))
        .await
        .unwrap();
    assert_eq!(c.run_key_rotations().await.unwrap(), 0, "not due yet");
    clock.advance(8 * DAY);
    assert_eq!(c.run_key_rotations().await.unwrap(), 1);
    assert_eq!(
        c.run_key_rotations().await.unwrap(),
        0,
        "the new version is not due"
    );
    let latest = c.get_key(&s, "k", None).await.unwrap();
    assert_ne!(latest.version, first.version);
    clock.advance(8 * DAY);
    assert_eq!(c.run_key_rotations().await.unwrap(), 1);
}

#[tokio::test]
async fn rotate_before_expiry_does_not_loop() {
    let (c, clock, s) = setup().await;
    let mut create = ec();
    create.attributes.exp = Some(clock.now() + 10 * DAY);
    c.create_key(&s, "k", create).await.unwrap();
    let policy = RotationPolicy {
        lifetime_actions: vec![LifetimeAction {
            action: "Rotate".into(),
            time_after_create: None,
            time_before_expiry: Some("P30D".into()),
        }],
        ..RotationPolicy::default()
    };
    c.set_rotation_policy(&s, "k", policy).await.unwrap();
    assert_eq!(
        c.run_key_rotations().await.unwrap(),
        1,
        "due: exp is 10 days away"
    );
    for _ in 0..3 {
        clock.advance(DAY);
        assert_eq!(c.run_key_rotations().await.unwrap(), 0, "rotated again");
    }
}

#[tokio::test]
async fn one_broken_key_does_not_stop_the_others() {
    let (c, clock, s) = setup().await;
    // A key held by a token this instance has no longer: its rotation must fail.
    let (key, mut meta) = c.generate_key(&ec()).await.unwrap();
    let name = parse_name("aaa-broken").unwrap();
    meta.name = name.as_str().to_owned();
    meta.provider = "pkcs11".to_owned();
    c.store_key_version(&s, &name, "0".repeat(32), &key, &meta)
        .await
        .unwrap();
    c.create_key(&s, "zzz-good", ec()).await.unwrap();
    for n in ["aaa-broken", "zzz-good"] {
        c.set_rotation_policy(&s, n, rotate_after("P7D", None))
            .await
            .unwrap();
    }
    clock.advance(8 * DAY);
    assert_eq!(c.run_key_rotations().await.unwrap(), 1);
    let versions = c
        .list_key_versions(&s, "zzz-good", None, None)
        .await
        .unwrap();
    assert_eq!(versions.items.len(), 2);
}

#[tokio::test]
async fn empty_lifetime_actions_restore_the_default_policy() {
    let (c, _, s) = setup().await;
    c.create_key(&s, "k", ec()).await.unwrap();
    let default = c.get_rotation_policy(&s, "k").await.unwrap();
    let set = c
        .set_rotation_policy(&s, "k", rotate_after("P30D", None))
        .await
        .unwrap();
    assert_eq!(set.lifetime_actions[0].action, "Rotate");
    let reset = c
        .set_rotation_policy(&s, "k", RotationPolicy::default())
        .await
        .unwrap();
    let pairs = |p: &RotationPolicy| {
        p.lifetime_actions
            .iter()
            .map(|a| (a.action.clone(), a.time_before_expiry.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&reset), pairs(&default));
    assert_eq!(
        pairs(&reset),
        [("Notify".to_owned(), Some("P30D".to_owned()))]
    );
}

#[tokio::test]
async fn a_key_with_any_token_version_is_not_backed_up() {
    let (c, _, s) = setup().await;
    let (key, mut meta) = c.generate_key(&ec()).await.unwrap();
    let name = parse_name("mixed").unwrap();
    meta.name = name.as_str().to_owned();
    meta.kty = "EC-HSM".to_owned();
    meta.provider = "pkcs11".to_owned();
    c.store_key_version(&s, &name, "0".repeat(32), &key, &meta)
        .await
        .unwrap();
    // A software version on top of the token one: the backup would carry both.
    c.create_key(&s, "mixed", ec()).await.unwrap();
    let err = c.backup_key(&s, "mixed").await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::BadParameter(m) if m.contains("HSM")),
        "{err:?}"
    );
    c.create_key(&s, "soft", ec()).await.unwrap();
    c.create_key(&s, "soft", ec()).await.unwrap();
    assert!(!c.backup_key(&s, "soft").await.unwrap().is_empty());
}

/// A token stand-in: keys are made in software, but it is a provider of its own name, and it
/// records what it is asked to destroy.
#[derive(Default)]
struct RecordingToken {
    destroyed: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl KeyProvider for RecordingToken {
    fn name(&self) -> &'static str {
        "recording-token"
    }
    fn generate(&self, spec: &KeySpec) -> Result<NewKey, coffer_crypto::keys::KeyError> {
        coffer_crypto::keys::SoftwareKeys.generate(spec)
    }
    fn import(&self, parts: PrivateKeyParts) -> Result<NewKey, coffer_crypto::keys::KeyError> {
        coffer_crypto::keys::SoftwareKeys.import(parts)
    }
    fn encrypt(
        &self,
        _: &KeyMaterial,
        _: &PublicKey,
        _: coffer_crypto::keys::EncryptionAlgorithm,
        _: &[u8],
        _: coffer_crypto::keys::CipherParams<'_>,
    ) -> Result<coffer_crypto::keys::Encrypted, coffer_crypto::keys::KeyError> {
        unimplemented!()
    }
    fn decrypt(
        &self,
        _: &KeyMaterial,
        _: &PublicKey,
        _: coffer_crypto::keys::EncryptionAlgorithm,
        _: &[u8],
        _: coffer_crypto::keys::CipherParams<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, coffer_crypto::keys::KeyError> {
        unimplemented!()
    }
    fn sign(
        &self,
        _: &KeyMaterial,
        _: &PublicKey,
        _: coffer_crypto::keys::SignatureAlgorithm,
        _: &[u8],
    ) -> Result<Vec<u8>, coffer_crypto::keys::KeyError> {
        unimplemented!()
    }
    fn verify(
        &self,
        _: &KeyMaterial,
        _: &PublicKey,
        _: coffer_crypto::keys::SignatureAlgorithm,
        _: &[u8],
        _: &[u8],
    ) -> Result<bool, coffer_crypto::keys::KeyError> {
        unimplemented!()
    }
    fn wrap(
        &self,
        _: &KeyMaterial,
        _: &PublicKey,
        _: coffer_crypto::keys::EncryptionAlgorithm,
        _: &[u8],
    ) -> Result<Vec<u8>, coffer_crypto::keys::KeyError> {
        unimplemented!()
    }
    fn unwrap(
        &self,
        _: &KeyMaterial,
        _: &PublicKey,
        _: coffer_crypto::keys::EncryptionAlgorithm,
        _: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, coffer_crypto::keys::KeyError> {
        unimplemented!()
    }
    fn destroy(&self, key: &KeyMaterial) -> Result<(), coffer_crypto::keys::KeyError> {
        self.destroyed.lock().unwrap().push(key.0.to_vec());
        Ok(())
    }
}

#[tokio::test]
async fn purging_a_token_key_destroys_every_version_in_the_token() {
    let (c, clock, s) = setup().await;
    let token = Arc::new(RecordingToken::default());
    c.set_hsm_provider(token.clone());
    let hsm = || KeyCreate {
        kty: "EC-HSM".into(),
        ..KeyCreate::default()
    };
    // Purged by hand: two versions, two token objects.
    c.create_key(&s, "by-hand", hsm()).await.unwrap();
    c.rotate_key(&s, "by-hand").await.unwrap();
    c.delete_key(&s, "by-hand").await.unwrap();
    assert!(
        token.destroyed.lock().unwrap().is_empty(),
        "soft delete keeps them"
    );
    c.purge_deleted_key(&s, "by-hand").await.unwrap();
    assert_eq!(token.destroyed.lock().unwrap().len(), 2);
    // Purged by the scheduled pass once retention has passed.
    c.create_key(&s, "by-schedule", hsm()).await.unwrap();
    c.delete_key(&s, "by-schedule").await.unwrap();
    clock.advance(91 * DAY);
    assert_eq!(c.purge_expired().await.unwrap(), 1);
    assert_eq!(token.destroyed.lock().unwrap().len(), 3);
    // Software keys have nothing to release.
    c.create_key(&s, "soft", ec()).await.unwrap();
    c.delete_key(&s, "soft").await.unwrap();
    c.purge_deleted_key(&s, "soft").await.unwrap();
    assert_eq!(token.destroyed.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn purging_a_vault_through_arm_destroys_its_token_keys() {
    let (c, _clock, s) = setup().await;
    let token = Arc::new(RecordingToken::default());
    c.set_hsm_provider(token.clone());
    let hsm = || KeyCreate {
        kty: "EC-HSM".into(),
        ..KeyCreate::default()
    };
    c.create_key(&s, "live", hsm()).await.unwrap();
    c.rotate_key(&s, "live").await.unwrap();
    c.create_key(&s, "gone", hsm()).await.unwrap();
    c.delete_key(&s, "gone").await.unwrap();
    let boot = c.bootstrap().await.unwrap();
    let admin = s.principal().clone();
    let deleted = c
        .delete_vault(
            &admin,
            &boot.subscription_id,
            crate::DEFAULT_RESOURCE_GROUP,
            crate::DEFAULT_VAULT,
        )
        .await
        .unwrap();
    assert!(deleted);
    assert!(
        token.destroyed.lock().unwrap().is_empty(),
        "a soft-deleted vault keeps its keys"
    );
    c.purge_deleted_vault(
        &admin,
        &boot.subscription_id,
        crate::DEFAULT_LOCATION,
        crate::DEFAULT_VAULT,
    )
    .await
    .unwrap();
    // Two versions of the live key, one of the soft-deleted one.
    assert_eq!(token.destroyed.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn moving_a_vault_clock_carries_out_its_due_rotations() {
    let (c, _clock, s) = setup().await;
    let first = c.create_key(&s, "k", ec()).await.unwrap();
    c.set_rotation_policy(&s, "k", rotate_after("P7D", None))
        .await
        .unwrap();
    let boot = c.bootstrap().await.unwrap();
    let admin = s.principal().clone();
    let moved = crate::TestSettings {
        clock_offset_secs: Some(8 * DAY),
        ..crate::TestSettings::default()
    };
    c.put_test_settings(
        &admin,
        &boot.subscription_id,
        crate::DEFAULT_RESOURCE_GROUP,
        crate::DEFAULT_VAULT,
        moved,
    )
    .await
    .unwrap();
    // The rotation ran when the clock moved, and the new version is dated in the vault's time.
    let mut s2 = c
        .system_session(crate::DEFAULT_VAULT)
        .await
        .unwrap()
        .unwrap();
    s2.principal = admin;
    let s = s2;
    let latest = c.get_key(&s, "k", None).await.unwrap();
    assert_ne!(latest.version, first.version);
    assert_eq!(latest.attributes.created, c.vault_now(&s));
    assert_eq!(
        c.run_key_rotations().await.unwrap(),
        0,
        "the new version is not due in the vault's time either"
    );
}
