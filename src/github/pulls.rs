//! Reading a pull request: the PR itself, then its files, reviews and commits in parallel.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use super::RepoName;
use super::client::{Auth, GitHub, GitHubError, Request};
use super::types::{PullCommit, PullFile, PullRequest, PullReview};
use crate::snapshot::fingerprint::{FileDiff, fingerprint};
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
    /// The head's content fingerprint, when the file list is complete and every file has a
    /// patch ([`crate::snapshot::fingerprint`]).
    pub fingerprint: Option<String>,
}

/// The PR, and GitHub's clock when it answered (from the `Date` header).
pub async fn pull_request(
    gh: &GitHub,
    installation: u64,
    repo: &RepoName,
    number: u64,
) -> Result<(PullRequest, Option<u64>), GitHubError> {
    let path = format!("{}/pulls/{number}", repo.api_path());
    let request = Request::get(
        Auth::Installation(installation),
        "GET /repos/{owner}/{repo}/pulls/{number}",
        path,
    )
    .conditional();
    let (pr, response) = gh.get_json(&request).await?;
    Ok((pr, response.server_time()))
}

/// The open pull requests whose head is `sha`, fork PRs included, each in the short form of
/// list endpoints (no `changed_files`). Read from the commit's pull requests (conditionally:
/// an unchanged list costs no quota); GitHub omits open PRs from that list for a commit that
/// is already on the default branch, so when `expected` is missing from it the repository's
/// open pull requests are read instead.
pub async fn open_with_head(
    gh: &Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
    sha: &str,
    expected: u64,
) -> Result<Vec<PullRequest>, GitHubError> {
    let found = open_on_commit(gh, installation, repo, sha).await?;
    if found.iter().any(|p| p.number == expected) {
        return Ok(found);
    }
    let listing = Listing::new(
        installation,
        "GET /repos/{owner}/{repo}/pulls",
        format!("{}/pulls?state=open", repo.api_path()),
    );
    Ok(with_head(pages(gh, listing, 1).await?, sha))
}

/// The open pull requests whose head is `sha`, as the commit's pull-request list gives them
/// (which leaves them out for a commit already on the default branch).
pub async fn open_on_commit(
    gh: &Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
    sha: &str,
) -> Result<Vec<PullRequest>, GitHubError> {
    let listing = Listing::new(
        installation,
        "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls",
        format!(
            "{}/commits/{}/pulls",
            repo.api_path(),
            super::client::encode(sha)
        ),
    );
    Ok(with_head(pages(gh, listing, 1).await?, sha))
}

fn with_head(prs: Vec<PullRequest>, sha: &str) -> Vec<PullRequest> {
    prs.into_iter()
        .filter(|p| p.state == "open" && p.head.sha.eq_ignore_ascii_case(sha))
        .collect()
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
            Listing::new(
                installation,
                "GET /repos/{owner}/{repo}/pulls/{number}/files",
                format!("{base}/files")
            )
            .capped(MAX_LISTED_FILES),
            file_pages
        ),
        pages::<PullReview>(
            gh,
            Listing::new(
                installation,
                "GET /repos/{owner}/{repo}/pulls/{number}/reviews",
                format!("{base}/reviews")
            ),
            1
        ),
        pages::<PullCommit>(
            gh,
            Listing::new(
                installation,
                "GET /repos/{owner}/{repo}/pulls/{number}/commits",
                format!("{base}/commits")
            )
            .capped(MAX_LISTED_COMMITS),
            pr.commits
                .unwrap_or(1)
                .clamp(1, MAX_LISTED_COMMITS)
                .div_ceil(PER_PAGE)
        ),
    );
    let files = files?;
    // Complete only when GitHub said how many files there are: a PR from a list has no count,
    // and its 3000-file list could be cut short.
    let complete = pr.changed_files.is_some_and(|n| n <= files.len() as u64);
    let fingerprint = head_fingerprint(&files, complete);
    Ok(PullContents {
        fingerprint,
        files: files.into_iter().map(changed_file).collect(),
        reviews: reviews?.into_iter().filter_map(review).collect(),
        commits: commits?
            .into_iter()
            .map(|c| Commit {
                sha: Some(c.sha),
                author: c.author.map(|u| u.login),
                committer: c.committer.map(|u| u.login),
                parents: c.parents.into_iter().map(|p| p.sha).collect(),
            })
            .collect(),
    })
}

/// The content fingerprint of the files GitHub listed for the head.
fn head_fingerprint(files: &[PullFile], complete: bool) -> Option<String> {
    let diffs: Vec<FileDiff<'_>> = files
        .iter()
        .map(|f| FileDiff {
            status: f.status.as_deref().unwrap_or(""),
            previous_path: f.previous_filename.as_deref(),
            path: &f.filename,
            blob_sha: f.sha.as_deref().unwrap_or(""),
            patch: f.patch.as_deref(),
            changes: f.changes,
        })
        .collect();
    fingerprint(&diffs, complete)
}

/// A paginated list on GitHub.
#[derive(Debug, Clone)]
pub struct Listing {
    pub auth: Auth,
    /// Route template, for metrics and messages.
    pub endpoint: &'static str,
    /// Path and query without `per_page`/`page`.
    pub path: String,
    /// For lists wrapped in an object (`{"repositories": [...]}`), the field holding them.
    pub field: Option<&'static str>,
    /// Most items GitHub lists here (3000 files, 250 commits): no page is asked for past it.
    pub max_items: Option<u64>,
}

impl Listing {
    pub fn new(installation: u64, endpoint: &'static str, path: String) -> Listing {
        Listing {
            auth: Auth::Installation(installation),
            endpoint,
            path,
            field: None,
            max_items: None,
        }
    }

    /// The same list, which GitHub stops at `max` items.
    pub fn capped(mut self, max: u64) -> Listing {
        self.max_items = Some(max);
        self
    }

    fn page(&self, page: u64) -> Request {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        Request::get(
            self.auth,
            self.endpoint,
            format!("{}{sep}per_page={PER_PAGE}&page={page}", self.path),
        )
        .conditional()
    }
}

/// One page: its items, and whether GitHub's `Link` header announces another.
async fn page<T: DeserializeOwned>(
    gh: &GitHub,
    listing: &Listing,
    number: u64,
) -> Result<(Vec<T>, bool), GitHubError> {
    let request = listing.page(number);
    let (items, response) = match listing.field {
        None => gh.get_json::<Vec<T>>(&request).await?,
        Some(field) => {
            let (mut value, response) = gh.get_json::<serde_json::Value>(&request).await?;
            // `get_mut`, not indexing: indexing a JSON value that is not an object panics.
            let items = value.get_mut(field).map(serde_json::Value::take);
            let items = serde_json::from_value(items.unwrap_or_default()).map_err(|e| {
                GitHubError::Malformed {
                    endpoint: listing.endpoint,
                    detail: format!("`{field}`: {e}"),
                }
            })?;
            (items, response)
        }
    };
    // A full page may be followed by another even when `Link` does not say so: a 304 for an
    // unchanged page carries the `Link` of when it was first read, and the list may have grown
    // since (a new review lands on page 2 while page 1 stays the same).
    let next = !items.is_empty() && (response.has_next_page() || items.len() as u64 >= PER_PAGE);
    Ok((items, next))
}

/// Reads a paginated list with conditional requests (an unchanged page costs no quota):
/// pages `1..=expected` at once (when the size is known up front), then further pages one by
/// one while a page is full or GitHub's `Link` header announces a next one, up to the list's
/// cap. Pages are requested by
/// number on the relative route, never by following `Link` URLs, which may point at another
/// host.
pub async fn pages<T: DeserializeOwned + Send + 'static>(
    gh: &Arc<GitHub>,
    listing: Listing,
    expected: u64,
) -> Result<Vec<T>, GitHubError> {
    let listing = Arc::new(listing);
    let mut set = JoinSet::new();
    for number in 1..=expected.max(1) {
        let (gh, listing) = (gh.clone(), listing.clone());
        set.spawn(async move { (number, page::<T>(&gh, &listing, number).await) });
    }
    let mut results: Vec<(u64, Vec<T>, bool)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (number, result) = joined.map_err(|e| GitHubError::Malformed {
            endpoint: listing.endpoint,
            detail: format!("task failed: {e}"),
        })?;
        let (items, next) = result?;
        results.push((number, items, next));
    }
    results.sort_by_key(|(number, _, _)| *number);
    let mut more = results.last().is_some_and(|(_, _, next)| *next);
    let mut number = results.len() as u64;
    let mut out: Vec<T> = results
        .into_iter()
        .flat_map(|(_, items, _)| items)
        .collect();
    let capped = |count: usize| listing.max_items.is_some_and(|max| count as u64 >= max);
    more = more && !capped(out.len());
    while more {
        number += 1;
        let (items, next) = page::<T>(gh, &listing, number).await?;
        out.extend(items);
        more = next && !capped(out.len());
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
