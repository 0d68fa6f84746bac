//! GitHub I/O: the REST client and the reads and writes the App makes with it. Nothing here
//! decides anything; it turns GitHub's answers into the evaluator's inputs and the verdict
//! into a check run.

pub mod app_auth;
pub mod checks;
pub mod client;
pub mod coalesce;
mod conditional;
mod error;
pub mod history;
mod outages;
pub mod permissions;
pub mod policy_source;
pub mod pulls;
mod retry;
pub mod review_requests;
pub mod teams;
pub mod time;
pub mod types;

pub use client::{Auth, ClientSettings, GitHub, GitHubError, Request, Response};

/// A repository as `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    /// Parses `owner/name`; GitHub's names never contain another `/`.
    pub fn parse(full_name: &str) -> Option<RepoName> {
        let (owner, name) = full_name.split_once('/')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        (ok(owner) && ok(name)).then(|| RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    /// `/repos/{owner}/{name}`.
    pub fn api_path(&self) -> String {
        format!("/repos/{}/{}", self.owner, self.name)
    }
}

impl std::fmt::Display for RepoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        assert_eq!(
            RepoName::parse("acme/app.rs").map(|r| r.api_path()),
            Some("/repos/acme/app.rs".to_string())
        );
        for bad in ["acme", "acme/", "/app", "a/b/c", "a/b c", "a/b?x=1"] {
            assert_eq!(RepoName::parse(bad), None, "{bad}");
        }
    }
}
