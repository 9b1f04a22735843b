//! The key handle descriptor stored as a vault key's [`KeyMaterial`]: `pkcs11:v1:<hex CKA_ID>`.
//! It names the token objects, never holds key bytes, and is all the service persists.

use coffer_crypto::keys::{KeyError, KeyMaterial};
use zeroize::Zeroizing;

const PREFIX: &str = "pkcs11:v1:";

/// Length of the random `CKA_ID` given to every key's objects.
pub(crate) const ID_LEN: usize = 16;

/// The `CKA_ID` shared by a key's private/secret and public objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyId(pub(crate) [u8; ID_LEN]);

impl KeyId {
    pub(crate) fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `CKA_LABEL` of the key's objects, so an operator can find them with token tools.
    pub(crate) fn label(&self) -> String {
        format!("coffer-{}", self.hex())
    }

    pub(crate) fn to_material(self) -> KeyMaterial {
        KeyMaterial(Zeroizing::new(
            format!("{PREFIX}{}", self.hex()).into_bytes(),
        ))
    }

    /// Reads a descriptor back. The message never echoes the bytes: material handed to the
    /// wrong provider may be a software private key.
    pub(crate) fn from_material(material: &KeyMaterial) -> Result<Self, KeyError> {
        let invalid =
            || KeyError::InvalidKey("the key material is not a PKCS#11 key handle".into());
        let text = std::str::from_utf8(&material.0).map_err(|_| invalid())?;
        let hex_id = text.strip_prefix(PREFIX).ok_or_else(invalid)?;
        if hex_id.len() != ID_LEN * 2 || hex_id.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid());
        }
        let mut id = [0u8; ID_LEN];
        hex::decode_to_slice(hex_id, &mut id).map_err(|_| invalid())?;
        Ok(Self(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trips() {
        let id = KeyId([0xab; ID_LEN]);
        let material = id.to_material();
        assert_eq!(
            material.0.as_slice(),
            b"pkcs11:v1:abababababababababababababababab"
        );
        assert_eq!(KeyId::from_material(&material).unwrap(), id);
        assert_eq!(id.label(), "coffer-abababababababababababababababab");
    }

    #[test]
    fn other_material_is_refused_without_echo() {
        for bad in [
            b"pkcs11:v1:abab".to_vec(),
            b"pkcs11:v2:abababababababababababababababab".to_vec(),
            b"pkcs11:v1:ABABABABABABABABABABABABABABABAB".to_vec(),
            b"pkcs11:v1:zzabababababababababababababababab".to_vec(),
            b"pkcs11:v1:abababababababababababababababab00".to_vec(),
            vec![0x30, 0x82, 0x04, 0xa4, 0x02, 0x01],
            Vec::new(),
        ] {
            let err = KeyId::from_material(&KeyMaterial(Zeroizing::new(bad))).unwrap_err();
            assert_eq!(
                err,
                KeyError::InvalidKey("the key material is not a PKCS#11 key handle".into())
            );
        }
    }
}
