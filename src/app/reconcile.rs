//! Level-triggered reconciliation: walk every installation, repository and open PR, and
//! evaluate the PRs whose check run does not reflect their current state. Run at start-up and
//! on an interval, it brings every open PR right without any webhook — after a crash with
//! work in flight, a lost delivery, or a GitHub outage that outlasted the retries.
//!
//! A PR is evaluated when its head commit has no check run of ours, or the run's `external_id`
//! says it was written under another policy blob, another organisation floor, or another PR
//! `updated_at` (which moves on pushes, reviews and dismissals). Comparing recorded values,
//! not times, keeps clock skew between the App and GitHub out of it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::jobs::{Job, PrRef};
use super::{App, WhenNoPolicy};
use crate::github::pulls::{Listing, pages};
use crate::github::types::{Installation, PullRequest, Repository};
use crate::github::{GitHubError, RepoName};
use crate::github::{app_auth, checks};

/// GitHub requests an evaluation is assumed to cost, for the sweep's quota budget (the PR,
/// its commit's PRs, three pages of files, reviews, commits, policy, a permission, the re-read
/// and the write: tests/budget.rs).
const EVALUATION_COST: u64 = 11;

/// The store lease that lets one replica at a time sweep.
const SWEEP_LEASE: &str = "reconciliation-sweep";

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub installations: usize,
    pub repositories: usize,
    pub pull_requests: usize,
    /// PRs queued for evaluation.
    pub queued: usize,
    /// Installations where the sweep stopped early to stay within its share of the quota.
    pub stopped_for_quota: usize,
}

/// What a PR's current run must have been decided under.
struct Expected {
    /// The base's policy blob (lower case); `None` when the base has none.
    blob_sha: Option<String>,
    /// The organisation's floor blob (lower case); `None` when no floor governs the PR.
    floor_blob_sha: Option<String>,
    /// The PR's `updated_at` now.
    updated_at: Option<String>,
}

/// The repository a sweep is looking at.
struct Target<'r> {
    inst: u64,
    repo_id: u64,
    repo: &'r RepoName,
}

/// Requests spent and allowed for one installation.
struct Budget {
    spent: u64,
    allowed: u64,
}

impl Budget {
    fn spend(&mut self, n: u64) -> bool {
        self.spent += n;
        self.spent <= self.allowed
    }
}

impl App {
    /// One sweep over every installation. `quota_share` is the largest part (0–1) of each
    /// installation's remaining rate-limit quota the sweep may spend, evaluations included.
    /// Runs a sweep if no other replica runs one: the sweep's lease (held for `interval`, so
    /// one sweep per interval across replicas) decides. `None` when another replica has it or
    /// the store is not available.
    pub async fn sweep_if_ours(
        &self,
        quota_share: f64,
        interval: Duration,
    ) -> Option<Result<Sweep, GitHubError>> {
        let store = self.store.ready()?;
        let ours = self
            .timed(
                "try_lease",
                store.try_lease(SWEEP_LEASE, &self.holder, interval),
            )
            .await;
        match ours {
            Ok(true) => Some(self.reconcile(quota_share).await),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the sweep's lease; skipping this sweep");
                None
            }
        }
    }

    pub async fn reconcile(&self, quota_share: f64) -> Result<Sweep, GitHubError> {
        let mut sweep = Sweep::default();
        let installations: Vec<Installation> = app_auth::installations(&self.github).await?;
        for installation in installations {
            sweep.installations += 1;
            if let Err(e) = self
                .reconcile_installation(installation.id, quota_share, &mut sweep)
                .await
            {
                tracing::warn!(installation = installation.id, error = %e, "reconciliation of an installation failed");
            }
        }
        tracing::info!(?sweep, "reconciliation sweep done");
        Ok(sweep)
    }

    /// The organisation's floor may have changed (a push to its policy repository's default
    /// branch): sweep this installation now rather than at the next interval, within the same
    /// share of its quota. Every PR whose run was decided under another floor is queued.
    pub(super) async fn floor_changed(&self, installation: u64) -> Result<(), super::JobError> {
        let mut sweep = Sweep {
            installations: 1,
            ..Sweep::default()
        };
        self.reconcile_installation(
            installation,
            self.settings.reconcile_quota_share,
            &mut sweep,
        )
        .await?;
        tracing::info!(
            installation,
            ?sweep,
            "organisation policy changed; installation swept"
        );
        Ok(())
    }

    async fn reconcile_installation(
        &self,
        inst: u64,
        quota_share: f64,
        sweep: &mut Sweep,
    ) -> Result<(), GitHubError> {
        let repositories: Vec<Repository> =
            app_auth::installed_repositories(&self.github, inst).await?;
        // The listing's answer carried the installation's remaining quota.
        let remaining = self.metrics.rate_limit_of(inst).unwrap_or(5000);
        let mut budget = Budget {
            spent: 1,
            allowed: (remaining as f64 * quota_share) as u64,
        };
        for repo in repositories.iter().filter(|r| !r.archived) {
            let Some(name) = RepoName::parse(&repo.full_name) else {
                continue;
            };
            sweep.repositories += 1;
            // One repository GitHub will not answer for must not stop the sweep of the others.
            let mut jobs = Vec::new();
            let target = Target {
                inst,
                repo_id: repo.id,
                repo: &name,
            };
            let within_budget = match self
                .reconcile_repository(&target, &mut budget, sweep, &mut jobs)
                .await
            {
                Ok(within) => within,
                Err(e) => {
                    tracing::warn!(repo = %name, error = %e, "sweep skipped a repository");
                    true
                }
            };
            let queued = jobs.len();
            match self.store_work(jobs, Duration::ZERO).await {
                Ok(()) => sweep.queued += queued,
                Err(e) => {
                    tracing::warn!(repo = %name, error = %e, "sweep could not store its work")
                }
            }
            if !within_budget {
                sweep.stopped_for_quota += 1;
                tracing::warn!(
                    installation = inst,
                    spent = budget.spent,
                    allowed = budget.allowed,
                    "sweep stopped to stay within its share of the rate limit"
                );
                break;
            }
        }
        Ok(())
    }

    /// Whether the run whose decision record is `id` is current for PR `number`: it stands for
    /// exactly the gated open PRs sharing the head (`sharing`), and the PR's decision was
    /// reached under the policy blob and the `updated_at` the PR has now. A record the store
    /// cannot give (pruned, or the store is down) means "not current": judge it again.
    async fn run_is_current(
        &self,
        id: &str,
        number: u64,
        expected: &Expected,
        sharing: &BTreeSet<u64>,
    ) -> bool {
        let Some(record) = self.decision(id).await else {
            return false;
        };
        let covered: BTreeSet<u64> = record
            .pr
            .into_iter()
            .chain(record.other_prs.iter().map(|o| o.pr))
            .collect();
        if &covered != sharing {
            return false;
        }
        let own = if record.pr == Some(number) {
            Some(record)
        } else {
            match record.other_prs.iter().find(|o| o.pr == number) {
                Some(other) => self.decision(&other.decision_id).await,
                None => None,
            }
        };
        own.is_some_and(|d| {
            d.policy_blob_sha == expected.blob_sha
                && d.org_policy.map(|o| o.blob_sha) == expected.floor_blob_sha
                && d.pr_updated_at.is_some()
                && d.pr_updated_at == expected.updated_at
        })
    }

    async fn decision(&self, id: &str) -> Option<crate::audit::DecisionRecord> {
        let store = self.store.ready()?;
        match self.timed("record", store.record(id)).await {
            Ok(Some(crate::audit::Record::Decision(d))) => Some(*d),
            _ => None,
        }
    }

    /// Adds to `jobs` the PRs of one repository whose run is missing or out of date. Returns
    /// false when the budget ran out.
    async fn reconcile_repository(
        &self,
        target: &Target<'_>,
        budget: &mut Budget,
        sweep: &mut Sweep,
        jobs: &mut Vec<Job>,
    ) -> Result<bool, GitHubError> {
        let (inst, repo) = (target.inst, target.repo);
        let listing = Listing::new(
            inst,
            "GET /repos/{owner}/{repo}/pulls",
            format!("{}/pulls?state=open", repo.api_path()),
        );
        let open: Vec<PullRequest> = pages(&self.github, listing, 1).await?;
        if !budget.spend(1 + open.len() as u64 / 100) {
            return Ok(false);
        }
        // What each gated PR's run should record, and which gated PRs share each head: a run
        // is current only if it stands for exactly those (a PR opened or closed with another's
        // head, webhook lost, changes what the commit's run must say).
        let mut judged: Vec<(PullRequest, Option<Expected>)> = Vec::new();
        for pr in open {
            sweep.pull_requests += 1;
            let expected = match self.governing(inst, repo, &pr.base.ref_name).await {
                // Unknown whether the run is current: judge the PR (which fails closed if
                // GitHub still cannot be read) rather than skip it.
                Err(unread) => {
                    tracing::warn!(pr = pr.number, error = %unread.error, "sweep could not read {}", unread.what);
                    None
                }
                Ok(g) if g.is_empty() && self.when_no_policy == WhenNoPolicy::Skip => continue,
                Ok(g) => Some(Expected {
                    blob_sha: g.own.map(|(sha, _)| sha.to_ascii_lowercase()),
                    floor_blob_sha: g.floor.map(|f| f.blob_sha.to_ascii_lowercase()),
                    updated_at: pr.updated_at.clone(),
                }),
            };
            judged.push((pr, expected));
        }
        let mut heads: HashMap<String, BTreeSet<u64>> = HashMap::new();
        for (pr, _) in &judged {
            heads
                .entry(pr.head.sha.to_ascii_lowercase())
                .or_default()
                .insert(pr.number);
        }
        for (pr, expected) in judged {
            let run = match checks::find(&self.github, inst, repo, &pr.head.sha, &self.check_name)
                .await
            {
                Ok(run) => run,
                Err(e) => {
                    tracing::warn!(pr = pr.number, error = %e, "sweep could not read the check run");
                    None
                }
            };
            if !budget.spend(1) {
                return Ok(false);
            }
            let sharing = heads.get(&pr.head.sha.to_ascii_lowercase());
            let record = run
                .as_ref()
                .filter(|run| run.status == "completed")
                .and_then(|run| run.external_id.as_deref());
            let current = match (record, &expected, sharing) {
                (Some(id), Some(expected), Some(sharing)) => {
                    self.run_is_current(id, pr.number, expected, sharing).await
                }
                _ => false,
            };
            if !current {
                if !budget.spend(EVALUATION_COST) {
                    return Ok(false);
                }
                let pr_ref = PrRef {
                    installation: inst,
                    repo_id: target.repo_id,
                    repo: repo.clone(),
                    number: pr.number,
                };
                jobs.push(Job::Pr {
                    pr: pr_ref,
                    head_sha: Some(pr.head.sha.clone()),
                });
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_stop_at_their_allowance() {
        let mut b = Budget {
            spent: 0,
            allowed: 10,
        };
        assert!(b.spend(8));
        assert!(b.spend(2));
        assert!(!b.spend(1));
    }
}
