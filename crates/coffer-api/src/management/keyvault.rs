//! `Microsoft.KeyVault` routes: vaults (PUT answered synchronously, 201 created / 200 updated,
//! with `provisioningState: Succeeded` and no async headers), their access-policy updates,
//! soft-deleted vaults and their purge, `checkNameAvailability`, and the empty Managed HSM lists
//! the CLI reads.

use axum::response::{IntoResponse, Response};
use coffer_domain::{AccessPolicy, Principal};
use coffer_service::{
    AccessPolicyInput, AccessPolicyUpdate, Coffer, DeletedVaultView, NetworkAclsInput, VAULT_TYPE,
    VaultInput, VaultView, VirtualNetworkRule,
};
use coffer_wire::arm::ResourceList;
use coffer_wire::arm::keyvault::{
    self as wire, AccessPolicyEntryIn, AccessPolicyUpdateIn, CheckNameIn, CheckNameResult,
    DeletedVault, DeletedVaultProperties, VaultIn,
};
use http::{Method, StatusCode};

use super::diagnostics;
use super::resources::tags;
use super::toolkit::{ArmRequest, Failure, etag, ok, put_answer, with_etag};
use super::{ProviderScope, no_route};
use crate::error::arm::ArmError;

pub(super) async fn route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    scope: &ProviderScope,
) -> Result<Response, Failure> {
    let s = scope.subscription.as_str();
    let name = |i: usize| scope.name(r, i);
    match (scope.resource_group.as_deref(), scope.tail(r).as_slice()) {
        (rg, ["vaults"]) => {
            r.only(Method::GET)?;
            let paging = r.paging()?;
            let vaults = app.list_vaults(caller, s, rg).await?;
            let items = vaults.iter().map(vault).collect();
            Ok(ok(paging.page(r, items, |v| v.id.to_ascii_lowercase())))
        }
        (Some(rg), ["vaults", _]) => vault_routes(app, caller, r, s, rg, name(1)).await,
        (
            Some(rg),
            [
                "vaults",
                _,
                "providers",
                "microsoft.insights",
                "diagnosticsettings",
            ],
        ) => diagnostics::settings_route(app, caller, r, (s, rg, name(1)), None).await,
        (
            Some(rg),
            [
                "vaults",
                _,
                "providers",
                "microsoft.insights",
                "diagnosticsettings",
                _,
            ],
        ) => diagnostics::settings_route(app, caller, r, (s, rg, name(1)), Some(name(5))).await,
        (
            Some(rg),
            [
                "vaults",
                _,
                "providers",
                "coffer.diagnostics",
                "auditevents",
            ],
        ) => diagnostics::audit_events(app, caller, r, (s, rg, name(1))).await,
        (Some(rg), ["vaults", _, "providers", "coffer.diagnostics", "doctor"]) => {
            diagnostics::doctor(app, caller, r, (s, rg, name(1))).await
        }
        (Some(rg), ["vaults", _, "providers", "coffer.testing", "settings", _]) => {
            super::testing::settings(app, caller, r, (s, rg, name(1)), name(5)).await
        }
        (Some(rg), ["vaults", _, "providers", "coffer.portability", "export"]) => {
            super::portable::export(app, caller, r, (s, rg, name(1))).await
        }
        (Some(rg), ["vaults", _, "providers", "coffer.portability", "import"]) => {
            super::portable::import(app, caller, r, (s, rg, name(1))).await
        }
        (Some(rg), ["vaults", _, "accesspolicies", _]) => {
            r.only(Method::PUT)?;
            let kind = AccessPolicyUpdate::parse(name(3)).ok_or_else(|| no_route(r))?;
            let body: AccessPolicyUpdateIn = r.json_or_default()?;
            let entries: Vec<AccessPolicyInput> = body
                .properties
                .and_then(|p| p.access_policies)
                .ok_or_else(|| {
                    ArmError::invalid_content(
                        "The request content must be {\"properties\": {\"accessPolicies\": [...]}}.",
                    )
                })?
                .into_iter()
                .map(policy_input)
                .collect();
            let v = app
                .update_vault_access_policies(caller, s, rg, name(1), kind, &entries)
                .await?;
            Ok(ok(wire::AccessPolicyUpdate {
                id: format!("{}/accessPolicies/{}", v.id, kind.as_str()),
                name: kind.as_str(),
                kind: "Microsoft.KeyVault/vaults/accessPolicies",
                location: v.location.clone(),
                properties: wire::AccessPolicyUpdateProperties {
                    access_policies: v.access_policies.iter().map(policy).collect(),
                },
            }))
        }
        (rg, ["managedhsms"]) => {
            r.only(Method::GET)?;
            app.list_managed_hsms(caller, s, rg).await?;
            Ok(ok(ResourceList::<wire::Vault>::of(Vec::new())))
        }
        (None, ["deletedmanagedhsms"]) => {
            r.only(Method::GET)?;
            app.list_managed_hsms(caller, s, None).await?;
            Ok(ok(ResourceList::<DeletedVault>::of(Vec::new())))
        }
        (None, ["deletedvaults"]) => {
            r.only(Method::GET)?;
            let paging = r.paging()?;
            let items = app
                .list_deleted_vaults(caller, s)
                .await?
                .iter()
                .map(deleted_vault)
                .collect();
            Ok(ok(paging.page(r, items, |v| v.id.to_ascii_lowercase())))
        }
        (None, ["locations", _, "deletedvaults", _]) => {
            r.only(Method::GET)?;
            let v = app.get_deleted_vault(caller, s, name(1), name(3)).await?;
            Ok(ok(deleted_vault(&v)))
        }
        (None, ["locations", _, "deletedvaults", _, "purge"]) => {
            r.only(Method::POST)?;
            app.purge_deleted_vault(caller, s, name(1), name(3)).await?;
            Ok(StatusCode::OK.into_response())
        }
        (None, ["checknameavailability"]) => {
            r.only(Method::POST)?;
            let body: CheckNameIn = r.json_or_default()?;
            if let Some(t) = &body.kind
                && !t.eq_ignore_ascii_case(VAULT_TYPE)
            {
                return Err(ArmError::invalid_content(format!(
                    "The type '{}' is invalid: only '{VAULT_TYPE}' is checked here.",
                    crate::text::clip(t)
                ))
                .into());
            }
            let name = body
                .name
                .ok_or_else(|| ArmError::invalid_content("The property 'name' is required."))?;
            let a = app.check_vault_name(caller, s, &name).await?;
            Ok(ok(CheckNameResult {
                name_available: a.available,
                reason: a.reason,
                message: a.message,
            }))
        }
        _ => Err(no_route(r).into()),
    }
}

async fn vault_routes(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    s: &str,
    rg: &str,
    name: &str,
) -> Result<Response, Failure> {
    // A conditional write names the version it read.
    if r.has_if_match() && matches!(r.method, Method::PUT | Method::PATCH | Method::DELETE) {
        match app.get_vault(caller, s, rg, name).await {
            Ok(current) => r.check_if_match(&etag(current.revision))?,
            Err(e) if r.method != Method::PUT => return Err(e.into()),
            Err(_) => {}
        }
    }
    match r.method {
        Method::PUT => {
            let input = vault_input(r.json_or_default()?);
            let (v, created) = app.put_vault(caller, s, rg, name, input).await?;
            Ok(with_etag(put_answer(created, vault(&v)), &etag(v.revision)))
        }
        Method::GET => {
            let v = app.get_vault(caller, s, rg, name).await?;
            Ok(with_etag(ok(vault(&v)), &etag(v.revision)))
        }
        Method::PATCH => {
            let input = vault_input(r.json_or_default()?);
            let v = app.patch_vault(caller, s, rg, name, input).await?;
            Ok(with_etag(ok(vault(&v)), &etag(v.revision)))
        }
        Method::DELETE => {
            let existed = app.delete_vault(caller, s, rg, name).await?;
            Ok(if existed {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            }
            .into_response())
        }
        _ => Err(r.method_not_allowed().into()),
    }
}

fn vault_input(body: VaultIn) -> VaultInput {
    let p = body.properties.unwrap_or_default();
    let (sku_family, sku_name) = match p.sku {
        Some(s) => (s.family, s.name),
        None => (None, None),
    };
    VaultInput {
        location: body.location,
        tags: body.tags.map(tags),
        tenant_id: p.tenant_id,
        sku_family,
        sku_name,
        access_policies: p
            .access_policies
            .map(|l| l.into_iter().map(policy_input).collect()),
        network_acls: p.network_acls.map(|a| NetworkAclsInput {
            default_action: a.default_action,
            bypass: a.bypass,
            ip_rules: a
                .ip_rules
                .map(|rules| rules.into_iter().map(|r| r.value).collect()),
            virtual_network_rules: a.virtual_network_rules.map(|rules| {
                rules
                    .into_iter()
                    .map(|r| VirtualNetworkRule {
                        id: r.id,
                        ignore_missing_vnet_service_endpoint: r
                            .ignore_missing_vnet_service_endpoint
                            .unwrap_or(false),
                    })
                    .collect()
            }),
        }),
        enable_soft_delete: p.enable_soft_delete,
        soft_delete_retention_days: p.soft_delete_retention_in_days,
        enable_purge_protection: p.enable_purge_protection,
        enable_rbac_authorization: p.enable_rbac_authorization,
        public_network_access: p.public_network_access,
        enabled_for_deployment: p.enabled_for_deployment,
        enabled_for_disk_encryption: p.enabled_for_disk_encryption,
        enabled_for_template_deployment: p.enabled_for_template_deployment,
        create_mode: p.create_mode,
    }
}

fn policy_input(e: AccessPolicyEntryIn) -> AccessPolicyInput {
    let p = e.permissions.unwrap_or_default();
    AccessPolicyInput {
        tenant_id: e.tenant_id,
        object_id: e.object_id,
        application_id: e.application_id,
        keys: p.keys,
        secrets: p.secrets,
        certificates: p.certificates,
        storage: p.storage,
    }
}

fn policy(p: &AccessPolicy) -> wire::AccessPolicyEntry {
    let pm = &p.permissions;
    wire::AccessPolicyEntry {
        tenant_id: p.tenant_id.clone(),
        object_id: p.object_id.clone(),
        application_id: p.application_id.clone(),
        permissions: wire::Permissions {
            keys: pm.keys.iter().map(|k| k.as_str()).collect(),
            secrets: pm.secrets.iter().map(|k| k.as_str()).collect(),
            certificates: pm.certificates.iter().map(|k| k.as_str()).collect(),
            storage: pm.storage.iter().map(|k| k.as_str()).collect(),
        },
    }
}

pub(super) fn vault(v: &VaultView) -> wire::Vault {
    let acls = &v.network_acls;
    wire::Vault {
        id: v.id.clone(),
        name: v.name.clone(),
        kind: VAULT_TYPE,
        location: v.location.clone(),
        tags: v.tags.clone(),
        properties: wire::VaultProperties {
            tenant_id: v.tenant_id.clone(),
            sku: wire::Sku {
                family: "A",
                name: v.sku.clone(),
            },
            access_policies: v.access_policies.iter().map(policy).collect(),
            vault_uri: v.vault_uri.clone(),
            enabled_for_deployment: v.enabled_for_deployment,
            enabled_for_disk_encryption: v.enabled_for_disk_encryption,
            enabled_for_template_deployment: v.enabled_for_template_deployment,
            enable_soft_delete: v.enable_soft_delete,
            soft_delete_retention_in_days: v.soft_delete_retention_days,
            enable_rbac_authorization: false,
            enable_purge_protection: v.enable_purge_protection.then_some(true),
            network_acls: wire::NetworkRuleSet {
                bypass: acls.bypass.as_str(),
                default_action: acls.default_action.as_str(),
                ip_rules: acls
                    .ip_rules
                    .iter()
                    .map(|r| wire::IpRule {
                        value: r.to_string(),
                    })
                    .collect(),
                virtual_network_rules: v
                    .virtual_network_rules
                    .iter()
                    .map(|r| wire::VirtualNetworkRule {
                        id: r.id.clone(),
                        ignore_missing_vnet_service_endpoint: r
                            .ignore_missing_vnet_service_endpoint,
                    })
                    .collect(),
            },
            public_network_access: acls.public_network_access.as_str(),
            provisioning_state: "Succeeded",
        },
    }
}

fn deleted_vault(v: &DeletedVaultView) -> DeletedVault {
    DeletedVault {
        id: v.id.clone(),
        name: v.name.clone(),
        kind: "Microsoft.KeyVault/deletedVaults",
        properties: DeletedVaultProperties {
            vault_id: v.vault_id.clone(),
            location: v.location.clone(),
            deletion_date: rfc3339(v.deletion_date),
            scheduled_purge_date: rfc3339(v.scheduled_purge_date),
            tags: v.tags.clone(),
            purge_protection_enabled: v.purge_protection_enabled,
        },
    }
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
