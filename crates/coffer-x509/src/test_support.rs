//! Test helpers: fresh keys, a small rcgen CA hierarchy, key-format conversions for PEM tests,
//! and access to the `openssl` and `python3` command lines when the machine has them.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, RsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateSigningRequestDer, PrivatePkcs8KeyDer};
use x509_parser::der_parser::asn1_rs::{Any, FromDer, OctetString, Sequence};
use zeroize::Zeroizing;

use crate::{SigAlg, dn};

/// One RSA-2048 PKCS#8 key shared by the tests that do not care which (keygen is slow).
pub(crate) fn rsa_pkcs8() -> Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(fresh_rsa_pkcs8).clone()
}

pub(crate) fn fresh_rsa_pkcs8() -> Vec<u8> {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    key.as_der().unwrap().as_ref().to_vec()
}

pub(crate) fn ec_pkcs8(alg: SigAlg) -> Vec<u8> {
    let signing = match alg {
        SigAlg::EcdsaP256Sha256 => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        SigAlg::EcdsaP384Sha384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        SigAlg::EcdsaP521Sha512 => &aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        SigAlg::RsaSha256 => panic!("not an EC algorithm"),
    };
    EcdsaKeyPair::generate(signing)
        .unwrap()
        .to_pkcs8v1()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// The PKCS#1 `RSAPrivateKey` inside an RSA PKCS#8 key (its privateKey OCTET STRING).
pub(crate) fn pkcs1_of(pkcs8: &[u8]) -> Vec<u8> {
    let (_, seq) = Sequence::from_der(pkcs8).unwrap();
    let (rest, _version) = Any::from_der(seq.content.as_ref()).unwrap();
    let (rest, _alg) = Any::from_der(rest).unwrap();
    let (_, octets) = OctetString::from_der(rest).unwrap();
    octets.as_ref().to_vec()
}

/// The SEC1 `ECPrivateKey` form of an EC PKCS#8 key.
pub(crate) fn sec1_of(pkcs8: &[u8], alg: SigAlg) -> Vec<u8> {
    let signing = match alg {
        SigAlg::EcdsaP384Sha384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    };
    let key = EcdsaKeyPair::from_pkcs8(signing, pkcs8).unwrap();
    key.private_key().as_der().unwrap().as_ref().to_vec()
}

/// A CA made with rcgen (P-256), able to issue intermediates, leaves and CSR-based certificates.
pub(crate) struct TestCa {
    pub(crate) cert: Vec<u8>,
    params: CertificateParams,
    key: KeyPair,
}

impl TestCa {
    pub(crate) fn root(subject: &str) -> Self {
        let params = ca_params(subject);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().to_vec();
        Self { cert, params, key }
    }

    pub(crate) fn intermediate(&self, subject: &str) -> Self {
        let params = ca_params(subject);
        let key = KeyPair::generate().unwrap();
        let cert = params
            .signed_by(&key, &self.issuer())
            .unwrap()
            .der()
            .to_vec();
        Self { cert, params, key }
    }

    /// A leaf with a fresh P-256 key: (certificate DER, PKCS#8 key).
    pub(crate) fn leaf(&self, subject: &str) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
        let mut params = CertificateParams::new(vec!["leaf.test".to_owned()]).unwrap();
        params.distinguished_name = dn::to_rcgen(&dn::parse(subject).unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params
            .signed_by(&key, &self.issuer())
            .unwrap()
            .der()
            .to_vec();
        (cert, Zeroizing::new(key.serialize_der()))
    }

    /// Issues a certificate for a CSR, as an external CA would in the CSR + merge flow.
    pub(crate) fn sign_csr(&self, csr_der: &[u8]) -> Vec<u8> {
        let csr = CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(
            csr_der.to_vec(),
        ))
        .unwrap();
        csr.signed_by(&self.issuer()).unwrap().der().to_vec()
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub(crate) fn cert_spki(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(&self.key)
    }

    /// The CA's key as PKCS#8, for tests that need to hold it elsewhere.
    pub(crate) fn key_pkcs8(&self) -> PrivatePkcs8KeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.serialize_der())
    }
}

fn ca_params(subject: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn::to_rcgen(&dn::parse(subject).unwrap()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Whether a command line tool runs here; tests that need it print a note and skip otherwise.
pub(crate) fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("note: `{tool}` is not available; skipping the part of this test that needs it");
    }
    ok
}

pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn write_pem(dir: &Path, name: &str, label: &str, der: &[u8]) {
    let text = pem::encode(&pem::Pem::new(label, der.to_vec()));
    std::fs::write(dir.join(name), text).unwrap();
}
