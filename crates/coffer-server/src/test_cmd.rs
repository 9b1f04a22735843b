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
    /// Switch every test helper of the vault off.
    #[arg(long, conflicts_with = "throttle_limit")]
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
    let properties = if args.off {
        json!({})
    } else if let Some(n) = args.throttle_limit {
        json!({ "throttleLimit": n })
    } else {
        // No change asked: show what is on.
        let p = settings_of(arm, &rg, &args.at.name).await?;
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(());
    };
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
