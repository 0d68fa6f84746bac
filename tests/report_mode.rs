//! Report mode (issue 13 §3): `settings.mode = "report"` writes every verdict `neutral`,
//! titled `Report only: …`, except on a PR that changes the policy file, which is enforced.

mod support;

use std::process::Command;

use support::fake_github::{FileSpec, PrSpec};
use support::harness::{Harness, POLICY, POLICY_PATH, REPO, fake_world};

fn report_policy() -> String {
    POLICY.replacen(
        "policy_owners = \"leads\"\n",
        "policy_owners = \"leads\"\n\n[settings]\nmode = \"report\"\n",
        1,
    )
}

async fn harness() -> Harness {
    let fake = fake_world().await;
    fake.set_file(REPO, "main", POLICY_PATH, &report_policy());
    Harness::with(fake, &[]).await
}

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

#[tokio::test]
async fn every_verdict_is_neutral_and_titled_report_only() {
    let h = harness().await;
    let n = h.fake.open_pr(REPO, pr(&["ledger/post.rs"]));
    let run = h.pr_event("opened", n).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("neutral"),
        "{:?}",
        run.summary
    );
    let title = run.title.clone().unwrap_or_default();
    assert!(title.starts_with("Report only: Needs "), "{title}");
    // The full explanation is still there.
    assert!(
        run.summary.unwrap_or_default().contains("could unblock"),
        "the summary explains what is missing"
    );
    h.review(n, "carol", "APPROVED").await;
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("neutral"));
    assert_eq!(
        run.title.as_deref(),
        Some("Report only: Approved by carol, dan")
    );
}

#[tokio::test]
async fn a_pr_changing_the_policy_is_enforced_in_report_mode() {
    let h = harness().await;
    let n = h.fake.open_pr(REPO, pr(&[POLICY_PATH]));
    let run = h.review(n, "dan", "APPROVED").await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("Needs 1 more approval from leads")
    );
}

#[test]
fn evaluate_exits_1_in_report_mode_when_it_would_block_and_the_mode_is_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, report_policy()).expect("write");
    let pr = dir.path().join("pr.json");
    std::fs::write(
        &pr,
        r#"{"author": "zed", "head_sha": "h", "files": [{"path": "ledger/a.rs"}], "reviews": []}"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["evaluate", "--format", "json", "--policy"])
        .arg(&policy)
        .arg("--pr")
        .arg(&pr)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(verdict["report_only"], true);

    std::fs::write(&policy, report_policy().replace("\"report\"", "\"audit\"")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .arg("check")
        .arg(&policy)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = report_policy()
        .lines()
        .position(|l| l.starts_with("mode"))
        .expect("mode line")
        + 1;
    assert!(
        stderr.contains(&format!(
            ":{line}:8: `mode` must be \"enforce\" or \"report\", not the string \"audit\""
        )),
        "{stderr}"
    );
}
