//! Filling a vault with generated secrets for benchmarks (`coffer seed`): each version is sealed
//! and recorded exactly as `set_secret` would do it, and written in batches, one
//! `Store::append_versions` transaction per batch, without going through HTTP.

use std::ops::Range;

use coffer_store::{ObjectKind, StoreError};

use crate::objects::{CERTIFICATES, MAX_PAGE, SECRETS, object_ref, parse_name};
use crate::records::SecretMeta;
use crate::{Coffer, ServiceError, VaultSession};

/// The largest batch `seed_secrets` writes in one transaction.
pub const MAX_SEED_BATCH: usize = 10_000;

/// The name of seeded secret `i`.
pub fn seed_name(prefix: &str, i: u64) -> String {
    format!("{prefix}{i}")
}

/// The value of a seeded secret: derived from its name, so a reader can check what it got.
pub fn seed_value(name: &str) -> String {
    format!("seeded value of {name}")
}

impl Coffer {
    /// Adds one version to each secret `{prefix}{i}` for `i` in `range` in vault `vault`, `batch`
    /// names per transaction, and calls `progress` with the number written so far after each
    /// batch. Re-running with the same prefix and range adds another version to every name (as
    /// a second `SecretSet` would). A name held by a soft-deleted secret fails its batch (earlier
    /// batches stay written); a certificate's managed secret in the range is refused up front.
    pub async fn seed_secrets(
        &self,
        vault: &str,
        prefix: &str,
        range: Range<u64>,
        batch: usize,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<u64, ServiceError> {
        if batch == 0 || batch > MAX_SEED_BATCH {
            return Err(ServiceError::BadParameter(format!(
                "The batch size must be between 1 and {MAX_SEED_BATCH}."
            )));
        }
        // The longest name of the range decides whether every name is valid.
        if let Some(last) = range.end.checked_sub(1).filter(|_| !range.is_empty()) {
            parse_name(&seed_name(prefix, last))?;
            parse_name(&seed_name(prefix, range.start))?;
        }
        let s = self.system_session(vault).await?.ok_or_else(|| {
            ServiceError::VaultNotFound(format!(
                "No vault named '{}' exists on this Coffer instance.",
                vault.chars().take(64).collect::<String>()
            ))
        })?;
        self.refuse_managed_in_range(&s, prefix, &range).await?;
        let mut written = 0u64;
        let mut next = range.start;
        while next < range.end {
            let end = range
                .end
                .min(next.saturating_add(u64::try_from(batch).unwrap_or(u64::MAX)));
            let mut writes = Vec::with_capacity(batch);
            for i in next..end {
                let name = parse_name(&seed_name(prefix, i))?;
                let meta = SecretMeta {
                    name: name.as_str().to_owned(),
                    content_type: None,
                    tags: None,
                    enabled: true,
                    nbf: None,
                    exp: None,
                    managed: false,
                    kid: None,
                };
                let version = coffer_crypto::random::hex(16)?;
                let value = seed_value(name.as_str());
                let record =
                    self.secret_version(&s, &name.canonical(), version, value.as_bytes(), &meta)?;
                writes.push((object_ref(&s, &SECRETS, &name), record));
            }
            match self.store.append_versions(writes).await {
                Ok(()) => {}
                Err(StoreError::DeletedButRecoverable) => {
                    return Err(ServiceError::DeletedButRecoverable(format!(
                        "A secret named {} to {} is in a deleted but recoverable state, so its name cannot be reused; recover or purge it, or seed with another prefix. {written} secrets were written before it.",
                        seed_name(prefix, next),
                        seed_name(prefix, end - 1)
                    )));
                }
                Err(e) => return Err(e.into()),
            }
            written += end - next;
            next = end;
            progress(written);
        }
        Ok(written)
    }

    /// A certificate's secret changes only with its certificate, so a range that covers the
    /// name of a live certificate is refused before anything is written.
    async fn refuse_managed_in_range(
        &self,
        s: &VaultSession,
        prefix: &str,
        range: &Range<u64>,
    ) -> Result<(), ServiceError> {
        let canonical_prefix = prefix.to_ascii_lowercase();
        // Every name that starts with the prefix sorts after the prefix itself.
        let mut after = canonical_prefix.clone();
        loop {
            let page = self
                .store
                .list_objects(
                    &s.doc.id,
                    ObjectKind::Certificate,
                    false,
                    Some(&after),
                    MAX_PAGE,
                )
                .await?;
            for cert in &page {
                let Some(rest) = cert.name.strip_prefix(&canonical_prefix) else {
                    return Ok(());
                };
                let taken = rest
                    .parse::<u64>()
                    .ok()
                    .filter(|i| range.contains(i) && rest == i.to_string());
                if taken.is_some() {
                    return Err(ServiceError::Disabled {
                        message: format!(
                            "The {} '{}' manages the secret of the same name: seed with another prefix or range.",
                            CERTIFICATES.noun, cert.name
                        ),
                        inner_code: "SecretManagedByKeyVault",
                    });
                }
            }
            match page.last() {
                Some(last) if page.len() == MAX_PAGE => after = last.name.clone(),
                _ => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{SecretInput, ServiceError};

    #[tokio::test]
    async fn seeded_secrets_read_back_through_get_and_list() {
        let (c, _clock, s) = crate::testing::setup().await;
        let mut seen = Vec::new();
        let n = c
            .seed_secrets("dev", "Seed-", 0..25, 10, |w| seen.push(w))
            .await
            .unwrap();
        assert_eq!(n, 25);
        assert_eq!(seen, [10, 20, 25]);
        for i in [0, 9, 10, 24] {
            let got = c.get_secret(&s, &format!("seed-{i}"), None).await.unwrap();
            assert_eq!(got.name, format!("Seed-{i}"));
            assert_eq!(
                got.value.as_deref().map(String::as_str),
                Some(format!("seeded value of Seed-{i}").as_str())
            );
            assert!(got.attributes.enabled);
        }
        let page = c.list_secrets(&s, Some(25), None).await.unwrap();
        assert_eq!(page.items.len(), 25);
        assert!(page.skiptoken.is_none());
    }

    #[tokio::test]
    async fn a_second_run_adds_a_version_per_name() {
        let (c, _clock, s) = crate::testing::setup().await;
        c.seed_secrets("dev", "s", 5..8, 1000, |_| {})
            .await
            .unwrap();
        let first = c.get_secret(&s, "s6", None).await.unwrap().version;
        c.seed_secrets("dev", "s", 5..8, 2, |_| {}).await.unwrap();
        let second = c.get_secret(&s, "s6", None).await.unwrap().version;
        assert_ne!(first, second);
        let versions = c.list_secret_versions(&s, "s6", None, None).await.unwrap();
        assert_eq!(versions.items.len(), 2);
        assert!(matches!(
            c.get_secret(&s, "s4", None).await,
            Err(ServiceError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn bad_input_and_deleted_names_are_refused_clearly() {
        let (c, _clock, s) = crate::testing::setup().await;
        for (vault, prefix, batch) in [("dev", "bad_", 10), ("dev", "ok-", 0), ("nosuch", "a", 1)] {
            let r = c.seed_secrets(vault, prefix, 0..3, batch, |_| {}).await;
            assert!(
                matches!(
                    r,
                    Err(ServiceError::BadParameter(_) | ServiceError::VaultNotFound(_))
                ),
                "{r:?}"
            );
        }
        // 126 + "10" is one character too long for a name.
        let long = "p".repeat(126);
        assert!(matches!(
            c.seed_secrets("dev", &long, 0..11, 5, |_| {}).await,
            Err(ServiceError::BadParameter(_))
        ));
        let input = SecretInput {
            value: String::from("v").into(),
            ..SecretInput::default()
        };
        c.set_secret(&s, "d-3", input).await.unwrap();
        c.delete_secret(&s, "d-3").await.unwrap();
        let err = c
            .seed_secrets("dev", "d-", 0..6, 2, |_| {})
            .await
            .unwrap_err();
        let ServiceError::DeletedButRecoverable(msg) = err else {
            unreachable!("{err:?}");
        };
        assert!(
            msg.contains("d-2 to d-3") && msg.contains("2 secrets"),
            "{msg}"
        );
        // The first batch was written, the failing one not.
        assert!(c.get_secret(&s, "d-1", None).await.is_ok());
        assert!(c.get_secret(&s, "d-2", None).await.is_err());
    }
}
