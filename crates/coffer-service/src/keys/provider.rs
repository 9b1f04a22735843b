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

    /// Runs a provider call on the blocking pool, at most `permits` at a time.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let _permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Internal("key provider pool closed".to_owned()))?;
        tokio::task::spawn_blocking(f)
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
