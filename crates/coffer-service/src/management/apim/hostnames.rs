//! Custom host names of a service and the certificates behind them. A certificate comes from a
//! vault (`keyVaultId`, read with the service's managed identity over the vault's data plane, as
//! API Management does, so the vault's policy, firewall and audit judge the gateway) or is
//! uploaded (`encodedCertificate`). Every entry of an update is validated and every certificate
//! read before anything is stored: one failure fails the whole update. The material is kept
//! sealed with the service's data key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::DataKey;
use coffer_domain::gateway::{CertificateMaterial, HostnameType};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{ApimDoc, FailureDoc};
use crate::management::{ManagementError, bad, clip};
use crate::records::ManagedIdentityDoc;
use crate::{Coffer, Resource};

/// One `hostnameConfigurations[]` entry as sent.
#[derive(Clone, Debug, Default)]
pub struct HostnameInput {
    pub kind: String,
    pub host_name: String,
    pub key_vault_id: Option<String>,
    pub identity_client_id: Option<String>,
    pub encoded_certificate: Option<String>,
    pub certificate_password: Option<String>,
    pub default_ssl_binding: bool,
    pub negotiate_client_certificate: bool,
}

/// A custom host name as shown (never with certificate material or password).
#[derive(Clone, Debug)]
pub struct HostnameView {
    pub kind: &'static str,
    pub host_name: String,
    pub key_vault_id: Option<String>,
    pub identity_client_id: Option<String>,
    pub default_ssl_binding: bool,
    pub negotiate_client_certificate: bool,
    /// `KeyVault` or `Custom`.
    pub certificate_source: &'static str,
    /// `Completed` or `Failed` (a refresh failed; the last good certificate still serves).
    pub certificate_status: &'static str,
    pub status_reason: Option<String>,
    pub thumbprint: Option<String>,
    pub subject: Option<String>,
    pub expiry: Option<i64>,
}

/// A stored certificate: what is shown, and the sealed chain and key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredCert {
    pub(crate) thumbprint: String,
    pub(crate) subject: String,
    pub(crate) expiry: i64,
    /// The secret version read, for a vault certificate.
    pub(crate) version: Option<String>,
    /// `{chain:[b64 DER], key: b64 PKCS#8}` sealed with the service's data key.
    sealed: String,
}

#[derive(Serialize, Deserialize)]
struct MaterialDoc {
    chain: Vec<String>,
    key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct HostnameDoc {
    pub(crate) kind: String,
    pub(crate) host_name: String,
    pub(crate) key_vault_id: Option<String>,
    pub(crate) identity_client_id: Option<String>,
    pub(crate) default_ssl_binding: bool,
    pub(crate) negotiate_client_certificate: bool,
    pub(crate) custom: bool,
    pub(crate) cert: StoredCert,
    pub(crate) failed: Option<String>,
}

impl HostnameDoc {
    pub(super) fn view(&self) -> HostnameView {
        HostnameView {
            kind: HostnameType::parse(&self.kind).map_or("Proxy", HostnameType::as_str),
            host_name: self.host_name.clone(),
            key_vault_id: self.key_vault_id.clone(),
            identity_client_id: self.identity_client_id.clone(),
            default_ssl_binding: self.default_ssl_binding,
            negotiate_client_certificate: self.negotiate_client_certificate,
            certificate_source: if self.custom { "Custom" } else { "KeyVault" },
            certificate_status: if self.failed.is_some() {
                "Failed"
            } else {
                "Completed"
            },
            status_reason: self.failed.clone(),
            thumbprint: Some(self.cert.thumbprint.clone()),
            subject: Some(self.cert.subject.clone()),
            expiry: Some(self.cert.expiry),
        }
    }
}

/// Why a certificate could not be had; `Recorded` failures are kept for the doctor.
#[derive(Debug)]
pub(super) enum HostnameFailure {
    Plain(ManagementError),
    Recorded(FailureDoc, ManagementError),
}

impl HostnameFailure {
    pub(super) fn into_error(self) -> ManagementError {
        match self {
            Self::Plain(e) | Self::Recorded(_, e) => e,
        }
    }

    /// The message, for `certificateStatus` reasons.
    pub(super) fn message(&self) -> String {
        match self {
            Self::Plain(e) | Self::Recorded(_, e) => e.to_string(),
        }
    }
}

impl From<ManagementError> for HostnameFailure {
    fn from(e: ManagementError) -> Self {
        Self::Plain(e)
    }
}

fn invalid_op(message: String) -> ManagementError {
    bad("InvalidOperation", message)
}

/// .NET's `HttpStatusCode` name of a status, as API Management's messages spell it.
pub(super) fn status_name(status: u16) -> String {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        402 => "PaymentRequired",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        other => return other.to_string(),
    }
    .to_owned()
}

/// The certificate read from a vault or an upload, ready to store and serve.
pub(super) struct Fetched {
    pub(super) material: CertificateMaterial,
    pub(super) thumbprint: String,
    pub(super) subject: String,
    pub(super) expiry: i64,
    pub(super) version: Option<String>,
}

impl Fetched {
    pub(super) fn seal(
        &self,
        key: &DataKey,
        service_id: &str,
    ) -> Result<StoredCert, ManagementError> {
        let m = MaterialDoc {
            chain: self
                .material
                .chain_der
                .iter()
                .map(|c| B64.encode(c))
                .collect(),
            key: B64.encode(&self.material.key_pkcs8_der),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&m)?);
        Ok(StoredCert {
            thumbprint: self.thumbprint.clone(),
            subject: self.subject.clone(),
            expiry: self.expiry,
            version: self.version.clone(),
            sealed: B64.encode(key.seal(cert_aad(service_id).as_bytes(), &plain)?),
        })
    }
}

fn cert_aad(service_id: &str) -> String {
    format!("apim-cert:{}", service_id.to_ascii_lowercase())
}

impl StoredCert {
    pub(super) fn open(
        &self,
        key: &DataKey,
        service_id: &str,
    ) -> Result<CertificateMaterial, ManagementError> {
        let sealed = B64
            .decode(&self.sealed)
            .map_err(|e| ManagementError::Internal(format!("sealed certificate: {e}")))?;
        let plain = key.open(cert_aad(service_id).as_bytes(), &sealed)?;
        let m: MaterialDoc = serde_json::from_slice(&plain)?;
        let dec = |s: &str| {
            B64.decode(s)
                .map_err(|e| ManagementError::Internal(format!("sealed certificate: {e}")))
        };
        Ok(CertificateMaterial {
            chain_der: m.chain.iter().map(|c| dec(c)).collect::<Result<_, _>>()?,
            key_pkcs8_der: dec(&m.key)?,
            thumbprint: self.thumbprint.clone(),
        })
    }
}

/// Whether a certificate naming `names` (SAN DNS names, else its CN) covers `host` (which may
/// itself be a wildcard: then the certificate must carry that wildcard).
pub(super) fn covers(names: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    names.iter().any(|n| {
        let n = n.to_ascii_lowercase();
        if n == host {
            return true;
        }
        !host.starts_with("*.") && coffer_domain::gateway::host_matches(&n, &host)
    })
}

fn valid_host_name(h: &str) -> bool {
    let body = h.strip_prefix("*.").unwrap_or(h);
    !body.is_empty()
        && h.len() <= 253
        && body.split('.').count() >= 2
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `(vault host, secret name, version)` of a secret URL of this instance.
pub(super) fn parse_secret_url(
    coffer: &Coffer,
    url: &str,
) -> Result<(String, String, Option<String>), ManagementError> {
    let refuse = || {
        bad(
            "ValidationError",
            format!(
                "The Key Vault secret identifier '{}' is invalid: expected https://<vault>.vault.{}/secrets/<name>[/<version>].",
                clip(url),
                coffer.settings.domain
            ),
        )
    };
    let rest = url.strip_prefix("https://").ok_or_else(refuse)?;
    if url.contains(['?', '#']) {
        return Err(refuse());
    }
    let (authority, path) = rest.split_once('/').ok_or_else(refuse)?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_ascii_lowercase();
    let suffix = format!(".vault.{}", coffer.settings.domain.to_ascii_lowercase());
    if !host.ends_with(&suffix) || host.len() == suffix.len() {
        return Err(refuse());
    }
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["secrets", name] | ["secrets", name, ""] if !name.is_empty() => {
            Ok((host, (*name).to_owned(), None))
        }
        ["secrets", name, version] | ["secrets", name, version, ""]
            if !name.is_empty() && !version.is_empty() =>
        {
            Ok((host, (*name).to_owned(), Some((*version).to_owned())))
        }
        _ => Err(refuse()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretBundle {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

impl Coffer {
    /// The identity a read with `identity_client_id` uses: the system-assigned one when none is
    /// named, else the system or a listed user-assigned identity with that client id.
    pub(super) async fn apim_read_identity(
        &self,
        doc: &ApimDoc,
        identity_client_id: Option<&str>,
        secret_url: &str,
    ) -> Result<ManagedIdentityDoc, ManagementError> {
        let system = if doc.system_identity {
            self.identity_doc(&doc.id)
                .await?
                .map(|(d, _)| d)
                .filter(|d| d.system)
        } else {
            None
        };
        match identity_client_id.map(str::trim).filter(|c| !c.is_empty()) {
            None => system.ok_or_else(|| {
                invalid_op(format!(
                    "Managed Service Identity (MSI) is not enabled on the API Management service '{}', which is required to access KeyVault secret '{}'. Turn on the system-assigned identity (identity type SystemAssigned) or name a user-assigned identity in identityClientId. For more information please see aka.ms/apimmsi.",
                    doc.name,
                    clip(secret_url)
                ))
            }),
            Some(cid) => {
                if let Some(s) = system.filter(|s| s.client_id.eq_ignore_ascii_case(cid)) {
                    return Ok(s);
                }
                for rid in &doc.user_identities {
                    if let Some((u, _)) = self.identity_doc(rid).await?
                        && u.client_id.eq_ignore_ascii_case(cid)
                    {
                        return Ok(u);
                    }
                }
                Err(bad(
                    "ValidationError",
                    format!(
                        "Can not find Managed Identity with provided IdentityClientId : {}. For more information please see aka.ms/apimmsi.",
                        clip(cid)
                    ),
                ))
            }
        }
    }

    /// Reads and validates a vault certificate with the service's identity. `host`, when
    /// given, must be covered by the certificate.
    pub(super) async fn apim_fetch(
        &self,
        doc: &ApimDoc,
        secret_url: &str,
        identity_client_id: Option<&str>,
        host: Option<&str>,
    ) -> Result<Fetched, HostnameFailure> {
        parse_secret_url(self, secret_url)?;
        let identity = self
            .apim_read_identity(doc, identity_client_id, secret_url)
            .await?;
        let reader = self.vault_reader().ok_or_else(|| {
            invalid_op(
                "This Coffer instance has no vault reader configured, so API Management cannot read Key Vault certificates."
                    .to_owned(),
            )
        })?;
        let token = self
            .mint_mi_token(&identity, &self.audience_of(Resource::Vault))
            .map_err(|e| ManagementError::Internal(format!("gateway token: {e}")))?;
        let request_url = format!("{secret_url}?api-version=7.0");
        let reply = reader
            .get(&request_url, &token.access_token)
            .await
            .map_err(|e| {
                invalid_op(format!(
                    "Failed to update API Management service hostnames. Request to resource '{}' failed: the vault could not be reached ({}).",
                    clip(&request_url),
                    clip(&e.0)
                ))
            })?;
        if !(200..300).contains(&reply.status) {
            let name = status_name(reply.status);
            let rid = reply.request_id.clone().unwrap_or_default();
            let message = format!(
                "Failed to update API Management service hostnames. Request to resource '{request_url}' failed with StatusCode: {name} for RequestId: {rid}. Exception message: Operation returned an invalid status code '{name}'"
            );
            let failure = FailureDoc {
                at: self.now(),
                request_id: reply.request_id.clone(),
                secret_url: secret_url.to_owned(),
                status: Some(reply.status),
                identity_type: if identity.system {
                    "SystemAssigned"
                } else {
                    "UserAssigned"
                }
                .to_owned(),
                client_id: identity.client_id.clone(),
                object_id: identity.principal_id.clone(),
                message: message.clone(),
            };
            return Err(HostnameFailure::Recorded(failure, invalid_op(message)));
        }
        let bundle: SecretBundle = serde_json::from_slice(&reply.body).map_err(|_| {
            invalid_op(format!(
                "The vault's answer for '{}' is not a Key Vault secret.",
                clip(secret_url)
            ))
        })?;
        let version = bundle
            .id
            .as_deref()
            .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
            .map(str::to_owned);
        let ct = bundle.content_type.unwrap_or_default();
        let value = bundle.value.unwrap_or_default();
        let parsed = match ct.trim().to_ascii_lowercase().as_str() {
            "application/x-pkcs12" => B64
                .decode(value.trim())
                .map_err(|_| ())
                .and_then(|b| coffer_x509::parse_pfx(&b, "").map_err(|_| ())),
            "application/x-pem-file" => coffer_x509::parse_pem(&value).map_err(|_| ()),
            _ => {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "The secret '{}' is not a certificate: its content type is '{}'. Use the secret of a Key Vault certificate (content type application/x-pkcs12 or application/x-pem-file).",
                        clip(secret_url),
                        clip(&ct)
                    ),
                )
                .into());
            }
        }
        .map_err(|()| {
            bad(
                "ValidationError",
                format!(
                    "The certificate in secret '{}' could not be read.",
                    clip(secret_url)
                ),
            )
        })?;
        Ok(self.check_bundle(parsed, version, host, secret_url)?)
    }

    /// Validates an uploaded PFX (`encodedCertificate` + `certificatePassword`).
    pub(super) fn apim_upload(
        &self,
        encoded: &str,
        password: Option<&str>,
        host: Option<&str>,
    ) -> Result<Fetched, ManagementError> {
        let bytes = B64.decode(encoded.trim()).map_err(|_| {
            bad(
                "ValidationError",
                "encodedCertificate is not base64.".to_owned(),
            )
        })?;
        let parsed = coffer_x509::parse_pfx(&bytes, password.unwrap_or_default()).map_err(|_| {
            bad(
                "ValidationError",
                "The uploaded certificate could not be read: it is not a PFX, or the password is wrong."
                    .to_owned(),
            )
        })?;
        self.check_bundle(parsed, None, host, "the uploaded certificate")
    }

    fn check_bundle(
        &self,
        parsed: coffer_x509::Bundle,
        version: Option<String>,
        host: Option<&str>,
        what: &str,
    ) -> Result<Fetched, ManagementError> {
        let what = clip(what);
        let Some(key) = parsed.key_pkcs8.as_ref() else {
            return Err(bad(
                "ValidationError",
                format!("The certificate in '{what}' has no private key."),
            ));
        };
        let leaf = parsed
            .leaf()
            .ok_or_else(|| bad("ValidationError", format!("'{what}' holds no certificate.")))?;
        let info = coffer_x509::parse_certificate(leaf).map_err(|_| {
            bad(
                "ValidationError",
                format!("The certificate in '{what}' could not be read."),
            )
        })?;
        let now = self.now();
        if info.not_after < now {
            return Err(bad(
                "ValidationError",
                format!(
                    "The certificate in '{what}' expired at {}.",
                    iso(info.not_after)
                ),
            ));
        }
        if info.not_before > now {
            return Err(bad(
                "ValidationError",
                format!(
                    "The certificate in '{what}' is not valid before {}.",
                    iso(info.not_before)
                ),
            ));
        }
        let mut names = info.dns_names.clone();
        if names.is_empty()
            && let Some(cn) = info.subject.split(", ").find_map(|p| p.strip_prefix("CN="))
        {
            names.push(cn.to_owned());
        }
        if let Some(h) = host
            && !covers(&names, h)
        {
            return Err(bad(
                "ValidationError",
                format!(
                    "The certificate in '{what}' is not valid for the host name '{}': it names {}.",
                    clip(h),
                    if names.is_empty() {
                        "no host".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        let thumbprint: String = info.x5t.iter().map(|b| format!("{b:02X}")).collect();
        Ok(Fetched {
            material: CertificateMaterial {
                chain_der: parsed.chain.clone(),
                key_pkcs8_der: key.to_vec(),
                thumbprint: thumbprint.clone(),
            },
            thumbprint,
            subject: info.subject,
            expiry: info.not_after,
            version,
        })
    }

    /// Replaces the service's custom host names with `list`: every entry validated and every
    /// certificate read first; `doc` changes only if all succeed.
    pub(super) async fn apply_hostnames(
        &self,
        doc: &mut ApimDoc,
        list: &[HostnameInput],
    ) -> Result<(), HostnameFailure> {
        let default_host = self.apim_default_host(&doc.name);
        let key = doc.data_key(self)?;
        let mut out: Vec<HostnameDoc> = Vec::new();
        for h in list {
            let kind = HostnameType::parse(&h.kind).ok_or_else(|| {
                bad(
                    "ValidationError",
                    format!(
                        "Hostname type '{}' is invalid: use Proxy, Portal, Management, Scm, DeveloperPortal or ConfigurationApi.",
                        clip(&h.kind)
                    ),
                )
            })?;
            let host = h
                .host_name
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if kind == HostnameType::Proxy && host == default_host {
                continue;
            }
            if !valid_host_name(&host) {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "Hostname '{}' is not a valid host name.",
                        clip(&h.host_name)
                    ),
                )
                .into());
            }
            if out
                .iter()
                .any(|o| o.kind == kind.as_str() && o.host_name == host)
            {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "Hostname '{}' of type {} is listed twice.",
                        clip(&host),
                        kind.as_str()
                    ),
                )
                .into());
            }
            let kv = h
                .key_vault_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            let upload = h
                .encoded_certificate
                .as_deref()
                .filter(|s| !s.trim().is_empty());
            let previous = doc
                .hostnames
                .iter()
                .find(|o| o.kind == kind.as_str() && o.host_name == host);
            let cid = h
                .identity_client_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let (cert, custom, failed) = match (kv, upload) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        "ValidationError",
                        format!(
                            "Hostname '{}' gives both keyVaultId and encodedCertificate; give one.",
                            clip(&host)
                        ),
                    )
                    .into());
                }
                (Some(url), None) => {
                    // An entry sent back unchanged (the CLI's GET-modify-PUT) keeps its
                    // certificate; the identity must still be there.
                    match previous.filter(|p| {
                        p.key_vault_id.as_deref() == Some(url) && p.identity_client_id == cid
                    }) {
                        Some(p) => {
                            self.apim_read_identity(doc, cid.as_deref(), url).await?;
                            (p.cert.clone(), false, p.failed.clone())
                        }
                        None => {
                            let f = self
                                .apim_fetch(doc, url, cid.as_deref(), Some(&host))
                                .await?;
                            (f.seal(&key, &doc.id)?, false, None)
                        }
                    }
                }
                (None, Some(enc)) => {
                    let f =
                        self.apim_upload(enc, h.certificate_password.as_deref(), Some(&host))?;
                    (f.seal(&key, &doc.id)?, true, None)
                }
                (None, None) => match previous.filter(|p| p.custom) {
                    Some(p) => (p.cert.clone(), true, None),
                    None => {
                        return Err(bad(
                            "ValidationError",
                            format!(
                                "Hostname '{}' needs a certificate: give keyVaultId (a Key Vault secret) or encodedCertificate.",
                                clip(&host)
                            ),
                        )
                        .into());
                    }
                },
            };
            out.push(HostnameDoc {
                kind: kind.as_str().to_owned(),
                host_name: host,
                key_vault_id: kv.map(str::to_owned),
                identity_client_id: if kv.is_some() { cid } else { None },
                default_ssl_binding: h.default_ssl_binding,
                negotiate_client_certificate: h.negotiate_client_certificate,
                custom,
                cert,
                failed,
            });
        }
        if out.iter().filter(|o| o.default_ssl_binding).count() > 1 {
            return Err(bad(
                "ValidationError",
                "At most one hostname may have defaultSslBinding set.".to_owned(),
            )
            .into());
        }
        doc.hostnames = out;
        self.check_hostnames_keep_identity(doc).await
    }

    /// Refuses an identity change that would leave a vault-backed host name or certificate
    /// without the identity it reads with.
    pub(super) async fn check_hostnames_keep_identity(
        &self,
        doc: &ApimDoc,
    ) -> Result<(), HostnameFailure> {
        let mut refs: Vec<(String, Option<String>)> = doc
            .hostnames
            .iter()
            .filter_map(|h| {
                h.key_vault_id.as_ref().map(|_| {
                    (
                        format!("hostname '{}'", h.host_name),
                        h.identity_client_id.clone(),
                    )
                })
            })
            .collect();
        refs.extend(doc.entities.key_vault_refs());
        for (what, cid) in refs {
            let Some(cid) = cid else {
                if !doc.system_identity {
                    return Err(invalid_op(format!(
                        "The system-assigned managed identity of API Management service '{}' cannot be turned off: {what} reads its certificate from Key Vault with it. Remove that Key Vault reference first, or keep identity type SystemAssigned (the Azure CLI's 'az apim update' sends no identity unless --enable-managed-identity true is given).",
                        doc.name
                    ))
                    .into());
                }
                continue;
            };
            if self.apim_read_identity(doc, Some(&cid), "").await.is_err() {
                return Err(invalid_op(format!(
                    "The managed identity with client id '{}' of API Management service '{}' cannot be removed: {what} reads its certificate from Key Vault with it.",
                    clip(&cid),
                    doc.name
                ))
                .into());
            }
        }
        Ok(())
    }
}

/// RFC 3339 of Unix seconds, for messages.
pub(super) fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
