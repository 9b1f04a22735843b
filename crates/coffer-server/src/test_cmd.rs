//! `coffer vault test-mode`: a vault's test helpers (`Coffer.Testing/settings/default`), off by
//! default; a vault with one on marks every data-plane answer with `x-coffer-test-mode`.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use crate::vault_cmd::{Arm, At};

#[derive(Args, Debug)]
pub(crate) struct TestModeArgs {
    #[command(flatten)]
    at: At,
    /// Cap every throttling limit of the vault at N transactions per window (10 s).
    #[arg(long, value_name = "N")]
    throttle_limit: Option<u32>,
    /// Answer requests with this status instead (429 or 503): the next --fault-count of them,
    /// --fault-percent of them, or all.
    #[arg(long, value_name = "STATUS")]
    fault: Option<u16>,
    #[arg(long, value_name = "N", requires = "fault")]
    fault_count: Option<u32>,
    #[arg(long, value_name = "PERCENT", requires = "fault")]
    fault_percent: Option<u32>,
    /// Only for this operation (e.g. SecretGet, KeySign).
    #[arg(long, value_name = "NAME", requires = "fault")]
    fault_operation: Option<String>,
    /// Switch the injected fault off (keeps a lowered limit).
    #[arg(long, conflicts_with = "fault")]
    no_fault: bool,
    /// Switch every test helper of the vault off.
    #[arg(long, conflicts_with_all = ["throttle_limit", "fault", "no_fault"])]
    off: bool,
}

fn path(arm: &Arm, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Coffer.Testing/settings/default",
        arm.vault_path(rg, name)
    )
}

/// The vault's test settings (`properties`), for `vault show`.
pub(crate) async fn settings_of(arm: &Arm, rg: &str, name: &str) -> Result<Value> {
    let v = arm
        .call(reqwest::Method::GET, &path(arm, rg, name), None)
        .await?;
    Ok(v["properties"].clone())
}

/// Whether any helper is on in `properties`.
pub(crate) fn any_on(properties: &Value) -> bool {
    properties
        .as_object()
        .is_some_and(|o| o.values().any(|v| !v.is_null()))
}

pub(crate) async fn run(arm: &Arm, args: TestModeArgs) -> Result<()> {
    let rg = arm.group_of(&args.at).await?;
    let current = settings_of(arm, &rg, &args.at.name).await?;
    let changes = args.throttle_limit.is_some() || args.fault.is_some() || args.no_fault;
    if !args.off && !changes {
        // No change asked: show what is on.
        println!("{}", serde_json::to_string_pretty(&current)?);
        return Ok(());
    }
    // The resource is written whole: keep what was on unless replaced.
    let mut properties = if args.off { json!({}) } else { current };
    if !properties.is_object() {
        properties = json!({});
    }
    if let Some(n) = args.throttle_limit {
        properties["throttleLimit"] = json!(n);
    }
    if args.no_fault {
        properties["fault"] = Value::Null;
    }
    if let Some(status) = args.fault {
        properties["fault"] = json!({
            "status": status,
            "count": args.fault_count,
            "percent": args.fault_percent,
            "operation": args.fault_operation,
        });
    }
    let v = arm
        .call(
            reqwest::Method::PUT,
            &path(arm, &rg, &args.at.name),
            Some(json!({ "properties": properties })),
        )
        .await?;
    println!("{}", serde_json::to_string_pretty(&v["properties"])?);
    Ok(())
}
