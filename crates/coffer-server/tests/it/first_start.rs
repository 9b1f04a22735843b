//! The first ten minutes of a new user: one server per data directory, clear refusals for a
//! bad set-up that leave nothing behind, `--listen` host names, plain logs off a terminal,
//! `--ephemeral`, `coffer hosts --write`, and the bootstrap managed identity whose printed
//! header gets a token the default vault accepts.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Server, url};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// Runs a `coffer serve` that is expected to fail at once: its exit status and stderr.
fn failing_serve(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("serve")
        .args(args)
        .env("COFFER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("coffer serve {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), err)
}

/// A server started by hand, with both streams in files, stopped by its pid.
struct Spawned {
    child: std::process::Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
    _logs: tempfile::TempDir,
}

impl Spawned {
    fn start(args: &[&str]) -> Self {
        let logs = tempfile::tempdir().unwrap();
        let out = logs.path().join("stdout");
        let err = logs.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg("serve")
            .args(args)
            .env("COFFER_LOG", "info")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let s = Self {
            child,
            out,
            err,
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !s.stdout().contains("ready") {
            assert!(Instant::now() < deadline, "not ready: {}", s.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "clean exit: {}", self.stderr());
                break;
            }
            assert!(Instant::now() < deadline, "did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr()
    }
}

fn client_for(port: u16, ca: &Path) -> reqwest::Client {
    let ca = std::fs::read(ca).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false);
    for h in ["login.localhost", "dev.vault.localhost"] {
        b = b.resolve(h, addr);
    }
    b.build().unwrap()
}

#[test]
fn a_second_server_on_a_data_directory_in_use_fails_at_once_and_changes_nothing() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let before = std::fs::read(s.data_dir().join("bootstrap.json")).unwrap();
    let port = free_port().to_string();
    let (ok, err) = failing_serve(&["--data-dir", &dir, "--listen", &format!("127.0.0.1:{port}")]);
    assert!(!ok);
    assert!(
        err.contains("is in use by another coffer serve (pid "),
        "{err}"
    );
    assert!(err.contains(&dir), "{err}");
    assert_eq!(
        std::fs::read(s.data_dir().join("bootstrap.json")).unwrap(),
        before
    );
}

#[test]
fn a_port_in_use_is_named_and_no_data_directory_is_made() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("coffer-data");
    let (ok, err) = failing_serve(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(!ok);
    assert!(
        err.contains(&format!("port {port} is already in use")),
        "{err}"
    );
    assert!(err.contains("--listen 127.0.0.1:PORT"), "{err}");
    assert!(
        !dir.exists(),
        "a failed start leaves no half-made directory"
    );
}

#[test]
fn bad_data_directories_and_listen_values_are_named_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let port = format!("127.0.0.1:{}", free_port());
    let (ok, err) = failing_serve(&["--data-dir", file.to_str().unwrap(), "--listen", &port]);
    assert!(!ok);
    assert!(err.contains("is a file, not a directory"), "{err}");
    assert!(err.contains(file.to_str().unwrap()), "{err}");

    let under = file.join("data");
    let (ok, err) = failing_serve(&["--data-dir", under.to_str().unwrap(), "--listen", &port]);
    assert!(!ok);
    assert!(err.contains("cannot create the data directory"), "{err}");
    assert!(err.contains(under.to_str().unwrap()), "{err}");
    // Said once, not repeated by each layer.
    assert_eq!(err.matches("cannot create").count(), 1, "{err}");

    let fresh = tmp.path().join("fresh");
    for bad in ["localhost", "127.0.0.1:http", "127.0.0.1:99999"] {
        let (ok, err) = failing_serve(&["--data-dir", fresh.to_str().unwrap(), "--listen", bad]);
        assert!(!ok);
        assert!(
            err.contains(&format!("--listen {bad}")) && err.contains("ADDRESS:PORT"),
            "{err}"
        );
    }
    assert!(!fresh.exists());
}

#[test]
fn a_read_only_data_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let port = format!("127.0.0.1:{}", free_port());
    let bin = env!("CARGO_BIN_EXE_coffer");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let out = if root {
        // Root ignores permission bits: make the directory read-only with a bind mount in a
        // private mount namespace instead.
        Command::new("unshare")
            .args(["-m", "sh", "-c", r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" serve --data-dir "$1" --listen "$3""#, "sh"])
            .args([dir.to_str().unwrap(), bin, &port])
            .env("COFFER_LOG", "warn")
            .output()
            .unwrap()
    } else {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        Command::new(bin)
            .args([
                "serve",
                "--data-dir",
                dir.to_str().unwrap(),
                "--listen",
                &port,
            ])
            .env("COFFER_LOG", "warn")
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not writable"), "{err}");
    assert!(err.contains(dir.to_str().unwrap()), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_takes_a_host_name_and_logs_are_plain_off_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = Spawned::start(&[
        "--data-dir",
        tmp.path().to_str().unwrap(),
        "--listen",
        &format!("localhost:{port}"),
    ]);
    let out = s.stdout();
    assert!(
        out.contains(&format!("listening on 127.0.0.1:{port}")),
        "{out}"
    );
    let resp = client_for(port, &tmp.path().join("tls/ca.pem"))
        .get(format!("https://login.localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let err = s.stop();
    assert!(
        !err.contains('\u{1b}'),
        "no escape codes in a log file: {err}"
    );
    assert!(
        !out.contains('\u{1b}'),
        "no escape codes in the summary: {out}"
    );
    assert!(err.contains("peer=127.0.0.1:"), "{err}");
    assert!(!err.contains("Some("), "{err}");
}

#[test]
fn ephemeral_data_directories_are_removed_at_exit() {
    let port = free_port();
    let s = Spawned::start(&["--ephemeral", "--listen", &format!("127.0.0.1:{port}")]);
    let out = s.stdout();
    let first = out.lines().next().unwrap();
    let dir = first
        .split("(data directory ")
        .nth(1)
        .and_then(|r| r.strip_suffix(", removed at exit)"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(Path::new(&dir).join("bootstrap.json").exists());
    s.stop();
    assert!(!Path::new(&dir).exists(), "{dir} is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_write_adds_each_vault_once() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_owned();
    let (ok, _, err) = coffer(&["vault", "create", "--name", "team-kv", "--data-dir", &dir]);
    assert!(ok, "{err}");
    let (ok, line, err) = coffer(&["hosts", "--data-dir", &dir]);
    assert!(ok, "{err}");
    assert_eq!(
        line.trim(),
        "127.0.0.1 login.localhost management.localhost graph.localhost vault.localhost dev.vault.localhost team-kv.vault.localhost"
    );
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let h = hosts.to_str().unwrap();
    let (ok, first, err) = coffer(&["hosts", "--data-dir", &dir, "--write", h]);
    assert!(ok && first.contains("added"), "{first} {err}");
    let (ok, second, err) = coffer(&["hosts", "--data-dir", &dir, "--write", h]);
    assert!(ok && second.contains("nothing to add"), "{second} {err}");
    let text = std::fs::read_to_string(&hosts).unwrap();
    assert_eq!(text.matches("team-kv.vault.localhost").count(), 1, "{text}");
    assert!(text.starts_with("127.0.0.1 localhost\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_identity_header_gets_a_token_the_default_vault_accepts_across_restarts() {
    let mut s = Server::start();
    let header_file = s.data_dir().join("identity-header");
    let header = std::fs::read_to_string(&header_file).unwrap();
    assert_eq!(s.b("identity_header"), header);
    let (ok, env, _) = coffer(&["env", "--data-dir", s.data_dir().to_str().unwrap()]);
    assert!(ok);
    assert!(env.contains(&format!(
        "export IDENTITY_HEADER=$(cat {})",
        header_file.display()
    )));
    s.restart(&[]);
    assert_eq!(std::fs::read_to_string(&header_file).unwrap(), header);
    let resp = s
        .client()
        .get(format!(
            "{}/msi/token?api-version=2019-08-01&resource={}",
            s.b("authority"),
            s.b("vault_resource")
        ))
        .header("X-IDENTITY-HEADER", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let resp = s
        .client()
        .put(url(&s, "/secrets/from-dev-app"))
        .bearer_auth(token)
        .json(&serde_json::json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}
