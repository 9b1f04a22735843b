//! Access tokens a vault has already accepted, so a client that sends the same bearer token on
//! every request pays for the RS256 check once. An entry is keyed by a 128-bit SipHash-2-4 of the
//! vault's tenant and the token under a key drawn at random when the process starts, lives only
//! while the token's own validity window allows it, and the whole cache is dropped whenever the
//! signing keys change.
//!
//! Why a keyed PRF and not SHA-256: the key only has to tell accepted tokens apart, and nobody
//! without the process's random key can compute it, let alone find a second token with the same
//! key; SipHash-2-4 is a PRF made for exactly that, and it costs a tenth of what SHA-256 over a
//! 1.5 KB token does (SHA-256 was a quarter of the instructions of a cached GET). The token
//! itself is never kept.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::RwLock;

use coffer_domain::Principal;
use siphasher::sip128::{Hasher128, SipHasher24};

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

pub(crate) struct TokenCache {
    entries: RwLock<HashMap<u128, Entry>>,
    secret: [u8; 16],
}

impl Default for TokenCache {
    fn default() -> Self {
        let mut secret = [0u8; 16];
        match coffer_crypto::random::bytes(16) {
            Ok(b) if b.len() == 16 => secret.copy_from_slice(&b),
            // Without randomness the cache stays unusable (every key is refused in `get`),
            // which costs speed, never safety.
            _ => tracing::error!("no randomness for the token cache key; the cache is off"),
        }
        Self {
            entries: RwLock::default(),
            secret,
        }
    }
}

impl TokenCache {
    fn key(&self, token: &str, tenant: &str) -> Option<u128> {
        if self.secret == [0u8; 16] {
            return None;
        }
        let mut h = SipHasher24::new_with_key(&self.secret);
        h.write(tenant.as_bytes());
        h.write(&[0]);
        h.write(token.as_bytes());
        Some(h.finish128().as_u128())
    }

    /// The principal of a token accepted before, if it is still inside its window at `now`.
    pub(crate) fn get(&self, token: &str, tenant: &str, now: i64, skew: i64) -> Option<Caller> {
        let key = self.key(token, tenant)?;
        let map = self.entries.read().ok()?;
        let e = map.get(&key)?;
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
        let Some(key) = self.key(token, tenant) else {
            return;
        };
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, e| e.expires > now);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(
                key,
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

    #[test]
    fn keys_depend_on_the_process_secret_tenant_and_every_byte() {
        let a = TokenCache::default();
        let b = TokenCache::default();
        let k = a.key("header.payload.sig", "t").unwrap();
        assert_ne!(
            Some(k),
            b.key("header.payload.sig", "t"),
            "another process, another key"
        );
        assert_ne!(Some(k), a.key("header.payload.sib", "t"));
        assert_ne!(Some(k), a.key("header.payload.sig", "u"));
        // The separator keeps tenant and token apart.
        assert_ne!(a.key("ab", "c"), a.key("b", "ca"));
        assert_eq!(Some(k), a.key("header.payload.sig", "t"));
    }
}
