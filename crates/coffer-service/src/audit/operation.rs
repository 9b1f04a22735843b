//! Key Vault's audit operation names (`operationName`), as a closed enum so the request path
//! cannot log a misspelt one.

use std::fmt;
use std::str::FromStr;

macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// An `operationName` of Key Vault's AuditEvent, in its *ObjectVerb* form.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AuditOperation {
            $($(#[$doc])* $name,)*
        }

        impl AuditOperation {
            /// Every operation, in the order Key Vault's documentation lists them.
            pub const ALL: &'static [AuditOperation] = &[$(Self::$name,)*];

            /// The name as Key Vault logs it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }
    };
}

operations! {
    /// A request refused before any operation could be named: no, or no valid, token.
    Authentication,
    VaultGet,
    VaultPut,
    VaultDelete,
    VaultPatch,
    VaultRecover,
    KeyCreate,
    KeyGet,
    KeyImport,
    KeyDelete,
    KeySign,
    KeyVerify,
    KeyWrap,
    KeyUnwrap,
    KeyEncrypt,
    KeyDecrypt,
    KeyUpdate,
    KeyList,
    KeyListVersions,
    KeyPurge,
    KeyBackup,
    KeyRestore,
    KeyRecover,
    KeyGetDeleted,
    KeyListDeleted,
    KeyRotate,
    KeyRotationPolicyGet,
    KeyRotationPolicySet,
    SecretSet,
    SecretGet,
    SecretUpdate,
    SecretDelete,
    SecretList,
    SecretListVersions,
    SecretPurge,
    SecretBackup,
    SecretRestore,
    SecretRecover,
    SecretGetDeleted,
    SecretListDeleted,
    CertificateGet,
    CertificateCreate,
    CertificateImport,
    CertificateUpdate,
    CertificateList,
    CertificateListVersions,
    CertificateDelete,
    CertificatePurge,
    CertificateBackup,
    CertificateRestore,
    CertificateRecover,
    CertificateGetDeleted,
    CertificateListDeleted,
    CertificatePolicyGet,
    CertificatePolicyUpdate,
    CertificatePolicySet,
    CertificateContactsGet,
    CertificateContactsSet,
    CertificateContactsDelete,
    CertificateIssuerGet,
    CertificateIssuerSet,
    CertificateIssuerUpdate,
    CertificateIssuerDelete,
    CertificateIssuersList,
    CertificatePendingGet,
    CertificatePendingMerge,
    CertificatePendingUpdate,
    CertificatePendingDelete,
}

impl fmt::Display for AuditOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of Key Vault's audit operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an audit operation name; names look like SecretGet, KeySign, VaultGet or Authentication"
)]
pub struct UnknownOperation(pub String);

impl FromStr for AuditOperation {
    type Err = UnknownOperation;

    /// Case-insensitive, since people type these on a command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownOperation(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_key_vaults() {
        assert_eq!(AuditOperation::SecretGet.as_str(), "SecretGet");
        assert_eq!(AuditOperation::KeySign.to_string(), "KeySign");
        assert_eq!(
            AuditOperation::CertificateIssuersList.as_str(),
            "CertificateIssuersList"
        );
        let names: HashSet<_> = AuditOperation::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), AuditOperation::ALL.len(), "names are unique");
    }

    #[test]
    fn parses_every_name_case_insensitively() {
        for op in AuditOperation::ALL {
            assert_eq!(op.as_str().parse::<AuditOperation>(), Ok(*op));
            assert_eq!(
                op.as_str().to_ascii_lowercase().parse::<AuditOperation>(),
                Ok(*op)
            );
        }
        let err = "SecretGett".parse::<AuditOperation>().unwrap_err();
        assert_eq!(err, UnknownOperation("SecretGett".into()));
        assert!(err.to_string().contains("SecretGet, KeySign"), "{err}");
    }
}
