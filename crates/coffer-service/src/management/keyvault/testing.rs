//! A vault's test helpers as Coffer's own child resource,
//! `{vault id}/providers/Coffer.Testing/settings/default`: lowered throttling limits, injected
//! 429/503 faults and a clock offset.
//! Every helper is off by default, and a vault with one on says so in each data-plane answer.

use coffer_domain::{Principal, VaultOp};

use super::super::{ManagementError, bad};
use crate::Coffer;
use crate::records::{FaultDoc, TestingDoc};

/// The namespace of the test-helper resource.
pub const TESTING_NAMESPACE: &str = "Coffer.Testing";

/// Furthest a vault's clock may run ahead: ten years.
const MAX_CLOCK_OFFSET: i64 = 10 * 366 * 86_400;

/// Most transactions per window a lowered limit may allow (above it, use `--limits`).
const MAX_THROTTLE_LIMIT: u32 = 1_000_000;

/// A vault's test helpers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestSettings {
    /// Caps every per-vault throttling limit of the vault at this many transactions per window.
    pub throttle_limit: Option<u32>,
    pub fault: Option<Fault>,
    /// Seconds the vault's clock runs ahead (0 to 10 years).
    pub clock_offset_secs: Option<i64>,
}

/// Injected failures: `status` (429 or 503) for the next `count` requests, or for `percent` of
/// them (neither: every request), optionally only for `operation` (an audit name, `SecretGet`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub count: Option<u32>,
    pub percent: Option<u32>,
    pub operation: Option<String>,
}

impl TestSettings {
    /// Whether any helper is on.
    pub fn any(&self) -> bool {
        self.throttle_limit.is_some() || self.fault.is_some() || self.clock_offset_secs.is_some()
    }
}

fn view(d: &TestingDoc) -> TestSettings {
    TestSettings {
        throttle_limit: d.throttle_limit,
        fault: d.fault.as_ref().map(|f| Fault {
            status: f.status,
            count: f.count,
            percent: f.percent,
            operation: f.operation.clone(),
        }),
        clock_offset_secs: d.clock_offset_secs,
    }
}

fn fault_doc(f: Fault) -> Result<FaultDoc, ManagementError> {
    if !matches!(f.status, 429 | 503) {
        return Err(bad(
            "BadRequest",
            format!("fault.status must be 429 or 503, not {}.", f.status),
        ));
    }
    if f.count.is_some() && f.percent.is_some() {
        return Err(bad(
            "BadRequest",
            "Give fault.count or fault.percent, not both.".to_owned(),
        ));
    }
    if f.percent.is_some_and(|p| !(1..=100).contains(&p)) {
        return Err(bad(
            "BadRequest",
            "fault.percent must be between 1 and 100.".to_owned(),
        ));
    }
    let operation = match f.operation {
        None => None,
        Some(o) => Some(
            VaultOp::ALL
                .iter()
                .map(|op| op.audit_name())
                .find(|n| n.eq_ignore_ascii_case(&o))
                .ok_or_else(|| {
                    bad(
                        "BadRequest",
                        format!(
                            "fault.operation '{}' is not a Key Vault operation name (e.g. SecretGet, KeySign).",
                            o.chars().take(64).collect::<String>()
                        ),
                    )
                })?
                .to_owned(),
        ),
    };
    Ok(FaultDoc {
        status: f.status,
        count: f.count,
        percent: f.percent,
        operation,
        generation: uuid::Uuid::new_v4().to_string(),
    })
}

impl Coffer {
    /// The test helpers of a vault.
    pub async fn get_test_settings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
    ) -> Result<TestSettings, ManagementError> {
        let sub = self
            .authorize_vault(
                caller,
                subscription,
                rg,
                vault,
                "providers/Coffer.Testing/settings/read",
            )
            .await?;
        Ok(view(&self.vault_in(&sub, rg, vault).await?.0.testing))
    }

    /// Replaces the test helpers of a vault (all off: the default).
    pub async fn put_test_settings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        input: TestSettings,
    ) -> Result<TestSettings, ManagementError> {
        if input.throttle_limit.is_some_and(|l| l > MAX_THROTTLE_LIMIT) {
            return Err(bad(
                "BadRequest",
                format!(
                    "throttleLimit must be between 0 and {MAX_THROTTLE_LIMIT} transactions per window."
                ),
            ));
        }
        let sub = self
            .authorize_vault(
                caller,
                subscription,
                rg,
                vault,
                "providers/Coffer.Testing/settings/write",
            )
            .await?;
        if input
            .clock_offset_secs
            .is_some_and(|o| !(0..=MAX_CLOCK_OFFSET).contains(&o))
        {
            return Err(bad(
                "BadRequest",
                format!(
                    "clockOffsetSeconds must be between 0 and {MAX_CLOCK_OFFSET} (the clock only moves forward)."
                ),
            ));
        }
        let doc = TestingDoc {
            throttle_limit: input.throttle_limit,
            fault: input.fault.map(fault_doc).transpose()?,
            clock_offset_secs: input.clock_offset_secs,
        };
        self.modify_vault(&sub, rg, vault, |v| {
            v.testing = doc.clone();
            Ok(())
        })
        .await?;
        self.forget_vault(vault);
        if doc.clock_offset_secs.is_some() {
            // What the moved clock makes due is done now, not at the next background pass:
            // scheduled purges, key rotations and certificate lifetime actions.
            if let Err(e) = self.purge_expired().await {
                tracing::warn!(error = %e, "purging after a clock change failed");
            }
            if let Err(e) = self.run_key_rotations().await {
                tracing::warn!(error = %e, "key rotation after a clock change failed");
            }
            if let Err(e) = self.run_certificate_renewals().await {
                tracing::warn!(error = %e, "certificate renewal after a clock change failed");
            }
        }
        Ok(view(&doc))
    }
}
