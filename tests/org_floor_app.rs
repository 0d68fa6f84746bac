//! An organisation-wide floor in the App (issue 13 §2), through the fake GitHub: the policy
//! file on the default branch of `acme/.github` binds every repository of the installation,
//! on top of each repository's own policy (or alone, where a repository has none).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use reviewgate::audit::{Record, replay};
use support::fake_github::{CheckRun, FileSpec, PrSpec};
use support::harness::{CHECK, Harness, INSTALLATION, POLICY_PATH, REPO, WRITERS, fake_world};
use support::webhooks;

const ORG_REPO: &str = "acme/.github";
const BARE_REPO: &str = "acme/notes";
const ORG_FILE: &str = "acme/.github:.github/review-policy.toml";

/// The floor: one approval anywhere, a DBA (a team) on migrations, org leads on its edits.
const ORG_POLICY: &str = r#"version = 1
default_level = "base"
policy_owners = "org-leads"

[groups]
dba = ["@acme/dbas"]
org-leads = ["olga"]

[levels.base]
approvals = 1

[[paths]]
name = "migrations"
match = ["**/migrations/**"]
require = { dba = 1 }
"#;

async fn harness_with(org_policy: &str) -> Harness {
    let fake = fake_world().await;
    fake.add_repo(INSTALLATION, ORG_REPO, "main");
    fake.add_repo(INSTALLATION, BARE_REPO, "main");
    fake.set_file(ORG_REPO, "main", POLICY_PATH, org_policy);
    fake.set_team("acme", "dbas", &["dora"]);
    for repo in [REPO, ORG_REPO, BARE_REPO] {
        for login in WRITERS.iter().chain(&["dora", "olga"]) {
            fake.set_permission(repo, login, Some("write"));
        }
    }
    Harness::with(fake, &[]).await
}

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

fn head(h: &Harness, repo: &str, n: u64) -> String {
    h.fake.pr_json(repo, n)["head"]["sha"]
        .as_str()
        .expect("head sha")
        .to_string()
}

/// Delivers `opened` for PR `n` of `repo` and returns the settled check on its head.
async fn opened(h: &Harness, repo: &str, n: u64) -> CheckRun {
    let payload = webhooks::pull_request_event("opened", &h.fake, repo, n, INSTALLATION);
    let r = h.deliver("pull_request", &payload).await;
    assert!(r.status().is_success(), "delivery answered {}", r.status());
    h.settle().await;
    h.fake
        .latest_check_run(repo, &head(h, repo, n), CHECK)
        .expect("a check run")
}

/// Records `user`'s approval of PR `n` of `repo`, delivers it, returns the settled check.
async fn approve(h: &Harness, repo: &str, n: u64, user: &str) -> CheckRun {
    h.fake.review(repo, n, user, "APPROVED", None);
    let payload = webhooks::pull_request_review_event(
        "submitted",
        &h.fake,
        repo,
        n,
        INSTALLATION,
        user,
        "APPROVED",
    );
    let r = h.deliver("pull_request_review", &payload).await;
    assert!(r.status().is_success(), "delivery answered {}", r.status());
    h.settle().await;
    h.fake
        .latest_check_run(repo, &head(h, repo, n), CHECK)
        .expect("a check run")
}

/// The decision record a check run names.
async fn record_of(h: &Harness, run: &CheckRun) -> reviewgate::audit::DecisionRecord {
    let id = run.external_id.clone().expect("the run names its record");
    let store = h.server.state.app.store.ready().expect("store");
    match store.record(&id).await.expect("read") {
        Some(Record::Decision(d)) => *d,
        other => panic!("not a decision record: {other:?}"),
    }
}

fn summary(run: &CheckRun) -> String {
    run.summary.clone().unwrap_or_default()
}

#[tokio::test]
async fn the_floor_adds_its_requirements_names_their_file_and_is_recorded_for_replay() {
    let h = harness_with(ORG_POLICY).await;
    let n = h.fake.open_pr(REPO, pr(&["db/migrations/001.sql"]));
    let run = opened(&h, REPO, n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        summary(&run).contains(ORG_FILE),
        "the summary names the org file: {}",
        summary(&run)
    );
    assert!(
        summary(&run).contains("acme/ledger:.github/review-policy.toml"),
        "and the repository's own: {}",
        summary(&run)
    );
    // The repository's policy is satisfied by one approval; the floor still wants a DBA.
    let run = approve(&h, REPO, n, "dan").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let title = run.title.clone().unwrap_or_default();
    assert!(
        title.contains("dba") && title.contains("organisation policy"),
        "{title}"
    );
    // dora is a DBA through the floor's team (read with the installation).
    let run = approve(&h, REPO, n, "dora").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.title
    );

    let record = record_of(&h, &run).await;
    let org = record
        .org_policy
        .clone()
        .expect("the record names the floor");
    assert_eq!(org.file, ORG_FILE);
    assert_eq!(org.text.as_deref(), Some(ORG_POLICY));
    assert_eq!(org.blob_sha.len(), 40);
    assert!(record.policy_blob_sha.is_some(), "and the repository's own");
    let from_floor = record
        .requirements
        .iter()
        .find(|r| r.origin.as_deref() == Some(ORG_FILE) && r.needs.groups.contains_key("dba"))
        .expect("a requirement from the floor");
    assert_eq!(from_floor.approvers[0].login, "dora");
    assert_eq!(from_floor.approvers[0].groups["dba"], "@acme/dbas");
    assert!(
        run.summary.unwrap_or_default().contains(&format!(
            "and organisation policy {ORG_FILE}@{}",
            org.blob_sha
        )),
        "the summary's record line names the floor"
    );
    let replayed = replay(&record).expect("replayable");
    assert!(replayed.same, "{:?}", replayed.today.title);

    // The real `replay` command, on the App's store, reaches the same decision.
    let db = format!("sqlite:{}", h.data.path().join("reviewgate.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["replay", &record.id, "--database", &db])
        .env_remove("REVIEWGATE_DATABASE_URL")
        .output()
        .expect("run replay");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_repository_without_a_policy_is_governed_by_the_floor_alone() {
    let h = harness_with(ORG_POLICY).await;
    let n = h.fake.open_pr(BARE_REPO, pr(&["docs/readme.md"]));
    let run = opened(&h, BARE_REPO, n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title.as_deref(), Some("Needs 1 more approval"));
    assert!(summary(&run).contains(ORG_FILE), "{}", summary(&run));
    let run = approve(&h, BARE_REPO, n, "dan").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let record = record_of(&h, &run).await;
    assert_eq!(record.policy_blob_sha, None);
    assert_eq!(
        record.org_policy.as_ref().map(|o| o.file.as_str()),
        Some(ORG_FILE)
    );
    assert!(replay(&record).expect("replayable").same);
}

#[tokio::test]
async fn an_invalid_floor_fails_every_check_naming_the_org_file() {
    let invalid = ORG_POLICY.replace("default_level = \"base\"", "default_level = \"nope\"");
    let h = harness_with(&invalid).await;
    for repo in [REPO, BARE_REPO] {
        let n = h.fake.open_pr(repo, pr(&["src/lib.rs"]));
        h.fake.review(repo, n, "dan", "APPROVED", None);
        h.fake.review(repo, n, "carol", "APPROVED", None);
        let run = opened(&h, repo, n).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"), "{repo}");
        let title = run.title.clone().unwrap_or_default();
        assert!(
            title.starts_with(&format!(
                "Invalid organisation review policy: 1 error in {ORG_FILE}:2:"
            )),
            "{repo}: {title}"
        );
        assert!(summary(&run).contains("no pull request of any repository of `acme`"));
    }
}

#[tokio::test]
async fn the_policy_repository_is_governed_once_and_edits_to_the_floor_need_its_owners() {
    let h = harness_with(ORG_POLICY).await;
    // An ordinary PR of the policy repository: the floor once, not twice.
    let n = h.fake.open_pr(ORG_REPO, pr(&["README.md"]));
    let run = approve(&h, ORG_REPO, n, "dan").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let record = record_of(&h, &run).await;
    assert_eq!(record.org_policy, None, "judged by its own file, once");
    assert_eq!(record.requirements.len(), 1, "{:?}", record.requirements);

    // An edit of the floor itself needs the floor's policy owners.
    let spec = PrSpec {
        author: "zed".into(),
        files: vec![FileSpec::modified(POLICY_PATH)],
        ..PrSpec::default()
    };
    let n = h.fake.open_pr(ORG_REPO, spec);
    let head_ref = h.fake.pr_json(ORG_REPO, n)["head"]["ref"]
        .as_str()
        .expect("head ref")
        .to_string();
    h.fake.set_file(
        ORG_REPO,
        &head_ref,
        POLICY_PATH,
        &ORG_POLICY.replace("approvals = 1", "approvals = 2"),
    );
    let run = approve(&h, ORG_REPO, n, "dan").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.title.clone().unwrap_or_default().contains("org-leads"),
        "{:?}",
        run.title
    );
    let run = approve(&h, ORG_REPO, n, "olga").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.title
    );
}

/// Waits (up to `limit`) for the latest check on `sha` of `repo` to conclude `conclusion`.
async fn eventually(h: &Harness, repo: &str, sha: &str, conclusion: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let run = h.fake.latest_check_run(repo, sha, CHECK);
        if run.as_ref().and_then(|r| r.conclusion.as_deref()) == Some(conclusion) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {conclusion} check within {limit:?}: {:?}",
            run.map(|r| r.title)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_push_to_the_floor_re_evaluates_the_installations_open_prs_within_a_minute() {
    let h = harness_with(ORG_POLICY).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let bare = h.fake.open_pr(BARE_REPO, pr(&["docs/a.md"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    h.fake.review(BARE_REPO, bare, "dan", "APPROVED", None);
    assert_eq!(
        opened(&h, REPO, n).await.conclusion.as_deref(),
        Some("success")
    );
    assert_eq!(
        opened(&h, BARE_REPO, bare).await.conclusion.as_deref(),
        Some("success")
    );

    // The floor now wants two approvals everywhere.
    h.fake.set_file(
        ORG_REPO,
        "main",
        POLICY_PATH,
        &ORG_POLICY.replace("approvals = 1", "approvals = 2"),
    );
    let after = h.fake.branch_head(ORG_REPO, "main").expect("main");
    let push = webhooks::push_event(
        &h.fake,
        ORG_REPO,
        "refs/heads/main",
        &after,
        &[POLICY_PATH],
        INSTALLATION,
    );
    let started = Instant::now();
    assert!(h.deliver("push", &push).await.status().is_success());
    let minute = Duration::from_secs(60);
    eventually(&h, REPO, &head(&h, REPO, n), "failure", minute).await;
    eventually(&h, BARE_REPO, &head(&h, BARE_REPO, bare), "failure", minute).await;
    eprintln!(
        "both PRs re-evaluated {:.1} s after the push",
        started.elapsed().as_secs_f64()
    );
    let run = h
        .fake
        .latest_check_run(REPO, &head(&h, REPO, n), CHECK)
        .expect("run");
    assert!(
        run.title
            .unwrap_or_default()
            .contains("organisation policy"),
        "the floor is what blocks"
    );
}

#[tokio::test]
async fn the_sweep_notices_a_changed_floor_without_a_webhook() {
    let h = harness_with(ORG_POLICY).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    // GitHub's timestamps have whole seconds: once the PR's `updated_at` is 2 s old, an
    // evaluation records it, and the run is current for the sweep.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        opened(&h, REPO, n).await.conclusion.as_deref(),
        Some("success")
    );
    let app = &h.server.state.app;
    // Nothing changed: the sweep leaves the PR alone.
    let sweep = app.reconcile(1.0).await.expect("sweep");
    assert_eq!(sweep.queued, 0, "{sweep:?}");

    h.fake.set_file(
        ORG_REPO,
        "main",
        POLICY_PATH,
        &ORG_POLICY.replace("approvals = 1", "approvals = 2"),
    );
    // The push webhook is lost; the floor's cached read expires (as it does after
    // FLOOR_FRESH_FOR).
    app.policies
        .forget_repo(&reviewgate::github::RepoName::parse(ORG_REPO).expect("name"));
    let sweep = app.reconcile(1.0).await.expect("sweep");
    assert!(sweep.queued >= 1, "{sweep:?}");
    h.settle().await;
    let run = h
        .fake
        .latest_check_run(REPO, &head(&h, REPO, n), CHECK)
        .expect("run");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.title
    );
}

#[tokio::test]
async fn the_impact_preview_compares_verdicts_under_the_floor_too() {
    // The floor wants two approvals everywhere.
    let h = harness_with(&ORG_POLICY.replace("approvals = 1", "approvals = 2")).await;
    // #a has one approval: blocked by the floor now, and still blocked after the change.
    let a = h.fake.open_pr(REPO, pr(&["src/a.rs"]));
    h.fake.review(REPO, a, "dan", "APPROVED", None);
    // #b has two: passes now, blocked once the repository wants three.
    let b = h.fake.open_pr(REPO, pr(&["src/b.rs"]));
    h.fake.review(REPO, b, "dan", "APPROVED", None);
    h.fake.review(REPO, b, "erin", "APPROVED", None);
    let edit = h.fake.open_pr(REPO, pr(&[POLICY_PATH]));
    let head_ref = h.fake.pr_json(REPO, edit)["head"]["ref"]
        .as_str()
        .expect("head ref")
        .to_string();
    let proposed = support::harness::POLICY.replacen("approvals = 1", "approvals = 3", 1);
    h.fake.set_file(REPO, &head_ref, POLICY_PATH, &proposed);
    let run = opened(&h, REPO, edit).await;
    let text = summary(&run);
    assert!(
        text.contains(&format!("- #{b}: pass → blocked")),
        "#{b} is listed: {text}"
    );
    assert!(
        !text.contains(&format!("- #{a}:")),
        "#{a} stays blocked by the floor, so its verdict does not change: {text}"
    );
}
