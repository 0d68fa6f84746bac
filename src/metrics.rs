//! Prometheus metrics, kept in memory and rendered on `GET /metrics` in the OpenMetrics text
//! format by the Prometheus project's client (`prometheus-client`).
//!
//! Every label set here is bounded by construction (GitHub's event names, our endpoint
//! templates, HTTP statuses, the repositories with a policy), so each family stays small.
//!
//! Counters are registered without their `_total` suffix (the encoder appends it to the
//! samples), and the histograms and the byte gauge with a [`Unit`] (the encoder appends it
//! to the name and writes a `# UNIT` line): the exposed sample names are the ones in
//! docs/operations.md. A labelled family with no label set yet is not rendered at all (not
//! even its `# HELP`/`# TYPE` lines) until its first sample.

use std::borrow::Cow;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds (seconds) of the evaluation latency histogram's buckets.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of the store latency histogram's buckets.
const STORE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    /// Borrowed when counting, owned when looked up by [`Metrics::evaluations_of`].
    verdict: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstallationLabels {
    installation: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepositoryLabels {
    repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// All of the App's metrics. Each field is a handle onto a metric also held by `registry`,
/// which renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    evaluations: Family<VerdictLabels, Counter>,
    evaluation_seconds: Histogram,
    github_requests: Family<RequestLabels, Counter>,
    github_retries: Family<ReasonLabels, Counter>,
    rate_limit_remaining: Family<InstallationLabels, Gauge<u64, AtomicU64>>,
    queue_depth: Gauge<i64, AtomicI64>,
    evaluations_in_flight: Gauge<i64, AtomicI64>,
    cache: Family<CacheLabels, Counter>,
    reconcile_sweeps: Family<ResultLabels, Counter>,
    reconcile_queued: Counter,
    check_write_failures: Counter,
    store_seconds: Histogram,
    store_up: Gauge<i64, AtomicI64>,
    pending_work: Gauge<u64, AtomicU64>,
    claims_lost: Counter,
    stale_results: Counter,
    unverified_body_bytes: Gauge<i64, AtomicI64>,
    unapproved_merges: Family<RepositoryLabels, Counter>,
    unreviewed_pushes: Family<RepositoryLabels, Counter>,
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

impl Default for Metrics {
    fn default() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            deliveries: Family::default(),
            evaluations: Family::default(),
            evaluation_seconds: Histogram::new(LATENCY_BUCKETS.iter().copied()),
            github_requests: Family::default(),
            github_retries: Family::default(),
            rate_limit_remaining: Family::default(),
            queue_depth: Gauge::default(),
            evaluations_in_flight: Gauge::default(),
            cache: Family::default(),
            reconcile_sweeps: Family::default(),
            reconcile_queued: Counter::default(),
            check_write_failures: Counter::default(),
            store_seconds: Histogram::new(STORE_BUCKETS.iter().copied()),
            store_up: Gauge::default(),
            pending_work: Gauge::default(),
            claims_lost: Counter::default(),
            stale_results: Counter::default(),
            unverified_body_bytes: Gauge::default(),
            unapproved_merges: Family::default(),
            unreviewed_pushes: Family::default(),
        };
        m.registered()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// `self` with every metric registered, in the order they are rendered. Help texts have
    /// no final full stop: the registry adds one.
    fn registered(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "reviewgate_webhook_deliveries",
            "Webhook deliveries by event and outcome",
            self.deliveries.clone(),
        );
        r.register(
            "reviewgate_evaluations",
            "PR evaluations by verdict",
            self.evaluations.clone(),
        );
        r.register_with_unit(
            "reviewgate_evaluation_duration",
            "Time from dequeuing a PR to its check run being written",
            Unit::Seconds,
            self.evaluation_seconds.clone(),
        );
        r.register_with_unit(
            "reviewgate_store",
            "Time of one call to the store (SQLite or PostgreSQL)",
            Unit::Seconds,
            self.store_seconds.clone(),
        );
        r.register(
            "reviewgate_github_requests",
            "Requests to GitHub by endpoint and HTTP status (0: no response)",
            self.github_requests.clone(),
        );
        r.register(
            "reviewgate_github_retries",
            "Retried GitHub requests by reason",
            self.github_retries.clone(),
        );
        r.register(
            "reviewgate_github_rate_limit_remaining",
            "GitHub's x-ratelimit-remaining, per installation",
            self.rate_limit_remaining.clone(),
        );
        r.register(
            "reviewgate_cache_lookups",
            "Cache lookups by cache and result",
            self.cache.clone(),
        );
        r.register(
            "reviewgate_unapproved_merges",
            "Merges into a branch with a policy whose gate had not passed, by repository",
            self.unapproved_merges.clone(),
        );
        r.register(
            "reviewgate_unreviewed_pushes",
            "Pushes of commits that belong to no merged pull request, by repository",
            self.unreviewed_pushes.clone(),
        );
        r.register(
            "reviewgate_reconcile_sweeps",
            "Reconciliation sweeps by result",
            self.reconcile_sweeps.clone(),
        );
        r.register(
            "reviewgate_reconcile_queued",
            "PRs a sweep found out of date and queued",
            self.reconcile_queued.clone(),
        );
        r.register(
            "reviewgate_check_write_failures",
            "Check-run writes GitHub did not accept; retried while a pass would otherwise stand",
            self.check_write_failures.clone(),
        );
        r.register(
            "reviewgate_store_up",
            "1 while the store answers, 0 while it does not (webhooks then get 503)",
            self.store_up.clone(),
        );
        r.register(
            "reviewgate_pending_work",
            "Pull requests (and fan-outs) with work pending in the store, across all replicas",
            self.pending_work.clone(),
        );
        r.register(
            "reviewgate_claims_lost",
            "Work taken over after its holder's lease expired (a replica died or hung)",
            self.claims_lost.clone(),
        );
        r.register(
            "reviewgate_stale_results",
            "Verdicts not written because one covering later events already was",
            self.stale_results.clone(),
        );
        r.register(
            "reviewgate_queue_depth",
            "PRs waiting for evaluation",
            self.queue_depth.clone(),
        );
        r.register(
            "reviewgate_evaluations_in_flight",
            "Evaluations running now",
            self.evaluations_in_flight.clone(),
        );
        r.register_with_unit(
            "reviewgate_unverified_body",
            "Bytes of webhook bodies being read whose signature is not checked yet",
            Unit::Bytes,
            self.unverified_body_bytes.clone(),
        );
        self
    }

    /// A webhook delivery and what became of it (`accepted`, `ignored`, `bad_signature`,
    /// `bad_request`, `too_large`, `overloaded`, `duplicate`).
    pub fn delivery(&self, event: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event: event_label(event),
                outcome,
            })
            .inc();
    }

    /// An evaluation's outcome (`approved`, `not_approved`, `no_policy`, `invalid_policy`,
    /// `error`, `skipped`) and how long it took.
    pub fn evaluation(&self, verdict: &'static str, took: Duration) {
        self.evaluations
            .get_or_create(&VerdictLabels {
                verdict: Cow::Borrowed(verdict),
            })
            .inc();
        self.evaluation_seconds.observe(took.as_secs_f64());
    }

    /// One call to the store (`op` is kept for logs; the histogram has no labels) and how
    /// long it took.
    pub fn store_call(&self, _op: &'static str, took: Duration) {
        self.store_seconds.observe(took.as_secs_f64());
    }

    pub fn set_store_up(&self, up: bool) {
        self.store_up.set(i64::from(up));
    }

    pub fn set_pending_work(&self, n: u64) {
        self.pending_work.set(n);
    }

    /// Work taken over from a holder whose lease expired (a replica died or hung).
    pub fn claim_lost(&self) {
        self.claims_lost.inc();
    }

    /// A verdict not written because a newer one (covering later events) already was.
    pub fn stale_result(&self) {
        self.stale_results.inc();
    }

    /// A request to GitHub: the endpoint template and the status (0 when no response came).
    pub fn github_request(&self, endpoint: &'static str, status: u16) {
        self.github_requests
            .get_or_create(&RequestLabels { endpoint, status })
            .inc();
    }

    /// A retried GitHub request and why (`server_error`, `timeout`, `connection`,
    /// `rate_limited`, `secondary_rate_limit`, `token`).
    pub fn github_retry(&self, reason: &'static str) {
        self.github_retries
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn rate_limit_remaining(&self, installation: u64, remaining: u64) {
        self.rate_limit_remaining
            .get_or_create(&InstallationLabels { installation })
            .set(remaining);
    }

    /// Last known remaining quota of an installation.
    pub fn rate_limit_of(&self, installation: u64) -> Option<u64> {
        self.rate_limit_remaining
            .get(&InstallationLabels { installation })
            .map(|gauge| gauge.get())
    }

    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.set(depth as i64);
    }

    pub fn evaluation_started(&self) {
        self.evaluations_in_flight.inc();
    }

    pub fn evaluation_finished(&self) {
        self.evaluations_in_flight.dec();
    }

    /// A cache lookup (`policy`, `teams`, `check_run`) and whether it hit.
    pub fn cache(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache
            .get_or_create(&CacheLabels { cache, result })
            .inc();
    }

    /// A reconciliation sweep, and how many PRs it queued for evaluation.
    pub fn reconcile_sweep(&self, ok: bool, queued: usize) {
        let result = if ok { "ok" } else { "failed" };
        self.reconcile_sweeps
            .get_or_create(&ResultLabels { result })
            .inc();
        self.reconcile_queued.inc_by(queued as u64);
    }

    /// A check-run write GitHub did not accept (rate limit, 5xx, 422, lost answer).
    pub fn check_write_failure(&self) {
        self.check_write_failures.inc();
    }

    /// Check-run writes that failed so far (used by tests).
    pub fn check_write_failures(&self) -> u64 {
        self.check_write_failures.get()
    }

    /// Bytes of webhook bodies being read and not yet verified.
    pub fn set_unverified_body_bytes(&self, bytes: usize) {
        self.unverified_body_bytes.set(bytes as i64);
    }

    /// A merge recorded with `gate_passed` false, into `repository` (`owner/repo`).
    pub fn unapproved_merge(&self, repository: &str) {
        self.unapproved_merges
            .get_or_create(&RepositoryLabels {
                repository: repository.to_string(),
            })
            .inc();
    }

    /// An unreviewed push recorded, to `repository` (`owner/repo`).
    pub fn unreviewed_push(&self, repository: &str) {
        self.unreviewed_pushes
            .get_or_create(&RepositoryLabels {
                repository: repository.to_string(),
            })
            .inc();
    }

    /// Count of evaluations with a given outcome (used by tests and the soak harness).
    pub fn evaluations_of(&self, verdict: &str) -> u64 {
        self.evaluations
            .get(&VerdictLabels {
                verdict: Cow::Owned(verdict.to_string()),
            })
            .map(|counter| counter.get())
            .unwrap_or(0)
    }

    /// Every metric in the OpenMetrics text format (ending in `# EOF`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            // Only a value that cannot be encoded gets here; what came before it is kept.
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_openmetrics_text() {
        let m = Metrics::new();
        m.delivery("pull_request", "accepted");
        m.delivery("pull_request", "accepted");
        m.delivery("Evil\"{label}", "bad_signature");
        m.evaluation("approved", Duration::from_millis(20));
        m.evaluation("not_approved", Duration::from_secs(100));
        m.github_request("GET /repos/{owner}/{repo}/pulls/{number}", 200);
        m.rate_limit_remaining(42, 4999);
        m.set_queue_depth(3);
        m.store_call("claim", Duration::from_micros(300));
        m.set_unverified_body_bytes(1024);
        let text = m.render();
        for want in [
            "reviewgate_webhook_deliveries_total{event=\"pull_request\",outcome=\"accepted\"} 2",
            "reviewgate_webhook_deliveries_total{event=\"other\",outcome=\"bad_signature\"} 1",
            "reviewgate_evaluations_total{verdict=\"approved\"} 1",
            "reviewgate_evaluation_duration_seconds_bucket{le=\"0.025\"} 1",
            "reviewgate_evaluation_duration_seconds_bucket{le=\"30.0\"} 1",
            "reviewgate_evaluation_duration_seconds_bucket{le=\"+Inf\"} 2",
            "reviewgate_evaluation_duration_seconds_count 2",
            "reviewgate_store_seconds_bucket{le=\"0.0005\"} 1",
            "reviewgate_store_seconds_count 1",
            "reviewgate_github_requests_total{endpoint=\"GET /repos/{owner}/{repo}/pulls/{number}\",status=\"200\"} 1",
            "reviewgate_github_rate_limit_remaining{installation=\"42\"} 4999",
            "reviewgate_queue_depth 3",
            "reviewgate_unverified_body_bytes 1024",
            "# TYPE reviewgate_evaluation_duration_seconds histogram",
            "# UNIT reviewgate_evaluation_duration_seconds seconds",
            "# TYPE reviewgate_webhook_deliveries counter",
            "# HELP reviewgate_webhook_deliveries Webhook deliveries by event and outcome.\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Every histogram bucket, in order, and no others.
        let bounds: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("reviewgate_evaluation_duration_seconds_bucket{le=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert_eq!(
            bounds,
            [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
                "10.0", "30.0", "+Inf"
            ]
        );
        assert_eq!(m.evaluations_of("approved"), 1);
        assert_eq!(m.evaluations_of("error"), 0);
        assert_eq!(m.rate_limit_of(42), Some(4999));
        assert_eq!(m.rate_limit_of(43), None);
    }

    #[test]
    fn escapes_label_values() {
        let m = Metrics::new();
        // Repository names come from payloads; the encoder must escape what the format needs.
        m.unapproved_merge("acme/\"evil\"\\repo\nnext{x=\"1\"}");
        m.unreviewed_push("acme/ledger");
        let text = m.render();
        let want = r#"reviewgate_unapproved_merges_total{repository="acme/\"evil\"\\repo\nnext{x=\"1\"}"} 1"#;
        assert!(text.contains(want), "missing {want:?} in\n{text}");
        assert!(
            text.contains("reviewgate_unreviewed_pushes_total{repository=\"acme/ledger\"} 1"),
            "{text}"
        );
        // No raw newline made it into a sample line: every line is a comment or a sample.
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("reviewgate_"),
                "stray line {line:?} in\n{text}"
            );
        }
        // Event names are bounded before they become labels.
        m.delivery(&"x".repeat(41), "accepted");
        m.delivery("pull_request\n", "accepted");
        let text = m.render();
        assert!(
            text.contains(
                "reviewgate_webhook_deliveries_total{event=\"other\",outcome=\"accepted\"} 2"
            ),
            "{text}"
        );
    }

    #[test]
    fn counts_and_gauges_read_back() {
        let m = Metrics::new();
        m.check_write_failure();
        m.check_write_failure();
        assert_eq!(m.check_write_failures(), 2);
        m.evaluation_started();
        m.evaluation_started();
        m.evaluation_finished();
        m.set_store_up(true);
        m.set_pending_work(7);
        m.claim_lost();
        m.stale_result();
        m.reconcile_sweep(true, 4);
        m.reconcile_sweep(false, 0);
        m.cache("policy", true);
        m.cache("teams", false);
        m.github_retry("timeout");
        let text = m.render();
        for want in [
            "reviewgate_check_write_failures_total 2",
            "reviewgate_evaluations_in_flight 1",
            "reviewgate_store_up 1",
            "reviewgate_pending_work 7",
            "reviewgate_claims_lost_total 1",
            "reviewgate_stale_results_total 1",
            "reviewgate_reconcile_sweeps_total{result=\"ok\"} 1",
            "reviewgate_reconcile_sweeps_total{result=\"failed\"} 1",
            "reviewgate_reconcile_queued_total 4",
            "reviewgate_cache_lookups_total{cache=\"policy\",result=\"hit\"} 1",
            "reviewgate_cache_lookups_total{cache=\"teams\",result=\"miss\"} 1",
            "reviewgate_github_retries_total{reason=\"timeout\"} 1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        fn assert_traits<T: std::fmt::Debug + Send + Sync + Default>() {}
        assert_traits::<Metrics>();
    }
}
