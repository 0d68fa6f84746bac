//! The `reviewgate` binary, driven as a user would: real files, real exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reviewgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run reviewgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const POLICY: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors = ["alice", "@acme/senior-engineers"]
leads = ["@acme/tech-leads"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 1 }

[[paths]]
name = "ledger"
match = ["ledger/**"]
level = "critical"
"#;

fn snapshot(reviews: &str) -> String {
    format!(
        r#"{{"author": "zed", "head_sha": "c0ffee", "changed_files": 1,
            "files": [{{"path": "ledger/post.rs", "status": "modified"}}],
            "commits": [{{"sha": "c0ffee", "author": "zed", "committer": "zed"}}],
            "reviews": [{reviews}],
            "teams": {{"acme/senior-engineers": ["carol"], "acme/tech-leads": ["lena"]}}}}"#
    )
}

#[test]
fn check_accepts_a_valid_policy() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "p.toml", POLICY);
    let o = run(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("valid (2 levels, 2 groups, 1 path rule)"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).is_empty());
}

#[test]
fn check_defaults_to_policy_toml_in_the_current_directory() {
    let o = run(&["check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("policy.toml: valid"));
}

#[test]
fn check_lists_every_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = POLICY
        .replace("approvals = 2", "approvals = 0")
        .replace("level = \"critical\"", "level = \"urgent\"");
    let p = write(dir.path(), "bad.toml", &bad);
    let o = run(&["check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let name = p.display().to_string();
    assert!(
        err.contains(&format!(
            "{name}:13:13: `approvals` in [levels.critical] must be at least 1, not 0"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{name}:19:9: [[paths]] entry 1 (\"ledger\") names level `urgent`"
        )),
        "{err}"
    );
    assert!(err.contains("2 errors found"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn check_reports_an_unreadable_file() {
    let o = run(&["check", "does/not/exist.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does/not/exist.toml: cannot read policy"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn evaluate_exit_codes_follow_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.toml", POLICY);
    let blocked = write(
        dir.path(),
        "blocked.json",
        &snapshot(r#"{"user": "dan", "state": "APPROVED", "commit": "c0ffee"}"#),
    );
    let approved = write(
        dir.path(),
        "ok.json",
        &snapshot(
            r#"{"user": "dan", "state": "APPROVED", "commit": "c0ffee"},
               {"user": "Carol", "state": "APPROVED", "commit": "c0ffee"}"#,
        ),
    );
    let args = |pr: &Path| {
        vec![
            "evaluate".to_string(),
            "--policy".into(),
            policy.display().to_string(),
            "--pr".into(),
            pr.display().to_string(),
        ]
    };

    let o = bin().args(args(&blocked)).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("NOT APPROVED: Needs 1 more approval from seniors"),
        "{text}"
    );
    assert!(
        text.contains("ledger/post.rs") && text.contains("could unblock: alice, carol"),
        "{text}"
    );

    let o = bin().args(args(&approved)).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("APPROVED: Approved by dan, Carol"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn evaluate_json_carries_the_verdict_and_its_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.toml", POLICY);
    let pr = write(
        dir.path(),
        "pr.json",
        &snapshot(r#"{"user": "zed", "state": "APPROVED", "commit": "c0ffee"}"#),
    );
    let o = run(&[
        "evaluate",
        "--policy",
        policy.to_str().unwrap(),
        "--pr",
        pr.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON output");
    assert_eq!(v["approved"], false);
    assert_eq!(
        v["title"],
        "Needs 1 more approval from seniors, 1 more from anyone eligible"
    );
    assert_eq!(v["needs"]["approvals"], 2);
    assert_eq!(v["needs"]["groups"]["seniors"], 1);
    assert_eq!(v["requirements"][1]["source"]["kind"], "path");
    assert_eq!(v["requirements"][1]["files"][0], "ledger/post.rs");
    assert_eq!(v["reviewers"][0]["login"], "zed");
    assert_eq!(v["reviewers"][0]["ignored"], "author");
}

#[test]
fn evaluate_notices_a_pr_that_edits_the_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.toml", POLICY);
    let pr = write(
        dir.path(),
        "pr.json",
        r#"{"author": "zed", "head_sha": "h", "files": [{"path": "conf/review.toml"}],
            "reviews": [{"user": "dan", "state": "APPROVED", "commit": "h"}],
            "teams": {"acme/tech-leads": ["lena"]}}"#,
    );
    let base = [
        "evaluate",
        "--policy",
        policy.to_str().unwrap(),
        "--pr",
        pr.to_str().unwrap(),
    ];
    let o = run(&base);
    assert_eq!(
        o.status.code(),
        Some(0),
        "default policy path is .github/review-policy.toml: {}",
        stdout(&o)
    );
    let o = run(&[&base[..], &["--policy-path", "conf/review.toml"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("Needs 1 more approval from leads"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn evaluate_rejects_invalid_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.toml", POLICY);
    let bad_policy = write(dir.path(), "bad.toml", "version = 3\n");
    let pr = write(dir.path(), "pr.json", &snapshot(""));
    let bad_pr = write(
        dir.path(),
        "bad.json",
        r#"{"author": "zed", "files": [], "reviews": []}"#,
    );
    let bad_state = write(
        dir.path(),
        "state.json",
        r#"{"author": "zed", "head_sha": "h", "files": [], "reviews": [{"user": "a", "state": "LGTM", "commit": "h"}]}"#,
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--policy",
                bad_policy.to_str().unwrap(),
                "--pr",
                pr.to_str().unwrap(),
            ],
            "bad.toml:1:11: unsupported policy version 3",
        ),
        (
            vec![
                "--policy",
                policy.to_str().unwrap(),
                "--pr",
                bad_pr.to_str().unwrap(),
            ],
            "bad.json:1:45: missing field `head_sha`",
        ),
        (
            vec![
                "--policy",
                policy.to_str().unwrap(),
                "--pr",
                bad_state.to_str().unwrap(),
            ],
            "unknown variant `LGTM`",
        ),
        (
            vec!["--policy", policy.to_str().unwrap(), "--pr", "missing.json"],
            "missing.json: cannot read PR snapshot",
        ),
        (
            vec![
                "--policy",
                policy.to_str().unwrap(),
                "--pr",
                pr.to_str().unwrap(),
                "--format",
                "yaml",
            ],
            "invalid value 'yaml'",
        ),
        (vec!["--policy", policy.to_str().unwrap()], "--pr"),
    ];
    for (args, want) in cases {
        let o = run(&[&["evaluate"], &args[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{args:?}: want {want:?} in {}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    // Both inputs broken: both reported.
    let o = run(&[
        "evaluate",
        "--policy",
        bad_policy.to_str().unwrap(),
        "--pr",
        bad_pr.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("bad.toml") && stderr(&o).contains("bad.json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_readme_run_command_evaluates_the_shipped_example() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("cargo run") && l.contains("evaluate"))
        .expect("README gives a `cargo run -- evaluate` command");
    let args: Vec<&str> = line
        .split_whitespace()
        .skip_while(|w| *w != "--")
        .skip(1)
        .collect();
    let o = run(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the example PR is waiting for a senior: {}",
        stderr(&o)
    );
    assert!(
        stdout(&o).starts_with("NOT APPROVED: Needs 1 more approval from seniors"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn serve_refuses_to_start_with_one_line_naming_the_setting() {
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-app-key.pem"
    ))
    .unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "REVIEWGATE_APP_ID"),
        (
            vec![("REVIEWGATE_APP_ID", "12")],
            "REVIEWGATE_PRIVATE_KEY_PATH",
        ),
        (
            vec![
                ("REVIEWGATE_APP_ID", "12"),
                ("REVIEWGATE_PRIVATE_KEY_PATH", "/nonexistent.pem"),
            ],
            "REVIEWGATE_PRIVATE_KEY_PATH: cannot read",
        ),
        (
            vec![
                ("REVIEWGATE_APP_ID", "12"),
                ("REVIEWGATE_PRIVATE_KEY", &key),
                ("REVIEWGATE_WEBHOOK_SECRET", ""),
            ],
            "REVIEWGATE_WEBHOOK_SECRET: is empty",
        ),
        (
            vec![
                ("REVIEWGATE_APP_ID", "12"),
                ("REVIEWGATE_PRIVATE_KEY", &key),
                ("REVIEWGATE_WEBHOOK_SECRET", "hush-hush"),
                ("REVIEWGATE_LISTEN", "nowhere"),
            ],
            "REVIEWGATE_LISTEN",
        ),
    ];
    for (vars, want) in cases {
        let mut cmd = bin();
        cmd.arg("serve");
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("REVIEWGATE_")) {
            cmd.env_remove(k);
        }
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("run");
        assert_eq!(o.status.code(), Some(2), "{want}");
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "want {want:?} in {err}");
        assert!(
            !err.contains("hush-hush") && !err.contains("PRIVATE KEY-----"),
            "no secrets: {err}"
        );
    }
}

/// A log line written by the server's worker threads must not wait on the main thread:
/// an unsigned delivery (which logs a warning) is answered, and so is everything after it.
#[test]
fn the_served_binary_keeps_answering_after_it_logs() {
    use std::io::{Read, Write};
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-app-key.pem"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Its own store: the default one is `reviewgate.db` in the working directory, the checkout.
    let data = tempfile::tempdir().expect("a directory for the store");
    let store = format!("sqlite:{}", data.path().join("reviewgate.db").display());
    let mut child = bin()
        .arg("serve")
        .env("REVIEWGATE_DATABASE_URL", store)
        .env("REVIEWGATE_APP_ID", "12")
        .env("REVIEWGATE_PRIVATE_KEY_PATH", key)
        .env("REVIEWGATE_WEBHOOK_SECRET", "s3cret")
        .env("REVIEWGATE_GITHUB_API_URL", "http://127.0.0.1:9")
        .env("REVIEWGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("REVIEWGATE_RECONCILE_INTERVAL", "0")
        .env("REVIEWGATE_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let request = |raw: &str| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                s.write_all(raw.as_bytes()).unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                return out;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let unsigned = request(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-github-event: push\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
    for _ in 0..3 {
        let health = request("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    }
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("exit");
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status}"
    );
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("missing or wrong signature"), "{logs}");
}

#[test]
fn a_policy_listing_a_bot_is_rejected_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "p.toml",
        &POLICY.replace(
            r#"seniors = ["alice", "@acme/senior-engineers"]"#,
            r#"seniors = ["alice", "Renovate[BOT]", "@acme/senior-engineers"]"#,
        ),
    );
    let o = run(&["check", policy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("p.toml:6:21: group `seniors`: `Renovate[BOT]` is a bot"),
        "{}",
        stderr(&o)
    );
    let pr = write(dir.path(), "pr.json", &snapshot(""));
    let o = run(&[
        "evaluate",
        "--policy",
        policy.to_str().unwrap(),
        "--pr",
        pr.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`Renovate[BOT]` is a bot"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn evaluate_reads_permissions_and_pushers_and_blocks_on_unlinked_commits() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.toml", POLICY);
    let with = |extra: &str, commits: &str| {
        format!(
            r#"{{"author": "zed", "head_sha": "c0ffee1234", "changed_files": 1,
                "files": [{{"path": "src/lib.rs"}}],
                "commits": [{commits}],
                "reviews": [{{"user": "Dan", "state": "APPROVED", "commit": "c0ffee1234"}}]
                {extra}}}"#
        )
    };
    let linked = r#"{"sha": "c0ffee1234", "author": "zed", "committer": "zed"}"#;
    let cases: &[(&str, &str, i32, &str)] = &[
        (
            r#", "permissions": {"dan": "write"}"#,
            linked,
            0,
            "Dan: APPROVED on c0ffee1 — counts",
        ),
        (
            r#", "permissions": {"DAN": "maintain"}"#,
            linked,
            0,
            "— counts",
        ),
        (
            r#", "permissions": {"dan": "triage"}"#,
            linked,
            1,
            "ignored: no write access",
        ),
        (
            r#", "permissions": {"erin": "admin"}"#,
            linked,
            1,
            "ignored: no write access",
        ),
        (
            r#", "permissions": {"dan": "write"}, "pushers": ["dan"]"#,
            linked,
            1,
            "ignored: pusher",
        ),
        ("", linked, 0, "permissions were not checked"),
        (
            r#", "permissions": {"dan": "write"}"#,
            r#"{"sha": "c0ffee1234", "author": null, "committer": "zed"}"#,
            1,
            "[ ] commit c0ffee1 has an author GitHub cannot link to an account",
        ),
    ];
    for (extra, commits, code, want) in cases {
        let pr = write(dir.path(), "pr.json", &with(extra, commits));
        let o = run(&[
            "evaluate",
            "--policy",
            policy.to_str().unwrap(),
            "--pr",
            pr.to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(*code),
            "{extra} {commits}: {}",
            stdout(&o)
        );
        assert!(
            stdout(&o).contains(want),
            "{extra}: want {want:?} in\n{}",
            stdout(&o)
        );
    }
    let pr = write(
        dir.path(),
        "pr.json",
        &with(r#", "permissions": {"dan": "owner"}"#, linked),
    );
    let o = run(&[
        "evaluate",
        "--policy",
        policy.to_str().unwrap(),
        "--pr",
        pr.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown permission is invalid input"
    );
    assert!(
        stderr(&o).contains("unknown variant `owner`"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("pr.json:5:"), "{}", stderr(&o));
}

#[test]
fn evaluate_reads_the_snapshot_from_stdin_and_prints_the_check_as_markdown() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = write(dir.path(), "p.toml", POLICY);
    let pr = snapshot(r#"{"user": "carol", "state": "APPROVED", "commit": "c0ffee"}"#);
    let mut child = bin()
        .args(["evaluate", "--format", "markdown", "--pr", "-", "--policy"])
        .arg(&policy)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pr.as_bytes())
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Byte for byte the title and summary the App writes for this verdict.
    let verdict = reviewgate::evaluate::evaluate(
        &reviewgate::policy::Policy::parse(POLICY, "p.toml").expect("policy"),
        &reviewgate::snapshot::Snapshot::from_json(&pr, "pr.json").expect("snapshot"),
        reviewgate::policy::DEFAULT_POLICY_PATH,
    );
    let check = reviewgate::app::check_output::verdict(&verdict, None);
    assert_eq!(stdout(&o), format!("{}\n\n{}", check.title, check.summary));
    assert!(
        stdout(&o).starts_with("Needs 1 more approval\n\n"),
        "{}",
        stdout(&o)
    );
}
