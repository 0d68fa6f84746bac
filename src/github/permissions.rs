//! Reviewers' permissions on a repository: whether GitHub itself would count their approval.
//!
//! Anyone who can see a pull request can submit an APPROVED review — on a public repository,
//! any account. GitHub's own required reviews count only people with write access, and so
//! does reviewgate. The answer is kept per installation, repository and login for a few
//! minutes, and dropped early when a `member`, `team` or `membership` webhook says access
//! may have changed.

use std::time::Duration;

use serde::Deserialize;

use super::RepoName;
use super::client::{Auth, GitHub, GitHubError, Request, encode};
use super::coalesce::Coalesced;
use crate::snapshot::Permission;

/// How long a permission read stays fresh.
pub const PERMISSION_FRESH_FOR: Duration = Duration::from_secs(300);

/// Permissions by installation, repository and login.
pub struct PermissionCache {
    entries: Coalesced<Permission>,
}

impl Default for PermissionCache {
    fn default() -> Self {
        PermissionCache::new(PERMISSION_FRESH_FOR)
    }
}

fn repo_prefix(installation: u64, repo: &RepoName) -> String {
    format!("{installation}/{}/", repo.to_string().to_ascii_lowercase())
}

impl PermissionCache {
    pub fn new(ttl: Duration) -> PermissionCache {
        PermissionCache {
            entries: Coalesced::new(ttl, 50_000),
        }
    }

    /// Drops what is known of one repository's collaborators (a `member` event).
    pub fn forget_repo(&self, installation: u64, repo: &RepoName) {
        self.entries.forget_prefix(&repo_prefix(installation, repo));
    }

    /// Drops everything known through an installation (a `team` or `membership` event: a
    /// team's access or members changed, which can change anyone's access to any repository).
    pub fn forget_installation(&self, installation: u64) {
        self.entries.forget_prefix(&format!("{installation}/"));
    }

    /// Drops everything (an event that names no installation).
    pub fn forget_all(&self) {
        self.entries.forget_prefix("");
    }
}

#[derive(Deserialize)]
struct PermissionAnswer {
    permission: Option<String>,
}

/// `login`'s permission on `repo`: `GET /repos/{owner}/{repo}/collaborators/{username}/permission`
/// (which needs only `metadata: read`). A 404 means no access. GitHub folds maintain into
/// `write` and triage into `read` in this field; a value it adds later counts as none.
pub async fn permission(
    gh: &GitHub,
    cache: &PermissionCache,
    installation: u64,
    repo: &RepoName,
    login: &str,
) -> Result<Permission, GitHubError> {
    let key = format!(
        "{}{}",
        repo_prefix(installation, repo),
        login.to_ascii_lowercase()
    );
    let (permission, hit) = cache
        .entries
        .get(&key, || async {
            let request = Request::get(
                Auth::Installation(installation),
                "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
                format!(
                    "{}/collaborators/{}/permission",
                    repo.api_path(),
                    encode(login)
                ),
            )
            .conditional();
            match gh.get_json::<PermissionAnswer>(&request).await {
                Ok((answer, _)) => Ok(parse(answer.permission.as_deref())),
                Err(e) if e.is_not_found() => Ok(Permission::None),
                Err(e) => Err(e),
            }
        })
        .await?;
    gh.metrics().cache("permissions", hit);
    Ok(permission)
}

fn parse(value: Option<&str>) -> Permission {
    match value {
        Some("admin") => Permission::Admin,
        Some("maintain") => Permission::Maintain,
        Some("write") => Permission::Write,
        Some("triage") => Permission::Triage,
        Some("read") => Permission::Read,
        _ => Permission::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_grant_nothing() {
        assert_eq!(parse(Some("admin")), Permission::Admin);
        assert_eq!(parse(Some("write")), Permission::Write);
        assert_eq!(parse(Some("read")), Permission::Read);
        assert_eq!(parse(Some("owner")), Permission::None);
        assert_eq!(parse(None), Permission::None);
        assert!(!parse(Some("triage")).can_approve());
        assert!(parse(Some("maintain")).can_approve());
    }
}
