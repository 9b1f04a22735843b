//! X.509 for Coffer: what the Key Vault certificates API and the TLS gateway are built on.
//!
//! Builds self-signed certificates and CSRs from a Key Vault-style specification, signed by a
//! software key (PKCS#8) or a remote signer such as an HSM; parses certificates and CSRs into the
//! fields Key Vault shows; reads and writes PKCS#12 (PFX) and PEM bundles. Pure: no I/O, no
//! async. The work is done by rcgen, x509-parser, p12-keystore and aws-lc-rs; this crate only
//! maps Key Vault's vocabulary onto them and checks inputs.

mod bundle;
mod dn;
mod error;
mod info;
mod keys;
mod pem;
mod pfx;
mod signer;
mod spec;

#[cfg(test)]
mod test_support;

pub use bundle::{Bundle, order_chain};
pub use error::X509Error;
pub use info::{CertInfo, CsrInfo, SubjectAltNames, parse_certificate, parse_csr};
pub use keys::{key_matches, spki_of_pkcs8};
pub use pem::{build_pem, parse_pem};
pub use pfx::{build_pfx, parse_pfx};
pub use signer::{RemoteSigner, SigAlg, SignerError, SigningKeyRef};
pub use spec::{CertificateSpec, KeyUsage, csr, self_signed};

/// Largest PFX, PEM, certificate or CSR input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Largest number of certificates accepted in one bundle or chain.
pub const MAX_CHAIN_LEN: usize = 10;

/// Refuses inputs over [`MAX_INPUT_BYTES`] before any parser sees them.
fn check_size(input: &[u8]) -> Result<(), X509Error> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(X509Error::TooLarge {
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(())
}
