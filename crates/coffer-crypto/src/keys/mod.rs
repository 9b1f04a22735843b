//! Vault keys: the algorithms Key Vault names, the public half a JWK shows, and the
//! [`KeyProvider`] trait behind which a key's private half lives (in software here, in a PKCS#11
//! token in `coffer-hsm`). Providers are synchronous and may be slow (RSA key generation): the
//! service calls them off the async workers.

mod software;

pub use software::SoftwareKeys;

use zeroize::Zeroizing;

/// Elliptic curves, with Azure's JWK names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    P521,
    P256K,
}

impl Curve {
    pub const ALL: [Self; 4] = [Self::P256, Self::P384, Self::P521, Self::P256K];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
            Self::P256K => "P-256K",
        }
    }

    /// Parses Azure's spelling (also `SECP256K1`, which older SDKs send).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            "P-256K" | "SECP256K1" => Some(Self::P256K),
            _ => None,
        }
    }

    /// Length in bytes of one coordinate (and of `r` or `s` in a signature).
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 | Self::P256K => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// RSA of `bits` (2048, 3072, 4096); `public_exponent` defaults to 65537.
    Rsa {
        bits: u32,
        public_exponent: Option<u32>,
    },
    Ec {
        curve: Curve,
    },
    /// A symmetric AES key of `bits` (128, 192, 256).
    Oct {
        bits: u32,
    },
}

/// The public half of a key, as JWK members: big-endian unsigned bytes without leading zeros
/// (`n`, `e`), fixed-length coordinates (`x`, `y`). Symmetric keys have none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Oct {
        bits: u32,
    },
}

/// A private key handed in for import, as JWK members (big-endian bytes).
pub enum PrivateKeyParts {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        d: Zeroizing<Vec<u8>>,
        p: Zeroizing<Vec<u8>>,
        q: Zeroizing<Vec<u8>>,
        dp: Zeroizing<Vec<u8>>,
        dq: Zeroizing<Vec<u8>>,
        qi: Zeroizing<Vec<u8>>,
    },
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
        d: Zeroizing<Vec<u8>>,
    },
    Oct {
        k: Zeroizing<Vec<u8>>,
    },
}

/// What a provider needs to use a key again: for software keys the private key itself (PKCS#8
/// DER for RSA and EC, raw bytes for AES), for token keys the token's handle. The service seals
/// it with the vault's data key before it reaches the store, whatever it holds.
pub struct KeyMaterial(pub Zeroizing<Vec<u8>>);

/// Shows only the length: material may be a private key.
impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({} bytes)", self.0.len())
    }
}

/// A key a provider made or imported.
#[derive(Debug)]
pub struct NewKey {
    pub material: KeyMaterial,
    pub public: PublicKey,
}

/// Encryption and key-wrap algorithms, with Azure's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    Rsa1_5,
    RsaOaep,
    RsaOaep256,
    A128Gcm,
    A192Gcm,
    A256Gcm,
    A128Cbc,
    A192Cbc,
    A256Cbc,
    A128CbcPad,
    A192CbcPad,
    A256CbcPad,
    A128Kw,
    A192Kw,
    A256Kw,
}

impl EncryptionAlgorithm {
    pub const ALL: [Self; 15] = [
        Self::Rsa1_5,
        Self::RsaOaep,
        Self::RsaOaep256,
        Self::A128Gcm,
        Self::A192Gcm,
        Self::A256Gcm,
        Self::A128Cbc,
        Self::A192Cbc,
        Self::A256Cbc,
        Self::A128CbcPad,
        Self::A192CbcPad,
        Self::A256CbcPad,
        Self::A128Kw,
        Self::A192Kw,
        Self::A256Kw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa1_5 => "RSA1_5",
            Self::RsaOaep => "RSA-OAEP",
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::A128Gcm => "A128GCM",
            Self::A192Gcm => "A192GCM",
            Self::A256Gcm => "A256GCM",
            Self::A128Cbc => "A128CBC",
            Self::A192Cbc => "A192CBC",
            Self::A256Cbc => "A256CBC",
            Self::A128CbcPad => "A128CBCPAD",
            Self::A192CbcPad => "A192CBCPAD",
            Self::A256CbcPad => "A256CBCPAD",
            Self::A128Kw => "A128KW",
            Self::A192Kw => "A192KW",
            Self::A256Kw => "A256KW",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Signature algorithms over a caller's digest, with Azure's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    Es256K,
}

impl SignatureAlgorithm {
    pub const ALL: [Self; 10] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::Es256K,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Es256K => "ES256K",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Length of the digest this algorithm signs, in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Rs256 | Self::Ps256 | Self::Es256 | Self::Es256K => 32,
            Self::Rs384 | Self::Ps384 | Self::Es384 => 48,
            Self::Rs512 | Self::Ps512 | Self::Es512 => 64,
        }
    }
}

/// Inputs of an encrypt or decrypt beyond the data: the IV/nonce, the additional authenticated
/// data and (decrypt only) the GCM tag, as the caller sent them.
#[derive(Clone, Copy, Debug, Default)]
pub struct CipherParams<'a> {
    pub iv: Option<&'a [u8]>,
    pub aad: Option<&'a [u8]>,
    pub tag: Option<&'a [u8]>,
}

/// What an encryption produced: the ciphertext and, for AES modes, the IV used (generated when
/// the caller gave none, for GCM) and the GCM tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    pub ciphertext: Vec<u8>,
    pub iv: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
}

/// Why a key operation was refused. Messages are user-facing and never contain key material
/// or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The algorithm does not apply to this key type or size, or this provider cannot do it.
    #[error("{0}")]
    UnsupportedAlgorithm(String),
    /// The key description (size, curve, exponent, JWK members) is invalid.
    #[error("{0}")]
    InvalidKey(String),
    /// An input (digest length, IV, tag, plaintext size) is invalid for the algorithm.
    #[error("{0}")]
    InvalidInput(String),
    /// Decryption or unwrapping failed. Deliberately says nothing more (padding oracles).
    #[error("The ciphertext could not be decrypted with this key.")]
    DecryptFailed,
    /// The provider (crypto library or token) failed; the detail is for logs only.
    #[error("key provider failure: {0}")]
    Provider(String),
}

/// Where private key operations happen. Implementations hold no per-key state: every call gets
/// the key's [`KeyMaterial`] back from the caller.
pub trait KeyProvider: Send + Sync {
    /// Short name for records and messages: `software`, `pkcs11`.
    fn name(&self) -> &'static str;

    fn generate(&self, spec: &KeySpec) -> Result<NewKey, KeyError>;

    fn import(&self, parts: PrivateKeyParts) -> Result<NewKey, KeyError>;

    fn encrypt(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Encrypted, KeyError>;

    fn decrypt(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// Signs a digest the caller computed; EC signatures are `r || s`, fixed length.
    fn sign(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: SignatureAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyError>;

    fn verify(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError>;

    /// Wraps a key (RSA algorithms, or AES key wrap A128KW/A192KW/A256KW for `oct` keys).
    fn wrap(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        cek: &[u8],
    ) -> Result<Vec<u8>, KeyError>;

    fn unwrap(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// Forgets a key for good (purge). Software keys have nothing to destroy.
    fn destroy(&self, key: &KeyMaterial) -> Result<(), KeyError>;
}
