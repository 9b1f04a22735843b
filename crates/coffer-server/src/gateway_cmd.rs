//! `coffer gateway ...`: API Management services (`Microsoft.ApiManagement/service`) through the
//! management API of a running server as the bootstrap admin, with `az apim`'s verb and flag
//! names where they exist: create, show (with each host name's certificate status and reason),
//! list, delete, identity, host names, API import and listing, subscriptions and their keys.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use reqwest::Method as M;
use serde_json::{Value, json};

use crate::ad_cmd::Common;
use crate::client::print_output;
use crate::vault_cmd::Arm;

#[derive(Subcommand, Debug)]
pub(crate) enum GatewayCommand {
    /// Create (or replace) a service.
    Create {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// Location name (Coffer's own is local).
        #[arg(long, short = 'l', default_value = "local")]
        location: String,
        /// Publisher e-mail address.
        #[arg(long, default_value = "admin@contoso.test")]
        publisher_email: String,
        /// Publisher name.
        #[arg(long, default_value = "Contoso")]
        publisher_name: String,
        /// Give the service a system-assigned identity.
        #[arg(long)]
        enable_managed_identity: bool,
    },
    /// Show a service, with each host name's certificate and status.
    Show {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// List services.
    List {
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// Delete a service with its APIs, subscriptions and identity.
    Delete {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// Set the identity: None, SystemAssigned, UserAssigned or "SystemAssigned, UserAssigned".
    Identity {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// Identity type: None, SystemAssigned, UserAssigned or "SystemAssigned, UserAssigned".
        #[arg(long = "type")]
        kind: String,
        /// Resource ids of user-assigned identities.
        #[arg(long, num_args = 1..)]
        user_assigned: Vec<String>,
    },
    /// Custom host names.
    #[command(subcommand)]
    Hostname(HostnameCommand),
    /// APIs.
    #[command(subcommand)]
    Api(ApiCommand),
    /// Subscriptions.
    #[command(subcommand)]
    Subscription(SubscriptionCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum HostnameCommand {
    /// Add or replace a host name (certificate from a vault secret, or an uploaded PFX).
    Set {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// The custom host name (wildcards such as *.contoso.test allowed).
        #[arg(long)]
        host_name: String,
        /// Host name type: Proxy, Portal, Management, DeveloperPortal or Scm.
        #[arg(long = "type", default_value = "Proxy")]
        kind: String,
        /// The vault secret of a certificate, e.g. https://v.vault.localhost:8443/secrets/c/.
        #[arg(long)]
        key_vault_id: Option<String>,
        /// Client id of the identity that reads it (default: the system-assigned one).
        #[arg(long)]
        identity_client_id: Option<String>,
        /// A PFX file instead of a vault secret.
        #[arg(long)]
        certificate_file: Option<PathBuf>,
        /// Password of the PFX file.
        #[arg(long)]
        certificate_password: Option<String>,
        /// Serve this host name's certificate to clients that send no SNI.
        #[arg(long)]
        default_ssl_binding: bool,
        /// Ask clients of this host name for a certificate.
        #[arg(long)]
        negotiate_client_certificate: bool,
    },
    /// Remove a host name.
    Remove {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// The custom host name (wildcards such as *.contoso.test allowed).
        #[arg(long)]
        host_name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ApiCommand {
    /// Import an API from an OpenAPI 3 document (JSON or YAML).
    Import {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// The API's id.
        #[arg(long)]
        api_id: String,
        /// URL suffix of the API.
        #[arg(long)]
        path: String,
        /// The OpenAPI 3 document, JSON or YAML.
        #[arg(long)]
        spec: PathBuf,
        /// Backend URL (default: the document's first server).
        #[arg(long)]
        service_url: Option<String>,
        /// Whether calls need a subscription key.
        #[arg(long)]
        subscription_required: Option<bool>,
    },
    /// List APIs.
    List {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum SubscriptionCommand {
    /// Create a subscription with generated keys.
    Create {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// The subscription's id.
        #[arg(long)]
        sid: String,
        /// /apis, /apis/{id} or /products/{id}.
        #[arg(long, default_value = "/apis")]
        scope: String,
        /// Display name (default: the id).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Show a subscription's keys.
    Keys {
        /// Name of the API Management service.
        #[arg(long, short = 'n')]
        name: String,
        /// Resource group (default: the instance's own).
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
        /// The subscription's id.
        #[arg(long)]
        sid: String,
    },
}

const COLUMNS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("Location", "location"),
    ("GatewayUrl", "properties.gatewayUrl"),
    ("Identity", "identity.type"),
];

fn svc_path(arm: &Arm, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{name}",
        arm.subscription()
    )
}

fn group(arm: &Arm, rg: Option<String>) -> String {
    rg.or_else(|| arm.contract().resource_group.clone())
        .unwrap_or_else(|| "coffer-rg".to_owned())
}

/// The custom host names of a service as a PATCH sends them back (the built-in one dropped).
fn custom_hosts(v: &Value) -> Vec<Value> {
    v["properties"]["hostnameConfigurations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|h| h["certificateSource"] != "BuiltIn")
                .map(|h| {
                    json!({
                        "type": h["type"], "hostName": h["hostName"],
                        "keyVaultId": h["keyVaultId"], "identityClientId": h["identityClientId"],
                        "defaultSslBinding": h["defaultSslBinding"],
                        "negotiateClientCertificate": h["negotiateClientCertificate"],
                        "certificateSource": h["certificateSource"],
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn run(cmd: GatewayCommand, common: Common) -> Result<()> {
    let table = common.output == "table";
    let arm = Arm::connect(&common).await?;
    match cmd {
        GatewayCommand::Create {
            name,
            resource_group,
            location,
            publisher_email,
            publisher_name,
            enable_managed_identity,
        } => {
            let rg = group(&arm, resource_group);
            let mut body = json!({
                "location": location,
                "sku": {"name": "Developer", "capacity": 1},
                "properties": {"publisherEmail": publisher_email, "publisherName": publisher_name},
            });
            if enable_managed_identity {
                body["identity"] = json!({"type": "SystemAssigned"});
            }
            let v = arm
                .call(M::PUT, &svc_path(&arm, &rg, &name), Some(body))
                .await?;
            print_output(&v, table, COLUMNS)
        }
        GatewayCommand::Show {
            name,
            resource_group,
        } => {
            let rg = group(&arm, resource_group);
            let v = arm.call(M::GET, &svc_path(&arm, &rg, &name), None).await?;
            if table {
                print_output(&v, true, COLUMNS)?;
                for h in v["properties"]["hostnameConfigurations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    println!(
                        "  {} {} source={} status={}{}",
                        h["type"].as_str().unwrap_or_default(),
                        h["hostName"].as_str().unwrap_or_default(),
                        h["certificateSource"].as_str().unwrap_or_default(),
                        h["certificateStatus"].as_str().unwrap_or("-"),
                        h["certificateStatusReason"]
                            .as_str()
                            .map(|r| format!(" reason: {r}"))
                            .unwrap_or_default(),
                    );
                }
                Ok(())
            } else {
                print_output(&v, false, COLUMNS)
            }
        }
        GatewayCommand::List { resource_group } => {
            let path = match resource_group {
                Some(rg) => format!(
                    "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service",
                    arm.subscription()
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.ApiManagement/service",
                    arm.subscription()
                ),
            };
            let v = arm.call(M::GET, &path, None).await?;
            print_output(&v["value"], table, COLUMNS)
        }
        GatewayCommand::Delete {
            name,
            resource_group,
        } => {
            let rg = group(&arm, resource_group);
            arm.call(M::DELETE, &svc_path(&arm, &rg, &name), None)
                .await?;
            Ok(())
        }
        GatewayCommand::Identity {
            name,
            resource_group,
            kind,
            user_assigned,
        } => {
            let rg = group(&arm, resource_group);
            let mut identity = json!({"type": kind});
            if !user_assigned.is_empty() {
                identity["userAssignedIdentities"] = user_assigned
                    .iter()
                    .map(|u| (u.clone(), json!({})))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            let v = arm
                .call(
                    M::PATCH,
                    &svc_path(&arm, &rg, &name),
                    Some(json!({ "identity": identity })),
                )
                .await?;
            print_output(
                &v["identity"],
                table,
                &[("Type", "type"), ("PrincipalId", "principalId")],
            )
        }
        GatewayCommand::Hostname(h) => hostname(&arm, h, table).await,
        GatewayCommand::Api(a) => api(&arm, a, table).await,
        GatewayCommand::Subscription(s) => subscription(&arm, s, table).await,
    }
}

async fn hostname(arm: &Arm, cmd: HostnameCommand, table: bool) -> Result<()> {
    let (name, rg, host, entry) = match cmd {
        HostnameCommand::Set {
            name,
            resource_group,
            host_name,
            kind,
            key_vault_id,
            identity_client_id,
            certificate_file,
            certificate_password,
            default_ssl_binding,
            negotiate_client_certificate,
        } => {
            let mut e = json!({
                "type": kind, "hostName": host_name, "keyVaultId": key_vault_id,
                "identityClientId": identity_client_id, "defaultSslBinding": default_ssl_binding,
                "negotiateClientCertificate": negotiate_client_certificate,
            });
            if let Some(f) = certificate_file {
                let bytes =
                    std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                e["encodedCertificate"] =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
                        .into();
                e["certificatePassword"] = certificate_password.into();
            }
            (name, resource_group, host_name, Some(e))
        }
        HostnameCommand::Remove {
            name,
            resource_group,
            host_name,
        } => (name, resource_group, host_name, None),
    };
    let rg = group(arm, rg);
    let path = svc_path(arm, &rg, &name);
    let current = arm.call(M::GET, &path, None).await?;
    let mut hosts: Vec<Value> = custom_hosts(&current)
        .into_iter()
        .filter(|h| {
            !h["hostName"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&host))
        })
        .collect();
    hosts.extend(entry);
    let v = arm
        .call(
            M::PATCH,
            &path,
            Some(json!({"properties": {"hostnameConfigurations": hosts}})),
        )
        .await?;
    print_output(
        &v["properties"]["hostnameConfigurations"],
        table,
        &[
            ("HostName", "hostName"),
            ("Source", "certificateSource"),
            ("Status", "certificateStatus"),
            ("Thumbprint", "certificate.thumbprint"),
        ],
    )
}

async fn api(arm: &Arm, cmd: ApiCommand, table: bool) -> Result<()> {
    let cols: &[(&str, &str)] = &[
        ("Name", "name"),
        ("Path", "properties.path"),
        ("ServiceUrl", "properties.serviceUrl"),
    ];
    match cmd {
        ApiCommand::Import {
            name,
            resource_group,
            api_id,
            path,
            spec,
            service_url,
            subscription_required,
        } => {
            let rg = group(arm, resource_group);
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("reading {}", spec.display()))?;
            // As `az apim api import`: OpenApiJson for JSON, OpenApi (YAML) otherwise.
            let format = if text.trim_start().starts_with('{') {
                "openapi+json"
            } else {
                "openapi"
            };
            let mut props = json!({"path": path, "format": format, "value": text});
            if let Some(u) = service_url {
                props["serviceUrl"] = u.into();
            }
            if let Some(s) = subscription_required {
                props["subscriptionRequired"] = s.into();
            }
            let v = arm
                .call(
                    M::PUT,
                    &format!("{}/apis/{api_id}", svc_path(arm, &rg, &name)),
                    Some(json!({ "properties": props })),
                )
                .await?;
            print_output(&v, table, cols)
        }
        ApiCommand::List {
            name,
            resource_group,
        } => {
            let rg = group(arm, resource_group);
            let v = arm
                .call(M::GET, &format!("{}/apis", svc_path(arm, &rg, &name)), None)
                .await?;
            print_output(&v["value"], table, cols)
        }
    }
}

async fn subscription(arm: &Arm, cmd: SubscriptionCommand, table: bool) -> Result<()> {
    match cmd {
        SubscriptionCommand::Create {
            name,
            resource_group,
            sid,
            scope,
            display_name,
        } => {
            let rg = group(arm, resource_group);
            let v = arm
                .call(
                    M::PUT,
                    &format!("{}/subscriptions/{sid}", svc_path(arm, &rg, &name)),
                    Some(json!({"properties": {
                        "scope": scope, "displayName": display_name.unwrap_or_else(|| sid.clone()),
                    }})),
                )
                .await?;
            print_output(
                &v,
                table,
                &[
                    ("Name", "name"),
                    ("Scope", "properties.scope"),
                    ("State", "properties.state"),
                ],
            )
        }
        SubscriptionCommand::Keys {
            name,
            resource_group,
            sid,
        } => {
            let rg = group(arm, resource_group);
            let v = arm
                .call(
                    M::POST,
                    &format!(
                        "{}/subscriptions/{sid}/listSecrets",
                        svc_path(arm, &rg, &name)
                    ),
                    None,
                )
                .await?;
            print_output(
                &v,
                table,
                &[
                    ("PrimaryKey", "primaryKey"),
                    ("SecondaryKey", "secondaryKey"),
                ],
            )
        }
    }
}
