//! Writing the verdict as a check run, without ever creating duplicates through a retry.
//!
//! The run's ID for a commit is remembered after the first write, so re-evaluating the same
//! commit costs one PATCH. Otherwise the App looks for its own run on the commit (by name and
//! App ID) and updates it, creating one only when none exists. A POST whose answer was lost is
//! never blindly re-sent: the App looks again, and updates the run if the POST did land.

use std::collections::HashMap;
use std::sync::Mutex;

use http::Method;
use serde_json::json;

use super::RepoName;
use super::client::{Auth, GitHub, GitHubError, Request, encode};
use super::types::{CheckRun, CheckRunList};

/// A check run's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    /// `success`, `failure` or `neutral` (neutral only when there is no policy at all).
    pub conclusion: &'static str,
    pub title: String,
    pub summary: String,
    /// Blob SHA of the policy the verdict was reached under (recorded in its decision record,
    /// which reconciliation reads to tell a run written under an older policy). `None` for
    /// results that should be recomputed at the next sweep (errors).
    pub policy_sha: Option<String>,
    /// The PR's `updated_at` when it was read for this verdict, also recorded in the decision
    /// record, so reconciliation can tell a PR that changed since without comparing clocks.
    pub pr_updated_at: Option<String>,
    /// The `external_id`: the id of the run's decision record, set when it is appended.
    pub external: Option<String>,
}

impl CheckOutput {
    /// The run's `external_id`: the id of the decision record the write appended (see
    /// `App::record_write`), which the sweep reads back to tell a current run; empty before.
    pub fn external_id(&self) -> String {
        self.external.clone().unwrap_or_default()
    }
}

/// Whether the run on a commit lets a merge through now, as far as the App knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// `success`, `neutral` or `skipped`: GitHub counts all three as passing.
    Passing,
    /// Failing, still running, or no run at all.
    NotPassing,
    /// The App could not find out.
    Unknown,
}

impl Standing {
    pub fn of(status: &str, conclusion: Option<&str>) -> Standing {
        match (status, conclusion) {
            ("completed", Some("success" | "neutral" | "skipped")) => Standing::Passing,
            _ => Standing::NotPassing,
        }
    }
}

/// A check run that could not be written, and what stands on the commit instead.
#[derive(Debug, Clone)]
pub struct WriteError {
    pub error: GitHubError,
    pub standing: Standing,
}

/// Repository, commit and check name, lower-cased where GitHub ignores case.
type RunKey = (String, String, String);

/// Check-run IDs by repository, commit and name, so an update needs no lookup. (Not what
/// was written: another replica may have written since.)
#[derive(Default)]
pub struct CheckRunIds {
    ids: Mutex<HashMap<RunKey, u64>>,
}

const MAX_REMEMBERED: usize = 50_000;

impl CheckRunIds {
    fn get(&self, key: &RunKey) -> Option<u64> {
        self.ids.lock().ok()?.get(key).copied()
    }

    fn put(&self, key: RunKey, id: u64) {
        if let Ok(mut m) = self.ids.lock() {
            if m.len() >= MAX_REMEMBERED {
                m.clear();
            }
            m.insert(key, id);
        }
    }

    fn forget(&self, key: &RunKey) {
        if let Ok(mut m) = self.ids.lock() {
            m.remove(key);
        }
    }
}

/// The newest run of ours named `name` on `sha`, if any.
pub async fn find(
    gh: &GitHub,
    installation: u64,
    repo: &RepoName,
    sha: &str,
    name: &str,
) -> Result<Option<CheckRun>, GitHubError> {
    let path = format!(
        "{}/commits/{}/check-runs?check_name={}&filter=latest&app_id={}&per_page=100",
        repo.api_path(),
        encode(sha),
        encode(name),
        gh.app_id()
    );
    let request = Request::get(
        Auth::Installation(installation),
        "GET /repos/{owner}/{repo}/commits/{ref}/check-runs",
        path,
    );
    let (list, _): (CheckRunList, _) = gh.get_json(&request).await?;
    Ok(list
        .check_runs
        .into_iter()
        .filter(|r| r.name == name && r.app.as_ref().is_none_or(|a| a.id == gh.app_id()))
        .max_by_key(|r| r.id))
}

fn key(repo: &RepoName, sha: &str, name: &str) -> RunKey {
    (
        repo.to_string().to_ascii_lowercase(),
        sha.to_ascii_lowercase(),
        name.to_string(),
    )
}

/// Whether a run of ours named `name` exists on `sha`.
pub async fn exists(
    gh: &GitHub,
    ids: &CheckRunIds,
    installation: u64,
    repo: &RepoName,
    sha: &str,
    name: &str,
) -> Result<bool, GitHubError> {
    if ids.get(&key(repo, sha, name)).is_some() {
        return Ok(true);
    }
    Ok(find(gh, installation, repo, sha, name).await?.is_some())
}

/// Writes `output` as the completed check run `name` on `sha`. Returns the run's ID, or on
/// failure the error and what stands on the commit instead.
pub async fn write(
    gh: &GitHub,
    ids: &CheckRunIds,
    installation: u64,
    repo: &RepoName,
    sha: &str,
    name: &str,
    output: &CheckOutput,
) -> Result<u64, WriteError> {
    let key = key(repo, sha, name);
    let failed = |error: GitHubError, standing: Standing| WriteError { error, standing };
    if let Some(id) = ids.get(&key) {
        gh.metrics().cache("check_run", true);
        match update(gh, installation, repo, id, output).await {
            Ok(()) => {
                ids.put(key, id);
                return Ok(id);
            }
            Err(e) if e.is_not_found() => ids.forget(&key),
            // What this replica last wrote may since have been overwritten by another
            // replica: whether the run passes now is unknown.
            Err(e) => return Err(failed(e, Standing::Unknown)),
        }
    } else {
        gh.metrics().cache("check_run", false);
    }
    for _ in 0..3 {
        let found = find(gh, installation, repo, sha, name)
            .await
            .map_err(|e| failed(e, Standing::Unknown))?;
        if let Some(run) = found {
            let standing = Standing::of(&run.status, run.conclusion.as_deref());
            update(gh, installation, repo, run.id, output)
                .await
                .map_err(|e| failed(e, standing))?;
            ids.put(key, run.id);
            return Ok(run.id);
        }
        match create(gh, installation, repo, sha, name, output).await {
            Ok(id) => {
                ids.put(key, id);
                return Ok(id);
            }
            // The answer was lost: look again before deciding whether to create.
            Err(GitHubError::Ambiguous { endpoint, last }) => {
                tracing::warn!(
                    endpoint,
                    last,
                    "check-run creation answer lost; looking for the run before retrying"
                );
                continue;
            }
            Err(e) => return Err(failed(e, Standing::NotPassing)),
        }
    }
    Err(failed(
        GitHubError::Unavailable {
            endpoint: "POST /repos/{owner}/{repo}/check-runs",
            attempts: 3,
            last: "the check run could not be created".into(),
        },
        Standing::Unknown,
    ))
}

async fn create(
    gh: &GitHub,
    installation: u64,
    repo: &RepoName,
    sha: &str,
    name: &str,
    output: &CheckOutput,
) -> Result<u64, GitHubError> {
    let mut body = completion(output);
    body["name"] = json!(name);
    body["head_sha"] = json!(sha);
    let request = Request {
        auth: Auth::Installation(installation),
        method: Method::POST,
        path: format!("{}/check-runs", repo.api_path()),
        endpoint: "POST /repos/{owner}/{repo}/check-runs",
        body: Some(body),
        conditional: false,
    };
    // The run exists once GitHub answered 201, even if the answer cannot be read: report
    // that as a lost answer, so the caller looks the run up instead of creating another.
    let run: CheckRun = gh
        .send(&request)
        .await?
        .json()
        .map_err(|e| GitHubError::Ambiguous {
            endpoint: "POST /repos/{owner}/{repo}/check-runs",
            last: e.to_string(),
        })?;
    Ok(run.id)
}

async fn update(
    gh: &GitHub,
    installation: u64,
    repo: &RepoName,
    id: u64,
    output: &CheckOutput,
) -> Result<(), GitHubError> {
    let body = completion(output);
    let request = Request {
        auth: Auth::Installation(installation),
        method: Method::PATCH,
        path: format!("{}/check-runs/{id}", repo.api_path()),
        endpoint: "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}",
        body: Some(body),
        conditional: false,
    };
    gh.send(&request).await.map(|_| ())
}

/// The fields that complete a run with `output`, shared by creation and update.
fn completion(output: &CheckOutput) -> serde_json::Value {
    json!({
        "status": "completed",
        "conclusion": output.conclusion,
        "completed_at": super::time::now_rfc3339(),
        "external_id": output.external_id(),
        "output": { "title": output.title, "summary": output.summary },
    })
}
