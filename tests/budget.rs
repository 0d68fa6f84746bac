//! GitHub API cost per evaluation, counted on the fake GitHub. The budget (docs/performance.md):
//! re-evaluating a 250-file PR after a new review spends at most 7 requests of rate-limit
//! quota and sends at most 8 in all; the policy and team members come from caches.

mod support;

use support::fake_github::{FileSpec, PrSpec, RecordedRequest};
use support::harness::*;

fn spends_quota(r: &RecordedRequest) -> bool {
    !r.not_modified && r.status != 304
}

fn describe(requests: &[RecordedRequest]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {} {}{}",
                r.method,
                r.path,
                r.status,
                if r.not_modified {
                    " (not modified)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn re_evaluating_a_250_file_pr_after_a_review_stays_within_budget() {
    // Team members live for the test's duration; the policy is revalidated, as it would be
    // after its few seconds of freshness.
    let h = Harness::start().await;
    let files: Vec<FileSpec> = (0..250)
        .map(|i| {
            FileSpec::modified(&if i % 5 == 0 {
                format!("ledger/mod{i}.rs")
            } else {
                format!("src/file{i}.rs")
            })
        })
        .collect();
    let n = h.fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            files,
            ..PrSpec::default()
        },
    );

    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let cold = h.fake.requests();
    eprintln!(
        "first evaluation ({} requests):\n{}",
        cold.len(),
        describe(&cold)
    );

    h.fake.clear_requests();
    // Let the policy's freshness window pass so its revalidation is part of what is counted.
    tokio::time::sleep(reviewgate::github::policy_source::POLICY_FRESH_FOR).await;
    let run = h.review(n, "carol", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "still needs a second approval"
    );
    let warm = h.fake.requests();
    let quota = warm.iter().filter(|r| spends_quota(r)).count();
    eprintln!(
        "after a review ({} requests, {quota} spending quota):\n{}",
        warm.len(),
        describe(&warm)
    );
    assert!(
        quota <= 7,
        "{quota} requests spent quota:\n{}",
        describe(&warm)
    );
    assert!(
        warm.len() <= 8,
        "{} requests in all:\n{}",
        warm.len(),
        describe(&warm)
    );
    assert!(
        warm.iter()
            .any(|r| r.path.contains("/contents/") && r.not_modified),
        "the policy is revalidated, not re-read"
    );
    assert!(
        !warm.iter().any(|r| r.path.contains("/teams/")),
        "team members come from the cache"
    );
    assert!(
        !warm.iter().any(|r| r.path.contains("access_tokens")),
        "the installation token is reused"
    );
    assert_eq!(
        warm.iter().filter(|r| r.path.ends_with("/files")).count(),
        3,
        "250 files are 3 pages"
    );
    assert_eq!(
        warm.iter()
            .filter(|r| r.method == http::Method::PATCH)
            .count(),
        1,
        "the known check run is updated in place"
    );
    assert!(h.fake.max_concurrency(INSTALLATION) < 100);
}
