//! Private and public keys as this crate meets them: PKCS#8 software keys loaded with aws-lc-rs,
//! SubjectPublicKeyInfo comparison, PKCS#1/SEC1 to PKCS#8 conversion for PEM imports, and
//! signature verification for chain linking and for checking what a remote signer produced.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, RsaKeyPair, UnparsedPublicKey,
    VerificationAlgorithm,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use crate::{SigAlg, X509Error};

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

const EC_CURVES: [(SigAlg, &EcdsaSigningAlgorithm); 3] = [
    (
        SigAlg::EcdsaP256Sha256,
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    ),
    (
        SigAlg::EcdsaP384Sha384,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    ),
    (
        SigAlg::EcdsaP521Sha512,
        &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    ),
];

/// A PKCS#8 private key loaded into aws-lc-rs, with the signature algorithm it signs with.
pub(crate) enum SoftwareKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, SigAlg),
}

impl SoftwareKey {
    /// Loads an RSA (2048 to 8192 bits) or EC P-256/P-384/P-521 key from PKCS#8 DER.
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, X509Error> {
        crate::check_size(pkcs8)?;
        if let Ok(rsa) = RsaKeyPair::from_pkcs8(pkcs8) {
            return Ok(Self::Rsa(rsa));
        }
        for (alg, signing) in EC_CURVES {
            if let Ok(ec) = EcdsaKeyPair::from_pkcs8(signing, pkcs8) {
                return Ok(Self::Ec(ec, alg));
            }
        }
        Err(X509Error::InvalidKey)
    }

    pub(crate) fn algorithm(&self) -> SigAlg {
        match self {
            Self::Rsa(_) => SigAlg::RsaSha256,
            Self::Ec(_, alg) => *alg,
        }
    }

    /// The SubjectPublicKeyInfo DER of the key.
    pub(crate) fn spki(&self) -> Result<Vec<u8>, X509Error> {
        let der = match self {
            Self::Rsa(key) => key.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Self::Ec(key, _) => key.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.map_err(|_| X509Error::Internal("public key encoding failed"))
    }

    /// Signs `message` the way X.509 wants it: PKCS#1 v1.5 for RSA, DER-encoded ECDSA for EC.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, X509Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Self::Rsa(key) => {
                let mut sig = vec![0u8; key.public_modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| X509Error::Internal("RSA signing failed"))?;
                Ok(sig)
            }
            Self::Ec(key, _) => key
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| X509Error::Internal("ECDSA signing failed")),
        }
    }
}

/// The SubjectPublicKeyInfo (DER) of a PKCS#8 private key.
pub fn spki_of_pkcs8(key_pkcs8: &[u8]) -> Result<Vec<u8>, X509Error> {
    SoftwareKey::from_pkcs8(key_pkcs8)?.spki()
}

/// Whether the PKCS#8 private key belongs to the certificate's public key.
pub fn key_matches(cert_der: &[u8], key_pkcs8: &[u8]) -> Result<bool, X509Error> {
    let cert = crate::info::parse_x509(cert_der)?;
    let key_spki = spki_of_pkcs8(key_pkcs8)?;
    Ok(same_public_key(cert.public_key().raw, &key_spki))
}

/// Compares two SPKIs by algorithm, curve and key bits, so that encoding differences in the
/// algorithm parameters (an absent versus a NULL RSA parameter) do not matter.
pub(crate) fn same_public_key(a: &[u8], b: &[u8]) -> bool {
    match (parse_spki(a), parse_spki(b)) {
        (Some(a), Some(b)) => {
            a.algorithm.algorithm == b.algorithm.algorithm
                && curve_of(&a) == curve_of(&b)
                && a.subject_public_key.data == b.subject_public_key.data
        }
        _ => false,
    }
}

fn parse_spki(der: &[u8]) -> Option<SubjectPublicKeyInfo<'_>> {
    match SubjectPublicKeyInfo::from_der(der) {
        Ok(([], spki)) => Some(spki),
        _ => None,
    }
}

fn curve_of(spki: &SubjectPublicKeyInfo<'_>) -> Option<String> {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string())
}

/// What a public key can sign with: RSA keys with RSA-SHA256, EC keys with their curve's hash.
pub(crate) fn spki_algorithm(spki_der: &[u8]) -> Option<SigAlg> {
    let spki = parse_spki(spki_der)?;
    match spki.algorithm.algorithm.to_id_string().as_str() {
        OID_RSA => Some(SigAlg::RsaSha256),
        OID_EC => match curve_of(&spki)?.as_str() {
            OID_P256 => Some(SigAlg::EcdsaP256Sha256),
            OID_P384 => Some(SigAlg::EcdsaP384Sha384),
            OID_P521 => Some(SigAlg::EcdsaP521Sha512),
            _ => None,
        },
        _ => None,
    }
}

/// The raw subjectPublicKey bits of an SPKI (what rcgen calls the key's DER bytes).
pub(crate) fn spki_key_bits(spki_der: &[u8]) -> Option<Vec<u8>> {
    parse_spki(spki_der).map(|spki| spki.subject_public_key.data.to_vec())
}

/// Verifies `signature` over `message` by the key in `spki_der`, for the signature algorithm
/// named by `sig_oid`. Unknown algorithms do not verify.
pub(crate) fn verify(spki_der: &[u8], sig_oid: &str, message: &[u8], signature: &[u8]) -> bool {
    let Some(spki) = parse_spki(spki_der) else {
        return false;
    };
    let curve = curve_of(&spki);
    let alg: &'static dyn VerificationAlgorithm = match (sig_oid, curve.as_deref()) {
        ("1.2.840.113549.1.1.11", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        // Old roots and intermediates still carry SHA-1 signatures; this only links chains.
        ("1.2.840.113549.1.1.5", _) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        ("1.2.840.10045.4.3.2", Some(OID_P256)) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(OID_P256)) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some(OID_P256)) => &signature::ECDSA_P256_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", Some(OID_P384)) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(OID_P384)) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some(OID_P384)) => &signature::ECDSA_P384_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", Some(OID_P521)) => &signature::ECDSA_P521_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(OID_P521)) => &signature::ECDSA_P521_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some(OID_P521)) => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return false,
    };
    UnparsedPublicKey::new(alg, spki.subject_public_key.data.as_ref())
        .verify(message, signature)
        .is_ok()
}

/// Converts a PKCS#1 `RSAPrivateKey` (PEM "RSA PRIVATE KEY") to PKCS#8.
pub(crate) fn pkcs1_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, X509Error> {
    let key = RsaKeyPair::from_der(der).map_err(|_| X509Error::InvalidKey)?;
    let pkcs8: Pkcs8V1Der<'static> = key.as_der().map_err(|_| X509Error::InvalidKey)?;
    Ok(Zeroizing::new(pkcs8.as_ref().to_vec()))
}

/// Converts a SEC1 `ECPrivateKey` (PEM "EC PRIVATE KEY") on P-256, P-384 or P-521 to PKCS#8.
pub(crate) fn sec1_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, X509Error> {
    for (_, signing) in EC_CURVES {
        if let Ok(key) = EcdsaKeyPair::from_private_key_der(signing, der) {
            let doc = key.to_pkcs8v1().map_err(|_| X509Error::InvalidKey)?;
            return Ok(Zeroizing::new(doc.as_ref().to_vec()));
        }
    }
    Err(X509Error::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ec_pkcs8, rsa_pkcs8};

    #[test]
    fn loads_every_supported_key_kind() {
        let rsa = rsa_pkcs8();
        assert_eq!(
            SoftwareKey::from_pkcs8(&rsa).unwrap().algorithm(),
            SigAlg::RsaSha256
        );
        for alg in [
            SigAlg::EcdsaP256Sha256,
            SigAlg::EcdsaP384Sha384,
            SigAlg::EcdsaP521Sha512,
        ] {
            let key = SoftwareKey::from_pkcs8(&ec_pkcs8(alg)).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert_eq!(spki_algorithm(&key.spki().unwrap()), Some(alg));
        }
        assert_eq!(
            SoftwareKey::from_pkcs8(b"not a key").err(),
            Some(X509Error::InvalidKey)
        );
    }

    #[test]
    fn signatures_verify_only_with_the_right_key() {
        let key = SoftwareKey::from_pkcs8(&ec_pkcs8(SigAlg::EcdsaP384Sha384)).unwrap();
        let sig = key.sign(b"hello").unwrap();
        let spki = key.spki().unwrap();
        assert!(verify(&spki, "1.2.840.10045.4.3.3", b"hello", &sig));
        assert!(!verify(&spki, "1.2.840.10045.4.3.3", b"hellO", &sig));
        assert!(!verify(&spki, "1.2.840.10045.4.3.2", b"hello", &sig));
        let other = SoftwareKey::from_pkcs8(&ec_pkcs8(SigAlg::EcdsaP384Sha384)).unwrap();
        assert!(!verify(
            &other.spki().unwrap(),
            "1.2.840.10045.4.3.3",
            b"hello",
            &sig
        ));

        let rsa = SoftwareKey::from_pkcs8(&rsa_pkcs8()).unwrap();
        let sig = rsa.sign(b"hello").unwrap();
        assert!(verify(
            &rsa.spki().unwrap(),
            "1.2.840.113549.1.1.11",
            b"hello",
            &sig
        ));
        assert!(!verify(
            &rsa.spki().unwrap(),
            "1.2.840.113549.1.1.12",
            b"hello",
            &sig
        ));
    }

    #[test]
    fn spki_comparison_ignores_nothing_that_matters() {
        let a = spki_of_pkcs8(&ec_pkcs8(SigAlg::EcdsaP256Sha256)).unwrap();
        let b = spki_of_pkcs8(&ec_pkcs8(SigAlg::EcdsaP256Sha256)).unwrap();
        assert!(same_public_key(&a, &a));
        assert!(!same_public_key(&a, &b));
        assert!(!same_public_key(&a, b"junk"));
        assert_eq!(spki_key_bits(&a).map(|bits| bits.len()), Some(65));
    }
}
