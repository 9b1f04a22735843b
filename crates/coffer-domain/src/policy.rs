//! Vault access policies with Azure's permission names, and their evaluation for one caller.

use crate::{DomainError, Principal};

/// Permissions on secrets, as Azure names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretPermission {
    Backup,
    Delete,
    Get,
    List,
    Purge,
    Recover,
    Restore,
    Set,
}

impl SecretPermission {
    pub const ALL: [Self; 8] = [
        Self::Get,
        Self::List,
        Self::Set,
        Self::Delete,
        Self::Recover,
        Self::Backup,
        Self::Restore,
        Self::Purge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::Delete => "delete",
            Self::Get => "get",
            Self::List => "list",
            Self::Purge => "purge",
            Self::Recover => "recover",
            Self::Restore => "restore",
            Self::Set => "set",
        }
    }
}

pub const KEY_PERMISSIONS: &[&str] = &[
    "get",
    "list",
    "update",
    "create",
    "import",
    "delete",
    "recover",
    "backup",
    "restore",
    "decrypt",
    "encrypt",
    "unwrapKey",
    "wrapKey",
    "verify",
    "sign",
    "purge",
    "release",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
];
pub const SECRET_PERMISSIONS: &[&str] = &[
    "get", "list", "set", "delete", "recover", "backup", "restore", "purge",
];
pub const CERTIFICATE_PERMISSIONS: &[&str] = &[
    "get",
    "list",
    "update",
    "create",
    "import",
    "delete",
    "recover",
    "backup",
    "restore",
    "managecontacts",
    "manageissuers",
    "getissuers",
    "listissuers",
    "setissuers",
    "deleteissuers",
    "purge",
];
pub const STORAGE_PERMISSIONS: &[&str] = &[
    "get",
    "list",
    "delete",
    "set",
    "update",
    "regeneratekey",
    "recover",
    "purge",
    "backup",
    "restore",
    "setsas",
    "listsas",
    "getsas",
    "deletesas",
];

/// Permission names per object family, canonicalised to Azure's spelling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub keys: Vec<String>,
    pub secrets: Vec<String>,
    pub certificates: Vec<String>,
    pub storage: Vec<String>,
}

impl Permissions {
    /// Every permission of every family (the portal's "all" template).
    pub fn all() -> Self {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        Self {
            keys: own(KEY_PERMISSIONS),
            secrets: own(SECRET_PERMISSIONS),
            certificates: own(CERTIFICATE_PERMISSIONS),
            storage: own(STORAGE_PERMISSIONS),
        }
    }

    /// Validates names case-insensitively against a family's list; `all` expands to the family.
    pub fn canonical_family(family: &str, names: &[String]) -> Result<Vec<String>, DomainError> {
        let known = match family {
            "keys" => KEY_PERMISSIONS,
            "secrets" => SECRET_PERMISSIONS,
            "certificates" => CERTIFICATE_PERMISSIONS,
            "storage" => STORAGE_PERMISSIONS,
            _ => {
                return Err(DomainError::InvalidParameter(format!(
                    "Unknown permission family '{family}'."
                )));
            }
        };
        let mut out: Vec<String> = Vec::new();
        for n in names {
            if n.eq_ignore_ascii_case("all") {
                return Ok(known.iter().map(|s| (*s).to_owned()).collect());
            }
            let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(n)) else {
                return Err(DomainError::InvalidParameter(format!(
                    "Invalid {family} permission '{}'. Valid values: {}.",
                    n.chars().take(40).collect::<String>(),
                    known.join(", ")
                )));
            };
            if !out.iter().any(|o| o == k) {
                out.push((*k).to_owned());
            }
        }
        Ok(out)
    }
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

/// Decides whether `who` holds `permission` in the `family` ("secrets", "keys", ...).
pub fn evaluate(
    policies: &[AccessPolicy],
    who: &Principal,
    family: &str,
    permission: &str,
) -> Decision {
    let mut matched = false;
    for (i, p) in policies.iter().enumerate() {
        if !p.matches(who) {
            continue;
        }
        matched = true;
        let granted = match family {
            "keys" => &p.permissions.keys,
            "secrets" => &p.permissions.secrets,
            "certificates" => &p.permissions.certificates,
            _ => &p.permissions.storage,
        };
        if granted.iter().any(|g| g.eq_ignore_ascii_case(permission)) {
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

    fn policy(oid: &str, app: Option<&str>, secrets: &[&str]) -> AccessPolicy {
        AccessPolicy {
            tenant_id: "t".into(),
            object_id: oid.into(),
            application_id: app.map(Into::into),
            permissions: Permissions {
                secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
                ..Permissions::default()
            },
        }
    }

    #[test]
    fn evaluation() {
        let ps = vec![
            policy("a", None, &["get"]),
            policy("u", Some("app1"), &["list"]),
        ];
        assert_eq!(
            evaluate(&ps, &who("a", "x"), "secrets", "get"),
            Decision::Allow(0)
        );
        assert_eq!(
            evaluate(&ps, &who("a", "x"), "secrets", "set"),
            Decision::DenyMissingPermission
        );
        assert_eq!(
            evaluate(&ps, &who("b", "x"), "secrets", "get"),
            Decision::DenyNoPolicy
        );
        // Compound identity: only through the named application.
        assert_eq!(
            evaluate(&ps, &who("u", "app1"), "secrets", "list"),
            Decision::Allow(1)
        );
        assert_eq!(
            evaluate(&ps, &who("u", "app2"), "secrets", "list"),
            Decision::DenyNoPolicy
        );
    }

    #[test]
    fn canonical_names() {
        let got =
            Permissions::canonical_family("secrets", &["GET".into(), "List".into(), "get".into()]);
        assert_eq!(got, Ok(vec!["get".to_owned(), "list".to_owned()]));
        assert!(Permissions::canonical_family("secrets", &["sign".into()]).is_err());
        assert_eq!(
            Permissions::canonical_family("secrets", &["all".into()]).map(|v| v.len()),
            Ok(8)
        );
    }
}
