//! EC keys in software: generation and import on P-256, P-384, P-521 and P-256K (secp256k1), and
//! ECDSA over a caller's digest with fixed-length `r || s` signatures.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair as _,
    UnparsedPublicKey,
};
use zeroize::Zeroizing;

use super::{bad_material, library, unsupported};
use crate::keys::{Curve, KeyError, KeyMaterial, NewKey, PublicKey, SignatureAlgorithm};

/// SEC 1 marker of an uncompressed point (`04 || x || y`).
const UNCOMPRESSED: u8 = 0x04;

/// The one signature algorithm Key Vault pairs with each curve.
fn algorithm_of(curve: Curve) -> SignatureAlgorithm {
    match curve {
        Curve::P256 => SignatureAlgorithm::Es256,
        Curve::P384 => SignatureAlgorithm::Es384,
        Curve::P521 => SignatureAlgorithm::Es512,
        Curve::P256K => SignatureAlgorithm::Es256K,
    }
}

pub(super) fn signing(curve: Curve) -> &'static EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        Curve::P256K => &sig::ECDSA_P256K1_SHA256_FIXED_SIGNING,
    }
}

fn verification(curve: Curve) -> &'static EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED,
        Curve::P256K => &sig::ECDSA_P256K1_SHA256_FIXED,
    }
}

fn digest_algorithm(curve: Curve) -> &'static digest::Algorithm {
    match curve {
        Curve::P256 | Curve::P256K => &digest::SHA256,
        Curve::P384 => &digest::SHA384,
        Curve::P521 => &digest::SHA512,
    }
}

/// EC keys neither encrypt nor wrap.
pub(super) fn cannot_encrypt(alg: &str) -> KeyError {
    unsupported(alg, "EC", "they only sign and verify")
}

/// Refuses any algorithm but the one that belongs to the key's curve.
pub(super) fn check_algorithm(curve: Curve, alg: SignatureAlgorithm) -> Result<(), KeyError> {
    let expected = algorithm_of(curve);
    if alg == expected {
        return Ok(());
    }
    let message = match alg {
        SignatureAlgorithm::Es256
        | SignatureAlgorithm::Es384
        | SignatureAlgorithm::Es512
        | SignatureAlgorithm::Es256K => format!(
            "The algorithm {} does not match the curve {} of this key; it signs with {}.",
            alg.as_str(),
            curve.as_str(),
            expected.as_str()
        ),
        _ => format!(
            "The algorithm {} is not supported by EC keys; a {} key signs with {}.",
            alg.as_str(),
            curve.as_str(),
            expected.as_str()
        ),
    };
    Err(KeyError::UnsupportedAlgorithm(message))
}

pub(super) fn generate(curve: Curve) -> Result<NewKey, KeyError> {
    let pair = EcdsaKeyPair::generate(signing(curve)).map_err(|_| library("EC key generation"))?;
    new_key(curve, &pair)
}

/// Imports `d` and checks it against the public point `(x, y)`. Members shorter than the curve's
/// length are taken as big-endian numbers without their leading zeros.
pub(super) fn import(curve: Curve, x: &[u8], y: &[u8], d: &[u8]) -> Result<NewKey, KeyError> {
    let len = curve.coordinate_len();
    let name = curve.as_str();
    let wrong = |member: &str, got: usize| {
        KeyError::InvalidKey(format!(
            "The EC member {member} is {got} bytes long; {name} needs {len}."
        ))
    };
    if d.is_empty() || x.is_empty() || y.is_empty() {
        return Err(KeyError::InvalidKey(
            "An EC private key needs d, x and y.".into(),
        ));
    }
    let d = left_pad(d, len).ok_or_else(|| wrong("d", d.len()))?;
    let x_fixed = left_pad(x, len).ok_or_else(|| wrong("x", x.len()))?;
    let y_fixed = left_pad(y, len).ok_or_else(|| wrong("y", y.len()))?;
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(UNCOMPRESSED);
    point.extend_from_slice(&x_fixed);
    point.extend_from_slice(&y_fixed);
    let pair = EcdsaKeyPair::from_private_key_and_public_key(signing(curve), &d, &point).map_err(
        |_| {
            KeyError::InvalidKey(format!(
                "The EC key parts do not form one valid {name} key (x and y must be the public point of d)."
            ))
        },
    )?;
    new_key(curve, &pair)
}

/// `bytes` as a big-endian number of exactly `len` bytes, if it fits.
fn left_pad(bytes: &[u8], len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let pad = len.checked_sub(bytes.len())?;
    let mut out = Zeroizing::new(vec![0; len]);
    out[pad..].copy_from_slice(bytes);
    Some(out)
}

pub(super) fn new_key(curve: Curve, pair: &EcdsaKeyPair) -> Result<NewKey, KeyError> {
    let document = pair
        .to_pkcs8v1()
        .map_err(|_| library("EC PKCS#8 encoding"))?;
    let material = KeyMaterial(Zeroizing::new(document.as_ref().to_vec()));
    let (x, y) = split_point(curve, pair.public_key().as_ref())
        .ok_or_else(|| library("EC public point encoding"))?;
    Ok(NewKey {
        material,
        public: PublicKey::Ec { curve, x, y },
    })
}

/// The fixed-length coordinates of an uncompressed SEC 1 point.
fn split_point(curve: Curve, point: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let len = curve.coordinate_len();
    let (&marker, coordinates) = point.split_first()?;
    if marker != UNCOMPRESSED || coordinates.len() != 2 * len {
        return None;
    }
    let (x, y) = coordinates.split_at(len);
    Some((x.to_vec(), y.to_vec()))
}

/// Signs a digest whose length the caller has checked.
pub(super) fn sign(material: &[u8], curve: Curve, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
    let pair =
        EcdsaKeyPair::from_pkcs8(signing(curve), material).map_err(|_| bad_material("EC"))?;
    let digest =
        Digest::import_less_safe(digest, digest_algorithm(curve)).map_err(|_| library("digest"))?;
    let signature = pair
        .sign_digest(&digest)
        .map_err(|_| library("ECDSA signing"))?;
    Ok(signature.as_ref().to_vec())
}

/// Verifies with the public point only; a wrong signature (or one of the wrong length) is
/// `Ok(false)`.
pub(super) fn verify(
    curve: Curve,
    x: &[u8],
    y: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, KeyError> {
    let len = curve.coordinate_len();
    if x.len() != len || y.len() != len {
        return Err(bad_material("EC public"));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(UNCOMPRESSED);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    let digest =
        Digest::import_less_safe(digest, digest_algorithm(curve)).map_err(|_| library("digest"))?;
    Ok(UnparsedPublicKey::new(verification(curve), &point)
        .verify_digest(&digest, signature)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::digest::digest;

    use super::*;
    use crate::keys::{KeyProvider, KeySpec, PrivateKeyParts, SoftwareKeys};

    /// One independent (RustCrypto) ECDSA implementation per curve.
    struct Reference {
        /// Verifies `r || s` over a digest with an uncompressed public point.
        verify: fn(&[u8], &[u8], &[u8]) -> bool,
        /// The uncompressed public point of the private scalar `d`.
        point_of: fn(&[u8]) -> Vec<u8>,
    }

    macro_rules! reference {
        ($krate:ident) => {{
            fn verify(point: &[u8], digest: &[u8], signature: &[u8]) -> bool {
                use $krate::ecdsa::signature::hazmat::PrehashVerifier as _;
                let key = $krate::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
                let Ok(signature) = $krate::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                // k256 accepts only low-S signatures (a Bitcoin rule neither Key Vault nor
                // aws-lc-rs follows); (r, n - s) is the same signature, so compare on that form.
                key.verify_prehash(digest, &signature.normalize_s()).is_ok()
            }
            fn point_of(d: &[u8]) -> Vec<u8> {
                let key = $krate::ecdsa::SigningKey::from_slice(d).unwrap();
                key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
            }
            Reference { verify, point_of }
        }};
    }

    fn reference(curve: Curve) -> Reference {
        match curve {
            Curve::P256 => reference!(p256),
            Curve::P384 => reference!(p384),
            Curve::P521 => reference!(p521),
            Curve::P256K => reference!(k256),
        }
    }

    fn point(x: &[u8], y: &[u8]) -> Vec<u8> {
        [&[UNCOMPRESSED][..], x, y].concat()
    }

    fn xy(public: &PublicKey) -> (&[u8], &[u8]) {
        match public {
            PublicKey::Ec { x, y, .. } => (x, y),
            other => panic!("not an EC key: {other:?}"),
        }
    }

    fn digest_of(curve: Curve, message: &[u8]) -> Vec<u8> {
        digest(digest_algorithm(curve), message).as_ref().to_vec()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn parts(curve: Curve, x: &[u8], y: &[u8], d: &[u8]) -> PrivateKeyParts {
        PrivateKeyParts::Ec {
            curve,
            x: x.to_vec(),
            y: y.to_vec(),
            d: Zeroizing::new(d.to_vec()),
        }
    }

    /// Sign and verify on one key, ours and the reference's verification agreeing.
    fn exercise(key: &NewKey, curve: Curve) {
        let alg = algorithm_of(curve);
        let (x, y) = xy(&key.public);
        let digest = digest_of(curve, b"message");
        let signature = SoftwareKeys
            .sign(&key.material, &key.public, alg, &digest)
            .unwrap();
        assert_eq!(signature.len(), 2 * curve.coordinate_len(), "fixed r || s");
        assert!(
            SoftwareKeys
                .verify(&key.material, &key.public, alg, &digest, &signature)
                .unwrap()
        );
        assert!((reference(curve).verify)(&point(x, y), &digest, &signature));

        let mut tampered = signature.clone();
        tampered[5] ^= 0x10;
        assert!(
            !SoftwareKeys
                .verify(&key.material, &key.public, alg, &digest, &tampered)
                .unwrap()
        );
        assert!(!(reference(curve).verify)(&point(x, y), &digest, &tampered));
        let other = digest_of(curve, b"other message");
        assert!(
            !SoftwareKeys
                .verify(&key.material, &key.public, alg, &other, &signature)
                .unwrap()
        );
        assert!(
            !SoftwareKeys
                .verify(&key.material, &key.public, alg, &digest, &signature[1..])
                .unwrap()
        );
    }

    #[test]
    fn every_curve_generates_and_signs() {
        for curve in Curve::ALL {
            let key = SoftwareKeys.generate(&KeySpec::Ec { curve }).unwrap();
            let PublicKey::Ec { curve: got, x, y } = &key.public else {
                panic!("{:?}", key.public)
            };
            assert_eq!(*got, curve);
            assert_eq!(x.len(), curve.coordinate_len());
            assert_eq!(y.len(), curve.coordinate_len());
            exercise(&key, curve);
            // ECDSA is randomised: two signatures of one digest differ, and both verify.
            let digest = digest_of(curve, b"twice");
            let alg = algorithm_of(curve);
            let one = SoftwareKeys.sign(&key.material, &key.public, alg, &digest);
            let two = SoftwareKeys.sign(&key.material, &key.public, alg, &digest);
            assert_ne!(one.unwrap(), two.unwrap());
        }
    }

    #[test]
    fn imports_keys_made_by_an_independent_implementation() {
        for curve in Curve::ALL {
            let mut d = vec![0; curve.coordinate_len()];
            aws_lc_rs::rand::fill(&mut d).unwrap();
            if curve == Curve::P521 {
                d[0] &= 0x01; // a 521-bit scalar
            }
            let expected = (reference(curve).point_of)(&d);
            let (x, y) = expected[1..].split_at(curve.coordinate_len());
            let key = SoftwareKeys.import(parts(curve, x, y, &d)).unwrap();
            assert_eq!(
                key.public,
                PublicKey::Ec {
                    curve,
                    x: x.to_vec(),
                    y: y.to_vec()
                }
            );
            exercise(&key, curve);
        }
    }

    #[test]
    fn imports_published_test_vectors() {
        // RFC 6979 A.2.5, the P-256 key.
        let d = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let x = hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6");
        let y = hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
        let key = SoftwareKeys.import(parts(Curve::P256, &x, &y, &d)).unwrap();
        exercise(&key, Curve::P256);

        // d = 1 has the generator as its public point (SEC 2), and shows that a d without its
        // leading zeros is read as the number it is.
        let gx = hex("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296");
        let gy = hex("4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5");
        let key = SoftwareKeys
            .import(parts(Curve::P256, &gx, &gy, &[1]))
            .unwrap();
        assert_eq!(xy(&key.public), (&gx[..], &gy[..]));
    }

    #[test]
    fn import_refuses_parts_that_do_not_belong_together() {
        let other = SoftwareKeys
            .generate(&KeySpec::Ec { curve: Curve::P256 })
            .unwrap();
        let (ox, oy) = xy(&other.public);
        let d = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let x = hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6");
        let y = hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
        let order = hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

        let refused = [
            // Another key's public point.
            parts(Curve::P256, ox, oy, &d),
            // A point that is not on the curve.
            parts(Curve::P256, &x, &x, &d),
            // The right parts declared for another curve.
            parts(Curve::P256K, &x, &y, &d),
            // Too long for the curve.
            parts(Curve::P256, &x, &y, &[&[1][..], &d].concat()),
            parts(Curve::P256, &[&[0][..], &x, &[0]].concat(), &y, &d),
            // Scalars outside [1, n - 1].
            parts(Curve::P256, &x, &y, &[0; 32]),
            parts(Curve::P256, &x, &y, &order),
            // Missing members.
            parts(Curve::P256, &x, &y, &[]),
            parts(Curve::P256, &[], &[], &d),
        ];
        for (i, parts) in refused.into_iter().enumerate() {
            let err = SoftwareKeys.import(parts).unwrap_err();
            assert!(matches!(err, KeyError::InvalidKey(_)), "case {i}: {err:?}");
        }
    }

    #[test]
    fn algorithms_of_other_curves_and_key_types_are_refused() {
        let key = SoftwareKeys
            .generate(&KeySpec::Ec { curve: Curve::P256 })
            .unwrap();
        let err = SoftwareKeys
            .sign(
                &key.material,
                &key.public,
                SignatureAlgorithm::Es384,
                &[0; 48],
            )
            .unwrap_err();
        assert_eq!(
            err,
            KeyError::UnsupportedAlgorithm(
                "The algorithm ES384 does not match the curve P-256 of this key; it signs with ES256."
                    .into()
            )
        );
        for alg in SignatureAlgorithm::ALL {
            if alg == SignatureAlgorithm::Es256 {
                continue;
            }
            let digest = vec![0; alg.digest_len()];
            let err = SoftwareKeys
                .sign(&key.material, &key.public, alg, &digest)
                .unwrap_err();
            assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
            let err = SoftwareKeys
                .verify(&key.material, &key.public, alg, &digest, &[0; 64])
                .unwrap_err();
            assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
        }
        let err = SoftwareKeys
            .sign(
                &key.material,
                &key.public,
                SignatureAlgorithm::Rs256,
                &[0; 32],
            )
            .unwrap_err();
        assert_eq!(
            err,
            KeyError::UnsupportedAlgorithm(
                "The algorithm RS256 is not supported by EC keys; a P-256 key signs with ES256."
                    .into()
            )
        );
    }

    #[test]
    fn a_malformed_stored_public_point_is_a_provider_failure() {
        let public = PublicKey::Ec {
            curve: Curve::P384,
            x: vec![1; 32],
            y: vec![1; 32],
        };
        let err = SoftwareKeys
            .verify(
                &KeyMaterial(Zeroizing::new(Vec::new())),
                &public,
                SignatureAlgorithm::Es384,
                &[0; 48],
                &[0; 96],
            )
            .unwrap_err();
        assert!(matches!(err, KeyError::Provider(_)), "{err:?}");
    }
}
