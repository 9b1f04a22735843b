use std::path::Path;
use std::process::Command;

use rustls_pki_types::pem::{PemObject, SectionKind};
use zeroize::Zeroizing;

use super::*;
use crate::test_support::{TestCa, ec_pkcs8, have, openssl, write_pem};
use crate::{SigAlg, spki_of_pkcs8};

/// A leaf with its key, an intermediate and a root, as Key Vault would store them.
fn chain_bundle() -> Bundle {
    let root = TestCa::root("CN=Test Root, O=Coffer");
    let inter = root.intermediate("CN=Test Issuing CA, O=Coffer");
    let (leaf, key) = inter.leaf("CN=leaf.test");
    Bundle {
        key_pkcs8: Some(key),
        chain: vec![leaf, inter.cert, root.cert],
    }
}

#[test]
fn without_password_round_trips() {
    let bundle = chain_bundle();
    let pfx = build_pfx(&bundle, None).unwrap();
    assert_eq!(parse_pfx(&pfx, "").unwrap(), bundle);
    assert_eq!(parse_pfx(&pfx, "x"), Err(X509Error::WrongPassword));
}

#[test]
fn with_password_round_trips_and_other_passwords_fail() {
    let bundle = chain_bundle();
    for password in ["s3cret!", "pässwörd ✓"] {
        let pfx = build_pfx(&bundle, Some(password)).unwrap();
        assert_eq!(parse_pfx(&pfx, password).unwrap(), bundle);
        for wrong in ["", "S3cret!", "s3cret"] {
            assert_eq!(
                parse_pfx(&pfx, wrong),
                Err(X509Error::WrongPassword),
                "{wrong:?}"
            );
        }
    }
}

#[test]
fn certificates_without_key_round_trip_in_order() {
    let mut bundle = chain_bundle();
    bundle.key_pkcs8 = None;
    let pfx = build_pfx(&bundle, Some("pw")).unwrap();
    let back = parse_pfx(&pfx, "pw").unwrap();
    assert_eq!(back.key_pkcs8, None);
    assert_eq!(back.chain, bundle.chain);
}

#[test]
fn building_checks_the_bundle() {
    let mut bundle = chain_bundle();
    bundle.key_pkcs8 = Some(Zeroizing::new(ec_pkcs8(SigAlg::EcdsaP256Sha256)));
    assert_eq!(build_pfx(&bundle, None), Err(X509Error::KeyMismatch));
    assert_eq!(
        build_pfx(&Bundle::default(), None),
        Err(X509Error::NoCertificate)
    );
    let mut long = chain_bundle();
    long.chain = vec![long.chain[0].clone(); MAX_CHAIN_LEN + 1];
    assert_eq!(
        build_pfx(&long, None),
        Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN })
    );
    let mut junk = chain_bundle();
    junk.chain.push(b"not a certificate".to_vec());
    assert!(matches!(
        build_pfx(&junk, None),
        Err(X509Error::Malformed(_))
    ));
}

#[test]
fn truncated_garbage_and_oversized_inputs_are_refused() {
    let bundle = chain_bundle();
    let pfx = build_pfx(&bundle, Some("pw")).unwrap();
    for cut in [0, 1, 10, pfx.len() / 2, pfx.len() - 1] {
        assert!(
            matches!(parse_pfx(&pfx[..cut], "pw"), Err(X509Error::Malformed(_))),
            "cut at {cut}"
        );
    }
    assert!(matches!(
        parse_pfx(b"hello world", "pw"),
        Err(X509Error::Malformed(_))
    ));
    // Well-formed DER that is not a PFX: a certificate.
    assert!(matches!(
        parse_pfx(&bundle.chain[0], "pw"),
        Err(X509Error::Malformed(_))
    ));
    let mut flipped = pfx.clone();
    flipped[pfx.len() / 2] ^= 0xff;
    assert!(parse_pfx(&flipped, "pw").is_err());
    assert_eq!(
        parse_pfx(&vec![0x30; crate::MAX_INPUT_BYTES + 1], "pw"),
        Err(X509Error::TooLarge {
            limit: crate::MAX_INPUT_BYTES
        })
    );
}

/// Writes key.pem, leaf.pem and chain.pem (root first, to check that the order is rebuilt).
fn write_inputs(dir: &Path, bundle: &Bundle) {
    write_pem(
        dir,
        "key.pem",
        "PRIVATE KEY",
        bundle.key_pkcs8.as_ref().unwrap(),
    );
    write_pem(dir, "leaf.pem", "CERTIFICATE", &bundle.chain[0]);
    let chain = format!(
        "{}{}",
        pem::encode(&pem::Pem::new("CERTIFICATE", bundle.chain[2].clone())),
        pem::encode(&pem::Pem::new("CERTIFICATE", bundle.chain[1].clone()))
    );
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
}

fn openssl_ok(dir: &Path, args: &[&str]) -> bool {
    let out = openssl(dir, args);
    if !out.status.success() {
        println!(
            "note: openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

#[test]
fn reads_pfx_files_made_by_openssl() {
    if !have("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = chain_bundle();
    write_inputs(dir.path(), &bundle);
    let export = [
        "pkcs12",
        "-export",
        "-inkey",
        "key.pem",
        "-in",
        "leaf.pem",
        "-certfile",
        "chain.pem",
    ];
    let variants: [(&str, &[&str], &str); 4] = [
        ("modern.pfx", &["-passout", "pass:pw"], "pw"),
        ("nopass.pfx", &["-passout", "pass:"], ""),
        (
            "plain.pfx",
            &[
                "-keypbe", "NONE", "-certpbe", "NONE", "-nomac", "-passout", "pass:",
            ],
            "",
        ),
        ("legacy.pfx", &["-legacy", "-passout", "pass:pw"], "pw"),
    ];
    for (file, extra, password) in variants {
        let mut args = export.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-out", file]);
        if !openssl_ok(dir.path(), &args) {
            // Only -legacy may be missing (no legacy provider); the others must work.
            assert_eq!(file, "legacy.pfx");
            continue;
        }
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        assert_eq!(parse_pfx(&bytes, password).unwrap(), bundle, "{file}");
        if !password.is_empty() {
            assert_eq!(
                parse_pfx(&bytes, "wrong"),
                Err(X509Error::WrongPassword),
                "{file}"
            );
        }
    }
    assert!(openssl_ok(
        dir.path(),
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            "leaf.pem",
            "-certfile",
            "chain.pem",
            "-passout",
            "pass:pw",
            "-out",
            "certs.pfx"
        ],
    ));
    let back = parse_pfx(&std::fs::read(dir.path().join("certs.pfx")).unwrap(), "pw").unwrap();
    assert_eq!(back.key_pkcs8, None);
    assert_eq!(back.chain, bundle.chain);
}

#[test]
fn openssl_reads_our_pfx_files() {
    if !have("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = chain_bundle();
    for (password, passin) in [(None, "pass:"), (Some("pw"), "pass:pw")] {
        std::fs::write(
            dir.path().join("out.pfx"),
            build_pfx(&bundle, password).unwrap(),
        )
        .unwrap();
        let out = openssl(
            dir.path(),
            &["pkcs12", "-in", "out.pfx", "-passin", passin, "-nodes"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut keys = Vec::new();
        let mut certs = Vec::new();
        for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(&out.stdout) {
            match section.unwrap() {
                (SectionKind::PrivateKey, der) => keys.push(der),
                (SectionKind::Certificate, der) => certs.push(der),
                _ => {}
            }
        }
        assert_eq!(keys.len(), 1);
        assert_eq!(
            spki_of_pkcs8(&keys[0]).unwrap(),
            spki_of_pkcs8(bundle.key_pkcs8.as_ref().unwrap()).unwrap()
        );
        let mut expected = bundle.chain.clone();
        expected.sort();
        certs.sort();
        assert_eq!(certs, expected);
    }
}

const PY_LOAD: &str = r#"
import sys
from cryptography.hazmat.primitives.serialization import pkcs12
data = open(sys.argv[1], "rb").read()
password = None if sys.argv[2] == "-" else sys.argv[2].encode()
key, cert, extra = pkcs12.load_key_and_certificates(data, password)
print(key is not None, cert.subject.rfc4514_string(), len(extra))
"#;

const PY_DUMP: &str = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
key = serialization.load_der_private_key(open(sys.argv[1], "rb").read(), None)
certs = [x509.load_der_x509_certificate(open(p, "rb").read()) for p in sys.argv[4:]]
enc = serialization.NoEncryption() if sys.argv[2] == "-" else serialization.BestAvailableEncryption(sys.argv[2].encode())
open(sys.argv[3], "wb").write(pkcs12.serialize_key_and_certificates(b"kv", key, certs[0], certs[1:], enc))
"#;

fn have_python_cryptography() -> bool {
    have(
        "python3",
        &[
            "-c",
            "import cryptography.hazmat.primitives.serialization.pkcs12",
        ],
    )
}

fn python(dir: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .current_dir(dir)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn python_cryptography_reads_our_pfx_without_password() {
    if !have_python_cryptography() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = chain_bundle();
    std::fs::write(
        dir.path().join("none.pfx"),
        build_pfx(&bundle, None).unwrap(),
    )
    .unwrap();
    assert_eq!(
        python(dir.path(), PY_LOAD, &["none.pfx", "-"]),
        "True CN=leaf.test 2"
    );
    std::fs::write(
        dir.path().join("pw.pfx"),
        build_pfx(&bundle, Some("pw")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        python(dir.path(), PY_LOAD, &["pw.pfx", "pw"]),
        "True CN=leaf.test 2"
    );
}

#[test]
fn reads_pfx_files_made_by_python_cryptography() {
    if !have_python_cryptography() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = chain_bundle();
    std::fs::write(
        dir.path().join("key.der"),
        bundle.key_pkcs8.as_ref().unwrap(),
    )
    .unwrap();
    for (i, cert) in bundle.chain.iter().enumerate() {
        std::fs::write(dir.path().join(format!("c{i}.der")), cert).unwrap();
    }
    for (password, file) in [("-", "none.pfx"), ("pw", "pw.pfx")] {
        python(
            dir.path(),
            PY_DUMP,
            &["key.der", password, file, "c0.der", "c2.der", "c1.der"],
        );
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        let password = if password == "-" { "" } else { password };
        assert_eq!(parse_pfx(&bytes, password).unwrap(), bundle, "{file}");
    }
}
