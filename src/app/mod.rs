//! What the App does: turn jobs into fresh evaluations and check runs.
//!
//! Each evaluation reads the PR's current state from GitHub, evaluates it with the pure
//! evaluator, and writes the check run; the side effect comes last, after the decision.
//! Nothing is remembered between evaluations except caches keyed by content (policies by
//! blob SHA, check-run IDs by commit) or short-lived (team members, permissions), and the
//! facts only webhooks carry ([`memory`]), so replicas and retries are safe: every evaluation
//! recomputes from GitHub's state and updates the check idempotently.

pub mod aggregate;
pub mod check_output;
mod commit_lock;
mod evaluation;
pub mod events;
mod facts;
mod fanout;
mod intake;
pub mod jobs;
pub mod memory;
pub mod queue;
pub mod reconcile;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::github::checks::{CheckRunIds, Standing};
use crate::github::permissions::PermissionCache;
use crate::github::policy_source::PolicyCache;
use crate::github::teams::TeamCache;
use crate::github::{GitHub, GitHubError};
use crate::metrics::Metrics;
pub use aggregate::WhenNoPolicy;
use commit_lock::CommitLocks;
use jobs::{Job, JobKey};
use memory::{Pushers, TeamIndex};
use queue::Queue;

/// How many times a job that failed on GitHub errors is retried by the App itself (further
/// events retry it too).
const MAX_RETRIES: u32 = 3;
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
    pub team_cache_ttl: Duration,
    pub when_no_policy: WhenNoPolicy,
}

/// Shared state of the running App.
pub struct App {
    pub github: Arc<GitHub>,
    pub metrics: Arc<Metrics>,
    pub queue: Arc<Queue>,
    pub policies: PolicyCache,
    pub teams: Arc<TeamCache>,
    pub permissions: Arc<PermissionCache>,
    pub check_runs: CheckRunIds,
    pub pushers: Pushers,
    pub team_index: TeamIndex,
    pub check_name: String,
    pub policy_path: String,
    pub when_no_policy: WhenNoPolicy,
    commits: CommitLocks,
    retries: std::sync::Mutex<BTreeMap<JobKey, (u32, Instant)>>,
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
    /// A check that passes could not be turned red. Retried with backoff until it is, however
    /// long GitHub refuses: a pass left standing is the one failure a merge gate must not have.
    #[error("a check that may be passing could not be replaced: {0}")]
    PassStands(GitHubError, Standing),
}

impl App {
    pub fn new(github: Arc<GitHub>, queue: Arc<Queue>, settings: AppSettings) -> App {
        App {
            metrics: github.metrics().clone(),
            github,
            queue,
            policies: PolicyCache::default(),
            teams: Arc::new(TeamCache::new(settings.team_cache_ttl)),
            permissions: Arc::new(PermissionCache::default()),
            check_runs: CheckRunIds::default(),
            pushers: Pushers::default(),
            team_index: TeamIndex::default(),
            check_name: settings.check_name,
            policy_path: settings.policy_path,
            when_no_policy: settings.when_no_policy,
            commits: CommitLocks::default(),
            retries: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// One worker: takes jobs until the queue is closed and drained.
    pub async fn work(self: Arc<Self>) {
        while let Some((key, job)) = self.queue.next().await {
            // Each job runs in its own task so that a panic (a bug) ends that job only: the
            // worker survives, the queue entry is released, and the PR is retried later
            // instead of being stuck "running" forever.
            let task = tokio::spawn({
                let (app, job) = (self.clone(), job.clone());
                async move { app.run(&job).await }
            });
            let result = match task.await {
                Ok(result) => result,
                Err(e) => {
                    tracing::error!(job = ?key, error = %e, "evaluation panicked; retrying later");
                    self.metrics.evaluation("error", Duration::ZERO);
                    Err(JobError::GitHub(GitHubError::Malformed {
                        endpoint: "evaluation",
                        detail: "the evaluation panicked".into(),
                    }))
                }
            };
            self.queue.done(&key);
            match result {
                Ok(()) => {
                    self.retries_mut(|r| r.remove(&key));
                }
                Err(JobError::PassStands(e, standing)) => self.retry_pass(key, job, &e, standing),
                Err(JobError::GitHub(e)) if e.is_transient() => self.retry_later(key, job, &e),
                Err(JobError::GitHub(e)) => {
                    self.retries_mut(|r| r.remove(&key));
                    tracing::warn!(job = ?key, error = %e, "job failed; GitHub's answer will not change by retrying")
                }
            }
        }
    }

    fn retries_mut<T>(&self, f: impl FnOnce(&mut BTreeMap<JobKey, (u32, Instant)>) -> T) -> T {
        let mut r = self.retries.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r)
    }

    /// Counts one more failure of `key`; returns the attempt number and when the first was.
    fn failed_once_more(&self, key: &JobKey) -> (u32, Instant) {
        self.retries_mut(|r| {
            let entry = r.entry(key.clone()).or_insert((0, Instant::now()));
            entry.0 += 1;
            *entry
        })
    }

    /// Requeues a job that failed on GitHub, with growing delays, a few times.
    fn retry_later(&self, key: JobKey, job: Job, error: &GitHubError) {
        let (attempt, _) = self.failed_once_more(&key);
        if attempt > MAX_RETRIES {
            tracing::error!(job = ?key, %error, "giving up on this job until the next event for it");
            self.retries_mut(|r| r.remove(&key));
            return;
        }
        let delay = Duration::from_secs(5 * (1 << (attempt - 1)));
        tracing::warn!(job = ?key, %error, attempt, delay_secs = delay.as_secs(), "job failed; retrying later");
        self.queue.push_internal(job, delay);
    }

    /// Requeues a job whose failing verdict could not replace a passing check: exponential
    /// backoff up to [`MAX_PASS_RETRY_DELAY`], for as long as it takes. Each try evaluates
    /// anew, so a body GitHub refused (422) is derived again from the current state.
    fn retry_pass(&self, key: JobKey, job: Job, error: &GitHubError, standing: Standing) {
        let (attempt, since) = self.failed_once_more(&key);
        let delay = pass_retry_delay(attempt);
        let failing_for_secs = since.elapsed().as_secs();
        let delay_secs = delay.as_secs();
        // A run known to pass is an open gate: ERROR. One GitHub did not let the App see
        // (during an outage, say) is retried all the same, but is not known to be open.
        if standing == Standing::Passing {
            tracing::error!(job = ?key, %error, attempt, failing_for_secs, delay_secs,
                "a passing check could not be turned to failure; trying again");
        } else {
            tracing::warn!(job = ?key, %error, attempt, failing_for_secs, delay_secs,
                "a check that may be passing could not be replaced; trying again");
        }
        self.queue.push_internal(job, delay);
    }

    /// Runs one job.
    pub async fn run(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Pr { pr, head_sha } => self
                .evaluate_pr(pr, None, head_sha.as_deref())
                .await
                .map(|_| ()),
            Job::MergeGroup { pr, head_sha } => self
                .evaluate_pr(pr, Some(head_sha), Some(head_sha))
                .await
                .map(|_| ()),
            Job::PolicyChanged {
                installation,
                repo,
                branch,
            } => Ok(self
                .reevaluate_open(*installation, repo, Some(branch))
                .await?),
            Job::RepoChanged { installation, repo } => {
                Ok(self.reevaluate_open(*installation, repo, None).await?)
            }
        }
    }
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
}
