//! `coffer env` (the `export` block of the startup summary, from `bootstrap.json`) and
//! `coffer hosts` (the hosts-file line for the role names and every vault, printed or added to
//! a file without duplicating names already there).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use crate::ad_cmd::Common;
use crate::summary::{domain_of, env_lines, host_names, hosts_line};

/// Options of `coffer env`.
#[derive(Args, Debug)]
pub(crate) struct EnvArgs {
    /// Data directory of the server (where bootstrap.json is).
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
    data_dir: PathBuf,
}

/// Options of `coffer hosts`.
#[derive(Args, Debug)]
pub(crate) struct HostsArgs {
    /// Data directory of the server (where bootstrap.json is).
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
    data_dir: PathBuf,
    /// Add the names missing from this hosts file (e.g. /etc/hosts) instead of printing the line.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Address the names map to.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
}

fn load(data_dir: &Path) -> Result<(Value, PathBuf)> {
    let path = data_dir.join("bootstrap.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (has `coffer serve` run with this --data-dir?)",
            path.display()
        )
    })?;
    let v = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    Ok((v, dir))
}

pub(crate) fn run_env(args: &EnvArgs) -> Result<()> {
    let (c, dir) = load(&args.data_dir)?;
    let lines = env_lines(&c, &dir);
    if lines.is_empty() {
        bail!(
            "{} names no managed identity or CA: restart `coffer serve` with this version",
            dir.join("bootstrap.json").display()
        );
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

pub(crate) async fn run_hosts(args: HostsArgs) -> Result<()> {
    let (c, _) = load(&args.data_dir)?;
    let vaults = match vault_names(&args.data_dir).await {
        Ok(v) => v,
        Err(e) => {
            let v = c["vault_name"].as_str().unwrap_or("dev").to_owned();
            eprintln!("coffer: listing vaults failed ({e:#}); naming only the default vault {v}");
            vec![v]
        }
    };
    let names = host_names(&domain_of(&c), &vaults);
    match &args.write {
        None => println!("{}", hosts_line(args.address, &names)),
        Some(file) => {
            let added = add_to_hosts_file(file, args.address, &names)?;
            if added.is_empty() {
                println!("{}: every name is present; nothing to add", file.display());
            } else {
                println!("{}: added {}", file.display(), added.join(" "));
            }
        }
    }
    Ok(())
}

/// The running server's vaults, through the management API as the bootstrap admin.
async fn vault_names(data_dir: &Path) -> Result<Vec<String>> {
    let common = Common {
        data_dir: data_dir.to_path_buf(),
        output: "json".to_owned(),
    };
    let arm = crate::vault_cmd::Arm::connect(&common).await?;
    let listed = arm
        .call(
            reqwest::Method::GET,
            &format!(
                "/subscriptions/{}/providers/Microsoft.KeyVault/vaults",
                arm.subscription()
            ),
            None,
        )
        .await?;
    let mut names: Vec<String> = listed["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["name"].as_str())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Appends one line with the names `file` does not map yet; returns them (empty: unchanged).
fn add_to_hosts_file(file: &Path, ip: IpAddr, names: &[String]) -> Result<Vec<String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let present: std::collections::HashSet<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split_whitespace().skip(1))
        .map(str::to_ascii_lowercase)
        .collect();
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !present.contains(n.as_str()))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut add = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        add.push('\n');
    }
    add.push_str(&hosts_line(ip, &missing));
    add.push_str(" # coffer\n");
    // Appended in place (not replaced): /etc/hosts is often a bind mount or owned by root.
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .with_context(|| {
            format!(
                "opening {} to append (run with sudo for /etc/hosts)",
                file.display()
            )
        })?;
    f.write_all(add.as_bytes())
        .with_context(|| format!("appending to {}", file.display()))?;
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_twice_adds_nothing_the_second_time() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("hosts");
        std::fs::write(
            &f,
            "127.0.0.1 localhost\n127.0.0.1 login.localhost # mine\n",
        )
        .unwrap();
        let names: Vec<String> = ["login.localhost", "dev.vault.localhost"]
            .map(str::to_owned)
            .to_vec();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            add_to_hosts_file(&f, ip, &names).unwrap(),
            ["dev.vault.localhost"]
        );
        assert!(add_to_hosts_file(&f, ip, &names).unwrap().is_empty());
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.matches("dev.vault.localhost").count(), 1);
    }
}
