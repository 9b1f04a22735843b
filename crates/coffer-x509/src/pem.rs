//! PEM bundles, as in Key Vault's `application/x-pem-file` secrets: reading certificates and one
//! private key (PKCS#8, PKCS#1 or SEC1, converted to PKCS#8), and writing key then chain.

use pem::{EncodeConfig, LineEnding, Pem};
use rustls_pki_types::pem::{PemObject, SectionKind};
use zeroize::{Zeroize, Zeroizing};

use crate::bundle::assemble;
use crate::{Bundle, MAX_CHAIN_LEN, X509Error, keys};

/// Reads a PEM text: `CERTIFICATE` blocks and at most one `PRIVATE KEY`, `RSA PRIVATE KEY` or
/// `EC PRIVATE KEY`. Other blocks are ignored; encrypted keys are refused.
pub fn parse_pem(text: &str) -> Result<Bundle, X509Error> {
    crate::check_size(text.as_bytes())?;
    // The PEM reader skips labels it does not know, which would make an encrypted key look
    // like no key at all.
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(X509Error::EncryptedKey);
    }
    let mut certs = Vec::new();
    let mut key: Option<Zeroizing<Vec<u8>>> = None;
    let mut sections = 0usize;
    for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(text.as_bytes()) {
        let (kind, der) =
            section.map_err(|_| X509Error::Malformed("the PEM text could not be read".into()))?;
        let der = Zeroizing::new(der);
        sections += 1;
        let found = match kind {
            SectionKind::Certificate => {
                // Duplicates are dropped later; this only stops a flood of blocks early.
                if certs.len() >= MAX_CHAIN_LEN * 2 {
                    return Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN });
                }
                certs.push(der.to_vec());
                None
            }
            SectionKind::PrivateKey => Some(der),
            SectionKind::RsaPrivateKey => Some(keys::pkcs1_to_pkcs8(&der)?),
            SectionKind::EcPrivateKey => Some(keys::sec1_to_pkcs8(&der)?),
            _ => None,
        };
        if let Some(found) = found {
            if key.is_some() {
                return Err(X509Error::Unsupported(
                    "the PEM text holds more than one private key".into(),
                ));
            }
            key = Some(found);
        }
    }
    if sections == 0 {
        return Err(X509Error::Malformed("no PEM block found".into()));
    }
    assemble(key, certs)
}

/// Writes `PRIVATE KEY` (if any) then the certificates, leaf first, with `\n` line endings.
pub fn build_pem(bundle: &Bundle) -> Zeroizing<String> {
    let config = EncodeConfig::new().set_line_ending(LineEnding::LF);
    let mut out = Zeroizing::new(String::new());
    if let Some(key) = &bundle.key_pkcs8 {
        let block = Pem::new("PRIVATE KEY", key.to_vec());
        let mut text = pem::encode_config(&block, config);
        out.push_str(&text);
        text.zeroize();
        drop(Zeroizing::new(block.into_contents()));
    }
    for cert in &bundle.chain {
        out.push_str(&pem::encode_config(
            &Pem::new("CERTIFICATE", cert.as_slice()),
            config,
        ));
    }
    out
}

#[cfg(test)]
mod tests;
