//! `coffer vault diagnostics`, `coffer logs` and `coffer ad sp update --trusted-service`, run as a
//! user would against a real server.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Server, url};

fn coffer(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_logs_and_trusted_services_from_the_command_line() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let d = ["--data-dir", dir.as_str()];

    let (ok, out, err) =
        coffer(&[&["vault", "diagnostics", "set", "--name", "dev"][..], &d].concat());
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "coffer-audit");
    assert_eq!(v["auditEvent"], true);

    let token = s.token().await;
    let c = s.client();
    let r = c
        .get(url(&s, "/secrets/missing"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(url(&s, "/secrets/missing")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let logs = |extra: &[&str]| {
        let (ok, out, err) = coffer(&[&["logs", "--vault", "dev"][..], extra, &d].concat());
        assert!(ok, "{err}");
        out
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while lines.len() < 2 && Instant::now() < deadline {
        lines = logs(&[]).lines().map(str::to_owned).collect();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["operationName"], "SecretGet");
    assert_eq!(first["properties"]["httpStatusCode"], 404);
    let unauth = logs(&["--status", "401"]);
    assert_eq!(unauth.lines().count(), 1);
    assert!(
        unauth.contains("\"operationName\":\"Authentication\""),
        "{unauth}"
    );
    let table = logs(&["-o", "table", "--operation", "SecretGet"]);
    assert!(table.starts_with("Time"), "{table}");
    assert_eq!(table.lines().count(), 2, "header and one row: {table}");
    assert!(table.contains("404"), "{table}");

    let oid = s.b("object_id");
    let (ok, out, err) = coffer(
        &[
            &[
                "ad",
                "sp",
                "update",
                "--id",
                oid.as_str(),
                "--trusted-service",
                "true",
            ][..],
            &d,
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["trustedService"], true);
    assert_eq!(v["objectId"], oid.to_ascii_lowercase());

    let (ok, _, err) =
        coffer(&[&["vault", "diagnostics", "delete", "--name", "dev"][..], &d].concat());
    assert!(ok, "{err}");
    let (ok, out, err) =
        coffer(&[&["vault", "diagnostics", "show", "--name", "dev"][..], &d].concat());
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        Value::Array(vec![])
    );
}
