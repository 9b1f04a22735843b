//! `{vaultId}/providers/Coffer.Testing/settings/default`: GET and PUT of a vault's test helpers
//! (`{"properties": {"throttleLimit": 5, "fault": {"status": 503, "count": 2}}}`; an empty
//! `properties` switches them all off).

use axum::response::Response;
use coffer_domain::Principal;
use coffer_service::{Coffer, Fault, TESTING_NAMESPACE, TestSettings};
use coffer_wire::arm::testing::{FaultProperties, TestSettingsProperties, TestSettingsResource};
use http::Method;

use super::toolkit::{ArmRequest, Failure, ok};
use crate::error::arm::ArmError;

/// The one settings resource of a vault is called `default`.
pub(super) async fn settings(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (subscription, rg, vault): (&str, &str, &str),
    name: &str,
) -> Result<Response, Failure> {
    if !name.eq_ignore_ascii_case("default") {
        return Err(ArmError::invalid_content(
            "A vault has one test settings resource, named 'default'.",
        )
        .into());
    }
    let id = format!(
        "/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{vault}/providers/{TESTING_NAMESPACE}/settings/default"
    );
    let settings = match r.method {
        Method::GET => {
            app.get_test_settings(caller, subscription, rg, vault)
                .await?
        }
        Method::PUT => {
            let body: TestSettingsResource = r.json_or_default()?;
            let input = TestSettings {
                throttle_limit: body.properties.throttle_limit,
                fault: body.properties.fault.map(|f| Fault {
                    status: f.status,
                    count: f.count,
                    percent: f.percent,
                    operation: f.operation,
                }),
                clock_offset_secs: body.properties.clock_offset_seconds,
            };
            app.put_test_settings(caller, subscription, rg, vault, input)
                .await?
        }
        _ => return Err(r.method_not_allowed().into()),
    };
    Ok(ok(TestSettingsResource {
        id: Some(id),
        name: Some("default".to_owned()),
        kind: Some(format!("{TESTING_NAMESPACE}/settings")),
        properties: TestSettingsProperties {
            throttle_limit: settings.throttle_limit,
            fault: settings.fault.map(|f| FaultProperties {
                status: f.status,
                count: f.count,
                percent: f.percent,
                operation: f.operation,
            }),
            clock_offset_seconds: settings.clock_offset_secs,
        },
    }))
}
