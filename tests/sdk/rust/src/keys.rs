//! The keys half of the Rust SDK client: `KeyClient` creates an EC P-256 and an RSA-2048 key,
//! signs a SHA-256 digest with each, verifies through the vault (and the ES256 signature again
//! with `p256` from the returned JWK alone), and reads the keys back latest and by version.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, CurveName, Key, KeyClientGetKeyOptions, KeyClientSignOptions, KeyType,
    SignParameters, SignatureAlgorithm, VerifyParameters,
};
use azure_security_keyvault_keys::{KeyClient, ResourceExt as _};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::Digest as _;

type Error = Box<dyn std::error::Error>;

fn check(ok: bool, what: impl Into<String>) -> Result<(), Error> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

async fn create(client: &KeyClient, name: &str, p: CreateKeyParameters) -> Result<Key, Error> {
    Ok(client
        .create_key(name, p.try_into()?, None)
        .await?
        .into_model()?)
}

/// Signs `digest` with the key's version `version` and returns the signature.
async fn sign(
    client: &KeyClient,
    name: &str,
    version: &str,
    alg: SignatureAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>, Error> {
    let p = SignParameters {
        algorithm: Some(alg),
        value: Some(digest.to_vec()),
    };
    let options = KeyClientSignOptions {
        key_version: Some(version.to_owned()),
        ..Default::default()
    };
    let out = client
        .sign(name, p.try_into()?, Some(options))
        .await?
        .into_model()?;
    check(
        out.kid
            .as_deref()
            .is_some_and(|k| k.ends_with(&format!("/keys/{name}/{version}"))),
        format!("sign answered kid {:?}", out.kid),
    )?;
    out.result.ok_or_else(|| "sign returned no value".into())
}

async fn verify(
    client: &KeyClient,
    name: &str,
    version: &str,
    alg: SignatureAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, Error> {
    let p = VerifyParameters {
        algorithm: Some(alg),
        digest: Some(digest.to_vec()),
        signature: Some(signature.to_vec()),
    };
    let out = client
        .verify(name, version, p.try_into()?, None)
        .await?
        .into_model()?;
    out.value.ok_or_else(|| "verify returned no value".into())
}

pub async fn run(
    vault_url: &str,
    credential: Arc<dyn TokenCredential>,
    prefix: &str,
) -> Result<(), Error> {
    let client = KeyClient::new(vault_url, credential, None)?;
    let digest = sha2::Sha256::digest(b"signed by the Rust SDK").to_vec();

    // EC P-256: sign, verify remotely, verify locally from x and y.
    let ec_name = format!("{prefix}-ec");
    let ec = create(
        &client,
        &ec_name,
        CreateKeyParameters {
            kty: Some(KeyType::Ec),
            curve: Some(CurveName::P256),
            ..Default::default()
        },
    )
    .await?;
    let id = ec.resource_id()?;
    check(
        id.name == ec_name,
        format!("created key is named {}", id.name),
    )?;
    let version = id
        .version
        .clone()
        .ok_or("the created key's kid has no version")?;
    let jwk = ec.key.as_ref().ok_or("the created key has no JWK")?;
    check(jwk.kty == Some(KeyType::Ec), "kty is not EC")?;
    check(jwk.d.is_none(), "the JWK carries a private member")?;
    let (x, y) = (jwk.x.clone().ok_or("no x")?, jwk.y.clone().ok_or("no y")?);
    check(
        x.len() == 32 && y.len() == 32,
        "P-256 coordinates are not 32 bytes",
    )?;
    let sig = sign(
        &client,
        &ec_name,
        &version,
        SignatureAlgorithm::Es256,
        &digest,
    )
    .await?;
    check(
        sig.len() == 64,
        format!("ES256 signature is {} bytes, not r||s", sig.len()),
    )?;
    check(
        verify(
            &client,
            &ec_name,
            &version,
            SignatureAlgorithm::Es256,
            &digest,
            &sig,
        )
        .await?,
        "the vault rejects its own ES256 signature",
    )?;
    let mut tampered = digest.clone();
    tampered[0] ^= 1;
    check(
        !verify(
            &client,
            &ec_name,
            &version,
            SignatureAlgorithm::Es256,
            &tampered,
            &sig,
        )
        .await?,
        "the vault accepts an ES256 signature over another digest",
    )?;
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)?;
    let local = p256::ecdsa::Signature::from_slice(&sig)?;
    vk.verify_prehash(&digest, &local)
        .map_err(|e| format!("p256 rejects the vault's ES256 signature: {e}"))?;

    // RSA-2048: sign and verify through the vault; get latest and by version.
    let rsa_name = format!("{prefix}-rsa");
    let rsa = create(
        &client,
        &rsa_name,
        CreateKeyParameters {
            kty: Some(KeyType::Rsa),
            key_size: Some(2048),
            ..Default::default()
        },
    )
    .await?;
    let rsa_version = rsa.resource_id()?.version.ok_or("no RSA version")?;
    let n = rsa
        .key
        .as_ref()
        .and_then(|k| k.n.clone())
        .unwrap_or_default();
    check(
        n.len() == 256,
        format!("RSA-2048 modulus is {} bytes", n.len()),
    )?;
    let sig = sign(
        &client,
        &rsa_name,
        &rsa_version,
        SignatureAlgorithm::Ps256,
        &digest,
    )
    .await?;
    check(sig.len() == 256, "PS256 signature is not 256 bytes")?;
    check(
        verify(
            &client,
            &rsa_name,
            &rsa_version,
            SignatureAlgorithm::Ps256,
            &digest,
            &sig,
        )
        .await?,
        "the vault rejects its own PS256 signature",
    )?;

    let latest = client.get_key(&ec_name, None).await?.into_model()?;
    check(
        latest.resource_id()?.version.as_deref() == Some(&version),
        "get latest names another version",
    )?;
    check(
        latest.key.as_ref().and_then(|k| k.x.clone()) == Some(x),
        "get latest returns another x",
    )?;
    let options = KeyClientGetKeyOptions {
        key_version: Some(rsa_version.clone()),
        ..Default::default()
    };
    let by_version = client
        .get_key(&rsa_name, Some(options))
        .await?
        .into_model()?;
    check(
        by_version.key.as_ref().and_then(|k| k.n.clone()) == Some(n),
        "get by version returns another modulus",
    )?;
    let missing = client.get_key(&format!("{prefix}-missing"), None).await;
    check(missing.is_err(), "a missing key was found")?;
    Ok(())
}
