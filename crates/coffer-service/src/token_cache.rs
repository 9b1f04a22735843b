//! Access tokens a vault has already accepted, so a client that sends the same bearer token on
//! every request pays for the RS256 check once. An entry is keyed by the SHA-256 of the token and
//! the vault's tenant, lives only while the token's own validity window allows it, and the whole
//! cache is dropped whenever the signing keys change.

use std::collections::HashMap;
use std::sync::RwLock;

use aws_lc_rs::digest;
use coffer_domain::Principal;

use crate::audit::AuditIdentity;

/// What an accepted token says about its caller: who it is for authorization, and the claims the
/// audit log keeps.
pub(crate) type Caller = (Principal, AuditIdentity);

/// Beyond this many entries the cache starts over; an idle token costs a few hundred bytes.
const MAX_ENTRIES: usize = 20_000;

#[derive(Clone)]
struct Entry {
    caller: Caller,
    not_before: i64,
    expires: i64,
}

#[derive(Default)]
pub(crate) struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], Entry>>,
}

fn key(token: &str, tenant: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(tenant.as_bytes());
    ctx.update(&[0]);
    ctx.update(token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl TokenCache {
    /// The principal of a token accepted before, if it is still inside its window at `now`.
    pub(crate) fn get(&self, token: &str, tenant: &str, now: i64, skew: i64) -> Option<Caller> {
        let map = self.entries.read().ok()?;
        let e = map.get(&key(token, tenant))?;
        (now - skew < e.expires && e.not_before <= now + skew).then(|| e.caller.clone())
    }

    pub(crate) fn put(
        &self,
        token: &str,
        tenant: &str,
        caller: Caller,
        not_before: i64,
        expires: i64,
        now: i64,
    ) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, e| e.expires > now);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(
                key(token, tenant),
                Entry {
                    caller,
                    not_before,
                    expires,
                },
            );
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Caller {
        (
            Principal {
                tenant_id: "t".into(),
                object_id: "o".into(),
                app_id: None,
                issuer: "i".into(),
            },
            AuditIdentity::default(),
        )
    }

    #[test]
    fn entries_respect_window_tenant_and_clear() {
        let c = TokenCache::default();
        c.put("tok", "t1", p(), 100, 200, 150);
        assert!(c.get("tok", "t1", 150, 0).is_some());
        assert!(c.get("tok", "t2", 150, 0).is_none(), "another vault tenant");
        assert!(c.get("tok2", "t1", 150, 0).is_none());
        assert!(c.get("tok", "t1", 200, 0).is_none(), "expired");
        assert!(c.get("tok", "t1", 250, 60).is_some(), "within skew");
        assert!(c.get("tok", "t1", 50, 10).is_none(), "not yet valid");
        c.clear();
        assert!(c.get("tok", "t1", 150, 0).is_none());
    }
}
