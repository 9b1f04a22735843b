//! Several `coffer serve` nodes sharing one PostgreSQL (`--store postgres://...`), on the
//! server the test command starts (`scripts/postgres.sh`, `COFFER_TEST_POSTGRES_URL`): what one
//! node writes the other reads, a policy removed on one denies on the other within the vault
//! settings' staleness bound, concurrent writers on both lose and double nothing, and a database
//! outage is 503s and a not-ready `/readyz`, then recovery by itself with every acknowledged write
//! kept. Without the variable these tests say they were skipped, unless
//! `COFFER_REQUIRE_POSTGRES=1` (set by the test command) makes that a failure.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::Server;

/// The tests share one PostgreSQL server, and the outage test stops it: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long another node may serve a vault's old settings (`VAULT_CACHE_TTL`), plus slack for
/// a loaded machine.
const SETTINGS_BOUND: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_secs(3);

fn server_url(test: &str) -> Option<String> {
    match std::env::var("COFFER_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("COFFER_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("COFFER_REQUIRE_POSTGRES=1 but COFFER_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("{test}: skipped: no PostgreSQL (scripts/postgres.sh starts one)");
            None
        }
    }
}

/// A new empty database on the test server; its URL.
async fn fresh_db(url: &str) -> String {
    let name = format!("coffer_it_{}_{}", std::process::id(), uuid_suffix());
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}")
}

fn root_key() -> String {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn node(store: &str, key: &str) -> Server {
    Server::start_with_env(&["--store", store], &[("COFFER_ROOT_KEY", key)])
}

/// A client of one node that also resolves the management host.
fn client(s: &Server) -> reqwest::Client {
    let ca = std::fs::read(s.b("ca_cert")).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s.port));
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30));
    for host in [
        "login.localhost",
        "management.localhost",
        "dev.vault.localhost",
    ] {
        b = b.resolve(host, addr);
    }
    b.build().unwrap()
}

struct Node {
    s: Server,
    c: reqwest::Client,
    token: String,
}

impl Node {
    async fn start(store: &str, key: &str) -> Node {
        let s = node(store, key);
        let c = client(&s);
        let token = s.token().await;
        Node { s, c, token }
    }

    async fn set(&self, name: &str, value: &str) -> (u16, Value) {
        let r = self
            .c
            .put(format!("{}/secrets/{name}?api-version=7.4", self.s.vault()))
            .bearer_auth(&self.token)
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, name: &str) -> (u16, Value) {
        let r = self
            .c
            .get(format!("{}/secrets/{name}?api-version=7.4", self.s.vault()))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn versions(&self, name: &str) -> usize {
        let mut next = Some(format!(
            "{}/secrets/{name}/versions?api-version=7.4&maxresults=25",
            self.s.vault()
        ));
        let mut n = 0;
        while let Some(url) = next {
            let v: Value = self
                .c
                .get(url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            n += v["value"].as_array().unwrap().len();
            next = v["nextLink"].as_str().map(str::to_owned);
        }
        n
    }

    async fn policy(&self, op: &str, object_id: &str) -> u16 {
        let token = self
            .s
            .token_for(&self.c, &format!("{}/", self.s.b("management_url")))
            .await;
        let path = format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/dev/accessPolicies/{op}?api-version=2023-07-01",
            self.s.b("management_url"),
            self.s.b("subscription_id"),
            self.s.b("resource_group"),
        );
        self.c
            .put(path)
            .bearer_auth(token)
            .json(&json!({"properties": {"accessPolicies": [{
                "tenantId": self.s.b("tenant_id"), "objectId": object_id,
                "permissions": {"secrets": ["get", "list", "set", "delete"]}}]}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn two_nodes_share_secrets_policies_and_a_hot_secret() {
    let Some(url) = server_url("two_nodes_share_secrets_policies_and_a_hot_secret") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let store = fresh_db(&url).await;
    let key = root_key();
    let a = Node::start(&store, &key).await;
    let b = Node::start(&store, &key).await;
    // One instance: the same tenant, admin and vault on both.
    assert_eq!(a.s.b("tenant_id"), b.s.b("tenant_id"));
    assert_eq!(a.s.b("object_id"), b.s.b("object_id"));

    // Written on one, read on the other.
    let (st, _) = a.set("shared", "from-a").await;
    assert_eq!(st, 200);
    let (st, v) = b.get("shared").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], "from-a");

    // Concurrent writers on both nodes: exactly as many versions as acknowledged writes.
    let mut writes = Vec::new();
    for i in 0..40 {
        let (c, token, vault) = if i % 2 == 0 {
            (a.c.clone(), a.token.clone(), a.s.vault())
        } else {
            (b.c.clone(), b.token.clone(), b.s.vault())
        };
        writes.push(tokio::spawn(async move {
            c.put(format!("{vault}/secrets/hot?api-version=7.4"))
                .bearer_auth(token)
                .json(&json!({ "value": format!("v{i}") }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let mut acknowledged = 0;
    for w in writes {
        if w.await.unwrap().unwrap() == 200 {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, 40);
    assert_eq!(a.versions("hot").await, acknowledged);
    assert_eq!(b.versions("hot").await, acknowledged);

    // A policy removed on one node denies on the other within the bound.
    let admin = a.s.b("object_id");
    assert_eq!(a.policy("remove", &admin).await, 200);
    let removed = Instant::now();
    loop {
        let (st, v) = b.get("shared").await;
        if st == 403 {
            assert_eq!(v["error"]["code"], "Forbidden", "{v}");
            break;
        }
        assert_eq!(st, 200, "{v}");
        assert!(
            removed.elapsed() < SETTINGS_BOUND + SLACK,
            "node b still serves the removed policy after {:?}",
            removed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.policy("add", &admin).await, 200);
    let added = Instant::now();
    while a.get("shared").await.0 != 200 {
        assert!(
            added.elapsed() < SETTINGS_BOUND + SLACK,
            "policy re-added on b not seen on a"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_database_outage_is_503_then_recovery_with_nothing_lost() {
    let Some(url) = server_url("a_database_outage_is_503_then_recovery_with_nothing_lost") else {
        return;
    };
    let ctl = std::env::var("COFFER_TEST_POSTGRES_CTL")
        .expect("COFFER_TEST_POSTGRES_CTL (scripts/postgres.sh prints it) to stop the server");
    let _one = ONE_AT_A_TIME.lock().await;
    let store = fresh_db(&url).await;
    let a = Node::start(&store, &root_key()).await;
    let ready = |n: &Node| {
        let c = n.c.clone();
        let u = format!("{}/readyz", n.s.vault());
        async move { c.get(u).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&a).await, 200);

    // Writes before, during and after the outage; remember what was acknowledged.
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let value = format!("before-{i}");
        assert_eq!(a.set("kept", &value).await.0, 200);
        acknowledged.push(value);
    }
    let ctl_run = |arg: &'static str| {
        let ctl = ctl.clone();
        async move {
            let st = tokio::process::Command::new("bash")
                .arg(&ctl)
                .arg(arg)
                .status()
                .await
                .unwrap();
            assert!(st.success(), "{ctl} {arg}");
        }
    };
    ctl_run("stop").await;

    // While the database is down: fast 503s in Azure's envelope, never a 500; not ready.
    for i in 0..5 {
        let asked = Instant::now();
        let (st, v) = a.set("kept", &format!("during-{i}")).await;
        assert_eq!(st, 503, "{v}");
        assert_eq!(v["error"]["code"], "ServiceUnavailable", "{v}");
        assert!(
            !v.to_string().contains("127.0.0.1"),
            "the answer names no internals: {v}"
        );
        assert!(asked.elapsed() < Duration::from_secs(15), "a request hung");
        let (st, v) = a.get("kept").await;
        assert_eq!(st, 503, "{v}");
    }
    assert_eq!(ready(&a).await, 503);

    ctl_run("start").await;
    // Service resumes by itself.
    let back = Instant::now();
    loop {
        if ready(&a).await == 200 && a.get("kept").await.0 == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(30), "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..5 {
        let value = format!("after-{i}");
        assert_eq!(a.set("kept", &value).await.0, 200);
        acknowledged.push(value);
    }
    // Nothing acknowledged was lost: the versions are exactly the acknowledged writes.
    assert_eq!(a.versions("kept").await, acknowledged.len());
    let (_, v) = a.get("kept").await;
    assert_eq!(v["value"], "after-4");
}

fn migrate(from: &str, to: &str, key: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["migrate", "--from", from, "--to", to])
        .env("COFFER_ROOT_KEY", key)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `coffer migrate` from a data directory into PostgreSQL and back: verified copies that nodes
/// serve, soft-deleted objects staying deleted, and a non-empty target refused.
#[tokio::test]
async fn migrate_round_trip_between_a_data_directory_and_postgres() {
    let Some(url) = server_url("migrate_round_trip_between_a_data_directory_and_postgres") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let key = root_key();
    let mut embedded = Server::start_with_env(&[], &[("COFFER_ROOT_KEY", &key)]);
    let e = Node {
        c: client(&embedded),
        token: embedded.token().await,
        s: embedded,
    };
    for i in 0..3 {
        assert_eq!(e.set("moved", &format!("v{i}")).await.0, 200);
    }
    assert_eq!(e.set("gone", "bye").await.0, 200);
    let r =
        e.c.delete(format!("{}/secrets/gone?api-version=7.4", e.s.vault()))
            .bearer_auth(&e.token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    embedded = e.s;
    let source_dir = embedded.data_dir().to_path_buf();
    assert!(embedded.stop().is_some_and(|st| st.success()));

    let db = fresh_db(&url).await;
    let (ok, out) = migrate(source_dir.to_str().unwrap(), &db, &key);
    assert!(ok, "{out}");
    assert!(out.contains("verified: counts and checksum match"), "{out}");
    let password = db.split('@').next().unwrap().rsplit(':').next().unwrap();
    assert!(!out.contains(password), "no password in the output: {out}");
    // Again into the same database: refused, and nothing changes.
    let (ok, again) = migrate(source_dir.to_str().unwrap(), &db, &key);
    assert!(!ok && again.contains("already holds data"), "{again}");

    let pg = Node::start(&db, &key).await;
    let (st, v) = pg.get("moved").await;
    assert_eq!((st, v["value"].as_str()), (200, Some("v2")), "{v}");
    assert_eq!(pg.versions("moved").await, 3);
    let r =
        pg.c.get(format!(
            "{}/deletedsecrets/gone?api-version=7.4",
            pg.s.vault()
        ))
        .bearer_auth(&pg.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the deleted secret stays deleted");
    drop(pg);

    // And back into a new data directory.
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("data");
    let (ok, out) = migrate(&db, back_dir.to_str().unwrap(), &key);
    assert!(ok, "{out}");
    let s = Server::start_in_with_env(&back_dir, free_port(), &[], &[("COFFER_ROOT_KEY", &key)]);
    let n = Node {
        c: client(&s),
        token: s.token().await,
        s,
    };
    let (st, v) = n.get("moved").await;
    assert_eq!((st, v["value"].as_str()), (200, Some("v2")), "{v}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Throttling across nodes: each node enforces its share of the instance's limit (the limit over
/// the live nodes), so two nodes together admit the vault's limit, not twice it.
#[tokio::test]
async fn two_nodes_share_the_throttling_budget() {
    let Some(url) = server_url("two_nodes_share_the_throttling_budget") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let limits_dir = tempfile::tempdir().unwrap();
    let limits = limits_dir.path().join("limits.toml");
    let text = crate::throttle::SMALL_LIMITS
        .replace("window_seconds = 3", "window_seconds = 20")
        .replace("all = 4", "all = 20")
        .replace("subscription_multiplier = 1", "subscription_multiplier = 5");
    std::fs::write(&limits, text).unwrap();
    let limits = limits.to_str().unwrap();
    let store = fresh_db(&url).await;
    let key = root_key();
    let start = || {
        Server::start_with_env(
            &["--store", &store, "--limits", limits],
            &[("COFFER_ROOT_KEY", &key)],
        )
    };
    let (sa, sb) = (start(), start());
    let a = Node {
        c: client(&sa),
        token: sa.token().await,
        s: sa,
    };
    let b = Node {
        c: client(&sb),
        token: sb.token().await,
        s: sb,
    };
    assert_eq!(a.set("budget", "x").await.0, 200);
    // Both nodes have seen each other's heartbeat (every 5 s), and the burst fits in one window.
    tokio::time::sleep(Duration::from_secs(6)).await;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if now % 20 < 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut admitted = [0, 0];
    let mut refused = [0, 0];
    for (i, n) in [&a, &b].into_iter().enumerate() {
        for _ in 0..15 {
            let (st, v) = n.get("budget").await;
            match st {
                200 => admitted[i] += 1,
                429 => {
                    assert_eq!(v["error"]["code"], "Throttled", "{v}");
                    refused[i] += 1;
                }
                other => panic!("unexpected {other}: {v}"),
            }
        }
    }
    assert!(
        admitted[0] <= 10 && admitted[1] <= 10,
        "each node admits at most its half of 20: {admitted:?}"
    );
    assert!(
        admitted[0] + admitted[1] >= 18,
        "together they admit (about) the limit: {admitted:?}"
    );
    assert!(refused[0] > 0 && refused[1] > 0, "{refused:?}");
}
