//! PKCS#12 (PFX) files, through p12-keystore: importing a PFX with or without a password
//! (modern PBES2/AES and legacy 3DES/RC2), and writing the PFX of a Key Vault managed secret.

use p12_keystore::error::Error as P12Error;
use p12_keystore::{
    Certificate, KeyStore, KeyStoreEntry, Pkcs12Archive, PrivateKey, PrivateKeyChain,
};
use x509_parser::der_parser::asn1_rs::{Any, FromDer, Tag};
use zeroize::Zeroizing;

use crate::bundle::assemble;
use crate::info::sha1;
use crate::{Bundle, MAX_CHAIN_LEN, X509Error, dn, keys};

/// Reads a PFX. An empty `password` is how a PFX "without password" is opened. The chain comes
/// back leaf first; a PFX without a private key gives `key_pkcs8: None`.
pub fn parse_pfx(bytes: &[u8], password: &str) -> Result<Bundle, X509Error> {
    crate::check_size(bytes)?;
    // Truncated or foreign bytes are told apart from a wrong password before any decryption.
    if !is_complete_sequence(bytes) {
        return Err(X509Error::Malformed(
            "the data is not a PKCS#12 (PFX) file".into(),
        ));
    }
    let archive = Pkcs12Archive::from_pkcs12(bytes, password).map_err(map_error)?;
    if archive.keys.len() > 1 {
        return Err(X509Error::Unsupported(
            "the PKCS#12 file holds more than one private key".into(),
        ));
    }
    // Duplicates are dropped later, so only refuse here what cannot be a valid chain even then.
    if archive.certs.len() > MAX_CHAIN_LEN * 2 {
        return Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN });
    }
    let key = archive
        .keys
        .first()
        .map(|bag| Zeroizing::new(bag.key.as_der().to_vec()));
    let certs = archive
        .certs
        .iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect();
    assemble(key, certs)
}

/// Writes a PFX: PBES2 (PBKDF2-SHA256, AES-256-CBC) for the key and certificates, HMAC-SHA256
/// integrity. `None` writes the password-less PFX of Key Vault's managed secrets, which OpenSSL
/// (`-passin pass:`) and Python `cryptography` (`password=None`) open.
pub fn build_pfx(bundle: &Bundle, password: Option<&str>) -> Result<Vec<u8>, X509Error> {
    let Some(leaf) = bundle.leaf() else {
        return Err(X509Error::NoCertificate);
    };
    if bundle.chain.len() > MAX_CHAIN_LEN {
        return Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN });
    }
    let certs = bundle
        .chain
        .iter()
        .map(|der| {
            crate::info::parse_x509(der)?;
            Certificate::from_der(der)
                .map_err(|_| X509Error::Malformed("a certificate could not be parsed".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut store = KeyStore::new();
    let thumbprint = sha1(leaf);
    match &bundle.key_pkcs8 {
        Some(key) => {
            if !keys::same_public_key(
                crate::info::parse_x509(leaf)?.public_key().raw,
                &keys::spki_of_pkcs8(key)?,
            ) {
                return Err(X509Error::KeyMismatch);
            }
            let key = PrivateKey::from_der(key).map_err(|_| X509Error::InvalidKey)?;
            // The local key id ties the key bag to the leaf's bag; the thumbprint is what
            // OpenSSL uses too.
            let chain = PrivateKeyChain::new(thumbprint.to_vec(), key, certs);
            store.add_entry(
                &dn::hex_upper(&thumbprint),
                KeyStoreEntry::PrivateKeyChain(chain),
            );
        }
        None => {
            // Aliases sort, and the writer follows alias order: zero-padded indexes keep leaf first.
            for (i, cert) in certs.into_iter().enumerate() {
                store.add_entry(&format!("{i:02}"), KeyStoreEntry::Certificate(cert));
            }
        }
    }
    // p12-keystore keys the MAC with the PKCS#12 encoding of "" (two zero bytes), not with an
    // absent password; OpenSSL (`-passin pass:`) and Python `cryptography` (`password=None`)
    // both accept that form, as the tests check, so "" serves the password-less secret.
    store
        .writer(password.unwrap_or(""))
        .write()
        .map_err(|_| X509Error::Internal("PKCS#12 encoding failed"))
}

/// Whether `bytes` is exactly one DER SEQUENCE (the outer PFX structure).
fn is_complete_sequence(bytes: &[u8]) -> bool {
    matches!(Any::from_der(bytes), Ok((rest, any)) if rest.is_empty() && any.tag() == Tag::Sequence)
}

fn map_error(err: P12Error) -> X509Error {
    match err {
        // The integrity MAC is keyed by the password; a failed decryption (bad padding) of a
        // MAC-less file means the same.
        P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
            X509Error::WrongPassword
        }
        P12Error::UnsupportedEncryptionScheme
        | P12Error::UnsupportedMacAlgorithm
        | P12Error::UnsupportedContentType
        | P12Error::UnsupportedCertificateType => X509Error::Unsupported(
            "the PKCS#12 file uses an encryption, integrity or content type that is not supported"
                .into(),
        ),
        P12Error::InvalidParameters => X509Error::Unsupported(
            "the PKCS#12 file uses key derivation parameters beyond the accepted limits".into(),
        ),
        P12Error::InvalidPrivateKey => X509Error::InvalidKey,
        _ => X509Error::Malformed("the PKCS#12 (PFX) content could not be read".into()),
    }
}

#[cfg(test)]
mod tests;
