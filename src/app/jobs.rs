//! Units of work: which PR to evaluate, and where to report.

use crate::github::RepoName;

/// A pull request of a repository, reached through an installation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrRef {
    pub installation: u64,
    pub repo: RepoName,
    pub number: u64,
}

/// Something the workers do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Evaluate a PR and report on its head commit. `head_sha` is the head named by the
    /// event, used only to report a failure when the PR itself cannot be read.
    Pr { pr: PrRef, head_sha: Option<String> },
    /// Evaluate the PR at the front of a merge group and report on the group's commit.
    MergeGroup { pr: PrRef, head_sha: String },
    /// The policy on `branch` may have changed: re-evaluate the open PRs that target it.
    PolicyChanged {
        installation: u64,
        repo: RepoName,
        branch: String,
    },
    /// Who may approve in the repository may have changed (a collaborator was added,
    /// removed or given another role): re-evaluate its open PRs.
    RepoChanged { installation: u64, repo: RepoName },
}

/// What makes two jobs the same work: events for one PR collapse into one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKey {
    Pr(String, u64),
    MergeGroup(String, String),
    PolicyChanged(String, String),
    RepoChanged(String),
}

impl Job {
    pub fn key(&self) -> JobKey {
        match self {
            Job::Pr { pr, .. } => JobKey::Pr(pr.repo.to_string().to_ascii_lowercase(), pr.number),
            Job::MergeGroup { pr, head_sha } => JobKey::MergeGroup(
                pr.repo.to_string().to_ascii_lowercase(),
                head_sha.to_ascii_lowercase(),
            ),
            Job::PolicyChanged { repo, branch, .. } => {
                JobKey::PolicyChanged(repo.to_string().to_ascii_lowercase(), branch.clone())
            }
            Job::RepoChanged { repo, .. } => {
                JobKey::RepoChanged(repo.to_string().to_ascii_lowercase())
            }
        }
    }

    /// Merges a newer event for the same work into this one: the newest head SHA wins.
    pub(crate) fn absorb(&mut self, newer: Job) {
        match (self, newer) {
            (
                Job::Pr { pr, head_sha },
                Job::Pr {
                    pr: new_pr,
                    head_sha: new_sha,
                },
            ) => {
                *pr = new_pr;
                if new_sha.is_some() {
                    *head_sha = new_sha;
                }
            }
            (this, newer) => *this = newer,
        }
    }
}
