//! `Microsoft.Resources` routes: the public cloud metadata document, subscriptions, tenants,
//! locations, resource providers, resource groups and the generic resource listing with the
//! `$filter` forms clients send (`resourceType eq '…' [and name eq '…']`).

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use coffer_domain::Principal;
use coffer_service::{
    Coffer, DEFAULT_LOCATION, ManagementError, ProviderView, ResourceGroupView, ResourceInput,
    Settings, SubscriptionView, TenantView,
};
use coffer_wire::arm::resources::{
    CloudAuthentication, CloudMetadata, CloudSuffixes, GenericResource, Location, LocationMetadata,
    Provider, ProviderResourceType, ResourceGroup, Subscription, SubscriptionPolicies, Tenant,
};
use coffer_wire::arm::{ProvisioningProperties, ResourceList, TagsIn, TrackedResourceIn};
use http::{Method, StatusCode};

use super::no_route;
use super::toolkit::{ArmRequest, Failure, ok, put_answer};
use crate::error::arm::ArmError;

/// The first api-version of `/metadata/endpoints` that answers one object instead of an array.
const METADATA_OBJECT_SINCE: &str = "2022-09-01";

/// `GET /metadata/endpoints`: one object from 2022-09-01 on, an array of one before.
pub(super) fn metadata(r: &ArmRequest, settings: &Settings) -> Result<Response, ArmError> {
    r.only(Method::GET)?;
    let api = r.api_version()?;
    let doc = metadata_doc(settings);
    Ok(if api >= METADATA_OBJECT_SINCE {
        ok(doc)
    } else {
        ok([doc])
    })
}

pub(super) async fn route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
) -> Result<Response, Failure> {
    match r.lower().as_slice() {
        ["tenants"] => {
            r.only(Method::GET)?;
            let ts = app.list_tenants(caller).await?;
            Ok(ok(ResourceList::of(
                ts.iter().map(|t| tenant(t, app.settings())).collect(),
            )))
        }
        ["subscriptions"] => {
            r.only(Method::GET)?;
            let paging = r.paging()?;
            let subs = app.list_subscriptions(caller).await?;
            let items = subs.iter().map(subscription).collect();
            Ok(ok(paging.page(r, items, |i| i.id.to_ascii_lowercase())))
        }
        ["subscriptions", _, rest @ ..] => subscription_routes(app, caller, r, rest).await,
        _ => Err(no_route(r).into()),
    }
}

async fn subscription_routes(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    rest: &[&str],
) -> Result<Response, Failure> {
    let s = r.segs[1].as_str();
    // Original spelling of the segment at `i` of `rest`.
    let name = |i: usize| r.segs[2 + i].as_str();
    match rest {
        [] => {
            r.only(Method::GET)?;
            Ok(ok(subscription(&app.get_subscription(caller, s).await?)))
        }
        ["locations"] => {
            r.only(Method::GET)?;
            let locs = app.list_locations(caller, s).await?;
            Ok(ok(ResourceList::of(
                locs.iter().map(|l| location(s, l)).collect(),
            )))
        }
        ["resourcegroups"] => {
            r.only(Method::GET)?;
            let paging = r.paging()?;
            let rgs = app.list_resource_groups(caller, s).await?;
            let items = rgs.iter().map(resource_group).collect();
            Ok(ok(paging.page(r, items, |i| i.id.to_ascii_lowercase())))
        }
        ["resourcegroups", _] => resource_group_routes(app, caller, r, s, name(1)).await,
        ["resources"] => generic_resources(app, caller, r, s, None).await,
        ["resourcegroups", _, "resources"] => {
            generic_resources(app, caller, r, s, Some(name(1))).await
        }
        ["providers"] => {
            r.only(Method::GET)?;
            let ps = app.list_providers(caller, s).await?;
            Ok(ok(ResourceList::of(
                ps.iter().map(|p| provider(s, p)).collect(),
            )))
        }
        ["providers", _] => {
            r.only(Method::GET)?;
            Ok(ok(provider(
                s,
                &app.get_provider(caller, s, name(1)).await?,
            )))
        }
        ["providers", _, "register"] => {
            r.only(Method::POST)?;
            Ok(ok(provider(
                s,
                &app.get_provider(caller, s, name(1)).await?,
            )))
        }
        _ => Err(no_route(r).into()),
    }
}

async fn resource_group_routes(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    s: &str,
    rg: &str,
) -> Result<Response, Failure> {
    match r.method {
        Method::GET => Ok(ok(resource_group(
            &app.get_resource_group(caller, s, rg).await?,
        ))),
        Method::HEAD => match app.get_resource_group(caller, s, rg).await {
            Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(ManagementError::NotFound { .. }) => Ok(StatusCode::NOT_FOUND.into_response()),
            Err(e) => Err(e.into()),
        },
        Method::PUT => {
            let input = resource_input(r)?;
            let (v, created) = app.put_resource_group(caller, s, rg, input).await?;
            Ok(put_answer(created, resource_group(&v)))
        }
        Method::PATCH => {
            let input = resource_input(r)?;
            let v = app.patch_resource_group(caller, s, rg, input.tags).await?;
            Ok(ok(resource_group(&v)))
        }
        Method::DELETE => {
            app.delete_resource_group(caller, s, rg).await?;
            Ok(StatusCode::OK.into_response())
        }
        _ => Err(r.method_not_allowed().into()),
    }
}

/// `GET /subscriptions/{s}[/resourceGroups/{rg}]/resources[?$filter=…]`: every provider's
/// resources, as `az keyvault` commands without `-g` look a vault's group up.
async fn generic_resources(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    s: &str,
    rg: Option<&str>,
) -> Result<Response, Failure> {
    r.only(Method::GET)?;
    let filter = match r.query("$filter") {
        Some(f) => parse_filter(f)?,
        None => ResourceFilter::default(),
    };
    let paging = r.paging()?;
    let items: Vec<GenericResource> = app
        .list_resources(caller, s, rg)
        .await?
        .into_iter()
        .filter(|x| {
            filter
                .resource_type
                .as_deref()
                .is_none_or(|t| x.kind.eq_ignore_ascii_case(t))
                && filter
                    .name
                    .as_deref()
                    .is_none_or(|n| x.name.eq_ignore_ascii_case(n))
        })
        .map(|x| GenericResource {
            id: x.id,
            name: x.name,
            kind: x.kind,
            location: x.location,
            tags: x.tags,
        })
        .collect();
    Ok(ok(paging.page(r, items, |i| i.id.to_ascii_lowercase())))
}

/// The clauses of a generic listing's `$filter` that Coffer applies.
#[derive(Debug, Default, PartialEq, Eq)]
struct ResourceFilter {
    resource_type: Option<String>,
    name: Option<String>,
}

/// `resourceType eq '…'`, `name eq '…'`, joined by `and` (keywords in any case); anything
/// else is refused.
fn parse_filter(raw: &str) -> Result<ResourceFilter, ArmError> {
    let unsupported = || {
        ArmError::invalid_query(format!(
            "The $filter '{}' is not supported. Supported: resourceType eq '<type>' and name eq '<name>', joined by 'and'.",
            crate::text::clip(raw)
        ))
    };
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` cut `raw`.
    let split = |s: &'_ str, sep: &str| -> Vec<(usize, usize)> {
        let lower = s.to_ascii_lowercase();
        let mut parts = Vec::new();
        let mut start = 0;
        while let Some(i) = lower[start..].find(sep) {
            parts.push((start, start + i));
            start += i + sep.len();
        }
        parts.push((start, s.len()));
        parts
    };
    let mut out = ResourceFilter::default();
    for (a, b) in split(raw, " and ") {
        let clause = raw[a..b].trim();
        let pieces = split(clause, " eq ");
        let [(pa, pb), (va, vb)] = pieces.as_slice() else {
            return Err(unsupported());
        };
        let value = clause[*va..*vb]
            .trim()
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .filter(|v| !v.contains('\''))
            .ok_or_else(unsupported)?
            .to_owned();
        match clause[*pa..*pb].trim().to_ascii_lowercase().as_str() {
            "resourcetype" if out.resource_type.is_none() => out.resource_type = Some(value),
            "name" if out.name.is_none() => out.name = Some(value),
            _ => return Err(unsupported()),
        }
    }
    Ok(out)
}

/// `location` and `tags` of a tracked resource's body; everything else is ignored.
pub(super) fn resource_input(r: &ArmRequest) -> Result<ResourceInput, ArmError> {
    let body: TrackedResourceIn = r.json_or_default()?;
    Ok(ResourceInput {
        location: body.location,
        tags: body.tags.map(tags),
    })
}

/// Tags with `null` values read as empty strings.
pub(super) fn tags(t: TagsIn) -> BTreeMap<String, String> {
    t.into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

/// The cloud metadata document `az cloud register` and the SDKs' cloud settings read.
fn metadata_doc(settings: &Settings) -> CloudMetadata {
    let management = settings.management_url();
    CloudMetadata {
        name: "Coffer",
        authentication: CloudAuthentication {
            login_endpoint: settings.authority(),
            audiences: vec![settings.management_resource(), management.clone()],
            tenant: "common",
            identity_provider: "AAD",
        },
        resource_manager: format!("{management}/"),
        microsoft_graph_resource_id: format!(
            "{}/",
            settings.graph_resource().trim_end_matches('/')
        ),
        suffixes: CloudSuffixes {
            key_vault_dns: settings
                .vault_resource()
                .trim_start_matches("https://")
                .to_owned(),
        },
    }
}

fn subscription(s: &SubscriptionView) -> Subscription {
    Subscription {
        id: format!("/subscriptions/{}", s.subscription_id),
        authorization_source: "RoleBased",
        managed_by_tenants: Vec::new(),
        subscription_id: s.subscription_id.clone(),
        tenant_id: s.tenant_id.clone(),
        display_name: s.display_name.clone(),
        state: "Enabled",
        subscription_policies: SubscriptionPolicies {
            location_placement_id: "Public_2014-09-01",
            quota_id: "PayAsYouGo_2014-09-01",
            spending_limit: "Off",
        },
    }
}

fn tenant(t: &TenantView, settings: &Settings) -> Tenant {
    Tenant {
        id: format!("/tenants/{}", t.tenant_id),
        tenant_id: t.tenant_id.clone(),
        tenant_category: "Home",
        display_name: t.display_name.clone(),
        default_domain: settings.domain.clone(),
        domains: vec![settings.domain.clone()],
        tenant_type: "AAD",
    }
}

fn location(s: &str, l: &str) -> Location {
    Location {
        id: format!("/subscriptions/{s}/locations/{l}"),
        name: l.to_owned(),
        kind: "Region",
        display_name: "Local".to_owned(),
        regional_display_name: "Local".to_owned(),
        metadata: LocationMetadata {
            region_type: "Physical",
            region_category: "Recommended",
        },
    }
}

fn resource_group(rg: &ResourceGroupView) -> ResourceGroup {
    ResourceGroup {
        id: rg.id.clone(),
        name: rg.name.clone(),
        kind: "Microsoft.Resources/resourceGroups",
        location: rg.location.clone(),
        tags: rg.tags.clone(),
        properties: ProvisioningProperties::SUCCEEDED,
    }
}

fn provider(s: &str, p: &ProviderView) -> Provider {
    Provider {
        id: format!("/subscriptions/{s}/providers/{}", p.namespace),
        namespace: p.namespace.clone(),
        registration_state: "Registered",
        registration_policy: "RegistrationRequired",
        resource_types: p
            .resource_types
            .iter()
            .map(|t| ProviderResourceType {
                resource_type: t.clone(),
                locations: vec![DEFAULT_LOCATION.to_owned()],
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f =
            parse_filter("resourceType eq 'Microsoft.KeyVault/vaults' and name eq 'kv1'").unwrap();
        assert_eq!(
            f.resource_type.as_deref(),
            Some("Microsoft.KeyVault/vaults")
        );
        assert_eq!(f.name.as_deref(), Some("kv1"));
        let f = parse_filter(" resourcetype EQ 'x' AND Name eq 'Kv' ").unwrap();
        assert_eq!(
            (f.resource_type.as_deref(), f.name.as_deref()),
            (Some("x"), Some("Kv"))
        );
        let f = parse_filter("resourceType eq 'Microsoft.KeyVault/vaults'").unwrap();
        assert_eq!(f.name, None);
        for bad in [
            "",
            "tagName eq 'a'",
            "name eq kv1",
            "name eq 'a' or name eq 'b'",
            "name eq 'a' and name eq 'b'",
            "name eq 'it''s'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad:?}");
        }
    }
}
