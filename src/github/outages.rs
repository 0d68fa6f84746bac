//! What the log says while a GitHub endpoint fails.
//!
//! During an outage every evaluation's requests fail and are retried for up to the retry
//! deadline. A line per attempt would drown the log, and a line only when a request gives up
//! would come a minute late. So each endpoint (by route template) gets one WARN when an
//! attempt first fails — naming the template, the status or kind of error, and the attempt —
//! then one summary when a request to it gives up, and one INFO when it answers again.
//! Attempts in between are at DEBUG.
//!
//! A partial outage (one pull request's files time out while other requests to the same
//! template succeed) would otherwise start and end an "outage" on every attempt, so WARN lines
//! of one endpoint are at least [`QUIET_FOR`] apart, and "answers again" is said only of an
//! outage that was warned about.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two WARN lines of the same kind for one endpoint.
pub(super) const QUIET_FOR: Duration = Duration::from_secs(60);

/// What to log for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Say {
    Warn,
    Info,
    Debug,
    Nothing,
}

/// One endpoint's failures.
#[derive(Debug, Default, Clone)]
struct Endpoint {
    /// Since when it has been failing; `None` while it answers.
    failing_since: Option<Instant>,
    /// Failed attempts in this outage.
    failures: u64,
    /// This outage was warned about (so its end is worth a line).
    warned: bool,
    /// When a failure, and a request giving up, were last warned about.
    failure_warned_at: Option<Instant>,
    give_up_warned_at: Option<Instant>,
}

fn quiet_since(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|t| now.saturating_duration_since(t) >= QUIET_FOR)
}

impl Endpoint {
    fn failed(&mut self, now: Instant) -> Say {
        if self.failing_since.is_none() {
            self.failing_since = Some(now);
            self.failures = 0;
            self.warned = false;
        }
        self.failures += 1;
        if !self.warned && quiet_since(self.failure_warned_at, now) {
            self.warned = true;
            self.failure_warned_at = Some(now);
            Say::Warn
        } else {
            Say::Debug
        }
    }

    fn gave_up(&mut self, now: Instant) -> Say {
        if self.failing_since.is_none() {
            self.failing_since = Some(now);
        }
        if quiet_since(self.give_up_warned_at, now) {
            self.give_up_warned_at = Some(now);
            self.warned = true;
            Say::Warn
        } else {
            Say::Debug
        }
    }

    fn answered(&mut self) -> Say {
        if self.failing_since.take().is_none() {
            return Say::Nothing;
        }
        if std::mem::take(&mut self.warned) {
            Say::Info
        } else {
            Say::Debug
        }
    }

    fn failing_for(&self, now: Instant) -> Duration {
        self.failing_since
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }
}

/// Failing endpoints, by route template (a fixed set, so the map stays small).
#[derive(Debug, Default)]
pub(super) struct Outages {
    endpoints: Mutex<HashMap<&'static str, Endpoint>>,
}

/// What an event did to an endpoint: what to log, and its failures so far.
struct Step {
    say: Say,
    failures: u64,
    failing_for_ms: u64,
}

impl Outages {
    /// Applies `event` to the endpoint's state. A poisoned lock (a panic elsewhere while it
    /// was held) still holds consistent counters, so logging goes on.
    fn step(
        &self,
        endpoint: &'static str,
        event: impl FnOnce(&mut Endpoint, Instant) -> Say,
    ) -> Step {
        let now = Instant::now();
        let mut map = self
            .endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = map.entry(endpoint).or_default();
        let failing_for_ms = e.failing_for(now).as_millis() as u64;
        let say = event(e, now);
        Step {
            say,
            failures: e.failures,
            failing_for_ms,
        }
    }

    /// An attempt at `endpoint` failed with `what` (`status 502: …`, `timed out`, a
    /// connection error, a rate limit); `attempt` counts from 1 for the request.
    pub(super) fn failed(&self, endpoint: &'static str, what: &str, attempt: u32) {
        match self.step(endpoint, Endpoint::failed).say {
            Say::Warn => tracing::warn!(
                endpoint,
                failure = %what,
                attempt,
                "GitHub request failed; retrying until the retry deadline (further failures of this endpoint are logged at debug until it answers or a request gives up)"
            ),
            _ => tracing::debug!(endpoint, failure = %what, attempt, "GitHub request failed again"),
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
        let Step {
            say,
            failures,
            failing_for_ms,
        } = self.step(endpoint, Endpoint::gave_up);
        match say {
            Say::Warn => tracing::warn!(
                endpoint,
                attempts,
                took_ms = took.as_millis() as u64,
                failing_for_ms,
                failures,
                last,
                "GitHub request gave up: the endpoint is still failing"
            ),
            _ => tracing::debug!(endpoint, attempts, last, "GitHub request gave up"),
        }
    }

    /// `endpoint` answered; if it was failing, say that it recovered.
    pub(super) fn answered(&self, endpoint: &'static str) {
        let Step {
            say,
            failures,
            failing_for_ms,
        } = self.step(endpoint, |e, _| e.answered());
        match say {
            Say::Info => tracing::info!(
                endpoint,
                failures,
                failing_for_ms,
                "GitHub endpoint answers again"
            ),
            Say::Debug => tracing::debug!(endpoint, failures, "GitHub endpoint answers again"),
            Say::Warn | Say::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_warns_once_then_says_it_ended() {
        let t0 = Instant::now();
        let mut e = Endpoint::default();
        assert_eq!(e.answered(), Say::Nothing, "an endpoint that never failed");
        assert_eq!(e.failed(t0), Say::Warn);
        for i in 1..50 {
            assert_eq!(e.failed(t0 + Duration::from_secs(i)), Say::Debug);
        }
        assert_eq!(e.gave_up(t0 + Duration::from_secs(50)), Say::Warn);
        assert_eq!(e.gave_up(t0 + Duration::from_secs(51)), Say::Debug);
        assert_eq!(e.failures, 50);
        assert_eq!(e.answered(), Say::Info);
        assert_eq!(e.answered(), Say::Nothing);
        // A new outage after a quiet minute is warned about again.
        assert_eq!(e.failed(t0 + Duration::from_secs(200)), Say::Warn);
        assert_eq!(e.failures, 1);
    }

    #[test]
    fn a_partial_outage_warns_at_most_once_a_minute() {
        // One request keeps failing while others to the same template succeed.
        let t0 = Instant::now();
        let mut e = Endpoint::default();
        let mut warnings = 0;
        let mut infos = 0;
        for s in 0..120 {
            let now = t0 + Duration::from_secs(s);
            for say in [e.failed(now), e.gave_up(now), e.answered()] {
                match say {
                    Say::Warn => warnings += 1,
                    Say::Info => infos += 1,
                    _ => {}
                }
            }
        }
        // Two minutes: a failure and a give-up warning at 0 s and at 60 s.
        assert_eq!(warnings, 4, "not one per attempt");
        assert_eq!(infos, 2, "an end only for a warned outage");
    }
}
