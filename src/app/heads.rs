//! The facts about a PR's heads that only the store keeps: the content fingerprints of the
//! heads the App evaluated before (so an approval on an earlier head with the same changes
//! still counts), and who pushed which head (so the person who clicked "Update branch" is not
//! a pusher). Assembled here into the snapshot the evaluator judges.

use std::collections::{BTreeMap, BTreeSet};

use super::jobs::PrRef;
use super::{App, JobError};
use crate::github::pulls::PullContents;
use crate::github::types::PullRequest;
use crate::snapshot::{Permission, ReviewState, Snapshot};
use crate::store::{PusherHead, Store};

/// A snapshot's parts that come from GitHub, read before it is assembled.
pub(super) struct Read {
    pub contents: PullContents,
    pub teams: BTreeMap<String, Vec<String>>,
    pub permissions: BTreeMap<String, Permission>,
}

impl App {
    /// The snapshot of `pr` from what was read and what the store keeps. Records the current
    /// head's fingerprint first. Without a store (`reviewgate snapshot` may run without one)
    /// there are no pushers and no earlier fingerprints, and the snapshot says only what
    /// GitHub does.
    pub(super) async fn assemble(
        &self,
        pr_ref: &PrRef,
        pr: &PullRequest,
        read: Read,
        store: Option<&Store>,
    ) -> Result<Snapshot, JobError> {
        let Read {
            contents,
            teams,
            permissions,
        } = read;
        let head = pr.head.sha.to_ascii_lowercase();
        let (mut stored, pushed) = match store {
            Some(store) => self.stored_heads(store, pr_ref, &head, &contents).await?,
            None => (BTreeMap::new(), Vec::new()),
        };
        // The current head's fingerprint comes from this read alone, never from the store.
        stored.remove(&head);
        if let Some(fp) = &contents.fingerprint {
            stored.insert(head.clone(), fp.clone());
        }
        let mut snapshot = Snapshot {
            author: super::facts::author(pr),
            base: Some(pr.base.ref_name.clone()),
            head_sha: pr.head.sha.clone(),
            changed_files: pr.changed_files,
            files: contents.files,
            commits: contents.commits,
            reviews: contents.reviews,
            teams,
            permissions: Some(permissions),
            pushers: Vec::new(),
            fingerprints: BTreeMap::new(),
        };
        snapshot.fingerprints = wanted(&snapshot, &head)
            .into_iter()
            .filter_map(|sha| stored.get(&sha).map(|fp| (sha, fp.clone())))
            .collect();
        snapshot.pushers = pushers(&snapshot, pushed);
        Ok(snapshot)
    }

    /// Records the head's fingerprint, then reads the PR's kept fingerprints and pushes.
    async fn stored_heads(
        &self,
        store: &Store,
        pr_ref: &PrRef,
        head: &str,
        contents: &PullContents,
    ) -> Result<(BTreeMap<String, String>, Vec<Pushed>), JobError> {
        let (repo_id, number) = (pr_ref.repo_id, pr_ref.number);
        if let Some(fp) = &contents.fingerprint {
            let recorded = store.record_fingerprint(repo_id, number, head, fp);
            // Best effort: a fingerprint not kept only makes a later carry-over impossible
            // (the approval is then stale), never a verdict weaker.
            if let Err(e) = self.timed("record_fingerprint", recorded).await {
                tracing::warn!(error = %e, "could not keep the head's content fingerprint");
            }
        }
        let store_error = |e: crate::store::StoreError| JobError::Store(e.to_string());
        let fingerprints = self
            .timed("fingerprints", store.fingerprints(repo_id, number))
            .await
            .map_err(store_error)?;
        let logins = self
            .timed("pushers", store.pushers(repo_id, number))
            .await
            .map_err(store_error)?;
        let heads = self
            .timed("pusher_heads", store.pusher_heads(repo_id, number))
            .await
            .map_err(store_error)?;
        let pushed = logins
            .into_iter()
            .map(|login| {
                let made = heads
                    .iter()
                    .filter(|h: &&PusherHead| h.login.eq_ignore_ascii_case(&login))
                    .map(|h| h.head_sha.clone())
                    .collect();
                Pushed { login, heads: made }
            })
            .collect();
        Ok((fingerprints.into_iter().collect(), pushed))
    }
}

/// Someone who pushed to the PR, and the heads their pushes made (empty when not known:
/// recorded before heads were).
struct Pushed {
    login: String,
    heads: Vec<String>,
}

/// The heads whose fingerprints the evaluator may compare: the current head, every head a
/// reviewer approved, and every `web-flow` merge commit of the PR with its first parent.
fn wanted(snapshot: &Snapshot, head: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::from([head.to_string()]);
    for review in &snapshot.reviews {
        if review.state == ReviewState::Approved {
            out.insert(review.commit.to_ascii_lowercase());
        }
    }
    for commit in &snapshot.commits {
        let web_flow = commit
            .committer
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("web-flow"));
        if let (true, Some(sha), [first, _]) =
            (web_flow, commit.sha.as_deref(), commit.parents.as_slice())
        {
            out.insert(sha.to_ascii_lowercase());
            out.insert(first.to_ascii_lowercase());
        }
    }
    out
}

/// Who counts as a pusher: everyone who pushed, except those whose every push made an
/// update-branch merge (the person who clicked "Update branch" may still approve). A push
/// whose head is not among the PR's commits, or not known (kept as an empty head: a delivery
/// without one, or a push recorded before heads were), counts.
fn pushers(snapshot: &Snapshot, pushed: Vec<Pushed>) -> Vec<String> {
    pushed
        .into_iter()
        .filter(|p| {
            p.heads.is_empty()
                || !p.heads.iter().all(|head| {
                    snapshot.commits.iter().any(|c| {
                        c.sha
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(head))
                            && snapshot.is_update_branch_merge(c)
                    })
                })
        })
        .map(|p| p.login)
        .collect()
}
