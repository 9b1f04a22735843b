//! PKCS#11 key provider: vault keys generated, used and destroyed inside a token (a hardware
//! security module, or SoftHSM in tests) through the `cryptoki` crate. The only crate of Coffer
//! that loads a C module. A key's [`KeyMaterial`] is the handle descriptor
//! `pkcs11:v1:<hex CKA_ID>`; private and secret keys never leave the token.
//!
//! What the token cannot do (SoftHSM 2.6.1 has no OAEP with SHA-256, for one) is reported as
//! [`KeyError::UnsupportedAlgorithm`] naming the algorithm and the token, never emulated in
//! software.

mod cipher;
mod ec;
mod error;
mod handle;
mod import;
mod keygen;
mod objects;
mod report;
mod session;
mod sign;

use std::fmt;
use std::path::PathBuf;

use coffer_crypto::keys::{
    CipherParams, Encrypted, EncryptionAlgorithm, KeyError, KeyMaterial, KeyProvider, KeySpec,
    NewKey, PrivateKeyParts, PublicKey, SignatureAlgorithm,
};
use zeroize::Zeroizing;

pub use error::HsmError;
pub use report::{MechanismReport, TokenReport};

use cipher::Call;
use handle::KeyId;
use session::Token;

/// Where the token is and how to log in to it.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (a shared library), e.g. SoftHSM's `libsofthsm2.so`.
    pub module: PathBuf,
    /// `CKA_LABEL` of the token; the slot is found by it, since slot ids may change.
    pub token_label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// A [`KeyProvider`] whose keys live in one PKCS#11 token.
pub struct Pkcs11Keys {
    token: Token,
}

impl fmt::Debug for Pkcs11Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Keys")
            .field("token", &self.token.label())
            .finish()
    }
}

impl From<HsmError> for KeyError {
    fn from(e: HsmError) -> Self {
        KeyError::Provider(e.to_string())
    }
}

impl Pkcs11Keys {
    /// Loads the module (once per process), finds the token by label and logs in; a wrong PIN,
    /// a missing module or an unknown label fail here with their own [`HsmError`].
    pub fn open(cfg: Pkcs11Config) -> Result<Self, HsmError> {
        let token = Token::open(&cfg.module, &cfg.token_label, &cfg.pin)?;
        Ok(Self { token })
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        self.token.label()
    }

    /// What the token says it is.
    pub fn token_report(&self) -> Result<TokenReport, HsmError> {
        let failure = |op, e: &cryptoki::error::Error| HsmError::Pkcs11 {
            label: self.token.label().to_owned(),
            op,
            detail: error::describe(e),
        };
        let ctx = self.token.context();
        let info = ctx
            .get_token_info(self.token.slot())
            .map_err(|e| failure("C_GetTokenInfo", &e))?;
        let library = ctx
            .get_library_info()
            .map_err(|e| failure("C_GetInfo", &e))?;
        Ok(TokenReport {
            label: info.label().to_owned(),
            manufacturer: info.manufacturer_id().to_owned(),
            model: info.model().to_owned(),
            serial_number: info.serial_number().to_owned(),
            firmware_version: info.firmware_version().to_string(),
            library: format!(
                "{} {} ({})",
                library.manufacturer_id(),
                library.library_version(),
                library.library_description()
            ),
        })
    }

    /// Every mechanism the token lists, with its operations and key sizes. Parameters are not
    /// covered: SoftHSM lists `CKM_RSA_PKCS_OAEP` yet refuses it with SHA-256.
    pub fn mechanisms(&self) -> Result<Vec<MechanismReport>, HsmError> {
        let failure = |op, e: &cryptoki::error::Error| HsmError::Pkcs11 {
            label: self.token.label().to_owned(),
            op,
            detail: error::describe(e),
        };
        let ctx = self.token.context();
        let slot = self.token.slot();
        let list = ctx
            .get_mechanism_list(slot)
            .map_err(|e| failure("C_GetMechanismList", &e))?;
        list.into_iter()
            .map(|mechanism| {
                let info = ctx
                    .get_mechanism_info(slot, mechanism)
                    .map_err(|e| failure("C_GetMechanismInfo", &e))?;
                Ok(MechanismReport::new(mechanism.to_string(), &info))
            })
            .collect()
    }

    fn call<T>(
        &self,
        key: &KeyMaterial,
        op: impl FnOnce(&cryptoki::session::Session, &KeyId) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let id = KeyId::from_material(key)?;
        self.token.with_session(|session| op(session, &id))
    }

    /// [`Self::call`] for operations that create or destroy objects.
    fn call_objects<T>(
        &self,
        key: &KeyMaterial,
        op: impl FnOnce(&cryptoki::session::Session, &KeyId) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let id = KeyId::from_material(key)?;
        self.token.with_object_session(|session| op(session, &id))
    }

    fn cipher<T>(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        op: impl FnOnce(&Call<'_>) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        // AES key wrap goes through temporary session objects.
        let with_objects = matches!(
            alg,
            EncryptionAlgorithm::A128Kw | EncryptionAlgorithm::A192Kw | EncryptionAlgorithm::A256Kw
        );
        let run = |session: &cryptoki::session::Session, id: &KeyId| {
            op(&Call {
                session,
                token_label: self.token.label(),
                id,
                public,
                alg,
            })
        };
        if with_objects {
            self.call_objects(key, run)
        } else {
            self.call(key, run)
        }
    }
}

impl KeyProvider for Pkcs11Keys {
    fn name(&self) -> &'static str {
        "pkcs11"
    }

    fn generate(&self, spec: &KeySpec) -> Result<NewKey, KeyError> {
        self.token
            .with_object_session(|session| keygen::generate(session, self.token.label(), spec))
    }

    fn import(&self, parts: PrivateKeyParts) -> Result<NewKey, KeyError> {
        self.token
            .with_object_session(|session| import::import(session, self.token.label(), parts))
    }

    fn encrypt(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Encrypted, KeyError> {
        self.cipher(key, public, alg, |call| call.encrypt(plaintext, params))
    }

    fn decrypt(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.cipher(key, public, alg, |call| call.decrypt(ciphertext, params))
    }

    fn sign(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: SignatureAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.call(key, |session, id| {
            sign::sign(session, self.token.label(), id, public, alg, digest)
        })
    }

    fn verify(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        self.call(key, |session, id| {
            sign::verify(
                session,
                self.token.label(),
                id,
                public,
                alg,
                digest,
                signature,
            )
        })
    }

    fn wrap(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        cek: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.cipher(key, public, alg, |call| call.wrap(cek))
    }

    fn unwrap(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.cipher(key, public, alg, |call| call.unwrap(wrapped))
    }

    /// Destroys the key's objects. A key already gone is not an error: purge may be retried.
    fn destroy(&self, key: &KeyMaterial) -> Result<(), KeyError> {
        self.call_objects(key, |session, id| {
            objects::destroy_all(session, id).map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_pin() {
        let cfg = Pkcs11Config {
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            token_label: "coffer-test".into(),
            pin: Zeroizing::new("123456-very-secret".into()),
        };
        let shown = format!("{cfg:?}");
        assert!(shown.contains("coffer-test"));
        assert!(!shown.contains("very-secret"));
    }

    #[test]
    fn provider_is_send_and_sync() {
        fn assert_provider<T: KeyProvider>() {}
        assert_provider::<Pkcs11Keys>();
    }
}
