//! Object attributes (enabled, validity window, timestamps) and the recovery level a vault's
//! soft-delete settings give its objects.

/// Lifecycle attributes shared by secrets, keys and certificates. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub enabled: bool,
    pub not_before: Option<i64>,
    pub expires: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

impl Attributes {
    /// Whether `now` lies inside the object's validity window (`nbf` ≤ now < `exp`).
    pub fn is_within_window(&self, now: i64) -> bool {
        self.not_before.is_none_or(|nbf| nbf <= now) && self.expires.is_none_or(|exp| now < exp)
    }
}

/// Azure's `DeletionRecoveryLevel`, derived from a vault's soft-delete settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryLevel {
    CustomizedRecoverable,
    CustomizedRecoverablePurgeable,
    Purgeable,
    Recoverable,
    RecoverablePurgeable,
}

impl RecoveryLevel {
    pub fn from_settings(soft_delete: bool, retention_days: u32, purge_protection: bool) -> Self {
        match (soft_delete, retention_days >= 90, purge_protection) {
            (false, _, _) => Self::Purgeable,
            (true, true, false) => Self::RecoverablePurgeable,
            (true, true, true) => Self::Recoverable,
            (true, false, false) => Self::CustomizedRecoverablePurgeable,
            (true, false, true) => Self::CustomizedRecoverable,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomizedRecoverable => "CustomizedRecoverable",
            Self::CustomizedRecoverablePurgeable => "CustomizedRecoverable+Purgeable",
            Self::Purgeable => "Purgeable",
            Self::Recoverable => "Recoverable",
            Self::RecoverablePurgeable => "Recoverable+Purgeable",
        }
    }

    /// Whether a soft-deleted object may be purged before its scheduled date.
    pub fn allows_purge(self) -> bool {
        matches!(
            self,
            Self::Purgeable | Self::RecoverablePurgeable | Self::CustomizedRecoverablePurgeable
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window() {
        let a = Attributes {
            enabled: true,
            not_before: Some(10),
            expires: Some(20),
            created: 0,
            updated: 0,
        };
        assert!(!a.is_within_window(9));
        assert!(a.is_within_window(10));
        assert!(!a.is_within_window(20));
    }

    #[test]
    fn recovery_levels() {
        assert_eq!(
            RecoveryLevel::from_settings(true, 90, false).as_str(),
            "Recoverable+Purgeable"
        );
        assert_eq!(
            RecoveryLevel::from_settings(true, 7, true).as_str(),
            "CustomizedRecoverable"
        );
        assert!(!RecoveryLevel::from_settings(true, 90, true).allows_purge());
    }
}
