//! Tests of the `oct` half of the software provider: published vectors (NIST SP 800-38A,
//! RFC 3394) and RustCrypto's `aes-gcm` and `aes-kw` as independent implementations.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};

use super::*;
use crate::keys::{KeyProvider, KeySpec, PrivateKeyParts, SoftwareKeys};

type Aes192Gcm = AesGcm<aes_gcm::aes::Aes192, U12>;
type A = EncryptionAlgorithm;

const GCM: [A; 3] = [A::A128Gcm, A::A192Gcm, A::A256Gcm];
const CBC: [A; 3] = [A::A128Cbc, A::A192Cbc, A::A256Cbc];
const CBC_PAD: [A; 3] = [A::A128CbcPad, A::A192CbcPad, A::A256CbcPad];
const KW: [A; 3] = [A::A128Kw, A::A192Kw, A::A256Kw];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn oct(k: &[u8]) -> NewKey {
    SoftwareKeys
        .import(PrivateKeyParts::Oct {
            k: Zeroizing::new(k.to_vec()),
        })
        .unwrap()
}

fn key_for(alg: A) -> NewKey {
    let (_, len) = mode_of(alg).unwrap();
    SoftwareKeys
        .generate(&KeySpec::Oct {
            bits: len as u32 * 8,
        })
        .unwrap()
}

fn params<'a>(
    iv: Option<&'a [u8]>,
    aad: Option<&'a [u8]>,
    tag: Option<&'a [u8]>,
) -> CipherParams<'a> {
    CipherParams { iv, aad, tag }
}

fn encrypt(key: &NewKey, alg: A, data: &[u8], p: CipherParams<'_>) -> Result<Encrypted, KeyError> {
    SoftwareKeys.encrypt(&key.material, &key.public, alg, data, p)
}

fn decrypt(
    key: &NewKey,
    alg: A,
    data: &[u8],
    p: CipherParams<'_>,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    SoftwareKeys.decrypt(&key.material, &key.public, alg, data, p)
}

/// AES-GCM by RustCrypto: ciphertext followed by the tag.
fn reference_gcm_seal(key: &[u8], iv: &[u8], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let nonce = Nonce::<U12>::try_from(iv).unwrap();
    let payload = Payload { msg, aad };
    match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&nonce, payload),
        24 => Aes192Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&nonce, payload),
        _ => Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(&nonce, payload),
    }
    .unwrap()
}

#[test]
fn generates_and_imports_the_three_aes_sizes_only() {
    for bits in [128, 192, 256] {
        let one = SoftwareKeys.generate(&KeySpec::Oct { bits }).unwrap();
        let two = SoftwareKeys.generate(&KeySpec::Oct { bits }).unwrap();
        assert_eq!(one.material.0.len() * 8, bits as usize);
        assert_eq!(one.public, PublicKey::Oct { bits });
        assert_ne!(one.material.0, two.material.0, "from the CSPRNG");
        assert_eq!(oct(&one.material.0).public, PublicKey::Oct { bits });
    }
    for bits in [0, 64, 129, 512] {
        let err = SoftwareKeys.generate(&KeySpec::Oct { bits }).unwrap_err();
        let KeyError::InvalidKey(message) = err else {
            panic!("{err:?}")
        };
        assert!(message.contains("128, 192 or 256"), "{message}");
    }
    for len in [0, 15, 17, 33, 64] {
        let err = SoftwareKeys
            .import(PrivateKeyParts::Oct {
                k: Zeroizing::new(vec![1; len]),
            })
            .unwrap_err();
        assert!(matches!(err, KeyError::InvalidKey(_)), "{len}: {err:?}");
    }
}

#[test]
fn gcm_round_trips_and_matches_an_independent_implementation() {
    for alg in GCM {
        let key = key_for(alg);
        for aad in [None, Some(&b"header"[..])] {
            let sealed = encrypt(&key, alg, b"attack at dawn", params(None, aad, None)).unwrap();
            let iv = sealed.iv.clone().unwrap();
            let tag = sealed.tag.clone().unwrap();
            assert_eq!((iv.len(), tag.len()), (12, 16));
            let opened = decrypt(
                &key,
                alg,
                &sealed.ciphertext,
                params(Some(&iv), aad, Some(&tag)),
            )
            .unwrap();
            assert_eq!(opened.as_slice(), b"attack at dawn");

            let reference = reference_gcm_seal(
                &key.material.0,
                &iv,
                aad.unwrap_or_default(),
                b"attack at dawn",
            );
            assert_eq!(reference, [sealed.ciphertext.clone(), tag.clone()].concat());
        }
        // A caller's IV is used as given; generated ones differ from call to call.
        let iv = [9u8; 12];
        let sealed = encrypt(&key, alg, b"", params(Some(&iv), None, None)).unwrap();
        assert_eq!(sealed.iv.as_deref(), Some(&iv[..]));
        assert!(sealed.ciphertext.is_empty());
        let reference = reference_gcm_seal(&key.material.0, &iv, b"", b"");
        assert_eq!(Some(reference), sealed.tag);
        let a = encrypt(&key, alg, b"x", CipherParams::default()).unwrap();
        let b = encrypt(&key, alg, b"x", CipherParams::default()).unwrap();
        assert_ne!(a.iv, b.iv);
    }
}

#[test]
fn gcm_refuses_anything_altered_with_one_error() {
    let alg = A::A256Gcm;
    let key = key_for(alg);
    let aad = &b"context"[..];
    let sealed = encrypt(&key, alg, b"secret payload", params(None, Some(aad), None)).unwrap();
    let (iv, tag) = (sealed.iv.unwrap(), sealed.tag.unwrap());
    let flip = |bytes: &[u8]| {
        let mut out = bytes.to_vec();
        out[0] ^= 1;
        out
    };
    let attempts = [
        (flip(&sealed.ciphertext), iv.clone(), tag.clone(), Some(aad)),
        (sealed.ciphertext.clone(), flip(&iv), tag.clone(), Some(aad)),
        (sealed.ciphertext.clone(), iv.clone(), flip(&tag), Some(aad)),
        (
            sealed.ciphertext.clone(),
            iv.clone(),
            tag.clone(),
            Some(&b"Context"[..]),
        ),
        (sealed.ciphertext.clone(), iv.clone(), tag.clone(), None),
    ];
    for (ciphertext, iv, tag, aad) in attempts {
        let err = decrypt(&key, alg, &ciphertext, params(Some(&iv), aad, Some(&tag))).unwrap_err();
        assert_eq!(err, KeyError::DecryptFailed);
    }
    let other = key_for(alg);
    let err = decrypt(
        &other,
        alg,
        &sealed.ciphertext,
        params(Some(&iv), Some(aad), Some(&tag)),
    )
    .unwrap_err();
    assert_eq!(err, KeyError::DecryptFailed);
}

#[test]
fn gcm_checks_iv_and_tag_lengths() {
    let alg = A::A128Gcm;
    let key = key_for(alg);
    let err = encrypt(&key, alg, b"x", params(Some(&[0; 16]), None, None)).unwrap_err();
    assert_eq!(
        err,
        KeyError::InvalidInput("The IV is 16 bytes long; A128GCM takes a 12-byte IV.".into())
    );
    let sealed = encrypt(&key, alg, b"x", CipherParams::default()).unwrap();
    let (iv, tag) = (sealed.iv.unwrap(), sealed.tag.unwrap());
    let cases = [
        params(None, None, Some(&tag)),
        params(Some(&iv), None, None),
        params(Some(&iv[..8]), None, Some(&tag)),
        params(Some(&iv), None, Some(&tag[..12])),
    ];
    for p in cases {
        let err = decrypt(&key, alg, &sealed.ciphertext, p).unwrap_err();
        assert!(matches!(err, KeyError::InvalidInput(_)), "{err:?}");
    }
}

/// NIST SP 800-38A F.2: CBC-AES128/192/256 with IV 000102..0f over four blocks.
const SP800_38A_PLAINTEXT: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
const SP800_38A: [(A, &str, &str); 3] = [
    (
        A::A128Cbc,
        "2b7e151628aed2a6abf7158809cf4f3c",
        "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
    ),
    (
        A::A192Cbc,
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
    ),
    (
        A::A256Cbc,
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
    ),
];

#[test]
fn cbc_matches_the_nist_vectors_with_and_without_padding() {
    let iv = hex("000102030405060708090a0b0c0d0e0f");
    let plaintext = hex(SP800_38A_PLAINTEXT);
    for ((alg, k, expected), padded) in SP800_38A.into_iter().zip(CBC_PAD) {
        let key = oct(&hex(k));
        let expected = hex(expected);
        let sealed = encrypt(&key, alg, &plaintext, params(Some(&iv), None, None)).unwrap();
        assert_eq!(sealed.ciphertext, expected, "{alg:?}");
        assert_eq!((sealed.iv.as_deref(), sealed.tag), (Some(&iv[..]), None));
        let opened = decrypt(&key, alg, &expected, params(Some(&iv), None, None)).unwrap();
        assert_eq!(opened.as_slice(), plaintext);

        // PKCS#7 adds one whole block to aligned data; the blocks before it are plain CBC.
        let sealed = encrypt(&key, padded, &plaintext, params(Some(&iv), None, None)).unwrap();
        assert_eq!(sealed.ciphertext.len(), 80);
        assert_eq!(sealed.ciphertext[..64], expected[..]);
        let opened = decrypt(
            &key,
            padded,
            &sealed.ciphertext,
            params(Some(&iv), None, None),
        )
        .unwrap();
        assert_eq!(opened.as_slice(), plaintext);
    }
}

#[test]
fn cbc_pad_round_trips_every_length_around_a_block() {
    let iv = [3u8; 16];
    for alg in CBC_PAD {
        let key = key_for(alg);
        for len in [0, 1, 15, 16, 17, 31, 32, 33] {
            let data = vec![0xA5; len];
            let sealed = encrypt(&key, alg, &data, params(Some(&iv), None, None)).unwrap();
            assert_eq!(sealed.ciphertext.len(), (len / 16 + 1) * 16);
            let opened =
                decrypt(&key, alg, &sealed.ciphertext, params(Some(&iv), None, None)).unwrap();
            assert_eq!(opened.as_slice(), data);
        }
    }
}

#[test]
fn cbc_pad_refuses_bad_padding_with_the_one_decrypt_error() {
    let iv = [0u8; 16];
    let key = key_for(A::A128Cbc);
    // A block that ends in 0x00 is never valid PKCS#7 padding.
    let mut block = [0x41u8; 16];
    block[15] = 0;
    let unpadded = encrypt(&key, A::A128Cbc, &block, params(Some(&iv), None, None)).unwrap();
    let err = decrypt(
        &key,
        A::A128CbcPad,
        &unpadded.ciphertext,
        params(Some(&iv), None, None),
    )
    .unwrap_err();
    assert_eq!(err, KeyError::DecryptFailed);
    // Padding bytes that disagree with the pad length (…, 0x01, 0x02) are refused too.
    block[14] = 0x01;
    block[15] = 0x02;
    let unpadded = encrypt(&key, A::A128Cbc, &block, params(Some(&iv), None, None)).unwrap();
    let err = decrypt(
        &key,
        A::A128CbcPad,
        &unpadded.ciphertext,
        params(Some(&iv), None, None),
    )
    .unwrap_err();
    assert_eq!(err, KeyError::DecryptFailed);
}

#[test]
fn cbc_checks_iv_alignment_and_stray_gcm_inputs() {
    let iv = [0u8; 16];
    for alg in CBC.into_iter().chain(CBC_PAD) {
        let key = key_for(alg);
        let bad = [
            params(None, None, None),
            params(Some(&iv[..12]), None, None),
            params(Some(&iv), Some(b"aad"), None),
            params(Some(&iv), None, Some(&[0; 16])),
        ];
        for p in bad {
            let err = encrypt(&key, alg, &[0; 16], p).unwrap_err();
            assert!(
                matches!(err, KeyError::InvalidInput(_)),
                "{alg:?} encrypt: {err:?}"
            );
            let err = decrypt(&key, alg, &[0; 16], p).unwrap_err();
            assert!(
                matches!(err, KeyError::InvalidInput(_)),
                "{alg:?} decrypt: {err:?}"
            );
        }
        let err = decrypt(&key, alg, &[0; 20], params(Some(&iv), None, None)).unwrap_err();
        assert!(matches!(err, KeyError::InvalidInput(_)), "{err:?}");
    }
    let key = key_for(A::A192Cbc);
    let err = encrypt(&key, A::A192Cbc, &[0; 20], params(Some(&iv), None, None)).unwrap_err();
    assert_eq!(
        err,
        KeyError::InvalidInput(
            "The data is 20 bytes long; A192CBC works on whole 16-byte blocks (the CBCPAD algorithms pad).".into()
        )
    );
    let key = key_for(A::A256CbcPad);
    let err = decrypt(&key, A::A256CbcPad, &[], params(Some(&iv), None, None)).unwrap_err();
    assert!(matches!(err, KeyError::InvalidInput(_)), "{err:?}");
}

fn wrap(key: &NewKey, alg: A, cek: &[u8]) -> Result<Vec<u8>, KeyError> {
    SoftwareKeys.wrap(&key.material, &key.public, alg, cek)
}

fn unwrap(key: &NewKey, alg: A, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    SoftwareKeys.unwrap(&key.material, &key.public, alg, wrapped)
}

#[test]
fn key_wrap_matches_rfc_3394() {
    let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    // (algorithm, KEK length, key data length, wrapped) from RFC 3394 §4.1–4.4 and §4.6.
    let vectors = [
        (
            A::A128Kw,
            16,
            16,
            "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
        ),
        (
            A::A192Kw,
            24,
            16,
            "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
        ),
        (
            A::A256Kw,
            32,
            16,
            "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
        ),
        (
            A::A192Kw,
            24,
            24,
            "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2",
        ),
        (
            A::A256Kw,
            32,
            32,
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
        ),
    ];
    for (alg, kek_len, data_len, expected) in vectors {
        let key = oct(&kek[..kek_len]);
        let expected = hex(expected);
        assert_eq!(
            wrap(&key, alg, &data[..data_len]).unwrap(),
            expected,
            "{alg:?}"
        );
        assert_eq!(
            unwrap(&key, alg, &expected).unwrap().as_slice(),
            &data[..data_len]
        );
    }
}

#[test]
fn key_wrap_agrees_with_an_independent_implementation() {
    use aes_kw::{KwAes128, KwAes256};
    for (alg, len) in [(A::A128Kw, 16), (A::A256Kw, 32)] {
        let key = key_for(alg);
        let cek = [0x5Au8; 40];
        let ours = wrap(&key, alg, &cek).unwrap();
        let mut theirs = vec![0; 48];
        if len == 16 {
            KwAes128::new_from_slice(&key.material.0)
                .unwrap()
                .wrap_key(&cek, &mut theirs)
                .unwrap();
        } else {
            KwAes256::new_from_slice(&key.material.0)
                .unwrap()
                .wrap_key(&cek, &mut theirs)
                .unwrap();
        }
        assert_eq!(ours, theirs, "{alg:?}");
    }
}

#[test]
fn key_wrap_round_trips_and_refuses_altered_input() {
    for alg in KW {
        let key = key_for(alg);
        for len in [16, 24, 32, 64] {
            let cek = vec![0x42; len];
            let wrapped = wrap(&key, alg, &cek).unwrap();
            assert_eq!(wrapped.len(), len + 8);
            assert_eq!(unwrap(&key, alg, &wrapped).unwrap().as_slice(), cek);
            let mut tampered = wrapped.clone();
            tampered[len] ^= 0x01;
            assert_eq!(
                unwrap(&key, alg, &tampered).unwrap_err(),
                KeyError::DecryptFailed
            );
            assert_eq!(
                unwrap(&key_for(alg), alg, &wrapped).unwrap_err(),
                KeyError::DecryptFailed
            );
        }
        for len in [0, 8, 17, 31] {
            let err = wrap(&key, alg, &vec![1; len]).unwrap_err();
            assert!(matches!(err, KeyError::InvalidInput(_)), "{len}: {err:?}");
        }
        for len in [0, 16, 25] {
            let err = unwrap(&key, alg, &vec![1; len]).unwrap_err();
            assert!(matches!(err, KeyError::InvalidInput(_)), "{len}: {err:?}");
        }
    }
}

#[test]
fn algorithms_must_fit_the_operation_and_the_key_size() {
    let key = key_for(A::A256Gcm);
    let err = encrypt(&key, A::A128Gcm, b"x", CipherParams::default()).unwrap_err();
    assert_eq!(
        err,
        KeyError::UnsupportedAlgorithm(
            "The algorithm A128GCM needs a 128-bit key; this key has 256 bits.".into()
        )
    );
    let err = wrap(&key, A::A192Kw, &[0; 16]).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
    let err = decrypt(
        &key,
        A::A128CbcPad,
        &[0; 16],
        params(Some(&[0; 16]), None, None),
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
    // Key-wrap algorithms do not encrypt, and the encryption modes do not wrap.
    for alg in KW.into_iter().chain([A::Rsa1_5, A::RsaOaep, A::RsaOaep256]) {
        let err = encrypt(&key, alg, &[0; 16], CipherParams::default()).unwrap_err();
        assert!(
            matches!(err, KeyError::UnsupportedAlgorithm(_)),
            "{alg:?}: {err:?}"
        );
    }
    for alg in GCM
        .into_iter()
        .chain(CBC)
        .chain(CBC_PAD)
        .chain([A::RsaOaep256])
    {
        let err = wrap(&key, alg, &[0; 16]).unwrap_err();
        assert!(
            matches!(err, KeyError::UnsupportedAlgorithm(_)),
            "{alg:?}: {err:?}"
        );
        let err = unwrap(&key, alg, &[0; 24]).unwrap_err();
        assert!(
            matches!(err, KeyError::UnsupportedAlgorithm(_)),
            "{alg:?}: {err:?}"
        );
    }
}
