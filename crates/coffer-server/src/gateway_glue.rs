//! Keeps the gateway runtime serving what the management plane says: the configuration is
//! applied at start, on every local change signal and every few seconds (changes made by other
//! nodes of a shared store), and certificates read from vaults by versionless ids are refreshed
//! every `--gateway-poll-interval`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use coffer_gateway::Gateway;
use coffer_service::Coffer;

/// How often the configuration is re-read without a local change signal.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// The lease a node holds while it polls the vaults for new gateway certificate versions.
const REFRESH_LEASE: &str = "gateway-refresh";

/// Reads the configuration and applies it unless its generation is the one already served.
pub(crate) async fn reload(app: &Coffer, gateway: &Gateway, force: bool) {
    match app.gateway_config().await {
        Ok(cfg) => {
            if !force && gateway.generation() == Some(cfg.generation) {
                return;
            }
            let report = gateway.apply(&cfg);
            for why in &report.skipped {
                tracing::warn!(reason = %why, "gateway entry not served");
            }
            tracing::debug!(
                generation = cfg.generation,
                hosts = report.hosts,
                "gateway configuration applied"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the gateway configuration failed; the served one stays")
        }
    }
}

/// Starts the reload and refresh tasks.
pub(crate) fn spawn(
    app: Arc<Coffer>,
    gateway: Arc<Gateway>,
    poll: Duration,
    metrics: Option<Arc<coffer_api::Metrics>>,
    node: String,
) {
    let refresh_done = Arc::new(tokio::sync::Notify::new());
    {
        let app = Arc::clone(&app);
        let gateway = Arc::clone(&gateway);
        let refresh_done = Arc::clone(&refresh_done);
        tokio::spawn(async move {
            let mut changes = app.gateway_changes();
            loop {
                let force = tokio::select! {
                    r = changes.changed() => {
                        if r.is_err() {
                            // The service is gone; keep the timer going.
                            tokio::time::sleep(RELOAD_INTERVAL).await;
                        }
                        false
                    }
                    () = refresh_done.notified() => true,
                    () = tokio::time::sleep(RELOAD_INTERVAL) => false,
                };
                reload(&app, &gateway, force).await;
            }
        });
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; certificates were read when the hostnames were set.
        tick.tick().await;
        loop {
            tick.tick().await;
            // One node of a shared store polls the vaults; the others pick up what it stores
            // on their next reload.
            match app
                .hold_lease(REFRESH_LEASE, &node, poll.saturating_mul(2))
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "taking the gateway refresh lease failed");
                    continue;
                }
            }
            match app.refresh_gateway_certificates().await {
                Ok(true) => refresh_done.notify_one(),
                Ok(false) => {}
                Err(e) => {
                    // The service's errors name the vault and the reason, never the key.
                    tracing::warn!(error = %e, "gateway certificate refresh failed; the last good certificates stay");
                    if let Some(m) = &metrics {
                        m.gateway_certificate_refresh_failed();
                    }
                }
            }
        }
    });
}

/// Parses `--gateway-poll-interval` and the like: plain seconds (`30`), or a number with a
/// unit (`500ms`, `2s`, `5m`, `4h`, `1d`), or several (`1h30m`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return positive(Duration::from_secs(secs), text);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || unit_len == 0 {
            bail!(
                "{text:?} is not a duration: give seconds (30) or a number with a unit, e.g. 500ms, 2s, 5m, 4h"
            );
        }
        let n: u64 = rest[..digits].parse()?;
        let unit = &rest[digits..digits + unit_len];
        let one = match unit {
            "ms" => Duration::from_millis(1),
            "s" | "sec" | "secs" => Duration::from_secs(1),
            "m" | "min" | "mins" => Duration::from_secs(60),
            "h" | "hr" | "hrs" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => bail!("{text:?}: unknown unit {unit:?} (use ms, s, m, h or d)"),
        };
        total += one.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        rest = rest[digits + unit_len..].trim_start();
    }
    positive(total, text)
}

fn positive(d: Duration, text: &str) -> Result<Duration> {
    if d.is_zero() {
        bail!("{text:?}: the duration must be above zero");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds_or_with_units() {
        let d = |s| parse_duration(s).ok();
        assert_eq!(d("30"), Some(Duration::from_secs(30)));
        assert_eq!(d("2s"), Some(Duration::from_secs(2)));
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("4h"), Some(Duration::from_secs(4 * 3600)));
        assert_eq!(d("1h30m"), Some(Duration::from_secs(5400)));
        for bad in ["", "0", "0s", "s", "5x", "-1", "1.5h"] {
            assert!(d(bad).is_none(), "{bad}");
        }
    }
}
