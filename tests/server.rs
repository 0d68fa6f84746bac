//! The real App over real HTTP on loopback, against the fake GitHub: webhooks in, check runs
//! out, with the scenarios a merge gate must get right.

mod support;

use std::time::Duration;

use http::Method;
use support::fake_github::{CommitSpec, Fault, FaultKind, FileSpec, PrSpec};
use support::harness::*;
use support::webhooks;

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

#[tokio::test]
async fn open_then_approvals_then_push_then_dismissal() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));

    let run = h.pr_event("opened", n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "a new PR is not passing"
    );
    assert_eq!(run.title.as_deref(), Some("Needs 1 more approval"));
    assert!(
        run.summary
            .as_deref()
            .unwrap_or("")
            .contains("default level"),
        "{:?}",
        run.summary
    );

    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title.as_deref(), Some("Approved by dan"));
    let first_head = h.head_sha(n);

    // A new push: dan's approval is now stale, the new head is not passing.
    h.fake.push(
        REPO,
        n,
        "1111111111111111111111111111111111111111",
        vec![CommitSpec::by(
            "1111111111111111111111111111111111111111",
            "zed",
        )],
        None,
    );
    let run = h.pr_event("synchronize", n).await;
    assert_eq!(h.head_sha(n), "1111111111111111111111111111111111111111");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.summary
            .as_deref()
            .unwrap_or("")
            .contains("approved an older commit"),
        "{:?}",
        run.summary
    );

    // Approved again, then the approval is dismissed: back to not passing, on the same run.
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert!(h.dismiss(n, "dan").await.is_success());
    let run = h.check_on(&h.head_sha(n)).await.expect("check");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "a dismissal takes the approval away"
    );

    // One run per commit, updated in place: never a duplicate.
    let runs = h.fake.check_runs(REPO);
    for sha in [
        first_head.as_str(),
        "1111111111111111111111111111111111111111",
    ] {
        assert_eq!(
            runs.iter()
                .filter(|r| r.head_sha == sha && r.name == CHECK)
                .count(),
            1,
            "one run on {sha}"
        );
    }
    assert!(runs.iter().all(|r| r.app_id == APP_ID));
}

#[tokio::test]
async fn sensitive_paths_need_a_senior_who_can_come_through_a_team() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["ledger/post.rs"]));
    let run = h.pr_event("opened", n).await;
    assert_eq!(
        run.title.as_deref(),
        Some("Needs 1 more approval from payments, 1 more approval from seniors")
    );

    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("Needs 1 more approval from payments, 1 more approval from seniors")
    );
    let summary = run.summary.unwrap_or_default();
    assert!(
        summary.contains("could unblock: alice, carol, sam"),
        "{summary}"
    );
    assert!(summary.contains("`ledger/post.rs`"), "{summary}");

    // carol is a senior through @acme/senior-engineers and in payments.
    let run = h.review(n, "carol", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
}

#[tokio::test]
async fn a_pr_editing_the_policy_needs_a_lead_and_is_judged_by_the_base_policy() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&[POLICY_PATH]));
    // The PR's own copy of the policy would let anything through; it must not be read.
    let head_ref = h.fake.pr_json(REPO, n)["head"]["ref"]
        .as_str()
        .expect("ref")
        .to_string();
    h.fake.set_file(REPO, &head_ref, POLICY_PATH, "version = 1\ndefault_level = \"x\"\npolicy_owners = \"g\"\n[groups]\ng = [\"zed\"]\n[levels.x]\napprovals = 1\n");

    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("Needs 1 more approval from leads")
    );
    let run = h.review(n, "lena", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
}

#[tokio::test]
async fn an_invalid_base_policy_fails_the_check_naming_line_and_column() {
    let fake = fake_world().await;
    fake.set_file(
        REPO,
        "main",
        POLICY_PATH,
        &POLICY.replace("level = \"critical\"", "level = \"urgent\""),
    );
    let h = Harness::with(fake, &[]).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("Invalid review policy: 1 error in .github/review-policy.toml:22:9")
    );
    assert!(run.summary.unwrap_or_default().contains(
        ".github/review-policy.toml:22:9: [[paths]] entry 1 (\"ledger\") names level `urgent`"
    ));
    assert_eq!(h.evaluations("invalid_policy"), 1);
}

#[tokio::test]
async fn a_truncated_file_list_is_not_passing() {
    let h = Harness::start().await;
    let files: Vec<String> = (0..3500).map(|i| format!("docs/page{i}.md")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let n = h.fake.open_pr(REPO, pr(&refs));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let run = h.pr_event("opened", n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "one approval would do if the list were complete"
    );
    let summary = run.summary.unwrap_or_default();
    assert!(
        summary.contains("GitHub listed 3000 of the 3500 files"),
        "{summary}"
    );
    // Distinct pages: on a loaded machine a slow page may be retried, which is fine.
    let pages: std::collections::BTreeSet<String> = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/files"))
        .filter_map(|r| r.query_param("page"))
        .collect();
    assert_eq!(
        pages.len(),
        30,
        "100 files a page, up to GitHub's 3000: {pages:?}"
    );
}

#[tokio::test]
async fn a_bad_signature_gets_401_and_costs_nothing() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.clear_requests();
    let body = serde_json::to_vec(&webhooks::pull_request_event(
        "opened",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
    ))
    .unwrap();
    let cases: Vec<Option<String>> = vec![
        None,
        Some("sha256=00".into()),
        Some(webhooks::sign("wrong-secret", &body)),
        Some("garbage".into()),
    ];
    for sig in cases {
        let mut req = h
            .http
            .post(format!("{}/webhook", h.base))
            .header("x-github-event", "pull_request")
            .body(body.clone());
        if let Some(s) = &sig {
            req = req.header("x-hub-signature-256", s);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{sig:?}");
    }
    h.settle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.fake.requests().is_empty(),
        "no GitHub calls: {:?}",
        h.fake.requests()
    );
    assert!(h.fake.check_runs(REPO).is_empty());
}

#[tokio::test]
async fn a_burst_of_reviews_costs_at_most_three_evaluations() {
    // A debounce longer than the burst takes on a loaded machine (50 signed deliveries, each
    // batch an fsync): deliveries arriving during an evaluation would each add one.
    let h = Harness::with(fake_world().await, &[("REVIEWGATE_DEBOUNCE_MS", "3000")]).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let payload = webhooks::pull_request_review_event(
        "submitted",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
        "dan",
        "APPROVED",
    );
    let body = serde_json::to_vec(&payload).unwrap();
    let sends = (0..50).map(|_| h.deliver_raw("pull_request_review", &body));
    for r in futures_join_all(sends).await {
        assert!(r.status().is_success());
    }
    let run = h.check_on(&h.head_sha(n)).await.expect("check");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let evaluations = h.evaluations("approved") + h.evaluations("not_approved");
    assert!(
        (1..=3).contains(&evaluations),
        "{evaluations} evaluations for 50 events"
    );
    let pr_reads = h
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == format!("/repos/{REPO}/pulls/{n}"))
        .count();
    assert!(pr_reads <= 3, "{pr_reads} reads of the PR");
}

/// Awaits futures concurrently without an extra crate.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let mut out = Vec::new();
    let handles: Vec<_> = futures.into_iter().collect();
    // Drive them together on this task.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for r in results {
        out.extend(r);
    }
    out
}

#[tokio::test]
async fn transient_502s_end_in_the_right_result_without_duplicate_runs() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    h.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: format!("/pulls/{n}"),
        times: 3,
        kind: FaultKind::Status(502),
    });
    h.fake.inject(Fault {
        method: Some(Method::POST),
        path_contains: "/check-runs".into(),
        times: 1,
        kind: FaultKind::Status(502),
    });
    h.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: "/reviews".into(),
        times: 1,
        kind: FaultKind::Reset,
    });
    let run = h.pr_event("opened", n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
    let ours: Vec<_> = h
        .fake
        .check_runs(REPO)
        .into_iter()
        .filter(|r| r.name == CHECK)
        .collect();
    assert_eq!(ours.len(), 1, "no duplicate check runs: {ours:?}");
}

#[tokio::test]
async fn a_lost_check_run_creation_is_not_repeated_blindly() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    // The POST lands, but its answer comes too late: the App must find the run, not make another.
    h.fake.inject(Fault {
        method: Some(Method::POST),
        path_contains: "/check-runs".into(),
        times: 1,
        kind: FaultKind::Delay(Duration::from_secs(4)),
    });
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ours: Vec<_> = h
        .fake
        .check_runs(REPO)
        .into_iter()
        .filter(|r| r.name == CHECK)
        .collect();
    assert_eq!(ours.len(), 1, "no duplicate check runs: {ours:?}");
}

#[tokio::test]
async fn github_staying_down_never_leaves_a_passing_check() {
    let h = Harness::with(
        fake_world().await,
        &[("REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS", "2")],
    )
    .await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    // GitHub now fails every read of the reviews; a dismissal arrives.
    h.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: "/reviews".into(),
        times: 1000,
        kind: FaultKind::Status(503),
    });
    let review_id = h.fake.latest_review_by(REPO, n, "dan").expect("review")["id"]
        .as_u64()
        .unwrap();
    h.fake.dismiss_review(REPO, n, review_id);
    let payload = webhooks::pull_request_review_event(
        "dismissed",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
        "dan",
        "DISMISSED",
    );
    h.deliver("pull_request_review", &payload).await;
    // The failure is written once the 2 s retry deadline has passed; wait for it (a loaded
    // machine takes longer), then look at what the check says.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let run = loop {
        let run = h
            .fake
            .latest_check_run(REPO, &h.head_sha(n), CHECK)
            .expect("check");
        let changed = run.conclusion.as_deref() != Some("success");
        if changed || std::time::Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.title
            .as_deref()
            .unwrap_or("")
            .starts_with("Could not read"),
        "{:?}",
        run.title
    );
}

#[tokio::test]
async fn merge_groups_get_the_pr_verdict_on_the_group_commit() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let group_sha = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d";
    let group = || {
        webhooks::merge_group_checks_requested(&h.fake, REPO, "main", n, group_sha, INSTALLATION)
    };

    assert!(
        h.deliver("merge_group", &group())
            .await
            .status()
            .is_success()
    );
    let run = h
        .check_on(group_sha)
        .await
        .expect("a check on the merge group's commit");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "an unapproved PR never passes the queue"
    );

    h.fake.review(REPO, n, "dan", "APPROVED", None);
    assert!(
        h.deliver("merge_group", &group())
            .await
            .status()
            .is_success()
    );
    let run = h.check_on(group_sha).await.expect("check");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert!(
        run.summary
            .unwrap_or_default()
            .contains(&format!("pull request #{n}"))
    );
}

#[tokio::test]
async fn a_policy_deleted_from_the_base_fails_every_pr_into_it() {
    // No policy no longer means "not gated" (`neutral`, which GitHub counts as passing): a PR
    // into a branch without one fails, saying where the policy belongs.
    let fake = fake_world().await;
    let h = Harness::with(fake, &[]).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    // The policy is deleted by a push to the base branch.
    h.fake.remove_file(REPO, "main", POLICY_PATH);
    let after = h.fake.branch_head(REPO, "main").expect("main");
    let push = webhooks::push_event(
        &h.fake,
        REPO,
        "refs/heads/main",
        &after,
        &[POLICY_PATH],
        INSTALLATION,
    );
    assert!(h.deliver("push", &push).await.status().is_success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = h.check_on(&h.head_sha(n)).await.expect("check");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title.as_deref(), Some("No review policy on main"));

    let m = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let run = h.pr_event("opened", m).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(h.evaluations("no_policy"), 2);
}

#[tokio::test]
async fn a_push_changing_the_policy_re_evaluates_open_prs_on_that_branch() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    h.fake.set_file(
        REPO,
        "main",
        POLICY_PATH,
        &POLICY.replace(
            "[levels.standard]\napprovals = 1",
            "[levels.standard]\napprovals = 2",
        ),
    );
    let after = h.fake.branch_head(REPO, "main").expect("main");
    let push = webhooks::push_event(
        &h.fake,
        REPO,
        "refs/heads/main",
        &after,
        &[POLICY_PATH],
        INSTALLATION,
    );
    assert!(h.deliver("push", &push).await.status().is_success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = h.check_on(&h.head_sha(n)).await.expect("check");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title.as_deref(), Some("Needs 1 more approval"));
}

#[tokio::test]
async fn closed_prs_are_left_alone() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.close_pr(REPO, n);
    let r = h
        .deliver(
            "pull_request",
            &webhooks::pull_request_event("closed", &h.fake, REPO, n, INSTALLATION),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Even an event that would evaluate it finds it closed and writes nothing.
    h.deliver(
        "pull_request_review",
        &webhooks::pull_request_review_event(
            "submitted",
            &h.fake,
            REPO,
            n,
            INSTALLATION,
            "dan",
            "APPROVED",
        ),
    )
    .await;
    h.settle().await;
    assert!(h.fake.check_runs(REPO).is_empty());
}

#[tokio::test]
async fn every_published_payload_is_accepted_without_a_server_error() {
    let h = Harness::start().await;
    let all = webhooks::all_fixtures();
    assert!(all.len() > 200);
    for (event, file, body) in all {
        let r = h.deliver_raw(&event, &body).await;
        assert!(r.status().is_success(), "{event}/{file}: {}", r.status());
    }
    h.settle().await;
}

#[tokio::test]
async fn bad_requests_are_answered_clearly() {
    let h = Harness::start().await;
    let r = h.deliver_raw("pull_request", b"{not json").await;
    assert_eq!(r.status(), 400);
    let r = h.deliver_raw("star", b"[1, 2").await;
    assert_eq!(
        r.status(),
        400,
        "malformed JSON is rejected whatever the event"
    );
    let r = h.deliver_raw("star", br#"{"action":"created"}"#).await;
    assert_eq!(
        r.status(),
        200,
        "events the App does not use are acknowledged"
    );
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let r = h
        .http
        .post(format!("{}/webhook", h.base))
        .header("x-hub-signature-256", webhooks::sign(SECRET, body))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no X-GitHub-Event");
    let big = vec![b' '; 25 * 1024 * 1024 + 1];
    let r = h
        .http
        .post(format!("{}/webhook", h.base))
        .header("x-github-event", "push")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = Harness::start().await;
    assert_eq!(h.get("/healthz").await.status(), 200);
    assert_eq!(h.get("/readyz").await.status(), 200);
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.pr_event("opened", n).await;
    let r = h.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let mut text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    // The queue depth is sampled every 2 s: the sample may predate the evaluation's end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text.contains("reviewgate_queue_depth 0") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        text = h.get("/metrics").await.text().await.unwrap();
    }
    for want in [
        "reviewgate_webhook_deliveries_total{event=\"pull_request\",outcome=\"accepted\"} 1",
        "reviewgate_evaluations_total{verdict=\"not_approved\"} 1",
        "reviewgate_evaluation_duration_seconds_count 1",
        "reviewgate_github_requests_total{endpoint=\"GET /repos/{owner}/{repo}/pulls/{number}\",status=\"200\"} 1",
        "reviewgate_github_rate_limit_remaining{installation=\"77\"}",
        "reviewgate_queue_depth 0",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[tokio::test]
async fn shutdown_finishes_queued_work_and_stops_listening() {
    let h = Harness::with(fake_world().await, &[("REVIEWGATE_DEBOUNCE_MS", "2000")]).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let r = h
        .deliver(
            "pull_request",
            &webhooks::pull_request_event("opened", &h.fake, REPO, n, INSTALLATION),
        )
        .await;
    assert_eq!(r.status(), 202);
    let head = h.head_sha(n);
    let base = h.base.clone();
    let fake = h.fake.clone();
    h.server.stop().await;
    assert!(
        fake.latest_check_run(REPO, &head, CHECK).is_some(),
        "queued work finished before exit"
    );
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_replayed_delivery_is_answered_without_work() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let body = serde_json::to_vec(&webhooks::pull_request_event(
        "opened",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
    ))
    .unwrap();
    let headers = webhooks::delivery_headers("pull_request", SECRET, &body);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let mut req = h
            .http
            .post(format!("{}/webhook", h.base))
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        statuses.push(req.send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![202, 200, 200, 200, 200]);
    h.settle().await;
    assert_eq!(h.evaluations("not_approved"), 1);
    let metrics = h.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "reviewgate_webhook_deliveries_total{event=\"pull_request\",outcome=\"duplicate\"} 4"
        ),
        "{metrics}"
    );
}

/// A 304 need not repeat `Link`: a review list longer than one page, whose first page is
/// unchanged, must still be read to its end (the new review is on page 2).
#[tokio::test]
async fn an_unchanged_first_page_does_not_end_the_list() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    for i in 0..100 {
        h.fake
            .review(REPO, n, &format!("commenter{i}"), "COMMENTED", None);
    }
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let run = h.review(n, "dan", "APPROVED").await;
    let reviews_page_1 = h
        .fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/reviews") && r.query_param("page").as_deref() == Some("1"))
        .expect("page 1 read");
    assert!(
        reviews_page_1.not_modified,
        "the scenario needs page 1 answered 304"
    );
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.title
    );
}
