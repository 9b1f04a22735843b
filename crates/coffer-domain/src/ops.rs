//! Every data-plane operation of a vault, with the permission it needs and the name Key Vault's
//! audit log gives it. This table is the one place that decides what a request may do.

use crate::policy::{
    CertificatePermission as C, KeyPermission as K, Permission, SecretPermission as S,
};
use crate::throttle::TransactionKind;

/// One Key Vault data-plane operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VaultOp {
    SecretSet,
    SecretGet,
    SecretUpdate,
    SecretList,
    SecretListVersions,
    SecretDelete,
    SecretListDeleted,
    SecretGetDeleted,
    SecretRecover,
    SecretPurge,
    SecretBackup,
    SecretRestore,

    KeyCreate,
    KeyImport,
    KeyGet,
    KeyUpdate,
    KeyList,
    KeyListVersions,
    KeyDelete,
    KeyListDeleted,
    KeyGetDeleted,
    KeyRecover,
    KeyPurge,
    KeyBackup,
    KeyRestore,
    KeyEncrypt,
    KeyDecrypt,
    KeySign,
    KeyVerify,
    KeyWrap,
    KeyUnwrap,
    KeyRelease,
    KeyRotate,
    KeyRotationPolicyGet,
    KeyRotationPolicySet,
    KeyAttestationGet,
    RandomBytesGet,

    CertificateCreate,
    CertificateImport,
    CertificateGet,
    CertificateUpdate,
    CertificateList,
    CertificateListVersions,
    CertificateDelete,
    CertificateListDeleted,
    CertificateGetDeleted,
    CertificateRecover,
    CertificatePurge,
    CertificateBackup,
    CertificateRestore,
    CertificatePolicyGet,
    CertificatePolicyUpdate,
    CertificatePendingGet,
    CertificatePendingUpdate,
    CertificatePendingDelete,
    CertificatePendingMerge,
    CertificateContactsGet,
    CertificateContactsSet,
    CertificateContactsDelete,
    CertificateIssuerList,
    CertificateIssuerGet,
    CertificateIssuerSet,
    CertificateIssuerUpdate,
    CertificateIssuerDelete,
}

impl VaultOp {
    /// Every operation, for tables and tests.
    pub const ALL: &'static [Self] = &[
        Self::SecretSet,
        Self::SecretGet,
        Self::SecretUpdate,
        Self::SecretList,
        Self::SecretListVersions,
        Self::SecretDelete,
        Self::SecretListDeleted,
        Self::SecretGetDeleted,
        Self::SecretRecover,
        Self::SecretPurge,
        Self::SecretBackup,
        Self::SecretRestore,
        Self::KeyCreate,
        Self::KeyImport,
        Self::KeyGet,
        Self::KeyUpdate,
        Self::KeyList,
        Self::KeyListVersions,
        Self::KeyDelete,
        Self::KeyListDeleted,
        Self::KeyGetDeleted,
        Self::KeyRecover,
        Self::KeyPurge,
        Self::KeyBackup,
        Self::KeyRestore,
        Self::KeyEncrypt,
        Self::KeyDecrypt,
        Self::KeySign,
        Self::KeyVerify,
        Self::KeyWrap,
        Self::KeyUnwrap,
        Self::KeyRelease,
        Self::KeyRotate,
        Self::KeyRotationPolicyGet,
        Self::KeyRotationPolicySet,
        Self::KeyAttestationGet,
        Self::RandomBytesGet,
        Self::CertificateCreate,
        Self::CertificateImport,
        Self::CertificateGet,
        Self::CertificateUpdate,
        Self::CertificateList,
        Self::CertificateListVersions,
        Self::CertificateDelete,
        Self::CertificateListDeleted,
        Self::CertificateGetDeleted,
        Self::CertificateRecover,
        Self::CertificatePurge,
        Self::CertificateBackup,
        Self::CertificateRestore,
        Self::CertificatePolicyGet,
        Self::CertificatePolicyUpdate,
        Self::CertificatePendingGet,
        Self::CertificatePendingUpdate,
        Self::CertificatePendingDelete,
        Self::CertificatePendingMerge,
        Self::CertificateContactsGet,
        Self::CertificateContactsSet,
        Self::CertificateContactsDelete,
        Self::CertificateIssuerList,
        Self::CertificateIssuerGet,
        Self::CertificateIssuerSet,
        Self::CertificateIssuerUpdate,
        Self::CertificateIssuerDelete,
    ];

    /// The permission an access policy must grant for this operation.
    ///
    /// Random bytes need no object permission: any caller the vault authenticates may ask.
    pub fn permission(self) -> Option<Permission> {
        use VaultOp::*;
        let p: Permission = match self {
            SecretSet => S::Set.into(),
            SecretGet => S::Get.into(),
            SecretUpdate => S::Set.into(),
            SecretList | SecretListVersions | SecretListDeleted | SecretGetDeleted => {
                S::List.into()
            }
            SecretDelete => S::Delete.into(),
            SecretRecover => S::Recover.into(),
            SecretPurge => S::Purge.into(),
            SecretBackup => S::Backup.into(),
            SecretRestore => S::Restore.into(),

            KeyCreate => K::Create.into(),
            KeyImport => K::Import.into(),
            KeyGet | KeyAttestationGet => K::Get.into(),
            KeyUpdate => K::Update.into(),
            KeyList | KeyListVersions | KeyListDeleted | KeyGetDeleted => K::List.into(),
            KeyDelete => K::Delete.into(),
            KeyRecover => K::Recover.into(),
            KeyPurge => K::Purge.into(),
            KeyBackup => K::Backup.into(),
            KeyRestore => K::Restore.into(),
            KeyEncrypt => K::Encrypt.into(),
            KeyDecrypt => K::Decrypt.into(),
            KeySign => K::Sign.into(),
            KeyVerify => K::Verify.into(),
            KeyWrap => K::WrapKey.into(),
            KeyUnwrap => K::UnwrapKey.into(),
            KeyRelease => K::Release.into(),
            KeyRotate => K::Rotate.into(),
            KeyRotationPolicyGet => K::GetRotationPolicy.into(),
            KeyRotationPolicySet => K::SetRotationPolicy.into(),
            RandomBytesGet => return None,

            CertificateCreate | CertificatePendingMerge => C::Create.into(),
            CertificateImport => C::Import.into(),
            CertificateGet | CertificatePolicyGet | CertificatePendingGet => C::Get.into(),
            CertificateUpdate | CertificatePolicyUpdate | CertificatePendingUpdate => {
                C::Update.into()
            }
            CertificateList
            | CertificateListVersions
            | CertificateListDeleted
            | CertificateGetDeleted => C::List.into(),
            CertificateDelete | CertificatePendingDelete => C::Delete.into(),
            CertificateRecover => C::Recover.into(),
            CertificatePurge => C::Purge.into(),
            CertificateBackup => C::Backup.into(),
            CertificateRestore => C::Restore.into(),
            CertificateContactsGet | CertificateContactsSet | CertificateContactsDelete => {
                C::ManageContacts.into()
            }
            CertificateIssuerList => C::ListIssuers.into(),
            CertificateIssuerGet => C::GetIssuers.into(),
            CertificateIssuerSet | CertificateIssuerUpdate => C::SetIssuers.into(),
            CertificateIssuerDelete => C::DeleteIssuers.into(),
        };
        Some(p)
    }

    /// Whether the operation returns a page (and so reads `maxresults` and `$skiptoken`).
    pub fn is_list(self) -> bool {
        use VaultOp::*;
        matches!(
            self,
            SecretList
                | SecretListVersions
                | SecretListDeleted
                | KeyList
                | KeyListVersions
                | KeyListDeleted
                | CertificateList
                | CertificateListVersions
                | CertificateListDeleted
                | CertificateIssuerList
        )
    }

    /// Which column of the throttling table the operation counts in. Operations on one key count
    /// as that key's type; listings, deleted keys, backups and rotation policies touch no key
    /// material and count as vault transactions, and so (for now) do key release and
    /// attestation.
    pub fn transaction_kind(self) -> TransactionKind {
        use VaultOp::*;
        match self {
            KeyCreate | KeyImport | KeyRotate => TransactionKind::KeyCreate,
            KeyGet | KeyUpdate | KeyEncrypt | KeyDecrypt | KeySign | KeyVerify | KeyWrap
            | KeyUnwrap => TransactionKind::KeyOther,
            _ => TransactionKind::Vault,
        }
    }

    /// The `operationName` Key Vault's audit log records.
    pub fn audit_name(self) -> &'static str {
        use VaultOp::*;
        match self {
            SecretSet => "SecretSet",
            SecretGet => "SecretGet",
            SecretUpdate => "SecretUpdate",
            SecretList => "SecretList",
            SecretListVersions => "SecretListVersions",
            SecretDelete => "SecretDelete",
            SecretListDeleted => "SecretListDeleted",
            SecretGetDeleted => "SecretGetDeleted",
            SecretRecover => "SecretRecover",
            SecretPurge => "SecretPurge",
            SecretBackup => "SecretBackup",
            SecretRestore => "SecretRestore",
            KeyCreate => "KeyCreate",
            KeyImport => "KeyImport",
            KeyGet => "KeyGet",
            KeyUpdate => "KeyUpdate",
            KeyList => "KeyList",
            KeyListVersions => "KeyListVersions",
            KeyDelete => "KeyDelete",
            KeyListDeleted => "KeyListDeleted",
            KeyGetDeleted => "KeyGetDeleted",
            KeyRecover => "KeyRecover",
            KeyPurge => "KeyPurge",
            KeyBackup => "KeyBackup",
            KeyRestore => "KeyRestore",
            KeyEncrypt => "KeyEncrypt",
            KeyDecrypt => "KeyDecrypt",
            KeySign => "KeySign",
            KeyVerify => "KeyVerify",
            KeyWrap => "KeyWrap",
            KeyUnwrap => "KeyUnwrap",
            KeyRelease => "KeyRelease",
            KeyRotate => "KeyRotate",
            KeyRotationPolicyGet => "KeyRotationPolicyGet",
            KeyRotationPolicySet => "KeyRotationPolicySet",
            KeyAttestationGet => "KeyAttestationGet",
            RandomBytesGet => "GetRandomBytes",
            CertificateCreate => "CertificateCreate",
            CertificateImport => "CertificateImport",
            CertificateGet => "CertificateGet",
            CertificateUpdate => "CertificateUpdate",
            CertificateList => "CertificateList",
            CertificateListVersions => "CertificateListVersions",
            CertificateDelete => "CertificateDelete",
            CertificateListDeleted => "CertificateListDeleted",
            CertificateGetDeleted => "CertificateGetDeleted",
            CertificateRecover => "CertificateRecover",
            CertificatePurge => "CertificatePurge",
            CertificateBackup => "CertificateBackup",
            CertificateRestore => "CertificateRestore",
            CertificatePolicyGet => "CertificatePolicyGet",
            CertificatePolicyUpdate => "CertificatePolicySet",
            CertificatePendingGet => "CertificatePendingGet",
            CertificatePendingUpdate => "CertificatePendingUpdate",
            CertificatePendingDelete => "CertificatePendingDelete",
            CertificatePendingMerge => "CertificatePendingMerge",
            CertificateContactsGet => "CertificateContactsGet",
            CertificateContactsSet => "CertificateContactsSet",
            CertificateContactsDelete => "CertificateContactsDelete",
            CertificateIssuerList => "CertificateIssuersList",
            CertificateIssuerGet => "CertificateIssuerGet",
            CertificateIssuerSet => "CertificateIssuerSet",
            CertificateIssuerUpdate => "CertificateIssuerUpdate",
            CertificateIssuerDelete => "CertificateIssuerDelete",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_op_but_random_bytes_needs_a_permission() {
        for op in VaultOp::ALL {
            assert_eq!(
                op.permission().is_none(),
                *op == VaultOp::RandomBytesGet,
                "{op:?}"
            );
        }
    }

    #[test]
    fn key_operations_count_in_their_keys_column() {
        assert_eq!(
            VaultOp::KeyCreate.transaction_kind(),
            TransactionKind::KeyCreate
        );
        assert_eq!(
            VaultOp::KeyRotate.transaction_kind(),
            TransactionKind::KeyCreate
        );
        assert_eq!(
            VaultOp::KeySign.transaction_kind(),
            TransactionKind::KeyOther
        );
        assert_eq!(VaultOp::KeyList.transaction_kind(), TransactionKind::Vault);
        assert_eq!(
            VaultOp::SecretGet.transaction_kind(),
            TransactionKind::Vault
        );
        assert_eq!(
            VaultOp::CertificateCreate.transaction_kind(),
            TransactionKind::Vault
        );
    }

    #[test]
    fn audit_names_are_unique() {
        let names: HashSet<_> = VaultOp::ALL.iter().map(|o| o.audit_name()).collect();
        assert_eq!(names.len(), VaultOp::ALL.len());
    }

    #[test]
    fn permissions_stay_in_their_family() {
        for op in VaultOp::ALL {
            let Some(p) = op.permission() else { continue };
            let name = op.audit_name();
            let family = p.family();
            let expected = if name.starts_with("Secret") {
                "secrets"
            } else if name.starts_with("Key") {
                "keys"
            } else {
                "certificates"
            };
            assert_eq!(family, expected, "{op:?}");
        }
        assert_eq!(
            VaultOp::SecretGet.permission(),
            Some(Permission::Secret(S::Get))
        );
        assert_eq!(
            VaultOp::KeyUnwrap.permission(),
            Some(Permission::Key(K::UnwrapKey))
        );
        assert_eq!(
            VaultOp::CertificateIssuerSet.permission(),
            Some(Permission::Certificate(C::SetIssuers))
        );
    }
}
