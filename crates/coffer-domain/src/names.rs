//! Validated object and vault names, as Azure Key Vault defines them.

use std::fmt;

use crate::DomainError;

/// Name of a secret, key or certificate: 1–127 characters of `0-9a-zA-Z-`.
///
/// Names are case-insensitive in Key Vault; [`ObjectName::canonical`] is the key used for storage
/// while [`ObjectName::as_str`] keeps the caller's spelling for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectName(String);

impl ObjectName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let valid = !s.is_empty()
            && s.len() <= 127
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::InvalidName(format!(
                "The name '{}' is invalid. Object names must be 1-127 characters long and contain only 0-9, a-z, A-Z, and -.",
                truncate(s, 140)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Name of a vault: 3–24 characters, letters, digits and hyphens, starting with a letter, ending
/// with a letter or digit, no consecutive hyphens. Always lowercase (DNS label).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaultName(String);

impl VaultName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let b = s.as_bytes();
        let valid = (3..=24).contains(&b.len())
            && b[0].is_ascii_alphabetic()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && !s.contains("--");
        if valid {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(DomainError::InvalidName(format!(
                "The vault name '{}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.",
                truncate(s, 64)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Caps echoed user input so an error message cannot be inflated by a hostile name.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        for ok in ["a", "A-1", &"x".repeat(127)] {
            assert!(ObjectName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a_b", "a b", "ä", "a/b", "a.b", &"x".repeat(128)] {
            assert!(ObjectName::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ObjectName::parse("MySecret").map(|n| n.canonical()),
            Ok("mysecret".into())
        );
    }

    #[test]
    fn vault_names() {
        for ok in ["dev", "my-vault-1", "Abc"] {
            assert!(VaultName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "1abc", "abc-", "a--b", "a_bc", &"x".repeat(25)] {
            assert!(VaultName::parse(bad).is_err(), "{bad}");
        }
    }
}
