//! Re-evaluating many pull requests after a change that is not about one of them: a push that
//! may change a branch's policy, a collaborator's access changing.

use std::time::Duration;

use tracing::Instrument;

use super::jobs::{Job, PrRef};
use super::{App, JobError};
use crate::github::RepoName;
use crate::github::client::encode;
use crate::github::pulls::{self, Listing};
use crate::github::types::PullRequest;

impl App {
    /// Stores work for every open PR of `repo` (into `branch` only, when given).
    pub(super) async fn reevaluate_open(
        &self,
        installation: u64,
        repo_id: u64,
        repo: &RepoName,
        branch: Option<&str>,
    ) -> Result<(), JobError> {
        let span = tracing::info_span!("fan_out", repo = %repo, branch = branch.unwrap_or("*"));
        async {
            let path = match branch {
                Some(b) => format!("{}/pulls?state=open&base={}", repo.api_path(), encode(b)),
                None => format!("{}/pulls?state=open", repo.api_path()),
            };
            let listing = Listing::new(installation, "GET /repos/{owner}/{repo}/pulls", path);
            let open: Vec<PullRequest> = pulls::pages(&self.github, listing, 1).await?;
            tracing::info!(open_prs = open.len(), "re-evaluating open pull requests");
            let jobs = open
                .into_iter()
                .map(|pr| Job::Pr {
                    pr: PrRef {
                        installation,
                        repo_id,
                        repo: repo.clone(),
                        number: pr.number,
                    },
                    head_sha: Some(pr.head.sha),
                })
                .collect();
            self.store_work(jobs, Duration::ZERO)
                .await
                .map_err(|e| JobError::Store(e.to_string()))
        }
        .instrument(span)
        .await
    }
}
