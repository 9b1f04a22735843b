//! Reading certificates and CSRs into the fields Key Vault reports: thumbprints (`x5t`,
//! `x5t#S256`), subject and issuer in Key Vault's text form, validity, SANs, EKUs, key usages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aws_lc_rs::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::der_parser::asn1_rs::{Any, Tag, TaggedExplicit};
use x509_parser::extensions::{
    ExtendedKeyUsage, GeneralName, KeyUsage as X509KeyUsage, ParsedExtension,
};
use x509_parser::prelude::FromDer;

use crate::spec::OID_UPN;
use crate::{KeyUsage, X509Error, dn, keys};

/// Subject alternative names, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectAltNames {
    /// `dNSName` entries.
    pub dns_names: Vec<String>,
    /// `rfc822Name` entries.
    pub emails: Vec<String>,
    /// UPN otherName entries.
    pub upns: Vec<String>,
    /// `iPAddress` entries.
    pub ip_addresses: Vec<IpAddr>,
    /// `uniformResourceIdentifier` entries.
    pub uris: Vec<String>,
}

/// What Key Vault shows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// SHA-1 of the DER (`x5t`, the thumbprint).
    pub x5t: [u8; 20],
    /// SHA-256 of the DER (`x5t#S256`).
    pub x5t_s256: [u8; 32],
    /// Subject as in `x509_props.subject`: `CN=a, O=b`.
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// Serial number, upper-case hex of its DER bytes.
    pub serial_hex: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// SAN emails.
    pub emails: Vec<String>,
    /// SAN UPNs.
    pub upns: Vec<String>,
    /// SAN IP addresses.
    pub ips: Vec<IpAddr>,
    /// SAN URIs.
    pub uris: Vec<String>,
    /// Extended key usages, dotted OIDs.
    pub ekus: Vec<String>,
    /// Key usages (empty when the extension is absent).
    pub key_usage: Vec<KeyUsage>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// Whether basic constraints say `CA:true`.
    pub is_ca: bool,
}

/// What a CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrInfo {
    /// Subject, in Key Vault's text form.
    pub subject: String,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// Requested subject alternative names.
    pub sans: SubjectAltNames,
    /// Requested extended key usages, dotted OIDs.
    pub ekus: Vec<String>,
    /// Requested key usages.
    pub key_usage: Vec<KeyUsage>,
}

/// Parses one DER certificate (no trailing bytes).
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, X509Error> {
    let cert = parse_x509(der)?;
    let malformed = |what: &str| {
        X509Error::Malformed(format!("the certificate has an invalid {what} extension"))
    };
    let mut sans = SubjectAltNames::default();
    if let Some(ext) = cert
        .subject_alternative_name()
        .map_err(|_| malformed("subject alternative name"))?
    {
        collect_sans(&ext.value.general_names, &mut sans);
    }
    let ekus = cert
        .extended_key_usage()
        .map_err(|_| malformed("extended key usage"))?
        .map(|ext| eku_oids(ext.value))
        .unwrap_or_default();
    let key_usage = cert
        .key_usage()
        .map_err(|_| malformed("key usage"))?
        .map(|ext| key_usages(ext.value))
        .unwrap_or_default();
    let is_ca = cert
        .basic_constraints()
        .map_err(|_| malformed("basic constraints"))?
        .is_some_and(|ext| ext.value.ca);
    Ok(CertInfo {
        der: der.to_vec(),
        x5t: sha1(der),
        x5t_s256: sha256(der),
        subject: dn::render(cert.subject()),
        issuer: dn::render(cert.issuer()),
        serial_hex: dn::hex_upper(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names: sans.dns_names,
        emails: sans.emails,
        upns: sans.upns,
        ips: sans.ip_addresses,
        uris: sans.uris,
        ekus,
        key_usage,
        spki_der: cert.public_key().raw.to_vec(),
        is_ca,
    })
}

/// Parses a DER CSR and checks its self-signature.
pub fn parse_csr(der: &[u8]) -> Result<CsrInfo, X509Error> {
    crate::check_size(der)?;
    let Ok(([], csr)) = X509CertificationRequest::from_der(der) else {
        return Err(X509Error::Malformed(
            "the certificate signing request could not be parsed".into(),
        ));
    };
    let info = &csr.certification_request_info;
    let spki = info.subject_pki.raw;
    if !keys::verify(
        spki,
        &csr.signature_algorithm.algorithm.to_id_string(),
        info.raw,
        &csr.signature_value.data,
    ) {
        return Err(X509Error::BadSignature);
    }
    let mut sans = SubjectAltNames::default();
    let mut ekus = Vec::new();
    let mut key_usage = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        match ext {
            ParsedExtension::SubjectAlternativeName(san) => {
                collect_sans(&san.general_names, &mut sans)
            }
            ParsedExtension::ExtendedKeyUsage(eku) => ekus = eku_oids(eku),
            ParsedExtension::KeyUsage(ku) => key_usage = key_usages(ku),
            _ => {}
        }
    }
    Ok(CsrInfo {
        subject: dn::render(&info.subject),
        spki_der: spki.to_vec(),
        sans,
        ekus,
        key_usage,
    })
}

/// SHA-1 of `der`: the `x5t` thumbprint.
pub(crate) fn sha1(der: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref());
    out
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, der).as_ref());
    out
}

pub(crate) fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, X509Error> {
    crate::check_size(der)?;
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(X509Error::Malformed(
            "the certificate has trailing bytes".into(),
        )),
        Err(_) => Err(X509Error::Malformed(
            "the certificate could not be parsed".into(),
        )),
    }
}

/// The signed bytes, signature algorithm OID and signature of a certificate.
pub(crate) fn cert_signed_parts(der: &[u8]) -> Option<(Vec<u8>, String, Vec<u8>)> {
    let cert = parse_x509(der).ok()?;
    Some((
        cert.tbs_certificate.as_ref().to_vec(),
        cert.signature_algorithm.algorithm.to_id_string(),
        cert.signature_value.data.to_vec(),
    ))
}

/// The signed bytes, signature algorithm OID and signature of a CSR.
pub(crate) fn csr_signed_parts(der: &[u8]) -> Option<(Vec<u8>, String, Vec<u8>)> {
    let (_, csr) = X509CertificationRequest::from_der(der).ok()?;
    Some((
        csr.certification_request_info.raw.to_vec(),
        csr.signature_algorithm.algorithm.to_id_string(),
        csr.signature_value.data.to_vec(),
    ))
}

fn collect_sans(names: &[GeneralName<'_>], sans: &mut SubjectAltNames) {
    for name in names {
        match name {
            GeneralName::DNSName(dns) => sans.dns_names.push((*dns).to_owned()),
            GeneralName::RFC822Name(email) => sans.emails.push((*email).to_owned()),
            GeneralName::URI(uri) => sans.uris.push((*uri).to_owned()),
            GeneralName::IPAddress(octets) => {
                if let Some(ip) = ip_from_octets(octets) {
                    sans.ip_addresses.push(ip);
                }
            }
            GeneralName::OtherName(oid, value) => {
                let is_upn = oid
                    .iter()
                    .is_some_and(|arcs| arcs.eq(OID_UPN.iter().copied()));
                if is_upn && let Some(upn) = upn_value(value) {
                    sans.upns.push(upn);
                }
            }
            _ => {}
        }
    }
}

/// The UTF8String inside an otherName's `[0] EXPLICIT` value.
fn upn_value(value: &[u8]) -> Option<String> {
    let (_, tagged) =
        TaggedExplicit::<Any<'_>, x509_parser::der_parser::asn1_rs::Error, 0>::from_der(value)
            .ok()?;
    let inner = tagged.into_inner();
    if inner.tag() != Tag::Utf8String {
        return None;
    }
    std::str::from_utf8(inner.data).ok().map(str::to_owned)
}

fn ip_from_octets(octets: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(octets)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

fn eku_oids(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let known = [
        (eku.any, "2.5.29.37.0"),
        (eku.server_auth, "1.3.6.1.5.5.7.3.1"),
        (eku.client_auth, "1.3.6.1.5.5.7.3.2"),
        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
    ];
    known
        .into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, oid)| oid.to_owned())
        .chain(eku.other.iter().map(|oid| oid.to_id_string()))
        .collect()
}

fn key_usages(ku: &X509KeyUsage) -> Vec<KeyUsage> {
    let bits = [
        (ku.digital_signature(), KeyUsage::DigitalSignature),
        (ku.non_repudiation(), KeyUsage::NonRepudiation),
        (ku.key_encipherment(), KeyUsage::KeyEncipherment),
        (ku.data_encipherment(), KeyUsage::DataEncipherment),
        (ku.key_agreement(), KeyUsage::KeyAgreement),
        (ku.key_cert_sign(), KeyUsage::KeyCertSign),
        (ku.crl_sign(), KeyUsage::CrlSign),
        (ku.encipher_only(), KeyUsage::EncipherOnly),
        (ku.decipher_only(), KeyUsage::DecipherOnly),
    ];
    bits.into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, usage)| usage)
        .collect()
}

#[cfg(test)]
mod tests {
    use rcgen::string::{BmpString, TeletexString, UniversalString};
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    use super::*;
    use crate::test_support::TestCa;

    #[test]
    fn ca_certificates_report_their_constraints_and_usages() {
        let ca = TestCa::root("CN=Root, O=Coffer");
        let info = parse_certificate(&ca.cert).unwrap();
        assert!(info.is_ca);
        assert_eq!(info.subject, "CN=Root, O=Coffer");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(
            info.key_usage,
            vec![KeyUsage::KeyCertSign, KeyUsage::CrlSign]
        );
        assert!(info.ekus.is_empty() && info.dns_names.is_empty() && info.upns.is_empty());
        assert!(keys::same_public_key(&info.spki_der, &ca.cert_spki()));
    }

    #[test]
    fn names_in_every_string_type_render() {
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CountryName,
            DnValue::PrintableString("US".try_into().unwrap()),
        );
        name.push(
            DnType::OrganizationName,
            DnValue::BmpString(BmpString::try_from("Contoso ✓").unwrap()),
        );
        name.push(
            DnType::OrganizationalUnitName,
            DnValue::UniversalString(UniversalString::try_from("Ünit").unwrap()),
        );
        name.push(
            DnType::LocalityName,
            DnValue::TeletexString(TeletexString::try_from("Redmond").unwrap()),
        );
        name.push(DnType::CustomDnType(vec![1, 2, 3, 4]), "x, \"y\"");
        name.push(DnType::CommonName, " padded");
        let mut params = CertificateParams::default();
        params.distinguished_name = name;
        let der = params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .to_vec();
        assert_eq!(
            parse_certificate(&der).unwrap().subject,
            r#"CN=" padded", OID.1.2.3.4="x, ""y""", L=Redmond, OU=Ünit, O=Contoso ✓, C=US"#
        );
    }

    #[test]
    fn only_whole_certificates_parse() {
        let cert = TestCa::root("CN=Root").cert;
        let mut trailing = cert.clone();
        trailing.push(0);
        assert!(
            matches!(parse_certificate(&trailing), Err(X509Error::Malformed(m)) if m.contains("trailing"))
        );
        assert!(matches!(
            parse_certificate(&cert[..cert.len() - 1]),
            Err(X509Error::Malformed(_))
        ));
        assert!(matches!(
            parse_certificate(b"junk"),
            Err(X509Error::Malformed(_))
        ));
        assert_eq!(
            parse_certificate(&vec![0x30; crate::MAX_INPUT_BYTES + 1]),
            Err(X509Error::TooLarge {
                limit: crate::MAX_INPUT_BYTES
            })
        );
        assert!(matches!(parse_csr(&cert), Err(X509Error::Malformed(_))));
    }
}
