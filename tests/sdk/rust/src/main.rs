//! The official Azure SDK for Rust (`azure_identity`, `azure_security_keyvault_secrets`,
//! `azure_security_keyvault_keys` and `azure_security_keyvault_certificates`, unmodified)
//! against a running Coffer: ClientSecretCredential with Coffer's authority
//! (`AZURE_AUTHORITY_HOST`), the CA through `SSL_CERT_FILE`, challenge-resource verification on.
//! Reads the contract from `COFFER_BOOTSTRAP`; exits non-zero on any mismatch.

mod certificates;
mod keys;

use azure_core::credentials::Secret;
use azure_identity::ClientSecretCredential;
use azure_security_keyvault_secrets::SecretClient;
use azure_security_keyvault_secrets::models::SetSecretParameters;
use futures::TryStreamExt as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("COFFER_BOOTSTRAP")?;
    let boot: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let field = |k: &str| boot[k].as_str().unwrap_or_default().to_owned();
    let credential = ClientSecretCredential::new(
        &field("tenant_id"),
        field("client_id"),
        Secret::new(field("client_secret")),
        None,
    )?;
    let client = SecretClient::new(&field("vault_url"), credential.clone(), None)?;
    let name = format!("rust-{}", std::process::id());

    let first = SetSecretParameters {
        value: Some("one".into()),
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    let first = client
        .set_secret(&name, first.try_into()?, None)
        .await?
        .into_model()?;
    let second = SetSecretParameters {
        value: Some("two".into()),
        ..Default::default()
    };
    client
        .set_secret(&name, second.try_into()?, None)
        .await?
        .into_model()?;

    let latest = client.get_secret(&name, None).await?.into_model()?;
    if latest.value.as_deref() != Some("two") {
        return Err(format!("latest value is {:?}, expected \"two\"", latest.value).into());
    }
    let id = first.id.ok_or("the set response has no id")?;
    if !id.starts_with(&format!("{}/secrets/{name}/", field("vault_url"))) {
        return Err(format!("unexpected id {id}").into());
    }

    let mut names = Vec::new();
    let mut pager = client.list_secret_properties(None)?;
    while let Some(item) = pager.try_next().await? {
        names.push(item.id.unwrap_or_default());
    }
    if !names
        .iter()
        .any(|i| i.ends_with(&format!("/secrets/{name}")))
    {
        return Err(format!("{name} missing from the listing").into());
    }
    let missing = client.get_secret(&format!("{name}-missing"), None).await;
    if missing.is_ok() {
        return Err("a missing secret was found".into());
    }
    println!("rust sdk: set, get latest, list and a missing secret all behaved");

    keys::run(&field("vault_url"), credential.clone(), &name).await?;
    println!("rust sdk: keys created, signed, verified (p256 too) and read back");

    certificates::run(&field("vault_url"), credential, &name).await?;
    println!(
        "rust sdk: self-signed PEM certificate created, its secret's cert and key match (x509-parser, p256)"
    );
    Ok(())
}
