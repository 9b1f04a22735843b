//! The PKCS#11 provider against a real token (SoftHSM in CI): keys made in the token, checked
//! from outside with aws-lc-rs (signatures verified from the exported public half, ciphertexts
//! made in software and opened in the token) and with a session of the test's own (private
//! parts unreadable, objects gone after destroy).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_lc_rs::digest;
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey,
    PublicKeyComponents,
};
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use coffer_crypto::keys::{
    CipherParams, Curve, EncryptionAlgorithm as Enc, KeyError, KeyMaterial, KeyProvider, KeySpec,
    NewKey, PublicKey, SignatureAlgorithm as Sig,
};
use coffer_hsm::Pkcs11Keys;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};

use common::Inspector;

/// Opens the provider, or returns from the test when HSM tests are skipped.
macro_rules! open {
    ($test:literal) => {
        match common::config($test) {
            Some(cfg) => (Pkcs11Keys::open(cfg.clone()).unwrap(), cfg),
            None => return,
        }
    };
}

fn rsa(keys: &Pkcs11Keys) -> NewKey {
    keys.generate(&KeySpec::Rsa {
        bits: 2048,
        public_exponent: None,
    })
    .unwrap()
}

fn ec(keys: &Pkcs11Keys, curve: Curve) -> NewKey {
    keys.generate(&KeySpec::Ec { curve }).unwrap()
}

fn aes(keys: &Pkcs11Keys, bits: u32) -> NewKey {
    keys.generate(&KeySpec::Oct { bits }).unwrap()
}

fn descriptor_ok(material: &KeyMaterial) {
    let text = std::str::from_utf8(&material.0).unwrap();
    let hex_id = text.strip_prefix("pkcs11:v1:").unwrap();
    assert_eq!(hex_id.len(), 32, "a 16-byte CKA_ID: {text}");
    assert!(hex_id.bytes().all(|b| b.is_ascii_hexdigit()));
}

fn rsa_parts(public: &PublicKey) -> (&[u8], &[u8]) {
    match public {
        PublicKey::Rsa { n, e } => (n, e),
        other => panic!("not RSA: {other:?}"),
    }
}

fn ec_point(public: &PublicKey) -> Vec<u8> {
    match public {
        PublicKey::Ec { x, y, .. } => [&[0x04][..], x, y].concat(),
        other => panic!("not EC: {other:?}"),
    }
}

#[test]
fn generates_every_key_type_with_the_public_half_from_the_token() {
    let (keys, _) = open!("generates_every_key_type_with_the_public_half_from_the_token");
    assert_eq!(keys.name(), "pkcs11");
    for bits in [2048u32, 3072, 4096] {
        let key = keys
            .generate(&KeySpec::Rsa {
                bits,
                public_exponent: None,
            })
            .unwrap();
        descriptor_ok(&key.material);
        let (n, e) = rsa_parts(&key.public);
        assert_eq!(n.len() * 8, bits as usize);
        assert!(n[0] & 0x80 != 0, "no leading zero, top bit set");
        assert_eq!(e, [0x01, 0x00, 0x01]);
        keys.destroy(&key.material).unwrap();
    }
    // A caller's exponent is honoured.
    let key = keys
        .generate(&KeySpec::Rsa {
            bits: 2048,
            public_exponent: Some(3),
        })
        .unwrap();
    assert_eq!(rsa_parts(&key.public).1, [3]);
    keys.destroy(&key.material).unwrap();

    for curve in Curve::ALL {
        let key = ec(&keys, curve);
        descriptor_ok(&key.material);
        match &key.public {
            PublicKey::Ec { curve: c, x, y } => {
                assert_eq!(*c, curve);
                assert_eq!(x.len(), curve.coordinate_len());
                assert_eq!(y.len(), curve.coordinate_len());
            }
            other => panic!("not EC: {other:?}"),
        }
        keys.destroy(&key.material).unwrap();
    }
    for bits in [128u32, 192, 256] {
        let key = aes(&keys, bits);
        descriptor_ok(&key.material);
        assert_eq!(key.public, PublicKey::Oct { bits });
        keys.destroy(&key.material).unwrap();
    }
    // Two keys never share an id.
    let (a, b) = (aes(&keys, 128), aes(&keys, 128));
    assert_ne!(a.material.0, b.material.0);
    keys.destroy(&a.material).unwrap();
    keys.destroy(&b.material).unwrap();
}

#[test]
fn rsa_signatures_verify_in_software_from_n_and_e() {
    let (keys, _) = open!("rsa_signatures_verify_in_software_from_n_and_e");
    let key = rsa(&keys);
    let (n, e) = rsa_parts(&key.public);
    let software = PublicKeyComponents { n, e };
    let message = b"signed inside the token";
    let cases: [(Sig, &digest::Algorithm, &signature::RsaParameters); 6] = [
        (
            Sig::Rs256,
            &digest::SHA256,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            Sig::Rs384,
            &digest::SHA384,
            &signature::RSA_PKCS1_2048_8192_SHA384,
        ),
        (
            Sig::Rs512,
            &digest::SHA512,
            &signature::RSA_PKCS1_2048_8192_SHA512,
        ),
        (
            Sig::Ps256,
            &digest::SHA256,
            &signature::RSA_PSS_2048_8192_SHA256,
        ),
        (
            Sig::Ps384,
            &digest::SHA384,
            &signature::RSA_PSS_2048_8192_SHA384,
        ),
        (
            Sig::Ps512,
            &digest::SHA512,
            &signature::RSA_PSS_2048_8192_SHA512,
        ),
    ];
    for (alg, hash, params) in cases {
        let digest = digest::digest(hash, message);
        let sig = keys
            .sign(&key.material, &key.public, alg, digest.as_ref())
            .unwrap();
        assert_eq!(sig.len(), n.len());
        software
            .verify(params, message, &sig)
            .unwrap_or_else(|_| panic!("{} signature must verify in software", alg.as_str()));
        assert!(
            keys.verify(&key.material, &key.public, alg, digest.as_ref(), &sig)
                .unwrap()
        );
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        assert!(
            !keys
                .verify(&key.material, &key.public, alg, digest.as_ref(), &tampered)
                .unwrap()
        );
        let other = digest::digest(hash, b"another message");
        assert!(
            !keys
                .verify(&key.material, &key.public, alg, other.as_ref(), &sig)
                .unwrap()
        );
    }
    // A digest of the wrong length is the caller's error.
    assert!(matches!(
        keys.sign(&key.material, &key.public, Sig::Rs256, &[0u8; 20]),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        keys.sign(&key.material, &key.public, Sig::Es256, &[0u8; 32]),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
    keys.destroy(&key.material).unwrap();
}

#[test]
fn ec_signatures_are_fixed_length_and_verify_in_software_from_x_and_y() {
    let (keys, _) = open!("ec_signatures_are_fixed_length_and_verify_in_software_from_x_and_y");
    let cases: [(
        Curve,
        Sig,
        &digest::Algorithm,
        &'static dyn VerificationAlgorithm,
    ); 4] = [
        (
            Curve::P256,
            Sig::Es256,
            &digest::SHA256,
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
        (
            Curve::P384,
            Sig::Es384,
            &digest::SHA384,
            &signature::ECDSA_P384_SHA384_FIXED,
        ),
        (
            Curve::P521,
            Sig::Es512,
            &digest::SHA512,
            &signature::ECDSA_P521_SHA512_FIXED,
        ),
        (
            Curve::P256K,
            Sig::Es256K,
            &digest::SHA256,
            &signature::ECDSA_P256K1_SHA256_FIXED,
        ),
    ];
    let message = b"an ECDSA signature made in the token";
    for (curve, alg, hash, verifier) in cases {
        let key = ec(&keys, curve);
        let digest = digest::digest(hash, message);
        let sig = keys
            .sign(&key.material, &key.public, alg, digest.as_ref())
            .unwrap();
        assert_eq!(sig.len(), 2 * curve.coordinate_len(), "{}", alg.as_str());
        UnparsedPublicKey::new(verifier, ec_point(&key.public))
            .verify(message, &sig)
            .unwrap_or_else(|_| panic!("{} signature must verify in software", alg.as_str()));
        assert!(
            keys.verify(&key.material, &key.public, alg, digest.as_ref(), &sig)
                .unwrap()
        );
        let mut tampered = sig.clone();
        tampered[3] ^= 0x40;
        assert!(
            !keys
                .verify(&key.material, &key.public, alg, digest.as_ref(), &tampered)
                .unwrap()
        );
        assert!(
            !keys
                .verify(&key.material, &key.public, alg, digest.as_ref(), &sig[1..])
                .unwrap()
        );
        keys.destroy(&key.material).unwrap();
    }
    // The curve must match the algorithm.
    let key = ec(&keys, Curve::P256);
    assert_eq!(
        keys.sign(&key.material, &key.public, Sig::Es384, &[0u8; 48]),
        Err(KeyError::UnsupportedAlgorithm(
            "ES384 needs a P-384 key; this key is P-256".into()
        ))
    );
    keys.destroy(&key.material).unwrap();
}

#[test]
fn rsa_ciphertexts_made_in_software_decrypt_in_the_token() {
    let (keys, _) = open!("rsa_ciphertexts_made_in_software_decrypt_in_the_token");
    let key = rsa(&keys);
    let (n, e) = rsa_parts(&key.public);
    let public: PublicEncryptingKey = PublicKeyComponents { n, e }.try_into().unwrap();
    let plaintext = b"a content encryption key, 32 b.";
    let none = CipherParams::default();

    let pkcs1 = Pkcs1PublicEncryptingKey::new(public.clone()).unwrap();
    let mut out = vec![0u8; pkcs1.ciphertext_size()];
    let ct = pkcs1.encrypt(plaintext, &mut out).unwrap().to_vec();
    let opened = keys
        .decrypt(&key.material, &key.public, Enc::Rsa1_5, &ct, none)
        .unwrap();
    assert_eq!(opened.as_slice(), plaintext);

    let oaep = OaepPublicEncryptingKey::new(public).unwrap();
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let ct = oaep
        .encrypt(&OAEP_SHA1_MGF1SHA1, plaintext, &mut out, None)
        .unwrap()
        .to_vec();
    let opened = keys
        .decrypt(&key.material, &key.public, Enc::RsaOaep, &ct, none)
        .unwrap();
    assert_eq!(opened.as_slice(), plaintext);

    // Round trips through the token's public key, and one uniform failure for bad input.
    for alg in [Enc::Rsa1_5, Enc::RsaOaep] {
        let sealed = keys
            .encrypt(&key.material, &key.public, alg, plaintext, none)
            .unwrap();
        assert_eq!(sealed.ciphertext.len(), 256);
        assert_eq!((sealed.iv, sealed.tag), (None, None));
        let opened = keys
            .decrypt(&key.material, &key.public, alg, &sealed.ciphertext, none)
            .unwrap();
        assert_eq!(opened.as_slice(), plaintext);
        let mut tampered = sealed.ciphertext.clone();
        tampered[100] ^= 0x08;
        assert_eq!(
            keys.decrypt(&key.material, &key.public, alg, &tampered, none),
            Err(KeyError::DecryptFailed)
        );
        assert_eq!(
            keys.decrypt(&key.material, &key.public, alg, &tampered[1..], none),
            Err(KeyError::DecryptFailed)
        );
    }
    // OAEP-SHA-1 on 2048 bits carries at most 214 bytes.
    assert!(matches!(
        keys.encrypt(&key.material, &key.public, Enc::RsaOaep, &[7u8; 215], none),
        Err(KeyError::InvalidInput(_))
    ));
    // The session that failed was dropped, not reused: the next call works.
    assert!(
        keys.encrypt(&key.material, &key.public, Enc::RsaOaep, &[7u8; 214], none)
            .is_ok()
    );
    keys.destroy(&key.material).unwrap();
}

#[test]
fn rsa_oaep_256_is_refused_naming_the_algorithm_and_token() {
    let (keys, cfg) = open!("rsa_oaep_256_is_refused_naming_the_algorithm_and_token");
    let key = rsa(&keys);
    let refused = || {
        Err(KeyError::UnsupportedAlgorithm(format!(
            "RSA-OAEP-256 is not supported by the PKCS#11 token '{}'",
            cfg.token_label
        )))
    };
    let none = CipherParams::default();
    assert_eq!(
        keys.encrypt(&key.material, &key.public, Enc::RsaOaep256, b"data", none)
            .map(|e| e.ciphertext),
        refused()
    );
    assert_eq!(
        keys.decrypt(
            &key.material,
            &key.public,
            Enc::RsaOaep256,
            &[1u8; 256],
            none
        )
        .map(|p| p.to_vec()),
        refused()
    );
    assert_eq!(
        keys.wrap(&key.material, &key.public, Enc::RsaOaep256, &[9u8; 32]),
        refused()
    );
    assert_eq!(
        keys.unwrap(&key.material, &key.public, Enc::RsaOaep256, &[1u8; 256])
            .map(|p| p.to_vec()),
        refused()
    );
    keys.destroy(&key.material).unwrap();
}

#[test]
fn aes_gcm_and_cbc_round_trip_in_the_token() {
    let (keys, _) = open!("aes_gcm_and_cbc_round_trip_in_the_token");
    let plaintext = b"thirty-two bytes of secret data!";
    for (bits, gcm, cbc, cbc_pad) in [
        (128, Enc::A128Gcm, Enc::A128Cbc, Enc::A128CbcPad),
        (192, Enc::A192Gcm, Enc::A192Cbc, Enc::A192CbcPad),
        (256, Enc::A256Gcm, Enc::A256Cbc, Enc::A256CbcPad),
    ] {
        let key = aes(&keys, bits);
        let (m, p) = (&key.material, &key.public);
        let aad = b"associated";
        let with_aad = CipherParams {
            aad: Some(aad),
            ..Default::default()
        };
        let sealed = keys.encrypt(m, p, gcm, plaintext, with_aad).unwrap();
        let iv = sealed.iv.clone().unwrap();
        let tag = sealed.tag.clone().unwrap();
        assert_eq!((iv.len(), tag.len()), (12, 16));
        assert_eq!(sealed.ciphertext.len(), plaintext.len());
        let open = |ct: &[u8], iv: &[u8], aad: &[u8], tag: &[u8]| {
            keys.decrypt(
                m,
                p,
                gcm,
                ct,
                CipherParams {
                    iv: Some(iv),
                    aad: Some(aad),
                    tag: Some(tag),
                },
            )
            .map(|v| v.to_vec())
        };
        assert_eq!(
            open(&sealed.ciphertext, &iv, aad, &tag).unwrap(),
            plaintext.to_vec()
        );
        let mut bad_tag = tag.clone();
        bad_tag[0] ^= 1;
        assert_eq!(
            open(&sealed.ciphertext, &iv, aad, &bad_tag),
            Err(KeyError::DecryptFailed)
        );
        assert_eq!(
            open(&sealed.ciphertext, &iv, b"other", &tag),
            Err(KeyError::DecryptFailed)
        );
        // A fresh IV each time; a caller's IV is used as given.
        let again = keys.encrypt(m, p, gcm, plaintext, with_aad).unwrap();
        assert_ne!(again.iv, sealed.iv);
        let given = [5u8; 12];
        let fixed = keys
            .encrypt(
                m,
                p,
                gcm,
                plaintext,
                CipherParams {
                    iv: Some(&given),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(fixed.iv.as_deref(), Some(&given[..]));

        let iv16 = [0x42u8; 16];
        let cbc_params = CipherParams {
            iv: Some(&iv16),
            ..Default::default()
        };
        for (alg, input, ct_len) in [(cbc, &plaintext[..], 32), (cbc_pad, &plaintext[..29], 32)] {
            let sealed = keys.encrypt(m, p, alg, input, cbc_params).unwrap();
            assert_eq!(sealed.ciphertext.len(), ct_len);
            assert_eq!(sealed.iv.as_deref(), Some(&iv16[..]));
            let opened = keys
                .decrypt(m, p, alg, &sealed.ciphertext, cbc_params)
                .unwrap();
            assert_eq!(opened.as_slice(), input);
        }
        // Unpadded CBC needs whole blocks; CBC needs the caller's IV.
        assert!(matches!(
            keys.encrypt(m, p, cbc, &plaintext[..30], cbc_params),
            Err(KeyError::InvalidInput(_))
        ));
        assert!(matches!(
            keys.encrypt(m, p, cbc, plaintext, CipherParams::default()),
            Err(KeyError::InvalidInput(_))
        ));
        keys.destroy(m).unwrap();
    }
    // Algorithm size must match the key.
    let key = aes(&keys, 128);
    assert!(matches!(
        keys.encrypt(
            &key.material,
            &key.public,
            Enc::A256Gcm,
            b"x",
            CipherParams::default()
        ),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
    keys.destroy(&key.material).unwrap();
}

#[test]
fn key_wrap_round_trips_in_the_token() {
    let (keys, _) = open!("key_wrap_round_trips_in_the_token");
    let cek = [0x3cu8; 32];
    for (bits, alg) in [(128, Enc::A128Kw), (192, Enc::A192Kw), (256, Enc::A256Kw)] {
        let key = aes(&keys, bits);
        let (m, p) = (&key.material, &key.public);
        let wrapped = keys.wrap(m, p, alg, &cek).unwrap();
        assert_eq!(wrapped.len(), cek.len() + 8);
        assert_eq!(keys.unwrap(m, p, alg, &wrapped).unwrap().as_slice(), cek);
        let mut tampered = wrapped.clone();
        tampered[5] ^= 1;
        assert_eq!(
            keys.unwrap(m, p, alg, &tampered).map(|v| v.to_vec()),
            Err(KeyError::DecryptFailed)
        );
        assert!(matches!(
            keys.wrap(m, p, alg, &cek[..20]),
            Err(KeyError::InvalidInput(_))
        ));
        assert!(matches!(
            keys.encrypt(m, p, alg, &cek, CipherParams::default()),
            Err(KeyError::UnsupportedAlgorithm(_))
        ));
        keys.destroy(m).unwrap();
    }
    // RSA wraps are encryptions of the key bytes.
    let key = rsa(&keys);
    for alg in [Enc::Rsa1_5, Enc::RsaOaep] {
        let wrapped = keys.wrap(&key.material, &key.public, alg, &cek).unwrap();
        assert_eq!(wrapped.len(), 256);
        assert_eq!(
            keys.unwrap(&key.material, &key.public, alg, &wrapped)
                .unwrap()
                .as_slice(),
            cek
        );
    }
    keys.destroy(&key.material).unwrap();
}

#[test]
fn private_and_secret_parts_cannot_be_read_from_the_token() {
    let (keys, cfg) = open!("private_and_secret_parts_cannot_be_read_from_the_token");
    let inspector = Inspector::open(&cfg);
    let made = [rsa(&keys), ec(&keys, Curve::P256), aes(&keys, 256)];
    for key in &made {
        let handles = inspector.objects(&key.material);
        let expected_objects = if matches!(key.public, PublicKey::Oct { .. }) {
            1
        } else {
            2
        };
        assert_eq!(handles.len(), expected_objects);
        let label = format!("coffer-{}", hex::encode(common::id_of(&key.material)));
        for handle in handles {
            let attrs = inspector
                .session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Class,
                        AttributeType::Label,
                        AttributeType::Token,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                    ],
                )
                .unwrap();
            let class = attrs.iter().find_map(|a| match a {
                Attribute::Class(c) => Some(*c),
                _ => None,
            });
            assert!(attrs.contains(&Attribute::Label(label.clone().into_bytes())));
            assert!(attrs.contains(&Attribute::Token(true)));
            if class == Some(ObjectClass::PUBLIC_KEY) {
                continue;
            }
            assert!(attrs.contains(&Attribute::Sensitive(true)));
            assert!(attrs.contains(&Attribute::Extractable(false)));
            // The secret attributes: CKA_VALUE for EC and AES, d and the primes for RSA.
            let secret: &[AttributeType] = match key.public {
                PublicKey::Rsa { .. } => &[
                    AttributeType::PrivateExponent,
                    AttributeType::Prime1,
                    AttributeType::Prime2,
                    AttributeType::Exponent1,
                    AttributeType::Exponent2,
                    AttributeType::Coefficient,
                ],
                _ => &[AttributeType::Value],
            };
            let info = inspector
                .session
                .get_attribute_info(handle, secret)
                .unwrap();
            for (attr, info) in secret.iter().zip(&info) {
                assert!(
                    matches!(info, AttributeInfo::Sensitive),
                    "{attr} of {class:?} must be sensitive, got {info:?}"
                );
            }
            let read = inspector.session.get_attributes(handle, secret).unwrap();
            assert!(read.is_empty(), "no private bytes come out: {}", read.len());
        }
    }
    for key in &made {
        keys.destroy(&key.material).unwrap();
    }
}

#[test]
fn destroy_removes_every_object_of_the_key() {
    let (keys, cfg) = open!("destroy_removes_every_object_of_the_key");
    let inspector = Inspector::open(&cfg);
    let key = ec(&keys, Curve::P384);
    assert_eq!(inspector.objects(&key.material).len(), 2);
    keys.destroy(&key.material).unwrap();
    assert!(inspector.objects(&key.material).is_empty());
    let err = keys
        .sign(&key.material, &key.public, Sig::Es384, &[1u8; 48])
        .unwrap_err();
    assert!(
        matches!(&err, KeyError::Provider(m) if m.contains("no CKO_PRIVATE_KEY object")),
        "{err:?}"
    );
    // Purge may be retried.
    keys.destroy(&key.material).unwrap();
    // Material of another provider is refused without being echoed.
    let software = KeyMaterial(zeroize::Zeroizing::new(vec![0x30, 0x82, 0x01, 0x02]));
    assert_eq!(
        keys.destroy(&software),
        Err(KeyError::InvalidKey(
            "the key material is not a PKCS#11 key handle".into()
        ))
    );
}

#[test]
fn concurrent_operations_use_separate_sessions() {
    let (keys, _) = open!("concurrent_operations_use_separate_sessions");
    let key = ec(&keys, Curve::P256);
    let digest = digest::digest(&digest::SHA256, b"many threads");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let sig = keys
                        .sign(&key.material, &key.public, Sig::Es256, digest.as_ref())
                        .unwrap();
                    assert!(
                        keys.verify(
                            &key.material,
                            &key.public,
                            Sig::Es256,
                            digest.as_ref(),
                            &sig
                        )
                        .unwrap()
                    );
                }
            });
        }
    });
    keys.destroy(&key.material).unwrap();
}

#[test]
fn the_token_reports_what_it_is_and_can_do() {
    let (keys, cfg) = open!("the_token_reports_what_it_is_and_can_do");
    let report = keys.token_report().unwrap();
    assert_eq!(report.label, cfg.token_label);
    let mechanisms = keys.mechanisms().unwrap();
    let find = |name: &str| mechanisms.iter().find(|m| m.name == name);
    for name in [
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        "CKM_AES_KEY_GEN",
        "CKM_AES_GCM",
        "CKM_ECDSA",
    ] {
        assert!(find(name).is_some(), "{name} listed");
    }
    assert!(
        find("CKM_RSA_PKCS_OAEP")
            .unwrap()
            .operations
            .contains(&"decrypt")
    );
    assert!(
        find("CKM_AES_KEY_WRAP")
            .unwrap()
            .operations
            .contains(&"wrap")
    );
    eprintln!("token: {report:?}");
    for m in &mechanisms {
        eprintln!("  {m}");
    }
}

#[test]
fn opened_twice_in_one_process() {
    let (first, cfg) = open!("opened_twice_in_one_process");
    let second = Pkcs11Keys::open(cfg).unwrap();
    let key = aes(&first, 128);
    let sealed = second
        .encrypt(
            &key.material,
            &key.public,
            Enc::A128Gcm,
            b"shared",
            CipherParams::default(),
        )
        .unwrap();
    drop(second);
    let opened = first
        .decrypt(
            &key.material,
            &key.public,
            Enc::A128Gcm,
            &sealed.ciphertext,
            CipherParams {
                iv: sealed.iv.as_deref(),
                aad: None,
                tag: sealed.tag.as_deref(),
            },
        )
        .unwrap();
    assert_eq!(opened.as_slice(), b"shared");
    first.destroy(&key.material).unwrap();
}
