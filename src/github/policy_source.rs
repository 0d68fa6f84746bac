//! Reading the policy from a PR's base branch, compiled once per blob SHA.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use super::RepoName;
use super::client::{Auth, GitHub, GitHubError, Request, encode, encode_path};
use super::coalesce::Coalesced;
use super::types::Content;
use crate::policy::{Diagnostic, Policy, PolicyErrors, limits::MAX_POLICY_BYTES};

/// The outcome of looking for a policy.
#[derive(Debug, Clone)]
pub enum PolicyLookup {
    /// A definite 404: the repository has no policy on that branch.
    Missing,
    /// The file, compiled (or the reasons it is invalid).
    Found {
        blob_sha: String,
        file: Arc<PolicyFile>,
    },
}

/// A policy file as read: its text (when it could be read as text: decision records keep it)
/// and what compiling it gave.
#[derive(Debug)]
pub struct PolicyFile {
    pub text: Option<String>,
    pub policy: Result<Policy, PolicyErrors>,
}

/// How long a policy read stays fresh before it is revalidated with GitHub. A push that
/// touches the policy drops it at once; this bounds staleness should that webhook be lost.
pub const POLICY_FRESH_FOR: Duration = Duration::from_secs(5);

/// How long a read of an organisation's floor stays fresh. Longer than a branch's policy:
/// most organisations have none, and GitHub's 404 (unlike a 304) spends quota, so every
/// evaluation would otherwise pay for it. A push to the floor drops it at once where it is
/// received, and sweeps the installation once every replica's read has gone stale.
pub const FLOOR_FRESH_FOR: Duration = Duration::from_secs(30);

/// Policy reads by repository, branch and path (shared by concurrent evaluations), and
/// compiled policies by blob SHA (the same file is compiled once however many PRs use it).
pub struct PolicyCache {
    lookups: Coalesced<PolicyLookup>,
    floors: Coalesced<PolicyLookup>,
    compiled: Mutex<HashMap<String, Arc<PolicyFile>>>,
}

impl Default for PolicyCache {
    fn default() -> Self {
        PolicyCache {
            lookups: Coalesced::new(POLICY_FRESH_FOR, 10_000),
            floors: Coalesced::new(FLOOR_FRESH_FOR, 10_000),
            compiled: Mutex::new(HashMap::new()),
        }
    }
}

/// Most compiled policies kept; past it the cache starts over (policies are cheap to
/// recompile, so a simple bound is enough).
const MAX_COMPILED: usize = 1024;

impl PolicyCache {
    /// Drops every kept read of a repository's policy (after a push that may change it).
    pub fn forget_repo(&self, repo: &RepoName) {
        let prefix = format!("{}/", repo.to_string().to_ascii_lowercase());
        self.lookups.forget_prefix(&prefix);
        self.floors.forget_prefix(&prefix);
    }

    /// The compiled policy of a blob, compiling it (off the async worker threads: a policy
    /// at the glob limit takes a few hundred milliseconds) unless it was compiled before.
    /// Keyed by blob and origin: the same text read as a repository's policy and as the
    /// organisation's floor names a different file in its errors.
    async fn compiled(&self, content: Content, origin: String) -> (Arc<PolicyFile>, bool) {
        let key = format!("{}\n{origin}", content.sha);
        if let Ok(map) = self.compiled.lock() {
            if let Some(p) = map.get(&key) {
                return (p.clone(), true);
            }
        }
        let sha = content.sha.clone();
        let policy = match tokio::task::spawn_blocking(move || compile(&content, &origin)).await {
            Ok(file) => Arc::new(file),
            Err(e) => Arc::new(PolicyFile {
                text: None,
                policy: Err(PolicyErrors {
                    origin: sha.clone(),
                    diagnostics: vec![Diagnostic {
                        line: 1,
                        column: 1,
                        message: format!("the policy could not be compiled: {e}"),
                    }],
                }),
            }),
        };
        if let Ok(mut map) = self.compiled.lock() {
            if map.len() >= MAX_COMPILED {
                map.clear();
            }
            map.insert(key, policy.clone());
        }
        (policy, false)
    }
}

/// The policy at `path` on `branch`: read at most once per [`POLICY_FRESH_FOR`] however
/// many evaluations ask at once.
pub async fn load(
    gh: &GitHub,
    cache: &PolicyCache,
    installation: u64,
    repo: &RepoName,
    branch: &str,
    path: &str,
) -> Result<PolicyLookup, GitHubError> {
    // `refs/heads/…`, never the bare name: git resolves an ambiguous name to a tag before a
    // branch, so anyone who can push a tag named `main` could otherwise choose the policy.
    load_at(
        gh,
        cache,
        installation,
        repo,
        &format!("refs/heads/{branch}"),
        path,
    )
    .await
}

/// The policy at `path` as of `git_ref`: a full ref (`refs/heads/main`) or a commit SHA (the
/// audit trail reads a deleted branch's policy at its last commit).
pub async fn load_at(
    gh: &GitHub,
    cache: &PolicyCache,
    installation: u64,
    repo: &RepoName,
    git_ref: &str,
    path: &str,
) -> Result<PolicyLookup, GitHubError> {
    let at = At {
        installation,
        repo,
        git_ref: Some(git_ref),
        path,
        origin: path.to_string(),
    };
    lookup(gh, cache, at).await
}

/// The policy at `path` on `repo`'s default branch (whatever it is named), named `origin` in
/// its errors: the organisation's floor (`acme/.github:.github/review-policy.toml`), read at
/// most once per [`FLOOR_FRESH_FOR`].
pub async fn load_default_branch(
    gh: &GitHub,
    cache: &PolicyCache,
    installation: u64,
    repo: &RepoName,
    path: &str,
    origin: &str,
) -> Result<PolicyLookup, GitHubError> {
    let at = At {
        installation,
        repo,
        git_ref: None,
        path,
        origin: origin.to_string(),
    };
    lookup(gh, cache, at).await
}

/// Where a policy is read: `git_ref` `None` is the repository's default branch.
struct At<'a> {
    installation: u64,
    repo: &'a RepoName,
    git_ref: Option<&'a str>,
    path: &'a str,
    origin: String,
}

async fn lookup(gh: &GitHub, cache: &PolicyCache, at: At<'_>) -> Result<PolicyLookup, GitHubError> {
    // The key starts with the repository, so a push to it forgets every read of it.
    let key = format!(
        "{}/{}\n{}\n{}",
        at.repo.to_string().to_ascii_lowercase(),
        at.git_ref.unwrap_or("(default branch)"),
        at.path,
        at.origin
    );
    let lookups = match at.git_ref {
        Some(_) => &cache.lookups,
        None => &cache.floors,
    };
    let (lookup, _) = lookups.get(&key, || fetch(gh, cache, &at)).await?;
    Ok(lookup)
}

/// Reads the file with a conditional request (GitHub answers 304, costing no quota, when it
/// has not changed) and compiles it unless that blob was compiled before.
async fn fetch(gh: &GitHub, cache: &PolicyCache, at: &At<'_>) -> Result<PolicyLookup, GitHubError> {
    let mut url = format!("{}/contents/{}", at.repo.api_path(), encode_path(at.path));
    if let Some(git_ref) = at.git_ref {
        url = format!("{url}?ref={}", encode(git_ref));
    }
    let request = Request::get(
        Auth::Installation(at.installation),
        "GET /repos/{owner}/{repo}/contents/{path}",
        url,
    )
    .conditional();
    let (value, response) = match gh.get_json::<serde_json::Value>(&request).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(PolicyLookup::Missing),
        Err(e) => return Err(e),
    };
    let origin = at.origin.clone();
    if value.is_array() {
        return Ok(invalid(
            origin,
            "this path is a directory, not a policy file".into(),
        ));
    }
    let content: Content = serde_json::from_value(value).map_err(|e| GitHubError::Malformed {
        endpoint: response.endpoint,
        detail: e.to_string(),
    })?;
    let blob_sha = content.sha.clone();
    let (file, hit) = cache.compiled(content, origin).await;
    gh.metrics().cache("policy", hit);
    Ok(PolicyLookup::Found { blob_sha, file })
}

fn compile(content: &Content, origin: &str) -> PolicyFile {
    match decode(content, origin) {
        Ok(text) => PolicyFile {
            policy: Policy::parse(&text, origin),
            text: Some(text),
        },
        Err(errors) => PolicyFile {
            text: None,
            policy: Err(errors),
        },
    }
}

/// The file's text, or why it is not a policy file GitHub sent as UTF-8 text.
fn decode(content: &Content, origin: &str) -> Result<String, PolicyErrors> {
    let fail = |message: String| PolicyErrors {
        origin: origin.to_string(),
        diagnostics: vec![Diagnostic {
            line: 1,
            column: 1,
            message,
        }],
    };
    if content.kind != "file" {
        return Err(fail(format!(
            "this path is a {}, not a policy file",
            content.kind
        )));
    }
    if content.size as usize > MAX_POLICY_BYTES || content.encoding.as_deref() != Some("base64") {
        return Err(fail(format!(
            "the policy file is {} bytes; policies are limited to {MAX_POLICY_BYTES} bytes (1 MiB)",
            content.size
        )));
    }
    let encoded: String = content
        .content
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| {
            fail(format!(
                "GitHub sent the policy file in a form that could not be decoded: {e}"
            ))
        })?;
    String::from_utf8(bytes).map_err(|_| fail("the policy file is not UTF-8 text".into()))
}

fn invalid(origin: String, message: String) -> PolicyLookup {
    PolicyLookup::Found {
        blob_sha: String::new(),
        file: Arc::new(PolicyFile {
            text: None,
            policy: Err(PolicyErrors {
                origin,
                diagnostics: vec![Diagnostic {
                    line: 1,
                    column: 1,
                    message,
                }],
            }),
        }),
    }
}
