use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use x509_parser::der_parser::asn1_rs::Tag;
use zeroize::Zeroizing;

use super::*;
use crate::test_support::{TestCa, ec_pkcs8, have, openssl, rsa_pkcs8, write_pem};
use crate::{
    CertInfo, RemoteSigner, SigAlg, SignerError, build_pfx, key_matches, order_chain,
    parse_certificate, parse_csr, parse_pfx, spki_of_pkcs8,
};

/// 2026-01-01T00:00:00Z and one year later.
const JAN_2026: i64 = 1_767_225_600;
const JAN_2027: i64 = 1_798_761_600;

const SUBJECT: &str =
    r#"CN=api.contoso.test, OU=Platform, O="Contoso, Ltd", L=Redmond, S=WA, C=US"#;

fn full_spec() -> CertificateSpec {
    CertificateSpec {
        subject: SUBJECT.to_owned(),
        dns_names: vec!["api.contoso.test".into(), "*.api.contoso.test".into()],
        emails: vec!["admin@contoso.test".into()],
        upns: vec!["svc@contoso.test".into()],
        ip_addresses: vec![
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        uris: vec!["https://contoso.test/id".into()],
        validity_months: 12,
        not_before: JAN_2026,
        ekus: vec![
            "1.3.6.1.5.5.7.3.1".into(),
            "1.3.6.1.5.5.7.3.2".into(),
            "1.2.3.4.5".into(),
        ],
        key_usage: vec![
            KeyUsage::DigitalSignature,
            KeyUsage::KeyEncipherment,
            KeyUsage::DecipherOnly,
        ],
    }
}

fn assert_matches_spec(info: &CertInfo, spec: &CertificateSpec, key_spki: &[u8]) {
    assert_eq!(info.subject, SUBJECT);
    assert_eq!(info.issuer, SUBJECT);
    assert_eq!(info.serial_hex.len(), 32, "{}", info.serial_hex);
    assert!(
        info.serial_hex.as_bytes()[0] < b'8',
        "serial must be positive"
    );
    assert_eq!(info.not_before, JAN_2026);
    assert_eq!(info.not_after, JAN_2027);
    assert_eq!(info.dns_names, spec.dns_names);
    assert_eq!(info.emails, spec.emails);
    assert_eq!(info.upns, spec.upns);
    assert_eq!(info.ips, spec.ip_addresses);
    assert_eq!(info.uris, spec.uris);
    assert_eq!(info.ekus, spec.ekus);
    assert_eq!(info.key_usage, spec.key_usage);
    assert!(keys::same_public_key(&info.spki_der, key_spki));
    assert!(!info.is_ca);
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &info.der);
    assert_eq!(info.x5t.as_slice(), sha1.as_ref());
    let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &info.der);
    assert_eq!(info.x5t_s256.as_slice(), sha256.as_ref());

    // The DER itself: name in reverse text order with proper string types, CA:false present.
    let (_, cert) = x509_parser::parse_x509_certificate(&info.der).unwrap();
    let first = cert.subject().iter_attributes().next().unwrap();
    assert_eq!(first.attr_type().to_id_string(), "2.5.4.6");
    assert_eq!(first.attr_value().tag(), Tag::PrintableString);
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.attr_value().tag(), Tag::Utf8String);
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca);
    assert!(cert.key_usage().unwrap().unwrap().critical);
    let (tbs, oid, sig) = info::cert_signed_parts(&info.der).unwrap();
    assert!(
        keys::verify(key_spki, &oid, &tbs, &sig),
        "self-signature must verify"
    );
}

#[test]
fn self_signed_rsa_2048_has_every_field_of_the_spec() {
    let spec = full_spec();
    let key = rsa_pkcs8();
    let der = self_signed(&spec, &SigningKeyRef::Pkcs8(&key)).unwrap();
    let info = parse_certificate(&der).unwrap();
    assert_matches_spec(&info, &spec, &spki_of_pkcs8(&key).unwrap());
    assert!(key_matches(&der, &key).unwrap());
    let (_, oid, _) = info::cert_signed_parts(&der).unwrap();
    assert_eq!(oid, "1.2.840.113549.1.1.11", "sha256WithRSAEncryption");
}

#[test]
fn self_signed_p256_has_every_field_of_the_spec() {
    let spec = full_spec();
    let key = ec_pkcs8(SigAlg::EcdsaP256Sha256);
    let der = self_signed(&spec, &SigningKeyRef::Pkcs8(&key)).unwrap();
    let info = parse_certificate(&der).unwrap();
    assert_matches_spec(&info, &spec, &spki_of_pkcs8(&key).unwrap());
    assert!(!key_matches(&der, &ec_pkcs8(SigAlg::EcdsaP256Sha256)).unwrap());
}

#[test]
fn ec_keys_sign_with_their_curves_hash() {
    for (alg, oid) in [
        (SigAlg::EcdsaP256Sha256, "1.2.840.10045.4.3.2"),
        (SigAlg::EcdsaP384Sha384, "1.2.840.10045.4.3.3"),
        (SigAlg::EcdsaP521Sha512, "1.2.840.10045.4.3.4"),
    ] {
        let key = ec_pkcs8(alg);
        let der = self_signed(&full_spec(), &SigningKeyRef::Pkcs8(&key)).unwrap();
        let (tbs, sig_oid, sig) = info::cert_signed_parts(&der).unwrap();
        assert_eq!(sig_oid, oid);
        assert!(keys::verify(&spki_of_pkcs8(&key).unwrap(), oid, &tbs, &sig));
    }
}

#[test]
fn serials_are_random() {
    let key = ec_pkcs8(SigAlg::EcdsaP256Sha256);
    let a = parse_certificate(&self_signed(&full_spec(), &SigningKeyRef::Pkcs8(&key)).unwrap());
    let b = parse_certificate(&self_signed(&full_spec(), &SigningKeyRef::Pkcs8(&key)).unwrap());
    assert_ne!(a.unwrap().serial_hex, b.unwrap().serial_hex);
}

/// A stand-in for an HSM: signs with an aws-lc-rs key it never hands out, returning ECDSA
/// signatures in the fixed r‖s form of PKCS#11.
struct EcHsm {
    key: EcdsaKeyPair,
    advertised_spki: Vec<u8>,
    alg: SigAlg,
    calls: Cell<usize>,
}

impl EcHsm {
    fn new(alg: SigAlg) -> Self {
        let fixed = match alg {
            SigAlg::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            SigAlg::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            _ => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        };
        let key = EcdsaKeyPair::generate(fixed).unwrap();
        let advertised_spki = key.public_key().as_der().unwrap().as_ref().to_vec();
        Self {
            key,
            advertised_spki,
            alg,
            calls: Cell::new(0),
        }
    }
}

impl RemoteSigner for EcHsm {
    fn public_key_der(&self) -> Vec<u8> {
        self.advertised_spki.clone()
    }
    fn algorithm(&self) -> SigAlg {
        self.alg
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.calls.set(self.calls.get() + 1);
        let sig = self.key.sign(&SystemRandom::new(), message).unwrap();
        Ok(sig.as_ref().to_vec())
    }
}

struct RsaHsm {
    key: RsaKeyPair,
    offline: bool,
}

impl RemoteSigner for RsaHsm {
    fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_der().unwrap().as_ref().to_vec()
    }
    fn algorithm(&self) -> SigAlg {
        SigAlg::RsaSha256
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        if self.offline {
            return Err(SignerError::new("the HSM is offline"));
        }
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .unwrap();
        Ok(sig)
    }
}

#[test]
fn remote_signers_produce_certificates_that_verify() {
    for alg in [
        SigAlg::EcdsaP256Sha256,
        SigAlg::EcdsaP384Sha384,
        SigAlg::EcdsaP521Sha512,
    ] {
        let hsm = EcHsm::new(alg);
        let der = self_signed(&full_spec(), &SigningKeyRef::Remote(&hsm)).unwrap();
        assert_eq!(hsm.calls.get(), 1);
        let info = parse_certificate(&der).unwrap();
        assert_matches_spec(&info, &full_spec(), &hsm.advertised_spki);
    }
    let rsa = RsaHsm {
        key: RsaKeyPair::from_pkcs8(&rsa_pkcs8()).unwrap(),
        offline: false,
    };
    let der = self_signed(&full_spec(), &SigningKeyRef::Remote(&rsa)).unwrap();
    assert_matches_spec(
        &parse_certificate(&der).unwrap(),
        &full_spec(),
        &rsa.public_key_der(),
    );
    // The same key as software and as remote signer gives certificates with the same key.
    assert!(key_matches(&der, &rsa_pkcs8()).unwrap());
}

#[test]
fn remote_signer_failures_are_reported() {
    let offline = RsaHsm {
        key: RsaKeyPair::from_pkcs8(&rsa_pkcs8()).unwrap(),
        offline: true,
    };
    assert_eq!(
        self_signed(&full_spec(), &SigningKeyRef::Remote(&offline)),
        Err(X509Error::Signer("the HSM is offline".into()))
    );
    assert_eq!(
        csr(&full_spec(), &SigningKeyRef::Remote(&offline)),
        Err(X509Error::Signer("the HSM is offline".into()))
    );

    // Advertises one key, signs with another.
    let mut liar = EcHsm::new(SigAlg::EcdsaP256Sha256);
    liar.advertised_spki = EcHsm::new(SigAlg::EcdsaP256Sha256).advertised_spki;
    assert!(matches!(
        self_signed(&full_spec(), &SigningKeyRef::Remote(&liar)),
        Err(X509Error::Signer(m)) if m.contains("does not verify")
    ));

    // Claims an algorithm its key cannot do.
    let mut confused = EcHsm::new(SigAlg::EcdsaP256Sha256);
    confused.alg = SigAlg::EcdsaP384Sha384;
    assert!(matches!(
        self_signed(&full_spec(), &SigningKeyRef::Remote(&confused)),
        Err(X509Error::Signer(_))
    ));
    assert_eq!(confused.calls.get(), 0);
}

#[test]
fn bad_specs_are_refused_with_reasons() {
    let key = ec_pkcs8(SigAlg::EcdsaP256Sha256);
    let sign = |spec: CertificateSpec| self_signed(&spec, &SigningKeyRef::Pkcs8(&key));
    let spec = full_spec;
    let cases: Vec<(CertificateSpec, &str)> = vec![
        (
            CertificateSpec {
                validity_months: 0,
                ..spec()
            },
            "validity",
        ),
        (
            CertificateSpec {
                validity_months: 1201,
                ..spec()
            },
            "validity",
        ),
        (
            CertificateSpec {
                not_before: -1_000_000_000_000,
                ..spec()
            },
            "range",
        ),
        (
            CertificateSpec {
                ekus: vec!["serverAuth".into()],
                ..spec()
            },
            "serverAuth",
        ),
        (
            CertificateSpec {
                dns_names: vec!["bücher.test".into()],
                ..spec()
            },
            "ASCII",
        ),
        (
            CertificateSpec {
                dns_names: vec!["a b".into()],
                ..spec()
            },
            "spaces",
        ),
        (
            CertificateSpec {
                dns_names: vec![String::new()],
                ..spec()
            },
            "empty",
        ),
        (
            CertificateSpec {
                emails: vec!["nobody".into()],
                ..spec()
            },
            "@",
        ),
        (
            CertificateSpec {
                uris: vec!["no-scheme".into()],
                ..spec()
            },
            "scheme",
        ),
        (
            CertificateSpec {
                upns: vec![String::new()],
                ..spec()
            },
            "UPN",
        ),
    ];
    for (case, word) in cases {
        match sign(case.clone()) {
            Err(X509Error::InvalidSpec(m)) => assert!(m.contains(word), "{m} lacks {word}"),
            other => panic!("{case:?} gave {other:?}"),
        }
    }
    assert!(matches!(
        sign(CertificateSpec {
            subject: "CN=a,".into(),
            ..spec()
        }),
        Err(X509Error::InvalidSubject(_))
    ));
    assert!(matches!(
        self_signed(&spec(), &SigningKeyRef::Pkcs8(b"junk")),
        Err(X509Error::InvalidKey)
    ));
}

#[test]
fn months_follow_the_calendar() {
    let at = |unix: i64| OffsetDateTime::from_unix_timestamp(unix).unwrap();
    // 2026-01-31T12:00:00Z + 1 month = 2026-02-28T12:00:00Z.
    assert_eq!(add_months(at(1_769_860_800), 1), Some(at(1_772_280_000)));
    // 2024-01-31 + 1 month = 2024-02-29 (leap year).
    assert_eq!(add_months(at(1_706_659_200), 1), Some(at(1_709_164_800)));
    assert_eq!(add_months(at(JAN_2026), 12), Some(at(JAN_2027)));
    assert_eq!(add_months(at(JAN_2026), 24).map(|t| t.year()), Some(2028));
}

#[test]
fn key_usage_names_round_trip() {
    for usage in KeyUsage::ALL {
        assert_eq!(KeyUsage::from_name(usage.name()), Some(usage));
    }
    assert_eq!(KeyUsage::from_name("CRLSIGN"), Some(KeyUsage::CrlSign));
    assert_eq!(KeyUsage::from_name("sign"), None);
}

fn csr_spec() -> CertificateSpec {
    // rcgen's test CA only copies well-known EKUs from a CSR.
    CertificateSpec {
        ekus: vec!["1.3.6.1.5.5.7.3.1".into(), "1.3.6.1.5.5.7.3.2".into()],
        ..full_spec()
    }
}

#[test]
fn csr_carries_subject_key_and_requests() {
    let key = rsa_pkcs8();
    let der = csr(&csr_spec(), &SigningKeyRef::Pkcs8(&key)).unwrap();
    let info = parse_csr(&der).unwrap();
    assert_eq!(info.subject, SUBJECT);
    assert!(keys::same_public_key(
        &info.spki_der,
        &spki_of_pkcs8(&key).unwrap()
    ));
    let spec = csr_spec();
    assert_eq!(info.sans.dns_names, spec.dns_names);
    assert_eq!(info.sans.emails, spec.emails);
    assert_eq!(info.sans.upns, spec.upns);
    assert_eq!(info.sans.ip_addresses, spec.ip_addresses);
    assert_eq!(info.sans.uris, spec.uris);
    assert_eq!(info.ekus, spec.ekus);
    assert_eq!(info.key_usage, spec.key_usage);

    let mut tampered = der.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert_eq!(parse_csr(&tampered), Err(X509Error::BadSignature));
    assert!(matches!(
        parse_csr(&der[..der.len() - 3]),
        Err(X509Error::Malformed(_))
    ));
}

#[test]
fn remote_signed_csr_verifies() {
    let hsm = EcHsm::new(SigAlg::EcdsaP384Sha384);
    let der = csr(&csr_spec(), &SigningKeyRef::Remote(&hsm)).unwrap();
    let info = parse_csr(&der).unwrap();
    assert!(keys::same_public_key(&info.spki_der, &hsm.advertised_spki));
}

#[test]
fn csr_signed_by_a_ca_merges_into_an_ordered_bundle() {
    let key = Zeroizing::new(ec_pkcs8(SigAlg::EcdsaP256Sha256));
    let request = csr(&csr_spec(), &SigningKeyRef::Pkcs8(&key)).unwrap();
    let root = TestCa::root("CN=Contoso Root, O=Contoso");
    let inter = root.intermediate("CN=Contoso Issuing CA 1, O=Contoso");
    let issued = inter.sign_csr(&request);

    let info = parse_certificate(&issued).unwrap();
    assert_eq!(info.subject, SUBJECT);
    assert_eq!(info.issuer, "CN=Contoso Issuing CA 1, O=Contoso");
    assert_eq!(info.dns_names, csr_spec().dns_names);
    assert!(key_matches(&issued, &key).unwrap());

    // Merge: the CA returns its chain in any order.
    let chain = order_chain(&issued, &[root.cert.clone(), inter.cert.clone()]).unwrap();
    assert_eq!(chain, vec![issued, inter.cert, root.cert]);
    let merged = crate::Bundle {
        key_pkcs8: Some(key),
        chain,
    };
    let back = parse_pfx(&build_pfx(&merged, None).unwrap(), "").unwrap();
    assert_eq!(back, merged);
}

#[test]
fn openssl_accepts_our_certificates_and_csrs() {
    if !have("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hsm = EcHsm::new(SigAlg::EcdsaP521Sha512);
    let cert = self_signed(&full_spec(), &SigningKeyRef::Remote(&hsm)).unwrap();
    write_pem(dir.path(), "c.pem", "CERTIFICATE", &cert);
    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-partial_chain",
            "-CAfile",
            "c.pem",
            "-attime",
            "1780000000",
            "c.pem",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = openssl(
        dir.path(),
        &["x509", "-in", "c.pem", "-noout", "-fingerprint", "-sha1"],
    );
    let text = String::from_utf8_lossy(&out.stdout).replace(':', "");
    let info = parse_certificate(&cert).unwrap();
    assert!(text.contains(&dn::hex_upper(&info.x5t)), "{text}");
    let out = openssl(
        dir.path(),
        &[
            "x509", "-in", "c.pem", "-noout", "-subject", "-nameopt", "RFC2253",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(r"CN=api.contoso.test,OU=Platform,O=Contoso\, Ltd,L=Redmond,ST=WA,C=US"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let key = rsa_pkcs8();
    let request = csr(&full_spec(), &SigningKeyRef::Pkcs8(&key)).unwrap();
    write_pem(dir.path(), "r.pem", "CERTIFICATE REQUEST", &request);
    let out = openssl(dir.path(), &["req", "-in", "r.pem", "-noout", "-verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An OpenSSL CA signs our CSR, copying its extensions (custom EKU included).
    let ca = TestCa::root("CN=OpenSSL CA");
    write_pem(dir.path(), "ca.pem", "CERTIFICATE", &ca.cert);
    write_pem(
        dir.path(),
        "ca.key",
        "PRIVATE KEY",
        ca.key_pkcs8().secret_pkcs8_der(),
    );
    let out = openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "r.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-days",
            "30",
            "-copy_extensions",
            "copy",
            "-outform",
            "DER",
            "-out",
            "issued.der",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued = std::fs::read(dir.path().join("issued.der")).unwrap();
    let info = parse_certificate(&issued).unwrap();
    assert_eq!(info.issuer, "CN=OpenSSL CA");
    assert_eq!(info.upns, full_spec().upns);
    assert_eq!(info.ekus, full_spec().ekus);
    assert!(key_matches(&issued, &key).unwrap());
    assert_eq!(
        order_chain(&issued, std::slice::from_ref(&ca.cert)).unwrap(),
        vec![issued, ca.cert]
    );
}
