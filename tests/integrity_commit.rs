//! Gate integrity, the commit: a check run belongs to a commit, a verdict to a pull request.
//! Each test here is an attack that turned a check green on the App before these defences
//! (docs/security.md names them), run through the real router against the fake GitHub.

mod support;

use std::time::{Duration, Instant};

use http::Method;
use support::fake_github::{CheckRun, CommitSpec, Fault, FaultKind, FileSpec, PrSpec};
use support::harness::*;
use support::webhooks;

/// A branch whose policy anyone with write access satisfies alone.
const WEAK_POLICY: &str = r#"
version = 1
default_level = "anyone"
policy_owners = "owners"
[groups]
owners = ["lena"]
[levels.anyone]
approvals = 1
"#;

fn pr_into(base: &str, author: &str, head_sha: &str, files: &[&str]) -> PrSpec {
    PrSpec {
        author: author.into(),
        base: base.into(),
        head_sha: head_sha.into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

/// A branch `name` created from main, without the policy file.
fn branch_without_policy(h: &Harness, name: &str) {
    h.fake.remove_file(REPO, name, POLICY_PATH);
}

fn conclusion(run: &Option<CheckRun>) -> Option<&str> {
    run.as_ref().and_then(|r| r.conclusion.as_deref())
}

fn summary(run: &CheckRun) -> &str {
    run.summary.as_deref().unwrap_or("")
}

async fn deliver_opened(h: &Harness, n: u64) {
    let event = webhooks::pull_request_event("opened", &h.fake, REPO, n, INSTALLATION);
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
}

#[tokio::test]
async fn a_second_pr_with_the_same_head_into_a_weaker_branch_cannot_turn_the_check_green() {
    let h = Harness::start().await;
    h.fake.set_file(REPO, "sandbox", POLICY_PATH, WEAK_POLICY);
    let head = "a1".repeat(20);
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", &head, &["ledger/post.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "needs a senior");

    // A fork contributor opens a PR with the very same head into a branch with a weak policy,
    // and gets it approved there.
    let m = h.fake.open_pr(
        REPO,
        PrSpec {
            head_repo: "mallory/ledger".into(),
            head_ref: "innocent".into(),
            ..pr_into("sandbox", "mallory", &head, &["ledger/post.rs"])
        },
    );
    let run = h.review(m, "dan", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "the commit still fails for #{n}: {}",
        summary(&run)
    );
    assert_eq!(
        run.title.as_deref(),
        Some("#1 into main: Needs 1 more approval from payments, 1 more approval from seniors")
    );
    for want in [
        "This commit is the head of 2 open pull requests",
        "- ⛔ #1 into `main`: Needs 1 more approval from payments",
        "- ✅ #2 into `sandbox`: Approved by dan",
        "## #1 into `main`",
    ] {
        assert!(
            summary(&run).contains(want),
            "{want:?} in\n{}",
            summary(&run)
        );
    }

    // Once #1 is approved on its own terms, the commit passes for both.
    let run = h.review(n, "carol", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );
    assert_eq!(
        run.title.as_deref(),
        Some("Approved for all 2 pull requests on this commit")
    );

    // A third PR with that head into a branch without any policy fails the commit again.
    branch_without_policy(&h, "scratch");
    let k = h
        .fake
        .open_pr(REPO, pr_into("scratch", "mallory", &head, &["src/x.rs"]));
    let run = h.pr_event("opened", k).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("#3 into scratch: No review policy on scratch")
    );
    let runs = h.fake.check_runs(REPO);
    assert_eq!(
        runs.iter().filter(|r| r.head_sha == head).count(),
        1,
        "one run on the commit, updated in place"
    );
}

#[tokio::test]
async fn a_pr_into_a_branch_without_a_policy_fails_naming_where_the_policy_belongs() {
    let h = Harness::start().await;
    branch_without_policy(&h, "scratch");
    let n = h
        .fake
        .open_pr(REPO, pr_into("scratch", "zed", "", &["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title.as_deref(), Some("No review policy on scratch"));
    assert!(
        summary(&run).contains(&format!("`{POLICY_PATH}`")) && summary(&run).contains("`scratch`"),
        "{}",
        summary(&run)
    );

    // The same for a merge group into that branch.
    let group_sha = "9".repeat(40);
    let group = webhooks::merge_group_checks_requested(
        &h.fake,
        REPO,
        "scratch",
        n,
        &group_sha,
        INSTALLATION,
    );
    assert!(h.deliver("merge_group", &group).await.status().is_success());
    let run = h.check_on(&group_sha).await.expect("a run on the group");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title.as_deref(), Some("No review policy on scratch"));
}

#[tokio::test]
async fn with_skip_a_pr_without_a_policy_gets_no_run_and_never_leaves_one_passing() {
    let h = Harness::with(fake_world().await, &[("REVIEWGATE_WHEN_NO_POLICY", "skip")]).await;
    branch_without_policy(&h, "scratch");
    let ungated = h
        .fake
        .open_pr(REPO, pr_into("scratch", "zed", "", &["src/lib.rs"]));
    deliver_opened(&h, ungated).await;
    assert!(
        h.check_on(&h.head_sha(ungated)).await.is_none(),
        "nothing is written for a PR into a branch without a policy"
    );

    // An approved PR into main passes; retargeted to the branch without a policy, no PR is
    // left to cover the commit, and the run must not go on passing.
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", "", &["src/lib.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    h.fake.set_base(REPO, n, "scratch");
    let edited = webhooks::pull_request_base_changed(&h.fake, REPO, n, "main", INSTALLATION);
    assert!(
        h.deliver("pull_request", &edited)
            .await
            .status()
            .is_success()
    );
    let run = h.check_on(&h.head_sha(n)).await;
    assert_eq!(conclusion(&run), Some("failure"), "{run:?}");
    assert_eq!(
        run.and_then(|r| r.title).as_deref(),
        Some("No review policy on scratch")
    );
}

#[tokio::test]
async fn a_retargeted_pr_is_judged_at_once_by_its_new_base() {
    // A debounce far longer than the test waits: only the base change skips it.
    let h = Harness::with(fake_world().await, &[("REVIEWGATE_DEBOUNCE_MS", "20000")]).await;
    h.fake.set_file(REPO, "sandbox", POLICY_PATH, WEAK_POLICY);
    let n = h
        .fake
        .open_pr(REPO, pr_into("sandbox", "zed", "", &["ledger/post.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let head = h.head_sha(n);
    let retarget =
        |from: &str| webhooks::pull_request_base_changed(&h.fake, REPO, n, from, INSTALLATION);
    assert!(
        h.deliver("pull_request", &retarget("main"))
            .await
            .status()
            .is_success()
    );
    let run = wait_for_conclusion(&h, &head, "success", Duration::from_secs(10)).await;
    assert!(
        summary(&run).contains("into `sandbox`"),
        "{}",
        summary(&run)
    );

    // main → sandbox → main: back into main, it needs a senior again, at once.
    h.fake.set_base(REPO, n, "main");
    let started = Instant::now();
    assert!(
        h.deliver("pull_request", &retarget("sandbox"))
            .await
            .status()
            .is_success()
    );
    let run = wait_for_conclusion(&h, &head, "failure", Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "re-evaluated after {:?}",
        started.elapsed()
    );
    assert!(summary(&run).contains("into `main`"), "{}", summary(&run));
}

/// Polls the fake (not the App's queue, which holds debounced work) until the latest run on
/// `sha` has `want`, or panics after `limit`.
async fn wait_for_conclusion(h: &Harness, sha: &str, want: &str, limit: Duration) -> CheckRun {
    let deadline = Instant::now() + limit;
    loop {
        let run = h.fake.latest_check_run(REPO, sha, CHECK);
        if conclusion(&run) == Some(want) {
            return run.expect("run");
        }
        assert!(
            Instant::now() < deadline,
            "no {want} run on {sha} within {limit:?}: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn prs_whose_head_is_already_on_the_default_branch_are_all_found() {
    // GitHub leaves open PRs out of a commit's PR list once the commit is on the default
    // branch; the App must then look at the repository's open PRs.
    let h = Harness::start().await;
    h.fake.set_file(REPO, "sandbox", POLICY_PATH, WEAK_POLICY);
    branch_without_policy(&h, "scratch");
    let head = h.fake.branch_head(REPO, "main").expect("main");
    let n = h.fake.open_pr(
        REPO,
        PrSpec {
            head_ref: "main".into(),
            ..pr_into("sandbox", "zed", &head, &["src/lib.rs"])
        },
    );
    let m = h.fake.open_pr(
        REPO,
        PrSpec {
            head_ref: "main".into(),
            ..pr_into("scratch", "zed", &head, &["src/lib.rs"])
        },
    );
    let listed = h.fake.pr_refs_for_sha(REPO, &head);
    assert_eq!(listed.len(), 2, "both PRs have that head");
    h.fake.clear_requests();
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert!(
        summary(&run).contains(&format!("#{m} into `scratch`")),
        "{}",
        summary(&run)
    );
    assert!(
        h.fake
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/pulls") && r.query.contains("state=open")),
        "the open pull requests were read"
    );
}

#[tokio::test]
async fn a_head_that_moves_while_it_is_judged_never_gets_the_new_heads_verdict() {
    let h = Harness::start().await;
    let first = "f1".repeat(20);
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", &first, &["ledger/post.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let run = h.pr_event("opened", n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "the ledger needs a senior"
    );

    // The next read of the PR is slow to arrive (it says: head `first`); meanwhile the author
    // pushes a head that touches only src/. Judged with the new files, the old head's
    // approval by dan would pass.
    h.fake.inject(Fault::once(
        Some(Method::GET),
        &format!("/repos/{REPO}/pulls/{n}"),
        FaultKind::Delay(Duration::from_millis(1500)),
    ));
    let pr_path = format!("/repos/{REPO}/pulls/{n}");
    let pr_reads = || {
        h.fake
            .requests()
            .iter()
            .filter(|r| r.method == Method::GET && r.path == pr_path)
            .count()
    };
    let before = pr_reads();
    let event = webhooks::pull_request_event("synchronize", &h.fake, REPO, n, INSTALLATION);
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    // Push while that slow read is on its way (the fake records a request before answering),
    // not after a guessed sleep that a slow machine could make land after it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pr_reads() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the PR was not read again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = "f2".repeat(20);
    h.fake.push(
        REPO,
        n,
        &second,
        vec![CommitSpec::by(&second, "zed")],
        Some(vec![FileSpec::modified("src/lib.rs")]),
    );
    h.settle().await;
    for run in h.fake.check_runs(REPO) {
        if run.head_sha == first {
            for body in &run.history {
                assert_ne!(
                    body["conclusion"], "success",
                    "the old head was written green from the new head's files"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_pass_that_cannot_be_replaced_is_retried_until_it_is() {
    let h = Harness::start().await;
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", "", &["src/lib.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));

    // The approval is dismissed, and GitHub refuses the next write of the run (422): a
    // non-transient answer that used to end the job, leaving the pass in place.
    h.fake.inject(Fault::once(
        Some(Method::PATCH),
        "/check-runs/",
        FaultKind::Status(422),
    ));
    assert!(h.dismiss(n, "dan").await.is_success());
    let head = h.head_sha(n);
    let run = wait_for_conclusion(&h, &head, "failure", Duration::from_secs(30)).await;
    assert_eq!(run.title.as_deref(), Some("Needs 1 more approval"));
    let metrics = h.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("reviewgate_check_write_failures_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_summary_over_the_byte_limit_is_cut_on_a_character_boundary_and_written() {
    // 1500 reviewers with long logins make a summary of about 100 KB; it holds multi-byte
    // characters (✅), so cut to 65,535 characters it would still be over 65,535 bytes.
    let h = Harness::start().await;
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", "", &["src/lib.rs"]));
    for i in 0..1500 {
        let login = format!("a-reviewer-with-a-rather-long-login-{i:04}");
        h.fake.review(REPO, n, &login, "COMMENTED", None);
    }
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let text = summary(&run);
    assert!(text.len() <= 65_535, "{} bytes", text.len());
    assert!(text.len() > 60_000, "kept what fits: {} bytes", text.len());
    // The explanation is cut; the decision record's line still ends the summary.
    let (explanation, record) = text.rsplit_once("\n\n").expect("a last paragraph");
    assert!(
        explanation.ends_with("for the whole explanation)"),
        "says it was cut"
    );
    assert!(record.starts_with("Decision record "), "{record}");
}

#[tokio::test]
async fn an_impostors_run_of_the_same_name_is_never_taken_for_ours() {
    let h = Harness::start().await;
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", "", &["src/lib.rs"]));
    let head = h.head_sha(n);
    h.fake
        .seed_foreign_check_run(REPO, 9999, CHECK, &head, "success");
    h.pr_event("opened", n).await;
    let ours: Vec<CheckRun> = h
        .fake
        .check_runs(REPO)
        .into_iter()
        .filter(|r| r.head_sha == head && r.app_id == APP_ID)
        .collect();
    assert_eq!(ours.len(), 1, "the App wrote its own run");
    assert_eq!(ours[0].conclusion.as_deref(), Some("failure"));
    assert!(
        !h.fake
            .requests()
            .iter()
            .any(|r| r.method == Method::PATCH && r.status == 403),
        "the impostor's run was never written to"
    );
}

#[tokio::test]
async fn the_sweep_notices_a_commits_pull_requests_changed_without_a_webhook() {
    let h = Harness::start().await;
    branch_without_policy(&h, "scratch");
    let head = "5e".repeat(20);
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", &head, &["src/lib.rs"]));
    let m = h
        .fake
        .open_pr(REPO, pr_into("scratch", "mallory", &head, &["src/lib.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "#{m} has no policy"
    );

    // GitHub's timestamps have whole seconds: once both PRs' `updated_at` is 2 s old, an
    // evaluation records it, and the run is current for the sweep.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    h.pr_event("ready_for_review", n).await;
    let sweep = h.server.state.app.reconcile(1.0).await.expect("sweep");
    assert_eq!(sweep.queued, 0, "current: {sweep:?}");

    // The spurious PR is closed, and its webhook is lost: the next sweep sees that the run
    // stands for a PR that is gone and judges the commit again.
    h.fake.close_pr(REPO, m);
    let sweep = h.server.state.app.reconcile(1.0).await.expect("sweep");
    assert_eq!(sweep.queued, 1, "{sweep:?}");
    let run = h.check_on(&head).await.expect("run");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );
    let sweep = h.server.state.app.reconcile(1.0).await.expect("sweep");
    assert_eq!(sweep.queued, 0, "current again: {sweep:?}");
}

#[tokio::test]
async fn a_pass_earned_by_another_pr_does_not_stand_while_a_pr_keeps_changing() {
    // #2 into a weak branch is approved: its head's run passes. #1 into main, opened with the
    // same head, needs a senior; #2 is then edited without pause, so no evaluation ever sees
    // the commit's PRs hold still. The inherited pass must not stand meanwhile.
    let h = Harness::start().await;
    h.fake.set_file(REPO, "sandbox", POLICY_PATH, WEAK_POLICY);
    let head = "7e".repeat(20);
    let m = h.fake.open_pr(
        REPO,
        pr_into("sandbox", "mallory", &head, &["ledger/post.rs"]),
    );
    let run = h.review(m, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));

    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", &head, &["ledger/post.rs"]));
    h.fake.make_restless(REPO, m);
    deliver_opened(&h, n).await;
    let run = wait_for_conclusion(&h, &head, "failure", Duration::from_secs(10)).await;
    assert_eq!(
        run.title.as_deref(),
        Some("A pull request changed while it was judged")
    );
}

#[tokio::test]
async fn many_prs_sharing_a_head_fail_the_commit_without_judging_each() {
    let h = Harness::start().await;
    let head = "8a".repeat(20);
    let prs: Vec<u64> = (0..11)
        .map(|i| {
            h.fake.open_pr(
                REPO,
                PrSpec {
                    head_ref: format!("copy-{i}"),
                    ..pr_into("main", "mallory", &head, &["src/lib.rs"])
                },
            )
        })
        .collect();
    h.fake.clear_requests();
    let run = h.pr_event("opened", prs[0]).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("11 open pull requests share this commit")
    );
    let reads = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/pulls/"))
        .count();
    assert!(reads <= 3, "{reads} reads of pull requests");
}

#[tokio::test]
async fn a_tag_named_like_the_base_branch_cannot_choose_the_policy() {
    // git resolves a bare name to a tag before a branch: a tag `main` holding a weak policy
    // must not be what judges PRs into the branch `main`.
    let h = Harness::start().await;
    h.fake.set_tag_file(REPO, "main", POLICY_PATH, WEAK_POLICY);
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", "", &["ledger/post.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert!(summary(&run).contains("path rule"), "{}", summary(&run));
}

#[tokio::test]
async fn one_repository_github_will_not_list_does_not_stop_the_sweep() {
    let h = Harness::start().await;
    h.fake.add_repo(INSTALLATION, "acme/aaa", "main");
    let n = h
        .fake
        .open_pr(REPO, pr_into("main", "zed", "", &["src/lib.rs"]));
    h.fake.inject(Fault::once(
        Some(Method::GET),
        "/repos/acme/aaa/pulls",
        FaultKind::NotFound,
    ));
    let sweep = h.server.state.app.reconcile(1.0).await.expect("sweep");
    assert_eq!(sweep.repositories, 2, "{sweep:?}");
    assert_eq!(
        sweep.queued, 1,
        "acme/ledger's PR is still found: {sweep:?}"
    );
    let run = h.check_on(&h.head_sha(n)).await;
    assert_eq!(conclusion(&run), Some("failure"));
}
