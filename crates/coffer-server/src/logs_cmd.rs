//! `coffer logs`: a vault's audit log through the management API
//! (`{vault id}/providers/Coffer.Diagnostics/auditEvents`), as JSON lines or a table, and with
//! `-f` followed by polling for records after the last one seen.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::ad_cmd::Common;
use crate::vault_cmd::{Arm, At, urlencode};

/// How often `-f` asks for new records.
const POLL: Duration = Duration::from_secs(1);

#[derive(Args, Debug)]
pub(crate) struct LogsArgs {
    /// The vault whose log to read.
    #[arg(long)]
    vault: String,
    /// Resource group (default: found through the subscription's resource listing).
    #[arg(long, short = 'g')]
    resource_group: Option<String>,
    /// Only answers with this HTTP status.
    #[arg(long)]
    status: Option<u16>,
    /// Only records from this age (90s, 15m, 1h, 7d) or RFC 3339 time on.
    #[arg(long)]
    since: Option<String>,
    /// Only this operation (SecretGet, KeySign, Authentication...).
    #[arg(long)]
    operation: Option<String>,
    /// Only this caller's object id.
    #[arg(long)]
    caller: Option<String>,
    /// Only the record of this request id (x-ms-request-id).
    #[arg(long)]
    request_id: Option<String>,
    /// Most records shown at first (the newest).
    #[arg(long, default_value_t = 100)]
    top: u32,
    /// Keep following the log.
    #[arg(long, short = 'f')]
    follow: bool,
}

pub(crate) async fn run(args: LogsArgs, common: Common) -> Result<()> {
    let table = common.output == "table";
    let arm = Arm::connect(&common).await?;
    let at = At {
        name: args.vault.clone(),
        resource_group: args.resource_group.clone(),
    };
    let rg = arm.group_of(&at).await?;
    let path = format!(
        "{}/providers/Coffer.Diagnostics/auditEvents",
        arm.vault_path(&rg, &at.name)
    );
    let mut filters = String::new();
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            filters.push_str(&format!("&{k}={}", urlencode(&v)));
        }
    };
    add("status", args.status.map(|s| s.to_string()));
    add("since", args.since.clone());
    add("operation", args.operation.clone());
    add("caller", args.caller.clone());
    add("requestId", args.request_id.clone());
    if table {
        println!("{}", row(&HEADER.map(str::to_owned)));
    }
    let first = arm
        .call(
            reqwest::Method::GET,
            &format!("{path}?order=newest&top={}{filters}", args.top),
            None,
        )
        .await?;
    let mut events = first["value"].as_array().cloned().unwrap_or_default();
    events.reverse();
    let mut last = print(&events, table, 0)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(POLL).await;
        let page = arm
            .call(
                reqwest::Method::GET,
                &format!("{path}?after={last}&top=1000{filters}"),
                None,
            )
            .await?;
        let events = page["value"].as_array().cloned().unwrap_or_default();
        last = print(&events, table, last)?;
    }
}

const HEADER: [&str; 7] = [
    "Time",
    "Operation",
    "Status",
    "CallerIp",
    "CallerOid",
    "RequestId",
    "Result",
];

/// Prints events and returns the highest sequence seen (or `last`).
fn print(events: &[Value], table: bool, mut last: u64) -> Result<u64> {
    for e in events {
        last = last.max(e["sequence"].as_u64().unwrap_or(0));
        if table {
            println!("{}", row(&cells(e)));
        } else {
            println!("{}", serde_json::to_string(e)?);
        }
    }
    Ok(last)
}

fn cells(e: &Value) -> [String; 7] {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let status = e["properties"]["httpStatusCode"]
        .as_u64()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let result = e["resultDescription"]
        .as_str()
        .map(|d| d.replace("\r\n", " ").chars().take(80).collect())
        .unwrap_or_else(|| s(&e["resultSignature"]));
    [
        s(&e["time"]),
        s(&e["operationName"]),
        status,
        s(&e["callerIpAddress"]),
        s(&e["identity"]["claim"]["oid"]),
        s(&e["properties"]["requestId"]),
        result,
    ]
}

/// Fixed-width columns, so rows printed while following line up with the header.
fn row(cells: &[String; 7]) -> String {
    const WIDTHS: [usize; 7] = [28, 24, 6, 15, 36, 36, 0];
    cells
        .iter()
        .zip(WIDTHS)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect::<Vec<_>>()
        .join("  ")
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn table_rows_show_the_key_fields_on_one_line() {
        let e = json!({
            "time": "2024-05-01T12:00:00.0000000Z",
            "operationName": "SecretGet",
            "resultSignature": "Forbidden",
            "resultDescription": "Client address is not authorized\r\nClient address: 1.2.3.4",
            "callerIpAddress": "1.2.3.4",
            "identity": {"claim": {"oid": "oid-1"}},
            "properties": {"httpStatusCode": 403, "requestId": "r-1"},
            "sequence": 7,
        });
        let c = cells(&e);
        assert_eq!(c[1], "SecretGet");
        assert_eq!(c[2], "403");
        assert_eq!(c[4], "oid-1");
        assert!(!c[6].contains('\n'), "{}", c[6]);
        assert_eq!(print(&[e], true, 3).unwrap(), 7);
        assert!(row(&c).starts_with("2024-05-01T12:00:00.0000000Z  SecretGet"));
    }
}
