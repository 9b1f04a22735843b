//! Making keys inside the token: RSA and EC key pairs and AES secret keys, as token objects that
//! never leave it (`CKA_SENSITIVE`, not `CKA_EXTRACTABLE`), named by a random `CKA_ID`.

use coffer_crypto::keys::{Curve, KeyError, KeySpec, NewKey, PublicKey};
use cryptoki::error::Error as CkError;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::Session;
use cryptoki::types::Ulong;

use crate::ec;
use crate::error::{is_mechanism_refusal, provider, rv_of};
use crate::handle::{ID_LEN, KeyId};
use crate::objects;

/// A fresh `CKA_ID` from the token's random generator.
pub(crate) fn new_id(session: &Session) -> Result<KeyId, KeyError> {
    let mut id = [0u8; ID_LEN];
    session
        .generate_random_slice(&mut id)
        .map_err(|e| provider("C_GenerateRandom", &e))?;
    Ok(KeyId(id))
}

/// Attributes every object of a key carries.
pub(crate) fn common(id: &KeyId) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Id(id.0.to_vec()),
        Attribute::Label(id.label().into_bytes()),
    ]
}

/// Attributes that keep a private or secret key inside the token.
pub(crate) fn kept_inside() -> [Attribute; 3] {
    [
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ]
}

pub(crate) fn generate(
    session: &Session,
    token_label: &str,
    spec: &KeySpec,
) -> Result<NewKey, KeyError> {
    check_spec(spec)?;
    let id = new_id(session)?;
    let result = match *spec {
        KeySpec::Rsa {
            bits,
            public_exponent,
        } => generate_rsa(session, &id, bits, public_exponent.unwrap_or(65537)),
        KeySpec::Ec { curve } => generate_ec(session, &id, curve),
        KeySpec::Oct { bits } => generate_aes(session, &id, bits),
    };
    match result {
        Ok(public) => Ok(NewKey {
            material: id.to_material(),
            public,
        }),
        Err(err) => {
            // Leave no half-made key behind (the pair may exist though reading it failed).
            let _ = objects::destroy_all(session, &id);
            Err(generation_error(spec, token_label, err))
        }
    }
}

fn check_spec(spec: &KeySpec) -> Result<(), KeyError> {
    match *spec {
        KeySpec::Rsa {
            bits,
            public_exponent,
        } => {
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err(KeyError::InvalidKey(format!(
                    "RSA key size {bits} is not supported; use 2048, 3072 or 4096"
                )));
            }
            if let Some(e) = public_exponent
                && (e < 3 || e.is_multiple_of(2))
            {
                return Err(KeyError::InvalidKey(format!(
                    "RSA public exponent {e} is invalid; it must be odd and at least 3"
                )));
            }
            Ok(())
        }
        KeySpec::Ec { .. } => Ok(()),
        KeySpec::Oct { bits } => {
            if matches!(bits, 128 | 192 | 256) {
                Ok(())
            } else {
                Err(KeyError::InvalidKey(format!(
                    "AES key size {bits} is not supported; use 128, 192 or 256"
                )))
            }
        }
    }
}

/// Why a generation failed, told apart the way a caller can act on it.
enum GenError {
    Token(CkError),
    Key(KeyError),
}

impl From<KeyError> for GenError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

fn generation_error(spec: &KeySpec, token_label: &str, err: GenError) -> KeyError {
    let err = match err {
        GenError::Key(e) => return e,
        GenError::Token(e) => e,
    };
    let what = match *spec {
        KeySpec::Rsa { bits, .. } => format!("RSA {bits}-bit keys"),
        KeySpec::Ec { curve } => format!("EC {} keys", curve.as_str()),
        KeySpec::Oct { bits } => format!("AES {bits}-bit keys"),
    };
    match rv_of(&err) {
        Some((rv, function)) if is_mechanism_refusal(rv, function) => {
            KeyError::UnsupportedAlgorithm(format!(
                "{what} are not supported by the PKCS#11 token '{token_label}'"
            ))
        }
        Some((
            RvError::KeySizeRange | RvError::TemplateInconsistent | RvError::AttributeValueInvalid,
            _,
        )) => KeyError::InvalidKey(format!(
            "the PKCS#11 token '{token_label}' refused to generate {what} with these parameters"
        )),
        _ => provider("key generation", &err),
    }
}

/// The public exponent as big-endian bytes without leading zeros.
fn exponent_bytes(e: u32) -> Vec<u8> {
    objects::minimal(&e.to_be_bytes())
}

fn generate_rsa(
    session: &Session,
    id: &KeyId,
    bits: u32,
    exponent: u32,
) -> Result<PublicKey, GenError> {
    let mut public = common(id);
    public.extend([
        Attribute::Private(false),
        Attribute::ModulusBits(Ulong::from(u64::from(bits))),
        Attribute::PublicExponent(exponent_bytes(exponent)),
        Attribute::Verify(true),
        Attribute::Encrypt(true),
        Attribute::Wrap(true),
    ]);
    let mut private = common(id);
    private.extend(kept_inside());
    private.extend([
        Attribute::Sign(true),
        Attribute::Decrypt(true),
        Attribute::Unwrap(true),
    ]);
    let (public_handle, _) = session
        .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
        .map_err(GenError::Token)?;
    let key = objects::rsa_public(session, public_handle)?;
    if let PublicKey::Rsa { n, e } = &key {
        // A token may round the size or ignore the exponent; the caller asked for these.
        if n.len() * 8 != bits as usize || *e != exponent_bytes(exponent) {
            return Err(KeyError::Provider(
                "the token generated an RSA key other than the one asked for".into(),
            )
            .into());
        }
    }
    Ok(key)
}

fn generate_ec(session: &Session, id: &KeyId, curve: Curve) -> Result<PublicKey, GenError> {
    let mut public = common(id);
    public.extend([
        Attribute::Private(false),
        Attribute::EcParams(ec::params(curve).to_vec()),
        Attribute::Verify(true),
    ]);
    let mut private = common(id);
    private.extend(kept_inside());
    private.push(Attribute::Sign(true));
    let (public_handle, _) = session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(GenError::Token)?;
    Ok(objects::ec_public(session, public_handle, curve)?)
}

/// Attributes of an AES secret key object besides its value or length.
pub(crate) fn aes_attributes(id: &KeyId) -> Vec<Attribute> {
    let mut secret = common(id);
    secret.extend(kept_inside());
    secret.extend([
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
    ]);
    secret
}

fn generate_aes(session: &Session, id: &KeyId, bits: u32) -> Result<PublicKey, GenError> {
    let mut secret = aes_attributes(id);
    secret.push(Attribute::ValueLen(Ulong::from(u64::from(bits / 8))));
    session
        .generate_key(&Mechanism::AesKeyGen, &secret)
        .map_err(GenError::Token)?;
    Ok(PublicKey::Oct { bits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_are_minimal_big_endian() {
        assert_eq!(exponent_bytes(65537), vec![0x01, 0x00, 0x01]);
        assert_eq!(exponent_bytes(3), vec![0x03]);
        assert_eq!(exponent_bytes(0x0100_0001), vec![0x01, 0x00, 0x00, 0x01]);
    }

    #[test]
    fn specs_are_checked_before_the_token_sees_them() {
        for bad in [
            KeySpec::Rsa {
                bits: 1024,
                public_exponent: None,
            },
            KeySpec::Rsa {
                bits: 2048,
                public_exponent: Some(65536),
            },
            KeySpec::Rsa {
                bits: 2048,
                public_exponent: Some(1),
            },
            KeySpec::Oct { bits: 512 },
        ] {
            assert!(matches!(check_spec(&bad), Err(KeyError::InvalidKey(_))));
        }
        for good in [
            KeySpec::Rsa {
                bits: 3072,
                public_exponent: Some(3),
            },
            KeySpec::Ec { curve: Curve::P521 },
            KeySpec::Oct { bits: 192 },
        ] {
            assert!(check_spec(&good).is_ok());
        }
    }

    #[test]
    fn refusals_name_the_key_type_and_token() {
        let err = generation_error(
            &KeySpec::Ec {
                curve: Curve::P256K,
            },
            "vault-hsm",
            GenError::Token(CkError::Pkcs11(
                RvError::CurveNotSupported,
                cryptoki::context::Function::GenerateKeyPair,
            )),
        );
        assert_eq!(
            err,
            KeyError::UnsupportedAlgorithm(
                "EC P-256K keys are not supported by the PKCS#11 token 'vault-hsm'".into()
            )
        );
    }
}
