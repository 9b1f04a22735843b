//! The key providers a Coffer instance has (software always, a PKCS#11 token when configured)
//! and the bounded pool their slow calls run on, so RSA work never blocks the async workers.

use std::sync::{Arc, RwLock};

use coffer_crypto::keys::{KeyError, KeyProvider, SoftwareKeys};
use tokio::sync::Semaphore;

use crate::ServiceError;

pub(crate) const SOFTWARE: &str = "software";

pub(crate) struct KeyProviders {
    software: Arc<dyn KeyProvider>,
    hsm: RwLock<Option<Arc<dyn KeyProvider>>>,
    /// At most this many provider calls run at once; the rest wait their turn.
    permits: Arc<Semaphore>,
}

impl Default for KeyProviders {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            software: Arc::new(SoftwareKeys),
            hsm: RwLock::new(None),
            permits: Arc::new(Semaphore::new(cores.max(1))),
        }
    }
}

impl KeyProviders {
    pub(crate) fn set_hsm(&self, p: Arc<dyn KeyProvider>) {
        match self.hsm.write() {
            Ok(mut h) => *h = Some(p),
            Err(poisoned) => *poisoned.into_inner() = Some(p),
        }
    }

    pub(crate) fn hsm(&self) -> Option<Arc<dyn KeyProvider>> {
        match self.hsm.read() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn software(&self) -> Arc<dyn KeyProvider> {
        Arc::clone(&self.software)
    }

    /// The provider a stored key names.
    pub(crate) fn named(&self, name: &str) -> Result<Arc<dyn KeyProvider>, ServiceError> {
        if name == SOFTWARE {
            return Ok(self.software());
        }
        self.hsm()
            .filter(|h| h.name() == name)
            .ok_or_else(|| {
                ServiceError::BadParameter(format!(
                    "This key lives in a {name} key provider that this Coffer instance is not configured with."
                ))
            })
    }

    /// Runs a provider call on the blocking pool, at most `permits` at a time. The permit goes
    /// with the call onto its thread: a caller that gives up (its client hung up) must not free
    /// a place while its RSA generation still runs, or abandoned requests would pile up
    /// unbounded work.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Internal("key provider pool closed".to_owned()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| ServiceError::Internal("key provider call did not finish".to_owned()))?
        .map_err(ServiceError::from)
    }
}

impl From<KeyError> for ServiceError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::UnsupportedAlgorithm(m)
            | KeyError::InvalidKey(m)
            | KeyError::InvalidInput(m) => Self::BadParameter(m),
            KeyError::DecryptFailed => Self::BadParameter(KeyError::DecryptFailed.to_string()),
            KeyError::Provider(m) => Self::Internal(format!("key provider: {m}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn providers(permits: usize) -> KeyProviders {
        KeyProviders {
            software: Arc::new(SoftwareKeys),
            hsm: RwLock::new(None),
            permits: Arc::new(Semaphore::new(permits)),
        }
    }

    #[tokio::test]
    async fn an_abandoned_call_keeps_its_place_until_its_work_ends() {
        let p = Arc::new(providers(1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let caller = Arc::clone(&p);
        let task = tokio::spawn(async move {
            caller
                .run(move || {
                    let _ = wait.recv();
                    Ok(())
                })
                .await
        });
        while p.permits.available_permits() != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(p.permits.available_permits(), 0, "the work still runs");
        release.send(()).unwrap();
        for _ in 0..500 {
            if p.permits.available_permits() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(p.permits.available_permits(), 1);
        // The next call gets the place.
        assert_eq!(p.run(|| Ok(7)).await.unwrap(), 7);
    }
}
