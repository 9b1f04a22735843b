//! What the checks of one vault request find out as they run (which vault, whether its audit log
//! is on, who called, how the firewall and the access policy decided), kept so the HTTP layer can
//! build the request's audit entry once the answer is known, however far the request got.

use std::sync::Mutex;

use crate::audit::{AuditIdentity, DenyCheck, DenyReason, FirewallDecision, Throttling};

/// The findings of one request so far. Every field is a closed type or Coffer's own text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Canonical name of the vault, once its record was read.
    pub vault: Option<String>,
    /// The vault's ARM id.
    pub resource_id: Option<String>,
    /// A diagnostic setting turns the vault's audit log on.
    pub audit_enabled: bool,
    /// A test helper is on for the vault (the answer says so in `x-coffer-test-mode`).
    pub test_mode: bool,
    /// Claims of the validated token.
    pub identity: Option<AuditIdentity>,
    pub firewall: Option<FirewallDecision>,
    /// Whether an access policy granted the permission; `None` if not consulted.
    pub access_policy_match: Option<bool>,
    /// The throttling limit the request hit.
    pub throttling: Option<Throttling>,
    /// The check that refused the request.
    pub deny: Option<DenyReason>,
}

/// Shared between the request path and the session its use case runs with.
#[derive(Debug, Default)]
pub struct RequestFacts {
    inner: Mutex<Facts>,
}

impl RequestFacts {
    /// A copy of what is known now.
    pub fn snapshot(&self) -> Facts {
        match self.inner.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether a test helper is on for the request's vault.
    pub fn test_mode(&self) -> bool {
        match self.inner.lock() {
            Ok(f) => f.test_mode,
            Err(poisoned) => poisoned.into_inner().test_mode,
        }
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Facts)) {
        match self.inner.lock() {
            Ok(mut facts) => f(&mut facts),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Records the refusal of `check`; the first refusal stays (a later one cannot happen on the
    /// same request, but must not hide the real cause).
    pub(crate) fn deny(&self, check: DenyCheck, id: &'static str) {
        self.update(|f| {
            f.deny.get_or_insert(DenyReason { check, id });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_stays() {
        let facts = RequestFacts::default();
        facts.deny(DenyCheck::Firewall, "ForbiddenByFirewall");
        facts.deny(DenyCheck::AccessPolicy, "MissingPermission");
        let f = facts.snapshot();
        assert_eq!(
            f.deny,
            Some(DenyReason {
                check: DenyCheck::Firewall,
                id: "ForbiddenByFirewall"
            })
        );
        facts.update(|f| f.access_policy_match = Some(false));
        assert_eq!(facts.snapshot().access_policy_match, Some(false));
    }
}
