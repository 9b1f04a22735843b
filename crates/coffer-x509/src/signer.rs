//! Signing keys for certificates and CSRs: a software PKCS#8 key, or a remote signer such as an
//! HSM-held key, both presented to rcgen through its external-key traits (`SigningKey`,
//! `PublicKeyData`) so that rcgen never needs the private key itself.

use std::cell::RefCell;
use std::fmt;

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::X509Error;
use crate::keys::{self, SoftwareKey};

/// The signature algorithm of a signing key, named after the key it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigAlg {
    /// RSA PKCS#1 v1.5 with SHA-256 (any RSA key size).
    RsaSha256,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
    /// ECDSA on P-521 with SHA-512.
    EcdsaP521Sha512,
}

impl SigAlg {
    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Self::RsaSha256 => &rcgen::PKCS_RSA_SHA256,
            Self::EcdsaP256Sha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384Sha384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::EcdsaP521Sha512 => &rcgen::PKCS_ECDSA_P521_SHA512,
        }
    }

    /// Length of a fixed-width `r‖s` ECDSA signature; `None` for RSA.
    fn ecdsa_fixed_len(self) -> Option<usize> {
        match self {
            Self::RsaSha256 => None,
            Self::EcdsaP256Sha256 => Some(64),
            Self::EcdsaP384Sha384 => Some(96),
            Self::EcdsaP521Sha512 => Some(132),
        }
    }
}

/// Why a remote signer could not sign. The message is shown to users: no key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SignerError {
    message: String,
}

impl SignerError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A key that signs elsewhere, for example in an HSM.
pub trait RemoteSigner {
    /// The public key as a DER SubjectPublicKeyInfo.
    fn public_key_der(&self) -> Vec<u8>;
    /// The algorithm the key signs with; must fit the public key.
    fn algorithm(&self) -> SigAlg;
    /// Signs `message` (not a digest: the signer hashes). RSA: the PKCS#1 v1.5 signature.
    /// ECDSA: the fixed-width `r‖s` form that PKCS#11 `CKM_ECDSA` and Key Vault's `sign`
    /// return (64, 96 or 132 bytes); it is DER-encoded here.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
}

/// The key that signs a certificate or CSR.
#[derive(Clone, Copy)]
pub enum SigningKeyRef<'a> {
    /// A software private key in PKCS#8 DER (RSA, or EC on P-256, P-384 or P-521).
    Pkcs8(&'a [u8]),
    /// A key that signs elsewhere.
    Remote(&'a dyn RemoteSigner),
}

impl fmt::Debug for SigningKeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pkcs8(_) => f.write_str("SigningKeyRef::Pkcs8(<redacted>)"),
            Self::Remote(remote) => write!(f, "SigningKeyRef::Remote({:?})", remote.algorithm()),
        }
    }
}

enum Backend<'a> {
    Software(SoftwareKey),
    Remote(&'a dyn RemoteSigner),
}

/// A signing key ready for rcgen. rcgen's signing callback can only report an opaque error, so
/// the real one is kept here and read back with [`Signer::failure`].
pub(crate) struct Signer<'a> {
    backend: Backend<'a>,
    alg: SigAlg,
    spki: Vec<u8>,
    key_bits: Vec<u8>,
    failure: RefCell<Option<X509Error>>,
}

impl<'a> Signer<'a> {
    pub(crate) fn new(key: SigningKeyRef<'a>) -> Result<Self, X509Error> {
        let (backend, alg, spki) = match key {
            SigningKeyRef::Pkcs8(der) => {
                let software = SoftwareKey::from_pkcs8(der)?;
                let alg = software.algorithm();
                let spki = software.spki()?;
                (Backend::Software(software), alg, spki)
            }
            SigningKeyRef::Remote(remote) => {
                let alg = remote.algorithm();
                let spki = remote.public_key_der();
                if keys::spki_algorithm(&spki) != Some(alg) {
                    return Err(X509Error::Signer(format!(
                        "the public key does not fit the algorithm {alg:?}"
                    )));
                }
                (Backend::Remote(remote), alg, spki)
            }
        };
        let key_bits = keys::spki_key_bits(&spki).ok_or(X509Error::InvalidKey)?;
        Ok(Self {
            backend,
            alg,
            spki,
            key_bits,
            failure: RefCell::new(None),
        })
    }

    pub(crate) fn spki(&self) -> &[u8] {
        &self.spki
    }

    pub(crate) fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::Remote(_))
    }

    /// Turns an rcgen failure into ours, preferring the error the signing callback recorded.
    pub(crate) fn failure(&self, err: &rcgen::Error) -> X509Error {
        if let Some(recorded) = self.failure.borrow_mut().take() {
            return recorded;
        }
        match err {
            rcgen::Error::InvalidAsn1String(_) => X509Error::InvalidSpec(
                "a DNS name, email or URI contains characters outside ASCII".into(),
            ),
            rcgen::Error::Time => {
                X509Error::InvalidSpec("the validity period is out of range".into())
            }
            _ => X509Error::Internal("certificate encoding failed"),
        }
    }

    fn sign_inner(&self, message: &[u8]) -> Result<Vec<u8>, X509Error> {
        match &self.backend {
            Backend::Software(key) => key.sign(message),
            Backend::Remote(remote) => {
                let sig = remote
                    .sign(message)
                    .map_err(|e| X509Error::Signer(e.to_string()))?;
                match self.alg.ecdsa_fixed_len() {
                    None => Ok(sig),
                    Some(len) => ecdsa_fixed_to_der(&sig, len),
                }
            }
        }
    }
}

impl PublicKeyData for Signer<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.key_bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg.rcgen()
    }
}

impl SigningKey for Signer<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_inner(msg).map_err(|err| {
            *self.failure.borrow_mut() = Some(err);
            rcgen::Error::RemoteKeyError
        })
    }
}

/// DER-encodes a fixed-width ECDSA signature as `ECDSA-Sig-Value ::= SEQUENCE { r, s }`.
fn ecdsa_fixed_to_der(fixed: &[u8], len: usize) -> Result<Vec<u8>, X509Error> {
    if fixed.len() != len {
        return Err(X509Error::Signer(format!(
            "the ECDSA signature has {} bytes, expected {len} (r and s, fixed width)",
            fixed.len()
        )));
    }
    let (r, s) = fixed.split_at(len / 2);
    Ok(yasna::construct_der(|writer| {
        writer.write_sequence(|writer| {
            writer.next().write_bigint_bytes(r, true);
            writer.next().write_bigint_bytes(s, true);
        });
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ec_pkcs8;

    #[test]
    fn fixed_ecdsa_signatures_become_der_that_verifies() {
        let pkcs8 = ec_pkcs8(SigAlg::EcdsaP256Sha256);
        let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
        )
        .unwrap();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let fixed = key.sign(&rng, b"msg").unwrap();
        let der = ecdsa_fixed_to_der(fixed.as_ref(), 64).unwrap();
        assert_eq!(der[0], 0x30);
        let spki = keys::spki_of_pkcs8(&pkcs8).unwrap();
        assert!(keys::verify(&spki, "1.2.840.10045.4.3.2", b"msg", &der));
        assert!(matches!(
            ecdsa_fixed_to_der(&[1; 63], 64),
            Err(X509Error::Signer(_))
        ));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let text = format!("{:?}", SigningKeyRef::Pkcs8(&[0x42; 8]));
        assert!(!text.contains("42") && !text.contains("66"), "{text}");
    }
}
