//! Coffer's own directory extension on the management host: the trusted-service flag of a
//! service principal or managed identity,
//! `/providers/Coffer.Directory/servicePrincipals/{objectId}` (GET, and PATCH with
//! `{"trustedService": true}` by a directory administrator). A trusted service passes vault
//! firewalls whose `bypass` is `AzureServices`.

use axum::body::Body;
use axum::response::Response;
use coffer_service::{Coffer, ManagementError, Resource, TrustedServiceView};
use coffer_wire::arm::insights::{TrustedService, TrustedServiceIn};
use http::Method;

use super::toolkit::{ArmRequest, ok};
use crate::MAX_BODY_BYTES;
use crate::error::arm::ArmError;

/// Whether `r` is for this extension.
pub(super) fn matches(r: &ArmRequest) -> bool {
    matches!(
        r.lower().as_slice(),
        ["providers", "coffer.directory", "serviceprincipals", _]
    )
}

pub(super) async fn route(
    app: &Coffer,
    mut r: ArmRequest,
    body: Body,
) -> Result<Response, ArmError> {
    let settings = app.settings();
    let unauthenticated = |e: ManagementError| ArmError::from_management(e, settings);
    let (principal, claims) = match app.authenticate_for(r.bearer(), Resource::Management).await {
        Ok(c) => c,
        Err(error) => {
            let tenant_id = app.default_tenant().await.map_err(unauthenticated)?;
            return Err(unauthenticated(ManagementError::Unauthenticated {
                error,
                tenant_id,
            }));
        }
    };
    r.api_version()?;
    let service = |e| ArmError::from_management(ManagementError::Service(e), settings);
    let caller = app
        .directory_caller(&principal, &claims)
        .await
        .map_err(service)?;
    let object_id = r.segs[3].clone();
    let view = match r.method {
        Method::GET => app.trusted_service(&caller, &object_id).await,
        Method::PATCH | Method::PUT => {
            r.read_body(body, MAX_BODY_BYTES).await?;
            let b: TrustedServiceIn = r.json_or_default()?;
            let flag = b
                .trusted_service
                .or(b.properties.and_then(|p| p.trusted_service))
                .ok_or_else(|| {
                    ArmError::invalid_content(
                        "The request content must be {\"trustedService\": true|false}.",
                    )
                })?;
            app.set_trusted_service(&caller, &object_id, flag).await
        }
        _ => return Err(r.method_not_allowed()),
    }
    .map_err(service)?;
    Ok(ok(out(view)))
}

fn out(v: TrustedServiceView) -> TrustedService {
    TrustedService {
        id: format!(
            "/providers/Coffer.Directory/servicePrincipals/{}",
            v.object_id
        ),
        object_id: v.object_id,
        tenant_id: v.tenant_id,
        principal_type: v.principal_type,
        display_name: v.display_name,
        trusted_service: v.trusted_service,
    }
}
