//! Reading a pull request: the PR itself, then its files, reviews and commits in parallel.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use super::RepoName;
use super::client::{Auth, GitHub, GitHubError, Request};
use super::types::{PullCommit, PullFile, PullRequest, PullReview};
use crate::snapshot::{ChangedFile, Commit, FileStatus, Review, ReviewState};

/// GitHub lists at most this many files of a pull request.
pub const MAX_LISTED_FILES: u64 = 3000;
/// GitHub lists at most this many commits of a pull request.
pub const MAX_LISTED_COMMITS: u64 = 250;
const PER_PAGE: u64 = 100;

/// What the App reads about a PR besides the PR object.
#[derive(Debug, Clone)]
pub struct PullContents {
    pub files: Vec<ChangedFile>,
    pub reviews: Vec<Review>,
    pub commits: Vec<Commit>,
}

pub async fn pull_request(
    gh: &GitHub,
    installation: u64,
    repo: &RepoName,
    number: u64,
) -> Result<PullRequest, GitHubError> {
    let path = format!("{}/pulls/{number}", repo.api_path());
    gh.send(&Request::get(
        Auth::Installation(installation),
        "GET /repos/{owner}/{repo}/pulls/{number}",
        path,
    ))
    .await?
    .json()
}

/// Fetches files, reviews and commits at once. Read after the PR object, so they are at
/// least as new as its head SHA: a push in between can only make the data newer than the
/// commit the check is written on, never older.
pub async fn contents(
    gh: &Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
    pr: &PullRequest,
) -> Result<PullContents, GitHubError> {
    let base = format!("{}/pulls/{}", repo.api_path(), pr.number);
    let file_pages = pr
        .changed_files
        .unwrap_or(1)
        .clamp(1, MAX_LISTED_FILES)
        .div_ceil(PER_PAGE);
    let (files, reviews, commits) = tokio::join!(
        pages::<PullFile>(
            gh,
            installation,
            "GET /repos/{owner}/{repo}/pulls/{number}/files",
            format!("{base}/files"),
            file_pages
        ),
        pages::<PullReview>(
            gh,
            installation,
            "GET /repos/{owner}/{repo}/pulls/{number}/reviews",
            format!("{base}/reviews"),
            1
        ),
        pages::<PullCommit>(
            gh,
            installation,
            "GET /repos/{owner}/{repo}/pulls/{number}/commits",
            format!("{base}/commits"),
            1
        ),
    );
    Ok(PullContents {
        files: files?.into_iter().map(changed_file).collect(),
        reviews: reviews?.into_iter().filter_map(review).collect(),
        commits: commits?
            .into_iter()
            .map(|c| Commit {
                sha: Some(c.sha),
                author: c.author.map(|u| u.login),
                committer: c.committer.map(|u| u.login),
            })
            .collect(),
    })
}

/// Reads a paginated list with conditional requests (an unchanged page costs no quota):
/// pages `1..=expected` at once (when the size is known up front),
/// then further pages one by one for as long as GitHub's `Link` header announces a next one.
/// Pages are requested by number on the relative route, never by following `Link` URLs,
/// which may point at another host.
pub async fn pages<T: DeserializeOwned + Send + 'static>(
    gh: &Arc<GitHub>,
    installation: u64,
    endpoint: &'static str,
    path: String,
    expected: u64,
) -> Result<Vec<T>, GitHubError> {
    let page_path = |page: u64| {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}per_page={PER_PAGE}&page={page}")
    };
    let mut set = JoinSet::new();
    for page in 1..=expected.max(1) {
        let gh = gh.clone();
        let request =
            Request::get(Auth::Installation(installation), endpoint, page_path(page)).conditional();
        set.spawn(async move { (page, gh.send(&request).await) });
    }
    let mut results: Vec<(u64, Vec<T>, bool)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (page, response) = joined.map_err(|e| GitHubError::Malformed {
            endpoint,
            detail: format!("task failed: {e}"),
        })?;
        let response = response?;
        let items: Vec<T> = response.json()?;
        results.push((page, items, response.has_next_page()));
    }
    results.sort_by_key(|(page, _, _)| *page);
    let mut more = results
        .last()
        .is_some_and(|(_, items, next)| *next && !items.is_empty());
    let mut page = results.len() as u64;
    let mut out: Vec<T> = results
        .into_iter()
        .flat_map(|(_, items, _)| items)
        .collect();
    while more {
        page += 1;
        let response = gh
            .send(&Request::get(
                Auth::Installation(installation),
                endpoint,
                page_path(page),
            ))
            .await?;
        let items: Vec<T> = response.json()?;
        more = response.has_next_page() && !items.is_empty();
        out.extend(items);
    }
    Ok(out)
}

fn changed_file(f: PullFile) -> ChangedFile {
    let status = match f.status.as_deref() {
        Some("added") => Some(FileStatus::Added),
        Some("removed") => Some(FileStatus::Removed),
        Some("modified") => Some(FileStatus::Modified),
        Some("renamed") => Some(FileStatus::Renamed),
        Some("copied") => Some(FileStatus::Copied),
        Some("changed") => Some(FileStatus::Changed),
        Some("unchanged") => Some(FileStatus::Unchanged),
        // A status GitHub adds later still names a changed path; it counts like any other.
        _ => None,
    };
    ChangedFile {
        path: f.filename,
        previous_path: f.previous_filename,
        status,
    }
}

/// A review as the evaluator sees it. Reviews by deleted users (no `user`) cannot count or
/// block anyone; a state GitHub adds later is treated like a comment (it neither approves nor
/// blocks), so it can never make a PR pass.
fn review(r: PullReview) -> Option<Review> {
    let state = match r.state.as_str() {
        "APPROVED" => ReviewState::Approved,
        "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
        "DISMISSED" => ReviewState::Dismissed,
        "PENDING" => ReviewState::Pending,
        _ => ReviewState::Commented,
    };
    Some(Review {
        user: r.user?.login,
        state,
        commit: r.commit_id.unwrap_or_default(),
        submitted_at: r.submitted_at,
    })
}
