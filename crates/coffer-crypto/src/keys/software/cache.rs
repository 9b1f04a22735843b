//! A small process-wide cache of parsed private keys. Parsing an RSA PKCS#8 key (which aws-lc-rs
//! validates) costs about half a signature, so keys in use are kept parsed, keyed by a SHA-256 of
//! their material. Bounded: when full it starts over, which keeps the hot keys after one miss.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};

use crate::keys::KeyError;

const CAPACITY: usize = 256;

pub(super) struct Parsed<T> {
    map: Mutex<HashMap<[u8; 32], Arc<T>>>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Parsed<T> {
    /// The parsed form of `material`, parsing (and keeping) it on a miss.
    pub(super) fn get_or_parse(
        &self,
        material: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<T, KeyError>,
    ) -> Result<Arc<T>, KeyError> {
        let mut id = [0u8; 32];
        id.copy_from_slice(digest(&SHA256, material).as_ref());
        if let Some(hit) = self.lock().get(&id) {
            return Ok(Arc::clone(hit));
        }
        // Parse outside the lock: other keys' operations go on meanwhile.
        let parsed = Arc::new(parse(material)?);
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(id, Arc::clone(&parsed));
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<T>>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_per_material_and_stays_bounded() {
        let cache: Parsed<usize> = Parsed::default();
        let mut calls = 0;
        for _ in 0..3 {
            let v = cache
                .get_or_parse(b"one", |m| {
                    calls += 1;
                    Ok(m.len())
                })
                .unwrap();
            assert_eq!(*v, 3);
        }
        assert_eq!(calls, 1);
        assert!(
            cache
                .get_or_parse(b"bad", |_| Err(KeyError::InvalidKey("x".into())))
                .is_err()
        );
        for i in 0..(CAPACITY * 2) {
            cache.get_or_parse(&i.to_le_bytes(), |_| Ok(i)).unwrap();
        }
        assert!(cache.lock().len() <= CAPACITY);
    }
}
