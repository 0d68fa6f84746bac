//! The parts of GitHub's REST answers the App reads. Unknown fields are ignored; fields GitHub
//! may send as `null` are `Option`s, so a deleted user or an unlinked commit author parses.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub sha: String,
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub state: String,
    #[serde(default)]
    pub draft: bool,
    pub user: Option<User>,
    pub head: GitRef,
    pub base: GitRef,
    /// Only in the full PR object (not in webhook short forms).
    #[serde(default)]
    pub changed_files: Option<u64>,
    #[serde(default)]
    pub commits: Option<u64>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Set once the PR was merged.
    #[serde(default)]
    pub merged_at: Option<String>,
    /// People asked for a review who have not given one yet.
    #[serde(default)]
    pub requested_reviewers: Vec<User>,
    /// Teams asked for a review.
    #[serde(default)]
    pub requested_teams: Vec<TeamSlug>,
}

/// A team as a PR's `requested_teams` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamSlug {
    pub slug: String,
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/files`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullFile {
    pub filename: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub previous_filename: Option<String>,
    /// The file's blob SHA at the head.
    #[serde(default)]
    pub sha: Option<String>,
    /// Left out for binary files, very large diffs and empty files.
    #[serde(default)]
    pub patch: Option<String>,
    #[serde(default)]
    pub changes: u64,
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/reviews`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullReview {
    pub user: Option<User>,
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/commits`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullCommit {
    pub sha: String,
    pub author: Option<User>,
    pub committer: Option<User>,
    #[serde(default)]
    pub parents: Vec<Parent>,
}

/// A parent in a commit's `parents`.
#[derive(Debug, Clone, Deserialize)]
pub struct Parent {
    pub sha: String,
}

/// `GET /repos/{owner}/{repo}/contents/{path}` for a file.
#[derive(Debug, Clone, Deserialize)]
pub struct Content {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    pub sha: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub app: Option<App>,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRunList {
    pub check_runs: Vec<CheckRun>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub id: u64,
    pub full_name: String,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationRepositories {
    pub repositories: Vec<Repository>,
}
