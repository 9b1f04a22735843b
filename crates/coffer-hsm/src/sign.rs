//! Signing a caller's digest inside the token, and verifying with the token's public key
//! object: `CKM_RSA_PKCS` over a DigestInfo for RS*, `CKM_RSA_PKCS_PSS` for PS*, `CKM_ECDSA`
//! for ES* (the token returns fixed-length `r || s`).

use coffer_crypto::keys::{Curve, KeyError, PublicKey, SignatureAlgorithm};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectClass;
use cryptoki::session::Session;
use cryptoki::types::Ulong;

use crate::error::{is_mechanism_refusal, provider, rv_of};
use crate::handle::KeyId;
use crate::objects;

/// DER DigestInfo prefixes (RFC 8017 §9.2, note 1) that PKCS#1 v1.5 signs before the digest.
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// What the token is asked to sign or verify, and with which mechanism.
struct Plan {
    mechanism: Mechanism<'static>,
    data: Vec<u8>,
    /// The fixed signature length of ECDSA (`r || s`); RSA signatures are as long as `n`.
    ec_signature_len: Option<usize>,
}

fn plan(public: &PublicKey, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Plan, KeyError> {
    use SignatureAlgorithm as S;
    if digest.len() != alg.digest_len() {
        return Err(KeyError::InvalidInput(format!(
            "{} signs a {}-byte digest; got {} bytes",
            alg.as_str(),
            alg.digest_len(),
            digest.len()
        )));
    }
    let pss = |hash_alg, mgf| {
        Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg,
            mgf,
            s_len: Ulong::from(digest.len() as u64),
        })
    };
    let pkcs1 = |prefix: &[u8]| [prefix, digest].concat();
    match (alg, public) {
        (
            S::Rs256 | S::Rs384 | S::Rs512 | S::Ps256 | S::Ps384 | S::Ps512,
            PublicKey::Rsa { .. },
        ) => {
            let (mechanism, data) = match alg {
                S::Rs256 => (Mechanism::RsaPkcs, pkcs1(DIGEST_INFO_SHA256)),
                S::Rs384 => (Mechanism::RsaPkcs, pkcs1(DIGEST_INFO_SHA384)),
                S::Rs512 => (Mechanism::RsaPkcs, pkcs1(DIGEST_INFO_SHA512)),
                S::Ps256 => (
                    pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
                    digest.to_vec(),
                ),
                S::Ps384 => (
                    pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
                    digest.to_vec(),
                ),
                _ => (
                    pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
                    digest.to_vec(),
                ),
            };
            Ok(Plan {
                mechanism,
                data,
                ec_signature_len: None,
            })
        }
        (S::Es256 | S::Es384 | S::Es512 | S::Es256K, PublicKey::Ec { curve, .. }) => {
            let wanted = match alg {
                S::Es256 => Curve::P256,
                S::Es384 => Curve::P384,
                S::Es512 => Curve::P521,
                _ => Curve::P256K,
            };
            if *curve != wanted {
                return Err(KeyError::UnsupportedAlgorithm(format!(
                    "{} needs a {} key; this key is {}",
                    alg.as_str(),
                    wanted.as_str(),
                    curve.as_str()
                )));
            }
            Ok(Plan {
                mechanism: Mechanism::Ecdsa,
                data: digest.to_vec(),
                ec_signature_len: Some(2 * curve.coordinate_len()),
            })
        }
        (_, other) => Err(KeyError::UnsupportedAlgorithm(format!(
            "{} cannot be used with {} key",
            alg.as_str(),
            key_kind(other)
        ))),
    }
}

/// "an RSA", "an EC", "an oct": for messages about a key type.
pub(crate) fn key_kind(public: &PublicKey) -> &'static str {
    match public {
        PublicKey::Rsa { .. } => "an RSA",
        PublicKey::Ec { .. } => "an EC",
        PublicKey::Oct { .. } => "an oct (AES)",
    }
}

fn unsupported(alg: SignatureAlgorithm, token_label: &str) -> KeyError {
    KeyError::UnsupportedAlgorithm(format!(
        "{} is not supported by the PKCS#11 token '{token_label}'",
        alg.as_str()
    ))
}

pub(crate) fn sign(
    session: &Session,
    token_label: &str,
    id: &KeyId,
    public: &PublicKey,
    alg: SignatureAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let plan = plan(public, alg, digest)?;
    let key = objects::find(session, id, ObjectClass::PRIVATE_KEY, token_label)?;
    let signature = session
        .sign(&plan.mechanism, key, &plan.data)
        .map_err(|e| match rv_of(&e) {
            Some((rv, f)) if is_mechanism_refusal(rv, f) => unsupported(alg, token_label),
            _ => provider("C_Sign", &e),
        })?;
    if let Some(len) = plan.ec_signature_len
        && signature.len() != len
    {
        return Err(KeyError::Provider(format!(
            "the token returned a {}-byte {} signature; expected {len}",
            signature.len(),
            alg.as_str()
        )));
    }
    Ok(signature)
}

pub(crate) fn verify(
    session: &Session,
    token_label: &str,
    id: &KeyId,
    public: &PublicKey,
    alg: SignatureAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, KeyError> {
    let plan = plan(public, alg, digest)?;
    if plan
        .ec_signature_len
        .is_some_and(|len| len != signature.len())
    {
        return Ok(false);
    }
    let key = objects::find(session, id, ObjectClass::PUBLIC_KEY, token_label)?;
    match session.verify(&plan.mechanism, key, &plan.data, signature) {
        Ok(()) => Ok(true),
        Err(e) => match rv_of(&e) {
            Some((RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => Ok(false),
            Some((rv, f)) if is_mechanism_refusal(rv, f) => Err(unsupported(alg, token_label)),
            _ => Err(provider("C_Verify", &e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa() -> PublicKey {
        PublicKey::Rsa {
            n: vec![0xc5; 256],
            e: vec![1, 0, 1],
        }
    }

    fn ec(curve: Curve) -> PublicKey {
        PublicKey::Ec {
            curve,
            x: vec![1; curve.coordinate_len()],
            y: vec![2; curve.coordinate_len()],
        }
    }

    #[test]
    fn pkcs1_signs_the_digest_info() {
        let digest = [7u8; 48];
        let p = plan(&rsa(), SignatureAlgorithm::Rs384, &digest).unwrap();
        assert!(matches!(p.mechanism, Mechanism::RsaPkcs));
        assert_eq!(p.data.len(), 19 + 48);
        assert_eq!(&p.data[..19], DIGEST_INFO_SHA384);
        assert_eq!(&p.data[19..], &digest);
        // The prefix's last byte is the digest length.
        for (prefix, len) in [
            (DIGEST_INFO_SHA256, 32),
            (DIGEST_INFO_SHA384, 48),
            (DIGEST_INFO_SHA512, 64),
        ] {
            assert_eq!(usize::from(prefix[18]), len);
            assert_eq!(usize::from(prefix[1]), prefix.len() - 2 + len);
        }
    }

    #[test]
    fn pss_salt_is_the_digest_length() {
        let p = plan(&rsa(), SignatureAlgorithm::Ps512, &[0u8; 64]).unwrap();
        match p.mechanism {
            Mechanism::RsaPkcsPss(params) => {
                assert_eq!(params.hash_alg, MechanismType::SHA512);
                assert_eq!(params.mgf, PkcsMgfType::MGF1_SHA512);
                assert_eq!(u64::from(params.s_len), 64);
            }
            _ => panic!("PS512 must use CKM_RSA_PKCS_PSS"),
        }
        assert_eq!(p.data, vec![0u8; 64]);
    }

    #[test]
    fn ecdsa_needs_the_matching_curve() {
        let p = plan(&ec(Curve::P521), SignatureAlgorithm::Es512, &[0u8; 64]).unwrap();
        assert_eq!(p.ec_signature_len, Some(132));
        let err = plan(&ec(Curve::P256), SignatureAlgorithm::Es384, &[0u8; 48])
            .err()
            .unwrap();
        assert_eq!(
            err,
            KeyError::UnsupportedAlgorithm("ES384 needs a P-384 key; this key is P-256".into())
        );
    }

    #[test]
    fn wrong_digest_length_and_key_type_are_refused() {
        assert!(matches!(
            plan(&rsa(), SignatureAlgorithm::Rs256, &[0u8; 31]),
            Err(KeyError::InvalidInput(_))
        ));
        assert_eq!(
            plan(&rsa(), SignatureAlgorithm::Es256, &[0u8; 32]).err(),
            Some(KeyError::UnsupportedAlgorithm(
                "ES256 cannot be used with an RSA key".into()
            ))
        );
        assert!(matches!(
            plan(
                &PublicKey::Oct { bits: 256 },
                SignatureAlgorithm::Ps256,
                &[0u8; 32]
            ),
            Err(KeyError::UnsupportedAlgorithm(_))
        ));
    }
}
