//! The certificates half of the Rust SDK client: `CertificateClient` creates a self-signed
//! EC P-256 certificate (PEM content type) through the SDK's poller, reads it and its operation
//! back, then fetches the managed secret with `SecretClient` and checks with `x509-parser` and
//! `p256` that the PEM's certificate is the certificate's `cer` and its private key belongs to it.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_security_keyvault_certificates::models::{
    Certificate, CertificatePolicy, CreateCertificateParameters, CurveName, IssuerParameters,
    KeyProperties, KeyType, SecretProperties, SubjectAlternativeNames, X509CertificateProperties,
};
use azure_security_keyvault_certificates::{CertificateClient, ResourceExt as _};
use azure_security_keyvault_secrets::SecretClient;
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

type Error = Box<dyn std::error::Error>;

const PEM: &str = "application/x-pem-file";
const SUBJECT: &str = "CN=rust.example.test";
const DNS_NAME: &str = "rust.example.test";

fn check(ok: bool, what: impl Into<String>) -> Result<(), Error> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

fn policy() -> CertificatePolicy {
    CertificatePolicy {
        x509_certificate_properties: Some(X509CertificateProperties {
            subject: Some(SUBJECT.into()),
            subject_alternative_names: Some(SubjectAlternativeNames {
                dns_names: Some(vec![DNS_NAME.into()]),
                ..Default::default()
            }),
            validity_in_months: Some(12),
            ..Default::default()
        }),
        issuer_parameters: Some(IssuerParameters {
            name: Some("Self".into()),
            ..Default::default()
        }),
        key_properties: Some(KeyProperties {
            key_type: Some(KeyType::Ec),
            curve: Some(CurveName::P256),
            exportable: Some(true),
            ..Default::default()
        }),
        secret_properties: Some(SecretProperties {
            content_type: Some(PEM.into()),
        }),
        ..Default::default()
    }
}

/// Checks the PEM managed secret against the certificate: exactly one PKCS#8 private key and
/// one certificate, the certificate byte-equal to `cer`, the key pair's public half equal to
/// the certificate's subject public key, and subject and DNS SAN as the policy asked.
fn check_pem(pem: &str, cer: &[u8]) -> Result<(), Error> {
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| format!("the managed secret is not PEM: {e}"))?;
        match block.label.as_str() {
            "PRIVATE KEY" => keys.push(block),
            "CERTIFICATE" => certs.push(block),
            other => return Err(format!("unexpected PEM block {other:?}").into()),
        }
    }
    check(
        keys.len() == 1 && certs.len() == 1,
        format!(
            "the PEM holds {} private keys and {} certificates, expected one of each",
            keys.len(),
            certs.len()
        ),
    )?;
    check(
        certs[0].contents == cer,
        "the PEM's certificate differs from the certificate's cer",
    )?;
    let x509 = certs[0]
        .parse_x509()
        .map_err(|e| format!("the PEM's certificate does not parse: {e}"))?;
    check(
        x509.subject().to_string() == SUBJECT,
        format!("subject is {}", x509.subject()),
    )?;
    check(
        x509.subject() == x509.issuer(),
        "a Self-issued certificate names another issuer",
    )?;
    let san = x509
        .subject_alternative_name()
        .map_err(|e| format!("the SAN extension does not parse: {e}"))?
        .ok_or("the certificate has no SAN extension")?;
    check(
        san.value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName(d) if *d == DNS_NAME)),
        format!("the SAN lacks DNS:{DNS_NAME}"),
    )?;

    let from_cert = p256::PublicKey::from_public_key_der(x509.public_key().raw)
        .map_err(|e| format!("the certificate's key is not P-256: {e}"))?;
    // The error text of a failed private-key parse carries no key material.
    let secret = p256::SecretKey::from_pkcs8_der(&keys[0].contents)
        .map_err(|e| format!("the PEM's private key is not PKCS#8 P-256: {e}"))?;
    check(
        secret.public_key() == from_cert,
        "the PEM's private key does not belong to the certificate",
    )
}

pub async fn run(
    vault_url: &str,
    credential: Arc<dyn TokenCredential>,
    prefix: &str,
) -> Result<(), Error> {
    let client = CertificateClient::new(vault_url, credential.clone(), None)?;
    let secrets = SecretClient::new(vault_url, credential, None)?;
    let name = format!("{prefix}-cert");

    let body = CreateCertificateParameters {
        certificate_policy: Some(policy()),
        ..Default::default()
    };
    // Awaiting the poller polls the pending operation until it leaves inProgress, then fetches
    // the operation's target.
    let created: Certificate = client
        .begin_create_certificate(&name, body.try_into()?, None)?
        .await?
        .into_model()?;
    let id = created.resource_id()?;
    check(
        id.name == name,
        format!("created certificate is {}", id.name),
    )?;
    let version = id.version.ok_or("the created certificate has no version")?;

    let operation = client
        .get_certificate_operation(&name, None)
        .await?
        .into_model()?;
    check(
        operation.status.as_deref() == Some("completed"),
        format!("the operation is {:?}", operation.status),
    )?;
    check(
        operation.error.is_none(),
        "the completed operation carries an error",
    )?;
    check(
        operation
            .target
            .as_deref()
            .is_some_and(|t| t.ends_with(&format!("/certificates/{name}"))),
        format!("the operation's target is {:?}", operation.target),
    )?;

    let cert = client.get_certificate(&name, None).await?.into_model()?;
    check(
        cert.resource_id()?.version.as_deref() == Some(version.as_str()),
        "get latest names another version",
    )?;
    let cer = cert.cer.clone().ok_or("the certificate has no cer")?;
    check(
        cer == created.cer.unwrap_or_default(),
        "cer changed between reads",
    )?;
    check(
        cert.policy
            .as_ref()
            .and_then(|p| p.secret_properties.as_ref())
            .and_then(|s| s.content_type.as_deref())
            == Some(PEM),
        "the policy's secret content type is not PEM",
    )?;
    let sid = cert.sid.clone().ok_or("the certificate has no sid")?;
    let kid = cert.kid.clone().ok_or("the certificate has no kid")?;
    check(
        sid.ends_with(&format!("/secrets/{name}/{version}"))
            && kid.ends_with(&format!("/keys/{name}/{version}")),
        format!("sid {sid} or kid {kid} names another object"),
    )?;

    let secret_id: azure_security_keyvault_secrets::ResourceId = sid.parse()?;
    let options = SecretClientGetSecretOptions {
        secret_version: secret_id.version.clone(),
        ..Default::default()
    };
    let secret = secrets
        .get_secret(&secret_id.name, Some(options))
        .await?
        .into_model()?;
    check(
        secret.content_type.as_deref() == Some(PEM),
        format!(
            "the managed secret's content type is {:?}",
            secret.content_type
        ),
    )?;
    check(
        secret.managed == Some(true),
        "the certificate's secret is not marked managed",
    )?;
    check(
        secret.kid.as_deref() == Some(kid.as_str()),
        "the managed secret names another key",
    )?;
    let pem = secret.value.ok_or("the managed secret has no value")?;
    check_pem(&pem, &cer)?;

    let missing = client
        .get_certificate(&format!("{prefix}-nocert"), None)
        .await;
    check(missing.is_err(), "a missing certificate was found")?;
    Ok(())
}
