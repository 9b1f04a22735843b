//! A vault: its tenant, soft-delete settings, access policies and network rules.

use crate::{AccessPolicy, NetworkAcls, RecoveryLevel};

/// Retention Azure applies when none is set.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The range `softDeleteRetentionInDays` may take.
pub const RETENTION_DAYS: std::ops::RangeInclusive<u32> = 7..=90;

/// A vault's settings as the data plane needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vault {
    pub name: String,
    pub tenant_id: String,
    pub soft_delete: bool,
    pub retention_days: u32,
    pub purge_protection: bool,
    pub access_policies: Vec<AccessPolicy>,
    pub network_acls: NetworkAcls,
}

impl Vault {
    pub fn recovery_level(&self) -> RecoveryLevel {
        RecoveryLevel::from_settings(self.soft_delete, self.retention_days, self.purge_protection)
    }

    /// `recoverableDays` as reported in attributes (absent for purgeable vaults).
    pub fn recoverable_days(&self) -> Option<u32> {
        self.soft_delete.then_some(self.retention_days)
    }
}
