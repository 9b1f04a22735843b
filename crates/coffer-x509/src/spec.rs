//! What a Key Vault certificate policy asks for (subject, SANs, validity, EKUs, key usages), and
//! turning it into a self-signed leaf certificate or a CSR with rcgen.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, OtherNameValue, SanType,
    SerialNumber,
};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

use crate::signer::Signer;
use crate::{SigningKeyRef, X509Error, dn, info, keys};

/// The Microsoft UPN otherName (`szOID_NT_PRINCIPAL_NAME`).
pub(crate) const OID_UPN: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 20, 2, 3];

/// Longest accepted validity, in months (Key Vault policies state validity in months).
const MAX_VALIDITY_MONTHS: u32 = 1200;

/// A key usage bit, with Key Vault's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// `digitalSignature`
    DigitalSignature,
    /// `nonRepudiation`
    NonRepudiation,
    /// `keyEncipherment`
    KeyEncipherment,
    /// `dataEncipherment`
    DataEncipherment,
    /// `keyAgreement`
    KeyAgreement,
    /// `keyCertSign`
    KeyCertSign,
    /// `cRLSign`
    CrlSign,
    /// `encipherOnly`
    EncipherOnly,
    /// `decipherOnly`
    DecipherOnly,
}

impl KeyUsage {
    /// Every key usage, in the bit order of RFC 5280.
    pub const ALL: [Self; 9] = [
        Self::DigitalSignature,
        Self::NonRepudiation,
        Self::KeyEncipherment,
        Self::DataEncipherment,
        Self::KeyAgreement,
        Self::KeyCertSign,
        Self::CrlSign,
        Self::EncipherOnly,
        Self::DecipherOnly,
    ];

    /// Key Vault's name for the usage, e.g. `digitalSignature`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DigitalSignature => "digitalSignature",
            Self::NonRepudiation => "nonRepudiation",
            Self::KeyEncipherment => "keyEncipherment",
            Self::DataEncipherment => "dataEncipherment",
            Self::KeyAgreement => "keyAgreement",
            Self::KeyCertSign => "keyCertSign",
            Self::CrlSign => "cRLSign",
            Self::EncipherOnly => "encipherOnly",
            Self::DecipherOnly => "decipherOnly",
        }
    }

    /// The usage for a Key Vault name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|usage| usage.name().eq_ignore_ascii_case(name))
    }

    fn rcgen(self) -> KeyUsagePurpose {
        match self {
            Self::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            Self::NonRepudiation => KeyUsagePurpose::ContentCommitment,
            Self::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            Self::DataEncipherment => KeyUsagePurpose::DataEncipherment,
            Self::KeyAgreement => KeyUsagePurpose::KeyAgreement,
            Self::KeyCertSign => KeyUsagePurpose::KeyCertSign,
            Self::CrlSign => KeyUsagePurpose::CrlSign,
            Self::EncipherOnly => KeyUsagePurpose::EncipherOnly,
            Self::DecipherOnly => KeyUsagePurpose::DecipherOnly,
        }
    }
}

/// The certificate a policy describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
    /// X.500 name as Key Vault writes it, most specific first: `CN=api.contoso.test, O=Contoso`.
    pub subject: String,
    /// DNS names (SAN `dNSName`).
    pub dns_names: Vec<String>,
    /// Email addresses (SAN `rfc822Name`).
    pub emails: Vec<String>,
    /// User principal names (SAN otherName `1.3.6.1.4.1.311.20.2.3`).
    pub upns: Vec<String>,
    /// IP addresses (SAN `iPAddress`).
    pub ip_addresses: Vec<IpAddr>,
    /// URIs (SAN `uniformResourceIdentifier`).
    pub uris: Vec<String>,
    /// Validity in months from `not_before` (1 to 1200).
    pub validity_months: u32,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// Extended key usages as dotted OIDs, e.g. `1.3.6.1.5.5.7.3.1`.
    pub ekus: Vec<String>,
    /// Key usages.
    pub key_usage: Vec<KeyUsage>,
}

impl Default for CertificateSpec {
    /// An empty specification with Key Vault's default validity of 12 months.
    fn default() -> Self {
        Self {
            subject: String::new(),
            dns_names: Vec::new(),
            emails: Vec::new(),
            upns: Vec::new(),
            ip_addresses: Vec::new(),
            uris: Vec::new(),
            validity_months: 12,
            not_before: 0,
            ekus: Vec::new(),
            key_usage: Vec::new(),
        }
    }
}

/// A self-signed leaf certificate (DER) for `spec`, signed by `key`: random positive 16-byte
/// serial, `CA:false`, RSA-SHA256 or ECDSA with the curve's hash.
pub fn self_signed(spec: &CertificateSpec, key: &SigningKeyRef<'_>) -> Result<Vec<u8>, X509Error> {
    let signer = Signer::new(*key)?;
    let mut params = common_params(spec)?;
    let (not_before, not_after) = validity(spec)?;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    let der = params
        .self_signed(&signer)
        .map_err(|e| signer.failure(&e))?
        .der()
        .to_vec();
    if signer.is_remote() {
        check_remote_signature(info::cert_signed_parts(&der), signer.spki())?;
    }
    Ok(der)
}

/// A PKCS#10 certificate signing request (DER) for `spec`'s subject, SANs, key usages and EKUs,
/// signed by `key`. Validity is not part of a CSR; the issuer decides it.
pub fn csr(spec: &CertificateSpec, key: &SigningKeyRef<'_>) -> Result<Vec<u8>, X509Error> {
    let signer = Signer::new(*key)?;
    let params = common_params(spec)?;
    let der = params
        .serialize_request(&signer)
        .map_err(|e| signer.failure(&e))?
        .der()
        .to_vec();
    if signer.is_remote() {
        check_remote_signature(info::csr_signed_parts(&der), signer.spki())?;
    }
    Ok(der)
}

/// A remote signer may hold a different key than the one it advertises; catch that here rather
/// than hand out a certificate nobody can verify.
fn check_remote_signature(
    parts: Option<(Vec<u8>, String, Vec<u8>)>,
    spki: &[u8],
) -> Result<(), X509Error> {
    match parts {
        Some((tbs, oid, sig)) if keys::verify(spki, &oid, &tbs, &sig) => Ok(()),
        _ => Err(X509Error::Signer(
            "the signature does not verify with the signer's public key".into(),
        )),
    }
}

fn common_params(spec: &CertificateSpec) -> Result<CertificateParams, X509Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn::to_rcgen(&dn::parse(&spec.subject)?)?;
    params.subject_alt_names = subject_alt_names(spec)?;
    params.is_ca = IsCa::ExplicitNoCa;
    for usage in &spec.key_usage {
        let purpose = usage.rcgen();
        if !params.key_usages.contains(&purpose) {
            params.key_usages.push(purpose);
        }
    }
    for eku in &spec.ekus {
        let oid = dn::parse_oid(eku.trim()).ok_or_else(|| {
            X509Error::InvalidSpec(format!(
                "the extended key usage {eku:?} is not a dotted OID"
            ))
        })?;
        params.insert_extended_key_usage(ExtendedKeyUsagePurpose::Other(oid));
    }
    Ok(params)
}

fn subject_alt_names(spec: &CertificateSpec) -> Result<Vec<SanType>, X509Error> {
    let mut sans = Vec::new();
    for name in &spec.dns_names {
        sans.push(SanType::DnsName(ia5(name, "DNS name")?));
    }
    for email in &spec.emails {
        if !email.contains('@') {
            return Err(X509Error::InvalidSpec(format!(
                "the email {email:?} has no '@'"
            )));
        }
        sans.push(SanType::Rfc822Name(ia5(email, "email")?));
    }
    for upn in &spec.upns {
        if upn.is_empty() {
            return Err(X509Error::InvalidSpec("a UPN is empty".into()));
        }
        sans.push(SanType::OtherName((
            OID_UPN.to_vec(),
            OtherNameValue::Utf8String(upn.clone()),
        )));
    }
    for ip in &spec.ip_addresses {
        sans.push(SanType::IpAddress(*ip));
    }
    for uri in &spec.uris {
        if !uri.contains(':') {
            return Err(X509Error::InvalidSpec(format!(
                "the URI {uri:?} has no scheme"
            )));
        }
        sans.push(SanType::URI(ia5(uri, "URI")?));
    }
    Ok(sans)
}

fn ia5(value: &str, what: &str) -> Result<rcgen::string::Ia5String, X509Error> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(X509Error::InvalidSpec(format!(
            "the {what} {value:?} is empty or contains spaces"
        )));
    }
    value.try_into().map_err(|_| {
        X509Error::InvalidSpec(format!(
            "the {what} {value:?} contains characters outside ASCII"
        ))
    })
}

fn validity(spec: &CertificateSpec) -> Result<(OffsetDateTime, OffsetDateTime), X509Error> {
    if spec.validity_months == 0 || spec.validity_months > MAX_VALIDITY_MONTHS {
        return Err(X509Error::InvalidSpec(format!(
            "the validity must be 1 to {MAX_VALIDITY_MONTHS} months"
        )));
    }
    let out_of_range = || X509Error::InvalidSpec("the validity period is out of range".into());
    let start = OffsetDateTime::from_unix_timestamp(spec.not_before).map_err(|_| out_of_range())?;
    let end = add_months(start, spec.validity_months).ok_or_else(out_of_range)?;
    // X.509 times go up to year 9999 (GeneralizedTime).
    if start.year() < 1950 || end.year() > 9999 {
        return Err(out_of_range());
    }
    Ok((start, end))
}

/// Calendar months, keeping the time of day and clamping the day to the target month's length
/// (31 January + 1 month = 28 or 29 February), as .NET's `AddMonths` does.
fn add_months(start: OffsetDateTime, months: u32) -> Option<OffsetDateTime> {
    let index = i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1;
    let target = index.checked_add(i64::from(months))?;
    let year = i32::try_from(target.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(target.rem_euclid(12) + 1).ok()?).ok()?;
    let day = start.day().min(month.length(year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(PrimitiveDateTime::new(date, start.time()).assume_utc())
}

fn random_serial() -> Result<SerialNumber, X509Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| X509Error::Internal("randomness failed"))?;
    // Positive (top bit clear) and a full 16 bytes (first byte non-zero), so DER keeps 16.
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 0x01;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests;
