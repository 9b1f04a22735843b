//! The key providers a Coffer instance has (software always, a PKCS#11 token when configured)
//! and the pool of threads their slow calls run on, so RSA work never blocks the async workers.
//!
//! The pool is a few threads of its own (one per core) fed by a queue, not Tokio's blocking
//! pool: under load a thread that finishes a signature takes the next queued job at once, where
//! a hop through `spawn_blocking` per call costs two thread wake-ups and leaves a gap between
//! jobs. A semaphore bounds the calls queued or running, so a flood waits its turn in the async
//! world instead of piling up work.

use std::sync::{Arc, Mutex, RwLock, mpsc};

use coffer_crypto::keys::{KeyError, KeyProvider, SoftwareKeys};
use tokio::sync::{Semaphore, oneshot};

use crate::ServiceError;

pub(crate) const SOFTWARE: &str = "software";

/// Calls queued or running per pool thread.
const QUEUED_PER_THREAD: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct KeyProviders {
    software: Arc<dyn KeyProvider>,
    hsm: RwLock<Option<Arc<dyn KeyProvider>>>,
    /// At most this many provider calls are queued or running; the rest wait their turn.
    permits: Arc<Semaphore>,
    /// The pool's queue; its threads end when this is dropped.
    jobs: mpsc::Sender<Job>,
}

impl Default for KeyProviders {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_pool(cores.max(1), cores.max(1) * QUEUED_PER_THREAD)
    }
}

/// One pool thread: runs queued jobs until the queue's sender is gone. A job that panics is
/// contained (its caller sees its answer channel close), so the thread lives on.
fn pool_thread(queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let next = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

impl KeyProviders {
    /// Providers whose calls run on `threads` threads, at most `permits` queued or running.
    fn with_pool(threads: usize, permits: usize) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let q = Arc::clone(&queue);
            // A thread that cannot be started leaves the others; with none, calls fail cleanly.
            let _ = std::thread::Builder::new()
                .name(format!("coffer-keys-{i}"))
                .spawn(move || pool_thread(q));
        }
        Self {
            software: Arc::new(SoftwareKeys),
            hsm: RwLock::new(None),
            permits: Arc::new(Semaphore::new(permits.max(1))),
            jobs,
        }
    }

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

    /// Runs a provider call on the pool, at most `permits` queued or running. The permit goes
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
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _permit = permit;
                let _ = answer.send(f());
            }))
            .map_err(|_| ServiceError::Internal("key provider pool closed".to_owned()))?;
        answered
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
        KeyProviders::with_pool(1, permits)
    }

    #[tokio::test]
    async fn an_abandoned_call_keeps_its_place_until_its_work_ends() {
        let p = Arc::new(providers(1));
        let (release, wait) = mpsc::channel::<()>();
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

    #[tokio::test]
    async fn a_call_that_panics_fails_cleanly_and_the_pool_lives_on() {
        let p = providers(2);
        let failed = p.run::<()>(|| panic!("a provider bug")).await;
        assert!(matches!(failed, Err(ServiceError::Internal(_))));
        assert_eq!(p.run(|| Ok(7)).await.unwrap(), 7);
    }
}
