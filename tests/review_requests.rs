//! Reviewers requested for what is missing (issue 14 §2): with `request_reviewers = true`, a
//! blocked PR gets review requests for each unmet group, through the fake GitHub.

mod support;

use support::fake_github::{CheckRun, FileSpec, PrSpec};
use support::harness::{Harness, INSTALLATION, POLICY_PATH, REPO, fake_world};
use support::webhooks;

const POLICY: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[settings]
request_reviewers = true

[groups]
seniors = ["carol", "sam", "alice"]
leads = ["@acme/tech-leads"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 2 }

[[paths]]
name = "ledger"
match = ["ledger/**"]
level = "critical"
"#;

async fn harness(policy: &str, write: bool) -> Harness {
    let fake = fake_world().await;
    fake.set_file(REPO, "main", POLICY_PATH, policy);
    if write {
        fake.set_pull_requests_permission(INSTALLATION, "write");
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

fn summary(run: &CheckRun) -> String {
    run.summary.clone().unwrap_or_default()
}

fn posts(h: &Harness) -> usize {
    h.fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/requested_reviewers"))
        .count()
}

#[tokio::test]
async fn a_blocked_pr_asks_the_least_busy_eligible_members_once() {
    let h = harness(POLICY, true).await;
    // alice already has a pending request on another open PR: the two others are asked.
    let busy = h.fake.open_pr(REPO, pr(&["docs/a.md"]));
    h.fake.set_requested_reviewers(REPO, busy, &["alice"]);
    let n = h.fake.open_pr(REPO, pr(&["ledger/x.rs"]));
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let (users, teams) = h.fake.requested_reviewers(REPO, n);
    let mut users: Vec<String> = users.iter().map(|u| u.to_ascii_lowercase()).collect();
    users.sort();
    assert_eq!(users, vec!["carol", "sam"], "{}", summary(&run));
    assert!(teams.is_empty());
    let text = summary(&run);
    assert!(
        text.contains("Review requested from @carol (seniors) at 20"),
        "{text}"
    );
    assert!(
        text.contains("Review requested from @sam (seniors) at 20"),
        "{text}"
    );
    assert_eq!(posts(&h), 1);

    // The App's own request moved the PR's `updated_at`; that is no reason to judge it again.
    let history = serde_json::to_string(&run.history).expect("json");
    assert!(
        !history.contains("changed while it was judged"),
        "{history}"
    );

    // Evaluated again: nobody is asked twice.
    let run = h.pr_event("synchronize", n).await;
    assert_eq!(posts(&h), 1, "{}", summary(&run));
    assert!(summary(&run).contains("Review requested from @carol (seniors)"));
}

#[tokio::test]
async fn a_team_group_is_asked_as_its_team_and_a_count_alone_asks_nobody() {
    let h = harness(POLICY, true).await;
    let n = h.fake.open_pr(REPO, pr(&[POLICY_PATH]));
    let run = h.pr_event("opened", n).await;
    let (users, teams) = h.fake.requested_reviewers(REPO, n);
    assert_eq!(teams, vec!["tech-leads"], "{}", summary(&run));
    assert!(users.is_empty());
    assert!(
        summary(&run).contains("Review requested from @acme/tech-leads (leads)"),
        "{}",
        summary(&run)
    );

    let m = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let run = h.pr_event("opened", m).await;
    assert!(
        summary(&run).contains("No reviewers requested for"),
        "{}",
        summary(&run)
    );
    assert_eq!(h.fake.requested_reviewers(REPO, m), (vec![], vec![]));
}

#[tokio::test]
async fn with_read_only_access_the_app_asks_nobody_and_says_what_to_grant() {
    let h = harness(POLICY, false).await;
    let n = h.fake.open_pr(REPO, pr(&["ledger/x.rs"]));
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        summary(&run).contains("\"Pull requests: Read and write\""),
        "{}",
        summary(&run)
    );
    assert_eq!(posts(&h), 0);
}

#[tokio::test]
async fn a_request_a_person_removed_is_never_made_again_and_drafts_ask_nobody() {
    let h = harness(&POLICY.replace("seniors = 2", "seniors = 1"), true).await;
    // sam and alice are busy elsewhere, so carol would be asked first...
    let busy = h.fake.open_pr(REPO, pr(&["docs/a.md"]));
    h.fake
        .set_requested_reviewers(REPO, busy, &["sam", "alice"]);
    let n = h.fake.open_pr(REPO, pr(&["ledger/x.rs"]));
    // ...but lena (a person) removed carol's request on this PR.
    let mut event =
        webhooks::pull_request_event("review_request_removed", &h.fake, REPO, n, INSTALLATION);
    event["requested_reviewer"] = h.fake.user_json("carol");
    event["sender"] = h.fake.user_json("lena");
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    let run = h.pr_event("opened", n).await;
    let (users, _) = h.fake.requested_reviewers(REPO, n);
    assert_eq!(users.len(), 1, "{}", summary(&run));
    assert!(
        !users[0].eq_ignore_ascii_case("carol"),
        "carol was asked again: {}",
        summary(&run)
    );

    // A request removed by an App (a bot) bars nobody.
    let m = h.fake.open_pr(REPO, pr(&["ledger/z.rs"]));
    let mut event =
        webhooks::pull_request_event("review_request_removed", &h.fake, REPO, m, INSTALLATION);
    event["requested_reviewer"] = h.fake.user_json("carol");
    event["sender"] = h.fake.user_json("some-app[bot]");
    event["sender"]["type"] = serde_json::json!("Bot");
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    h.pr_event("opened", m).await;
    let (users, _) = h.fake.requested_reviewers(REPO, m);
    assert_eq!(users, vec!["carol"]);

    let draft = h.fake.open_pr(
        REPO,
        PrSpec {
            draft: true,
            ..pr(&["ledger/y.rs"])
        },
    );
    h.pr_event("opened", draft).await;
    assert_eq!(h.fake.requested_reviewers(REPO, draft), (vec![], vec![]));
}

#[tokio::test]
async fn contributors_are_never_asked_even_when_they_may_approve_and_one_group_is_asked_once() {
    // Two requirements name `seniors`: the group is short by 2, not 4. sam pushed to the PR:
    // a contributor, never asked even though contributors may approve here.
    let policy = POLICY
        .replace(
            "request_reviewers = true",
            "request_reviewers = true\ncontributors_can_approve = true",
        )
        .replace(
            "[levels.standard]\napprovals = 1",
            "[levels.standard]\napprovals = 2\nrequire = { seniors = 2 }",
        )
        .replace(
            "seniors = [\"carol\", \"sam\", \"alice\"]",
            "seniors = [\"carol\", \"sam\", \"alice\", \"dan\", \"erin\"]",
        );
    let h = harness(&policy, true).await;
    let n = h.fake.open_pr(REPO, pr(&["ledger/x.rs"]));
    let mut event = webhooks::pull_request_event("synchronize", &h.fake, REPO, n, INSTALLATION);
    event["sender"] = h.fake.user_json("sam");
    assert!(
        h.deliver("pull_request", &event)
            .await
            .status()
            .is_success()
    );
    let run = h.check_on(&h.head_sha(n)).await.expect("run");
    let (users, _) = h.fake.requested_reviewers(REPO, n);
    assert_eq!(users.len(), 2, "{users:?}: {}", summary(&run));
    assert!(
        !users.iter().any(|u| u.eq_ignore_ascii_case("sam")),
        "{users:?}"
    );
}

#[tokio::test]
async fn report_mode_asks_nobody() {
    let report = POLICY.replace(
        "request_reviewers = true",
        "request_reviewers = true\nmode = \"report\"",
    );
    let h = harness(&report, true).await;
    let n = h.fake.open_pr(REPO, pr(&["ledger/x.rs"]));
    let run = h.pr_event("opened", n).await;
    assert_eq!(run.conclusion.as_deref(), Some("neutral"));
    assert_eq!(posts(&h), 0);
}
