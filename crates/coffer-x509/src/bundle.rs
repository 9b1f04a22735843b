//! A private key with its certificate chain (what a PFX or PEM file carries), and the rules that
//! put a chain in order: the leaf is the certificate of the private key, then each issuer.

use std::fmt;

use x509_parser::certificate::X509Certificate;
use zeroize::Zeroizing;

use crate::info::parse_x509;
use crate::{MAX_CHAIN_LEN, X509Error, keys};

/// A private key (optional) and certificates, leaf first.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    /// The private key, PKCS#8 DER; `None` when the input carried none.
    pub key_pkcs8: Option<Zeroizing<Vec<u8>>>,
    /// Certificates, DER, leaf first, then its issuers in order.
    pub chain: Vec<Vec<u8>>,
}

impl Bundle {
    /// The leaf certificate, if any.
    pub fn leaf(&self) -> Option<&[u8]> {
        self.chain.first().map(Vec::as_slice)
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("key_pkcs8", &self.key_pkcs8.as_ref().map(|_| "<redacted>"))
            .field(
                "chain",
                &format_args!("{} certificate(s)", self.chain.len()),
            )
            .finish()
    }
}

/// Orders certificates as a chain starting at `leaf`: each next certificate is the issuer of the
/// previous one (subject equals issuer, preferring a candidate whose key verifies the signature).
/// Certificates that link to nothing follow in their original order; duplicates are dropped.
pub fn order_chain(leaf: &[u8], others: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, X509Error> {
    let leaf_cert = parse_x509(leaf)?;
    let mut rest: Vec<(&[u8], X509Certificate<'_>)> = Vec::new();
    for der in others {
        let cert = parse_x509(der)?;
        if der.as_slice() != leaf && !rest.iter().any(|(seen, _)| *seen == der.as_slice()) {
            rest.push((der.as_slice(), cert));
        }
    }
    if rest.len() + 1 > MAX_CHAIN_LEN {
        return Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN });
    }
    let mut chain: Vec<(&[u8], X509Certificate<'_>)> = vec![(leaf, leaf_cert)];
    while let Some((_, current)) = chain.last() {
        if current.subject().as_raw() == current.issuer().as_raw() {
            break;
        }
        let named: Vec<usize> = (0..rest.len())
            .filter(|&i| rest[i].1.subject().as_raw() == current.issuer().as_raw())
            .collect();
        let verified = named
            .iter()
            .copied()
            .find(|&i| signed_by(current, rest[i].0));
        let Some(next) = verified.or_else(|| named.first().copied()) else {
            break;
        };
        chain.push(rest.remove(next));
    }
    Ok(chain
        .into_iter()
        .chain(rest)
        .map(|(der, _)| der.to_vec())
        .collect())
}

/// Whether `issuer_der`'s key verifies `cert`'s signature.
fn signed_by(cert: &X509Certificate<'_>, issuer_der: &[u8]) -> bool {
    let Ok(issuer) = parse_x509(issuer_der) else {
        return false;
    };
    keys::verify(
        issuer.public_key().raw,
        &cert.signature_algorithm.algorithm.to_id_string(),
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
}

/// Builds a bundle from what a PFX or PEM file held: picks the leaf (the certificate of the
/// private key, or without a key the one that issued no other) and orders the chain.
pub(crate) fn assemble(
    key: Option<Zeroizing<Vec<u8>>>,
    certs: Vec<Vec<u8>>,
) -> Result<Bundle, X509Error> {
    let mut unique: Vec<Vec<u8>> = Vec::new();
    for cert in certs {
        if !unique.contains(&cert) {
            unique.push(cert);
        }
    }
    if unique.is_empty() {
        return Err(X509Error::NoCertificate);
    }
    if unique.len() > MAX_CHAIN_LEN {
        return Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN });
    }
    let parsed = unique
        .iter()
        .map(|der| parse_x509(der))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = match &key {
        Some(key) => {
            let spki = keys::spki_of_pkcs8(key)?;
            parsed
                .iter()
                .position(|cert| keys::same_public_key(cert.public_key().raw, &spki))
                .ok_or(X509Error::KeyMismatch)?
        }
        None => (0..parsed.len())
            .find(|&i| {
                !parsed.iter().enumerate().any(|(j, other)| {
                    j != i && other.issuer().as_raw() == parsed[i].subject().as_raw()
                })
            })
            .unwrap_or(0),
    };
    let leaf_der = unique.remove(leaf);
    let chain = order_chain(&leaf_der, &unique)?;
    Ok(Bundle {
        key_pkcs8: key,
        chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigAlg;
    use crate::test_support::{TestCa, ec_pkcs8};

    #[test]
    fn orders_a_shuffled_chain_and_keeps_strays_last() {
        let root = TestCa::root("CN=Root");
        let inter = root.intermediate("CN=Intermediate");
        let (leaf, _) = inter.leaf("CN=leaf");
        let stray = TestCa::root("CN=Stray").cert;
        let ordered = order_chain(
            &leaf,
            &[
                stray.clone(),
                root.cert.clone(),
                inter.cert.clone(),
                root.cert.clone(),
            ],
        )
        .unwrap();
        assert_eq!(ordered, vec![leaf.clone(), inter.cert, root.cert, stray]);
        assert_eq!(order_chain(&leaf, &[]).unwrap(), vec![leaf]);
    }

    #[test]
    fn a_namesake_that_did_not_sign_comes_second() {
        let real = TestCa::root("CN=Same Name");
        let namesake = TestCa::root("CN=Same Name");
        let (leaf, _) = real.leaf("CN=leaf");
        let ordered = order_chain(&leaf, &[namesake.cert.clone(), real.cert.clone()]).unwrap();
        assert_eq!(ordered, vec![leaf, real.cert, namesake.cert]);
    }

    #[test]
    fn assemble_picks_the_leaf_by_key_or_by_position() {
        let root = TestCa::root("CN=Root");
        let (leaf, key) = root.leaf("CN=leaf");
        let bundle = assemble(Some(key.clone()), vec![root.cert.clone(), leaf.clone()]).unwrap();
        assert_eq!(bundle.chain, vec![leaf.clone(), root.cert.clone()]);
        let bundle = assemble(None, vec![root.cert.clone(), leaf.clone()]).unwrap();
        assert_eq!(bundle.chain, vec![leaf.clone(), root.cert]);
        assert_eq!(
            assemble(
                Some(Zeroizing::new(ec_pkcs8(SigAlg::EcdsaP256Sha256))),
                vec![leaf]
            ),
            Err(X509Error::KeyMismatch)
        );
        assert_eq!(assemble(Some(key), vec![]), Err(X509Error::NoCertificate));
        let many: Vec<Vec<u8>> = (0..11)
            .map(|i| TestCa::root(&format!("CN=r{i}")).cert)
            .collect();
        assert_eq!(
            assemble(None, many),
            Err(X509Error::ChainTooLong { max: MAX_CHAIN_LEN })
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let bundle = Bundle {
            key_pkcs8: Some(Zeroizing::new(vec![0xAB; 4])),
            chain: vec![vec![1]],
        };
        let text = format!("{bundle:?}");
        assert!(
            text.contains("<redacted>") && !text.contains("171"),
            "{text}"
        );
    }
}
