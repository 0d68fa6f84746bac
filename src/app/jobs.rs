//! Units of work: which PR to evaluate, and where to report. A job is stored as pending work
//! ([`Job::work_item`]) and comes back from the store as a claim ([`Job::from_claim`]).

use std::time::Duration;

use crate::github::RepoName;
use crate::store::{Claim, Subject, Target, WorkItem};

/// A pull request of a repository, reached through an installation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrRef {
    pub installation: u64,
    /// GitHub's id of the repository: stable across renames, the store's key.
    pub repo_id: u64,
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
        repo_id: u64,
        repo: RepoName,
        branch: String,
    },
    /// Who may approve in the repository may have changed (a collaborator was added,
    /// removed or given another role): re-evaluate its open PRs.
    RepoChanged {
        installation: u64,
        repo_id: u64,
        repo: RepoName,
    },
    /// Record the merges and pushes waiting in the repository's audit inbox.
    Audit {
        installation: u64,
        repo_id: u64,
        repo: RepoName,
    },
    /// The organisation's floor policy, held in `repo` (its policy repository), may have
    /// changed: re-evaluate the installation's open PRs whose run it makes out of date.
    FloorChanged {
        installation: u64,
        repo_id: u64,
        repo: RepoName,
    },
}

impl Job {
    /// The job as pending work, due after `delay` (the debounce, or none).
    pub fn work_item(&self, delay: Duration) -> WorkItem {
        let (installation, repo_id, repo, subject, head_sha) = match self {
            Job::Pr { pr, head_sha } => (
                pr.installation,
                pr.repo_id,
                &pr.repo,
                Subject::Pr {
                    number: pr.number,
                    merge_group: None,
                },
                head_sha.clone(),
            ),
            Job::MergeGroup { pr, head_sha } => (
                pr.installation,
                pr.repo_id,
                &pr.repo,
                Subject::Pr {
                    number: pr.number,
                    merge_group: Some(head_sha.clone()),
                },
                None,
            ),
            Job::PolicyChanged {
                installation,
                repo_id,
                repo,
                branch,
            } => (
                *installation,
                *repo_id,
                repo,
                Subject::Branch(branch.clone()),
                None,
            ),
            Job::RepoChanged {
                installation,
                repo_id,
                repo,
            } => (*installation, *repo_id, repo, Subject::Repo, None),
            Job::Audit {
                installation,
                repo_id,
                repo,
            } => (*installation, *repo_id, repo, Subject::Audit, None),
            Job::FloorChanged {
                installation,
                repo_id,
                repo,
            } => (*installation, *repo_id, repo, Subject::Floor, None),
        };
        WorkItem {
            repo_id,
            subject,
            installation,
            repo: repo.to_string(),
            head_sha,
            delay,
        }
    }

    /// The jobs a claim stands for: a PR evaluation and its merge groups (one key), or one
    /// fan-out. `None` for a claim naming a repository that is not `owner/name`.
    pub fn from_claim(claim: &Claim) -> Option<Vec<Job>> {
        let repo = RepoName::parse(&claim.repo)?;
        let (installation, repo_id) = (claim.installation, claim.repo_id);
        Some(match &claim.target {
            Target::Pr(number) => {
                let pr = PrRef {
                    installation,
                    repo_id,
                    repo,
                    number: *number,
                };
                let mut jobs = Vec::new();
                if claim.evaluate_pr {
                    jobs.push(Job::Pr {
                        pr: pr.clone(),
                        head_sha: claim.head_sha.clone(),
                    });
                }
                jobs.extend(claim.merge_groups.iter().map(|sha| Job::MergeGroup {
                    pr: pr.clone(),
                    head_sha: sha.clone(),
                }));
                jobs
            }
            Target::Branch(branch) => vec![Job::PolicyChanged {
                installation,
                repo_id,
                repo,
                branch: branch.clone(),
            }],
            Target::Repo => vec![Job::RepoChanged {
                installation,
                repo_id,
                repo,
            }],
            Target::Audit => vec![Job::Audit {
                installation,
                repo_id,
                repo,
            }],
            Target::Floor => vec![Job::FloorChanged {
                installation,
                repo_id,
                repo,
            }],
        })
    }
}
