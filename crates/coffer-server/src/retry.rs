//! How the CLI's HTTP calls behave when the server is busy: a 429 or 503 is retried with
//! exponential backoff and jitter, honouring `Retry-After`, bounded in attempts and in total
//! time, with a progress line on stderr while it waits.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Most attempts of one call (the first included).
const MAX_ATTEMPTS: u32 = 6;
/// Longest the CLI keeps retrying one call.
const MAX_TOTAL: Duration = Duration::from_secs(60);
/// The first backoff without `Retry-After`; it doubles per attempt.
const BASE_DELAY: Duration = Duration::from_millis(500);
/// The longest single wait.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Whether an answer with `status` is worth retrying.
pub(crate) fn retryable(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// The wait before attempt `attempt + 1` (`attempt` counts from 1): the server's `Retry-After`
/// when it gave one, else `BASE_DELAY * 2^(attempt-1)` scaled by `jitter` (in `[0.5, 1.0]`, so
/// clients that were refused together do not come back together); never above `MAX_DELAY`.
pub(crate) fn delay(attempt: u32, retry_after_secs: Option<u64>, jitter: f64) -> Duration {
    let d = match retry_after_secs {
        Some(s) => Duration::from_secs(s),
        None => {
            let exp = BASE_DELAY.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
            exp.mul_f64(jitter.clamp(0.5, 1.0))
        }
    };
    d.min(MAX_DELAY)
}

/// A jitter factor in `[0.5, 1.0]` from the clock's nanoseconds: enough to spread clients.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    0.5 + f64::from(nanos % 1000) / 2000.0
}

fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Sends `req`, retrying 429 and 503 answers (see the module docs). The last answer is returned
/// whatever its status once the attempts or the time are spent; a body that cannot be replayed
/// is sent once.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let started = Instant::now();
    let mut attempt = 1;
    let mut current = req;
    loop {
        let next = current.try_clone();
        let resp = current.send().await.context("sending the request")?;
        let status = resp.status().as_u16();
        let Some(again) = next else {
            return Ok(resp);
        };
        if !retryable(status) || attempt >= MAX_ATTEMPTS {
            return Ok(resp);
        }
        let wait = delay(attempt, retry_after(&resp), jitter());
        if started.elapsed() + wait > MAX_TOTAL {
            return Ok(resp);
        }
        eprintln!(
            "coffer: the server answered {status}{}; retrying in {:.1} s (attempt {} of {MAX_ATTEMPTS})",
            if status == 429 { " (throttled)" } else { "" },
            wait.as_secs_f64(),
            attempt + 1
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
        current = again;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn delays_honour_retry_after_and_back_off_with_jitter() {
        assert_eq!(delay(1, Some(3), 0.7), Duration::from_secs(3));
        assert_eq!(delay(1, Some(3600), 0.7), MAX_DELAY);
        assert_eq!(delay(1, None, 1.0), Duration::from_millis(500));
        assert_eq!(delay(3, None, 1.0), Duration::from_secs(2));
        assert_eq!(delay(3, None, 0.5), Duration::from_secs(1));
        assert_eq!(
            delay(3, None, 0.1),
            Duration::from_secs(1),
            "jitter is clamped"
        );
        assert_eq!(delay(40, None, 1.0), MAX_DELAY);
        assert!(retryable(429) && retryable(503) && !retryable(500) && !retryable(404));
        let j = jitter();
        assert!((0.5..=1.0).contains(&j));
    }

    /// A plain-HTTP server on loopback that answers `first` to the first `n` requests, then 200.
    async fn flaky(first: u16, n: u32) -> (String, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move || {
            let counter = Arc::clone(&counter);
            async move {
                let i = counter.fetch_add(1, Ordering::SeqCst);
                if i < n {
                    (
                        axum::http::StatusCode::from_u16(first).unwrap(),
                        [(axum::http::header::RETRY_AFTER, "1")],
                        "{}",
                    )
                } else {
                    (
                        axum::http::StatusCode::OK,
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        "{\"ok\":true}",
                    )
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/x"), seen)
    }

    #[tokio::test]
    async fn a_throttled_call_is_retried_after_retry_after_and_succeeds() {
        let (url, seen) = flaky(429, 2).await;
        let c = reqwest::Client::new();
        let resp = send(c.put(&url).json(&serde_json::json!({"a": 1})))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let (url, seen) = flaky(500, 1).await;
        let resp = send(reqwest::Client::new().get(&url)).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}
