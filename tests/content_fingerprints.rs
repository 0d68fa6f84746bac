//! Approvals bound to content, not commits (issue 14 §1): an approval on an earlier head still
//! counts when the PR's own changes are byte for byte the same on the current head, and an
//! "Update branch" merge is not a contribution. Through the fake GitHub and the real binary.

mod support;

use std::process::Command;

use support::fake_github::{CheckRun, CommitSpec, FileSpec, PrSpec};
use support::harness::{Harness, INSTALLATION, REPO};
use support::webhooks;

fn summary(run: &CheckRun) -> String {
    run.summary.clone().unwrap_or_default()
}

fn sha(tag: &str) -> String {
    tag.repeat(20)
}

/// A PR by zed changing `src/lib.rs` to `content`, head `head`: it needs one approval.
fn pr(head: &str, files: Vec<FileSpec>) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        head_sha: head.to_string(),
        commits: vec![CommitSpec::by(head, "zed")],
        files,
        ..PrSpec::default()
    }
}

fn lib(content: &str) -> FileSpec {
    FileSpec::modified("src/lib.rs").with_content(content)
}

/// Moves PR `n` to `head` (commits `commits`, files `files`) and delivers `synchronize` sent
/// by `sender`; returns the settled check on the new head.
async fn push(
    h: &Harness,
    n: u64,
    head: &str,
    commits: Vec<CommitSpec>,
    files: Vec<FileSpec>,
    sender: &str,
) -> CheckRun {
    h.fake.push(REPO, n, head, commits, Some(files));
    let mut event = webhooks::pull_request_event("synchronize", &h.fake, REPO, n, INSTALLATION);
    event["sender"] = h.fake.user_json(sender);
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    h.check_on(head).await.expect("a check on the new head")
}

#[tokio::test]
async fn a_rebase_that_leaves_the_prs_own_changes_alone_keeps_approvals() {
    let h = Harness::start().await;
    let (h1, h2) = (sha("a1"), sha("a2"));
    let n = h.fake.open_pr(REPO, pr(&h1, vec![lib("one")]));
    h.pr_event("opened", n).await;
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));

    // Rebased onto a newer base: new commit, same changes to the same file.
    let run = push(
        &h,
        n,
        &h2,
        vec![CommitSpec::by(&h2, "zed")],
        vec![lib("one")],
        "zed",
    )
    .await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );
    assert!(
        summary(&run)
            .contains("dan: APPROVED on `a1a1a1a` — counts (approved on a1a1a1a, same changes)"),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn any_change_to_a_changed_files_content_makes_approvals_stale() {
    let h = Harness::start().await;
    let (h1, h2) = (sha("b1"), sha("b2"));
    let n = h.fake.open_pr(REPO, pr(&h1, vec![lib("one")]));
    h.pr_event("opened", n).await;
    assert_eq!(
        h.review(n, "dan", "APPROVED").await.conclusion.as_deref(),
        Some("success")
    );
    let run = push(
        &h,
        n,
        &h2,
        vec![CommitSpec::by(&h2, "zed")],
        vec![lib("two")],
        "zed",
    )
    .await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        summary(&run).contains(
            "dan: APPROVED on `b1b1b1b` — ignored: stale (content changed since approved)"
        ),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn a_binary_file_leaves_no_fingerprint_so_approvals_go_stale() {
    let h = Harness::start().await;
    let (h1, h2) = (sha("c1"), sha("c2"));
    let files = || vec![lib("one"), FileSpec::modified("assets/logo.png").binary()];
    let n = h.fake.open_pr(REPO, pr(&h1, files()));
    h.pr_event("opened", n).await;
    assert_eq!(
        h.review(n, "dan", "APPROVED").await.conclusion.as_deref(),
        Some("success")
    );
    let run = push(&h, n, &h2, vec![CommitSpec::by(&h2, "zed")], files(), "zed").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert!(
        summary(&run)
            .contains("dan: APPROVED on `c1c1c1c` — ignored: stale (approved an older commit"),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn an_update_branch_merge_is_not_a_contribution_and_its_clicker_may_approve() {
    let h = Harness::start().await;
    let (h1, merge) = (sha("d1"), sha("d2"));
    let n = h.fake.open_pr(REPO, pr(&h1, vec![lib("one")]));
    h.pr_event("opened", n).await;
    let base_head = h.fake.branch_head(REPO, "main").expect("main");
    // erin clicks "Update branch": GitHub pushes a merge of main as erin, committed by web-flow.
    let commits = vec![CommitSpec::update_branch(&merge, "erin", &h1, &base_head)];
    let run = push(&h, n, &merge, commits, vec![lib("one")], "erin").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "not approved yet"
    );
    let run = h.review(n, "erin", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );
    assert!(summary(&run).contains("erin: APPROVED on `d2d2d2d` — counts"));
}

#[tokio::test]
async fn clicking_update_branch_does_not_excuse_an_earlier_push_whose_head_is_unknown() {
    let h = Harness::start().await;
    let (h1, h2, merge) = (sha("f1"), sha("f2"), sha("f3"));
    let n = h.fake.open_pr(REPO, pr(&h1, vec![lib("one")]));
    h.pr_event("opened", n).await;
    // erin pushes zed's commit; the delivery does not say which head it made.
    h.fake.push(
        REPO,
        n,
        &h2,
        vec![CommitSpec::by(&h2, "zed")],
        Some(vec![lib("two")]),
    );
    let mut event = webhooks::pull_request_event("synchronize", &h.fake, REPO, n, INSTALLATION);
    event["sender"] = h.fake.user_json("erin");
    event["pull_request"]["head"]["sha"] = serde_json::Value::Null;
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    h.settle().await;
    // Then she clicks "Update branch", which alone would not make her a pusher.
    let base_head = h.fake.branch_head(REPO, "main").expect("main");
    let commits = vec![CommitSpec::update_branch(&merge, "erin", &h2, &base_head)];
    push(&h, n, &merge, commits, vec![lib("two")], "erin").await;
    let run = h.review(n, "erin", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert!(
        summary(&run).contains("erin: APPROVED on `f3f3f3f` — ignored: pusher"),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn a_conflict_resolved_differently_makes_the_merge_a_contribution() {
    let h = Harness::start().await;
    let (h1, merge) = (sha("e1"), sha("e2"));
    let n = h.fake.open_pr(REPO, pr(&h1, vec![lib("one")]));
    h.pr_event("opened", n).await;
    assert_eq!(
        h.review(n, "dan", "APPROVED").await.conclusion.as_deref(),
        Some("success")
    );
    let base_head = h.fake.branch_head(REPO, "main").expect("main");
    // The merge's resolution reverts a base change to the PR's file: its content differs.
    let commits = vec![CommitSpec::update_branch(&merge, "erin", &h1, &base_head)];
    let run = push(
        &h,
        n,
        &merge,
        commits,
        vec![lib("one, base change reverted")],
        "erin",
    )
    .await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        summary(&run).contains("stale (content changed since approved)"),
        "{}",
        summary(&run)
    );
    // erin wrote that resolution: she is a contributor now and cannot approve.
    let run = h.review(n, "erin", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        summary(&run).contains("erin: APPROVED on `e2e2e2e` — ignored: contributor"),
        "{}",
        summary(&run)
    );
}

/// `reviewgate evaluate` on a hand-written snapshot; returns (exit code, text output).
fn evaluate(policy_settings: &str, snapshot: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = format!(
        "version = 1\ndefault_level = \"standard\"\npolicy_owners = \"leads\"\n{policy_settings}\n[groups]\nleads = [\"lena\"]\n\n[levels.standard]\napprovals = 1\n"
    );
    std::fs::write(dir.path().join("p.toml"), policy).expect("write");
    std::fs::write(dir.path().join("pr.json"), snapshot).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .current_dir(dir.path())
        .args(["evaluate", "--policy", "p.toml", "--pr", "pr.json"])
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn snapshot(changed_files: u64, fingerprints: &str, commits: &str, reviewer: &str) -> String {
    format!(
        r#"{{"author": "zed", "head_sha": "HEAD222", "changed_files": {changed_files},
            "files": [{{"path": "src/lib.rs"}}],
            "commits": [{commits}],
            "reviews": [{{"user": "{reviewer}", "state": "APPROVED", "commit": "old1111"}}],
            "fingerprints": {{{fingerprints}}}}}"#
    )
}

const ZED: &str = r#"{"sha": "head222", "author": "zed", "committer": "zed"}"#;

#[test]
fn the_evaluator_compares_fingerprints_case_insensitively_and_only_on_a_complete_list() {
    let same = r#""OLD1111": "ABCD", "head222": "abcd""#;
    let (code, text) = evaluate("", &snapshot(1, same, ZED, "dan"));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("counts (approved on old1111, same changes)"),
        "{text}"
    );

    let differ = r#""old1111": "abcd", "head222": "abce""#;
    let (code, text) = evaluate("", &snapshot(1, differ, ZED, "dan"));
    assert_eq!(code, Some(1));
    assert!(
        text.contains("stale (content changed since approved)"),
        "{text}"
    );

    // No fingerprint for the approved head: stale, as always.
    let (code, _) = evaluate("", &snapshot(1, r#""head222": "abcd""#, ZED, "dan"));
    assert_eq!(code, Some(1));
    // An incomplete file list: the head's fingerprint is not trusted.
    let (code, _) = evaluate("", &snapshot(2, same, ZED, "dan"));
    assert_eq!(code, Some(1));
    // The setting turned off.
    let off = "\n[settings]\nkeep_approvals_when_unchanged = false\n";
    let (code, _) = evaluate(off, &snapshot(1, same, ZED, "dan"));
    assert_eq!(code, Some(1));
}

#[test]
fn an_update_branch_merge_needs_both_fingerprints_to_be_no_contribution() {
    let merge = r#"{"sha": "head222", "author": "erin", "committer": "web-flow", "parents": ["old1111", "base999"]}"#;
    let commits = format!("{ZED}, {merge}").replace(
        r#""sha": "head222", "author": "zed""#,
        r#""sha": "old1111", "author": "zed""#,
    );
    // erin's approval on the merge itself (the head) counts: the merge changed nothing of
    // the PR's own.
    let equal = r#""old1111": "abcd", "head222": "abcd""#;
    let snap = |fps: &str| {
        snapshot(1, fps, &commits, "erin")
            .replace(r#""commit": "old1111""#, r#""commit": "head222""#)
    };
    let (code, text) = evaluate("", &snap(equal));
    assert_eq!(code, Some(0), "{text}");
    // Without the first parent's fingerprint, the merge is a contribution.
    let (code, text) = evaluate("", &snap(r#""head222": "abcd""#));
    assert_eq!(code, Some(1));
    assert!(text.contains("contributor"), "{text}");
}
