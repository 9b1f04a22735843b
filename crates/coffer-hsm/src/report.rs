//! What the token is and can do, for operators and release notes: its identity and each
//! mechanism with the operations and key sizes the token reports for it.

use std::fmt;

use cryptoki::mechanism::MechanismInfo;

/// The token's identity as it reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenReport {
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub firmware_version: String,
    /// The module's own description, e.g. `Implementation of PKCS11`.
    pub library: String,
}

/// One mechanism the token lists, with what `C_GetMechanismInfo` says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MechanismReport {
    /// The PKCS#11 name, e.g. `CKM_RSA_PKCS_OAEP`.
    pub name: String,
    /// Operations: `encrypt`, `decrypt`, `sign`, `verify`, `generate`, `generate_key_pair`,
    /// `wrap`, `unwrap`, `derive`, `digest`.
    pub operations: Vec<&'static str>,
    /// Key sizes as the token counts them (bits for RSA and EC, bytes for AES).
    pub min_key_size: usize,
    pub max_key_size: usize,
}

impl MechanismReport {
    pub(crate) fn new(name: String, info: &MechanismInfo) -> Self {
        let flags = [
            (info.encrypt(), "encrypt"),
            (info.decrypt(), "decrypt"),
            (info.sign(), "sign"),
            (info.verify(), "verify"),
            (info.generate(), "generate"),
            (info.generate_key_pair(), "generate_key_pair"),
            (info.wrap(), "wrap"),
            (info.unwrap(), "unwrap"),
            (info.derive(), "derive"),
            (info.digest(), "digest"),
        ];
        Self {
            name,
            operations: flags
                .into_iter()
                .filter_map(|(on, op)| on.then_some(op))
                .collect(),
            min_key_size: info.min_key_size(),
            max_key_size: info.max_key_size(),
        }
    }
}

impl fmt::Display for MechanismReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}] key size {}..{}",
            self.name,
            self.operations.join(","),
            self.min_key_size,
            self.max_key_size
        )
    }
}
