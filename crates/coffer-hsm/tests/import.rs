//! Importing keys into the token (`C_CreateObject`): imported keys work like generated ones
//! and are checked from outside with aws-lc-rs and known-answer vectors (RFC 3394), and a key
//! whose parts do not match is refused without leaving objects behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Mutex;

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use aws_lc_rs::{digest, rsa};
use coffer_crypto::keys::{
    CipherParams, Curve, EncryptionAlgorithm as Enc, KeyError, KeyProvider, PrivateKeyParts,
    PublicKey, SignatureAlgorithm as Sig,
};
use coffer_hsm::Pkcs11Keys;
use cryptoki::object::{Attribute, AttributeType};
use zeroize::Zeroizing;

use common::{Inspector, rsa_fixture as fx, unhex};

/// Tests that count the token's objects must not overlap with ones that create objects.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

macro_rules! open {
    ($test:literal) => {
        match common::config($test) {
            Some(cfg) => (Pkcs11Keys::open(cfg.clone()).unwrap(), cfg),
            None => return,
        }
    };
}

fn fixture_rsa() -> PrivateKeyParts {
    let z = |s: &str| Zeroizing::new(unhex(s));
    PrivateKeyParts::Rsa {
        n: unhex(fx::N),
        e: unhex(fx::E),
        d: z(fx::D),
        p: z(fx::P),
        q: z(fx::Q),
        dp: z(fx::DP),
        dq: z(fx::DQ),
        qi: z(fx::QI),
    }
}

fn ec_parts(pair: &EcdsaKeyPair, curve: Curve) -> PrivateKeyParts {
    let point = pair.public_key().as_ref();
    let len = curve.coordinate_len();
    PrivateKeyParts::Ec {
        curve,
        x: point[1..=len].to_vec(),
        y: point[len + 1..].to_vec(),
        d: Zeroizing::new(pair.private_key().as_be_bytes().unwrap().as_ref().to_vec()),
    }
}

#[test]
fn an_imported_rsa_key_signs_and_decrypts_in_the_token() {
    let (keys, cfg) = open!("an_imported_rsa_key_signs_and_decrypts_in_the_token");
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let key = keys.import(fixture_rsa()).unwrap();
    let (n, e) = (unhex(fx::N), unhex(fx::E));
    assert_eq!(
        key.public,
        PublicKey::Rsa {
            n: n.clone(),
            e: e.clone()
        }
    );

    let message = b"imported keys sign too";
    let digest = digest::digest(&digest::SHA256, message);
    let sig = keys
        .sign(&key.material, &key.public, Sig::Ps256, digest.as_ref())
        .unwrap();
    PublicKeyComponents { n: &n, e: &e }
        .verify(&signature::RSA_PSS_2048_8192_SHA256, message, &sig)
        .unwrap();

    let public: rsa::PublicEncryptingKey = PublicKeyComponents { n: &n, e: &e }.try_into().unwrap();
    let oaep = OaepPublicEncryptingKey::new(public).unwrap();
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let ct = oaep
        .encrypt(&OAEP_SHA1_MGF1SHA1, b"for the token", &mut out, None)
        .unwrap()
        .to_vec();
    let opened = keys
        .decrypt(
            &key.material,
            &key.public,
            Enc::RsaOaep,
            &ct,
            CipherParams::default(),
        )
        .unwrap();
    assert_eq!(opened.as_slice(), b"for the token");

    // The imported private key is as unreadable as a generated one.
    let inspector = Inspector::open(&cfg);
    let handles = inspector.objects(&key.material);
    assert_eq!(handles.len(), 2);
    for handle in handles {
        let read = inspector
            .session
            .get_attributes(
                handle,
                &[AttributeType::PrivateExponent, AttributeType::Prime1],
            )
            .unwrap();
        assert!(read.is_empty());
    }
    keys.destroy(&key.material).unwrap();
}

#[test]
fn imported_ec_keys_sign_in_the_token_and_verify_in_software() {
    let (keys, _) = open!("imported_ec_keys_sign_in_the_token_and_verify_in_software");
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for (curve, alg, signing, verifying, hash) in [
        (
            Curve::P256,
            Sig::Es256,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED,
            &digest::SHA256,
        ),
        (
            Curve::P384,
            Sig::Es384,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED,
            &digest::SHA384,
        ),
        (
            Curve::P256K,
            Sig::Es256K,
            &signature::ECDSA_P256K1_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P256K1_SHA256_FIXED,
            &digest::SHA256,
        ),
    ] {
        let pair = EcdsaKeyPair::generate(signing).unwrap();
        let key = keys.import(ec_parts(&pair, curve)).unwrap();
        let message = b"an imported EC key";
        let digest = digest::digest(hash, message);
        let sig = keys
            .sign(&key.material, &key.public, alg, digest.as_ref())
            .unwrap();
        UnparsedPublicKey::new(verifying, pair.public_key().as_ref())
            .verify(message, &sig)
            .unwrap();
        // And the software's signature verifies in the token.
        let theirs = pair.sign(&SystemRandom::new(), message).unwrap();
        assert!(
            keys.verify(
                &key.material,
                &key.public,
                alg,
                digest.as_ref(),
                theirs.as_ref()
            )
            .unwrap()
        );
        keys.destroy(&key.material).unwrap();
    }
}

#[test]
fn imported_aes_keys_match_software_and_rfc_3394() {
    let (keys, _) = open!("imported_aes_keys_match_software_and_rfc_3394");
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let raw = unhex("000102030405060708090a0b0c0d0e0f");
    let key = keys
        .import(PrivateKeyParts::Oct {
            k: Zeroizing::new(raw.clone()),
        })
        .unwrap();
    assert_eq!(key.public, PublicKey::Oct { bits: 128 });
    let (m, p) = (&key.material, &key.public);

    // GCM from the token opens in software.
    let aad = b"bound to this";
    let sealed = keys
        .encrypt(
            m,
            p,
            Enc::A128Gcm,
            b"gcm plaintext",
            CipherParams {
                aad: Some(aad),
                ..Default::default()
            },
        )
        .unwrap();
    let software = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &raw).unwrap());
    let mut in_out = [sealed.ciphertext.clone(), sealed.tag.clone().unwrap()].concat();
    let nonce = Nonce::try_assume_unique_for_key(sealed.iv.as_deref().unwrap()).unwrap();
    let opened = software
        .open_in_place(nonce, Aad::from(aad), &mut in_out)
        .unwrap();
    assert_eq!(opened, b"gcm plaintext");

    // CBC with PKCS#7 padding from the token opens in software.
    let iv = [0x24u8; 16];
    let sealed = keys
        .encrypt(
            m,
            p,
            Enc::A128CbcPad,
            b"cbc plaintext",
            CipherParams {
                iv: Some(&iv),
                ..Default::default()
            },
        )
        .unwrap();
    let cbc = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_128, &raw).unwrap())
        .unwrap();
    let mut in_out = sealed.ciphertext;
    let opened = cbc
        .decrypt(&mut in_out, DecryptionContext::Iv128(iv.into()))
        .unwrap();
    assert_eq!(opened, b"cbc plaintext");
    keys.destroy(m).unwrap();

    // RFC 3394 §4.1-4.3: 128 bits of key data under 128-, 192- and 256-bit KEKs.
    let key_data = unhex("00112233445566778899aabbccddeeff");
    for (kek, alg, expected) in [
        (
            "000102030405060708090a0b0c0d0e0f",
            Enc::A128Kw,
            "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5",
        ),
        (
            "000102030405060708090a0b0c0d0e0f1011121314151617",
            Enc::A192Kw,
            "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d",
        ),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            Enc::A256Kw,
            "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7",
        ),
    ] {
        let kek = keys
            .import(PrivateKeyParts::Oct {
                k: Zeroizing::new(unhex(kek)),
            })
            .unwrap();
        let wrapped = keys
            .wrap(&kek.material, &kek.public, alg, &key_data)
            .unwrap();
        assert_eq!(hex::encode(&wrapped), expected, "{}", alg.as_str());
        let unwrapped = keys
            .unwrap(&kek.material, &kek.public, alg, &unhex(expected))
            .unwrap();
        assert_eq!(unwrapped.as_slice(), key_data);
        keys.destroy(&kek.material).unwrap();
    }
}

#[test]
fn keys_whose_parts_do_not_match_are_refused_and_leave_nothing() {
    let (keys, cfg) = open!("keys_whose_parts_do_not_match_are_refused_and_leave_nothing");
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let inspector = Inspector::open(&cfg);
    let count = || {
        inspector
            .session
            .find_objects(&[Attribute::Token(true)])
            .unwrap()
            .len()
    };
    let before = count();

    // A modulus that is not p * q: the signature made with the primes does not verify. (A
    // wrong CRT exponent alone would not show: OpenSSL checks CRT results and falls back to d.)
    let PrivateKeyParts::Rsa {
        mut n,
        e,
        d,
        p,
        q,
        dp,
        dq,
        qi,
    } = fixture_rsa()
    else {
        unreachable!()
    };
    n[100] ^= 0x10;
    let err = keys
        .import(PrivateKeyParts::Rsa {
            n,
            e,
            d,
            p,
            q,
            dp,
            dq,
            qi,
        })
        .err()
        .unwrap();
    assert_eq!(
        err,
        KeyError::InvalidKey(
            "the private and public parts of the key to import do not match".into()
        )
    );

    // An EC private scalar with another key's public point.
    let one = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let other = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let (PrivateKeyParts::Ec { d, .. }, PrivateKeyParts::Ec { x, y, .. }) =
        (ec_parts(&one, Curve::P256), ec_parts(&other, Curve::P256))
    else {
        unreachable!()
    };
    let err = keys
        .import(PrivateKeyParts::Ec {
            curve: Curve::P256,
            x,
            y,
            d,
        })
        .err()
        .unwrap();
    assert!(matches!(err, KeyError::InvalidKey(_)), "{err:?}");
    assert!(matches!(
        keys.import(PrivateKeyParts::Oct {
            k: Zeroizing::new(vec![1; 20])
        }),
        Err(KeyError::InvalidKey(_))
    ));

    assert_eq!(count(), before, "refused imports leave no objects");
}
