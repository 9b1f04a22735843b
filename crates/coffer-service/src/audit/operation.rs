//! Key Vault's audit operation names (`operationName`), as a closed type so the request path
//! cannot log a misspelt one. Data-plane names come from [`VaultOp::audit_name`], the one table of
//! vault operations; this adds the operations that are not data-plane calls.

use std::fmt;
use std::str::FromStr;

use coffer_domain::VaultOp;

/// An `operationName` of Key Vault's AuditEvent, in its *ObjectVerb* form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOperation {
    /// A request refused before any operation could be named: no, or no valid, token.
    Authentication,
    VaultGet,
    VaultPut,
    VaultDelete,
    VaultPatch,
    VaultRecover,
    /// A data-plane operation on secrets, keys or certificates.
    Data(VaultOp),
}

/// The operations that are not data-plane calls.
const OTHERS: &[AuditOperation] = &[
    AuditOperation::Authentication,
    AuditOperation::VaultGet,
    AuditOperation::VaultPut,
    AuditOperation::VaultDelete,
    AuditOperation::VaultPatch,
    AuditOperation::VaultRecover,
];

impl AuditOperation {
    /// Every operation.
    pub fn all() -> impl Iterator<Item = AuditOperation> {
        OTHERS
            .iter()
            .copied()
            .chain(VaultOp::ALL.iter().map(|op| Self::Data(*op)))
    }

    /// The name as Key Vault logs it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "Authentication",
            Self::VaultGet => "VaultGet",
            Self::VaultPut => "VaultPut",
            Self::VaultDelete => "VaultDelete",
            Self::VaultPatch => "VaultPatch",
            Self::VaultRecover => "VaultRecover",
            Self::Data(op) => op.audit_name(),
        }
    }
}

impl From<VaultOp> for AuditOperation {
    fn from(op: VaultOp) -> Self {
        Self::Data(op)
    }
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
        Self::all()
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
        assert_eq!(AuditOperation::Authentication.as_str(), "Authentication");
        assert_eq!(AuditOperation::VaultGet.to_string(), "VaultGet");
        assert_eq!(
            AuditOperation::from(VaultOp::SecretGet).as_str(),
            "SecretGet"
        );
        assert_eq!(AuditOperation::from(VaultOp::KeySign).as_str(), "KeySign");
        let names: HashSet<_> = AuditOperation::all().map(AuditOperation::as_str).collect();
        assert_eq!(
            names.len(),
            AuditOperation::all().count(),
            "every operation has its own name"
        );
    }

    #[test]
    fn parses_every_name_case_insensitively() {
        for op in AuditOperation::all() {
            assert_eq!(op.as_str().parse::<AuditOperation>(), Ok(op));
            assert_eq!(
                op.as_str().to_ascii_lowercase().parse::<AuditOperation>(),
                Ok(op)
            );
        }
        let err = "SecretGett".parse::<AuditOperation>().unwrap_err();
        assert_eq!(err, UnknownOperation("SecretGett".into()));
        assert!(err.to_string().contains("SecretGet, KeySign"), "{err}");
    }
}
