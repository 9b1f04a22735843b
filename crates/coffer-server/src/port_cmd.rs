//! `coffer vault export` / `import`: a vault's contents in one encrypted, authenticated file.
//! The running server opens the objects (`Coffer.Portability/export`); this side seals the
//! document with AES-256-GCM under a key from a passphrase (PBKDF2-HMAC-SHA256, 600 000
//! rounds, random salt) or from a key file, the file's header bound in as associated data.
//! Import decrypts, creates the vault if needed, checks every name first, then sends the
//! objects in batches (under the server's request size limit) with a progress bar.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use coffer_crypto::DataKey;
use coffer_wire::arm::portable::{
    EXPORT_FORMAT, ExportObject, ImportRequest, ImportResult, VaultExport,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::fsutil::write_private;
use crate::vault_cmd::{Arm, At};

const FILE_FORMAT: &str = "coffer-vault-file-v1";
const PBKDF2_ROUNDS: u32 = 600_000;
/// Batches stay well under the server's 4 MiB request limit.
const BATCH_BYTES: usize = 1 << 20;
/// Objects at which the progress bar appears.
const BAR_FROM: usize = 20;

/// Where the file key comes from.
#[derive(Args, Debug)]
pub(crate) struct KeySource {
    /// Environment variable holding the passphrase.
    #[arg(long, default_value = "COFFER_EXPORT_PASSPHRASE", value_name = "VAR")]
    passphrase_env: String,
    /// File whose first line is the passphrase (instead of the environment variable).
    #[arg(long, value_name = "FILE", conflicts_with = "key_file")]
    passphrase_file: Option<PathBuf>,
    /// File holding a 32-byte key (raw, or base64), e.g. from `head -c 32 /dev/urandom`.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

/// Options of `coffer vault export`.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The vault to export.
    #[arg(long)]
    vault: String,
    /// Resource group of the vault (default: found through the subscription's resource listing).
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
    /// The file to write (mode 0600).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    key: KeySource,
}

/// Options of `coffer vault import`.
#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    /// A file written by `coffer vault export`.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// The vault to import into (default: the exported vault's name); created if missing, with
    /// the exported settings.
    #[arg(long)]
    vault: Option<String>,
    /// Resource group of the vault (default: found through the listing; for a new vault, the
    /// bootstrap group).
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
    /// Replace objects whose names are in use in the vault (they are purged first).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    key: KeySource,
}

/// The file: a header in the clear (bound into the ciphertext) and the sealed document.
#[derive(Serialize, Deserialize)]
struct ExportFile {
    format: String,
    /// `pbkdf2-sha256` or `key-file`.
    kdf: String,
    #[serde(default)]
    iterations: u32,
    #[serde(default)]
    salt: String,
    sealed: String,
}

impl ExportFile {
    fn aad(&self) -> String {
        format!(
            "coffer/vault-file/v1|{}|{}|{}|{}",
            self.format, self.kdf, self.iterations, self.salt
        )
    }
}

enum Secret {
    Passphrase(Zeroizing<String>),
    Key(Zeroizing<Vec<u8>>),
}

fn read_secret(k: &KeySource) -> Result<Secret> {
    if let Some(f) = &k.key_file {
        let raw = Zeroizing::new(
            std::fs::read(f).with_context(|| format!("reading the key file {}", f.display()))?,
        );
        let bytes = if raw.len() == 32 {
            raw
        } else {
            let text = String::from_utf8_lossy(&raw);
            Zeroizing::new(B64.decode(text.trim()).unwrap_or_default())
        };
        DataKey::from_bytes(&bytes).map_err(|_| {
            anyhow::anyhow!(
                "the key file {} must hold 32 bytes (raw or base64), e.g. from: head -c 32 /dev/urandom > {}",
                f.display(),
                f.display()
            )
        })?;
        return Ok(Secret::Key(bytes));
    }
    let pass = match &k.passphrase_file {
        Some(f) => Zeroizing::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the passphrase file {}", f.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        None => match std::env::var(&k.passphrase_env) {
            Ok(p) => Zeroizing::new(p),
            Err(_) => bail!(
                "no passphrase: set {} (or pass --passphrase-file FILE or --key-file FILE)",
                k.passphrase_env
            ),
        },
    };
    if pass.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(Secret::Passphrase(pass))
}

fn file_key(secret: &Secret, file: &ExportFile) -> Result<DataKey> {
    match (secret, file.kdf.as_str()) {
        (Secret::Key(k), "key-file") => Ok(DataKey::from_bytes(k)?),
        (Secret::Passphrase(p), "pbkdf2-sha256") => {
            let salt = B64
                .decode(&file.salt)
                .context("the file's salt is not base64")?;
            Ok(coffer_crypto::password::derive_key(
                p.as_bytes(),
                &salt,
                file.iterations,
            )?)
        }
        (Secret::Key(_), _) => bail!("this file was encrypted with a passphrase, not a key file"),
        (Secret::Passphrase(_), _) => {
            bail!("this file was encrypted with a key file: pass --key-file FILE")
        }
    }
}

/// Seals `plain` into the file format.
fn seal(secret: &Secret, plain: &[u8]) -> Result<ExportFile> {
    let mut file = ExportFile {
        format: FILE_FORMAT.to_owned(),
        kdf: String::new(),
        iterations: 0,
        salt: String::new(),
        sealed: String::new(),
    };
    match secret {
        Secret::Passphrase(p) => {
            if p.chars().count() < 8 {
                bail!("the passphrase must have at least 8 characters");
            }
            file.kdf = "pbkdf2-sha256".to_owned();
            file.iterations = PBKDF2_ROUNDS;
            file.salt = B64.encode(coffer_crypto::random::bytes(16)?);
        }
        Secret::Key(_) => file.kdf = "key-file".to_owned(),
    }
    let key = file_key(secret, &file)?;
    file.sealed = B64.encode(key.seal(file.aad().as_bytes(), plain)?);
    Ok(file)
}

fn open(secret: &Secret, path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ExportFile = serde_json::from_str(&text)
        .ok()
        .filter(|f: &ExportFile| f.format == FILE_FORMAT)
        .with_context(|| {
            format!(
                "{} is not a file written by coffer vault export",
                path.display()
            )
        })?;
    let key = file_key(secret, &file)?;
    let sealed = B64
        .decode(&file.sealed)
        .context("the file's content is not base64")?;
    key.open(file.aad().as_bytes(), &sealed).map_err(|_| {
        anyhow::anyhow!(
            "cannot decrypt {}: wrong passphrase or key file, or the file was altered",
            path.display()
        )
    })
}

fn provider_path(arm: &Arm, rg: &str, vault: &str, action: &str) -> String {
    format!(
        "{}/providers/Coffer.Portability/{action}",
        arm.vault_path(rg, vault)
    )
}

fn spinner(msg: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(msg);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

pub(crate) async fn export(arm: &Arm, args: ExportArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        bail!("{} exists: pass --force to replace it", args.out.display());
    }
    let secret = read_secret(&args.key)?;
    let at = At {
        name: args.vault.clone(),
        resource_group: args.resource_group.clone(),
    };
    let rg = arm.group_of(&at).await?;
    let bar = spinner(format!("exporting vault {}", args.vault));
    let doc = arm
        .call(
            reqwest::Method::POST,
            &provider_path(arm, &rg, &args.vault, "export"),
            Some(json!({})),
        )
        .await;
    bar.finish_and_clear();
    let doc = doc?;
    let parsed: VaultExport =
        serde_json::from_value(doc.clone()).context("reading the server's export")?;
    let plain = Zeroizing::new(serde_json::to_vec(&doc)?);
    drop(doc);
    let file = seal(&secret, &plain)?;
    write_private(&args.out, serde_json::to_string(&file)?.as_bytes())?;
    for s in &parsed.skipped {
        eprintln!("coffer: warning: skipped {s}");
    }
    let versions: usize = parsed.objects.iter().map(|o| o.versions.len()).sum();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "vault": parsed.vault,
            "file": args.out.display().to_string(),
            "objects": parsed.objects.len(),
            "versions": versions,
            "documents": parsed.documents.len(),
            "skipped": parsed.skipped,
        }))?
    );
    Ok(())
}

pub(crate) async fn import(arm: &Arm, args: ImportArgs) -> Result<()> {
    let secret = read_secret(&args.key)?;
    let plain = open(&secret, &args.input)?;
    let export: VaultExport = serde_json::from_slice(&plain)
        .ok()
        .filter(|e: &VaultExport| e.format == EXPORT_FORMAT)
        .with_context(|| {
            format!(
                "{} holds no vault export this version reads",
                args.input.display()
            )
        })?;
    drop(plain);
    let vault = args.vault.clone().unwrap_or_else(|| export.vault.clone());
    let at = At {
        name: vault.clone(),
        resource_group: args.resource_group.clone(),
    };
    let (rg, created) = match arm.group_of(&at).await {
        Ok(rg) => (rg, false),
        Err(_) => (create_vault(arm, &at, &export).await?, true),
    };
    let path = provider_path(arm, &rg, &vault, "import");
    // Every name first, so a refusal changes nothing.
    let names: Vec<ExportObject> = export
        .objects
        .iter()
        .map(|o| ExportObject {
            kind: o.kind.clone(),
            name: o.name.clone(),
            versions: Vec::new(),
        })
        .collect();
    let check = ImportRequest {
        objects: names,
        documents: Vec::new(),
        force: args.force,
        check_only: true,
    };
    arm.call(
        reqwest::Method::POST,
        &path,
        Some(serde_json::to_value(&check)?),
    )
    .await?;
    let total = export.objects.len();
    let bar = if total >= BAR_FROM {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_message(format!("importing into {vault}"));
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (mut imported, mut replaced) = (0, 0);
    let mut batch: Vec<ExportObject> = Vec::new();
    let mut size = 0;
    let mut objects = export.objects.into_iter().peekable();
    loop {
        let next = objects.next();
        let flush = match &next {
            None => true,
            Some(o) => {
                let n = o
                    .versions
                    .iter()
                    .map(|v| v.meta.len() + v.value.len() + 128)
                    .sum::<usize>();
                size + n > BATCH_BYTES && !batch.is_empty()
            }
        };
        if flush {
            let last = next.is_none();
            let req = ImportRequest {
                objects: std::mem::take(&mut batch),
                documents: if last {
                    export.documents.clone()
                } else {
                    Vec::new()
                },
                force: args.force,
                check_only: false,
            };
            let n = req.objects.len() as u64;
            if n > 0 || !req.documents.is_empty() {
                let out: ImportResult = serde_json::from_value(
                    arm.call(
                        reqwest::Method::POST,
                        &path,
                        Some(serde_json::to_value(&req)?),
                    )
                    .await?,
                )?;
                imported += out.imported;
                replaced += out.replaced;
                bar.inc(n);
            }
            size = 0;
        }
        match next {
            Some(o) => {
                size += o
                    .versions
                    .iter()
                    .map(|v| v.meta.len() + v.value.len() + 128)
                    .sum::<usize>();
                batch.push(o);
            }
            None => break,
        }
    }
    bar.finish_and_clear();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "vault": vault,
            "created": created,
            "imported": imported,
            "replaced": replaced,
            "skippedAtExport": export.skipped,
        }))?
    );
    Ok(())
}

/// A new vault with the exported settings; the admin gets every permission.
async fn create_vault(arm: &Arm, at: &At, export: &VaultExport) -> Result<String> {
    let c = arm.contract();
    let rg = at
        .resource_group
        .clone()
        .or_else(|| c.resource_group.clone())
        .unwrap_or_else(|| "coffer-rg".to_owned());
    let st = &export.settings;
    let mut policies = Vec::new();
    if let Some(oid) = &c.object_id {
        policies.push(json!({
            "tenantId": c.tenant_id, "objectId": oid,
            "permissions": {"keys": ["all"], "secrets": ["all"], "certificates": ["all"], "storage": ["all"]},
        }));
    }
    let body = json!({
        "location": "local",
        "tags": st.tags,
        "properties": {
            "tenantId": c.tenant_id,
            "sku": {"family": "A", "name": st.sku},
            "accessPolicies": policies,
            "enableRbacAuthorization": false,
            "enableSoftDelete": true,
            "softDeleteRetentionInDays": st.soft_delete_retention_in_days,
            "enablePurgeProtection": if st.enable_purge_protection { Some(true) } else { None },
            "publicNetworkAccess": st.public_network_access,
            "networkAcls": {
                "defaultAction": st.default_action,
                "bypass": st.bypass,
                "ipRules": st.ip_rules.iter().map(|r| json!({"value": r})).collect::<Vec<_>>(),
            },
        },
    });
    arm.call(
        reqwest::Method::PUT,
        &arm.vault_path(&rg, &at.name),
        Some(body),
    )
    .await
    .with_context(|| format!("creating vault {}", at.name))?;
    Ok(rg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_open_with_their_passphrase_only_and_detect_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let pass = Secret::Passphrase(Zeroizing::new("correct horse".to_owned()));
        let file = seal(&pass, b"{\"x\":1}").unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        assert_eq!(&open(&pass, &path).unwrap()[..], b"{\"x\":1}");
        let wrong = Secret::Passphrase(Zeroizing::new("wrong horse".to_owned()));
        let e = open(&wrong, &path).unwrap_err().to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
        // The header is bound in: fewer rounds do not open it.
        let mut altered = file;
        altered.iterations = 1000;
        std::fs::write(&path, serde_json::to_string(&altered).unwrap()).unwrap();
        assert!(open(&pass, &path).is_err());
        assert!(seal(&Secret::Passphrase(Zeroizing::new("short".into())), b"x").is_err());
    }
}
