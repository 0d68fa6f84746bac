//! What the log says while a GitHub endpoint fails.
//!
//! During an outage every evaluation's requests fail and are retried for up to the retry
//! deadline. A line per attempt would drown the log, and a line only when a request gives up
//! would come a minute late. So each endpoint (by route template) gets one WARN when an
//! attempt first fails — naming the template, the status or kind of error, and the attempt —
//! then one summary when a request to it gives up, and one when it answers again. Attempts in
//! between are at DEBUG.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An endpoint that is failing: since when, and how many attempts failed.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    failures: u64,
    /// A request to it has given up since it started failing (logged once).
    gave_up: bool,
}

/// Failing endpoints, by route template.
#[derive(Debug, Default)]
pub(super) struct Outages {
    failing: Mutex<HashMap<&'static str, Outage>>,
}

impl Outages {
    /// An attempt at `endpoint` failed with `what` (`status 502`, `timed out`, `connection:
    /// …`, `rate limited`); `attempt` counts from 1 for the request.
    pub(super) fn failed(&self, endpoint: &'static str, what: &str, attempt: u32) {
        let Ok(mut failing) = self.failing.lock() else {
            return;
        };
        match failing.get_mut(endpoint) {
            Some(outage) => {
                outage.failures += 1;
                tracing::debug!(endpoint, failure = %what, attempt, "GitHub request failed again");
            }
            None => {
                failing.insert(
                    endpoint,
                    Outage {
                        since: Instant::now(),
                        failures: 1,
                        gave_up: false,
                    },
                );
                tracing::warn!(
                    endpoint,
                    failure = %what,
                    attempt,
                    "GitHub request failed; retrying until the retry deadline (further failures of this endpoint are logged at debug until it answers or a request gives up)"
                );
            }
        }
    }

    /// A request to `endpoint` gave up after `attempts` over `took`.
    pub(super) fn gave_up(
        &self,
        endpoint: &'static str,
        attempts: u32,
        took: Duration,
        last: &str,
    ) {
        let Ok(mut failing) = self.failing.lock() else {
            return;
        };
        let outage = failing.entry(endpoint).or_insert(Outage {
            since: Instant::now(),
            failures: u64::from(attempts),
            gave_up: false,
        });
        if outage.gave_up {
            tracing::debug!(endpoint, attempts, last, "GitHub request gave up");
            return;
        }
        outage.gave_up = true;
        tracing::warn!(
            endpoint,
            attempts,
            took_ms = took.as_millis() as u64,
            failing_for_ms = outage.since.elapsed().as_millis() as u64,
            failures = outage.failures,
            last,
            "GitHub request gave up: the endpoint is still failing"
        );
    }

    /// `endpoint` answered; if it was failing, say that it recovered.
    pub(super) fn answered(&self, endpoint: &'static str) {
        let Ok(mut failing) = self.failing.lock() else {
            return;
        };
        if let Some(outage) = failing.remove(endpoint) {
            tracing::info!(
                endpoint,
                failures = outage.failures,
                failing_for_ms = outage.since.elapsed().as_millis() as u64,
                "GitHub endpoint answers again"
            );
        }
    }

    /// Whether `endpoint` is failing now (for tests).
    #[cfg(test)]
    pub(super) fn is_failing(&self, endpoint: &str) -> bool {
        self.failing
            .lock()
            .map(|f| f.contains_key(endpoint))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_fails_once_then_recovers() {
        let outages = Outages::default();
        outages.answered("GET /app");
        assert!(!outages.is_failing("GET /app"));
        outages.failed("GET /app", "status 502", 1);
        outages.failed("GET /app", "status 502", 2);
        assert!(outages.is_failing("GET /app"));
        assert!(!outages.is_failing("GET /repos/{owner}/{repo}"));
        outages.gave_up("GET /app", 2, Duration::from_secs(1), "status 502");
        outages.answered("GET /app");
        assert!(!outages.is_failing("GET /app"));
    }
}
