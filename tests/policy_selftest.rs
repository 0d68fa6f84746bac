//! `[[test]]` tables shipped in the policy (issue 13 §1): `reviewgate check` runs them, and
//! the App fails a pull request whose proposed policy is invalid or fails its own tests, even
//! when the policy owners approved it.

mod support;

use std::process::{Command, Output};

use support::fake_github::{FileSpec, PrSpec};
use support::harness::{Harness, POLICY, POLICY_PATH, REPO};

const BASE: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors = ["alice", "@acme/seniors"]
leads = ["lena"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 1 }

[[paths]]
match = ["ledger/**"]
level = "critical"
"#;

const PASSING: &str = r#"
[[test]]
name = "a ledger change needs a senior"
author = "zed"
files = ["ledger/post.rs"]
approvals = ["dave", "erin"]
expect = "block"
expect_missing = { seniors = 1 }
expect_approvals = 0

[[test]]
name = "a senior through a team"
author = "zed"
files = [{ path = "ledger/post.rs" }, { path = "ledger/new.rs", previous_path = "ledger/old.rs", status = "renamed" }]
commits = [{ author = "zed", committer = "web-flow" }]
approvals = ["carol", "dave"]
teams = { "acme/seniors" = ["carol"] }
permissions = { carol = "write", dave = "admin" }
expect = "pass"

[[test]]
name = "the author cannot approve"
author = "alice"
files = ["ledger/post.rs"]
approvals = ["alice", "dave"]
expect = "block"
expect_missing = { seniors = 1 }

[[test]]
name = "changes requested block"
author = "zed"
files = ["docs/x.md"]
approvals = ["dave"]
changes_requested = ["erin"]
expect = "block"
"#;

fn check(policy: &str, extra: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, policy).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .arg("check")
        .arg(&file)
        .args(extra)
        .output()
        .expect("run");
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "policy.toml");
    (out, stderr)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle")
}

#[test]
fn passing_tests_exit_0_and_are_counted() {
    let (out, stderr) = check(&format!("{BASE}{PASSING}"), &[]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("; 4 tests passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_failing_test_exits_1_with_one_line_at_its_header() {
    let policy = format!(
        r#"{BASE}
[[test]]
name = "ok"
author = "zed"
files = ["docs/a.md"]
approvals = ["dave"]
expect = "pass"

[[test]]
name = "one approval is enough"
author = "zed"
files = ["ledger/post.rs"]
approvals = ["dave"]
expect = "pass"

[[test]]
name = "miscounted"
author = "zed"
files = ["ledger/post.rs"]
expect = "block"
expect_missing = {{ seniors = 2 }}

[[test]]
name = "approvals miscounted"
author = "zed"
files = ["ledger/post.rs"]
approvals = ["carol"]
teams = {{ "acme/seniors" = ["carol"] }}
expect = "block"
expect_approvals = 0
"#
    );
    let (out, stderr) = check(&policy, &[]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let header = |n: usize| {
        policy
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[test]]")
            .nth(n)
            .map(|(i, _)| i + 1)
            .expect("header")
    };
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!(
                "policy.toml:{}:1: test \"one approval is enough\": expected pass, got block: needs 1 more approval from seniors",
                header(1)
            ),
            format!(
                "policy.toml:{}:1: test \"miscounted\": expected missing {{ seniors = 2 }}, got {{ seniors = 1 }}",
                header(2)
            ),
            format!(
                "policy.toml:{}:1: test \"approvals miscounted\": expected 0 more approvals, got 1",
                header(3)
            ),
            "policy.toml: 3 of 4 tests failed".to_string(),
        ]
    );
}

#[test]
fn a_malformed_test_is_a_policy_error_and_no_test_runs() {
    let policy = format!(
        r#"{BASE}
[[test]]
name = "would fail"
author = "zed"
files = ["ledger/post.rs"]
expect = "pass"

[[test]]
name = "bad"
author = "zed"
files = ["a"]
expect = "maybe"
expect_missing = {{ owners = 1 }}
colour = "red"

[[test]]
author = "zed"
expect = "pass"
"#
    );
    let (out, stderr) = check(&policy, &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expect_line = line_of(&policy, "\"maybe\"");
    let owners_line = line_of(&policy, "owners = 1");
    let colour_line = line_of(&policy, "colour");
    let last_header = policy
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[test]]")
        .last()
        .map(|(i, _)| i + 1)
        .expect("header");
    for want in [
        format!(
            "policy.toml:{expect_line}:10: `expect` in [[test]] \"bad\" must be \"pass\" or \"block\""
        ),
        format!(
            "policy.toml:{owners_line}:20: `expect_missing` names group `owners`, which is not defined"
        ),
        format!("policy.toml:{colour_line}:1: unknown key `colour` in [[test]] \"bad\""),
        format!("policy.toml:{last_header}:1: [[test]] 3 is missing `name`"),
        format!("policy.toml:{last_header}:1: [[test]] 3 is missing `files`"),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(&want)),
            "{want}\nnot in\n{stderr}"
        );
    }
    assert!(!stderr.contains("would fail"), "no test runs: {stderr}");
}

#[test]
fn evaluate_accepts_a_policy_with_tests_and_ignores_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, format!("{BASE}{PASSING}")).expect("write");
    let pr = dir.path().join("pr.json");
    std::fs::write(
        &pr,
        r#"{"author": "zed", "head_sha": "h", "files": [{"path": "docs/a.md"}],
            "reviews": [{"user": "dave", "state": "APPROVED", "commit": "h"}]}"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["evaluate", "--policy"])
        .arg(&policy)
        .arg("--pr")
        .arg(&pr)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PR editing the policy, proposing `proposed`, approved by a lead (the base policy's
/// owners) and by dan: the check it gets.
async fn proposing(proposed: &str) -> support::fake_github::CheckRun {
    let h = Harness::start().await;
    let n = h.fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            head_ref: "new-policy".into(),
            files: vec![FileSpec::modified(POLICY_PATH)],
            ..PrSpec::default()
        },
    );
    h.fake.set_file(REPO, "new-policy", POLICY_PATH, proposed);
    h.review(n, "dan", "APPROVED").await;
    h.review(n, "lena", "APPROVED").await
}

#[tokio::test]
async fn a_proposed_policy_passing_its_tests_is_judged_by_the_base_policy_alone() {
    let proposed = format!(
        "{POLICY}\n[[test]]\nname = \"docs need one\"\nauthor = \"zed\"\nfiles = [\"docs/a.md\"]\napprovals = [\"dan\"]\nexpect = \"pass\"\n"
    );
    let run = proposing(&proposed).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
}

#[tokio::test]
async fn a_proposed_policy_failing_its_tests_fails_even_with_the_owners_approval() {
    let proposed = format!(
        "{POLICY}\n[[test]]\nname = \"ledger needs a senior\"\nauthor = \"zed\"\nfiles = [\"ledger/a.rs\"]\napprovals = [\"dan\", \"erin\"]\nexpect = \"pass\"\n"
    );
    let run = proposing(&proposed).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("The proposed policy fails 1 of its 1 test")
    );
    let summary = run.summary.unwrap_or_default();
    let header = proposed
        .lines()
        .position(|l| l == "[[test]]")
        .map(|i| i + 1)
        .expect("header");
    assert!(
        summary.contains(&format!(
            "{POLICY_PATH}:{header}:1: test \"ledger needs a senior\": expected pass, got block: needs"
        )),
        "{summary}"
    );
}

#[tokio::test]
async fn an_invalid_proposed_policy_fails_even_with_the_owners_approval() {
    let proposed = POLICY.replace("level = \"critical\"", "level = \"urgent\"");
    let run = proposing(&proposed).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some(format!("The proposed policy `{POLICY_PATH}` is invalid").as_str())
    );
    let summary = run.summary.unwrap_or_default();
    assert!(summary.contains("names level `urgent`"), "{summary}");
}

/// Two open PRs into main (a ledger change approved by dan alone: blocked; a docs change
/// approved by dan: passing), then a PR proposing `proposed`.
async fn preview_of(proposed: &str, overrides: &[(&str, &str)]) -> (Harness, u64, u64, String) {
    let h = Harness::with(support::harness::fake_world().await, overrides).await;
    let ledger = h.fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            head_ref: "ledger-change".into(),
            files: vec![FileSpec::modified("ledger/post.rs")],
            ..PrSpec::default()
        },
    );
    h.fake.review(REPO, ledger, "dan", "APPROVED", None);
    let docs = h.fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            head_ref: "docs-change".into(),
            files: vec![FileSpec::modified("docs/a.md")],
            ..PrSpec::default()
        },
    );
    h.fake.review(REPO, docs, "dan", "APPROVED", None);
    let n = h.fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            head_ref: "new-policy".into(),
            files: vec![FileSpec::modified(POLICY_PATH)],
            ..PrSpec::default()
        },
    );
    h.fake.set_file(REPO, "new-policy", POLICY_PATH, proposed);
    let before: Vec<usize> = [ledger, docs]
        .iter()
        .map(|p| {
            h.fake
                .check_runs(REPO)
                .iter()
                .filter(|r| r.head_sha == h.head_sha(*p))
                .count()
        })
        .collect();
    let run = h.review(n, "lena", "APPROVED").await;
    let after: Vec<usize> = [ledger, docs]
        .iter()
        .map(|p| {
            h.fake
                .check_runs(REPO)
                .iter()
                .filter(|r| r.head_sha == h.head_sha(*p))
                .count()
        })
        .collect();
    assert_eq!(
        before, after,
        "the preview never writes the other PRs' checks"
    );
    (h, ledger, docs, run.summary.unwrap_or_default())
}

#[tokio::test]
async fn a_policy_change_previews_the_open_prs_whose_verdict_it_changes() {
    // The ledger rule goes: PR `ledger` would pass; `docs` is unchanged.
    let start = POLICY.find("[[paths]]").expect("paths");
    let proposed = &POLICY[..start];
    let (_h, ledger, docs, summary) = preview_of(proposed, &[]).await;
    assert!(
        summary.contains("### Impact of this policy change"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "- #{ledger}: blocked → pass (no longer needs: path rule `ledger`)"
        )),
        "{summary}"
    );
    assert!(!summary.contains(&format!("- #{docs}:")), "{summary}");
    assert!(
        summary.contains("1 open pull request into `main` would change verdict"),
        "{summary}"
    );
}

#[tokio::test]
async fn the_preview_evaluates_at_most_the_configured_number_of_prs() {
    let start = POLICY.find("[[paths]]").expect("paths");
    let (_h, _, _, summary) =
        preview_of(&POLICY[..start], &[("REVIEWGATE_PREVIEW_MAX_PRS", "1")]).await;
    assert!(
        summary.contains("Partial preview: 1 of 2 open pull requests evaluated."),
        "{summary}"
    );
}
