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
    /// Only the next N requests get the fault.
    #[arg(long, value_name = "N", requires = "fault")]
    fault_count: Option<u32>,
    /// This share of requests (1 to 100), spread evenly, gets the fault.
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

#[derive(Args, Debug)]
pub(crate) struct ClockArgs {
    /// Name of the vault.
    #[arg(long = "name", short = 'n', visible_alias = "vault")]
    name: String,
    /// Only vaults of this resource group.
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
    /// Move the vault's clock forward by this much more: e.g. 90d, 12h, 30m, 45s.
    #[arg(long, value_name = "DURATION")]
    advance: Option<String>,
    /// Put the vault's clock back to the instance's.
    #[arg(long, conflicts_with = "advance")]
    reset: bool,
}

/// Seconds in `90d`, `12h`, `30m` or `45s`.
pub(crate) fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let factor = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => anyhow::bail!("'{s}' is not a duration: use a number with d, h, m or s (e.g. 90d)"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("'{s}' is not a duration: use a number with d, h, m or s"))?;
    n.checked_mul(factor)
        .filter(|v| *v >= 0)
        .ok_or_else(|| anyhow::anyhow!("'{s}' is out of range"))
}

/// `coffer vault clock`: moves a vault's clock forward (a test helper).
pub(crate) async fn clock(arm: &Arm, args: ClockArgs) -> Result<()> {
    let at = At {
        name: args.name,
        resource_group: args.resource_group,
    };
    let rg = arm.group_of(&at).await?;
    let mut properties = settings_of(arm, &rg, &at.name).await?;
    if !properties.is_object() {
        properties = json!({});
    }
    let current = properties["clockOffsetSeconds"].as_i64().unwrap_or(0);
    if args.reset {
        properties["clockOffsetSeconds"] = Value::Null;
    } else if let Some(d) = &args.advance {
        properties["clockOffsetSeconds"] = json!(current.saturating_add(parse_duration(d)?));
    } else {
        println!("{}", json!({ "clockOffsetSeconds": current }));
        return Ok(());
    }
    let v = arm
        .call(
            reqwest::Method::PUT,
            &path(arm, &rg, &at.name),
            Some(json!({ "properties": properties })),
        )
        .await?;
    println!("{}", serde_json::to_string_pretty(&v["properties"])?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_days_hours_minutes_seconds() {
        assert_eq!(parse_duration("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 43_200);
        assert_eq!(parse_duration("30m").unwrap(), 1_800);
        assert_eq!(parse_duration("45s").unwrap(), 45);
        for bad in ["", "d", "-1d", "3w", "x1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
