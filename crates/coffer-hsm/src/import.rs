//! Importing a caller's key into the token with `C_CreateObject`: the private or secret part
//! becomes a sensitive, non-extractable token object like a generated one (though the token
//! records it as not local and not always-sensitive). An imported key pair must sign and verify
//! inside the token before it is accepted, so mismatched JWK members are refused.

use coffer_crypto::keys::{
    Curve, KeyError, NewKey, PrivateKeyParts, PublicKey, SignatureAlgorithm,
};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::Session;
use zeroize::Zeroize;

use crate::ec;
use crate::error::provider;
use crate::handle::KeyId;
use crate::keygen::{aes_attributes, common, kept_inside, new_id};
use crate::{objects, sign};

pub(crate) fn import(
    session: &Session,
    token_label: &str,
    parts: PrivateKeyParts,
) -> Result<NewKey, KeyError> {
    let id = new_id(session)?;
    let (public, mut templates) = templates(parts, &id)?;
    let result = create(session, &mut templates)
        .and_then(|()| self_test(session, token_label, &id, &public));
    match result {
        Ok(()) => Ok(NewKey {
            material: id.to_material(),
            public,
        }),
        Err(err) => {
            let _ = objects::destroy_all(session, &id);
            Err(err)
        }
    }
}

/// The key's public half and the templates of its objects.
fn templates(
    parts: PrivateKeyParts,
    id: &KeyId,
) -> Result<(PublicKey, Vec<Vec<Attribute>>), KeyError> {
    match parts {
        PrivateKeyParts::Rsa {
            n,
            e,
            d,
            p,
            q,
            dp,
            dq,
            qi,
        } => {
            let n = objects::minimal(&n);
            let e = objects::minimal(&e);
            if !matches!(n.len() * 8, 2048 | 3072 | 4096) || n[0] & 0x80 == 0 {
                return Err(KeyError::InvalidKey(
                    "RSA keys to import must be 2048, 3072 or 4096 bits".into(),
                ));
            }
            if e.is_empty() || e.len() > 4 || e[e.len() - 1] & 1 == 0 {
                return Err(KeyError::InvalidKey(
                    "the RSA public exponent is invalid".into(),
                ));
            }
            let missing = [&d, &p, &q, &dp, &dq, &qi].iter().any(|v| v.is_empty());
            if missing {
                return Err(KeyError::InvalidKey(
                    "RSA keys to import need d, p, q, dp, dq and qi".into(),
                ));
            }
            let mut public = common(id);
            public.extend([
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Private(false),
                Attribute::Modulus(n.clone()),
                Attribute::PublicExponent(e.clone()),
                Attribute::Verify(true),
                Attribute::Encrypt(true),
                Attribute::Wrap(true),
            ]);
            let mut private = common(id);
            private.extend([
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Sign(true),
                Attribute::Decrypt(true),
                Attribute::Unwrap(true),
                Attribute::Modulus(n.clone()),
                Attribute::PublicExponent(e.clone()),
            ]);
            private.extend(kept_inside());
            private.extend([
                Attribute::PrivateExponent(d.to_vec()),
                Attribute::Prime1(p.to_vec()),
                Attribute::Prime2(q.to_vec()),
                Attribute::Exponent1(dp.to_vec()),
                Attribute::Exponent2(dq.to_vec()),
                Attribute::Coefficient(qi.to_vec()),
            ]);
            Ok((PublicKey::Rsa { n, e }, vec![public, private]))
        }
        PrivateKeyParts::Ec { curve, x, y, d } => {
            let len = curve.coordinate_len();
            if x.len() != len || y.len() != len || d.len() != len {
                return Err(KeyError::InvalidKey(format!(
                    "{} keys need x, y and d of {len} bytes each",
                    curve.as_str()
                )));
            }
            let mut public = common(id);
            public.extend([
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::Private(false),
                Attribute::EcParams(ec::params(curve).to_vec()),
                Attribute::EcPoint(ec::wrap_point(&x, &y)),
                Attribute::Verify(true),
            ]);
            let mut private = common(id);
            private.extend([
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(ec::params(curve).to_vec()),
                Attribute::Sign(true),
            ]);
            private.extend(kept_inside());
            private.push(Attribute::Value(d.to_vec()));
            Ok((PublicKey::Ec { curve, x, y }, vec![public, private]))
        }
        PrivateKeyParts::Oct { k } => {
            if !matches!(k.len(), 16 | 24 | 32) {
                return Err(KeyError::InvalidKey(
                    "AES keys to import must be 128, 192 or 256 bits".into(),
                ));
            }
            let bits = k.len() as u32 * 8;
            let mut secret = aes_attributes(id);
            secret.push(Attribute::Value(k.to_vec()));
            Ok((PublicKey::Oct { bits }, vec![secret]))
        }
    }
}

/// Creates the objects, then wipes the copies of key bytes the templates held.
fn create(session: &Session, templates: &mut [Vec<Attribute>]) -> Result<(), KeyError> {
    let mut result = Ok(());
    for template in templates.iter_mut() {
        if result.is_ok() {
            result = session
                .create_object(template)
                .map(|_| ())
                .map_err(|e| import_error(&e));
        }
        scrub(template);
    }
    result
}

fn import_error(err: &cryptoki::error::Error) -> KeyError {
    use cryptoki::error::RvError;
    match crate::error::rv_of(err) {
        Some((
            RvError::AttributeValueInvalid
            | RvError::TemplateInconsistent
            | RvError::TemplateIncomplete
            | RvError::CurveNotSupported
            | RvError::DomainParamsInvalid,
            _,
        )) => KeyError::InvalidKey("the PKCS#11 token refused the key to import".into()),
        _ => provider("C_CreateObject", err),
    }
}

fn scrub(template: &mut [Attribute]) {
    for attr in template.iter_mut() {
        if let Attribute::PrivateExponent(v)
        | Attribute::Prime1(v)
        | Attribute::Prime2(v)
        | Attribute::Exponent1(v)
        | Attribute::Exponent2(v)
        | Attribute::Coefficient(v)
        | Attribute::Value(v) = attr
        {
            v.zeroize();
        }
    }
}

/// Signs and verifies a fixed digest with the new pair inside the token: a private part that
/// does not match the public one fails here.
fn self_test(
    session: &Session,
    token_label: &str,
    id: &KeyId,
    public: &PublicKey,
) -> Result<(), KeyError> {
    let alg = match public {
        PublicKey::Rsa { .. } => SignatureAlgorithm::Rs256,
        PublicKey::Ec { curve, .. } => match curve {
            Curve::P256 => SignatureAlgorithm::Es256,
            Curve::P384 => SignatureAlgorithm::Es384,
            Curve::P521 => SignatureAlgorithm::Es512,
            Curve::P256K => SignatureAlgorithm::Es256K,
        },
        PublicKey::Oct { .. } => return Ok(()),
    };
    let digest = vec![0x5a; alg.digest_len()];
    let signature =
        sign::sign(session, token_label, id, public, alg, &digest).map_err(|e| match e {
            KeyError::Provider(_) => KeyError::InvalidKey(
                "the key to import could not be used by the PKCS#11 token".into(),
            ),
            other => other,
        })?;
    if sign::verify(session, token_label, id, public, alg, &digest, &signature)? {
        Ok(())
    } else {
        Err(KeyError::InvalidKey(
            "the private and public parts of the key to import do not match".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    const ID: KeyId = KeyId([0x11; 16]);

    #[test]
    fn bad_sizes_are_refused_before_the_token() {
        let short_rsa = PrivateKeyParts::Rsa {
            n: vec![0xc1; 128],
            e: vec![1, 0, 1],
            d: Zeroizing::new(vec![1]),
            p: Zeroizing::new(vec![1]),
            q: Zeroizing::new(vec![1]),
            dp: Zeroizing::new(vec![1]),
            dq: Zeroizing::new(vec![1]),
            qi: Zeroizing::new(vec![1]),
        };
        assert!(matches!(
            templates(short_rsa, &ID),
            Err(KeyError::InvalidKey(_))
        ));
        let even_e = PrivateKeyParts::Rsa {
            n: vec![0xc1; 256],
            e: vec![1, 0, 0],
            d: Zeroizing::new(vec![1]),
            p: Zeroizing::new(vec![1]),
            q: Zeroizing::new(vec![1]),
            dp: Zeroizing::new(vec![1]),
            dq: Zeroizing::new(vec![1]),
            qi: Zeroizing::new(vec![1]),
        };
        assert!(matches!(
            templates(even_e, &ID),
            Err(KeyError::InvalidKey(_))
        ));
        let ec = PrivateKeyParts::Ec {
            curve: Curve::P384,
            x: vec![1; 32],
            y: vec![1; 48],
            d: Zeroizing::new(vec![1; 48]),
        };
        assert!(matches!(templates(ec, &ID), Err(KeyError::InvalidKey(_))));
        let aes = PrivateKeyParts::Oct {
            k: Zeroizing::new(vec![1; 20]),
        };
        assert!(matches!(templates(aes, &ID), Err(KeyError::InvalidKey(_))));
    }

    #[test]
    fn templates_carry_the_public_half() {
        let (public, objects) = templates(
            PrivateKeyParts::Ec {
                curve: Curve::P256,
                x: vec![1; 32],
                y: vec![2; 32],
                d: Zeroizing::new(vec![3; 32]),
            },
            &ID,
        )
        .unwrap();
        assert_eq!(
            public,
            PublicKey::Ec {
                curve: Curve::P256,
                x: vec![1; 32],
                y: vec![2; 32]
            }
        );
        assert_eq!(objects.len(), 2);
        let (public, objects) = templates(
            PrivateKeyParts::Oct {
                k: Zeroizing::new(vec![9; 24]),
            },
            &ID,
        )
        .unwrap();
        assert_eq!(public, PublicKey::Oct { bits: 192 });
        assert_eq!(objects.len(), 1);
        // An imported secret is kept inside the token like a generated one.
        assert!(
            objects[0]
                .iter()
                .any(|a| matches!(a, Attribute::Sensitive(true)))
        );
        assert!(
            objects[0]
                .iter()
                .any(|a| matches!(a, Attribute::Extractable(false)))
        );
        assert!(
            objects[0]
                .iter()
                .any(|a| matches!(a, Attribute::Token(true)))
        );
    }

    #[test]
    fn scrub_wipes_key_bytes_only() {
        let mut template = vec![
            Attribute::Modulus(vec![7; 4]),
            Attribute::PrivateExponent(vec![7; 4]),
            Attribute::Value(vec![7; 4]),
        ];
        scrub(&mut template);
        assert!(matches!(&template[0], Attribute::Modulus(v) if v == &vec![7; 4]));
        assert!(matches!(&template[1], Attribute::PrivateExponent(v) if v.is_empty()));
        assert!(matches!(&template[2], Attribute::Value(v) if v.is_empty()));
    }
}
