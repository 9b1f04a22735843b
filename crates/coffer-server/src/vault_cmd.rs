//! `coffer vault ...`: vaults as ARM resources, through the management API of a running server
//! as the bootstrap admin, with `az keyvault`'s verbs and flag names. Without
//! `--resource-group`, a vault's group is found through the generic resource listing, as `az`
//! does.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::ad_cmd::Common;
use crate::client::{Contract, http, print_output, send_json};

const API: &str = "2026-02-01";

#[derive(Subcommand, Debug)]
pub(crate) enum VaultCommand {
    /// Create a vault; the signed-in admin gets every permission, as `az keyvault create` does.
    Create {
        #[command(flatten)]
        at: At,
        /// Location name (Coffer's own is local).
        #[arg(long, short = 'l', default_value = "local")]
        location: String,
        /// Days a deleted vault (and object) is kept, 7 to 90.
        #[arg(long)]
        retention_days: Option<u32>,
        /// Turn purge protection on (true); once on it stays on.
        #[arg(long)]
        enable_purge_protection: Option<bool>,
        /// Enabled or Disabled.
        #[arg(long)]
        public_network_access: Option<String>,
        /// Allow or Deny.
        #[arg(long)]
        default_action: Option<String>,
        /// AzureServices or None.
        #[arg(long)]
        bypass: Option<String>,
        /// Do not add an access policy for the signed-in admin.
        #[arg(long)]
        no_self_perms: bool,
    },
    /// Show a vault.
    Show {
        #[command(flatten)]
        at: At,
    },
    /// List vaults.
    List {
        /// Only vaults of this resource group.
        #[arg(long, short = 'g')]
        resource_group: Option<String>,
    },
    /// Soft-delete a vault (purge it for good with `purge`, bring it back with `recover`).
    Delete {
        #[command(flatten)]
        at: At,
    },
    /// List soft-deleted vaults.
    ListDeleted,
    /// Recover a soft-deleted vault.
    Recover {
        #[command(flatten)]
        at: At,
    },
    /// Purge a soft-deleted vault for good.
    Purge {
        /// Name of the deleted vault.
        #[arg(long, short = 'n')]
        name: String,
        /// Location of the deleted vault (Coffer's own is local).
        #[arg(long, short = 'l')]
        location: Option<String>,
    },
    /// Grant permissions to an object id (replacing, per family given, what it had).
    SetPolicy {
        #[command(flatten)]
        at: At,
        #[command(flatten)]
        who: Who,
        /// Secret permissions to grant (get list set delete recover backup restore purge, or all).
        #[arg(long, num_args = 1..)]
        secret_permissions: Option<Vec<String>>,
        /// Key permissions to grant (get list create update import delete sign verify encrypt decrypt wrapKey unwrapKey..., or all).
        #[arg(long, num_args = 1..)]
        key_permissions: Option<Vec<String>>,
        /// Certificate permissions to grant (get list create import update delete managecontacts manageissuers..., or all).
        #[arg(long, num_args = 1..)]
        certificate_permissions: Option<Vec<String>>,
        /// Storage permissions to grant (kept, not enforced).
        #[arg(long, num_args = 1..)]
        storage_permissions: Option<Vec<String>>,
    },
    /// Remove the access policy of an object id.
    DeletePolicy {
        #[command(flatten)]
        at: At,
        #[command(flatten)]
        who: Who,
    },
    /// The vault's firewall rules.
    #[command(subcommand)]
    NetworkRule(NetworkRuleCommand),
    /// Write every secret, key and certificate (all versions), rotation policy, issuer and the
    /// settings of a vault into an encrypted file (passphrase or key file).
    Export(crate::port_cmd::ExportArgs),
    /// Read a file from `export` into a vault (created if missing); names in use are refused
    /// unless --force.
    Import(crate::port_cmd::ImportArgs),
    /// Test helpers of the vault (off by default): lowered throttling limits, injected faults.
    TestMode(crate::test_cmd::TestModeArgs),
    /// Move the vault's clock forward (a test helper): nbf/exp checks, purge dates and
    /// timestamps of its objects then run at the moved time.
    Clock(crate::test_cmd::ClockArgs),
    /// The vault's diagnostic settings: turn its audit log on or off.
    #[command(subcommand)]
    Diagnostics(crate::diag_cmd::DiagnosticsCommand),
    /// Change firewall defaults, public access, purge protection or retention.
    Update {
        #[command(flatten)]
        at: At,
        /// Allow or Deny: what the firewall does with addresses no rule covers.
        #[arg(long)]
        default_action: Option<String>,
        /// AzureServices (trusted services pass the firewall) or None.
        #[arg(long)]
        bypass: Option<String>,
        /// Enabled or Disabled.
        #[arg(long)]
        public_network_access: Option<String>,
        /// Turn purge protection on (true); once on it stays on.
        #[arg(long)]
        enable_purge_protection: Option<bool>,
        /// Days a deleted vault (and object) is kept, 7 to 90.
        #[arg(long)]
        retention_days: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum NetworkRuleCommand {
    Add {
        #[command(flatten)]
        at: At,
        /// IPv4 or IPv6 addresses or CIDR ranges.
        #[arg(long, num_args = 1.., required = true)]
        ip_address: Vec<String>,
    },
    Remove {
        #[command(flatten)]
        at: At,
        /// IPv4 or IPv6 addresses or CIDR ranges.
        #[arg(long, num_args = 1.., required = true)]
        ip_address: Vec<String>,
    },
    List {
        #[command(flatten)]
        at: At,
    },
}

/// Which vault.
#[derive(Args, Debug, Clone)]
pub(crate) struct At {
    /// Name of the vault.
    #[arg(long, short = 'n')]
    pub(crate) name: String,
    /// Only vaults of this resource group.
    #[arg(long, short = 'g')]
    pub(crate) resource_group: Option<String>,
}

/// Whose access policy.
#[derive(Args, Debug, Clone)]
pub(crate) struct Who {
    /// Object id of the principal: a user, a service principal or a managed identity's principalId.
    #[arg(long)]
    object_id: String,
    /// For a compound identity: the policy then applies only through this application.
    #[arg(long)]
    application_id: Option<String>,
}

const VAULT_COLUMNS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("ResourceGroup", "resourceGroup"),
    ("Location", "location"),
    ("VaultUri", "properties.vaultUri"),
];

/// A signed-in client of the management API, as the bootstrap admin.
pub(crate) struct Arm {
    contract: Contract,
    http: reqwest::Client,
    token: String,
    base: String,
    sub: String,
}

impl Arm {
    pub(crate) async fn connect(common: &Common) -> Result<Self> {
        let contract = Contract::load(&common.data_dir)?;
        let base = contract.management_url.clone().context(
            "bootstrap.json has no management_url: restart the server with this version",
        )?;
        let sub = contract
            .subscription_id
            .clone()
            .context("bootstrap.json has no subscription_id")?;
        let http = http(contract.ca_cert.as_deref())?;
        let token = contract.token(&http, &format!("{base}/")).await?;
        Ok(Self {
            contract,
            http,
            token,
            base,
            sub,
        })
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut req = self
            .http
            .request(method, format!("{}{path}{sep}api-version={API}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        send_json(req).await
    }

    /// The contract the client signed in with.
    pub(crate) fn contract(&self) -> &Contract {
        &self.contract
    }

    /// The default subscription of the contract.
    pub(crate) fn subscription(&self) -> &str {
        &self.sub
    }

    pub(crate) fn vault_path(&self, rg: &str, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}",
            self.sub
        )
    }

    /// The vault's resource group: the one given, or the one the generic listing names.
    pub(crate) async fn group_of(&self, at: &At) -> Result<String> {
        if let Some(rg) = &at.resource_group {
            return Ok(rg.clone());
        }
        let found = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "/subscriptions/{}/resources?$filter={}",
                    self.sub,
                    urlencode(&format!(
                        "resourceType eq 'Microsoft.KeyVault/vaults' and name eq '{}'",
                        at.name.replace('\'', "''")
                    ))
                ),
                None,
            )
            .await?;
        let id = found["value"][0]["id"]
            .as_str()
            .with_context(|| format!("no vault named '{}' in the subscription", at.name))?;
        Ok(rg_of(id))
    }

    async fn vault(&self, at: &At) -> Result<(String, Value)> {
        let rg = self.group_of(at).await?;
        let v = self
            .call(reqwest::Method::GET, &self.vault_path(&rg, &at.name), None)
            .await?;
        Ok((rg, v))
    }

    async fn patch(&self, rg: &str, name: &str, properties: Value) -> Result<Value> {
        self.call(
            reqwest::Method::PATCH,
            &self.vault_path(rg, name),
            Some(json!({ "properties": properties })),
        )
        .await
    }

    async fn deleted(&self) -> Result<Vec<Value>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "/subscriptions/{}/providers/Microsoft.KeyVault/deletedVaults",
                    self.sub
                ),
                None,
            )
            .await?;
        Ok(v["value"].as_array().cloned().unwrap_or_default())
    }
}

pub(crate) async fn run(cmd: VaultCommand, common: Common) -> Result<()> {
    let table = common.output == "table";
    let arm = Arm::connect(&common).await?;
    use reqwest::Method as M;
    let show = |v: Value| print_output(&with_rg(v), table, VAULT_COLUMNS);
    match cmd {
        VaultCommand::Create {
            at,
            location,
            retention_days,
            enable_purge_protection,
            public_network_access,
            default_action,
            bypass,
            no_self_perms,
        } => {
            let rg = at
                .resource_group
                .clone()
                .or_else(|| arm.contract.resource_group.clone())
                .unwrap_or_else(|| "coffer-rg".to_owned());
            let mut policies = Vec::new();
            if !no_self_perms {
                let oid = arm
                    .contract
                    .object_id
                    .clone()
                    .context("bootstrap.json has no object_id: pass --no-self-perms")?;
                policies.push(json!({
                    "tenantId": arm.contract.tenant_id,
                    "objectId": oid,
                    "permissions": {"keys": ["all"], "secrets": ["all"], "certificates": ["all"], "storage": ["all"]},
                }));
            }
            let mut props = json!({
                "tenantId": arm.contract.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": policies,
                "enableRbacAuthorization": false,
                "enableSoftDelete": true,
                "softDeleteRetentionInDays": retention_days.unwrap_or(90),
                "networkAcls": {
                    "bypass": bypass.unwrap_or_else(|| "AzureServices".to_owned()),
                    "defaultAction": default_action.unwrap_or_else(|| "Allow".to_owned()),
                },
            });
            if let Some(p) = enable_purge_protection {
                props["enablePurgeProtection"] = json!(p);
            }
            if let Some(p) = public_network_access {
                props["publicNetworkAccess"] = json!(p);
            }
            let v = arm
                .call(
                    M::PUT,
                    &arm.vault_path(&rg, &at.name),
                    Some(json!({"location": location, "properties": props})),
                )
                .await?;
            show(v)
        }
        VaultCommand::Show { at } => {
            let (rg, mut v) = arm.vault(&at).await?;
            let testing = crate::test_cmd::settings_of(&arm, &rg, &at.name).await?;
            if crate::test_cmd::any_on(&testing)
                && let Some(o) = v.as_object_mut()
            {
                o.insert("testMode".to_owned(), testing);
            }
            show(v)
        }
        VaultCommand::TestMode(args) => crate::test_cmd::run(&arm, args).await,
        VaultCommand::Clock(args) => crate::test_cmd::clock(&arm, args).await,
        VaultCommand::Export(args) => crate::port_cmd::export(&arm, args).await,
        VaultCommand::Import(args) => crate::port_cmd::import(&arm, args).await,
        VaultCommand::Diagnostics(cmd) => crate::diag_cmd::run(&arm, cmd, table).await,
        VaultCommand::List { resource_group } => {
            let path = match &resource_group {
                Some(rg) => format!(
                    "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults",
                    arm.sub
                ),
                None => format!(
                    "/subscriptions/{}/providers/Microsoft.KeyVault/vaults",
                    arm.sub
                ),
            };
            let mut items = Vec::new();
            let mut page = arm.call(M::GET, &path, None).await?;
            loop {
                items.extend(page["value"].as_array().cloned().unwrap_or_default());
                let Some(next) = page["nextLink"].as_str().map(str::to_owned) else {
                    break;
                };
                page = send_json(arm.http.get(next).bearer_auth(&arm.token)).await?;
            }
            let items: Vec<Value> = items.into_iter().map(with_rg).collect();
            print_output(&Value::Array(items), table, VAULT_COLUMNS)
        }
        VaultCommand::Delete { at } => {
            let rg = arm.group_of(&at).await?;
            arm.call(M::DELETE, &arm.vault_path(&rg, &at.name), None)
                .await?;
            print_output(
                &json!({"deleted": at.name, "resourceGroup": rg}),
                table,
                &[("Deleted", "deleted"), ("ResourceGroup", "resourceGroup")],
            )
        }
        VaultCommand::ListDeleted => print_output(
            &Value::Array(arm.deleted().await?),
            table,
            &[
                ("Name", "name"),
                ("Location", "properties.location"),
                ("DeletionDate", "properties.deletionDate"),
                ("ScheduledPurgeDate", "properties.scheduledPurgeDate"),
            ],
        ),
        VaultCommand::Recover { at } => {
            let deleted = arm.deleted().await?;
            let d = find_deleted(&deleted, &at.name)?;
            let rg = match &at.resource_group {
                Some(rg) => rg.clone(),
                None => rg_of(d["properties"]["vaultId"].as_str().unwrap_or_default()),
            };
            let location = d["properties"]["location"].as_str().unwrap_or("local");
            let v = arm
                .call(
                    M::PUT,
                    &arm.vault_path(&rg, &at.name),
                    Some(json!({"location": location, "properties": {"createMode": "recover"}})),
                )
                .await?;
            show(v)
        }
        VaultCommand::Purge { name, location } => {
            let location = match location {
                Some(l) => l,
                None => find_deleted(&arm.deleted().await?, &name)?["properties"]["location"]
                    .as_str()
                    .unwrap_or("local")
                    .to_owned(),
            };
            arm.call(
                M::POST,
                &format!(
                    "/subscriptions/{}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}/purge",
                    arm.sub
                ),
                None,
            )
            .await?;
            print_output(&json!({"purged": name}), table, &[("Purged", "purged")])
        }
        VaultCommand::SetPolicy {
            at,
            who,
            secret_permissions,
            key_permissions,
            certificate_permissions,
            storage_permissions,
        } => {
            if secret_permissions.is_none()
                && key_permissions.is_none()
                && certificate_permissions.is_none()
                && storage_permissions.is_none()
            {
                bail!(
                    "name the permissions to grant: --secret-permissions, --key-permissions, --certificate-permissions or --storage-permissions"
                );
            }
            let (rg, v) = arm.vault(&at).await?;
            let tenant = v["properties"]["tenantId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut policies = policies_of(&v);
            let i = match policies.iter().position(|p| same(p, &who)) {
                Some(i) => i,
                None => {
                    let mut p = json!({
                        "tenantId": tenant,
                        "objectId": who.object_id,
                        "permissions": {"keys": [], "secrets": [], "certificates": [], "storage": []},
                    });
                    if let Some(a) = &who.application_id {
                        p["applicationId"] = json!(a);
                    }
                    policies.push(p);
                    policies.len() - 1
                }
            };
            for (family, given) in [
                ("secrets", secret_permissions),
                ("keys", key_permissions),
                ("certificates", certificate_permissions),
                ("storage", storage_permissions),
            ] {
                if let Some(g) = given {
                    policies[i]["permissions"][family] = json!(g);
                }
            }
            let v = arm
                .patch(&rg, &at.name, json!({"accessPolicies": policies}))
                .await?;
            show(v)
        }
        VaultCommand::DeletePolicy { at, who } => {
            let (rg, v) = arm.vault(&at).await?;
            let mut policies = policies_of(&v);
            let before = policies.len();
            policies.retain(|p| !same(p, &who));
            if policies.len() == before {
                bail!(
                    "no access policy of vault '{}' names object id '{}'",
                    at.name,
                    who.object_id
                );
            }
            let v = arm
                .patch(&rg, &at.name, json!({"accessPolicies": policies}))
                .await?;
            show(v)
        }
        VaultCommand::NetworkRule(rule) => network_rule(&arm, rule, table).await,
        VaultCommand::Update {
            at,
            default_action,
            bypass,
            public_network_access,
            enable_purge_protection,
            retention_days,
        } => {
            let rg = arm.group_of(&at).await?;
            let mut props = json!({});
            let mut acls = json!({});
            if let Some(a) = default_action {
                acls["defaultAction"] = json!(a);
            }
            if let Some(b) = bypass {
                acls["bypass"] = json!(b);
            }
            if acls.as_object().is_some_and(|o| !o.is_empty()) {
                props["networkAcls"] = acls;
            }
            if let Some(p) = public_network_access {
                props["publicNetworkAccess"] = json!(p);
            }
            if let Some(p) = enable_purge_protection {
                props["enablePurgeProtection"] = json!(p);
            }
            if let Some(d) = retention_days {
                props["softDeleteRetentionInDays"] = json!(d);
            }
            show(arm.patch(&rg, &at.name, props).await?)
        }
    }
}

async fn network_rule(arm: &Arm, cmd: NetworkRuleCommand, table: bool) -> Result<()> {
    let columns: &[(&str, &str)] = &[("Value", "value")];
    match cmd {
        NetworkRuleCommand::List { at } => {
            let (_, v) = arm.vault(&at).await?;
            print_output(&v["properties"]["networkAcls"]["ipRules"], table, columns)
        }
        NetworkRuleCommand::Add { at, ip_address } => {
            let (rg, v) = arm.vault(&at).await?;
            let mut rules = rule_values(&v);
            for ip in ip_address {
                if !rules.contains(&ip) && !rules.contains(&format!("{ip}/32")) {
                    rules.push(ip);
                }
            }
            let v = arm
                .patch(
                    &rg,
                    &at.name,
                    json!({"networkAcls": {"ipRules": to_rules(&rules)}}),
                )
                .await?;
            print_output(&v["properties"]["networkAcls"]["ipRules"], table, columns)
        }
        NetworkRuleCommand::Remove { at, ip_address } => {
            let (rg, v) = arm.vault(&at).await?;
            // The server stores networks (`1.2.3.4` reads back as `1.2.3.4/32`): compare both.
            let drop: Vec<String> = ip_address
                .iter()
                .flat_map(|ip| [ip.clone(), format!("{ip}/32"), format!("{ip}/128")])
                .collect();
            let rules: Vec<String> = rule_values(&v)
                .into_iter()
                .filter(|r| !drop.contains(r))
                .collect();
            let v = arm
                .patch(
                    &rg,
                    &at.name,
                    json!({"networkAcls": {"ipRules": to_rules(&rules)}}),
                )
                .await?;
            print_output(&v["properties"]["networkAcls"]["ipRules"], table, columns)
        }
    }
}

fn policies_of(v: &Value) -> Vec<Value> {
    v["properties"]["accessPolicies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn same(p: &Value, who: &Who) -> bool {
    let eq = |a: &Value, b: Option<&str>| {
        a.as_str().map(str::to_ascii_lowercase) == b.map(str::to_ascii_lowercase)
    };
    eq(&p["objectId"], Some(&who.object_id))
        && eq(&p["applicationId"], who.application_id.as_deref())
}

fn rule_values(v: &Value) -> Vec<String> {
    v["properties"]["networkAcls"]["ipRules"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn to_rules(values: &[String]) -> Value {
    Value::Array(values.iter().map(|v| json!({ "value": v })).collect())
}

fn find_deleted<'a>(deleted: &'a [Value], name: &str) -> Result<&'a Value> {
    deleted
        .iter()
        .find(|d| {
            d["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .with_context(|| format!("no deleted vault named '{name}'"))
}

/// The resource group named in a resource id.
fn rg_of(id: &str) -> String {
    let parts: Vec<&str> = id.split('/').collect();
    parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| parts.get(i + 1))
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

fn with_rg(mut v: Value) -> Value {
    if let Some(id) = v["id"].as_str().map(rg_of) {
        v["resourceGroup"] = json!(id);
    }
    v
}

pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_groups_and_policies() {
        assert_eq!(
            rg_of("/subscriptions/s/resourceGroups/Team-A/providers/Microsoft.KeyVault/vaults/v"),
            "Team-A"
        );
        assert_eq!(rg_of("/subscriptions/s"), "");
        let who = Who {
            object_id: "OID".into(),
            application_id: None,
        };
        assert!(same(&json!({"objectId": "oid"}), &who));
        assert!(!same(
            &json!({"objectId": "oid", "applicationId": "app"}),
            &who
        ));
        assert_eq!(urlencode("name eq 'a b'"), "name+eq+%27a+b%27");
    }
}
