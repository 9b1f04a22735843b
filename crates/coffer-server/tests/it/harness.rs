//! Starts `coffer serve` in a temporary data directory on a free loopback port, and gives tests an
//! HTTPS client that resolves Coffer's host names to that port and trusts its CA.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) struct Server {
    child: Option<Child>,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub(crate) port: u16,
    pub(crate) boot: Value,
    pub(crate) ready_ms: u128,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub(crate) fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in(&dir, free_port());
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server in a fresh directory with extra `coffer serve` options.
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in_with(&dir, free_port(), extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts (or restarts) a server on an existing data directory.
    pub(crate) fn start_in(dir: &Path, port: u16) -> Self {
        Self::start_in_with(dir, port, &[])
    }

    /// Starts (or restarts) a server on an existing data directory with extra options.
    pub(crate) fn start_in_with(dir: &Path, port: u16, extra: &[&str]) -> Self {
        Self::start_in_with_env(dir, port, extra, &[])
    }

    /// Starts a server in a fresh directory with extra options and environment variables.
    pub(crate) fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in_with_env(&dir, free_port(), extra, env);
        s._tmp = Some(tmp);
        s
    }

    /// Starts (or restarts) a server on an existing data directory with extra options and
    /// environment variables.
    pub(crate) fn start_in_with_env(
        dir: &Path,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .envs(env.iter().copied())
            .env("COFFER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("server did not become ready");
        let ready_ms = started.elapsed().as_millis();
        let boot: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap())
                .unwrap();
        Self {
            child: Some(child),
            dir: dir.to_path_buf(),
            _tmp: None,
            port,
            boot,
            ready_ms,
        }
    }

    /// Stops the process with SIGTERM (asserting a clean exit) and starts it again on the same
    /// directory, port and extra options.
    pub(crate) fn restart(&mut self, extra: &[&str]) {
        assert!(self.stop().is_some_and(|st| st.success()), "clean exit");
        let mut next = Self::start_in_with(&self.dir, self.port, extra);
        next._tmp = self._tmp.take();
        *self = next;
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn b(&self, key: &str) -> String {
        self.boot[key].as_str().unwrap_or_default().to_owned()
    }

    pub(crate) fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// The builder behind [`Self::client`], for clients that need more settings (say, not
    /// following redirects).
    pub(crate) fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = std::fs::read(self.b("ca_cert")).unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .tls_built_in_root_certs(false);
        for host in [
            "login.localhost",
            "dev.vault.localhost",
            "nosuch.vault.localhost",
            "vault.localhost",
            "management.localhost",
            "graph.localhost",
        ] {
            b = b.resolve(host, addr);
        }
        b
    }

    pub(crate) fn vault(&self) -> String {
        self.b("vault_url")
    }

    /// A token for the vault resource from the v2 endpoint with the bootstrap credentials.
    pub(crate) async fn token(&self) -> String {
        let resp = self
            .client()
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.b("authority"),
                self.b("tenant_id")
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.b("client_id")),
                ("client_secret", &self.b("client_secret")),
                ("scope", &format!("{}/.default", self.b("vault_resource"))),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// A token for `resource` (v1 endpoint, `resource=`) with the bootstrap credentials, asked
    /// through `c` (a client that resolves the login host).
    pub(crate) async fn token_for(&self, c: &reqwest::Client, resource: &str) -> String {
        let r = c
            .post(format!(
                "{}/{}/oauth2/token",
                self.b("authority"),
                self.b("tenant_id")
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.b("client_id")),
                ("client_secret", &self.b("client_secret")),
                ("resource", resource),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// Kills the process without letting it shut down (SIGKILL).
    pub(crate) fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Stops the process with SIGTERM and returns its exit status.
    pub(crate) fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let pid = c.id() as i32;
        sigterm(pid);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() > deadline {
                c.kill().unwrap();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sigterm(pid: i32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `?api-version=7.6` appended to a vault path.
pub(crate) fn url(s: &Server, path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{}{path}{sep}api-version=7.6", s.vault())
}
