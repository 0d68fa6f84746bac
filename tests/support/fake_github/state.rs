//! The fake's world (installations, repositories, branches, pull requests, teams, tokens, check
//! runs) and what it has observed (requests, concurrency). Everything lives in one `State`
//! behind a mutex so a test can change the world between two requests of the App and see
//! exactly what the App did.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use http::Method;
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::faults::{Fault, FaultKind};
use super::shapes::Templates;

/// How a request authenticated itself, as presented (not whether it was accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// `Authorization: Bearer <three-part JWT>`.
    Jwt,
    /// `Authorization: token <t>` or `Bearer <t>` with anything that is not JWT-shaped.
    Token,
    /// No (recognised) `Authorization` header.
    None,
}

/// One request as the fake saw and answered it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    /// The decoded-as-sent path, e.g. `/repos/acme/app/pulls/1/files`.
    pub path: String,
    /// The raw query string without `?`, empty when there was none.
    pub query: String,
    /// The status answered; 0 when the connection was reset without an answer.
    pub status: u16,
    /// The installation whose token authenticated the request (for the token exchange, the
    /// installation in the path); `None` when authentication failed or was absent.
    pub installation: Option<u64>,
    /// True when answered `304 Not Modified` to a conditional request.
    pub not_modified: bool,
    pub auth: AuthKind,
    /// The injected fault that shaped the answer, if any.
    pub fault: Option<FaultKind>,
    /// The JSON request body of a POST or PATCH, when it parsed.
    pub body: Option<Value>,
    /// Every request header as sent (names in lower case), repeated ones once per line.
    pub headers: Vec<(String, String)>,
    /// The base URL the request came in through: [`super::FakeGitHub::url`], or one that
    /// [`super::FakeGitHub::open_door`] gave. Clients given different doors can be told apart.
    pub door: String,
    /// Unique per request, in order of arrival.
    pub seq: u64,
    /// When the fake began handling the request (before its body was read).
    pub started: Instant,
    /// When the answer left (after any latency or delay), or the connection was dropped or
    /// reset; `None` while the request is still being answered.
    pub finished: Option<Instant>,
}

impl RecordedRequest {
    /// How many times a header was sent (name in any case).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The first value of a query parameter (percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        super::paging::Query::parse(&self.query)
            .get(name)
            .map(str::to_string)
    }
}

/// A pull request to open. Empty strings mean "derive something sensible": `base` becomes the
/// repository's default branch, `head_ref` `feature-<n>`, `head_sha` a fresh 40-hex SHA. An empty
/// `commits` becomes one commit at `head_sha` authored and committed by `author`, since a real
/// pull request always has at least one commit.
#[derive(Clone, Debug)]
pub struct PrSpec {
    pub author: String,
    pub base: String,
    pub head_ref: String,
    pub head_sha: String,
    pub title: String,
    pub draft: bool,
    pub files: Vec<FileSpec>,
    pub commits: Vec<CommitSpec>,
    /// `owner/name` of a fork the head branch lives in; empty for a branch of the repository.
    pub head_repo: String,
}

impl Default for PrSpec {
    fn default() -> Self {
        PrSpec {
            author: "contributor".to_string(),
            base: String::new(),
            head_ref: String::new(),
            head_sha: String::new(),
            title: "Change things".to_string(),
            draft: false,
            files: Vec::new(),
            commits: Vec::new(),
            head_repo: String::new(),
        }
    }
}

/// One changed file of a pull request, as `GET /pulls/{n}/files` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub filename: String,
    /// added, removed, modified, renamed, copied, changed or unchanged.
    pub status: String,
    /// Set for renames (and copies): the path the file had before.
    pub previous_filename: Option<String>,
    /// The file's content at the head, when a test cares: its blob SHA and its patch follow
    /// from it (otherwise both are derived from the path and the head, so every push changes
    /// the blob).
    pub content: Option<String>,
    /// GitHub sends no `patch` for binary files.
    pub binary: bool,
}

impl FileSpec {
    pub fn modified(path: &str) -> FileSpec {
        FileSpec::with_status(path, "modified")
    }
    pub fn added(path: &str) -> FileSpec {
        FileSpec::with_status(path, "added")
    }
    pub fn removed(path: &str) -> FileSpec {
        FileSpec::with_status(path, "removed")
    }
    pub fn renamed(from: &str, to: &str) -> FileSpec {
        FileSpec {
            filename: to.to_string(),
            status: "renamed".to_string(),
            previous_filename: Some(from.to_string()),
            content: None,
            binary: false,
        }
    }

    /// This file with this content at the head.
    pub fn with_content(mut self, content: &str) -> FileSpec {
        self.content = Some(content.to_string());
        self
    }

    /// This file as a binary file: GitHub lists it without a patch.
    pub fn binary(mut self) -> FileSpec {
        self.binary = true;
        self
    }
    fn with_status(path: &str, status: &str) -> FileSpec {
        FileSpec {
            filename: path.to_string(),
            status: status.to_string(),
            previous_filename: None,
            content: None,
            binary: false,
        }
    }
}

/// One commit of a pull request. `author`/`committer` are GitHub logins; `None` means the git
/// identity matches no GitHub account, which GitHub shows as a `null` top-level author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSpec {
    pub sha: String,
    pub author: Option<String>,
    pub committer: Option<String>,
    /// The commit's parents; `None`: the PR's previous commit (or the base, for the first).
    pub parents: Option<Vec<String>>,
}

impl CommitSpec {
    /// A commit authored and committed by the same GitHub user.
    pub fn by(sha: &str, login: &str) -> CommitSpec {
        CommitSpec {
            sha: sha.to_string(),
            author: Some(login.to_string()),
            committer: Some(login.to_string()),
            parents: None,
        }
    }

    /// The merge GitHub's "Update branch" button makes: authored by whoever clicked it,
    /// committed by `web-flow`, with the PR's previous head as first parent and the base's
    /// head as second.
    pub fn update_branch(
        sha: &str,
        clicked_by: &str,
        previous_head: &str,
        base_head: &str,
    ) -> CommitSpec {
        CommitSpec {
            sha: sha.to_string(),
            author: Some(clicked_by.to_string()),
            committer: Some("web-flow".to_string()),
            parents: Some(vec![previous_head.to_string(), base_head.to_string()]),
        }
    }
}

/// A check run as the fake stores it, with every create/update body it received.
#[derive(Clone, Debug)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    /// The App that created the run; required checks can be pinned to it.
    pub app_id: u64,
    /// How many PATCHes it received.
    pub updates: usize,
    /// The create body followed by each update body, in order.
    pub history: Vec<Value>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub check_suite_id: u64,
    pub annotations_count: u64,
}

/// A primary rate-limit window.
#[derive(Clone, Debug)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

impl Quota {
    pub(super) fn fresh(now: u64) -> Quota {
        Quota {
            limit: 5000,
            remaining: 5000,
            reset: now + 3600,
        }
    }

    /// Starts a new window once the old one has passed, as GitHub does.
    pub(super) fn roll(&mut self, now: u64) {
        if now >= self.reset {
            self.remaining = self.limit;
            self.reset = now + 3600;
        }
    }
}

pub(super) struct Installation {
    pub id: u64,
    pub account: String,
    /// The installation's `pull_requests` permission: `read` unless a test grants `write`.
    pub pull_requests: String,
    /// The App's subscribed events, when a test changes them.
    pub events: Option<Vec<String>>,
    pub quota: Quota,
    pub created_at: u64,
}

#[derive(Clone)]
pub(super) struct Blob {
    pub content: String,
    pub sha: String,
}

pub(super) struct Merged {
    pub at: u64,
    pub by: String,
    pub sha: String,
}

pub(super) struct Branch {
    pub head_sha: String,
    pub files: BTreeMap<String, Blob>,
}

pub(super) struct Review {
    pub id: u64,
    pub user: String,
    pub state: String,
    pub commit_id: String,
    pub submitted_at: u64,
    pub body: String,
}

pub(super) struct Pr {
    pub number: u64,
    pub id: u64,
    pub author: String,
    pub base: String,
    pub base_sha: String,
    pub head_ref: String,
    pub head_sha: String,
    pub title: String,
    pub draft: bool,
    pub files: Vec<FileSpec>,
    pub commits: Vec<CommitSpec>,
    pub reviews: Vec<Review>,
    pub head_repo: String,
    /// Logins and team slugs asked for a review (and not yet reviewed).
    pub requested_users: Vec<String>,
    pub requested_teams: Vec<String>,
    pub closed_at: Option<u64>,
    /// Set when merged: when, by whom, and the merge commit.
    pub merged: Option<Merged>,
    pub created_at: u64,
    pub updated_at: u64,
}

pub(super) struct Repo {
    pub id: u64,
    pub installation_id: u64,
    pub full_name: String,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub branches: BTreeMap<String, Branch>,
    /// Tags, each a snapshot of a branch's files when it was made.
    pub tags: BTreeMap<String, Branch>,
    pub prs: BTreeMap<u64, Pr>,
    pub next_pr: u64,
    /// Roles (`admin`, `maintain`, `write`, `triage`, `read`) by lower-cased login; anyone
    /// else has no access.
    pub collaborators: BTreeMap<String, String>,
    /// What `GET /compare/{base}...{head}` lists, by `(base, head)`: commit SHAs, oldest
    /// first. Any other comparison is 404.
    pub compares: BTreeMap<(String, String), Vec<String>>,
}

pub(super) struct Team {
    pub id: u64,
    pub org: String,
    pub slug: String,
    pub members: Vec<String>,
}

pub(super) struct Token {
    pub installation_id: u64,
    pub expires_at: u64,
    pub revoked: bool,
}

pub(super) struct State {
    pub app_id: u64,
    pub app_key: DecodingKey,
    pub base_url: String,
    pub templates: Templates,
    pub installations: BTreeMap<u64, Installation>,
    /// Keyed by lower-cased `owner/name`: GitHub matches repository names case-insensitively.
    pub repos: BTreeMap<String, Repo>,
    /// Keyed by lower-cased `(org, slug)`.
    pub teams: BTreeMap<(String, String), Team>,
    pub tokens: HashMap<String, Token>,
    /// `(repo key, run)` in creation order.
    pub check_runs: Vec<(String, CheckRun)>,
    /// `(repo key, head sha, app id)` → check suite id.
    pub check_suites: HashMap<(String, String, u64), u64>,
    pub app_quota: Quota,
    pub requests: Vec<RecordedRequest>,
    pub faults: Vec<Fault>,
    pub latency: Duration,
    /// Extra latency for requests that come in through one door (by its URL).
    pub door_latency: HashMap<String, Duration>,
    /// The `seq` of the next request.
    pub next_request: u64,
    /// Every App JWT is refused, as GitHub refuses a wrong App ID or private key.
    pub refuse_app_credentials: bool,
    /// What `GET /app/hook/config` answers.
    pub hook_config: Value,
    pub inflight: HashMap<u64, usize>,
    pub max_inflight: HashMap<u64, usize>,
    pub next_id: u64,
    /// Pull requests (`repo key`, number) that change on every read of them: each
    /// `GET /pulls/{n}` moves `updated_at` on by a second, as a PR under constant editing.
    pub restless: std::collections::HashSet<(String, u64)>,
}

impl State {
    pub(super) fn new(
        app_id: u64,
        app_key: DecodingKey,
        base_url: String,
        templates: Templates,
        now: u64,
    ) -> State {
        State {
            app_id,
            app_key,
            base_url,
            templates,
            installations: BTreeMap::new(),
            repos: BTreeMap::new(),
            teams: BTreeMap::new(),
            tokens: HashMap::new(),
            check_runs: Vec::new(),
            check_suites: HashMap::new(),
            app_quota: Quota::fresh(now),
            requests: Vec::new(),
            faults: Vec::new(),
            latency: Duration::ZERO,
            door_latency: HashMap::new(),
            next_request: 0,
            refuse_app_credentials: false,
            hook_config: serde_json::json!({
                "content_type": "json",
                "insecure_ssl": "0",
                "secret": "********",
                "url": "https://reviewgate.example/webhook",
            }),
            inflight: HashMap::new(),
            max_inflight: HashMap::new(),
            next_id: 1,
            restless: Default::default(),
        }
    }

    /// A fresh id, unique across every kind of object, so a test can never confuse a review id
    /// with a check-run id and still pass.
    pub(super) fn fresh_id(&mut self, base: u64) -> u64 {
        self.next_id += 1;
        base + self.next_id
    }

    pub(super) fn repo(&self, full_name: &str) -> Option<&Repo> {
        self.repos.get(&full_name.to_ascii_lowercase())
    }

    pub(super) fn repo_mut(&mut self, full_name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&full_name.to_ascii_lowercase())
    }

    pub(super) fn team(&self, org: &str, slug: &str) -> Option<&Team> {
        self.teams
            .get(&(org.to_ascii_lowercase(), slug.to_ascii_lowercase()))
    }

    /// The installation whose account is this organisation or user.
    pub(super) fn installation_for_account(&self, account: &str) -> Option<u64> {
        self.installations
            .values()
            .find(|i| i.account.eq_ignore_ascii_case(account))
            .map(|i| i.id)
    }

    /// The check suite a run joins: one per repository, head SHA and App, as on GitHub.
    pub(super) fn check_suite_id(&mut self, repo_key: &str, head_sha: &str, app_id: u64) -> u64 {
        let key = (repo_key.to_string(), head_sha.to_string(), app_id);
        if let Some(id) = self.check_suites.get(&key) {
            return *id;
        }
        let id = self.fresh_id(5_000_000_000);
        self.check_suites.insert(key, id);
        id
    }
}

/// 40 lowercase hex characters derived from the input: shaped like a git SHA-1, stable for the
/// same input, different for different inputs.
pub fn sha_like(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    hex::encode(digest)[..40].to_string()
}

/// The blob SHA for file content, computed over git's `blob <len>\0` framing so that the same
/// content always has the same SHA (the App may cache by it).
pub fn blob_sha(content: &str) -> String {
    sha_like(&format!("blob {}\0{}", content.len(), content))
}
