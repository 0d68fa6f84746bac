//! The snapshot the App would evaluate for a pull request, gathered on demand for
//! `reviewgate snapshot OWNER/REPO#N`: the same reads as an evaluation (the PR, its files,
//! reviews and commits, the teams of the base's policy and the organisation's floor, the reviewers' permissions, who pushed).

use super::App;
use super::jobs::PrRef;
use crate::github::pulls;
use crate::snapshot::Snapshot;

impl App {
    /// The snapshot of `pr_ref` as an evaluation now would build it. Who pushed comes from
    /// the store, which only webhooks fill: without a store it is empty, and `pushers_known`
    /// is false.
    pub async fn snapshot_of(&self, pr_ref: &PrRef) -> Result<(Snapshot, bool), String> {
        let (gh, inst, repo) = (&self.github, pr_ref.installation, &pr_ref.repo);
        let (pr, _) = pulls::pull_request(gh, inst, repo, pr_ref.number)
            .await
            .map_err(|e| format!("cannot read {repo}#{}: {e}", pr_ref.number))?;
        let governing = self
            .governing(inst, repo, &pr.base.ref_name)
            .await
            .map_err(|u| format!("cannot read {}: {}", u.what, u.error))?;
        // Only compiled policies name teams; an invalid one is reported when evaluated.
        let policies: Vec<&crate::policy::Policy> = governing
            .own
            .iter()
            .map(|(_, f)| &f.policy)
            .chain(governing.floor.iter().map(|f| &f.file.policy))
            .filter_map(|p| p.as_ref().ok())
            .collect();
        let teams = self
            .team_members(inst, &policies)
            .await
            .map_err(|(what, e)| format!("cannot read {what}: {e}"))?;
        self.snapshot_with(pr_ref, &pr, teams).await
    }

    /// The snapshot of `pr` with these team members: its files, reviews and commits, the
    /// reviewers' permissions and (from the store) who pushed.
    pub(super) async fn snapshot_with(
        &self,
        pr_ref: &PrRef,
        pr: &crate::github::types::PullRequest,
        teams: std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<(Snapshot, bool), String> {
        let (gh, inst, repo) = (&self.github, pr_ref.installation, &pr_ref.repo);
        let contents = pulls::contents(gh, inst, repo, pr).await.map_err(|e| {
            format!("cannot read the pull request's files, reviews or commits: {e}")
        })?;
        let permissions = self
            .reviewer_permissions(inst, repo, pr, &contents)
            .await
            .map_err(|(what, e)| format!("cannot read {what}: {e}"))?;
        let store = self.store.ready();
        let read = super::heads::Read {
            contents,
            teams,
            permissions,
        };
        let snapshot = self
            .assemble(pr_ref, pr, read, store)
            .await
            .map_err(|e| format!("cannot read who pushed from the store: {e}"))?;
        Ok((snapshot, store.is_some()))
    }
}
