//! Nothing lost across crashes, and every GitHub fault handled: the check never passes
//! wrongly, no duplicate runs, recovery when GitHub recovers, and a metric that counts it.

mod support;

use std::time::{Duration, Instant};

use http::Method;
use support::fake_github::{CheckRun, Fault, FaultKind, FileSpec, PrSpec};
use support::harness::*;
use support::process::ServerProcess;
use support::webhooks;

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

fn head(fake: &support::fake_github::FakeGitHub, n: u64) -> String {
    fake.pr_json(REPO, n)["head"]["sha"]
        .as_str()
        .expect("sha")
        .to_string()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn conclusion(run: Option<CheckRun>) -> Option<String> {
    run.and_then(|r| r.conclusion)
}

#[tokio::test]
async fn after_kill_9_a_restart_brings_every_open_pr_right_without_new_webhooks() {
    let fake = fake_world().await;
    // A: approved and green, then its approval is dismissed while the App is down.
    let a = fake.open_pr(REPO, pr(&["src/a.rs"]));
    fake.review(REPO, a, "dan", "APPROVED", None);
    let first = ServerProcess::start(
        &fake,
        &[
            ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
            ("REVIEWGATE_DEBOUNCE_MS", "50"),
        ],
    )
    .await;
    first
        .deliver(
            "pull_request",
            &webhooks::pull_request_event("opened", &fake, REPO, a, INSTALLATION),
        )
        .await;
    wait_for("A's green check", Duration::from_secs(20), || {
        conclusion(fake.latest_check_run(REPO, &head(&fake, a), CHECK)).as_deref()
            == Some("success")
    })
    .await;
    first.stop();

    // A server that holds everything in its queue (a long debounce), then dies with it.
    let second = ServerProcess::start(
        &fake,
        &[
            ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
            ("REVIEWGATE_DEBOUNCE_MS", "60000"),
        ],
    )
    .await;
    let review = fake.latest_review_by(REPO, a, "dan").expect("review")["id"]
        .as_u64()
        .expect("id");
    fake.dismiss_review(REPO, a, review);
    let dismissed = webhooks::pull_request_review_event(
        "dismissed",
        &fake,
        REPO,
        a,
        INSTALLATION,
        "dan",
        "DISMISSED",
    );
    assert_eq!(second.deliver("pull_request_review", &dismissed).await, 202);
    // B: marked ready for review, needs an approval. C: approved. Both queued (debounced),
    // never evaluated. (`opened` would be evaluated at once, without the debounce.)
    let b = fake.open_pr(REPO, pr(&["src/b.rs"]));
    assert_eq!(
        second
            .deliver(
                "pull_request",
                &webhooks::pull_request_event("ready_for_review", &fake, REPO, b, INSTALLATION)
            )
            .await,
        202
    );
    let c = fake.open_pr(REPO, pr(&["ledger/c.rs"]));
    fake.review(REPO, c, "carol", "APPROVED", None);
    fake.review(REPO, c, "dan", "APPROVED", None);
    let approved = webhooks::pull_request_review_event(
        "submitted",
        &fake,
        REPO,
        c,
        INSTALLATION,
        "dan",
        "APPROVED",
    );
    assert_eq!(second.deliver("pull_request_review", &approved).await, 202);
    // D: opened while the App was down; its webhook never arrived anywhere.
    let d = fake.open_pr(REPO, pr(&["ledger/d.rs"]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    second.kill9();
    assert_eq!(
        conclusion(fake.latest_check_run(REPO, &head(&fake, a), CHECK)).as_deref(),
        Some("success"),
        "stale green before restart"
    );
    for n in [b, c, d] {
        assert!(
            fake.latest_check_run(REPO, &head(&fake, n), CHECK)
                .is_none(),
            "nothing was written for #{n}"
        );
    }

    // Restart: the start-up sweep must repair everything without any webhook.
    let third = ServerProcess::start(&fake, &[("REVIEWGATE_RECONCILE_INTERVAL", "10m")]).await;
    let want = [
        (a, "failure"),
        (b, "failure"),
        (c, "success"),
        (d, "failure"),
    ];
    wait_for(
        "every PR's check to be right",
        Duration::from_secs(30),
        || {
            want.iter().all(|(n, c)| {
                conclusion(fake.latest_check_run(REPO, &head(&fake, *n), CHECK)).as_deref()
                    == Some(*c)
            })
        },
    )
    .await;
    for (n, _) in want {
        let runs = fake
            .check_runs(REPO)
            .into_iter()
            .filter(|r| r.head_sha == head(&fake, n) && r.name == CHECK)
            .count();
        assert_eq!(runs, 1, "one run on #{n}'s head");
    }
    // A second sweep finds nothing to do: every run records the state it judged.
    let text = reqwest::get(format!("{}/metrics", third.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("reviewgate_reconcile_sweeps_total{result=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("reviewgate_reconcile_queued_total 4"),
        "{text}"
    );
    third.stop();
}

#[tokio::test]
async fn a_sweep_leaves_current_runs_alone_and_respects_its_quota_share() {
    let fake = fake_world().await;
    let h = Harness::with(fake.clone(), &[]).await;
    let n = h.fake.open_pr(REPO, pr(&["src/a.rs"]));
    h.pr_event("opened", n).await;
    let app = h.server.state.app.clone();
    // A run written in the same second the PR changed cannot prove it saw the change: the
    // first sweep evaluates the PR once more, after which it is settled. (On a slow machine
    // the first read may come seconds later and prove it; then there is nothing to queue.)
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let sweep = app.reconcile(0.25).await.expect("sweep");
    assert!(sweep.queued <= 1, "{}", sweep.queued);
    h.settle().await;
    h.fake.clear_requests();
    let sweep = app.reconcile(0.25).await.expect("sweep");
    assert_eq!(
        (
            sweep.installations,
            sweep.repositories,
            sweep.pull_requests,
            sweep.queued
        ),
        (1, 1, 1, 0)
    );
    assert!(
        h.fake.requests().iter().all(|r| r.method == Method::GET),
        "a sweep of current PRs only reads"
    );

    // With almost no quota left, the sweep stops instead of spending it.
    let m = h.fake.open_pr(REPO, pr(&["src/b.rs"]));
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    h.fake.set_rate_limit(INSTALLATION, 12, reset);
    let sweep = app.reconcile(0.25).await.expect("sweep");
    assert_eq!(sweep.stopped_for_quota, 1);
    assert_eq!(
        sweep.queued, 0,
        "3 requests allowed: not enough to evaluate #{m}"
    );
}

/// Each fault GitHub really produces, during the re-evaluation that must turn a green check
/// red (a dismissal). Whatever happens, the check never stays or turns green wrongly, no run
/// is duplicated, the right answer arrives once GitHub behaves, and a metric counts the fault.
#[tokio::test]
async fn every_fault_ends_in_the_right_check_and_is_counted() {
    struct Case {
        name: &'static str,
        method: Method,
        path: &'static str,
        kind: FaultKind,
        times: usize,
        metric: &'static str,
    }
    let cases = vec![
        Case {
            name: "5xx",
            method: Method::GET,
            path: "/reviews",
            kind: FaultKind::Status(502),
            times: 2,
            metric: "reviewgate_github_retries_total{reason=\"server_error\"}",
        },
        Case {
            name: "connection reset",
            method: Method::GET,
            path: "/reviews",
            kind: FaultKind::Reset,
            times: 2,
            metric: "reviewgate_github_retries_total{reason=\"connection\"}",
        },
        Case {
            name: "slow past the timeout",
            method: Method::GET,
            path: "/reviews",
            kind: FaultKind::Delay(Duration::from_secs(3)),
            times: 1,
            metric: "reviewgate_github_retries_total{reason=\"timeout\"}",
        },
        Case {
            name: "secondary rate limit",
            method: Method::GET,
            path: "/reviews",
            kind: FaultKind::SecondaryRateLimit {
                retry_after_secs: 1,
            },
            times: 1,
            metric: "reviewgate_github_retries_total{reason=\"secondary_rate_limit\"}",
        },
        Case {
            name: "429",
            method: Method::GET,
            path: "/reviews",
            kind: FaultKind::TooManyRequests {
                retry_after_secs: 1,
            },
            times: 1,
            metric: "reviewgate_github_retries_total{reason=\"secondary_rate_limit\"}",
        },
        Case {
            name: "truncated page",
            method: Method::GET,
            path: "/reviews",
            kind: FaultKind::TruncatedBody,
            times: 1,
            metric: "reviewgate_github_retries_total{reason=\"malformed\"}",
        },
        Case {
            name: "5xx on the check-run write",
            method: Method::PATCH,
            path: "/check-runs/",
            kind: FaultKind::Status(500),
            times: 2,
            metric: "reviewgate_github_retries_total{reason=\"server_error\"}",
        },
    ];
    for case in cases {
        let h = Harness::start().await;
        let n = h.fake.open_pr(REPO, pr(&["src/a.rs"]));
        let run = h.review(n, "dan", "APPROVED").await;
        assert_eq!(run.conclusion.as_deref(), Some("success"), "{}", case.name);
        h.fake.inject(Fault {
            method: Some(case.method.clone()),
            path_contains: case.path.into(),
            times: case.times,
            kind: case.kind.clone(),
        });
        assert!(h.dismiss(n, "dan").await.is_success(), "{}", case.name);
        let sha = h.head_sha(n);
        wait_for(case.name, Duration::from_secs(30), || {
            conclusion(h.fake.latest_check_run(REPO, &sha, CHECK)).as_deref() == Some("failure")
        })
        .await;
        h.settle().await;
        let run = h.fake.latest_check_run(REPO, &sha, CHECK).expect("run");
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{}: {:?}",
            case.name,
            run.title
        );
        assert_eq!(
            run.title.as_deref(),
            Some("Needs 1 more approval"),
            "{}: recovered to the real verdict",
            case.name
        );
        let runs = h
            .fake
            .check_runs(REPO)
            .into_iter()
            .filter(|r| r.name == CHECK)
            .count();
        assert_eq!(runs, 1, "{}: no duplicate runs", case.name);
        // Every update in the run's history after the fault was a failure: it never went green again.
        let after_green = run
            .history
            .iter()
            .skip(1)
            .filter(|b| b["conclusion"] == "success")
            .count();
        assert_eq!(after_green, 0, "{}: {:?}", case.name, run.history);
        let metrics = h.get("/metrics").await.text().await.unwrap();
        let counted = metrics
            .lines()
            .any(|l| l.starts_with(case.metric) && !l.ends_with(" 0"));
        assert!(
            counted,
            "{}: {} not counted in\n{metrics}",
            case.name, case.metric
        );
    }
}

#[tokio::test]
async fn a_deleted_pr_is_left_alone_and_counted() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/a.rs"]));
    h.pr_event("opened", n).await;
    let payload = webhooks::pull_request_review_event(
        "submitted",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
        "dan",
        "APPROVED",
    );
    h.fake.delete_pr(REPO, n);
    assert!(
        h.deliver("pull_request_review", &payload)
            .await
            .status()
            .is_success()
    );
    h.settle().await;
    assert_eq!(h.evaluations("skipped"), 1);
    let runs: Vec<_> = h.fake.check_runs(REPO);
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].conclusion.as_deref(),
        Some("failure"),
        "never turned green"
    );
    let metrics = h.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("reviewgate_github_requests_total{endpoint=\"GET /repos/{owner}/{repo}/pulls/{number}\",status=\"404\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_rotated_webhook_secret_is_accepted_alongside_the_new_one() {
    let h = Harness::with(
        fake_world().await,
        &[("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", "the-old-secret")],
    )
    .await;
    let n = h.fake.open_pr(REPO, pr(&["src/a.rs"]));
    let body = serde_json::to_vec(&webhooks::pull_request_event(
        "opened",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
    ))
    .unwrap();
    for (secret, want) in [(SECRET, 202), ("the-old-secret", 202), ("another", 401)] {
        let r = h
            .http
            .post(format!("{}/webhook", h.base))
            .header("x-github-event", "pull_request")
            .header("x-hub-signature-256", webhooks::sign(secret, &body))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{secret}");
    }
}
