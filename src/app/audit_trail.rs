//! The audit trail of merges and pushes: the events waiting in a repository's audit inbox
//! (stored with their webhook delivery) become merge and push records, in arrival order.
//!
//! Read facts, decide, write — per event: GitHub and the store are read first (is there a
//! policy on the branch, which commits came in, the latest decision), the record is built by
//! the pure [`crate::audit`] code, and it is appended in the transaction that removes the
//! event from the inbox, so every event is recorded exactly once whichever replica does it
//! and whenever one dies. A GitHub error leaves the event in the inbox to be tried again.

use std::collections::BTreeSet;

use super::audit_event::AuditEvent;
use super::dispatch::Turn;
use super::{App, JobError};
use crate::audit::{MergeFacts, MergeRecord, PushFacts, PushRecord, Record};
use crate::github::RepoName;
use crate::github::history::{commit_pulls, compare, pr_commits};
use crate::github::policy_source::{self, PolicyLookup};
use crate::store::{InboxItem, Store};

/// Events read from the inbox at a time.
const INBOX_PAGE: u32 = 50;
/// A push `before` of a created branch.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// Where the events of one repository come from and go.
struct Repo<'a> {
    installation: u64,
    name: &'a RepoName,
    store: &'a Store,
}

impl App {
    /// Records every event waiting in repository `repo_id`'s audit inbox.
    pub(super) async fn record_audit(
        &self,
        turn: &Turn,
        installation: u64,
        repo_id: u64,
        name: &RepoName,
    ) -> Result<(), JobError> {
        let Some(store) = self.store.ready() else {
            return Err(JobError::Store("not available".into()));
        };
        let repo = Repo {
            installation,
            name,
            store,
        };
        loop {
            let items = self
                .timed("audit inbox", store.inbox(repo_id, INBOX_PAGE))
                .await
                .map_err(|e| JobError::Store(e.to_string()))?;
            if items.is_empty() {
                return Ok(());
            }
            for item in &items {
                if turn.is_lost() {
                    return Err(JobError::Lost);
                }
                self.record_event(&repo, item).await?;
            }
        }
    }

    /// Reads what one event's record needs, builds it, and appends it (or drops an event that
    /// needs none).
    async fn record_event(&self, repo: &Repo<'_>, item: &InboxItem) -> Result<(), JobError> {
        let store_error = |e: crate::store::StoreError| JobError::Store(e.to_string());
        let record = match serde_json::from_str::<AuditEvent>(&item.body) {
            Ok(AuditEvent::Merge {
                pr,
                base,
                head_sha,
                merge_sha,
                merged_by,
                merged_at,
                author,
            }) => {
                let facts = MergeFacts {
                    repository: repo.name.to_string(),
                    pr,
                    base,
                    head_sha,
                    merge_sha,
                    merged_by,
                    merged_at,
                    author,
                    commits: Vec::new(),
                };
                self.merge_record(repo, facts, item.received_at_ms).await?
            }
            Ok(push @ AuditEvent::Push { .. }) => {
                self.push_record(repo, push, item.received_at_ms).await?
            }
            Err(e) => {
                tracing::error!(repo = %repo.name, inbox_id = item.id, error = %e,
                    "an audit event in the store cannot be read; dropping it");
                None
            }
        };
        let Some(record) = record else {
            self.timed("audit inbox", repo.store.drop_inbox_item(item))
                .await
                .map_err(store_error)?;
            return Ok(());
        };
        let mut records = [record];
        let appended = self
            .timed(
                "append_record",
                repo.store.append_consuming(&mut records, item),
            )
            .await;
        match appended {
            Ok(Some(_)) => self.report(&records[0]),
            Ok(None) => {}
            // A record the store refuses now, it refuses every time: dropping the event (and
            // saying so) keeps it from blocking every later event of the repository.
            Err(crate::store::StoreError::InvalidRecord { id, problem }) => {
                tracing::error!(repo = %repo.name, record = %id, %problem,
                    "an audit record was refused by the store; dropping its event");
                self.timed("audit inbox", repo.store.drop_inbox_item(item))
                    .await
                    .map_err(store_error)?;
            }
            Err(e) => return Err(store_error(e)),
        }
        Ok(())
    }

    /// The merge record of `facts`, or `None` when the base has no policy.
    async fn merge_record(
        &self,
        repo: &Repo<'_>,
        mut facts: MergeFacts,
        received_at_ms: i64,
    ) -> Result<Option<Record>, JobError> {
        let decision = self
            .timed(
                "latest_decision",
                repo.store.latest_decision(
                    &facts.repository,
                    &facts.head_sha,
                    &facts.base,
                    received_at_ms,
                ),
            )
            .await
            .map_err(|e| JobError::Store(e.to_string()))?;
        // A decision for this base means it had a policy; without one, GitHub says.
        if decision.is_none()
            && !self
                .has_policy(repo, &format!("refs/heads/{}", facts.base))
                .await?
        {
            return Ok(None);
        }
        let mut commits = self
            .github_call(
                pr_commits(&self.github, repo.installation, repo.name, facts.pr),
                "the merged pull request's commits (the merge commit is recorded alone)",
                Vec::new,
            )
            .await?;
        commits.push(facts.merge_sha.clone());
        facts.commits = commits;
        match MergeRecord::new(facts, decision.as_ref()) {
            Ok(record) => Ok(Some(Record::Merge(record))),
            Err(e) => {
                tracing::error!(repo = %repo.name, error = %e, "a merge event cannot be recorded");
                Ok(None)
            }
        }
    }

    /// The unreviewed-push record of `event`, or `None` when the branch has no policy or every
    /// pushed commit belongs to a merged pull request.
    async fn push_record(
        &self,
        repo: &Repo<'_>,
        event: AuditEvent,
        received_at_ms: i64,
    ) -> Result<Option<Record>, JobError> {
        let AuditEvent::Push {
            branch,
            before,
            after,
            pusher,
            pushed_at,
            commits,
            truncated,
            created,
            deleted,
        } = event
        else {
            return Ok(None);
        };
        // Gated if the branch had a policy before the push or has one after it: a push that
        // deletes the policy file is recorded too. A deleted branch is read at its last commit.
        let had_before = before != NO_COMMIT && !created;
        let gated = if deleted {
            had_before && self.has_policy(repo, &before).await?
        } else {
            self.has_policy(repo, &format!("refs/heads/{branch}"))
                .await?
                || (had_before && self.has_policy(repo, &before).await?)
        };
        if !gated {
            return Ok(None);
        }
        let mut facts = PushFacts {
            repository: repo.name.to_string(),
            branch,
            pusher,
            after,
            pushed_at_ms: pushed_at
                .and_then(|s| s.checked_mul(1000))
                .unwrap_or(received_at_ms),
            commits: Vec::new(),
            deleted,
        };
        if !deleted {
            let pushed = if truncated && !created && before != NO_COMMIT {
                let listed = commits.clone();
                self.github_call(
                    compare(
                        &self.github,
                        repo.installation,
                        repo.name,
                        &before,
                        &facts.after,
                    ),
                    "the pushed commits past the 20 the push event lists",
                    move || listed,
                )
                .await?
            } else {
                commits
            };
            facts.commits = self.unreviewed(repo, pushed).await?;
            if facts.commits.is_empty() {
                return Ok(None);
            }
        }
        Ok(Some(Record::Push(PushRecord::new(facts))))
    }

    /// The commits of `pushed` that no merged pull request brought in: neither a stored
    /// merge's commits nor, asked of GitHub, a commit of a merged PR. Each merged PR found is
    /// read once, its commits all counted, so a merge of many commits costs a few requests.
    async fn unreviewed(
        &self,
        repo: &Repo<'_>,
        pushed: Vec<String>,
    ) -> Result<Vec<String>, JobError> {
        let known: BTreeSet<String> = self
            .timed(
                "merged_commits",
                repo.store.merged_commits(&repo.name.to_string(), &pushed),
            )
            .await
            .map_err(|e| JobError::Store(e.to_string()))?
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let mut reviewed = known;
        let mut read_prs = BTreeSet::new();
        for sha in &pushed {
            if reviewed.contains(sha) {
                continue;
            }
            let prs = self
                .github_call(
                    commit_pulls(&self.github, repo.installation, repo.name, sha),
                    "the pull requests of a pushed commit (counted as unreviewed)",
                    Vec::new,
                )
                .await?;
            for pr in prs.iter().filter(|p| p.merged_at.is_some()) {
                reviewed.insert(sha.clone());
                if read_prs.insert(pr.number) {
                    let commits = self
                        .github_call(
                            pr_commits(&self.github, repo.installation, repo.name, pr.number),
                            "a merged pull request's commits",
                            Vec::new,
                        )
                        .await?;
                    reviewed.extend(commits);
                }
            }
        }
        Ok(pushed
            .into_iter()
            .filter(|sha| !reviewed.contains(sha))
            .collect())
    }

    /// Whether the policy file exists at `git_ref` (a file that does not compile counts: the
    /// branch is gated, and fails closed), or the organisation's floor governs the repository.
    async fn has_policy(&self, repo: &Repo<'_>, git_ref: &str) -> Result<bool, JobError> {
        let lookup = async {
            let own = policy_source::load_at(
                &self.github,
                &self.policies,
                repo.installation,
                repo.name,
                git_ref,
                &self.policy_path,
            )
            .await?;
            if matches!(own, PolicyLookup::Found { .. }) {
                return Ok(true);
            }
            match self.floor(repo.installation, repo.name).await {
                Ok(floor) => Ok(floor.is_some()),
                Err(unread) => Err(unread.error),
            }
        };
        self.github_call(
            lookup,
            "whether the branch has a policy (taken as gated)",
            || true,
        )
        .await
    }

    /// A GitHub call for a record. A transient failure leaves the event in the inbox, to be
    /// tried again; any other (GitHub will not answer it however often it is asked) takes
    /// `fallback`, chosen to fail closed (more recorded, never less), so that one event
    /// never blocks the repository's inbox behind it.
    async fn github_call<T>(
        &self,
        call: impl Future<Output = Result<T, crate::github::GitHubError>>,
        what: &'static str,
        fallback: impl FnOnce() -> T,
    ) -> Result<T, JobError> {
        match call.await {
            Ok(value) => Ok(value),
            Err(e) if e.is_transient() => Err(JobError::GitHub(e)),
            Err(e) => {
                tracing::warn!(error = %e, what, "GitHub cannot tell the audit trail this; recording without it");
                Ok(fallback())
            }
        }
    }

    /// Logs and counts what an auditor must hear of at once.
    fn report(&self, record: &Record) {
        match record {
            Record::Merge(m) if !m.gate_passed => {
                self.metrics.unapproved_merge(&m.repository);
                tracing::error!(
                    repository = %m.repository,
                    pr = m.pr,
                    merge_sha = %m.merge_sha,
                    merged_by = m.merged_by.as_deref().unwrap_or("(unknown)"),
                    record = %m.id,
                    "unapproved merge: the gate had not passed when this pull request was merged"
                );
            }
            Record::Push(p) => {
                self.metrics.unreviewed_push(&p.repository);
                tracing::warn!(
                    repository = %p.repository,
                    branch = %p.branch,
                    pusher = %p.pusher,
                    after = %p.after,
                    commits = p.commits.len(),
                    deleted = p.deleted,
                    record = %p.id,
                    "unreviewed push: commits that belong to no merged pull request"
                );
            }
            _ => {}
        }
    }
}
