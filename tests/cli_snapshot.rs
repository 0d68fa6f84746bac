//! `reviewgate snapshot OWNER/REPO#N` (issue 13 §5): the live snapshot, read from the fake
//! GitHub with the App's settings, gives through `evaluate --pr -` the title the App writes.

mod support;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use support::fake_github::{FileSpec, PrSpec, test_fixture};
use support::harness::{APP_ID, Harness, REPO};

fn snapshot_cmd(api: &str, target: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["snapshot", target])
        .env_clear()
        .env("REVIEWGATE_APP_ID", APP_ID.to_string())
        .env(
            "REVIEWGATE_PRIVATE_KEY_PATH",
            format!(
                "{}/tests/fixtures/test-app-key.pem",
                env!("CARGO_MANIFEST_DIR")
            ),
        )
        .env("REVIEWGATE_GITHUB_API_URL", api)
        .env(
            "REVIEWGATE_DATABASE_URL",
            "sqlite:/nonexistent/reviewgate.db",
        )
        .output()
        .expect("run snapshot")
}

fn evaluate_stdin(policy: &str, snapshot: &[u8]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.toml");
    std::fs::write(&file, policy).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["evaluate", "--format", "markdown", "--pr", "-", "--policy"])
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(snapshot)
        .expect("write");
    child.wait_with_output().expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_snapshot_evaluates_to_the_check_the_app_writes() {
    let _ = test_fixture("test-app-key.pem");
    let h = Harness::start().await;
    let n = h.fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            files: vec![FileSpec::modified("ledger/post.rs")],
            ..PrSpec::default()
        },
    );
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    h.fake.review(REPO, n, "mallory", "APPROVED", None);
    let run = h.review(n, "carol", "APPROVED").await;

    let api = h.fake.url();
    let target = format!("{REPO}#{n}");
    let out = tokio::task::spawn_blocking(move || snapshot_cmd(&api, &target))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`pushers` is empty"),
        "says pushers are unknown without a store"
    );
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(snapshot["author"], "zed");
    assert_eq!(snapshot["head_sha"], h.head_sha(n).as_str());
    assert_eq!(snapshot["files"][0]["path"], "ledger/post.rs");
    assert_eq!(snapshot["permissions"]["carol"], "write");
    assert_eq!(snapshot["permissions"]["mallory"], "none");
    assert!(
        snapshot["teams"]["acme/senior-engineers"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == "carol")),
        "{snapshot}"
    );

    let policy = support::harness::POLICY.to_string();
    let bytes = out.stdout.clone();
    let evaluated = tokio::task::spawn_blocking(move || evaluate_stdin(&policy, &bytes))
        .await
        .expect("join");
    let printed = String::from_utf8_lossy(&evaluated.stdout).into_owned();
    let title = printed.lines().next().unwrap_or_default();
    assert_eq!(Some(title), run.title.as_deref(), "{printed}");
}

#[test]
fn a_malformed_target_or_missing_settings_exit_2_naming_them() {
    let out = snapshot_cmd("http://127.0.0.1:9", "acme/ledger");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not OWNER/REPO#NUMBER"));
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["snapshot", "acme/ledger#1"])
        .env_clear()
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("REVIEWGATE_APP_ID"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
