//! Re-evaluating many pull requests after a change that is not about one of them: a push that
//! may change a branch's policy, a collaborator's access changing.

use std::time::Duration;

use tracing::Instrument;

use super::App;
use super::jobs::{Job, PrRef};
use crate::github::client::encode;
use crate::github::pulls::{self, Listing};
use crate::github::types::PullRequest;
use crate::github::{GitHubError, RepoName};

impl App {
    /// Queues every open PR of `repo` (into `branch` only, when given).
    pub(super) async fn reevaluate_open(
        &self,
        installation: u64,
        repo: &RepoName,
        branch: Option<&str>,
    ) -> Result<(), GitHubError> {
        let span = tracing::info_span!("fan_out", repo = %repo, branch = branch.unwrap_or("*"));
        async {
            let path = match branch {
                Some(b) => format!("{}/pulls?state=open&base={}", repo.api_path(), encode(b)),
                None => format!("{}/pulls?state=open", repo.api_path()),
            };
            let listing = Listing::new(installation, "GET /repos/{owner}/{repo}/pulls", path);
            let open: Vec<PullRequest> = pulls::pages(&self.github, listing, 1).await?;
            tracing::info!(open_prs = open.len(), "re-evaluating open pull requests");
            for pr in open {
                let pr_ref = PrRef {
                    installation,
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

    /// Queues every open PR whose last verdict named a team of `org` (a team's members or
    /// access changed).
    pub fn reevaluate_org(&self, org: &str) -> usize {
        let prs = self.team_index.of_org(org);
        let n = prs.len();
        for pr in prs {
            self.queue
                .push_internal(Job::Pr { pr, head_sha: None }, Duration::ZERO);
        }
        if n > 0 {
            tracing::info!(
                org,
                prs = n,
                "teams changed; re-evaluating pull requests that named them"
            );
        }
        n
    }
}
