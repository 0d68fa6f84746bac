//! Review requests: what the installation may do, who is asked where, and asking.

use std::collections::HashMap;

use http::Method;
use serde_json::json;

use super::RepoName;
use super::client::{Auth, GitHub, GitHubError, Request};
use super::pulls::{Listing, pages};
use super::types::PullRequest;

/// The installation's `pull_requests` permission (`read`, `write`), from
/// `GET /app/installations/{id}`: what the installation's tokens carry.
pub async fn pull_requests_permission(
    gh: &GitHub,
    installation: u64,
) -> Result<Option<String>, GitHubError> {
    let request = Request::get(
        Auth::App,
        "GET /app/installations/{installation_id}",
        format!("/app/installations/{installation}"),
    )
    .conditional();
    let (value, _) = gh.get_json::<serde_json::Value>(&request).await?;
    Ok(value["permissions"]["pull_requests"]
        .as_str()
        .map(str::to_string))
}

/// How many open PRs of the repository ask each person (lower case) for a review; team
/// requests do not count.
pub async fn pending_load(
    gh: &std::sync::Arc<GitHub>,
    installation: u64,
    repo: &RepoName,
) -> Result<HashMap<String, usize>, GitHubError> {
    let listing = Listing::new(
        installation,
        "GET /repos/{owner}/{repo}/pulls",
        format!("{}/pulls?state=open", repo.api_path()),
    );
    let open: Vec<PullRequest> = pages(gh, listing, 1).await?;
    let mut load = HashMap::new();
    for pr in &open {
        for user in &pr.requested_reviewers {
            *load.entry(user.login.to_ascii_lowercase()).or_insert(0) += 1;
        }
    }
    Ok(load)
}

/// Asks `users` and `teams` (slugs) to review PR `number`.
pub async fn request(
    gh: &GitHub,
    installation: u64,
    repo: &RepoName,
    number: u64,
    users: &[String],
    teams: &[String],
) -> Result<(), GitHubError> {
    let request = Request {
        auth: Auth::Installation(installation),
        method: Method::POST,
        path: format!("{}/pulls/{number}/requested_reviewers", repo.api_path()),
        endpoint: "POST /repos/{owner}/{repo}/pulls/{number}/requested_reviewers",
        body: Some(json!({"reviewers": users, "team_reviewers": teams})),
        conditional: false,
    };
    gh.send(&request).await.map(|_| ())
}
