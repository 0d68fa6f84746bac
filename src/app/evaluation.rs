//! One evaluation, step by step: read the pull request; hold its head commit; find every open
//! PR whose head that commit is; judge each ([`super::facts`]); decide the commit's run
//! ([`super::aggregate`]); check that no PR moved meanwhile; write; remember.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::aggregate::{self, PrResult, Write};
use super::check_output;
use super::jobs::PrRef;
use super::write::Writer;
use super::{App, JobError, Outcome, Turn};
use crate::github::GitHubError;
use crate::github::pulls;
use crate::github::types::PullRequest;
use crate::store::Store;

/// How often an evaluation starts over because a PR's head or base moved while it was being
/// judged, before the job is retried later instead.
const MAX_MOVES: u32 = 3;
/// Most open PRs judged for one commit. Each is read in full, and each one's own evaluation
/// judges all the others, so many PRs sharing a head (a fork opening 100 at one commit) would
/// cost quadratically many requests; past this the commit fails, cheaply.
pub const MAX_PRS_PER_COMMIT: usize = 10;

/// How one pass of an evaluation ended.
enum Pass {
    Done(Outcome),
    /// A PR moved between its facts being read and the write: nothing from that pass stands.
    Moved {
        sha: String,
    },
}

/// How often an evaluation waiting for a commit held elsewhere tries again.
const COMMIT_WAIT: Duration = Duration::from_millis(100);

/// A commit held for one evaluation (renewed with the turn's claim); given back when dropped.
struct CommitLease {
    store: Store,
    name: String,
    holder: String,
    held: Arc<std::sync::Mutex<Option<String>>>,
}

impl Drop for CommitLease {
    fn drop(&mut self) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let (store, name, holder) = (
            self.store.clone(),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.holder),
        );
        tokio::spawn(async move {
            if let Err(e) = store.release_lease(&name, &holder).await {
                tracing::warn!(error = %e, "could not give back a commit's lease; it expires");
            }
        });
    }
}

/// A pull request to judge, as read for this evaluation.
struct Read {
    pr_ref: PrRef,
    pr: PullRequest,
    /// GitHub's clock when `pr` was read.
    read_at: Option<u64>,
}

impl App {
    /// Evaluates a PR and writes the check run on its head, or on `merge_group_sha`.
    /// `sha_hint` is where to report a failure when the PR itself cannot be read.
    pub async fn evaluate_pr(
        &self,
        turn: &Turn,
        pr_ref: &PrRef,
        merge_group_sha: Option<&str>,
        sha_hint: Option<&str>,
    ) -> Result<Outcome, JobError> {
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
            .evaluate_until_still(turn, pr_ref, merge_group_sha, sha_hint)
            .instrument(span.clone())
            .await;
        self.metrics.evaluation_finished();
        let outcome = result.as_ref().map_or(Outcome::Error, |o| *o);
        self.metrics.evaluation(outcome.label(), started.elapsed());
        let _enter = span.enter();
        let took_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(o) => tracing::info!(outcome = o.label(), took_ms, "evaluated"),
            Err(e) => tracing::warn!(error = %e, took_ms, "evaluation failed"),
        }
        result
    }

    /// Evaluates until no PR moved between reading its facts and writing the result. A PR that
    /// keeps moving gets a failing check saying so, and the job is retried later.
    async fn evaluate_until_still(
        &self,
        turn: &Turn,
        pr_ref: &PrRef,
        merge_group_sha: Option<&str>,
        sha_hint: Option<&str>,
    ) -> Result<Outcome, JobError> {
        let mut last_sha = None;
        for _ in 0..MAX_MOVES {
            match self
                .evaluate_once(turn, pr_ref, merge_group_sha, sha_hint)
                .await?
            {
                Pass::Done(outcome) => return Ok(outcome),
                Pass::Moved { sha } => last_sha = Some(sha),
            }
            tracing::info!("a pull request moved while it was judged; judging it again");
        }
        let error = GitHubError::Unavailable {
            endpoint: "evaluation",
            attempts: MAX_MOVES,
            last: "the pull request kept changing while it was judged".into(),
        };
        if let Some(sha) = last_sha {
            let output = check_output::moving(MAX_MOVES);
            let w = Writer {
                turn,
                pr: pr_ref,
                base: None,
                merge_group: merge_group_sha.is_some(),
            };
            self.write(&w, &sha, &output, &[]).await?;
        }
        Err(JobError::GitHub(error))
    }

    /// One pass: read, judge, decide, and write unless a PR moved meanwhile.
    async fn evaluate_once(
        &self,
        turn: &Turn,
        pr_ref: &PrRef,
        merge_group_sha: Option<&str>,
        sha_hint: Option<&str>,
    ) -> Result<Pass, JobError> {
        let (inst, repo) = (pr_ref.installation, &pr_ref.repo);
        let mut w = Writer {
            turn,
            pr: pr_ref,
            base: None,
            merge_group: merge_group_sha.is_some(),
        };
        let (pr, read_at) = match pulls::pull_request(&self.github, inst, repo, pr_ref.number).await
        {
            Ok(read) => read,
            Err(e) if e.is_not_found() => {
                tracing::info!(
                    "pull request not found (deleted, or the App lost access); nothing to do"
                );
                self.forget_pr(pr_ref).await;
                return Ok(Pass::Done(Outcome::Skipped));
            }
            Err(e) => {
                return match sha_hint {
                    Some(sha) => Err(self.fail_closed(&w, sha, "the pull request", e).await),
                    None => Err(e.into()),
                };
            }
        };
        let report_sha = merge_group_sha.unwrap_or(&pr.head.sha).to_string();
        w.base = Some(pr.base.ref_name.clone());
        tracing::Span::current().record("head_sha", report_sha.as_str());
        if pr.state != "open" {
            return self.closed(&w, &pr, merge_group_sha).await.map(Pass::Done);
        }
        let _commit = self.lock_commit(turn, pr_ref.repo_id, &report_sha).await?;
        let ours = Read {
            pr_ref: pr_ref.clone(),
            pr,
            read_at,
        };
        let prs = match merge_group_sha {
            Some(_) => vec![ours],
            None => match self.prs_on_commit(ours).await {
                Ok(Ok(prs)) => prs,
                Ok(Err(many)) => {
                    let output = check_output::too_many_prs(many, MAX_PRS_PER_COMMIT);
                    self.write(&w, &report_sha, &output, &[]).await?;
                    return Ok(Pass::Done(Outcome::NotApproved));
                }
                Err(e) => {
                    return Err(self
                        .fail_closed(&w, &report_sha, "the pull requests of this commit", e)
                        .await);
                }
            },
        };
        let mut prs = prs;
        let mut results = Vec::with_capacity(prs.len());
        for read in &mut prs {
            let mut judged = self.judge(&read.pr_ref, &read.pr, read.read_at).await?;
            if merge_group_sha.is_none()
                && self
                    .request_reviews(&read.pr_ref, &read.pr, &mut judged)
                    .await
            {
                self.after_own_change(read).await;
            }
            results.push(judged);
        }
        let mut decision = aggregate::decide(&results, self.when_no_policy);
        if let (Some(_), Write::Run(output) | Write::IfRunExists(output)) =
            (merge_group_sha, &mut decision)
        {
            output.summary = check_output::cap(format!(
                "Merge group check for pull request #{}, judged on its current approvals.\n\n{}",
                pr_ref.number, output.summary
            ));
        }
        if self.moved(&prs).await {
            // Nothing judged from the old facts may pass; but the run on the commit may be a
            // pass this PR merely inherited (another PR's, with the same head), so a verdict
            // that would not pass is replaced by a failure that says the PR is changing.
            if !matches!(&decision, Write::Run(o) if matches!(o.conclusion, "success" | "neutral"))
            {
                let output = check_output::moving(0);
                self.write(&w, &report_sha, &output, &[]).await?;
            }
            return Ok(Pass::Moved { sha: report_sha });
        }
        self.write_decision(&w, &report_sha, decision, &results)
            .await?;
        if merge_group_sha.is_none() {
            self.remember(&prs, &results).await;
        }
        if let Some(e) = results.iter().find_map(|r| r.error.clone()) {
            return Err(e.into());
        }
        let ours = results.iter().find(|r| r.number == pr_ref.number);
        Ok(Pass::Done(ours.map_or(Outcome::Error, |r| r.outcome)))
    }

    /// Every open PR whose head is `ours`' head commit, `ours` first, each read in full (the
    /// list gives short forms, without the counts the verdict needs); `Err(n)` when there are
    /// more than [`MAX_PRS_PER_COMMIT`] of them.
    async fn prs_on_commit(&self, ours: Read) -> Result<Result<Vec<Read>, usize>, GitHubError> {
        let ours_repo_id = ours.pr_ref.repo_id;
        let (inst, repo) = (ours.pr_ref.installation, ours.pr_ref.repo.clone());
        let listed =
            pulls::open_with_head(&self.github, inst, &repo, &ours.pr.head.sha, ours.pr.number)
                .await?;
        let count = listed.len() + usize::from(!listed.iter().any(|p| p.number == ours.pr.number));
        if count > MAX_PRS_PER_COMMIT {
            return Ok(Err(count));
        }
        let mut out = vec![ours];
        for other in listed {
            if out.iter().any(|r| r.pr.number == other.number) {
                continue;
            }
            let pr_ref = PrRef {
                installation: inst,
                repo_id: ours_repo_id,
                repo: repo.clone(),
                number: other.number,
            };
            let (pr, read_at) =
                pulls::pull_request(&self.github, inst, &repo, other.number).await?;
            if pr.state == "open" && pr.head.sha.eq_ignore_ascii_case(&out[0].pr.head.sha) {
                out.push(Read {
                    pr_ref,
                    pr,
                    read_at,
                });
            }
        }
        out.sort_by_key(|r| r.pr.number);
        Ok(Ok(out))
    }

    /// After the App's own review request, which moves the PR's `updated_at` on GitHub: takes
    /// the new `updated_at` as the one read, unless the head, base or state moved too (then the
    /// pre-write re-read still sees it). Only a blocked PR requests reviews, so a review missed
    /// in between can only leave it blocked until that review's own evaluation.
    async fn after_own_change(&self, read: &mut Read) {
        let (inst, repo) = (read.pr_ref.installation, &read.pr_ref.repo);
        if let Ok((now, _)) = pulls::pull_request(&self.github, inst, repo, read.pr.number).await {
            if now.head.sha == read.pr.head.sha
                && now.base.ref_name == read.pr.base.ref_name
                && now.state == read.pr.state
            {
                read.pr.updated_at = now.updated_at;
            }
        }
    }

    /// Whether any PR changed since it was read — its head, base, state, or anything else
    /// (`updated_at` moves with every review and dismissal, which another replica may have
    /// judged and written meanwhile). Re-read conditionally: an unchanged PR costs no quota.
    /// A PR that cannot be re-read counts as moved.
    async fn moved(&self, prs: &[Read]) -> bool {
        for read in prs {
            let (inst, repo) = (read.pr_ref.installation, &read.pr_ref.repo);
            match pulls::pull_request(&self.github, inst, repo, read.pr.number).await {
                Ok((now, _))
                    if now.head.sha == read.pr.head.sha
                        && now.base.ref_name == read.pr.base.ref_name
                        && now.state == read.pr.state
                        && now.updated_at == read.pr.updated_at => {}
                _ => return true,
            }
        }
        false
    }

    /// A PR that is no longer open: its merge group must not merge on our account; otherwise
    /// there is nothing to gate.
    async fn closed(
        &self,
        w: &Writer<'_>,
        pr: &PullRequest,
        merge_group_sha: Option<&str>,
    ) -> Result<Outcome, JobError> {
        self.forget_pr(w.pr).await;
        if let Some(sha) = merge_group_sha {
            let output = check_output::closed_pr(pr.number);
            self.write(w, sha, &output, &[]).await?;
            return Ok(Outcome::NotApproved);
        }
        tracing::info!(state = %pr.state, "pull request is not open; leaving it alone");
        Ok(Outcome::Skipped)
    }

    /// After a write: which organisations' teams each PR's verdict named, so a change to one
    /// of those teams re-evaluates it, whichever replica receives the event; and each head's
    /// content fingerprint, now that its facts are known to be the head's. Best effort: the
    /// verdict is written; a record missed here only costs that re-evaluation (the sweep and
    /// the next event remain), or a later carry-over of an approval.
    async fn remember(&self, prs: &[Read], results: &[PrResult]) {
        let Some(store) = self.store.ready() else {
            return;
        };
        for (read, result) in prs.iter().zip(results) {
            let r = &read.pr_ref;
            let orgs: Vec<String> = result.team_orgs.iter().cloned().collect();
            let repo = r.repo.to_string();
            let recorded = self
                .timed(
                    "record_team_orgs",
                    store.record_team_orgs(r.repo_id, r.number, r.installation, &repo, &orgs),
                )
                .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, pr = r.number, "could not record the teams a verdict named");
            }
        }
    }

    /// A PR that is closed or gone need not be re-evaluated when teams change. (Who pushed
    /// to it is kept: a closed PR can be reopened.)
    async fn forget_pr(&self, pr_ref: &PrRef) {
        if let Some(store) = self.store.ready() {
            let forgot = store
                .forget_pr_team_orgs(pr_ref.repo_id, pr_ref.number)
                .await;
            if let Err(e) = forgot {
                tracing::warn!(error = %e, "could not forget the teams a closed PR named");
            }
        }
    }

    /// Holds the commit for this evaluation across all replicas (a store lease), so two
    /// evaluations of PRs sharing the commit cannot interleave their reads and writes. Waits up
    /// to a lease for another holder to finish; then gives the work back to be retried.
    async fn lock_commit(
        &self,
        turn: &Turn,
        repo_id: u64,
        sha: &str,
    ) -> Result<CommitLease, JobError> {
        let Some(store) = self.store.ready().cloned() else {
            return Err(JobError::Store("not available".into()));
        };
        let name = format!("commit/{repo_id}/{}", sha.to_ascii_lowercase());
        let deadline = Instant::now() + self.settings.lease;
        loop {
            let taken = self
                .timed(
                    "try_lease",
                    store.try_lease(&name, &turn.id, self.settings.lease),
                )
                .await
                .map_err(|e| JobError::Store(e.to_string()))?;
            if taken {
                *turn.commit.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.clone());
                return Ok(CommitLease {
                    store,
                    name,
                    holder: turn.id.clone(),
                    held: turn.commit.clone(),
                });
            }
            if Instant::now() >= deadline {
                return Err(JobError::Store(format!(
                    "commit {sha} is being evaluated elsewhere for longer than a lease"
                )));
            }
            tokio::time::sleep(COMMIT_WAIT).await;
        }
    }
}
