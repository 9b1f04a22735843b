//! A vault's test helpers as Coffer's own child resource,
//! `{vault id}/providers/Coffer.Testing/settings/default`: lowered throttling limits for now.
//! Every helper is off by default, and a vault with one on says so in each data-plane answer.

use coffer_domain::Principal;

use super::super::{ManagementError, bad};
use crate::Coffer;
use crate::records::TestingDoc;

/// The namespace of the test-helper resource.
pub const TESTING_NAMESPACE: &str = "Coffer.Testing";

/// Most transactions per window a lowered limit may allow (above it, use `--limits`).
const MAX_THROTTLE_LIMIT: u32 = 1_000_000;

/// A vault's test helpers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestSettings {
    /// Caps every per-vault throttling limit of the vault at this many transactions per window.
    pub throttle_limit: Option<u32>,
}

impl TestSettings {
    /// Whether any helper is on.
    pub fn any(&self) -> bool {
        self.throttle_limit.is_some()
    }
}

fn view(d: &TestingDoc) -> TestSettings {
    TestSettings {
        throttle_limit: d.throttle_limit,
    }
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
        let doc = TestingDoc {
            throttle_limit: input.throttle_limit,
        };
        self.modify_vault(&sub, rg, vault, |v| {
            v.testing = doc.clone();
            Ok(())
        })
        .await?;
        self.forget_vault(vault);
        Ok(view(&doc))
    }
}
