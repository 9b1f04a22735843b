use super::*;
use crate::test_support::{TestCa, ec_pkcs8, fresh_rsa_pkcs8, have, openssl, pkcs1_of, sec1_of};
use crate::{CertificateSpec, SigAlg, SigningKeyRef, self_signed, spki_of_pkcs8};

fn chain_bundle() -> Bundle {
    let root = TestCa::root("CN=Test Root");
    let (leaf, key) = root.leaf("CN=leaf.test");
    Bundle {
        key_pkcs8: Some(key),
        chain: vec![leaf, root.cert],
    }
}

fn block(label: &str, der: &[u8]) -> String {
    pem::encode(&Pem::new(label, der.to_vec()))
}

fn self_signed_with(key: &[u8]) -> Vec<u8> {
    let spec = CertificateSpec {
        subject: "CN=pem.test".into(),
        ..CertificateSpec::default()
    };
    self_signed(&spec, &SigningKeyRef::Pkcs8(key)).unwrap()
}

#[test]
fn round_trips_key_first_then_leaf_first_chain() {
    let bundle = chain_bundle();
    let text = build_pem(&bundle);
    assert!(
        text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{}",
        &text[..40]
    );
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(!text.contains('\r'));
    assert_eq!(parse_pem(&text).unwrap(), bundle);

    // Order in the input does not matter: the leaf is the key's certificate.
    let shuffled = format!(
        "{}{}{}",
        block("CERTIFICATE", &bundle.chain[1]),
        block("PRIVATE KEY", bundle.key_pkcs8.as_ref().unwrap()),
        block("CERTIFICATE", &bundle.chain[0])
    );
    assert_eq!(parse_pem(&shuffled).unwrap(), bundle);
}

#[test]
fn certificates_only_are_allowed() {
    let mut bundle = chain_bundle();
    bundle.key_pkcs8 = None;
    let text = build_pem(&bundle);
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(parse_pem(&text).unwrap(), bundle);
}

#[test]
fn pkcs1_and_sec1_keys_become_pkcs8() {
    let rsa = fresh_rsa_pkcs8();
    let cert = self_signed_with(&rsa);
    let text = format!(
        "{}{}",
        block("RSA PRIVATE KEY", &pkcs1_of(&rsa)),
        block("CERTIFICATE", &cert)
    );
    let bundle = parse_pem(&text).unwrap();
    let key = bundle.key_pkcs8.unwrap();
    assert_eq!(spki_of_pkcs8(&key).unwrap(), spki_of_pkcs8(&rsa).unwrap());
    assert_eq!(bundle.chain, vec![cert]);

    for alg in [SigAlg::EcdsaP256Sha256, SigAlg::EcdsaP384Sha384] {
        let ec = ec_pkcs8(alg);
        let cert = self_signed_with(&ec);
        let text = format!(
            "{}{}",
            block("CERTIFICATE", &cert),
            block("EC PRIVATE KEY", &sec1_of(&ec, alg))
        );
        let bundle = parse_pem(&text).unwrap();
        assert_eq!(
            spki_of_pkcs8(bundle.key_pkcs8.as_ref().unwrap()).unwrap(),
            spki_of_pkcs8(&ec).unwrap()
        );
    }
}

#[test]
fn a_key_that_matches_no_certificate_is_refused() {
    let bundle = chain_bundle();
    let other = ec_pkcs8(SigAlg::EcdsaP256Sha256);
    let text = format!(
        "{}{}",
        block("PRIVATE KEY", &other),
        block("CERTIFICATE", &bundle.chain[0])
    );
    assert_eq!(parse_pem(&text), Err(X509Error::KeyMismatch));
}

#[test]
fn encrypted_keys_are_refused_clearly() {
    let cert = block("CERTIFICATE", &chain_bundle().chain[0]);
    let pkcs8 = format!(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n{cert}"
    );
    assert_eq!(parse_pem(&pkcs8), Err(X509Error::EncryptedKey));
    let legacy = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIB\n-----END RSA PRIVATE KEY-----\n{cert}"
    );
    assert_eq!(parse_pem(&legacy), Err(X509Error::EncryptedKey));
    assert!(X509Error::EncryptedKey.to_string().contains("encrypted"));

    if !have("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
            "-pass",
            "pass:pw",
        ],
    );
    assert!(out.status.success());
    let text = format!("{}{cert}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(parse_pem(&text), Err(X509Error::EncryptedKey));
}

#[test]
fn malformed_texts_are_refused() {
    let bundle = chain_bundle();
    assert!(matches!(
        parse_pem("no pem here"),
        Err(X509Error::Malformed(_))
    ));
    assert!(matches!(parse_pem(""), Err(X509Error::Malformed(_))));
    assert!(matches!(
        parse_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
        Err(X509Error::Malformed(_))
    ));
    assert!(matches!(
        parse_pem("-----BEGIN CERTIFICATE-----\nMIIB\n"),
        Err(X509Error::Malformed(_))
    ));
    assert!(matches!(
        parse_pem(&block("CERTIFICATE", b"not der")),
        Err(X509Error::Malformed(_))
    ));
    assert_eq!(
        parse_pem(&block("PRIVATE KEY", bundle.key_pkcs8.as_ref().unwrap())),
        Err(X509Error::NoCertificate)
    );
    assert_eq!(
        parse_pem(&format!(
            "{}{}",
            block("PRIVATE KEY", b"junk"),
            block("CERTIFICATE", &bundle.chain[0])
        )),
        Err(X509Error::InvalidKey)
    );
    assert_eq!(
        parse_pem(&block("RSA PRIVATE KEY", b"junk")),
        Err(X509Error::InvalidKey)
    );
    let key = block("PRIVATE KEY", bundle.key_pkcs8.as_ref().unwrap());
    assert!(matches!(
        parse_pem(&format!(
            "{key}{key}{}",
            block("CERTIFICATE", &bundle.chain[0])
        )),
        Err(X509Error::Unsupported(_))
    ));
    let many: String = (0..11)
        .map(|i| block("CERTIFICATE", &TestCa::root(&format!("CN=r{i}")).cert))
        .collect();
    assert_eq!(
        parse_pem(&many),
        Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN })
    );
    let huge = "A".repeat(crate::MAX_INPUT_BYTES + 1);
    assert_eq!(
        parse_pem(&huge),
        Err(X509Error::TooLarge {
            limit: crate::MAX_INPUT_BYTES
        })
    );
}
