//! The pure route step of the vault data plane: method and path to a [`VaultOp`] with the names
//! it carries. Matched by hand because the SDKs send shapes a path router rejects: an empty
//! version segment for "latest" (`/secrets/x/`, `/keys/x//sign`).

use coffer_domain::VaultOp;
use http::Method;

/// A routed request: the operation and the object (or issuer) name and version in its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    pub(crate) op: VaultOp,
    pub(crate) name: Option<&'a str>,
    /// `None` for "latest" (absent or empty version segment).
    pub(crate) version: Option<&'a str>,
}

/// Why a request matched no operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unrouted {
    /// The path belongs to a known collection but not with this method.
    MethodNotAllowed,
    /// The path names nothing Key Vault serves.
    UnknownPath,
}

const COLLECTIONS: &[&str] = &[
    "secrets",
    "deletedsecrets",
    "keys",
    "deletedkeys",
    "certificates",
    "deletedcertificates",
    "rng",
];

fn op(op: VaultOp) -> Route<'static> {
    Route {
        op,
        name: None,
        version: None,
    }
}

fn named(op: VaultOp, name: &str) -> Route<'_> {
    Route {
        op,
        name: Some(name),
        version: None,
    }
}

fn versioned<'a>(op: VaultOp, name: &'a str, version: &'a str) -> Route<'a> {
    Route {
        op,
        name: Some(name),
        version: Some(version).filter(|v| !v.is_empty()),
    }
}

/// Routes a request path (without query) to its operation.
pub(crate) fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, Unrouted> {
    use VaultOp::*;
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // A trailing slash on a collection or object path means the same as none.
    let segs: &[&str] = match segs.as_slice() {
        [rest @ .., ""] if rest.len() == 1 => rest,
        s => s,
    };
    let m = method;
    let r = match (m, segs) {
        // --- secrets
        (&Method::GET, ["secrets"]) => op(SecretList),
        (&Method::GET, ["secrets", n, "versions"]) => named(SecretListVersions, n),
        (&Method::GET, ["secrets", n]) => named(SecretGet, n),
        (&Method::GET, ["secrets", n, v]) => versioned(SecretGet, n, v),
        (&Method::PUT, ["secrets", n]) => named(SecretSet, n),
        (&Method::PATCH, ["secrets", n]) => named(SecretUpdate, n),
        (&Method::PATCH, ["secrets", n, v]) => versioned(SecretUpdate, n, v),
        (&Method::DELETE, ["secrets", n]) => named(SecretDelete, n),
        (&Method::POST, ["secrets", "restore"]) => op(SecretRestore),
        (&Method::POST, ["secrets", n, "backup"]) => named(SecretBackup, n),
        (&Method::GET, ["deletedsecrets"]) => op(SecretListDeleted),
        (&Method::GET, ["deletedsecrets", n]) => named(SecretGetDeleted, n),
        (&Method::DELETE, ["deletedsecrets", n]) => named(SecretPurge, n),
        (&Method::POST, ["deletedsecrets", n, "recover"]) => named(SecretRecover, n),

        // --- keys
        (&Method::GET, ["keys"]) => op(KeyList),
        (&Method::POST, ["keys", "restore"]) => op(KeyRestore),
        (&Method::POST, ["keys", n, "create"]) => named(KeyCreate, n),
        (&Method::POST, ["keys", n, "rotate"]) => named(KeyRotate, n),
        (&Method::POST, ["keys", n, "backup"]) => named(KeyBackup, n),
        (&Method::PUT, ["keys", n]) => named(KeyImport, n),
        (&Method::DELETE, ["keys", n]) => named(KeyDelete, n),
        (&Method::GET, ["keys", n, "versions"]) => named(KeyListVersions, n),
        (&Method::GET, ["keys", n, "rotationpolicy"]) => named(KeyRotationPolicyGet, n),
        (&Method::PUT, ["keys", n, "rotationpolicy"]) => named(KeyRotationPolicySet, n),
        (&Method::GET, ["keys", n]) => named(KeyGet, n),
        (&Method::GET, ["keys", n, v]) => versioned(KeyGet, n, v),
        (&Method::GET, ["keys", n, v, "attestation"]) => versioned(KeyAttestationGet, n, v),
        (&Method::PATCH, ["keys", n]) => named(KeyUpdate, n),
        (&Method::PATCH, ["keys", n, v]) => versioned(KeyUpdate, n, v),
        (&Method::POST, ["keys", n, v, action]) => {
            let o = match action.to_ascii_lowercase().as_str() {
                "encrypt" => KeyEncrypt,
                "decrypt" => KeyDecrypt,
                "sign" => KeySign,
                "verify" => KeyVerify,
                "wrapkey" => KeyWrap,
                "unwrapkey" => KeyUnwrap,
                "release" => KeyRelease,
                _ => return Err(Unrouted::UnknownPath),
            };
            versioned(o, n, v)
        }
        (&Method::GET, ["deletedkeys"]) => op(KeyListDeleted),
        (&Method::GET, ["deletedkeys", n]) => named(KeyGetDeleted, n),
        (&Method::DELETE, ["deletedkeys", n]) => named(KeyPurge, n),
        (&Method::POST, ["deletedkeys", n, "recover"]) => named(KeyRecover, n),
        (&Method::POST, ["rng"]) => op(RandomBytesGet),

        // --- certificates
        (&Method::GET, ["certificates"]) => op(CertificateList),
        (&Method::GET, ["certificates", "contacts"]) => op(CertificateContactsGet),
        (&Method::PUT, ["certificates", "contacts"]) => op(CertificateContactsSet),
        (&Method::DELETE, ["certificates", "contacts"]) => op(CertificateContactsDelete),
        (&Method::GET, ["certificates", "issuers"]) => op(CertificateIssuerList),
        (&Method::GET, ["certificates", "issuers", i]) => named(CertificateIssuerGet, i),
        (&Method::PUT, ["certificates", "issuers", i]) => named(CertificateIssuerSet, i),
        (&Method::PATCH, ["certificates", "issuers", i]) => named(CertificateIssuerUpdate, i),
        (&Method::DELETE, ["certificates", "issuers", i]) => named(CertificateIssuerDelete, i),
        (&Method::POST, ["certificates", "restore"]) => op(CertificateRestore),
        (&Method::POST, ["certificates", n, "create"]) => named(CertificateCreate, n),
        (&Method::POST, ["certificates", n, "import"]) => named(CertificateImport, n),
        (&Method::POST, ["certificates", n, "backup"]) => named(CertificateBackup, n),
        (&Method::POST, ["certificates", n, "pending", "merge"]) => {
            named(CertificatePendingMerge, n)
        }
        (&Method::GET, ["certificates", n, "versions"]) => named(CertificateListVersions, n),
        (&Method::GET, ["certificates", n, "policy"]) => named(CertificatePolicyGet, n),
        (&Method::PATCH, ["certificates", n, "policy"]) => named(CertificatePolicyUpdate, n),
        (&Method::GET, ["certificates", n, "pending"]) => named(CertificatePendingGet, n),
        (&Method::PATCH, ["certificates", n, "pending"]) => named(CertificatePendingUpdate, n),
        (&Method::DELETE, ["certificates", n, "pending"]) => named(CertificatePendingDelete, n),
        (&Method::DELETE, ["certificates", n]) => named(CertificateDelete, n),
        (&Method::GET, ["certificates", n]) => named(CertificateGet, n),
        (&Method::GET, ["certificates", n, v]) => versioned(CertificateGet, n, v),
        (&Method::PATCH, ["certificates", n]) => named(CertificateUpdate, n),
        (&Method::PATCH, ["certificates", n, v]) => versioned(CertificateUpdate, n, v),
        (&Method::GET, ["deletedcertificates"]) => op(CertificateListDeleted),
        (&Method::GET, ["deletedcertificates", n]) => named(CertificateGetDeleted, n),
        (&Method::DELETE, ["deletedcertificates", n]) => named(CertificatePurge, n),
        (&Method::POST, ["deletedcertificates", n, "recover"]) => named(CertificateRecover, n),

        _ => {
            let known = segs.first().is_some_and(|f| COLLECTIONS.contains(f));
            return Err(if known {
                Unrouted::MethodNotAllowed
            } else {
                Unrouted::UnknownPath
            });
        }
    };
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use VaultOp::*;

    fn r(m: Method, p: &str) -> Result<(VaultOp, Option<&str>, Option<&str>), Unrouted> {
        route(&m, p).map(|r| (r.op, r.name, r.version))
    }

    #[test]
    fn table() {
        let g = Method::GET;
        let cases: &[(Method, &str, VaultOp, Option<&str>, Option<&str>)] = &[
            (g.clone(), "/secrets", SecretList, None, None),
            (g.clone(), "/secrets/", SecretList, None, None),
            (g.clone(), "/secrets/a", SecretGet, Some("a"), None),
            (g.clone(), "/secrets/a/", SecretGet, Some("a"), None),
            (g.clone(), "/secrets/a/v1", SecretGet, Some("a"), Some("v1")),
            (
                g.clone(),
                "/secrets/a/versions",
                SecretListVersions,
                Some("a"),
                None,
            ),
            (Method::PUT, "/secrets/a", SecretSet, Some("a"), None),
            (Method::PATCH, "/secrets/a/", SecretUpdate, Some("a"), None),
            (Method::POST, "/secrets/restore", SecretRestore, None, None),
            (
                Method::POST,
                "/secrets/a/backup",
                SecretBackup,
                Some("a"),
                None,
            ),
            (g.clone(), "/deletedsecrets", SecretListDeleted, None, None),
            (
                Method::DELETE,
                "/deletedsecrets/a",
                SecretPurge,
                Some("a"),
                None,
            ),
            (
                Method::POST,
                "/deletedsecrets/a/recover",
                SecretRecover,
                Some("a"),
                None,
            ),
            (Method::POST, "/keys/k/create", KeyCreate, Some("k"), None),
            (Method::PUT, "/keys/k", KeyImport, Some("k"), None),
            (Method::POST, "/keys/k//sign", KeySign, Some("k"), None),
            (
                Method::POST,
                "/keys/k/v2/wrapkey",
                KeyWrap,
                Some("k"),
                Some("v2"),
            ),
            (
                Method::POST,
                "/keys/k/v2/unwrapKey",
                KeyUnwrap,
                Some("k"),
                Some("v2"),
            ),
            (
                Method::POST,
                "/keys/k//release",
                KeyRelease,
                Some("k"),
                None,
            ),
            (
                g.clone(),
                "/keys/k/rotationpolicy",
                KeyRotationPolicyGet,
                Some("k"),
                None,
            ),
            (
                Method::PUT,
                "/keys/k/rotationpolicy",
                KeyRotationPolicySet,
                Some("k"),
                None,
            ),
            (
                g.clone(),
                "/keys/k/versions",
                KeyListVersions,
                Some("k"),
                None,
            ),
            (
                g.clone(),
                "/keys/k/v/attestation",
                KeyAttestationGet,
                Some("k"),
                Some("v"),
            ),
            (Method::POST, "/rng", RandomBytesGet, None, None),
            (Method::POST, "/keys/restore", KeyRestore, None, None),
            (
                Method::POST,
                "/certificates/c/create",
                CertificateCreate,
                Some("c"),
                None,
            ),
            (
                g.clone(),
                "/certificates/contacts",
                CertificateContactsGet,
                None,
                None,
            ),
            (
                Method::DELETE,
                "/certificates/contacts",
                CertificateContactsDelete,
                None,
                None,
            ),
            (
                g.clone(),
                "/certificates/issuers",
                CertificateIssuerList,
                None,
                None,
            ),
            (
                Method::PUT,
                "/certificates/issuers/i",
                CertificateIssuerSet,
                Some("i"),
                None,
            ),
            (
                g.clone(),
                "/certificates/c/pending",
                CertificatePendingGet,
                Some("c"),
                None,
            ),
            (
                Method::POST,
                "/certificates/c/pending/merge",
                CertificatePendingMerge,
                Some("c"),
                None,
            ),
            (
                g.clone(),
                "/certificates/c/policy",
                CertificatePolicyGet,
                Some("c"),
                None,
            ),
            (
                g.clone(),
                "/certificates/c/",
                CertificateGet,
                Some("c"),
                None,
            ),
            (
                Method::DELETE,
                "/certificates/c",
                CertificateDelete,
                Some("c"),
                None,
            ),
            (
                g.clone(),
                "/deletedcertificates/c",
                CertificateGetDeleted,
                Some("c"),
                None,
            ),
        ];
        for (m, p, o, n, v) in cases {
            assert_eq!(r(m.clone(), p), Ok((*o, *n, *v)), "{m} {p}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            r(Method::POST, "/secrets/a"),
            Err(Unrouted::MethodNotAllowed)
        );
        assert_eq!(r(Method::GET, "/nothing"), Err(Unrouted::UnknownPath));
        assert_eq!(r(Method::GET, "/"), Err(Unrouted::UnknownPath));
        assert_eq!(
            r(Method::POST, "/keys/k/v/explode"),
            Err(Unrouted::UnknownPath)
        );
        assert_eq!(
            r(Method::GET, "/secrets/a/b/c"),
            Err(Unrouted::MethodNotAllowed)
        );
    }

    #[test]
    fn only_list_operations_page() {
        for p in [
            "/secrets",
            "/keys/k/versions",
            "/deletedcertificates",
            "/certificates/issuers",
        ] {
            assert!(route(&Method::GET, p).unwrap().op.is_list(), "{p}");
        }
        for p in ["/secrets/a", "/keys/k", "/certificates/contacts"] {
            assert!(!route(&Method::GET, p).unwrap().op.is_list(), "{p}");
        }
    }
}
