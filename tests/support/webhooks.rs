//! Webhook deliveries for tests: GitHub's own example payloads, signed the way GitHub signs
//! them, and builders that take a real example payload and overwrite only what a scenario
//! needs (ids, SHAs, the pull request and repository as the fake serves them). Starting from
//! the real payload keeps every field the App might read, in GitHub's shape, instead of a
//! hand-written subset that would hide parsing bugs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::fake_github::{FakeGitHub, sha_like};

/// `sha256=<hex HMAC-SHA256 of the raw body>`, the `X-Hub-Signature-256` value GitHub sends.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A fresh GUID for `X-GitHub-Delivery`, unique within the test process.
pub fn delivery_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let h = hex::encode(Sha256::digest(format!(
        "delivery {n} {:?}",
        std::time::SystemTime::now()
    )));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The headers GitHub sends with a delivery: event name, delivery GUID, signature, JSON type.
pub fn delivery_headers(event: &str, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", "GitHub-Hookshot/fake".to_string()),
        ("x-github-event", event.to_string()),
        ("x-github-delivery", delivery_id()),
        ("x-hub-signature-256", sign(secret, body)),
    ]
}

/// `shared/fixtures/github-webhooks` beside the checkout, so any checkout placed next to
/// `shared/` (the main tree, a worktree, CI's clone) finds the same fixtures.
///
/// The payloads are vendored under `tests/fixtures/github-webhooks` (MIT, see its LICENSE) so
/// a clean clone tests without the shared folder beside it; `vendored_fixtures_match_shared`
/// keeps the copy identical to `../shared/fixtures/github-webhooks` wherever that exists.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github-webhooks")
}

/// The shared, read-only copy of the payloads, when the checkout sits beside it.
pub fn shared_fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/github-webhooks")
}

/// The raw bytes of `<event>/<file>`.
pub fn fixture_raw(event: &str, file: &str) -> Vec<u8> {
    let path = fixture_dir().join(event).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// `<event>/<file>` parsed, e.g. `fixture("pull_request", "opened.payload.json")`.
pub fn fixture(event: &str, file: &str) -> Value {
    serde_json::from_slice(&fixture_raw(event, file))
        .unwrap_or_else(|e| panic!("parsing fixture {event}/{file}: {e}"))
}

/// Every example payload as `(event, file name, raw body)`, sorted, for "accept everything
/// GitHub can send" tests.
pub fn all_fixtures() -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let dir = fixture_dir();
    let events =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for event in events.flatten().filter(|e| e.path().is_dir()) {
        let event_name = event.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(event.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                let body =
                    std::fs::read(file.path()).unwrap_or_else(|e| panic!("reading {name}: {e}"));
                out.push((event_name.clone(), name, body));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// The example for `<event>/<action>.payload.json`, or for `fallback` when GitHub published no
/// example for that action (the shape is the same; only `action` differs).
fn example(event: &str, action: &str, fallback: &str) -> Value {
    let file = format!("{action}.payload.json");
    if fixture_dir().join(event).join(&file).is_file() {
        fixture(event, &file)
    } else {
        fixture(event, &format!("{fallback}.payload.json"))
    }
}

/// The `installation` stub webhooks carry.
fn installation(id: u64) -> Value {
    json!({"id": id, "node_id": format!("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{id}")})
}

fn owner_of(repo: &str) -> &str {
    repo.split_once('/').map_or(repo, |(o, _)| o)
}

/// Sets `organization` only where GitHub's example has one (repos owned by organisations).
fn set_org_if_present(v: &mut Value, fake: &FakeGitHub, org: &str) {
    if v.get("organization").is_some() {
        v["organization"] = fake.org_json(org);
    }
}

/// A `pull_request` event for a PR as the fake has it now. For `synchronize`, `before` is the
/// previous commit's SHA and `after` the head.
pub fn pull_request_event(
    action: &str,
    fake: &FakeGitHub,
    repo: &str,
    number: u64,
    installation_id: u64,
) -> Value {
    let mut v = example("pull_request", action, "opened");
    let pr = fake.pr_json(repo, number);
    v["action"] = json!(action);
    v["number"] = json!(number);
    v["sender"] = pr["user"].clone();
    v["repository"] = fake.repo_json(repo);
    v["installation"] = installation(installation_id);
    if action == "synchronize" {
        let shas = fake.pr_commit_shas(repo, number);
        let before = shas
            .len()
            .checked_sub(2)
            .and_then(|i| shas.get(i).cloned())
            .unwrap_or_else(|| pr["base"]["sha"].as_str().unwrap_or_default().to_string());
        v["before"] = json!(before);
        v["after"] = pr["head"]["sha"].clone();
    }
    v["pull_request"] = pr;
    set_org_if_present(&mut v, fake, owner_of(repo));
    v
}

/// A `pull_request_review` event. The review is the newest one by `reviewer` in the fake (so
/// ids and `commit_id` match what the API lists), else a new one on the current head; its
/// `state` is `state` in lower case, as webhooks spell it (the REST API uses upper case).
/// `pull_request` is the short form, without `changed_files` and friends, as GitHub sends it.
pub fn pull_request_review_event(
    action: &str,
    fake: &FakeGitHub,
    repo: &str,
    number: u64,
    installation_id: u64,
    reviewer: &str,
    state: &str,
) -> Value {
    let mut v = example("pull_request_review", action, "submitted");
    let pr = fake.pr_simple_json(repo, number);
    let mut review = fake
        .latest_review_by(repo, number, reviewer)
        .unwrap_or_else(|| {
            let mut r = v["review"].clone();
            r["user"] = fake.user_json(reviewer);
            r["commit_id"] = pr["head"]["sha"].clone();
            r["pull_request_url"] = pr["url"].clone();
            r
        });
    review["state"] = json!(state.to_ascii_lowercase());
    v["action"] = json!(action);
    v["review"] = review;
    v["pull_request"] = pr;
    v["repository"] = fake.repo_json(repo);
    v["sender"] = fake.user_json(reviewer);
    v["installation"] = installation(installation_id);
    set_org_if_present(&mut v, fake, owner_of(repo));
    v
}

/// The `check_suite` object of check webhooks for our App's suite on `head_sha`.
fn check_suite_object(fake: &FakeGitHub, repo: &str, head_sha: &str, template: &Value) -> Value {
    let refs = fake.pr_refs_for_sha(repo, head_sha);
    let id = fake.check_suite_id(repo, head_sha);
    let mut suite = template.clone();
    suite["id"] = json!(id);
    suite["head_sha"] = json!(head_sha);
    suite["after"] = json!(head_sha);
    suite["head_branch"] = refs
        .first()
        .map_or(Value::Null, |r| r["head"]["ref"].clone());
    suite["url"] = json!(format!("{}/repos/{repo}/check-suites/{id}", fake.url()));
    suite["pull_requests"] = Value::Array(refs);
    suite["app"] = fake.app_json();
    if suite.get("check_runs_url").is_some() {
        suite["check_runs_url"] = json!(format!(
            "{}/repos/{repo}/check-suites/{id}/check-runs",
            fake.url()
        ));
    }
    if suite.get("head_commit").is_some() {
        suite["head_commit"]["id"] = json!(head_sha);
    }
    suite
}

/// `check_run` `rerequested` for one of the fake's check runs (someone clicked "Re-run").
pub fn check_run_rerequested(
    fake: &FakeGitHub,
    repo: &str,
    check_run_id: u64,
    installation_id: u64,
) -> Value {
    let mut v = fixture("check_run", "rerequested.payload.json");
    let mut run = fake
        .check_run_json(repo, check_run_id)
        .expect("unknown check run");
    let head_sha = run["head_sha"].as_str().unwrap_or_default().to_string();
    run["check_suite"] = check_suite_object(fake, repo, &head_sha, &v["check_run"]["check_suite"]);
    v["check_run"] = run;
    v["repository"] = fake.repo_json(repo);
    v["installation"] = installation(installation_id);
    v["sender"] = fake.user_json("octocat");
    set_org_if_present(&mut v, fake, owner_of(repo));
    v
}

/// `check_suite` `rerequested` for our App's suite on `head_sha` ("Re-run all checks").
pub fn check_suite_rerequested(
    fake: &FakeGitHub,
    repo: &str,
    head_sha: &str,
    installation_id: u64,
) -> Value {
    let mut v = fixture("check_suite", "rerequested.payload.json");
    v["check_suite"] = check_suite_object(fake, repo, head_sha, &v["check_suite"]);
    v["repository"] = fake.repo_json(repo);
    v["installation"] = installation(installation_id);
    v["sender"] = fake.user_json("octocat");
    v
}

/// `merge_group` `checks_requested`: the queue built `head_sha` for PR `pr_number` on `base`.
/// `head_ref` is `refs/heads/gh-readonly-queue/<base>/pr-<N>-<PR head sha>`, as GitHub names it.
pub fn merge_group_checks_requested(
    fake: &FakeGitHub,
    repo: &str,
    base: &str,
    pr_number: u64,
    head_sha: &str,
    installation_id: u64,
) -> Value {
    let mut v = fixture("merge_group", "checks_requested.payload.json");
    let pr = fake.pr_json(repo, pr_number);
    let pr_head = pr["head"]["sha"].as_str().unwrap_or(head_sha).to_string();
    let group = &mut v["merge_group"];
    group["head_sha"] = json!(head_sha);
    group["head_ref"] = json!(format!(
        "refs/heads/gh-readonly-queue/{base}/pr-{pr_number}-{pr_head}"
    ));
    group["base_ref"] = json!(format!("refs/heads/{base}"));
    group["base_sha"] = json!(
        fake.branch_head(repo, base)
            .unwrap_or_else(|| sha_like(&format!("base {base}")))
    );
    group["head_commit"]["id"] = json!(head_sha);
    group["head_commit"]["tree_id"] = json!(sha_like(&format!("tree {head_sha}")));
    group["head_commit"]["message"] = json!(format!(
        "Merge pull request #{pr_number} from {}/{}\n\n{}",
        owner_of(repo),
        pr["head"]["ref"].as_str().unwrap_or_default(),
        pr["title"].as_str().unwrap_or_default()
    ));
    v["repository"] = fake.repo_json(repo);
    v["installation"] = installation(installation_id);
    v["sender"] = fake.user_json("github-merge-queue[bot]");
    set_org_if_present(&mut v, fake, owner_of(repo));
    v
}

/// A `push` of one commit `after_sha` to `branch_ref` (`main` or `refs/heads/main`) that
/// modified `modified_paths`. `before` is the branch's head in the fake when it differs.
/// The `repository` keeps the push event's own shape (epoch-number `created_at`/`pushed_at`,
/// `master_branch`, owner with `name`/`email`), which differs from every other event's.
pub fn push_event(
    fake: &FakeGitHub,
    repo: &str,
    branch_ref: &str,
    after_sha: &str,
    modified_paths: &[&str],
    installation_id: u64,
) -> Value {
    let mut v = fixture("push", "with-new-branch.payload.json");
    let branch = branch_ref.strip_prefix("refs/heads/").unwrap_or(branch_ref);
    let before = fake
        .branch_head(repo, branch)
        .filter(|h| h != after_sha)
        .unwrap_or_else(|| sha_like(&format!("before {after_sha}")));
    let owner = owner_of(repo);
    let html = format!("https://github.com/{repo}");
    let api_repo = fake.repo_json(repo);

    let mut repository = v["repository"].clone();
    super::fake_github::replace_strings(&mut repository, "Codertocat/Hello-World", repo);
    super::fake_github::replace_strings(&mut repository, "https://api.github.com", &fake.url());
    let user = fake.user_json(owner);
    repository["id"] = api_repo["id"].clone();
    repository["node_id"] = api_repo["node_id"].clone();
    repository["name"] = api_repo["name"].clone();
    repository["full_name"] = json!(repo);
    repository["default_branch"] = api_repo["default_branch"].clone();
    repository["master_branch"] = api_repo["default_branch"].clone();
    // The push event's own shape: epoch seconds, and now (the example's is from 2019).
    repository["pushed_at"] = json!(super::fake_github::clock::now());
    let mut repo_owner = user.clone();
    repo_owner["name"] = json!(owner);
    repo_owner["email"] = Value::Null;
    repo_owner["type"] = json!("Organization");
    repository["owner"] = repo_owner;

    let commit = json!({
        "id": after_sha,
        "tree_id": sha_like(&format!("tree {after_sha}")),
        "distinct": true,
        "message": "Update files",
        "timestamp": super::fake_github::clock::rfc3339(super::fake_github::clock::now()),
        "url": format!("{html}/commit/{after_sha}"),
        "author": {"name": owner, "email": format!("{owner}@users.noreply.github.com"), "username": owner},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": [],
        "removed": [],
        "modified": modified_paths,
    });
    v["ref"] = json!(format!("refs/heads/{branch}"));
    v["before"] = json!(before);
    v["after"] = json!(after_sha);
    v["created"] = json!(false);
    v["deleted"] = json!(false);
    v["forced"] = json!(false);
    v["compare"] = json!(format!(
        "{html}/compare/{}...{}",
        &before[..12.min(before.len())],
        &after_sha[..12.min(after_sha.len())]
    ));
    v["commits"] = json!([commit.clone()]);
    v["head_commit"] = commit;
    v["repository"] = repository;
    v["pusher"] = json!({"name": owner, "email": format!("{owner}@users.noreply.github.com")});
    v["sender"] = user;
    v["installation"] = installation(installation_id);
    v
}

/// `membership` `added`/`removed`: `member` joined or left team `org/team_slug` (which must
/// exist in the fake). GitHub's examples for this event lack `installation`; deliveries to an
/// App carry it, so it is set here.
pub fn membership_event(
    fake: &FakeGitHub,
    action: &str,
    org: &str,
    team_slug: &str,
    member: &str,
    installation_id: u64,
) -> Value {
    let mut v = example("membership", action, "added");
    v["action"] = json!(action);
    v["member"] = fake.user_json(member);
    v["team"] = fake.team_json(org, team_slug);
    v["organization"] = fake.org_json(org);
    v["sender"] = fake.user_json("org-admin");
    v["installation"] = installation(installation_id);
    v
}

/// A `team` event (`created`, `deleted`, `edited`, `added_to_repository`, ...) for team
/// `org/team_slug` (which must exist in the fake). `repository` is set for the repository
/// actions when `repo` is given, and removed otherwise.
pub fn team_event(
    fake: &FakeGitHub,
    action: &str,
    org: &str,
    team_slug: &str,
    repo: Option<&str>,
    installation_id: u64,
) -> Value {
    let mut v = example("team", action, "edited");
    v["action"] = json!(action);
    v["team"] = fake.team_json(org, team_slug);
    v["organization"] = fake.org_json(org);
    v["sender"] = fake.user_json("org-admin");
    v["installation"] = installation(installation_id);
    match (repo, v.as_object_mut()) {
        (Some(r), _) => v["repository"] = fake.repo_json(r),
        (None, Some(map)) => {
            map.remove("repository");
        }
        (None, None) => {}
    }
    v
}

/// `pull_request` `edited` after the PR was retargeted from `from` to its current base, as
/// GitHub reports a base change (`changes.base.ref.from`, `changes.base.sha.from`). GitHub
/// published no example for `edited`; the shape is `opened`'s with `changes` added.
pub fn pull_request_base_changed(
    fake: &FakeGitHub,
    repo: &str,
    number: u64,
    from: &str,
    installation_id: u64,
) -> Value {
    let mut v = pull_request_event("edited", fake, repo, number, installation_id);
    let from_sha = fake.branch_head(repo, from).unwrap_or_default();
    v["changes"] = json!({"base": {"ref": {"from": from}, "sha": {"from": from_sha}}});
    v
}

/// `member` `added`/`removed`/`edited`: `member`'s access to `repo` changed.
pub fn member_event(
    fake: &FakeGitHub,
    action: &str,
    repo: &str,
    member: &str,
    installation_id: u64,
) -> Value {
    let mut v = fixture("member", "added.with-installation.payload.json");
    v["action"] = json!(action);
    v["member"] = fake.user_json(member);
    v["repository"] = fake.repo_json(repo);
    v["sender"] = fake.user_json("org-admin");
    v["installation"] = installation(installation_id);
    set_org_if_present(&mut v, fake, owner_of(repo));
    v
}
