//! Finding a key's objects by `CKA_ID`, reading the public half from the token, and destroying
//! them.

use coffer_crypto::keys::{Curve, KeyError, PublicKey};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::ec;
use crate::error::provider;
use crate::handle::KeyId;

/// The object of `class` holding key `id`. Exactly one must exist: two would mean the token
/// holds objects Coffer did not make under an id it chose at random.
pub(crate) fn find(
    session: &Session,
    id: &KeyId,
    class: ObjectClass,
    token_label: &str,
) -> Result<ObjectHandle, KeyError> {
    let found = session
        .find_objects(&[
            Attribute::Token(true),
            Attribute::Class(class),
            Attribute::Id(id.0.to_vec()),
        ])
        .map_err(|e| provider("C_FindObjects", &e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(KeyError::Provider(format!(
            "key {} has no {class} object in PKCS#11 token '{token_label}'",
            id.label()
        ))),
        _ => Err(KeyError::Provider(format!(
            "key {} has several {class} objects in PKCS#11 token '{token_label}'",
            id.label()
        ))),
    }
}

/// Every object carrying key `id`, whatever its class.
pub(crate) fn find_all(session: &Session, id: &KeyId) -> Result<Vec<ObjectHandle>, KeyError> {
    session
        .find_objects(&[Attribute::Token(true), Attribute::Id(id.0.to_vec())])
        .map_err(|e| provider("C_FindObjects", &e))
}

/// Destroys every object carrying key `id`; returns how many there were.
pub(crate) fn destroy_all(session: &Session, id: &KeyId) -> Result<usize, KeyError> {
    let handles = find_all(session, id)?;
    for handle in &handles {
        session
            .destroy_object(*handle)
            .map_err(|e| provider("C_DestroyObject", &e))?;
    }
    Ok(handles.len())
}

/// Strips the leading zero bytes a JWK member must not have (keeps one byte for zero).
pub(crate) fn minimal(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes[start..].to_vec()
}

fn attribute_bytes(
    session: &Session,
    object: ObjectHandle,
    wanted: AttributeType,
) -> Result<Vec<u8>, KeyError> {
    let attrs = session
        .get_attributes(object, &[wanted])
        .map_err(|e| provider("C_GetAttributeValue", &e))?;
    attrs
        .into_iter()
        .find_map(|attr| match (wanted, attr) {
            (AttributeType::Modulus, Attribute::Modulus(v))
            | (AttributeType::PublicExponent, Attribute::PublicExponent(v))
            | (AttributeType::EcPoint, Attribute::EcPoint(v)) => Some(v),
            _ => None,
        })
        .ok_or_else(|| KeyError::Provider(format!("the token did not return {wanted}")))
}

/// `n` and `e` of an RSA public key object.
pub(crate) fn rsa_public(session: &Session, public: ObjectHandle) -> Result<PublicKey, KeyError> {
    let n = attribute_bytes(session, public, AttributeType::Modulus)?;
    let e = attribute_bytes(session, public, AttributeType::PublicExponent)?;
    Ok(PublicKey::Rsa {
        n: minimal(&n),
        e: minimal(&e),
    })
}

/// `x` and `y` of an EC public key object.
pub(crate) fn ec_public(
    session: &Session,
    public: ObjectHandle,
    curve: Curve,
) -> Result<PublicKey, KeyError> {
    let point = attribute_bytes(session, public, AttributeType::EcPoint)?;
    let (x, y) = ec::split_point(curve, &point)?;
    Ok(PublicKey::Ec { curve, x, y })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_strips_leading_zeros_only() {
        assert_eq!(minimal(&[0, 0, 1, 0]), vec![1, 0]);
        assert_eq!(minimal(&[1, 0, 1]), vec![1, 0, 1]);
        assert_eq!(minimal(&[0, 0]), vec![0]);
        assert_eq!(minimal(&[]), Vec::<u8>::new());
    }
}
