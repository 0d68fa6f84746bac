//! Gate integrity, the people: who may approve, who may block, and whose word about team
//! membership the App trusts. Each test is an attack that turned a check green (or blocked
//! every PR) before these defences; docs/security.md names them.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reviewgate::github::teams::{TeamCache, members};
use reviewgate::github::{ClientSettings, GitHub};
use reviewgate::metrics::Metrics;
use reviewgate::policy::TeamRef;
use support::fake_github::{CheckRun, CommitSpec, FileSpec, PrSpec, test_fixture};
use support::harness::*;
use support::webhooks;

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

fn summary(run: &CheckRun) -> &str {
    run.summary.as_deref().unwrap_or("")
}

async fn settled_run(h: &Harness, n: u64) -> CheckRun {
    h.check_on(&h.head_sha(n)).await.expect("a run on the head")
}

#[tokio::test]
async fn approvals_count_only_from_people_with_write_access() {
    let h = Harness::start().await;
    h.fake.set_permission(REPO, "rita", Some("read"));
    h.fake.set_permission(REPO, "tia", Some("triage"));
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    for stranger in ["mallory", "rita", "tia"] {
        let run = h.review(n, stranger, "APPROVED").await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{stranger} counted"
        );
        assert!(
            summary(&run).contains(&format!("{stranger}: APPROVED on `")),
            "{}",
            summary(&run)
        );
    }
    let run = settled_run(&h, n).await;
    assert_eq!(
        summary(&run)
            .matches("ignored: no write access (needs write access")
            .count(),
        3,
        "{}",
        summary(&run)
    );

    // mallory is made a maintainer: the `member` event drops the cached permission and the
    // repository's open PRs are judged again, without any event on the PR.
    h.fake.set_permission(REPO, "mallory", Some("maintain"));
    let member = webhooks::member_event(&h.fake, "edited", REPO, "mallory", INSTALLATION);
    assert!(h.deliver("member", &member).await.status().is_success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = settled_run(&h, n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );

    // And removed: the approval stops counting at once.
    h.fake.set_permission(REPO, "mallory", None);
    let member = webhooks::member_event(&h.fake, "removed", REPO, "mallory", INSTALLATION);
    assert!(h.deliver("member", &member).await.status().is_success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = settled_run(&h, n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn change_requests_block_only_from_people_who_could_approve() {
    let h = Harness::start().await;
    h.fake.set_permission(REPO, "lint[bot]", Some("write"));
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    h.review(n, "stranger", "CHANGES_REQUESTED").await;
    let run = h.review(n, "lint[bot]", "CHANGES_REQUESTED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );
    for want in [
        "stranger: CHANGES_REQUESTED on",
        "ignored: no write access",
        "lint[bot]: CHANGES_REQUESTED on",
        "ignored: bot",
    ] {
        assert!(
            summary(&run).contains(want),
            "{want:?} in {}",
            summary(&run)
        );
    }
    // Someone who could approve still blocks.
    let run = h.review(n, "erin", "CHANGES_REQUESTED").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title.as_deref(), Some("Changes requested by erin"));
}

#[tokio::test]
async fn bots_never_approve_even_with_write_access_or_through_a_team() {
    let h = Harness::start().await;
    h.fake.set_permission(REPO, "Deploy[bot]", Some("admin"));
    h.fake
        .set_team("acme", "senior-engineers", &["carol", "sam", "deploy[bot]"]);
    let n = h.fake.open_pr(REPO, pr(&["ledger/post.rs"]));
    h.fake.review(REPO, n, "pat", "APPROVED", None);
    let run = h.review(n, "Deploy[bot]", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert_eq!(
        run.title.as_deref(),
        Some("Needs 1 more approval from seniors")
    );
    assert!(summary(&run).contains("ignored: bot"), "{}", summary(&run));
    assert!(
        summary(&run).contains("could unblock: alice, carol, sam;"),
        "bots are not offered as approvers: {}",
        summary(&run)
    );
}

#[tokio::test]
async fn a_policy_listing_a_bot_is_invalid_in_the_app() {
    let fake = fake_world().await;
    fake.set_file(
        REPO,
        "main",
        POLICY_PATH,
        &POLICY.replace(
            r#"seniors  = ["alice","#,
            r#"seniors  = ["alice", "release[bot]","#,
        ),
    );
    let h = Harness::with(fake, &[]).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.title
            .as_deref()
            .unwrap_or("")
            .starts_with("Invalid review policy"),
        "{:?}",
        run.title
    );
    assert!(
        summary(&run).contains("`release[bot]` is a bot"),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn whoever_pushed_to_the_branch_cannot_approve() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.pr_event("opened", n).await;
    // dan pushes zed's rebased commit: not a commit author, but the last pusher.
    let head = "d0".repeat(20);
    h.fake
        .push(REPO, n, &head, vec![CommitSpec::by(&head, "zed")], None);
    let mut event = webhooks::pull_request_event("synchronize", &h.fake, REPO, n, INSTALLATION);
    event["sender"] = h.fake.user_json("dan");
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert!(
        summary(&run).contains("dan: APPROVED on `d0d0d0d` — ignored: pusher"),
        "{}",
        summary(&run)
    );
    let run = h.review(n, "erin", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
}

#[tokio::test]
async fn a_commit_github_cannot_attribute_blocks() {
    let h = Harness::start().await;
    let head = "c1".repeat(20);
    let n = h.fake.open_pr(
        REPO,
        PrSpec {
            head_sha: head.clone(),
            commits: vec![CommitSpec {
                sha: head.clone(),
                author: None,
                committer: Some("zed".into()),
                parents: None,
            }],
            ..pr(&["src/lib.rs"])
        },
    );
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert_eq!(
        run.title.as_deref(),
        Some("Commit c1c1c1c has an author GitHub cannot link to an account")
    );
}

#[tokio::test]
async fn removing_a_senior_from_the_team_turns_their_approval_off_without_a_pr_event() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["ledger/post.rs"]));
    h.fake.review(REPO, n, "pat", "APPROVED", None);
    let run = h.review(n, "sam", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        summary(&run)
    );

    h.fake.set_team("acme", "senior-engineers", &["carol"]);
    let event = webhooks::membership_event(
        &h.fake,
        "removed",
        "acme",
        "senior-engineers",
        "sam",
        INSTALLATION,
    );
    assert!(h.deliver("membership", &event).await.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = h.fake.latest_check_run(REPO, &h.head_sha(n), CHECK);
        if run.as_ref().and_then(|r| r.conclusion.as_deref()) == Some("failure") {
            break;
        }
        assert!(Instant::now() < deadline, "still passing: {run:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A second organisation that installed the App, with a repository of its own.
const EVIL_INSTALLATION: u64 = 88;
const EVIL_REPO: &str = "evil/tools";

#[tokio::test]
async fn a_policy_cannot_borrow_another_organisations_team() {
    let fake = fake_world().await;
    fake.add_installation(EVIL_INSTALLATION, "evil");
    fake.add_repo(EVIL_INSTALLATION, EVIL_REPO, "main");
    fake.set_file(EVIL_REPO, "main", POLICY_PATH, POLICY);
    fake.set_permission(EVIL_REPO, "carol", Some("write"));
    fake.set_permission(EVIL_REPO, "pat", Some("write"));
    let h = Harness::with(fake, &[]).await;

    // acme's PR reads @acme/senior-engineers with acme's token first.
    let n = h.fake.open_pr(REPO, pr(&["ledger/post.rs"]));
    h.pr_event("opened", n).await;

    // evil's policy names acme's teams; carol is "a senior" only by acme's word.
    let m = h.fake.open_pr(EVIL_REPO, pr(&["ledger/post.rs"]));
    h.fake.review(EVIL_REPO, m, "carol", "APPROVED", None);
    h.fake.review(EVIL_REPO, m, "pat", "APPROVED", None);
    let event = webhooks::pull_request_event("opened", &h.fake, EVIL_REPO, m, EVIL_INSTALLATION);
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    h.settle().await;
    let head = h.fake.pr_json(EVIL_REPO, m)["head"]["sha"]
        .as_str()
        .expect("sha")
        .to_string();
    let run = h
        .fake
        .latest_check_run(EVIL_REPO, &head, CHECK)
        .expect("a run");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        summary(&run)
    );
    assert!(
        run.title
            .as_deref()
            .unwrap_or("")
            .starts_with("Invalid review policy"),
        "{:?}",
        run.title
    );
    assert!(
        summary(&run).contains("team `@acme/senior-engineers` belongs to organisation `acme`")
            && summary(&run).contains("`evil`"),
        "{}",
        summary(&run)
    );
}

#[tokio::test]
async fn team_members_read_by_one_installation_are_never_shown_to_another() {
    let fake = fake_world().await;
    fake.add_installation(EVIL_INSTALLATION, "evil");
    let github = Arc::new(
        GitHub::new(
            ClientSettings {
                api_url: fake.url(),
                app_id: APP_ID,
                private_key_pem: test_fixture("test-app-key.pem").into(),
                timeout: Duration::from_secs(5),
                retry_deadline: Duration::from_secs(5),
                concurrency_per_installation: 4,
                conditional_cache_bytes: 1 << 20,
            },
            Arc::new(Metrics::new()),
        )
        .expect("client"),
    );
    let cache = TeamCache::new(Duration::from_secs(300));
    let team = TeamRef {
        org: "acme".into(),
        slug: "senior-engineers".into(),
    };
    // Read through acme's installation, then asked through evil's: not served from the cache.
    let acme = members(&github, &cache, INSTALLATION, &team)
        .await
        .expect("read");
    assert_eq!(
        acme.as_deref().map(Vec::as_slice),
        Some(&["carol".to_string(), "sam".to_string()][..])
    );
    let evil = members(&github, &cache, EVIL_INSTALLATION, &team)
        .await
        .expect("read");
    assert!(
        evil.is_none(),
        "evil's token cannot see acme's team: {evil:?}"
    );
    // And the other way round: a "missing" read by evil is not cached for acme.
    let cache = TeamCache::new(Duration::from_secs(300));
    assert!(
        members(&github, &cache, EVIL_INSTALLATION, &team)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        members(&github, &cache, INSTALLATION, &team)
            .await
            .expect("read")
            .is_some()
    );
}
