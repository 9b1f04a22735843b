//! The Key Vault data-plane api-versions Coffer accepts, and the rules that differ between them.

use crate::DomainError;

/// Every api-version the current official SDKs send.
pub const SUPPORTED: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-04-01",
];

/// A supported api-version, kept as its position in [`SUPPORTED`] so versions compare by age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(usize);

impl ApiVersion {
    /// Parses the `api-version` query parameter; `None` means it was missing.
    pub fn parse(value: Option<&str>) -> Result<Self, DomainError> {
        let Some(v) = value else {
            return Err(DomainError::InvalidApiVersion(
                "The 'api-version' query parameter is missing. Supported versions: ".to_owned()
                    + &SUPPORTED.join(", "),
            ));
        };
        SUPPORTED
            .iter()
            .position(|s| *s == v)
            .map(Self)
            .ok_or_else(|| {
                DomainError::InvalidApiVersion(format!(
                    "The specified version ({}) is not recognized. Consider using the latest supported version ({}). Supported versions: {}",
                    v.chars().take(40).collect::<String>(),
                    SUPPORTED[SUPPORTED.len() - 1],
                    SUPPORTED.join(", ")
                ))
            })
    }

    pub fn as_str(self) -> &'static str {
        SUPPORTED.get(self.0).copied().unwrap_or("7.0")
    }

    /// `recoverableDays` appeared in the attribute bundle with 7.1.
    pub fn has_recoverable_days(self) -> bool {
        self.0 >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_versions_and_refuses_others() {
        for v in SUPPORTED {
            assert_eq!(ApiVersion::parse(Some(v)).map(ApiVersion::as_str), Ok(*v));
        }
        assert!(ApiVersion::parse(None).is_err());
        assert!(ApiVersion::parse(Some("7.7")).is_err());
        assert!(ApiVersion::parse(Some("")).is_err());
        let old = ApiVersion::parse(Some("7.0")).map(ApiVersion::has_recoverable_days);
        assert_eq!(old, Ok(false));
    }
}
