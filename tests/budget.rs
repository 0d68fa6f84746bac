//! GitHub API cost per evaluation, counted on the fake GitHub. The budget (docs/performance.md):
//! re-evaluating a 250-file PR after one more approval, from a reviewer not seen before, sends
//! at most 11 requests in all and spends at most 5 of rate-limit quota (a 304 spends none);
//! the policy, the team members and the earlier reviewer's permission come from caches. On
//! GitHub a new review also changes the ETags of the PR and of its commit's PR list, as it
//! does on the fake.

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
    h.fake.review(REPO, n, "dan", "APPROVED", None);

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
        Some("success"),
        "dan and carol (a senior, in payments): {:?}",
        run.title
    );
    let warm = h.fake.requests();
    let quota = warm.iter().filter(|r| spends_quota(r)).count();
    eprintln!(
        "after a review ({} requests, {quota} spending quota):\n{}",
        warm.len(),
        describe(&warm)
    );
    assert!(
        quota <= 5,
        "{quota} requests spent quota:\n{}",
        describe(&warm)
    );
    assert!(
        warm.len() <= 11,
        "{} requests in all:\n{}",
        warm.len(),
        describe(&warm)
    );
    let permissions: Vec<&str> = warm
        .iter()
        .filter(|r| r.path.ends_with("/permission"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        permissions,
        vec!["/repos/acme/ledger/collaborators/carol/permission"],
        "only the new reviewer's permission is read; dan's comes from the cache"
    );
    assert!(
        warm.iter().any(|r| r.path.ends_with("/pulls")),
        "the commit's pull requests are read, not taken from the webhook"
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
