//! The ARM-shaped management API on `management.<domain>`, one module per resource provider:
//! `resources` (cloud metadata, subscriptions, tenants, locations, resource providers, resource
//! groups, the generic resource listing: `Microsoft.Resources`), `identities`
//! (`Microsoft.ManagedIdentity`), `keyvault` (`Microsoft.KeyVault`) and `apim`
//! (`Microsoft.ApiManagement`), all on the
//! request toolkit of `toolkit`. Path segments are matched case-insensitively (clients spell
//! `resourceGroups` and `resourcegroups`), names keep the spelling they were created with, every
//! call but the metadata needs a token for the management resource, and errors use ARM's
//! envelope `{"error":{"code","message"}}`.
//!
//! A new provider is a new module with a `route` function and one arm in [`provider_route`].

mod apim;
mod diagnostics;
mod identities;
mod keyvault;
mod portable;
mod resources;
mod testing;
pub(crate) mod toolkit;
mod trusted;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use coffer_domain::Principal;
use coffer_service::Coffer;

use crate::MAX_BODY_BYTES;
use crate::error::arm::ArmError;
use toolkit::{ArmRequest, Failure};

/// What the `NotFound` of an unknown path says this instance serves.
const SERVED: &str = "subscriptions, tenants, resource groups, resource providers, resources, and Microsoft.ManagedIdentity, Microsoft.KeyVault and Microsoft.ApiManagement resources";

pub(crate) async fn handle(app: Arc<Coffer>, req: Request) -> Response {
    match handle_inner(&app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle_inner(app: &Coffer, req: Request) -> Result<Response, ArmError> {
    let settings = app.settings();
    let (parts, body) = req.into_parts();
    let mut r = ArmRequest::parse(&parts)?;

    // Cloud metadata is public: `az cloud register` reads it before anyone signs in.
    if r.lower() == ["metadata", "endpoints"] {
        return resources::metadata(&r, settings);
    }
    if trusted::matches(&r) {
        return trusted::route(app, r, body).await;
    }

    let subscription = match r.lower().as_slice() {
        ["subscriptions", _, ..] => Some(r.segs[1].clone()),
        _ => None,
    };
    let caller = app
        .authenticate_management(r.bearer(), subscription.as_deref())
        .await
        .map_err(|e| ArmError::from_management(e, settings))?;
    r.api_version()?;
    if matches!(
        r.method,
        http::Method::PUT | http::Method::PATCH | http::Method::POST
    ) {
        r.read_body(body, MAX_BODY_BYTES).await?;
    }
    route(app, &caller, &r)
        .await
        .map_err(|e| e.into_arm(settings))
}

/// Where a provider's own path starts: `/subscriptions/{s}[/resourceGroups/{rg}]/providers/{ns}/…`.
pub(crate) struct ProviderScope {
    /// The subscription as the caller spelled it.
    pub(crate) subscription: String,
    pub(crate) resource_group: Option<String>,
    /// Index in the request's segments of the first segment after the namespace.
    start: usize,
}

impl ProviderScope {
    /// The provider scope of `r` and its namespace (lowercase), if the path has one. Registering
    /// a namespace (`/subscriptions/{s}/providers/{ns}/register`) belongs to `Microsoft.Resources`.
    fn of(r: &ArmRequest) -> Option<(Self, String)> {
        let l = r.lower();
        let (rg, ns_at) = match l.as_slice() {
            [
                "subscriptions",
                _,
                "resourcegroups",
                _,
                "providers",
                _,
                _,
                ..,
            ] => (Some(r.segs[3].clone()), 5),
            ["subscriptions", _, "providers", _, rest @ ..]
                if !rest.is_empty() && rest != ["register"] =>
            {
                (None, 3)
            }
            _ => return None,
        };
        Some((
            Self {
                subscription: r.segs[1].clone(),
                resource_group: rg,
                start: ns_at + 1,
            },
            l[ns_at].to_owned(),
        ))
    }

    /// The lowercased segments after the namespace.
    pub(crate) fn tail<'a>(&self, r: &'a ArmRequest) -> Vec<&'a str> {
        r.lower[self.start..].iter().map(String::as_str).collect()
    }

    /// The segment at `i` after the namespace, in the caller's spelling.
    pub(crate) fn name<'a>(&self, r: &'a ArmRequest, i: usize) -> &'a str {
        r.segs.get(self.start + i).map_or("", String::as_str)
    }
}

async fn route(app: &Coffer, caller: &Principal, r: &ArmRequest) -> Result<Response, Failure> {
    // The system-assigned identity of any resource: `{scope}/providers/Microsoft.ManagedIdentity/identities/default`.
    if let Some(resp) = identities::system_identity_route(app, caller, r).await {
        return resp;
    }
    if let Some((scope, namespace)) = ProviderScope::of(r) {
        return provider_route(app, caller, r, &scope, &namespace).await;
    }
    resources::route(app, caller, r).await
}

async fn provider_route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    scope: &ProviderScope,
    namespace: &str,
) -> Result<Response, Failure> {
    match namespace {
        "microsoft.managedidentity" => identities::route(app, caller, r, scope).await,
        "microsoft.keyvault" => keyvault::route(app, caller, r, scope).await,
        "microsoft.apimanagement" => apim::route(app, caller, r, scope).await,
        _ => Err(no_route(r).into()),
    }
}

fn no_route(r: &ArmRequest) -> ArmError {
    ArmError::no_route(&r.method, &r.path(), SERVED)
}
