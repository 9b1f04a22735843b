//! Tests of the RSA half of the software provider, checked against the RustCrypto `rsa`
//! crate (public-key operations and key generation only).

use std::convert::Infallible;
use std::sync::OnceLock;

use ::rsa::rand_core::{TryCryptoRng, TryRng};
use ::rsa::sha2::{Sha256, Sha384, Sha512};
use ::rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use ::rsa::{BoxedUint, PrivateKey as RefPrivateKey, PublicKey as RefPublicKey};
use aws_lc_rs::digest::digest;

use super::*;
use crate::keys::{CipherParams, KeyProvider, KeySpec, PrivateKeyParts, SoftwareKeys};

const RSA_ENCRYPTION: [EncryptionAlgorithm; 3] = [
    EncryptionAlgorithm::Rsa1_5,
    EncryptionAlgorithm::RsaOaep,
    EncryptionAlgorithm::RsaOaep256,
];
const RSA_SIGNATURES: [SignatureAlgorithm; 6] = [
    SignatureAlgorithm::Rs256,
    SignatureAlgorithm::Rs384,
    SignatureAlgorithm::Rs512,
    SignatureAlgorithm::Ps256,
    SignatureAlgorithm::Ps384,
    SignatureAlgorithm::Ps512,
];

/// One key per size for the whole test run: generation is the slow part.
fn key(bits: u32) -> &'static NewKey {
    static KEYS: [OnceLock<NewKey>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = usize::from(bits == 3072);
    KEYS[slot].get_or_init(|| {
        SoftwareKeys
            .generate(&KeySpec::Rsa {
                bits,
                public_exponent: None,
            })
            .unwrap()
    })
}

fn digest_for(alg: SignatureAlgorithm, message: &[u8]) -> Vec<u8> {
    let algorithm = match alg.digest_len() {
        32 => &digest::SHA256,
        48 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest(algorithm, message).as_ref().to_vec()
}

fn n_e(public: &PublicKey) -> (&[u8], &[u8]) {
    match public {
        PublicKey::Rsa { n, e } => (n, e),
        other => panic!("not an RSA key: {other:?}"),
    }
}

/// Every RSA algorithm, both ways, on one key, including the failures of altered input.
fn exercise(key: &NewKey) {
    let provider = SoftwareKeys;
    let (material, public) = (&key.material, &key.public);
    for alg in RSA_ENCRYPTION {
        let secret = b"a 32-byte content encryption key";
        let sealed = provider
            .encrypt(material, public, alg, secret, CipherParams::default())
            .unwrap();
        assert_eq!(sealed.iv, None);
        assert_eq!(sealed.tag, None);
        let opened = provider
            .decrypt(
                material,
                public,
                alg,
                &sealed.ciphertext,
                CipherParams::default(),
            )
            .unwrap();
        assert_eq!(opened.as_slice(), secret, "{alg:?}");
        let wrapped = provider.wrap(material, public, alg, secret).unwrap();
        assert_ne!(wrapped, sealed.ciphertext, "RSA encryption is randomised");
        let unwrapped = provider.unwrap(material, public, alg, &wrapped).unwrap();
        assert_eq!(unwrapped.as_slice(), secret);

        let mut tampered = sealed.ciphertext.clone();
        tampered[10] ^= 0x01;
        // RSA1_5 may "succeed" with implicit rejection, but never with the plaintext.
        match provider.decrypt(material, public, alg, &tampered, CipherParams::default()) {
            Err(err) => assert_eq!(err, KeyError::DecryptFailed),
            Ok(plain) => {
                assert_eq!(alg, EncryptionAlgorithm::Rsa1_5);
                assert_ne!(plain.as_slice(), secret);
            }
        }
        let short = &sealed.ciphertext[1..];
        assert_eq!(
            provider.unwrap(material, public, alg, short).unwrap_err(),
            KeyError::DecryptFailed
        );
    }
    for alg in RSA_SIGNATURES {
        let digest = digest_for(alg, b"message");
        let signature = provider.sign(material, public, alg, &digest).unwrap();
        let (n, _) = n_e(public);
        assert_eq!(signature.len(), n.len());
        assert!(
            provider
                .verify(material, public, alg, &digest, &signature)
                .unwrap()
        );
        let mut tampered = signature.clone();
        tampered[0] ^= 0x80;
        assert!(
            !provider
                .verify(material, public, alg, &digest, &tampered)
                .unwrap()
        );
        let other = digest_for(alg, b"another message");
        assert!(
            !provider
                .verify(material, public, alg, &other, &signature)
                .unwrap()
        );
        assert!(
            !provider
                .verify(material, public, alg, &digest, &signature[1..])
                .unwrap()
        );
    }
}

#[test]
fn generated_keys_have_the_requested_size_and_exponent() {
    for bits in [2048, 3072] {
        let (n, e) = n_e(&key(bits).public);
        assert_eq!(n.len() * 8, bits as usize);
        assert!(n[0] & 0x80 != 0, "full-size modulus, no leading zero");
        assert_eq!(e, [1, 0, 1]);
    }
    let explicit = SoftwareKeys
        .generate(&KeySpec::Rsa {
            bits: 2048,
            public_exponent: Some(65537),
        })
        .unwrap();
    assert_ne!(explicit.public, key(2048).public);
}

#[test]
fn generation_refuses_other_sizes_and_exponents() {
    for bits in [0, 1024, 2047, 8192] {
        let err = SoftwareKeys
            .generate(&KeySpec::Rsa {
                bits,
                public_exponent: None,
            })
            .unwrap_err();
        let KeyError::InvalidKey(message) = err else {
            panic!("{err:?}")
        };
        assert!(message.contains("2048, 3072 or 4096"), "{message}");
    }
    let err = SoftwareKeys
        .generate(&KeySpec::Rsa {
            bits: 2048,
            public_exponent: Some(3),
        })
        .unwrap_err();
    let KeyError::InvalidKey(message) = err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("65537") && message.contains('3'),
        "{message}"
    );
}

#[test]
fn every_algorithm_round_trips_on_2048_and_3072_bit_keys() {
    exercise(key(2048));
    exercise(key(3072));
}

#[test]
fn every_algorithm_round_trips_on_a_4096_bit_key() {
    let key = SoftwareKeys
        .generate(&KeySpec::Rsa {
            bits: 4096,
            public_exponent: None,
        })
        .unwrap();
    assert_eq!(n_e(&key.public).0.len(), 512);
    exercise(&key);
}

fn reference_public(public: &PublicKey) -> RefPublicKey {
    let (n, e) = n_e(public);
    RefPublicKey::new(
        BoxedUint::from_be_slice_vartime(n),
        BoxedUint::from_be_slice_vartime(e),
    )
    .unwrap()
}

#[test]
fn an_independent_implementation_verifies_our_signatures() {
    for bits in [2048, 3072] {
        let key = key(bits);
        let reference = reference_public(&key.public);
        for alg in RSA_SIGNATURES {
            let digest = digest_for(alg, b"checked elsewhere");
            let sig = SoftwareKeys
                .sign(&key.material, &key.public, alg, &digest)
                .unwrap();
            let result = match alg {
                SignatureAlgorithm::Rs256 => {
                    reference.pkcs1v15_verify_prehash::<Sha256>(&digest, &sig)
                }
                SignatureAlgorithm::Rs384 => {
                    reference.pkcs1v15_verify_prehash::<Sha384>(&digest, &sig)
                }
                SignatureAlgorithm::Rs512 => {
                    reference.pkcs1v15_verify_prehash::<Sha512>(&digest, &sig)
                }
                // The reference insists on a salt as long as the digest, as Key Vault does.
                SignatureAlgorithm::Ps256 => reference.pss_verify_prehash::<Sha256>(&digest, &sig),
                SignatureAlgorithm::Ps384 => reference.pss_verify_prehash::<Sha384>(&digest, &sig),
                _ => reference.pss_verify_prehash::<Sha512>(&digest, &sig),
            };
            result.unwrap_or_else(|e| panic!("{alg:?} on {bits} bits: {e}"));
        }
    }
}

#[test]
fn we_decrypt_what_an_independent_implementation_encrypted() {
    let key = key(2048);
    let reference = reference_public(&key.public);
    let secret = b"sixteen byte key";
    let cases = [
        (
            EncryptionAlgorithm::Rsa1_5,
            reference.pkcs1v15_encrypt(secret).unwrap(),
        ),
        (
            EncryptionAlgorithm::RsaOaep,
            reference.oaep_encrypt::<sha1::Sha1>(secret).unwrap(),
        ),
        (
            EncryptionAlgorithm::RsaOaep256,
            reference.oaep_encrypt::<Sha256>(secret).unwrap(),
        ),
    ];
    for (alg, ciphertext) in cases {
        let plain = SoftwareKeys
            .unwrap(&key.material, &key.public, alg, &ciphertext)
            .unwrap();
        assert_eq!(plain.as_slice(), secret, "{alg:?}");
    }
    // The OAEP hash is part of the algorithm: SHA-1 ciphertext does not open as OAEP-256.
    let sha1 = reference.oaep_encrypt::<sha1::Sha1>(secret).unwrap();
    assert_eq!(
        SoftwareKeys
            .unwrap(
                &key.material,
                &key.public,
                EncryptionAlgorithm::RsaOaep256,
                &sha1
            )
            .unwrap_err(),
        KeyError::DecryptFailed
    );
}

/// An RNG for the reference implementation's key generation, fed by aws-lc-rs.
struct SystemRng;

impl TryRng for SystemRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0; 4];
        aws_lc_rs::rand::fill(&mut bytes).unwrap();
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0; 8];
        aws_lc_rs::rand::fill(&mut bytes).unwrap();
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        aws_lc_rs::rand::fill(dst).unwrap();
        Ok(())
    }
}

impl TryCryptoRng for SystemRng {}

fn be(value: &BoxedUint) -> Vec<u8> {
    value.to_be_bytes_trimmed_vartime().into_vec()
}

/// The JWK members of a key the reference implementation generated.
struct Members {
    n: Vec<u8>,
    e: Vec<u8>,
    d: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
    dp: Vec<u8>,
    dq: Vec<u8>,
    qi: Vec<u8>,
}

impl Members {
    fn generate(bits: usize) -> (RefPrivateKey, Self) {
        let private = RefPrivateKey::new(&mut SystemRng, bits).unwrap();
        let primes = private.primes();
        let members = Self {
            n: be(private.n()),
            e: be(private.e()),
            d: be(private.d()),
            p: be(&primes[0]),
            q: be(&primes[1]),
            dp: be(private.dp().unwrap()),
            dq: be(private.dq().unwrap()),
            qi: be(&private.crt_coefficient().unwrap()),
        };
        (private, members)
    }

    fn parts(&self) -> PrivateKeyParts {
        PrivateKeyParts::Rsa {
            n: self.n.clone(),
            e: self.e.clone(),
            d: Zeroizing::new(self.d.clone()),
            p: Zeroizing::new(self.p.clone()),
            q: Zeroizing::new(self.q.clone()),
            dp: Zeroizing::new(self.dp.clone()),
            dq: Zeroizing::new(self.dq.clone()),
            qi: Zeroizing::new(self.qi.clone()),
        }
    }
}

fn reference_key() -> &'static (RefPrivateKey, Members) {
    static KEY: OnceLock<(RefPrivateKey, Members)> = OnceLock::new();
    KEY.get_or_init(|| Members::generate(2048))
}

#[test]
fn imports_a_key_generated_elsewhere_and_uses_it() {
    let (private, members) = reference_key();
    let imported = SoftwareKeys.import(members.parts()).unwrap();
    assert_eq!(
        imported.public,
        PublicKey::Rsa {
            n: members.n.clone(),
            e: members.e.clone()
        }
    );
    let reference = private.to_public_key();
    let digest = digest_for(SignatureAlgorithm::Ps256, b"imported");
    let sig = SoftwareKeys
        .sign(
            &imported.material,
            &imported.public,
            SignatureAlgorithm::Ps256,
            &digest,
        )
        .unwrap();
    reference
        .pss_verify_prehash::<Sha256>(&digest, &sig)
        .unwrap();
    let ciphertext = reference
        .oaep_encrypt::<Sha256>(b"imported secret")
        .unwrap();
    let plain = SoftwareKeys
        .decrypt(
            &imported.material,
            &imported.public,
            EncryptionAlgorithm::RsaOaep256,
            &ciphertext,
            CipherParams::default(),
        )
        .unwrap();
    assert_eq!(plain.as_slice(), b"imported secret");
    exercise(&imported);

    // A sign byte in front of n (as some JWK writers emit) is not part of the number.
    let mut padded = members.parts();
    if let PrivateKeyParts::Rsa { n, .. } = &mut padded {
        n.insert(0, 0);
    }
    assert_eq!(SoftwareKeys.import(padded).unwrap().public, imported.public);
}

#[test]
fn import_refuses_inconsistent_or_missing_parts() {
    let (_, members) = reference_key();
    let flip = |pick: fn(&mut Members) -> &mut Vec<u8>| {
        let mut altered = clone_members(members);
        let part = pick(&mut altered);
        let last = part.len() - 1;
        part[last] ^= 0x02;
        SoftwareKeys.import(altered.parts()).unwrap_err()
    };
    let altered: [fn(&mut Members) -> &mut Vec<u8>; 7] = [
        |m| &mut m.n,
        |m| &mut m.d,
        |m| &mut m.p,
        |m| &mut m.q,
        |m| &mut m.dp,
        |m| &mut m.dq,
        |m| &mut m.qi,
    ];
    for pick in altered {
        let err = flip(pick);
        assert!(matches!(err, KeyError::InvalidKey(_)), "{err:?}");
    }

    let mut short = clone_members(members);
    short.n.truncate(128);
    let KeyError::InvalidKey(message) = SoftwareKeys.import(short.parts()).unwrap_err() else {
        panic!("a 1024-bit modulus must be refused as a key error")
    };
    assert!(message.contains("2048 to 4096"), "{message}");

    let mut missing = clone_members(members);
    missing.p.clear();
    assert!(matches!(
        SoftwareKeys.import(missing.parts()),
        Err(KeyError::InvalidKey(_))
    ));
    let mut no_e = clone_members(members);
    no_e.e = vec![0];
    assert!(matches!(
        SoftwareKeys.import(no_e.parts()),
        Err(KeyError::InvalidKey(_))
    ));
}

fn clone_members(m: &Members) -> Members {
    Members {
        n: m.n.clone(),
        e: m.e.clone(),
        d: m.d.clone(),
        p: m.p.clone(),
        q: m.q.clone(),
        dp: m.dp.clone(),
        dq: m.dq.clone(),
        qi: m.qi.clone(),
    }
}

#[test]
fn plaintext_longer_than_the_scheme_allows_is_an_input_error() {
    let key = key(2048);
    // 256-byte modulus: PKCS#1 v1.5 keeps 11 bytes, OAEP 2 * hash + 2.
    for (alg, max) in [
        (EncryptionAlgorithm::Rsa1_5, 245),
        (EncryptionAlgorithm::RsaOaep, 214),
        (EncryptionAlgorithm::RsaOaep256, 190),
    ] {
        let fits = vec![7; max];
        SoftwareKeys
            .encrypt(
                &key.material,
                &key.public,
                alg,
                &fits,
                CipherParams::default(),
            )
            .unwrap();
        let err = SoftwareKeys
            .encrypt(
                &key.material,
                &key.public,
                alg,
                &vec![7; max + 1],
                CipherParams::default(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            KeyError::InvalidInput(format!(
                "The plaintext is {} bytes long; {} with a 2048-bit key encrypts at most {max} bytes.",
                max + 1,
                alg.as_str()
            ))
        );
    }
}

#[test]
fn algorithms_of_other_key_types_are_refused() {
    let key = key(2048);
    let (material, public) = (&key.material, &key.public);
    for alg in [
        SignatureAlgorithm::Es256,
        SignatureAlgorithm::Es384,
        SignatureAlgorithm::Es512,
        SignatureAlgorithm::Es256K,
    ] {
        let err = SoftwareKeys
            .sign(material, public, alg, &[0; 32])
            .unwrap_err();
        assert_eq!(
            err,
            KeyError::UnsupportedAlgorithm(format!(
                "The algorithm {} is not supported by RSA keys; they sign with RS256, RS384, RS512, PS256, PS384 or PS512.",
                alg.as_str()
            ))
        );
        let err = SoftwareKeys
            .verify(material, public, alg, &[0; 32], &[0; 64])
            .unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)));
    }
    for alg in EncryptionAlgorithm::ALL {
        if RSA_ENCRYPTION.contains(&alg) {
            continue;
        }
        let err = SoftwareKeys
            .encrypt(material, public, alg, b"x", CipherParams::default())
            .unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
        let err = SoftwareKeys
            .unwrap(material, public, alg, &[0; 40])
            .unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
    }
    let err = SoftwareKeys
        .sign(material, public, SignatureAlgorithm::Rs384, &[0; 32])
        .unwrap_err();
    assert_eq!(
        err,
        KeyError::InvalidInput("The digest is 32 bytes long; RS384 signs a 48-byte digest.".into())
    );
}

#[test]
fn another_key_cannot_decrypt() {
    let (one, other) = (key(2048), key(3072));
    let sealed = SoftwareKeys
        .encrypt(
            &one.material,
            &one.public,
            EncryptionAlgorithm::RsaOaep256,
            b"for one key only",
            CipherParams::default(),
        )
        .unwrap();
    let err = SoftwareKeys
        .decrypt(
            &other.material,
            &other.public,
            EncryptionAlgorithm::RsaOaep256,
            &sealed.ciphertext,
            CipherParams::default(),
        )
        .unwrap_err();
    assert_eq!(err, KeyError::DecryptFailed);
}
