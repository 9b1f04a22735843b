//! `coffer`: a self-hosted Azure Key Vault. `coffer serve` runs every role behind one TLS port.

mod ad_cmd;
mod audit_setup;
mod client;
mod conn_limits;
mod datadir;
mod diag_cmd;
mod doctor_cmd;
mod env_cmd;
mod fsutil;
mod gateway_cmd;
mod gateway_glue;
mod listen;
mod logs_cmd;
mod metrics_srv;
mod migrate_cmd;
mod port_cmd;
mod refusal_io;
mod retry;
mod seed_cmd;
mod serve;
mod setup;
mod store_setup;
mod summary;
mod test_cmd;
mod tls;
mod token_cmd;
mod trust;
mod vault_cmd;
mod vault_reader;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "coffer", version, about = "A self-hosted Azure Key Vault")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: token issuer and vaults on one HTTPS port.
    Serve(Box<ServeArgs>),
    /// Copy a whole instance between a data directory and PostgreSQL (either way) into an empty
    /// target, and verify the copy's counts and checksum.
    Migrate(migrate_cmd::MigrateArgs),
    /// Get, decode and check access tokens; rotate the signing keys.
    #[command(subcommand)]
    Token(token_cmd::TokenCommand),
    /// Applications, service principals and users of the directory.
    Ad {
        #[command(subcommand)]
        command: ad_cmd::AdCommand,
        #[command(flatten)]
        common: ad_cmd::Common,
    },
    /// User-assigned managed identities.
    Identity {
        #[command(subcommand)]
        command: ad_cmd::IdentityCommand,
        #[command(flatten)]
        common: ad_cmd::Common,
    },
    /// Vaults as ARM resources: create, show, list, delete, recover, purge, access policies and
    /// firewall rules, with `az keyvault`'s flag names.
    Vault {
        #[command(subcommand)]
        command: vault_cmd::VaultCommand,
        #[command(flatten)]
        common: ad_cmd::Common,
    },
    /// API Management services (gateways): create, show, host names, APIs, subscriptions.
    Gateway {
        #[command(subcommand)]
        command: gateway_cmd::GatewayCommand,
        #[command(flatten)]
        common: ad_cmd::Common,
    },
    /// A vault's audit log (turn it on with `coffer vault diagnostics set`): JSON lines or a
    /// table, `-f` to follow.
    Logs {
        #[command(flatten)]
        args: logs_cmd::LogsArgs,
        #[command(flatten)]
        common: ad_cmd::Common,
    },
    /// Why a request to a vault failed, and the command that fixes it: by request id (from the
    /// audit log) or for a token and an operation.
    Doctor {
        #[command(flatten)]
        args: doctor_cmd::DoctorArgs,
        #[command(flatten)]
        common: ad_cmd::Common,
    },
    /// Print the `export` lines for DefaultAzureCredential and CA trust (the block `coffer
    /// serve` prints); `eval "$(coffer env)"` sets them.
    Env(env_cmd::EnvArgs),
    /// Print the hosts-file line for the role host names and every vault, or with --write add
    /// the missing names to a hosts file (idempotent).
    Hosts(env_cmd::HostsArgs),
    /// A benchmarking tool: fill a vault with generated secrets through the storage layer
    /// (sealed as `SecretSet` seals them), with the store selection of `coffer serve`.
    Seed(seed_cmd::SeedArgs),
}

/// When to colour output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to colour a stream that is (or is not) a terminal.
    pub(crate) fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// Options of `coffer serve`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ServeArgs {
    /// Directory for the database, keys and certificates (created if missing).
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
    pub(crate) data_dir: PathBuf,
    /// Address (or host name) and port to listen on, e.g. 127.0.0.1:8443, localhost:8443 or
    /// 0.0.0.0:8443; port 0 takes any free port.
    #[arg(long, env = "COFFER_LISTEN", default_value = "127.0.0.1:8443")]
    pub(crate) listen: String,
    /// Use a new temporary data directory, removed at exit (for test runs and CI); --data-dir is
    /// ignored.
    #[arg(long)]
    pub(crate) ephemeral: bool,
    /// Where vault data and the audit log live: the embedded database in --data-dir (the
    /// default), or a shared PostgreSQL, `postgres://user:password@host:port/db[?sslmode=require]`,
    /// for several nodes behind a load balancer (give every node the same COFFER_ROOT_KEY).
    #[arg(long, env = "COFFER_STORE", value_name = "URL")]
    pub(crate) store: Option<String>,
    /// PEM CA certificates to trust for the PostgreSQL server's TLS certificate, besides the
    /// system's roots (with `sslmode=require` in --store).
    #[arg(long, env = "COFFER_STORE_CA", value_name = "FILE", requires = "store")]
    pub(crate) store_ca: Option<PathBuf>,
    /// Most connections to PostgreSQL this node opens (--store postgres://...).
    #[arg(long, env = "COFFER_STORE_MAX_CONNECTIONS", default_value_t = 16)]
    pub(crate) store_max_connections: usize,
    /// DNS domain of the roles: login.<domain>, <vault>.vault.<domain>.
    #[arg(long, env = "COFFER_DOMAIN", default_value = "localhost")]
    pub(crate) domain: String,
    /// Port clients use in URLs, when it differs from the listening port (behind a port mapping).
    #[arg(long, env = "COFFER_PUBLIC_PORT")]
    pub(crate) public_port: Option<u16>,
    /// PEM certificate chain to serve instead of the generated one.
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub(crate) token_lifetime: i64,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    pub(crate) log_format: String,
    /// Colour in logs and the summary: auto (only on a terminal, and not with NO_COLOR), always
    /// or never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub(crate) color: Color,
    /// PKCS#11 module that holds -HSM keys (for example SoftHSM's libsofthsm2.so).
    #[arg(long, env = "COFFER_PKCS11_MODULE", requires_all = ["pkcs11_token", "pkcs11_pin"])]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token to use.
    #[arg(long, env = "COFFER_PKCS11_TOKEN", requires = "pkcs11_module")]
    pub(crate) pkcs11_token: Option<String>,
    /// User PIN of the token (prefer the environment variable over the command line).
    #[arg(
        long,
        env = "COFFER_PKCS11_PIN",
        hide_env_values = true,
        requires = "pkcs11_module"
    )]
    pub(crate) pkcs11_pin: Option<String>,
    /// A proxy (address or CIDR range) whose X-Forwarded-For is believed: the client address is
    /// then the right-most forwarded hop that is not a trusted proxy. Repeatable.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub(crate) trusted_proxies: Vec<String>,
    /// Refuse requests (503) to vaults whose audit log is on while records cannot be written,
    /// instead of serving them unaudited as Azure does.
    #[arg(long)]
    pub(crate) audit_fail_closed: bool,
    /// Throttling limits (TOML, the same keys as the embedded default, Key Vault's table: see
    /// the README); `off` serves without throttling.
    #[arg(long, value_name = "FILE|off")]
    pub(crate) limits: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP, its own listener; off by
    /// default), e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// Days audit records are kept; 0 keeps them for ever.
    #[arg(long, default_value_t = coffer_service::DEFAULT_RETENTION_DAYS)]
    pub(crate) audit_retention_days: u32,
    /// Most connections held open at once; at the cap a new connection takes the place of the
    /// longest-idle one, and is refused only when every connection is serving a request. Kept
    /// below the descriptor limit.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS", default_value_t = 4096)]
    pub(crate) max_connections: usize,
    /// Most connections one client address may hold (its longest-idle one makes room likewise).
    #[arg(
        long,
        env = "COFFER_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub(crate) max_connections_per_address: usize,
    /// Seconds a client has to send a request's whole header block (HTTP/1.1).
    #[arg(long, default_value_t = 10)]
    pub(crate) header_read_timeout: u64,
    /// Seconds a client may pause while sending a request body before the request fails (408).
    #[arg(long, default_value_t = 20)]
    pub(crate) body_idle_timeout: u64,
    /// Seconds a connection may stay open with no request in flight (TLS up and silent, between
    /// keep-alive requests, idle HTTP/2).
    #[arg(long, default_value_t = 60)]
    pub(crate) idle_timeout: u64,
    /// Seconds between HTTP/2 PINGs on a connection; one not answered within 20 s closes it.
    #[arg(long, default_value_t = 30)]
    pub(crate) h2_ping_interval: u64,
    /// A second listener (ADDRESS:PORT) serving only the API gateway: a connection without SNI
    /// gets the default SSL binding (else the built-in certificate), an unknown name is refused.
    #[arg(long, env = "COFFER_GATEWAY_LISTEN", value_name = "ADDR")]
    pub(crate) gateway_listen: Option<String>,
    /// How often certificates that gateway hostnames and backends take from vaults by a
    /// versionless id are read again: seconds, or with a unit (30s, 5m, 4h).
    #[arg(long, default_value = "4h", value_name = "DURATION")]
    pub(crate) gateway_poll_interval: String,
    /// How long a gateway backend may take to send its response head before the client gets
    /// 504: seconds, or with a unit.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub(crate) gateway_backend_timeout: String,
    /// TESTS ONLY: while this file exists, every audit append fails (to exercise /readyz and
    /// --audit-fail-closed).
    #[arg(long, hide = true)]
    pub(crate) test_only_audit_fault_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("coffer: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            init_tracing(&args.log_format, args.color);
            rt.block_on(setup::serve(*args))
        }
        Command::Token(cmd) => rt.block_on(token_cmd::run(cmd)),
        Command::Ad { command, common } => rt.block_on(ad_cmd::run_ad(command, common)),
        Command::Identity { command, common } => rt.block_on(ad_cmd::run_identity(command, common)),
        Command::Vault { command, common } => rt.block_on(vault_cmd::run(command, common)),
        Command::Gateway { command, common } => rt.block_on(gateway_cmd::run(command, common)),
        Command::Migrate(args) => rt.block_on(migrate_cmd::run(args)),
        Command::Logs { args, common } => rt.block_on(logs_cmd::run(args, common)),
        Command::Doctor { args, common } => rt.block_on(doctor_cmd::run(args, common)),
        Command::Env(args) => env_cmd::run_env(&args),
        Command::Hosts(args) => rt.block_on(env_cmd::run_hosts(args)),
        Command::Seed(args) => rt.block_on(seed_cmd::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: &str, color: Color) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Escape codes only where a terminal shows them, never in a log file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color.enabled(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every flag and argument of every verb says what it is for in `--help`.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(format!("{p} (command)"));
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "coffer", &mut missing);
        assert!(
            missing.is_empty(),
            "without help text:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn token_decode_shows_past_times_as_ago() {
        assert!(crate::token_cmd::human_time(1_000, 1_090).ends_with("(1m30s ago)"));
        assert!(crate::token_cmd::human_time(1_090, 1_000).ends_with("(in 1m30s)"));
    }
}
