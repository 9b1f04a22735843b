//! `coffer ad ...` and `coffer identity ...`: the directory and managed identities, through the
//! Graph-shaped and ARM-shaped APIs of a running server, as the bootstrap admin. Every listing
//! shows object ids, since display names need not be unique.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Contract, http, print_output, send_json};

/// Where to find the server and how to print.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// Data directory of the server: its bootstrap.json has the admin's credentials and the CA.
    #[arg(
        long,
        env = "COFFER_DATA_DIR",
        default_value = "coffer-data",
        global = true
    )]
    pub(crate) data_dir: PathBuf,
    /// Output format: json or table.
    #[arg(long, short = 'o', default_value = "json", global = true)]
    pub(crate) output: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AdCommand {
    /// Applications (each with its service principal).
    #[command(subcommand)]
    App(AppCommand),
    /// Service principals.
    #[command(subcommand)]
    Sp(SpCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum AppCommand {
    /// Register an application with its service principal and a first client secret.
    Create {
        /// Display name (need not be unique).
        #[arg(long)]
        display_name: String,
    },
    /// List applications (object ids beside display names).
    List {
        /// Only those with this display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Show one application.
    Show {
        /// Application (client) id or object id.
        #[arg(long)]
        id: String,
    },
    /// Delete an application and its service principal.
    Delete {
        /// Application (client) id or object id.
        #[arg(long)]
        id: String,
    },
    /// Client credentials of an application.
    #[command(subcommand)]
    Credential(CredentialCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum CredentialCommand {
    /// Add a new client secret and print it (the only time it is shown).
    Reset {
        /// Application (client) id or object id.
        #[arg(long)]
        id: String,
        /// Display name of the new secret.
        #[arg(long, default_value = "coffer-cli")]
        display_name: String,
    },
    /// Register a certificate (PEM or DER file) for client assertions.
    AddCert {
        /// Application (client) id or object id.
        #[arg(long)]
        id: String,
        /// Certificate file (PEM or DER), public part only.
        #[arg(long)]
        cert: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum SpCommand {
    /// List service principals.
    List {
        /// Only those with this display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Show or change Coffer's own flags of a service principal or managed identity.
    Update {
        /// Object id of the service principal (or the managed identity's principal id).
        #[arg(long)]
        id: String,
        /// Trusted services pass vault firewalls whose bypass is AzureServices.
        #[arg(long, action = clap::ArgAction::Set)]
        trusted_service: Option<bool>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// Create a user who signs in with a password (the password grant).
    Create {
        /// Display name (need not be unique).
        #[arg(long)]
        display_name: String,
        /// Sign-in name, e.g. alice@coffer.local.
        #[arg(long)]
        user_principal_name: String,
        /// The user's password.
        #[arg(long)]
        password: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum IdentityCommand {
    /// Create a user-assigned managed identity.
    Create {
        /// Name of the identity.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the bootstrap one).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// List user-assigned managed identities.
    List {
        /// Only identities of this resource group.
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// Delete a user-assigned managed identity.
    Delete {
        /// Name of the identity.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the bootstrap one).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
}

struct Session {
    contract: Contract,
    http: reqwest::Client,
    token: String,
    base: String,
}

impl Session {
    async fn graph(data_dir: &Path) -> Result<Self> {
        let contract = Contract::load(data_dir)?;
        let base = contract
            .graph_url
            .clone()
            .context("bootstrap.json has no graph_url: restart the server with this version")?;
        let http = http(contract.ca_cert.as_deref())?;
        let token = contract.token(&http, &base).await?;
        Ok(Self {
            contract,
            http,
            token,
            base,
        })
    }

    async fn management(data_dir: &Path) -> Result<Self> {
        let contract = Contract::load(data_dir)?;
        let base = contract.management_url.clone().context(
            "bootstrap.json has no management_url: restart the server with this version",
        )?;
        let http = http(contract.ca_cert.as_deref())?;
        let token = contract.token(&http, &format!("{base}/")).await?;
        Ok(Self {
            contract,
            http,
            token,
            base,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        send_json(req).await
    }

    /// Finds an application by app id or object id; returns its Graph object.
    async fn app(&self, id: &str) -> Result<Value> {
        let by_app_id = format!("/v1.0/applications(appId='{id}')");
        match self.call(reqwest::Method::GET, &by_app_id, None).await {
            Ok(v) => Ok(v),
            Err(_) => self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1.0/applications/{id}"),
                    None,
                )
                .await
                .with_context(|| format!("no application with app id or object id '{id}'")),
        }
    }
}

const APP_COLUMNS: &[(&str, &str)] = &[
    ("DisplayName", "displayName"),
    ("AppId", "appId"),
    ("ObjectId", "id"),
];

pub(crate) async fn run_ad(cmd: AdCommand, common: Common) -> Result<()> {
    let table = common.output == "table";
    let s = Session::graph(&common.data_dir).await?;
    use reqwest::Method as M;
    match cmd {
        AdCommand::App(AppCommand::Create { display_name }) => {
            let app = s
                .call(
                    M::POST,
                    "/v1.0/applications",
                    Some(json!({"displayName": display_name})),
                )
                .await?;
            let app_id = app["appId"].as_str().unwrap_or_default().to_owned();
            let sp = s
                .call(
                    M::POST,
                    "/v1.0/servicePrincipals",
                    Some(json!({"appId": app_id})),
                )
                .await?;
            let out = json!({
                "displayName": app["displayName"],
                "appId": app_id,
                "id": app["id"],
                "servicePrincipalObjectId": sp["id"],
                "tenant": s.contract.tenant_id,
            });
            print_output(
                &out,
                table,
                &[
                    ("DisplayName", "displayName"),
                    ("AppId", "appId"),
                    ("ObjectId", "id"),
                    ("SpObjectId", "servicePrincipalObjectId"),
                ],
            )
        }
        AdCommand::App(AppCommand::List { display_name }) => {
            let list = s.call(M::GET, "/v1.0/applications", None).await?;
            let items: Vec<Value> = list["value"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| {
                    display_name
                        .as_deref()
                        .is_none_or(|d| a["displayName"] == d)
                })
                .collect();
            print_output(&Value::Array(items), table, APP_COLUMNS)
        }
        AdCommand::App(AppCommand::Show { id }) => {
            print_output(&s.app(&id).await?, table, APP_COLUMNS)
        }
        AdCommand::App(AppCommand::Delete { id }) => {
            let app = s.app(&id).await?;
            let object_id = app["id"].as_str().unwrap_or_default();
            s.call(M::DELETE, &format!("/v1.0/applications/{object_id}"), None)
                .await?;
            print_output(
                &json!({"deleted": object_id, "appId": app["appId"]}),
                table,
                APP_COLUMNS,
            )
        }
        AdCommand::App(AppCommand::Credential(CredentialCommand::Reset { id, display_name })) => {
            let app = s.app(&id).await?;
            let object_id = app["id"].as_str().unwrap_or_default();
            let cred = s
                .call(
                    M::POST,
                    &format!("/v1.0/applications/{object_id}/addPassword"),
                    Some(json!({"passwordCredential": {"displayName": display_name}})),
                )
                .await?;
            let out = json!({
                "appId": app["appId"],
                "password": cred["secretText"],
                "keyId": cred["keyId"],
                "tenant": s.contract.tenant_id,
            });
            print_output(
                &out,
                table,
                &[
                    ("AppId", "appId"),
                    ("Password", "password"),
                    ("Tenant", "tenant"),
                ],
            )
        }
        AdCommand::App(AppCommand::Credential(CredentialCommand::AddCert { id, cert })) => {
            let bytes =
                std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
            let der = pem_or_der(&bytes)?;
            let app = s.app(&id).await?;
            let object_id = app["id"].as_str().unwrap_or_default();
            let mut creds: Vec<Value> = app["keyCredentials"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            creds.push(json!({
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": base64::engine::general_purpose::STANDARD.encode(&der),
                "displayName": cert.file_name().map(|n| n.to_string_lossy().into_owned()),
            }));
            s.call(
                M::PATCH,
                &format!("/v1.0/applications/{object_id}"),
                Some(json!({"keyCredentials": creds})),
            )
            .await?;
            print_output(
                &s.app(&id).await?["keyCredentials"],
                table,
                &[
                    ("KeyId", "keyId"),
                    ("Thumbprint", "customKeyIdentifier"),
                    ("End", "endDateTime"),
                ],
            )
        }
        AdCommand::Sp(SpCommand::Update {
            id,
            trusted_service,
        }) => {
            let arm = crate::vault_cmd::Arm::connect(&common).await?;
            let path = format!(
                "/providers/Coffer.Directory/servicePrincipals/{}",
                crate::diag_cmd::percent_encode(&id)
            );
            let v = match trusted_service {
                Some(t) => {
                    arm.call(M::PATCH, &path, Some(json!({"trustedService": t})))
                        .await?
                }
                None => arm.call(M::GET, &path, None).await?,
            };
            print_output(
                &v,
                table,
                &[
                    ("ObjectId", "objectId"),
                    ("Type", "principalType"),
                    ("DisplayName", "displayName"),
                    ("TrustedService", "trustedService"),
                ],
            )
        }
        AdCommand::Sp(SpCommand::List { display_name }) => {
            let path = match display_name {
                Some(d) => format!(
                    "/v1.0/servicePrincipals?$filter=displayName eq '{}'",
                    d.replace('\'', "''")
                ),
                None => "/v1.0/servicePrincipals".to_owned(),
            };
            let list = s.call(M::GET, &path, None).await?;
            print_output(
                &list["value"],
                table,
                &[
                    ("DisplayName", "displayName"),
                    ("AppId", "appId"),
                    ("ObjectId", "id"),
                ],
            )
        }
        AdCommand::User(UserCommand::Create {
            display_name,
            user_principal_name,
            password,
        }) => {
            let user = s
                .call(
                    M::POST,
                    "/v1.0/users",
                    Some(json!({
                        "displayName": display_name,
                        "userPrincipalName": user_principal_name,
                        "accountEnabled": true,
                        "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false},
                    })),
                )
                .await?;
            print_output(
                &user,
                table,
                &[
                    ("DisplayName", "displayName"),
                    ("UPN", "userPrincipalName"),
                    ("ObjectId", "id"),
                ],
            )
        }
    }
}

fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    if let Some(start) = text.find("-----BEGIN CERTIFICATE-----") {
        let body: String = text[start + 27..]
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        return base64::engine::general_purpose::STANDARD
            .decode(body)
            .context("the PEM certificate is not valid base64");
    }
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    bail!("the file holds neither a PEM nor a DER certificate")
}

const IDENTITY_COLUMNS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("ClientId", "properties.clientId"),
    ("PrincipalId", "properties.principalId"),
    ("ResourceGroup", "resourceGroup"),
];

pub(crate) async fn run_identity(cmd: IdentityCommand, common: Common) -> Result<()> {
    let table = common.output == "table";
    let s = Session::management(&common.data_dir).await?;
    let sub = s
        .contract
        .subscription_id
        .clone()
        .context("bootstrap.json has no subscription_id")?;
    let default_rg = s
        .contract
        .resource_group
        .clone()
        .unwrap_or_else(|| "coffer-rg".to_owned());
    let path = |rg: &str, name: Option<&str>| {
        let mut p = format!(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
        );
        if let Some(n) = name {
            p.push('/');
            p.push_str(n);
        }
        p + "?api-version=2024-11-30"
    };
    use reqwest::Method as M;
    match cmd {
        IdentityCommand::Create {
            name,
            resource_group,
        } => {
            let rg = resource_group.unwrap_or(default_rg);
            let v = s
                .call(
                    M::PUT,
                    &path(&rg, Some(&name)),
                    Some(json!({"location": "local"})),
                )
                .await?;
            print_output(&with_rg(v, &rg), table, IDENTITY_COLUMNS)
        }
        IdentityCommand::List { resource_group } => {
            let (v, rg) = match resource_group {
                Some(rg) => (s.call(M::GET, &path(&rg, None), None).await?, Some(rg)),
                None => (
                    s.call(
                        M::GET,
                        &format!("/subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2024-11-30"),
                        None,
                    )
                    .await?,
                    None,
                ),
            };
            let items: Vec<Value> = v["value"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|i| {
                    let rg = rg.clone().unwrap_or_else(|| rg_of(&i));
                    with_rg(i, &rg)
                })
                .collect();
            print_output(&Value::Array(items), table, IDENTITY_COLUMNS)
        }
        IdentityCommand::Delete {
            name,
            resource_group,
        } => {
            let rg = resource_group.unwrap_or(default_rg);
            s.call(M::DELETE, &path(&rg, Some(&name)), None).await?;
            print_output(
                &json!({"deleted": name, "resourceGroup": rg}),
                table,
                &[("Deleted", "deleted")],
            )
        }
    }
}

fn rg_of(item: &Value) -> String {
    let id = item["id"].as_str().unwrap_or_default();
    let parts: Vec<&str> = id.split('/').collect();
    parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| parts.get(i + 1))
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

fn with_rg(mut v: Value, rg: &str) -> Value {
    if v.is_object() {
        v["resourceGroup"] = json!(rg);
    }
    v
}
