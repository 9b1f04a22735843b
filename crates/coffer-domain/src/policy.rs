//! Vault access policies with Azure's permission names, and their evaluation for one caller.

use crate::{DomainError, Principal};

/// Declares one permission family: an enum whose variants carry Azure's spelling, so a typo in
/// a permission cannot compile.
macro_rules! permission_family {
    ($(#[$doc:meta])* $name:ident, $family:literal, { $($variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            /// Every permission of the family, in Azure's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];
            /// The family as access policies and 403 messages name it.
            pub const FAMILY: &'static str = $family;

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Azure's name, compared case-insensitively.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|p| p.as_str().eq_ignore_ascii_case(s))
            }
        }
    };
}

permission_family!(
    /// Permissions on keys, as Azure names them.
    KeyPermission, "keys", {
        Get => "get",
        List => "list",
        Update => "update",
        Create => "create",
        Import => "import",
        Delete => "delete",
        Recover => "recover",
        Backup => "backup",
        Restore => "restore",
        Decrypt => "decrypt",
        Encrypt => "encrypt",
        UnwrapKey => "unwrapKey",
        WrapKey => "wrapKey",
        Verify => "verify",
        Sign => "sign",
        Purge => "purge",
        Release => "release",
        Rotate => "rotate",
        GetRotationPolicy => "getrotationpolicy",
        SetRotationPolicy => "setrotationpolicy",
    }
);

permission_family!(
    /// Permissions on secrets, as Azure names them.
    SecretPermission, "secrets", {
        Get => "get",
        List => "list",
        Set => "set",
        Delete => "delete",
        Recover => "recover",
        Backup => "backup",
        Restore => "restore",
        Purge => "purge",
    }
);

permission_family!(
    /// Permissions on certificates, as Azure names them.
    CertificatePermission, "certificates", {
        Get => "get",
        List => "list",
        Update => "update",
        Create => "create",
        Import => "import",
        Delete => "delete",
        Recover => "recover",
        Backup => "backup",
        Restore => "restore",
        ManageContacts => "managecontacts",
        ManageIssuers => "manageissuers",
        GetIssuers => "getissuers",
        ListIssuers => "listissuers",
        SetIssuers => "setissuers",
        DeleteIssuers => "deleteissuers",
        Purge => "purge",
    }
);

permission_family!(
    /// Permissions on managed storage accounts, as Azure names them.
    StoragePermission, "storage", {
        Get => "get",
        List => "list",
        Delete => "delete",
        Set => "set",
        Update => "update",
        RegenerateKey => "regeneratekey",
        Recover => "recover",
        Purge => "purge",
        Backup => "backup",
        Restore => "restore",
        SetSas => "setsas",
        ListSas => "listsas",
        GetSas => "getsas",
        DeleteSas => "deletesas",
    }
);

/// One permission of any family: what a data-plane operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    Key(KeyPermission),
    Secret(SecretPermission),
    Certificate(CertificatePermission),
    Storage(StoragePermission),
}

impl From<KeyPermission> for Permission {
    fn from(p: KeyPermission) -> Self {
        Self::Key(p)
    }
}

impl From<SecretPermission> for Permission {
    fn from(p: SecretPermission) -> Self {
        Self::Secret(p)
    }
}

impl From<CertificatePermission> for Permission {
    fn from(p: CertificatePermission) -> Self {
        Self::Certificate(p)
    }
}

impl From<StoragePermission> for Permission {
    fn from(p: StoragePermission) -> Self {
        Self::Storage(p)
    }
}

impl Permission {
    pub fn family(self) -> &'static str {
        match self {
            Self::Key(_) => KeyPermission::FAMILY,
            Self::Secret(_) => SecretPermission::FAMILY,
            Self::Certificate(_) => CertificatePermission::FAMILY,
            Self::Storage(_) => StoragePermission::FAMILY,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Key(p) => p.as_str(),
            Self::Secret(p) => p.as_str(),
            Self::Certificate(p) => p.as_str(),
            Self::Storage(p) => p.as_str(),
        }
    }
}

/// The permissions one access-policy entry grants, per family, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub keys: Vec<KeyPermission>,
    pub secrets: Vec<SecretPermission>,
    pub certificates: Vec<CertificatePermission>,
    pub storage: Vec<StoragePermission>,
}

impl Permissions {
    /// Every permission of every family (the portal's "all" template).
    pub fn all() -> Self {
        Self {
            keys: KeyPermission::ALL.to_vec(),
            secrets: SecretPermission::ALL.to_vec(),
            certificates: CertificatePermission::ALL.to_vec(),
            storage: StoragePermission::ALL.to_vec(),
        }
    }

    /// Whether the entry grants `p`.
    pub fn grants(&self, p: Permission) -> bool {
        match p {
            Permission::Key(k) => self.keys.contains(&k),
            Permission::Secret(s) => self.secrets.contains(&s),
            Permission::Certificate(c) => self.certificates.contains(&c),
            Permission::Storage(s) => self.storage.contains(&s),
        }
    }

    /// Names of one family as stored or sent by clients: validated case-insensitively, `all`
    /// expanding to the whole family, duplicates dropped.
    pub fn parse_keys(names: &[String]) -> Result<Vec<KeyPermission>, DomainError> {
        parse_family(
            names,
            KeyPermission::FAMILY,
            KeyPermission::ALL,
            KeyPermission::parse,
            KeyPermission::as_str,
        )
    }

    pub fn parse_secrets(names: &[String]) -> Result<Vec<SecretPermission>, DomainError> {
        parse_family(
            names,
            SecretPermission::FAMILY,
            SecretPermission::ALL,
            SecretPermission::parse,
            SecretPermission::as_str,
        )
    }

    pub fn parse_certificates(names: &[String]) -> Result<Vec<CertificatePermission>, DomainError> {
        parse_family(
            names,
            CertificatePermission::FAMILY,
            CertificatePermission::ALL,
            CertificatePermission::parse,
            CertificatePermission::as_str,
        )
    }

    pub fn parse_storage(names: &[String]) -> Result<Vec<StoragePermission>, DomainError> {
        parse_family(
            names,
            StoragePermission::FAMILY,
            StoragePermission::ALL,
            StoragePermission::parse,
            StoragePermission::as_str,
        )
    }
}

fn parse_family<P: Copy + PartialEq>(
    names: &[String],
    family: &str,
    all: &[P],
    parse: fn(&str) -> Option<P>,
    text: fn(P) -> &'static str,
) -> Result<Vec<P>, DomainError> {
    let mut out: Vec<P> = Vec::new();
    for n in names {
        if n.eq_ignore_ascii_case("all") {
            return Ok(all.to_vec());
        }
        let Some(p) = parse(n) else {
            return Err(DomainError::InvalidParameter(format!(
                "Invalid {family} permission '{}'. Valid values: {}.",
                n.chars().take(40).collect::<String>(),
                all.iter().map(|p| text(*p)).collect::<Vec<_>>().join(", ")
            )));
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// One access-policy entry of a vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    pub tenant_id: String,
    pub object_id: String,
    /// Set for a compound identity: the entry then applies only when this application calls on
    /// behalf of the object.
    pub application_id: Option<String>,
    pub permissions: Permissions,
}

impl AccessPolicy {
    /// Whether this entry describes the caller.
    pub fn matches(&self, who: &Principal) -> bool {
        self.tenant_id.eq_ignore_ascii_case(&who.tenant_id)
            && self.object_id.eq_ignore_ascii_case(&who.object_id)
            && match &self.application_id {
                None => true,
                Some(app) => who
                    .app_id
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(app)),
            }
    }
}

/// Outcome of checking one secret permission against a vault's policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the policy at this index.
    Allow(usize),
    /// Policies matched the caller but none grants the permission.
    DenyMissingPermission,
    /// No policy names the caller at all.
    DenyNoPolicy,
}

/// Decides whether `who` holds `permission` under a vault's policies.
pub fn evaluate(policies: &[AccessPolicy], who: &Principal, permission: Permission) -> Decision {
    let mut matched = false;
    for (i, p) in policies.iter().enumerate() {
        if !p.matches(who) {
            continue;
        }
        matched = true;
        if p.permissions.grants(permission) {
            return Decision::Allow(i);
        }
    }
    if matched {
        Decision::DenyMissingPermission
    } else {
        Decision::DenyNoPolicy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(oid: &str, app: &str) -> Principal {
        Principal {
            tenant_id: "t".into(),
            object_id: oid.into(),
            app_id: Some(app.into()),
            issuer: "i".into(),
        }
    }

    fn policy(oid: &str, app: Option<&str>, secrets: &[SecretPermission]) -> AccessPolicy {
        AccessPolicy {
            tenant_id: "t".into(),
            object_id: oid.into(),
            application_id: app.map(Into::into),
            permissions: Permissions {
                secrets: secrets.to_vec(),
                ..Permissions::default()
            },
        }
    }

    #[test]
    fn evaluation() {
        use SecretPermission::{Get, List, Set};
        let ps = vec![
            policy("a", None, &[Get]),
            policy("u", Some("app1"), &[List]),
        ];
        let secret = Permission::Secret;
        assert_eq!(
            evaluate(&ps, &who("a", "x"), secret(Get)),
            Decision::Allow(0)
        );
        assert_eq!(
            evaluate(&ps, &who("a", "x"), secret(Set)),
            Decision::DenyMissingPermission
        );
        assert_eq!(
            evaluate(&ps, &who("a", "x"), Permission::Key(KeyPermission::Get)),
            Decision::DenyMissingPermission
        );
        assert_eq!(
            evaluate(&ps, &who("b", "x"), secret(Get)),
            Decision::DenyNoPolicy
        );
        // Compound identity: only through the named application.
        assert_eq!(
            evaluate(&ps, &who("u", "app1"), secret(List)),
            Decision::Allow(1)
        );
        assert_eq!(
            evaluate(&ps, &who("u", "app2"), secret(List)),
            Decision::DenyNoPolicy
        );
    }

    #[test]
    fn canonical_names() {
        let got = Permissions::parse_secrets(&["GET".into(), "List".into(), "get".into()]);
        assert_eq!(got, Ok(vec![SecretPermission::Get, SecretPermission::List]));
        assert!(Permissions::parse_secrets(&["sign".into()]).is_err());
        assert_eq!(
            Permissions::parse_secrets(&["all".into()]).map(|v| v.len()),
            Ok(8)
        );
        assert_eq!(
            Permissions::parse_keys(&["unwrapkey".into(), "GetRotationPolicy".into()]),
            Ok(vec![
                KeyPermission::UnwrapKey,
                KeyPermission::GetRotationPolicy
            ])
        );
        assert_eq!(KeyPermission::UnwrapKey.as_str(), "unwrapKey");
        assert_eq!(KeyPermission::ALL.len(), 20);
        assert_eq!(CertificatePermission::ALL.len(), 16);
        assert_eq!(StoragePermission::ALL.len(), 14);
    }

    #[test]
    fn names_round_trip() {
        for p in KeyPermission::ALL {
            assert_eq!(KeyPermission::parse(p.as_str()), Some(*p));
        }
        for p in CertificatePermission::ALL {
            assert_eq!(CertificatePermission::parse(p.as_str()), Some(*p));
        }
        for p in StoragePermission::ALL {
            assert_eq!(StoragePermission::parse(p.as_str()), Some(*p));
        }
    }
}
