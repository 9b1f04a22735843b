//! `coffer doctor`: asks the server why a request failed
//! (`{vault id}/providers/Coffer.Diagnostics/doctor`) and prints each failed check in plain words
//! with the command that fixes it — or that nothing is wrong. Text by default, `--json` for
//! the answer as the server gave it.

use std::net::IpAddr;

use anyhow::Result;
use clap::Args;
use coffer_wire::arm::doctor::{DoctorReport, DoctorRequest};

use crate::ad_cmd::Common;
use crate::vault_cmd::{Arm, At};

#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// The request to explain: its `x-ms-request-id` (needs the vault's audit log on).
    request_id: Option<String>,
    /// The vault the request went to.
    #[arg(long)]
    vault: String,
    /// Resource group (default: found through the subscription's resource listing).
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
    /// Instead of a logged request: the caller's access token.
    #[arg(long, conflicts_with = "request_id")]
    token: Option<String>,
    /// The operation, as the audit log names it (SecretGet, KeySign, CertificateGet...).
    #[arg(long)]
    operation: Option<String>,
    /// The client address the vault would see.
    #[arg(long)]
    address: Option<IpAddr>,
    /// The secret, key or certificate the request names.
    #[arg(long)]
    object: Option<String>,
    /// Print the server's JSON answer instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: DoctorArgs, common: Common) -> Result<()> {
    if args.request_id.is_none() && args.token.is_none() {
        anyhow::bail!("name a request id, or give the caller's token with --token");
    }
    let arm = Arm::connect(&common).await?;
    let at = At {
        name: args.vault.clone(),
        resource_group: args.resource_group.clone(),
    };
    let rg = arm.group_of(&at).await?;
    let path = format!(
        "{}/providers/Coffer.Diagnostics/doctor",
        arm.vault_path(&rg, &at.name)
    );
    let body = DoctorRequest {
        request_id: args.request_id,
        token: args.token,
        operation: args.operation,
        address: args.address.map(|a| a.to_string()),
        object: args.object,
    };
    let answer = arm
        .call(
            reqwest::Method::POST,
            &path,
            Some(serde_json::to_value(&body)?),
        )
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let report: DoctorReport = serde_json::from_value(answer)?;
    print!("{}", render(&report));
    Ok(())
}

/// The report as text: what was looked at, then each finding with its fix.
fn render(r: &DoctorReport) -> String {
    let mut out = format!("vault:     {}\noperation: {}\n", r.vault, r.operation);
    if let Some(c) = &r.caller {
        out.push_str(&format!("caller:    {c}\n"));
    }
    if let Some(a) = &r.address {
        out.push_str(&format!("address:   {a}\n"));
    }
    if let Some(s) = r.status {
        out.push_str(&format!("status:    {s}\n"));
    }
    if let Some(g) = &r.gateway {
        out.push_str(&format!("gateway:   {g}\n"));
    }
    if r.findings.is_empty() {
        out.push_str("\nNo check fails: the vault would allow this request now.\n");
    }
    for f in &r.findings {
        out.push_str(&format!("\n[{}] {}\n", f.id, f.summary));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("  fix: {fix}\n"));
        }
    }
    out
}
