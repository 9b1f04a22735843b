//! Certificate policies, contacts and issuers as the service keeps them (stored documents), and
//! the checks a policy passes before Coffer acts on it.

use serde::{Deserialize, Serialize};

use crate::ServiceError;

/// Key properties of a certificate policy.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CertKeyProps {
    pub kty: Option<String>,
    pub key_size: Option<u32>,
    pub crv: Option<String>,
    pub exportable: Option<bool>,
    pub reuse_key: Option<bool>,
}

/// One lifetime action: `AutoRenew` or `EmailContacts`, at a lifetime percentage or a number
/// of days before expiry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CertLifetimeAction {
    pub action: String,
    pub lifetime_percentage: Option<u32>,
    pub days_before_expiry: Option<u32>,
}

/// The issuer a policy names: `Self`, `Unknown` or a configured issuer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IssuerRef {
    pub name: String,
    pub cty: Option<String>,
    pub cert_transparency: Option<bool>,
}

/// A certificate policy.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CertificatePolicy {
    pub key: CertKeyProps,
    /// `application/x-pkcs12` (default) or `application/x-pem-file`.
    pub content_type: Option<String>,
    pub subject: Option<String>,
    pub dns_names: Vec<String>,
    pub emails: Vec<String>,
    pub upns: Vec<String>,
    pub uris: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub ekus: Option<Vec<String>>,
    pub key_usage: Option<Vec<String>>,
    pub validity_months: Option<u32>,
    pub lifetime_actions: Vec<CertLifetimeAction>,
    pub issuer: Option<IssuerRef>,
    pub enabled: Option<bool>,
    pub created: Option<i64>,
    pub updated: Option<i64>,
}

pub(crate) const PKCS12: &str = "application/x-pkcs12";
pub(crate) const PEM: &str = "application/x-pem-file";

impl CertificatePolicy {
    pub(crate) fn content_type(&self) -> &str {
        self.content_type.as_deref().unwrap_or(PKCS12)
    }

    pub(crate) fn issuer_name(&self) -> &str {
        self.issuer.as_ref().map_or("Unknown", |i| i.name.as_str())
    }

    pub(crate) fn kty(&self) -> &str {
        self.key.kty.as_deref().unwrap_or("RSA")
    }

    /// Fills Key Vault's defaults and refuses what it would refuse.
    pub(crate) fn validated(mut self) -> Result<Self, ServiceError> {
        let bad = |m: String| ServiceError::BadParameter(m);
        match self.content_type.as_deref() {
            None => self.content_type = Some(PKCS12.to_owned()),
            Some(PKCS12 | PEM) => {}
            Some(other) => {
                return Err(bad(format!(
                    "Invalid content type '{}'. Valid values: {PKCS12}, {PEM}.",
                    other.chars().take(60).collect::<String>()
                )));
            }
        }
        match self.kty() {
            "RSA" | "RSA-HSM" => {
                if let Some(size) = self.key.key_size
                    && ![2048, 3072, 4096].contains(&size)
                {
                    return Err(bad(format!(
                        "Invalid key size {size} for an RSA certificate key: use 2048, 3072 or 4096."
                    )));
                }
            }
            "EC" | "EC-HSM" => {}
            other => {
                return Err(bad(format!(
                    "Invalid key type '{}' for a certificate. Valid values: RSA, RSA-HSM, EC, EC-HSM.",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
        if self.subject.as_deref().is_none_or(str::is_empty)
            && self.dns_names.is_empty()
            && self.emails.is_empty()
            && self.upns.is_empty()
        {
            return Err(bad(
                "The certificate policy needs a subject or subject alternative names.".to_owned(),
            ));
        }
        if let Some(m) = self.validity_months
            && !(1..=1200).contains(&m)
        {
            return Err(bad(format!(
                "Invalid validity_months {m}: it must be between 1 and 1200."
            )));
        }
        for a in &mut self.lifetime_actions {
            a.action = if a.action.eq_ignore_ascii_case("AutoRenew") {
                "AutoRenew".to_owned()
            } else if a.action.eq_ignore_ascii_case("EmailContacts") {
                "EmailContacts".to_owned()
            } else {
                return Err(bad(format!(
                    "Invalid lifetime action '{}'. Valid values: AutoRenew, EmailContacts.",
                    a.action.chars().take(40).collect::<String>()
                )));
            };
            match (a.lifetime_percentage, a.days_before_expiry) {
                (Some(p), None) if (1..=99).contains(&p) => {}
                (None, Some(d)) if d >= 1 => {}
                _ => {
                    return Err(bad(
                        "Each lifetime action needs exactly one trigger: lifetime_percentage (1-99) or days_before_expiry."
                            .to_owned(),
                    ));
                }
            }
        }
        if self.issuer.is_none() {
            self.issuer = Some(IssuerRef {
                name: "Unknown".to_owned(),
                ..IssuerRef::default()
            });
        }
        if let Some(i) = &mut self.issuer {
            if i.name.eq_ignore_ascii_case("self") {
                i.name = "Self".to_owned();
            } else if i.name.eq_ignore_ascii_case("unknown") {
                i.name = "Unknown".to_owned();
            }
        }
        Ok(self)
    }
}

/// One certificate contact.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A certificate issuer configured in a vault: a provider name and its account.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CertificateIssuer {
    pub name: String,
    pub provider: String,
    /// The account at the provider. Its password is not kept: Coffer never calls a provider.
    pub account_id: Option<String>,
    pub organization_id: Option<String>,
    pub admins: Vec<IssuerAdmin>,
    pub enabled: bool,
    pub created: i64,
    pub updated: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IssuerAdmin {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}
