//! What the App does: turn jobs into fresh evaluations and check runs.
//!
//! Each evaluation reads the PR's current state from GitHub, evaluates it with the pure
//! evaluator, and writes the check run; the side effect comes last, after the decision.
//! Nothing is remembered between evaluations except caches keyed by content (policies by
//! blob SHA, check-run IDs by commit) or short-lived (team members), so replicas and retries
//! are safe: every evaluation recomputes from GitHub's state and updates the check
//! idempotently.

pub mod check_output;
pub mod events;
pub mod jobs;
pub mod queue;
pub mod reconcile;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::evaluate::evaluate;
use crate::github::checks::{self, CheckOutput, CheckRunIds};
use crate::github::policy_source::{self, PolicyCache, PolicyLookup};
use crate::github::pulls::{self, MAX_LISTED_COMMITS};
use crate::github::teams::{self, TeamCache};
use crate::github::types::PullRequest;
use crate::github::{GitHub, GitHubError};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use jobs::{Job, JobKey, PrRef};
use queue::Queue;

/// How many times a job that failed on GitHub errors is retried by the App itself (further
/// events retry it too).
const MAX_RETRIES: u32 = 3;

/// Shared state of the running App.
pub struct App {
    pub github: Arc<GitHub>,
    pub metrics: Arc<Metrics>,
    pub queue: Arc<Queue>,
    pub policies: PolicyCache,
    pub teams: Arc<TeamCache>,
    pub check_runs: CheckRunIds,
    pub check_name: String,
    pub policy_path: String,
    retries: std::sync::Mutex<BTreeMap<JobKey, u32>>,
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

impl App {
    pub fn new(
        github: Arc<GitHub>,
        queue: Arc<Queue>,
        check_name: String,
        policy_path: String,
        team_cache_ttl: Duration,
    ) -> App {
        App {
            metrics: github.metrics().clone(),
            github,
            queue,
            policies: PolicyCache::default(),
            teams: Arc::new(TeamCache::new(team_cache_ttl)),
            check_runs: CheckRunIds::default(),
            check_name,
            policy_path,
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
                    Err(GitHubError::Malformed {
                        endpoint: "evaluation",
                        detail: "the evaluation panicked".into(),
                    })
                }
            };
            self.queue.done(&key);
            match result {
                Ok(()) => {
                    if let Ok(mut r) = self.retries.lock() {
                        r.remove(&key);
                    }
                }
                Err(e) if e.is_transient() => self.retry_later(key, job, &e),
                Err(e) => {
                    tracing::warn!(job = ?key, error = %e, "job failed; GitHub's answer will not change by retrying")
                }
            }
        }
    }

    /// Requeues a job that failed on GitHub, with growing delays, a few times.
    fn retry_later(&self, key: JobKey, job: Job, error: &GitHubError) {
        let attempt = match self.retries.lock() {
            Ok(mut r) => {
                let n = r.entry(key.clone()).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => return,
        };
        if attempt > MAX_RETRIES {
            tracing::error!(job = ?key, %error, "giving up on this job until the next event for it");
            if let Ok(mut r) = self.retries.lock() {
                r.remove(&key);
            }
            return;
        }
        let delay = Duration::from_secs(5 * (1 << (attempt - 1)));
        tracing::warn!(job = ?key, %error, attempt, delay_secs = delay.as_secs(), "job failed; retrying later");
        self.queue.push_internal(job, delay);
    }

    /// Runs one job.
    pub async fn run(&self, job: &Job) -> Result<(), GitHubError> {
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
            } => {
                let span = tracing::info_span!("policy_changed", repo = %repo, branch = %branch);
                async {
                    let path = format!(
                        "{}/pulls?state=open&base={}",
                        repo.api_path(),
                        crate::github::client::encode(branch)
                    );
                    let listing =
                        pulls::Listing::new(*installation, "GET /repos/{owner}/{repo}/pulls", path);
                    let open: Vec<PullRequest> = pulls::pages(&self.github, listing, 1).await?;
                    tracing::info!(
                        open_prs = open.len(),
                        "policy changed; re-evaluating open pull requests"
                    );
                    for pr in open {
                        let pr_ref = PrRef {
                            installation: *installation,
                            repo: repo.clone(),
                            number: pr.number,
                        };
                        self.queue.push_internal(
                            Job::Pr {
                                pr: pr_ref,
                                head_sha: Some(pr.head.sha),
                            },
                            Duration::ZERO,
                        );
                    }
                    Ok(())
                }
                .instrument(span)
                .await
            }
        }
    }

    /// Evaluates a PR and writes the check run on its head, or on `merge_group_sha`.
    /// `sha_hint` is where to report a failure when the PR itself cannot be read.
    pub async fn evaluate_pr(
        &self,
        pr_ref: &PrRef,
        merge_group_sha: Option<&str>,
        sha_hint: Option<&str>,
    ) -> Result<Outcome, GitHubError> {
        let span = tracing::info_span!(
            "evaluation",
            repo = %pr_ref.repo,
            pr = pr_ref.number,
            head_sha = tracing::field::Empty,
            merge_group = merge_group_sha.is_some(),
        );
        let started = Instant::now();
        self.metrics.evaluation_started();
        let result = self
            .evaluate_inner(pr_ref, merge_group_sha, sha_hint)
            .instrument(span.clone())
            .await;
        self.metrics.evaluation_finished();
        let outcome = match &result {
            Ok(o) => *o,
            Err(_) => Outcome::Error,
        };
        self.metrics.evaluation(outcome.label(), started.elapsed());
        let _enter = span.enter();
        match &result {
            Ok(o) => tracing::info!(
                outcome = o.label(),
                took_ms = started.elapsed().as_millis() as u64,
                "evaluated"
            ),
            Err(e) => {
                tracing::warn!(error = %e, took_ms = started.elapsed().as_millis() as u64, "evaluation failed")
            }
        }
        result
    }

    async fn evaluate_inner(
        &self,
        pr_ref: &PrRef,
        merge_group_sha: Option<&str>,
        sha_hint: Option<&str>,
    ) -> Result<Outcome, GitHubError> {
        let gh = &self.github;
        let (inst, repo) = (pr_ref.installation, &pr_ref.repo);
        let (pr, read_at) = match pulls::pull_request(gh, inst, repo, pr_ref.number).await {
            Ok(read) => read,
            Err(e) if e.is_not_found() => {
                tracing::info!(
                    "pull request not found (deleted, or the App lost access); nothing to do"
                );
                return Ok(Outcome::Skipped);
            }
            Err(e) => {
                if let Some(sha) = sha_hint {
                    self.report_failure(inst, repo, sha, "the pull request", &e)
                        .await;
                }
                return Err(e);
            }
        };
        let report_sha = merge_group_sha.unwrap_or(&pr.head.sha).to_string();
        tracing::Span::current().record("head_sha", report_sha.as_str());
        if pr.state != "open" {
            if merge_group_sha.is_some() {
                self.write(inst, repo, &report_sha, &check_output::closed_pr(pr.number))
                    .await?;
                return Ok(Outcome::NotApproved);
            }
            tracing::info!(state = %pr.state, "pull request is not open; leaving it alone");
            return Ok(Outcome::Skipped);
        }

        // The policy comes from the base branch, never from the PR: a PR cannot loosen the
        // rules that judge it.
        let (contents, lookup) = tokio::join!(
            pulls::contents(gh, inst, repo, &pr),
            policy_source::load(
                gh,
                &self.policies,
                inst,
                repo,
                &pr.base.ref_name,
                &self.policy_path
            ),
        );
        let policy = match lookup {
            Ok(PolicyLookup::Missing) => {
                self.no_policy(
                    inst,
                    repo,
                    &report_sha,
                    &pr.base.ref_name,
                    merge_group_sha.is_some(),
                )
                .await?;
                return Ok(Outcome::NoPolicy);
            }
            Ok(PolicyLookup::Found { policy, blob_sha }) => (policy, blob_sha),
            Err(e) => {
                self.report_failure(inst, repo, &report_sha, "the review policy", &e)
                    .await;
                return Err(e);
            }
        };
        let (policy, policy_sha) = policy;
        let policy = match policy.as_ref() {
            Ok(p) => p,
            Err(errors) => {
                let mut output = check_output::invalid_policy(errors, &pr.base.ref_name);
                output.policy_sha = Some(policy_sha);
                self.write(inst, repo, &report_sha, &output).await?;
                return Ok(Outcome::InvalidPolicy);
            }
        };
        let contents = match contents {
            Ok(c) => c,
            Err(e) => {
                self.report_failure(
                    inst,
                    repo,
                    &report_sha,
                    "the pull request's files, reviews or commits",
                    &e,
                )
                .await;
                return Err(e);
            }
        };
        // Every team's members at once (each read is shared with concurrent evaluations).
        let mut reads = tokio::task::JoinSet::new();
        for team in policy.teams() {
            let (gh, cache) = (gh.clone(), self.teams.clone());
            reads.spawn(async move {
                let members = teams::members(&gh, &cache, inst, &team).await;
                (team, members)
            });
        }
        let mut team_members = BTreeMap::new();
        while let Some(joined) = reads.join_next().await {
            let (team, members) = joined.map_err(|e| GitHubError::Malformed {
                endpoint: "team members",
                detail: e.to_string(),
            })?;
            match members {
                Ok(Some(members)) => {
                    team_members.insert(team.key(), members.as_ref().clone());
                }
                // A team GitHub does not know has no members; the verdict says so.
                Ok(None) => {}
                Err(e) => {
                    self.report_failure(
                        inst,
                        repo,
                        &report_sha,
                        &format!("the members of team {team}"),
                        &e,
                    )
                    .await;
                    return Err(e);
                }
            }
        }

        let listed_commits = contents.commits.len() as u64;
        let snapshot = Snapshot {
            author: pr
                .user
                .as_ref()
                .map_or_else(|| "ghost".to_string(), |u| u.login.clone()),
            base: Some(pr.base.ref_name.clone()),
            head_sha: pr.head.sha.clone(),
            changed_files: pr.changed_files,
            files: contents.files,
            commits: contents.commits,
            reviews: contents.reviews,
            teams: team_members,
        };
        let verdict = evaluate(policy, &snapshot, &self.policy_path);
        let total_commits = pr.commits.unwrap_or(listed_commits);
        let mut output = if verdict.approved
            && !policy.settings.contributors_can_approve
            && total_commits > listed_commits
        {
            check_output::incomplete(
                &verdict,
                &format!(
                    "Cannot verify contributors: GitHub lists {listed_commits} of {total_commits} commits"
                ),
                &format!(
                    "this pull request has {total_commits} commits and GitHub lists at most {MAX_LISTED_COMMITS}, so reviewgate \
                     cannot tell whether an approver committed to it. Split the pull request or squash its commits."
                ),
            )
        } else {
            check_output::verdict(&verdict, merge_group_sha.map(|_| pr.number))
        };
        output.policy_sha = Some(policy_sha);
        // GitHub's timestamps have whole seconds, so a change in the same second as this read
        // leaves `updated_at` as it is. Record it only when it is at least 2 s older than the
        // read (both by GitHub's clock); otherwise the next sweep evaluates the PR once more.
        let updated = pr
            .updated_at
            .as_deref()
            .and_then(crate::github::time::parse_rfc3339);
        if let (Some(read_at), Some(updated)) = (read_at, updated) {
            if read_at >= updated + 2 {
                output.pr_updated_at = pr.updated_at.clone();
            }
        }
        let approved = output.conclusion == "success";
        self.write(inst, repo, &report_sha, &output).await?;
        Ok(if approved {
            Outcome::Approved
        } else {
            Outcome::NotApproved
        })
    }

    async fn write(
        &self,
        inst: u64,
        repo: &crate::github::RepoName,
        sha: &str,
        output: &CheckOutput,
    ) -> Result<(), GitHubError> {
        checks::write(
            &self.github,
            &self.check_runs,
            inst,
            repo,
            sha,
            &self.check_name,
            output,
        )
        .await
        .map(|_| ())
    }

    /// Best effort: the check must not stay green while GitHub cannot be read. If this write
    /// fails too, the job's retry (or the next event) tries again.
    async fn report_failure(
        &self,
        inst: u64,
        repo: &crate::github::RepoName,
        sha: &str,
        what: &str,
        error: &GitHubError,
    ) {
        if let Err(e) = self
            .write(inst, repo, sha, &check_output::github_error(what, error))
            .await
        {
            tracing::warn!(error = %e, "could not report the failure on the check run either");
        }
    }

    /// No policy: no check run, except that a run of ours already on the commit is completed
    /// as neutral (and merge groups always get one, so a queue never waits on us).
    async fn no_policy(
        &self,
        inst: u64,
        repo: &crate::github::RepoName,
        sha: &str,
        branch: &str,
        merge_group: bool,
    ) -> Result<(), GitHubError> {
        let output = check_output::no_policy(&self.policy_path, branch);
        if merge_group {
            return self.write(inst, repo, sha, &output).await;
        }
        if let Some(run) = checks::find(&self.github, inst, repo, sha, &self.check_name).await? {
            if run.conclusion.as_deref() != Some("neutral") {
                self.write(inst, repo, sha, &output).await?;
            }
        }
        Ok(())
    }
}
