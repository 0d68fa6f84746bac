//! A fake GitHub REST API for integration tests of the App.
//!
//! It serves GitHub's routes and JSON shapes on a real loopback socket inside the test's tokio
//! runtime, so the App talks to it with its production HTTP client and auth code. A test builds
//! the world through the handle (installations, repositories, files, teams, pull requests,
//! reviews), lets the App run, then reads back what the App did (requests, check runs,
//! concurrency) and can inject the failures GitHub really produces (5xx, resets, timeouts,
//! rate limits, truncated bodies).
//!
//! Setup methods panic on misuse (unknown repository, unknown pull request): a test that sets
//! up a world wrongly should fail loudly at the line that did it.
//!
//! ```ignore
//! let fake = FakeGitHub::start(APP_ID, &test_fixture("test-app-key.pub.pem")).await;
//! fake.add_installation(7, "acme");
//! fake.add_repo(7, "acme/app", "main");
//! fake.set_file("acme/app", "main", ".github/reviewgate.yml", POLICY);
//! let files = vec![FileSpec::modified("src/lib.rs")];
//! let n = fake.open_pr("acme/app", PrSpec { files, ..PrSpec::default() });
//! fake.review("acme/app", n, "alice", "APPROVED", None);
//! // Point the App at fake.url(), deliver
//! // webhooks::pull_request_event("opened", &fake, "acme/app", n, 7), then:
//! let head = fake.pr_json("acme/app", n)["head"]["sha"].as_str().unwrap().to_string();
//! let run = fake.latest_check_run("acme/app", &head, "reviewgate").unwrap();
//! ```

mod auth;
pub(crate) mod clock;
mod faults;
mod paging;
mod routes;
mod server;
mod shapes;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::net::TcpListener;

pub use faults::{Fault, FaultKind};
pub use routes::{MAX_OUTPUT_BYTES, MAX_PR_COMMITS, MAX_PR_FILES};
pub use shapes::replace_strings;
pub use state::{
    AuthKind, CheckRun, CommitSpec, FileSpec, PrSpec, RecordedRequest, blob_sha, sha_like,
};

use server::lock;
use shapes::Templates;
use state::{Blob, Branch, Installation, Pr, Quota, Repo, Review, State, Team};

/// Reads a file from `tests/fixtures/` (e.g. `test-app-key.pem`), for the App's test key pair.
pub fn test_fixture(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Stops the accept loop when the last handle goes, so a finished test leaves no listener.
struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handle on a running fake. Cheap to clone; all clones share one world.
#[derive(Clone)]
pub struct FakeGitHub {
    state: Arc<Mutex<State>>,
    url: String,
    _server: Arc<ServerTask>,
    /// The listeners [`FakeGitHub::open_door`] added.
    doors: Arc<Mutex<Vec<ServerTask>>>,
}

impl FakeGitHub {
    /// Starts a fake on `127.0.0.1:0` that accepts JWTs of App `app_id` signed with the private
    /// half of `app_public_key_pem`. Must run inside a tokio runtime (the server is a task of it).
    pub async fn start(app_id: u64, app_public_key_pem: &str) -> FakeGitHub {
        let key = DecodingKey::from_rsa_pem(app_public_key_pem.as_bytes())
            .expect("App public key must be an RSA PEM");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State::new(
            app_id,
            key,
            url.clone(),
            Templates::load(),
            clock::now(),
        )));
        let task = tokio::spawn(server::serve(listener, state.clone(), url.as_str().into()));
        FakeGitHub {
            state,
            url,
            _server: Arc::new(ServerTask(task)),
            doors: Arc::default(),
        }
    }

    /// Another address for this same fake (same world, same records): a new listener on
    /// `127.0.0.1:0`, returned as a base URL like [`FakeGitHub::url`]. Each request records the
    /// door it came in through ([`RecordedRequest::door`]), so two clients given two doors —
    /// two replicas of the App — can be told apart, whatever connections they open. URLs in
    /// answers (links, `url` fields) still name the first door.
    pub async fn open_door(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let task = tokio::spawn(server::serve(
            listener,
            self.state.clone(),
            url.as_str().into(),
        ));
        self.doors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(ServerTask(task));
        url
    }

    /// The API base URL, `http://127.0.0.1:PORT` (no trailing slash), to configure the App with.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The App whose JWTs this fake accepts and whose check runs it attributes.
    pub fn app_id(&self) -> u64 {
        lock(&self.state).app_id
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut lock(&self.state))
    }

    // --- world setup ---

    /// An installation of the App on an account (organisation) named `account`.
    pub fn add_installation(&self, installation_id: u64, account: &str) {
        self.with(|st| {
            let now = clock::now();
            st.installations.insert(
                installation_id,
                Installation {
                    id: installation_id,
                    account: account.to_string(),
                    pull_requests: "read".to_string(),
                    events: None,
                    quota: Quota::fresh(now),
                    created_at: now,
                },
            );
        });
    }

    /// Grants the installation `pull_requests: write` (or takes it back to `read`).
    pub fn set_pull_requests_permission(&self, installation_id: u64, level: &str) {
        self.with(|st| {
            if let Some(inst) = st.installations.get_mut(&installation_id) {
                inst.pull_requests = level.to_string();
            }
        });
    }

    /// Sets the webhook events an installation's App is subscribed to (by default the ones
    /// deploy/github-app-manifest.json names).
    pub fn set_installation_events(&self, installation_id: u64, events: &[&str]) {
        self.with(|st| {
            if let Some(inst) = st.installations.get_mut(&installation_id) {
                inst.events = Some(events.iter().map(|e| e.to_string()).collect());
            }
        });
    }

    /// Who is asked to review PR `number` now: (logins, team slugs).
    pub fn requested_reviewers(&self, repo: &str, number: u64) -> (Vec<String>, Vec<String>) {
        self.with(|st| {
            let pr = pr_mut(st, repo, number);
            (pr.requested_users.clone(), pr.requested_teams.clone())
        })
    }

    /// Sets who is asked to review PR `number` (as someone asking in the web interface).
    pub fn set_requested_reviewers(&self, repo: &str, number: u64, logins: &[&str]) {
        self.with(|st| {
            let pr = pr_mut(st, repo, number);
            pr.requested_users = logins.iter().map(|l| l.to_string()).collect();
        });
    }

    /// Removes a request, as a person clicking the cross next to a reviewer does.
    pub fn remove_review_request(&self, repo: &str, number: u64, login_or_slug: &str) {
        self.with(|st| {
            let pr = pr_mut(st, repo, number);
            pr.requested_users
                .retain(|l| !l.eq_ignore_ascii_case(login_or_slug));
            pr.requested_teams
                .retain(|t| !t.eq_ignore_ascii_case(login_or_slug));
        });
    }

    /// A repository `owner/name` visible to one installation, with an empty default branch.
    pub fn add_repo(&self, installation_id: u64, full_name: &str, default_branch: &str) {
        self.with(|st| {
            assert!(
                st.installations.contains_key(&installation_id),
                "add_installation({installation_id}, ..) before add_repo"
            );
            let (owner, name) = full_name
                .split_once('/')
                .expect("repository name must be owner/name");
            let id = st.fresh_id(100_000_000);
            let mut branches = std::collections::BTreeMap::new();
            branches.insert(
                default_branch.to_string(),
                Branch {
                    head_sha: sha_like(&format!("branch {full_name} {default_branch}")),
                    files: Default::default(),
                },
            );
            st.repos.insert(
                full_name.to_ascii_lowercase(),
                Repo {
                    id,
                    installation_id,
                    full_name: full_name.to_string(),
                    owner: owner.to_string(),
                    name: name.to_string(),
                    default_branch: default_branch.to_string(),
                    branches,
                    tags: Default::default(),
                    prs: Default::default(),
                    next_pr: 1,
                    collaborators: Default::default(),
                    compares: Default::default(),
                },
            );
        });
    }

    /// Writes a file on a branch (creating the branch from the default branch if needed). The
    /// branch gets a new head SHA, as a commit would give it.
    pub fn set_file(&self, repo: &str, branch: &str, path: &str, content: &str) {
        self.with(|st| {
            let r = st.repo_mut(repo).expect("unknown repository");
            let b = branch_or_new(r, branch);
            b.files.insert(
                path.to_string(),
                Blob {
                    content: content.to_string(),
                    sha: blob_sha(content),
                },
            );
            b.head_sha = sha_like(&format!("{} set {path} {content}", b.head_sha));
        });
    }

    /// A tag named `tag` holding `path` with `content` (and nothing else).
    pub fn set_tag_file(&self, repo: &str, tag: &str, path: &str, content: &str) {
        self.with(|st| {
            let r = st.repo_mut(repo).expect("unknown repository");
            let mut files = std::collections::BTreeMap::new();
            files.insert(
                path.to_string(),
                Blob {
                    content: content.to_string(),
                    sha: blob_sha(content),
                },
            );
            let head_sha = sha_like(&format!("tag {tag} {content}"));
            r.tags.insert(tag.to_string(), Branch { head_sha, files });
        });
    }

    pub fn remove_file(&self, repo: &str, branch: &str, path: &str) {
        self.with(|st| {
            let r = st.repo_mut(repo).expect("unknown repository");
            let b = branch_or_new(r, branch);
            b.files.remove(path);
            b.head_sha = sha_like(&format!("{} remove {path}", b.head_sha));
        });
    }

    /// Defines (or redefines) a team's members. Child teams are not modelled: list their
    /// members here too, as GitHub's members endpoint includes them.
    pub fn set_team(&self, org: &str, slug: &str, members: &[&str]) {
        self.with(|st| {
            let key = (org.to_ascii_lowercase(), slug.to_ascii_lowercase());
            let id = match st.teams.get(&key) {
                Some(t) => t.id,
                None => st.fresh_id(3_000_000),
            };
            st.teams.insert(
                key,
                Team {
                    id,
                    org: org.to_string(),
                    slug: slug.to_string(),
                    members: members.iter().map(|m| m.to_string()).collect(),
                },
            );
        });
    }

    /// Gives `login` a role on a repository (`admin`, `maintain`, `write`, `triage`, `read`),
    /// or, with `None`, takes all access away.
    pub fn set_permission(&self, repo: &str, login: &str, role: Option<&str>) {
        self.with(|st| {
            let r = st.repo_mut(repo).expect("unknown repository");
            let login = login.to_ascii_lowercase();
            match role {
                Some(role) => r.collaborators.insert(login, role.to_string()),
                None => r.collaborators.remove(&login),
            };
        });
    }

    /// Makes a pull request change on every read of it (`updated_at` moves on), as if someone
    /// kept editing it: an App that waits for it to hold still waits for ever.
    pub fn make_restless(&self, repo: &str, number: u64) {
        self.with(|st| {
            st.restless.insert((repo.to_ascii_lowercase(), number));
        });
    }

    /// Retargets a pull request to another base branch, as "Edit" on GitHub does.
    pub fn set_base(&self, repo: &str, number: u64, base: &str) {
        self.with(|st| {
            let now = clock::now();
            let r = st.repo_mut(repo).expect("unknown repository");
            let base_sha = branch_or_new(r, base).head_sha.clone();
            let pr = r.prs.get_mut(&number).expect("unknown pull request");
            pr.base = base.to_string();
            pr.base_sha = base_sha;
            pr.updated_at = now;
        });
    }

    /// Opens a pull request and returns its number (1, 2, ... per repository). See `PrSpec`
    /// for what empty fields become. The head branch is created from the base if missing.
    pub fn open_pr(&self, repo: &str, spec: PrSpec) -> u64 {
        self.with(|st| {
            let id = st.fresh_id(1_000_000_000);
            let now = clock::now();
            let r = st.repo_mut(repo).expect("unknown repository");
            let number = r.next_pr;
            r.next_pr += 1;
            let base = if spec.base.is_empty() {
                r.default_branch.clone()
            } else {
                spec.base
            };
            let base_sha = branch_or_new(r, &base).head_sha.clone();
            let head_ref = if spec.head_ref.is_empty() {
                format!("feature-{number}")
            } else {
                spec.head_ref
            };
            let head_sha = if spec.head_sha.is_empty() {
                sha_like(&format!("{} pr {number} head", r.full_name))
            } else {
                spec.head_sha
            };
            let commits = if spec.commits.is_empty() {
                vec![CommitSpec::by(&head_sha, &spec.author)]
            } else {
                spec.commits
            };
            if !r.branches.contains_key(&head_ref) {
                let files = r
                    .branches
                    .get(&base)
                    .map(|b| b.files.clone())
                    .unwrap_or_default();
                r.branches.insert(
                    head_ref.clone(),
                    Branch {
                        head_sha: head_sha.clone(),
                        files,
                    },
                );
            } else if let Some(b) = r.branches.get_mut(&head_ref) {
                b.head_sha = head_sha.clone();
            }
            r.prs.insert(
                number,
                Pr {
                    number,
                    id,
                    author: spec.author,
                    base,
                    base_sha,
                    head_ref,
                    head_sha,
                    title: spec.title,
                    draft: spec.draft,
                    files: spec.files,
                    commits,
                    reviews: Vec::new(),
                    head_repo: spec.head_repo,
                    requested_users: Vec::new(),
                    requested_teams: Vec::new(),
                    closed_at: None,
                    merged: None,
                    created_at: now,
                    updated_at: now,
                },
            );
            number
        })
    }

    /// New commits on a pull request's head branch. An empty `new_commits` adds one commit at
    /// `new_head_sha` by the PR's author; `files: Some(..)` replaces the changed-file list.
    pub fn push(
        &self,
        repo: &str,
        number: u64,
        new_head_sha: &str,
        new_commits: Vec<CommitSpec>,
        files: Option<Vec<FileSpec>>,
    ) {
        self.with(|st| {
            let r = st.repo_mut(repo).expect("unknown repository");
            let pr = r.prs.get_mut(&number).expect("unknown pull request");
            pr.head_sha = new_head_sha.to_string();
            if new_commits.is_empty() {
                let by = pr.author.clone();
                pr.commits.push(CommitSpec::by(new_head_sha, &by));
            } else {
                pr.commits.extend(new_commits);
            }
            if let Some(files) = files {
                pr.files = files;
            }
            pr.updated_at = clock::now();
            let head_ref = pr.head_ref.clone();
            if let Some(b) = r.branches.get_mut(&head_ref) {
                b.head_sha = new_head_sha.to_string();
            }
        });
    }

    /// A submitted review. `state` is APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED or
    /// PENDING (any case); `commit_id: None` means the PR's current head.
    pub fn review(
        &self,
        repo: &str,
        number: u64,
        user: &str,
        state: &str,
        commit_id: Option<&str>,
    ) -> u64 {
        self.with(|st| {
            let id = st.fresh_id(2_000_000_000);
            let now = clock::now();
            let pr = pr_mut(st, repo, number);
            let commit_id = commit_id.map_or_else(|| pr.head_sha.clone(), str::to_string);
            pr.reviews.push(Review {
                id,
                user: user.to_string(),
                state: state.to_ascii_uppercase(),
                commit_id,
                submitted_at: now,
                body: String::new(),
            });
            pr.updated_at = now;
            id
        })
    }

    /// Dismisses a review: its state becomes DISMISSED in place, as on GitHub.
    pub fn dismiss_review(&self, repo: &str, number: u64, review_id: u64) {
        self.with(|st| {
            let pr = pr_mut(st, repo, number);
            let review = pr
                .reviews
                .iter_mut()
                .find(|r| r.id == review_id)
                .expect("unknown review");
            review.state = "DISMISSED".to_string();
        });
    }

    /// Closes a pull request without merging it (`state` becomes `closed`).
    pub fn close_pr(&self, repo: &str, number: u64) {
        self.with(|st| {
            let now = clock::now();
            let pr = pr_mut(st, repo, number);
            pr.closed_at = Some(now);
            pr.updated_at = now;
        });
    }

    /// Merges a pull request as `by`: it is closed and merged now, its merge commit (returned)
    /// becomes the base branch's head, and `GET /commits/{sha}/pulls` finds the PR by it.
    pub fn merge_pr(&self, repo: &str, number: u64, by: &str) -> String {
        self.with(|st| {
            let now = clock::now();
            let sha = state::sha_like(&format!("merge {repo}#{number} {now}"));
            let r = st.repo_mut(repo).expect("unknown repository");
            let pr = r.prs.get_mut(&number).expect("unknown pull request");
            pr.closed_at = Some(now);
            pr.updated_at = now;
            pr.merged = Some(state::Merged {
                at: now,
                by: by.to_string(),
                sha: sha.clone(),
            });
            let base = pr.base.clone();
            if let Some(b) = r.branches.get_mut(&base) {
                b.head_sha = sha.clone();
            }
            sha
        })
    }

    /// What the compare API answers for `base...head`: these commits, oldest first.
    pub fn set_compare(&self, repo: &str, base: &str, head: &str, commits: &[String]) {
        self.with(|st| {
            st.repo_mut(repo)
                .expect("unknown repository")
                .compares
                .insert((base.to_string(), head.to_string()), commits.to_vec());
        });
    }

    /// Removes a pull request entirely; later requests for it get 404.
    pub fn delete_pr(&self, repo: &str, number: u64) {
        self.with(|st| {
            st.repo_mut(repo)
                .expect("unknown repository")
                .prs
                .remove(&number);
        });
    }

    /// The JSON `GET /repos/{repo}/pulls/{number}` serves now.
    pub fn pr_json(&self, repo: &str, number: u64) -> Value {
        self.with(|st| {
            let (r, pr) = pr_ref(st, repo, number);
            st.pr_json(r, pr)
        })
    }

    /// The short pull request of list endpoints and `pull_request_review` events.
    pub fn pr_simple_json(&self, repo: &str, number: u64) -> Value {
        self.with(|st| {
            let (r, pr) = pr_ref(st, repo, number);
            st.pr_simple_json(r, pr)
        })
    }

    /// The minimal references (`{url,id,number,head,base}`) of open PRs whose head is `sha`,
    /// as check runs and check suites carry them.
    pub fn pr_refs_for_sha(&self, repo: &str, sha: &str) -> Vec<Value> {
        self.with(|st| {
            let r = st.repo(repo).expect("unknown repository");
            r.prs
                .values()
                .filter(|p| p.closed_at.is_none() && p.head_sha == sha)
                .map(|p| st.pr_ref_json(r, p))
                .collect()
        })
    }

    /// The repository as the API and most webhooks carry it (`push` has its own shape).
    pub fn repo_json(&self, repo: &str) -> Value {
        self.with(|st| st.repo_json(st.repo(repo).expect("unknown repository")))
    }

    /// GitHub's simple user object for a login; the same login always gets the same id.
    pub fn user_json(&self, login: &str) -> Value {
        self.with(|st| st.user_json(login))
    }

    /// The `organization` object of webhook payloads.
    pub fn org_json(&self, org: &str) -> Value {
        self.with(|st| st.org_json(org))
    }

    /// The team object of `membership` and `team` webhooks.
    pub fn team_json(&self, org: &str, slug: &str) -> Value {
        self.with(|st| st.team_json(st.team(org, slug).expect("unknown team")))
    }

    /// A review in the REST shape (upper-case state), or `None` if there is no such review.
    pub fn review_json(&self, repo: &str, number: u64, review_id: u64) -> Option<Value> {
        self.with(|st| {
            let (r, pr) = pr_ref(st, repo, number);
            pr.reviews
                .iter()
                .find(|rv| rv.id == review_id)
                .map(|rv| st.review_json(r, pr, rv))
        })
    }

    /// The newest review by `user` on a pull request, in the REST shape.
    pub fn latest_review_by(&self, repo: &str, number: u64, user: &str) -> Option<Value> {
        self.with(|st| {
            let (r, pr) = pr_ref(st, repo, number);
            pr.reviews
                .iter()
                .rev()
                .find(|rv| rv.user.eq_ignore_ascii_case(user))
                .map(|rv| st.review_json(r, pr, rv))
        })
    }

    /// A check run as the API serves it, or `None` if there is no such run.
    pub fn check_run_json(&self, repo: &str, check_run_id: u64) -> Option<Value> {
        self.with(|st| {
            let key = repo.to_ascii_lowercase();
            let r = st.repo(repo)?;
            let (_, run) = st
                .check_runs
                .iter()
                .find(|(k, run)| *k == key && run.id == check_run_id)?;
            Some(st.check_run_json(r, run))
        })
    }

    /// Our App as check runs and check suites embed it.
    pub fn app_json(&self) -> Value {
        self.with(|st| st.app_json(st.app_id))
    }

    /// The id of our App's check suite for a commit (created on first use, as GitHub creates
    /// one per App and head SHA).
    pub fn check_suite_id(&self, repo: &str, head_sha: &str) -> u64 {
        self.with(|st| {
            let app_id = st.app_id;
            st.check_suite_id(&repo.to_ascii_lowercase(), head_sha, app_id)
        })
    }

    /// The SHAs of a pull request's commits, oldest first.
    pub fn pr_commit_shas(&self, repo: &str, number: u64) -> Vec<String> {
        self.with(|st| {
            pr_ref(st, repo, number)
                .1
                .commits
                .iter()
                .map(|c| c.sha.clone())
                .collect()
        })
    }

    /// The current head SHA of a branch.
    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        self.with(|st| {
            st.repo(repo)?
                .branches
                .get(branch)
                .map(|b| b.head_sha.clone())
        })
    }

    /// Records a check run created by another App (e.g. an impostor posting our check name),
    /// which our App's token cannot update. Returns its id.
    pub fn seed_foreign_check_run(
        &self,
        repo: &str,
        app_id: u64,
        name: &str,
        head_sha: &str,
        conclusion: &str,
    ) -> u64 {
        self.with(|st| {
            let key = repo.to_ascii_lowercase();
            assert!(st.repo(repo).is_some(), "unknown repository");
            let id = st.fresh_id(4_000_000_000);
            let check_suite_id = st.check_suite_id(&key, head_sha, app_id);
            let now = clock::rfc3339(clock::now());
            st.check_runs.push((
                key,
                CheckRun {
                    id,
                    name: name.to_string(),
                    head_sha: head_sha.to_string(),
                    status: "completed".to_string(),
                    conclusion: Some(conclusion.to_string()),
                    title: None,
                    summary: None,
                    text: None,
                    external_id: None,
                    details_url: None,
                    app_id,
                    updates: 0,
                    history: Vec::new(),
                    started_at: Some(now.clone()),
                    completed_at: Some(now),
                    check_suite_id,
                    annotations_count: 0,
                },
            ));
            id
        })
    }

    // --- observation ---

    /// Every request answered so far (faulted ones included), in the order answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|st| st.requests.clone())
    }

    /// Forgets recorded requests, e.g. after setup, so a test sees only what the App did next.
    pub fn clear_requests(&self) {
        self.with(|st| st.requests.clear());
    }

    /// Every run ever created on the repository (by any App), oldest first.
    pub fn check_runs(&self, repo: &str) -> Vec<CheckRun> {
        let key = repo.to_ascii_lowercase();
        self.with(|st| {
            st.check_runs
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, run)| run.clone())
                .collect()
        })
    }

    /// The newest created run of that name on that SHA (by any App).
    pub fn latest_check_run(&self, repo: &str, head_sha: &str, name: &str) -> Option<CheckRun> {
        self.check_runs(repo)
            .into_iter()
            .filter(|run| run.head_sha == head_sha && run.name == name)
            .max_by_key(|run| run.id)
    }

    /// The most requests that were in flight at once for an installation.
    pub fn max_concurrency(&self, installation_id: u64) -> usize {
        self.with(|st| st.max_inflight.get(&installation_id).copied().unwrap_or(0))
    }

    /// The installation's remaining primary quota.
    pub fn rate_limit_remaining(&self, installation_id: u64) -> u64 {
        self.with(|st| {
            st.installations
                .get(&installation_id)
                .map_or(0, |i| i.quota.remaining)
        })
    }

    // --- faults ---

    /// Delays every response by `d` (after the request took effect).
    pub fn set_latency(&self, d: Duration) {
        self.with(|st| st.latency = d);
    }

    /// Delays every response to requests that come in through `door` (a URL
    /// [`FakeGitHub::open_door`] gave, or [`FakeGitHub::url`]) by `d` more than
    /// [`FakeGitHub::set_latency`] does: GitHub slow for one client only.
    pub fn set_door_latency(&self, door: &str, d: Duration) {
        self.with(|st| {
            st.door_latency.insert(door.to_string(), d);
        });
    }

    /// Queues a fault; faults apply in the order queued, each to its next `times` matches.
    pub fn inject(&self, fault: Fault) {
        self.with(|st| st.faults.push(fault));
    }

    /// Drops every fault not yet applied: GitHub recovers.
    pub fn clear_faults(&self) {
        self.with(|st| st.faults.clear());
    }

    /// Faults queued and not yet applied.
    pub fn pending_faults(&self) -> usize {
        self.with(|st| st.faults.len())
    }

    /// Sets an installation's primary quota window. With `remaining: 0` every request of the
    /// installation gets GitHub's 403 rate-limit answer until `reset_epoch` passes.
    pub fn set_rate_limit(&self, installation_id: u64, remaining: u64, reset_epoch: u64) {
        self.with(|st| {
            let inst = st
                .installations
                .get_mut(&installation_id)
                .expect("unknown installation");
            inst.quota.limit = inst.quota.limit.max(remaining);
            inst.quota.remaining = remaining;
            inst.quota.reset = reset_epoch;
        });
    }

    /// Refuses (`true`) or accepts again (`false`) every request signed with the App's JWT —
    /// `GET /app`, token exchanges, installation lookups — with GitHub's 401 "A JSON web token
    /// could not be decoded", as GitHub answers a wrong App ID or private key (or a revoked
    /// key). Requests with installation tokens already issued still work, as on GitHub.
    pub fn refuse_app_credentials(&self, refuse: bool) {
        self.with(|st| st.refuse_app_credentials = refuse);
    }

    /// Sets what `GET /app/hook/config` answers (GitHub's fields: `url`, `content_type`,
    /// `secret` as `********` when set, `insecure_ssl`).
    pub fn set_hook_config(&self, config: Value) {
        self.with(|st| st.hook_config = config);
    }

    /// Makes every installation token issued so far invalid, as if its hour had passed: the
    /// App must notice the 401 (or the expiry it was told) and fetch a new one.
    pub fn expire_tokens(&self) {
        self.with(|st| st.tokens.values_mut().for_each(|t| t.revoked = true));
    }
}

fn branch_or_new<'r>(r: &'r mut Repo, branch: &str) -> &'r mut Branch {
    if !r.branches.contains_key(branch) {
        let files = r
            .branches
            .get(&r.default_branch)
            .map(|b| b.files.clone())
            .unwrap_or_default();
        let head_sha = sha_like(&format!("branch {} {branch}", r.full_name));
        r.branches
            .insert(branch.to_string(), Branch { head_sha, files });
    }
    r.branches.get_mut(branch).expect("branch was just ensured")
}

fn pr_mut<'s>(st: &'s mut State, repo: &str, number: u64) -> &'s mut Pr {
    st.repo_mut(repo)
        .expect("unknown repository")
        .prs
        .get_mut(&number)
        .expect("unknown pull request")
}

fn pr_ref<'s>(st: &'s State, repo: &str, number: u64) -> (&'s Repo, &'s Pr) {
    let r = st.repo(repo).expect("unknown repository");
    let pr = r.prs.get(&number).expect("unknown pull request");
    (r, pr)
}
