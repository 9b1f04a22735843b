//! Client certificates: parsing an X.509 certificate given as PEM or DER (with `x509-parser`),
//! its thumbprints, and the RSA public key client assertions are verified with.

use aws_lc_rs::digest;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Largest certificate accepted (real client certificates are 1–2 KiB).
const MAX_CERT_BYTES: usize = 16 * 1024;
/// Smallest RSA modulus accepted, in bits (Entra ID requires 2048).
const MIN_RSA_BITS: usize = 2048;

/// The facts Coffer keeps about a certificate.
#[derive(Clone, Debug)]
pub(crate) struct ParsedCertificate {
    pub(crate) der: Vec<u8>,
    pub(crate) sha1: Vec<u8>,
    pub(crate) sha256: Vec<u8>,
    /// Validity, unix seconds.
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// The subject as `CN=...`, the default display name of a key credential.
    pub(crate) subject: String,
    /// The RSA public key as PKCS#1 `RSAPublicKey` DER.
    pub(crate) rsa_public_key: Vec<u8>,
}

/// Parses a certificate given as PEM (`-----BEGIN CERTIFICATE-----`), as DER, or as the base64
/// text of its DER. The error says what is wrong, for a 400.
pub(crate) fn parse(input: &[u8]) -> Result<ParsedCertificate, String> {
    if input.is_empty() {
        return Err("the certificate is empty.".to_owned());
    }
    if input.len() > MAX_CERT_BYTES {
        return Err(format!(
            "the certificate is larger than {MAX_CERT_BYTES} bytes."
        ));
    }
    let der = to_der(input)?;
    let (rest, cert) = X509Certificate::from_der(&der)
        .map_err(|e| format!("it is not an X.509 certificate ({e})."))?;
    if !rest.is_empty() {
        return Err("the certificate has trailing data after its DER encoding.".to_owned());
    }
    let spki = cert.public_key();
    let rsa_public_key = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = modulus_bits(rsa.modulus);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "its RSA key has {bits} bits; at least {MIN_RSA_BITS} are required."
                ));
            }
            spki.subject_public_key.data.to_vec()
        }
        Ok(_) => {
            return Err(
                "only certificates with an RSA public key can be client credentials.".to_owned(),
            );
        }
        Err(e) => return Err(format!("its public key cannot be read ({e}).")),
    };
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    let subject = cert.subject().to_string();
    Ok(ParsedCertificate {
        sha1: digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
            .as_ref()
            .to_vec(),
        sha256: digest::digest(&digest::SHA256, &der).as_ref().to_vec(),
        der,
        not_before,
        not_after,
        subject,
        rsa_public_key,
    })
}

/// Size of an RSA modulus in bits, ignoring leading zero bytes of its DER integer.
fn modulus_bits(modulus: &[u8]) -> usize {
    let m: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    8 * m.len() - m[0].leading_zeros() as usize
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, String> {
    // DER certificates start with a SEQUENCE tag.
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let text = std::str::from_utf8(input)
        .map_err(|_| "it is neither DER nor PEM nor base64 text.".to_owned())?
        .trim();
    if text.contains("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
            .map_err(|e| format!("the PEM text cannot be read ({e})."))?;
        if pem.label != "CERTIFICATE" {
            return Err(format!(
                "the PEM block is a '{}', not a 'CERTIFICATE'.",
                pem.label.chars().take(40).collect::<String>()
            ));
        }
        return Ok(pem.contents);
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &compact)
        .map_err(|_| "it is neither DER nor PEM nor base64 text.".to_owned())?;
    if der.first() == Some(&0x30) {
        Ok(der)
    } else {
        // Base64 of PEM text, as some clients send it.
        to_der_pem_only(&der)
    }
}

fn to_der_pem_only(input: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(input)
        .map_err(|_| "it is neither DER nor PEM nor base64 text.".to_owned())?;
    if !text.contains("-----BEGIN") {
        return Err("it is neither DER nor PEM nor base64 text.".to_owned());
    }
    to_der(input)
}

/// Uppercase hex, as thumbprints are shown.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Bytes of a hex string; invalid pairs are skipped (only used on stored thumbprints).
pub(crate) fn hex_decode(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .filter_map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cert(alg: &'static rcgen::SignatureAlgorithm) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        rcgen::CertificateParams::new(vec!["client.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
    }

    #[test]
    fn parses_pem_der_and_base64() {
        let c = cert(&rcgen::PKCS_RSA_SHA256);
        let der = c.der().to_vec();
        let from_der = parse(&der).unwrap();
        let from_pem = parse(c.pem().as_bytes()).unwrap();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
        let from_b64 = parse(b64.as_bytes()).unwrap();
        assert_eq!(from_der.sha1, from_pem.sha1);
        assert_eq!(from_der.sha1, from_b64.sha1);
        assert_eq!(from_der.sha1.len(), 20);
        assert_eq!(from_der.sha256.len(), 32);
        assert!(from_der.not_after > from_der.not_before);
        assert!(!from_der.rsa_public_key.is_empty());
        assert_eq!(hex_decode(&hex_upper(&from_der.sha1)), from_der.sha1);
    }

    #[test]
    fn rejects_garbage_and_non_rsa_keys() {
        assert!(parse(b"").is_err());
        assert!(parse(b"not a certificate").is_err());
        assert!(parse(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(parse(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
        let ec = cert(&rcgen::PKCS_ECDSA_P256_SHA256);
        let e = parse(ec.der()).unwrap_err();
        assert!(e.contains("RSA"), "{e}");
        let mut der = cert(&rcgen::PKCS_RSA_SHA256).der().to_vec();
        der.push(0);
        assert!(parse(&der).unwrap_err().contains("trailing"));
    }
}
