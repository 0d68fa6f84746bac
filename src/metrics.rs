//! Prometheus metrics, kept in memory and rendered as the text exposition format on
//! `GET /metrics`.
//!
//! Hand-written rather than pulled from a metrics crate: the App needs a handful of counters,
//! gauges and one histogram, and every label set here is bounded by construction (GitHub's
//! event names, our endpoint templates, HTTP statuses), so a small map per metric is enough.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the evaluation latency histogram's buckets.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of the store latency histogram's buckets.
const STORE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Count per bucket (not cumulative; summed when rendered).
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

/// All of the App's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    evaluations: Mutex<BTreeMap<&'static str, u64>>,
    evaluation_seconds: Mutex<Histogram>,
    github_requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    github_retries: Mutex<BTreeMap<&'static str, u64>>,
    rate_limit_remaining: Mutex<BTreeMap<u64, u64>>,
    queue_depth: AtomicI64,
    evaluations_in_flight: AtomicI64,
    cache: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    reconcile_sweeps: Mutex<BTreeMap<&'static str, u64>>,
    reconcile_queued: AtomicI64,
    check_write_failures: AtomicI64,
    store_seconds: Mutex<Histogram>,
    store_up: AtomicI64,
    pending_work: AtomicI64,
    claims_lost: AtomicI64,
    stale_results: AtomicI64,
    unverified_body_bytes: AtomicI64,
    unapproved_merges: Mutex<BTreeMap<String, u64>>,
    unreviewed_pushes: Mutex<BTreeMap<String, u64>>,
}

/// GitHub event names are a fixed set; anything else (only possible from a sender who
/// knows the secret) is folded into one label so label values stay bounded.
fn event_label(event: &str) -> String {
    let known = event.len() <= 40 && event.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if known {
        event.to_string()
    } else {
        "other".to_string()
    }
}

/// A label value escaped as the text format requires (`\\`, `"` and newlines).
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], took: Duration) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len()];
        }
        let secs = took.as_secs_f64();
        if let Some(i) = bounds.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, bounds: &[f64]) {
        let mut cumulative = 0;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += self.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// A webhook delivery and what became of it (`accepted`, `ignored`, `bad_signature`,
    /// `bad_request`, `too_large`, `overloaded`, `duplicate`).
    pub fn delivery(&self, event: &str, outcome: &'static str) {
        bump(&self.deliveries, (event_label(event), outcome));
    }

    /// An evaluation's outcome (`approved`, `not_approved`, `no_policy`, `invalid_policy`,
    /// `error`, `skipped`) and how long it took.
    pub fn evaluation(&self, verdict: &'static str, took: Duration) {
        bump(&self.evaluations, verdict);
        if let Ok(mut h) = self.evaluation_seconds.lock() {
            h.observe(LATENCY_BUCKETS, took);
        }
    }

    /// One call to the store (`op` is kept for logs; the histogram has no labels) and how
    /// long it took.
    pub fn store_call(&self, _op: &'static str, took: Duration) {
        if let Ok(mut h) = self.store_seconds.lock() {
            h.observe(STORE_BUCKETS, took);
        }
    }

    pub fn set_store_up(&self, up: bool) {
        self.store_up.store(i64::from(up), Ordering::Relaxed);
    }

    pub fn set_pending_work(&self, n: u64) {
        self.pending_work
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Work taken over from a holder whose lease expired (a replica died or hung).
    pub fn claim_lost(&self) {
        self.claims_lost.fetch_add(1, Ordering::Relaxed);
    }

    /// A verdict not written because a newer one (covering later events) already was.
    pub fn stale_result(&self) {
        self.stale_results.fetch_add(1, Ordering::Relaxed);
    }

    /// A request to GitHub: the endpoint template and the status (0 when no response came).
    pub fn github_request(&self, endpoint: &'static str, status: u16) {
        bump(&self.github_requests, (endpoint, status));
    }

    /// A retried GitHub request and why (`server_error`, `timeout`, `connection`,
    /// `rate_limited`, `secondary_rate_limit`, `token`).
    pub fn github_retry(&self, reason: &'static str) {
        bump(&self.github_retries, reason);
    }

    pub fn rate_limit_remaining(&self, installation: u64, remaining: u64) {
        if let Ok(mut m) = self.rate_limit_remaining.lock() {
            m.insert(installation, remaining);
        }
    }

    /// Last known remaining quota of an installation.
    pub fn rate_limit_of(&self, installation: u64) -> Option<u64> {
        self.rate_limit_remaining
            .lock()
            .ok()?
            .get(&installation)
            .copied()
    }

    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.store(depth as i64, Ordering::Relaxed);
    }

    pub fn evaluation_started(&self) {
        self.evaluations_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn evaluation_finished(&self) {
        self.evaluations_in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A cache lookup (`policy`, `teams`, `check_run`) and whether it hit.
    pub fn cache(&self, cache: &'static str, hit: bool) {
        bump(&self.cache, (cache, if hit { "hit" } else { "miss" }));
    }

    /// A reconciliation sweep, and how many PRs it queued for evaluation.
    pub fn reconcile_sweep(&self, ok: bool, queued: usize) {
        bump(&self.reconcile_sweeps, if ok { "ok" } else { "failed" });
        self.reconcile_queued
            .fetch_add(queued as i64, Ordering::Relaxed);
    }

    /// A check-run write GitHub did not accept (rate limit, 5xx, 422, lost answer).
    pub fn check_write_failure(&self) {
        self.check_write_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Check-run writes that failed so far (used by tests).
    pub fn check_write_failures(&self) -> u64 {
        self.check_write_failures.load(Ordering::Relaxed).max(0) as u64
    }

    /// Bytes of webhook bodies being read and not yet verified.
    pub fn set_unverified_body_bytes(&self, bytes: usize) {
        self.unverified_body_bytes
            .store(bytes as i64, Ordering::Relaxed);
    }

    /// A merge recorded with `gate_passed` false, into `repository` (`owner/repo`).
    pub fn unapproved_merge(&self, repository: &str) {
        bump(&self.unapproved_merges, repository.to_string());
    }

    /// An unreviewed push recorded, to `repository` (`owner/repo`).
    pub fn unreviewed_push(&self, repository: &str) {
        bump(&self.unreviewed_pushes, repository.to_string());
    }

    /// Count of evaluations with a given outcome (used by tests and the soak harness).
    pub fn evaluations_of(&self, verdict: &str) -> u64 {
        self.evaluations
            .lock()
            .map(|m| m.get(verdict).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "reviewgate_webhook_deliveries_total",
            "counter",
            "Webhook deliveries by event and outcome.",
            &self.deliveries,
            |(event, outcome)| format!("event=\"{event}\",outcome=\"{outcome}\""),
        );
        family(
            &mut out,
            "reviewgate_evaluations_total",
            "counter",
            "PR evaluations by verdict.",
            &self.evaluations,
            |verdict| format!("verdict=\"{verdict}\""),
        );
        header(
            &mut out,
            "reviewgate_evaluation_duration_seconds",
            "histogram",
            "Time from dequeuing a PR to its check run being written.",
        );
        if let Ok(h) = self.evaluation_seconds.lock() {
            h.render(
                &mut out,
                "reviewgate_evaluation_duration_seconds",
                LATENCY_BUCKETS,
            );
        }
        header(
            &mut out,
            "reviewgate_store_seconds",
            "histogram",
            "Time of one call to the store (SQLite or PostgreSQL).",
        );
        if let Ok(h) = self.store_seconds.lock() {
            h.render(&mut out, "reviewgate_store_seconds", STORE_BUCKETS);
        }
        family(
            &mut out,
            "reviewgate_github_requests_total",
            "counter",
            "Requests to GitHub by endpoint and HTTP status (0: no response).",
            &self.github_requests,
            |(endpoint, status)| format!("endpoint=\"{endpoint}\",status=\"{status}\""),
        );
        family(
            &mut out,
            "reviewgate_github_retries_total",
            "counter",
            "Retried GitHub requests by reason.",
            &self.github_retries,
            |reason| format!("reason=\"{reason}\""),
        );
        family(
            &mut out,
            "reviewgate_github_rate_limit_remaining",
            "gauge",
            "GitHub's x-ratelimit-remaining, per installation.",
            &self.rate_limit_remaining,
            |installation| format!("installation=\"{installation}\""),
        );
        family(
            &mut out,
            "reviewgate_cache_lookups_total",
            "counter",
            "Cache lookups by cache and result.",
            &self.cache,
            |(cache, result)| format!("cache=\"{cache}\",result=\"{result}\""),
        );
        family(
            &mut out,
            "reviewgate_unapproved_merges_total",
            "counter",
            "Merges into a branch with a policy whose gate had not passed, by repository.",
            &self.unapproved_merges,
            |repository| format!("repository=\"{}\"", label_value(repository)),
        );
        family(
            &mut out,
            "reviewgate_unreviewed_pushes_total",
            "counter",
            "Pushes of commits that belong to no merged pull request, by repository.",
            &self.unreviewed_pushes,
            |repository| format!("repository=\"{}\"", label_value(repository)),
        );
        family(
            &mut out,
            "reviewgate_reconcile_sweeps_total",
            "counter",
            "Reconciliation sweeps by result.",
            &self.reconcile_sweeps,
            |result| format!("result=\"{result}\""),
        );
        let scalars = [
            (
                "reviewgate_reconcile_queued_total",
                "counter",
                "PRs a sweep found out of date and queued.",
                &self.reconcile_queued,
            ),
            (
                "reviewgate_check_write_failures_total",
                "counter",
                "Check-run writes GitHub did not accept; retried while a pass would otherwise stand.",
                &self.check_write_failures,
            ),
            (
                "reviewgate_store_up",
                "gauge",
                "1 while the store answers, 0 while it does not (webhooks then get 503).",
                &self.store_up,
            ),
            (
                "reviewgate_pending_work",
                "gauge",
                "Pull requests (and fan-outs) with work pending in the store, across all replicas.",
                &self.pending_work,
            ),
            (
                "reviewgate_claims_lost_total",
                "counter",
                "Work taken over after its holder's lease expired (a replica died or hung).",
                &self.claims_lost,
            ),
            (
                "reviewgate_stale_results_total",
                "counter",
                "Verdicts not written because one covering later events already was.",
                &self.stale_results,
            ),
            (
                "reviewgate_queue_depth",
                "gauge",
                "PRs waiting for evaluation.",
                &self.queue_depth,
            ),
            (
                "reviewgate_evaluations_in_flight",
                "gauge",
                "Evaluations running now.",
                &self.evaluations_in_flight,
            ),
            (
                "reviewgate_unverified_body_bytes",
                "gauge",
                "Bytes of webhook bodies being read whose signature is not checked yet.",
                &self.unverified_body_bytes,
            ),
        ];
        for (name, kind, help, value) in scalars {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// One labelled metric family: its header, then a line per label set.
fn family<K>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    values: &Mutex<BTreeMap<K, u64>>,
    labels: impl Fn(&K) -> String,
) {
    header(out, name, kind, help);
    if let Ok(m) = values.lock() {
        for (key, n) in m.iter() {
            let _ = writeln!(out, "{name}{{{}}} {n}", labels(key));
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.delivery("pull_request", "accepted");
        m.delivery("pull_request", "accepted");
        m.delivery("Evil\"{label}", "bad_signature");
        m.evaluation("approved", Duration::from_millis(20));
        m.evaluation("not_approved", Duration::from_secs(100));
        m.github_request("GET /repos/{owner}/{repo}/pulls/{number}", 200);
        m.rate_limit_remaining(42, 4999);
        m.set_queue_depth(3);
        let text = m.render();
        for want in [
            "reviewgate_webhook_deliveries_total{event=\"pull_request\",outcome=\"accepted\"} 2",
            "reviewgate_webhook_deliveries_total{event=\"other\",outcome=\"bad_signature\"} 1",
            "reviewgate_evaluations_total{verdict=\"approved\"} 1",
            "reviewgate_evaluation_duration_seconds_bucket{le=\"0.025\"} 1",
            "reviewgate_evaluation_duration_seconds_bucket{le=\"30\"} 1",
            "reviewgate_evaluation_duration_seconds_bucket{le=\"+Inf\"} 2",
            "reviewgate_evaluation_duration_seconds_count 2",
            "reviewgate_github_requests_total{endpoint=\"GET /repos/{owner}/{repo}/pulls/{number}\",status=\"200\"} 1",
            "reviewgate_github_rate_limit_remaining{installation=\"42\"} 4999",
            "reviewgate_queue_depth 3",
            "# TYPE reviewgate_evaluation_duration_seconds histogram",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(m.evaluations_of("approved"), 1);
    }
}
