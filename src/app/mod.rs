//! What the App does: turn stored work into fresh evaluations and check runs.
//!
//! Each evaluation reads the PR's current state from GitHub, evaluates it with the pure
//! evaluator, and writes the check run; the side effect comes last, after the decision.
//! Work, deliveries and the facts only webhooks carry live in the store ([`crate::store`]),
//! shared by every replica; what is kept in memory is only caches, keyed by content (policies
//! by blob SHA, check-run IDs by commit) or short-lived (team members, permissions), so
//! replicas and retries are safe: every evaluation recomputes from GitHub's state and updates
//! the check idempotently, and the store decides who evaluates what, and whose write is newest.

pub mod aggregate;
pub mod audit_event;
mod audit_trail;
pub mod batcher;
pub mod check_output;
mod dispatch;
pub mod durable;
mod evaluation;
pub mod events;
mod facts;
mod fanout;
mod floor;
mod heads;
pub mod intake;
pub mod jobs;
mod preview;
mod proposed_policy;
pub mod reconcile;
mod record;
mod review_requests;
mod snapshot;
mod write;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::sync::Notify;

use crate::github::checks::{CheckRunIds, Standing};
use crate::github::permissions::PermissionCache;
use crate::github::policy_source::PolicyCache;
use crate::github::teams::TeamCache;
use crate::github::{GitHub, GitHubError};
use crate::metrics::Metrics;
use crate::store::Claim;
pub use aggregate::WhenNoPolicy;
use batcher::Intake;
pub use dispatch::Turn;
use durable::StoreSlot;
pub use floor::usable as usable_policy;
use jobs::Job;

/// Longest wait between two tries of a job that must turn a passing check red.
const MAX_PASS_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The wait before try `attempt` (1, 2, …) of a job that must turn a passing check red:
/// 5 s, 10 s, 20 s, 40 s, then every minute, however long it takes.
fn pass_retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(5 << attempt.saturating_sub(1).min(4)).min(MAX_PASS_RETRY_DELAY)
}

/// What the App is told by its configuration.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub check_name: String,
    /// Where the policy lives on each base branch.
    pub policy_path: String,
    /// The repository of each organisation that holds its floor policy on its default branch.
    pub org_policy_repo: String,
    /// Largest share of an installation's remaining quota one sweep may spend (0–1), also
    /// when a change to the organisation's floor sweeps its installation.
    pub reconcile_quota_share: f64,
    pub team_cache_ttl: Duration,
    pub when_no_policy: WhenNoPolicy,
    /// Evaluations that may run at once in this replica.
    pub workers: usize,
    /// How long a claim holds work unless renewed.
    pub lease: Duration,
    /// How long events for one PR are gathered before it is evaluated.
    pub debounce: Duration,
    /// Time limit of one request to GitHub: no write starts with less lease left than this.
    pub github_timeout: Duration,
    /// Most pending PRs in the store, across all replicas.
    pub queue_capacity: usize,
    /// Most open PRs evaluated for the impact preview of a policy change (0: no preview).
    pub preview_max_prs: usize,
}

/// Shared state of the running App.
pub struct App {
    pub github: Arc<GitHub>,
    pub metrics: Arc<Metrics>,
    pub store: Arc<StoreSlot>,
    pub intake: Intake,
    pub policies: PolicyCache,
    pub teams: Arc<TeamCache>,
    pub permissions: Arc<PermissionCache>,
    pub check_runs: CheckRunIds,
    pub check_name: String,
    pub policy_path: String,
    pub when_no_policy: WhenNoPolicy,
    pub settings: AppSettings,
    /// This replica's name in claims and leases: host, process and a random part.
    pub holder: String,
    /// Woken when this replica stores work, so it need not wait for its next poll.
    wake: Notify,
    /// Claims being worked on here.
    running: AtomicUsize,
}

/// How one evaluation ended, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    NotApproved,
    NoPolicy,
    InvalidPolicy,
    Skipped,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::NotApproved => "not_approved",
            Outcome::NoPolicy => "no_policy",
            Outcome::InvalidPolicy => "invalid_policy",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
        }
    }
}

/// Why a job did not finish.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// GitHub could not be read or written; retried a few times when transient.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// A check that may be passing could not be turned red. Retried with backoff until it is,
    /// however long GitHub refuses: a pass left standing is the one failure a merge gate must
    /// not have.
    #[error("a check that may be passing could not be replaced: {0}")]
    PassStands(GitHubError, Standing),
    /// A verdict covering later events was already written: this one is dropped.
    #[error("a newer verdict was already written")]
    Stale,
    /// The claim was lost (its lease expired and another replica took the work), or the lease
    /// is too short to start a write: write nothing; the work is someone's again.
    #[error("the claim on this work was lost")]
    Lost,
    /// The store could not be reached for a step the evaluation cannot skip.
    #[error("the store: {0}")]
    Store(String),
}

impl App {
    pub fn new(github: Arc<GitHub>, store: Arc<StoreSlot>, settings: AppSettings) -> App {
        let metrics = github.metrics().clone();
        App {
            intake: Intake::start(store.clone(), metrics.clone()),
            metrics,
            github,
            store,
            policies: PolicyCache::default(),
            teams: Arc::new(TeamCache::new(settings.team_cache_ttl)),
            permissions: Arc::new(PermissionCache::default()),
            check_runs: CheckRunIds::default(),
            check_name: settings.check_name.clone(),
            policy_path: settings.policy_path.clone(),
            when_no_policy: settings.when_no_policy,
            holder: holder_id(),
            settings,
            wake: Notify::new(),
            running: AtomicUsize::new(0),
        }
    }

    /// Runs one job of a claim.
    async fn run(&self, turn: &Turn, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Pr { pr, head_sha } => self
                .evaluate_pr(turn, pr, None, head_sha.as_deref())
                .await
                .map(|_| ()),
            Job::MergeGroup { pr, head_sha } => self
                .evaluate_pr(turn, pr, Some(head_sha), Some(head_sha))
                .await
                .map(|_| ()),
            Job::PolicyChanged {
                installation,
                repo_id,
                repo,
                branch,
            } => {
                self.reevaluate_open(*installation, *repo_id, repo, Some(branch))
                    .await
            }
            Job::RepoChanged {
                installation,
                repo_id,
                repo,
            } => {
                self.reevaluate_open(*installation, *repo_id, repo, None)
                    .await
            }
            Job::Audit {
                installation,
                repo_id,
                repo,
            } => self.record_audit(turn, *installation, *repo_id, repo).await,
            Job::FloorChanged { installation, .. } => self.floor_changed(*installation).await,
        }
    }

    fn log_pass_stands(
        &self,
        claim: &Claim,
        error: &GitHubError,
        standing: Standing,
        delay: Duration,
    ) {
        let attempt = claim.attempts + 1;
        let failing_for_secs = claim
            .failing_since
            .map(|t| (crate::store::now_ms() - t).max(0) / 1000)
            .unwrap_or(0);
        let delay_secs = delay.as_secs();
        // A run known to pass is an open gate: ERROR. One GitHub did not let the App see
        // (during an outage, say) is retried all the same, but is not known to be open.
        if standing == Standing::Passing {
            tracing::error!(key = %claim.key, %error, attempt, failing_for_secs, delay_secs,
                "a passing check could not be turned to failure; trying again");
        } else {
            tracing::warn!(key = %claim.key, %error, attempt, failing_for_secs, delay_secs,
                "a check that may be passing could not be replaced; trying again");
        }
    }
}

/// Host name, process id and a random part: distinct for every replica and every restart.
fn holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "reviewgate".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{host}/{}/{nanos:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_that_stands_is_retried_at_most_a_minute_apart_for_ever() {
        let delays: Vec<u64> = (1..=8).map(|a| pass_retry_delay(a).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60, 60, 60]);
        // An hour of refusals is about 64 tries, and the next one is still a minute away.
        let total: u64 = (1..=64).map(|a| pass_retry_delay(a).as_secs()).sum();
        assert!(total >= 3600, "{total}");
        assert_eq!(pass_retry_delay(10_000), MAX_PASS_RETRY_DELAY);
    }

    #[test]
    fn holders_differ() {
        assert_ne!(holder_id(), "");
    }
}
