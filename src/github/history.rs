//! Which commits reached a branch, and through which pull requests: what the audit trail
//! reads to record a merge's commits and to tell a push of reviewed commits from an
//! unreviewed one.

use std::sync::Arc;

use serde::Deserialize;

use super::RepoName;
use super::client::{GitHub, GitHubError, encode};
use super::pulls::{Listing, MAX_LISTED_COMMITS, pages};
use super::types::{PullCommit, PullRequest};

/// Most commits read from the compare API for one push: beyond this a push is recorded with
/// the commits read so far (and counts as unreviewed).
pub const MAX_COMPARED_COMMITS: u64 = 10_000;

#[derive(Deserialize)]
struct Sha {
    sha: String,
}

/// The SHAs of a pull request's commits (GitHub lists at most 250).
pub async fn pr_commits(
    gh: &Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
    number: u64,
) -> Result<Vec<String>, GitHubError> {
    let listing = Listing::new(
        installation,
        "GET /repos/{owner}/{repo}/pulls/{number}/commits",
        format!("{}/pulls/{number}/commits", repo.api_path()),
    )
    .capped(MAX_LISTED_COMMITS);
    let commits: Vec<PullCommit> = pages(gh, listing, 1).await?;
    Ok(commits
        .into_iter()
        .map(|c| c.sha.to_ascii_lowercase())
        .collect())
}

/// Every pull request GitHub associates with a commit, open, closed or merged.
pub async fn commit_pulls(
    gh: &Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
    sha: &str,
) -> Result<Vec<PullRequest>, GitHubError> {
    let listing = Listing::new(
        installation,
        "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls",
        format!("{}/commits/{}/pulls", repo.api_path(), encode(sha)),
    );
    pages(gh, listing, 1).await
}

/// The commits reachable from `head` and not from `base`, oldest first, as the compare API
/// lists them (paginated; at most [`MAX_COMPARED_COMMITS`]).
pub async fn compare(
    gh: &Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
    base: &str,
    head: &str,
) -> Result<Vec<String>, GitHubError> {
    let mut listing = Listing::new(
        installation,
        "GET /repos/{owner}/{repo}/compare/{basehead}",
        format!(
            "{}/compare/{}...{}",
            repo.api_path(),
            encode(base),
            encode(head)
        ),
    )
    .capped(MAX_COMPARED_COMMITS);
    listing.field = Some("commits");
    let commits: Vec<Sha> = pages(gh, listing, 1).await?;
    Ok(commits
        .into_iter()
        .map(|c| c.sha.to_ascii_lowercase())
        .collect())
}
