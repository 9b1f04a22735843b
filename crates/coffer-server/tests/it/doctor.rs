//! `coffer doctor`, run as a user would against a real server, for each of the seeds' 403
//! cases: it names the cause and prints the command that fixes it, and after running that
//! command the request passes.

use std::process::Command;

use serde_json::{Value, json};

use crate::firewall::Kit;

/// Runs `coffer doctor ... --data-dir <dir>` and returns its text output.
fn doctor(k: &Kit, args: &[&str]) -> String {
    let dir = k.s.data_dir().to_str().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("doctor")
        .args(args)
        .args(["--vault", "dev", "--data-dir", &dir])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a printed fix (a `coffer vault ...` command) against the server.
fn run_fix(k: &Kit, fix: &str) {
    let dir = k.s.data_dir().to_str().unwrap().to_owned();
    let mut words = fix.split_whitespace();
    assert_eq!(words.next(), Some("coffer"), "{fix}");
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(words)
        .args(["--data-dir", &dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{fix}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fix_of<'a>(text: &'a str, id: &str) -> &'a str {
    let at = text
        .find(&format!("[{id}]"))
        .unwrap_or_else(|| panic!("no {id} in:\n{text}"));
    let rest = &text[at..];
    let line = rest
        .lines()
        .find(|l| l.trim_start().starts_with("fix:"))
        .unwrap();
    line.trim_start().trim_start_matches("fix:").trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_each_seed_cause_and_its_fix_works() {
    let k = Kit::start(&[]).await;
    let admin = k.admin().await;
    assert_eq!(k.set_secret(&admin, "db", "v").await, 200);

    // No access policy: the fix grants exactly the missing permission, and then the call works.
    let x = k.new_app("contoso-apim").await;
    let text = doctor(&k, &["--token", &x.token, "--operation", "SecretGet"]);
    assert!(text.contains("[policy.none]"), "{text}");
    let fix = fix_of(&text, "policy.none");
    assert_eq!(
        fix,
        format!(
            "coffer vault set-policy --name dev --object-id {} --secret-permissions get",
            x.oid
        )
    );
    run_fix(&k, fix);
    let (st, _, _) = k.get_secret(&k.c, &x, "db", None).await;
    assert_eq!(st, 200, "the printed fix makes the call pass");
    assert!(doctor(&k, &["--token", &x.token]).contains("No check fails"));

    // A look-alike: same display name, other object id; both ids are printed.
    let twin = k.new_app("contoso-gateway").await;
    let real = k.new_app("contoso-gateway").await;
    k.grant_secrets(&twin.oid, &["get"]).await;
    let text = doctor(&k, &["--token", &real.token]);
    assert!(text.contains("[policy.look-alike]"), "{text}");
    assert!(
        text.contains(&twin.oid) && text.contains(&real.oid),
        "{text}"
    );

    // The permission is missing from a policy that names the caller.
    k.grant_secrets(&real.oid, &["list"]).await;
    let text = doctor(&k, &["--token", &real.token]);
    let fix = fix_of(&text, "policy.permission");
    assert!(fix.ends_with("--secret-permissions list get"), "{fix}");

    // The firewall refuses the client address; the fix adds exactly that address.
    k.patch_vault(json!({"networkAcls": {"defaultAction": "Deny", "bypass": "None", "ipRules": [{"value": "10.1.2.0/24"}]}}))
        .await;
    let (st, _, v) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_eq!(st, 403, "{v}");
    let text = doctor(&k, &["--token", &admin.token, "--address", "127.0.0.1"]);
    let fix = fix_of(&text, "firewall.address");
    assert_eq!(
        fix,
        "coffer vault network-rule add --name dev --ip-address 127.0.0.1"
    );
    run_fix(&k, fix);
    let (st, _, _) = k.get_secret(&k.c, &admin, "db", None).await;
    assert_eq!(st, 200);

    // A refused token is named as such, before any other check.
    let text = doctor(&k, &["--token", "not-a-token"]);
    assert!(text.contains("[token.refused]"), "{text}");

    // A disabled secret.
    let r =
        k.c.patch(format!("{}/secrets/db/?api-version=7.6", k.s.vault()))
            .bearer_auth(&admin.token)
            .json(&json!({"attributes": {"enabled": false}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let text = doctor(&k, &["--token", &admin.token, "--object", "db"]);
    assert!(text.contains("[object.disabled]"), "{text}");
    assert!(
        fix_of(&text, "object.disabled").contains(
            "az keyvault secret set-attributes --vault-name dev --name db --enabled true"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_explains_a_logged_request_by_its_id() {
    let k = Kit::start(&[]).await;
    let admin = k.admin().await;
    assert_eq!(k.set_secret(&admin, "db", "v").await, 200);
    let dir = k.s.data_dir().to_str().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "vault",
            "diagnostics",
            "set",
            "--name",
            "dev",
            "--data-dir",
            &dir,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let x = k.new_app("billing").await;
    let (st, h, _) = k.get_secret(&k.c, &x, "db", None).await;
    assert_eq!(st, 403);
    let request_id = h["x-ms-request-id"].to_str().unwrap().to_owned();
    // The writer batches; the record is there within moments.
    let mut text = String::new();
    for _ in 0..50 {
        let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args([
                "doctor",
                &request_id,
                "--vault",
                "dev",
                "--json",
                "--data-dir",
                &dir,
            ])
            .output()
            .unwrap();
        text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    assert_eq!(v["status"], 403, "{v}");
    assert_eq!(v["operation"], "SecretGet");
    assert_eq!(v["findings"][0]["id"], "policy.none", "{v}");
    assert!(
        v["findings"][0]["summary"]
            .as_str()
            .unwrap()
            .contains(&x.oid)
    );
}
