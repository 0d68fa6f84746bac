//! `reviewgate doctor` (issue 15): the real binary against the fake GitHub, with a good
//! setup and with each fault it names. One line per check; exit 0 when all pass, 1 when one
//! fails, 2 when a setting is missing or invalid.

mod support;

use std::process::Command;

use serde_json::json;
use support::fake_github::{FakeGitHub, Fault, FaultKind, test_fixture};
use support::harness::{INSTALLATION, POLICY, POLICY_PATH, REPO, SECRET, fake_world, test_env};

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The line of a check, which must be there exactly once.
    fn line(&self, prefix: &str) -> &str {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect();
        assert_eq!(lines.len(), 1, "one {prefix:?} line in\n{}", self.stdout);
        lines[0]
    }
}

/// Runs `reviewgate doctor` with the harness's settings, `overrides` on top (a value of
/// `None` removes the setting), and `args` after the command.
async fn doctor(fake: &FakeGitHub, overrides: &[(&str, Option<&str>)], args: &[&str]) -> Ran {
    let mut env = test_env(fake);
    for (k, v) in overrides {
        env.retain(|(name, _)| name != k);
        if let Some(v) = v {
            env.push((k.to_string(), v.to_string()));
        }
    }
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_reviewgate"))
            .arg("doctor")
            .args(args)
            .env_clear()
            .envs(env)
            .env(
                "REVIEWGATE_DATABASE_URL",
                "sqlite:/nonexistent/reviewgate.db",
            )
            .output()
            .expect("run doctor")
    })
    .await
    .expect("join");
    let ran = Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    for text in [&ran.stdout, &ran.stderr] {
        assert!(
            !text.contains(SECRET),
            "the webhook secret was printed:\n{text}"
        );
        assert!(
            !text.contains("PRIVATE KEY-----") && !text.contains("MII"),
            "{text}"
        );
    }
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_setup_passes_every_check() {
    let fake = fake_world().await;
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.line("PASS  settings:").contains("valid"));
    assert!(
        ran.line("PASS  private key:")
            .contains("REVIEWGATE_PRIVATE_KEY holds an RSA private key")
    );
    assert!(
        ran.line("PASS  app:")
            .contains("GitHub accepted the App's JWT (GET /app)")
    );
    assert!(
        ran.line("PASS  webhook:")
            .contains("https://reviewgate.example/webhook")
    );
    assert!(
        ran.line(&format!("PASS  installation {INSTALLATION} (acme):"))
            .contains("token issued; 1 repositories")
    );
    assert!(
        ran.line(&format!("PASS  policy {REPO}:"))
            .contains(&format!("{POLICY_PATH} on main is valid"))
    );
    assert!(
        ran.line("PASS  floor acme:")
            .contains("no organisation floor")
    );
    assert!(
        ran.line("PASS  webhook secret:")
            .contains("REVIEWGATE_WEBHOOK_SECRET is set")
    );
    assert!(!ran.stdout.contains("FAIL"), "{}", ran.stdout);
    let last = ran.stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("doctor: all ") && last.ends_with(" checks passed"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_given_as_flags_work_as_the_environment_does() {
    let fake = fake_world().await;
    let key = format!(
        "{}/tests/fixtures/test-app-key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    // The key file must be owner-only for no WARN; copy it so the fixture's mode is not ours.
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("key.pem");
    std::fs::write(&copy, std::fs::read(&key).expect("key")).expect("copy");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let ran = doctor(
        &fake,
        &[
            ("REVIEWGATE_APP_ID", None),
            ("REVIEWGATE_PRIVATE_KEY", None),
            ("REVIEWGATE_GITHUB_API_URL", None),
        ],
        &[
            "--app-id",
            &fake.app_id().to_string(),
            "--private-key-path",
            copy.to_str().expect("utf-8"),
            "--github-api-url",
            &fake.url(),
        ],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.line("PASS  private key:")
            .contains("REVIEWGATE_PRIVATE_KEY_PATH")
    );
    assert!(!ran.stdout.contains("WARN"), "{}", ran.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_does_not_parse_is_named_and_nothing_else_runs() {
    let fake = fake_world().await;
    let public = test_fixture("test-app-key.pub.pem");
    let ran = doctor(&fake, &[("REVIEWGATE_PRIVATE_KEY", Some(&public))], &[]).await;
    assert_eq!(ran.code, 2, "{}", ran.stdout);
    assert!(
        ran.line("FAIL  private key:")
            .contains("REVIEWGATE_PRIVATE_KEY: is a public key")
    );
    assert!(ran.line("SKIP  github:").contains("needs valid settings"));
    assert!(
        fake.requests().is_empty(),
        "nothing is asked of GitHub without valid settings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_webhook_secret_is_named() {
    let fake = fake_world().await;
    let ran = doctor(&fake, &[("REVIEWGATE_WEBHOOK_SECRET", None)], &[]).await;
    assert_eq!(ran.code, 2, "{}", ran.stdout);
    assert!(
        ran.line("FAIL  webhook secret:")
            .contains("REVIEWGATE_WEBHOOK_SECRET: is not set")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_github_refuses_is_a_wrong_app_id_or_key() {
    let fake = fake_world().await;
    let ran = doctor(&fake, &[("REVIEWGATE_APP_ID", Some("999"))], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line("FAIL  app:");
    assert!(line.contains("GitHub refused the App's JWT (401"), "{line}");
    assert!(line.contains("REVIEWGATE_APP_ID 999"), "{line}");
    assert!(ran.line("SKIP  installations:").contains("JWT"));

    fake.refuse_app_credentials(true);
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(ran.line("FAIL  app:").contains("are not a pair"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_that_cannot_be_reached_is_named_with_the_url() {
    let fake = fake_world().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let ran = doctor(&fake, &[("REVIEWGATE_GITHUB_API_URL", Some(&closed))], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line("FAIL  app:");
    assert!(
        line.contains(&format!("could not ask GitHub at {closed}")),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_installation_token_is_named() {
    let fake = fake_world().await;
    fake.inject(Fault {
        times: 100,
        ..Fault::once(None, "access_tokens", FaultKind::Status(403))
    });
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line(&format!("FAIL  installation {INSTALLATION} (acme):"));
    assert!(line.contains("no token"), "{line}");
    assert!(line.contains("403"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_the_installation_did_not_grant_is_named() {
    let fake = fake_world().await;
    fake.set_pull_requests_permission(INSTALLATION, "none");
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line(&format!("FAIL  installation {INSTALLATION} (acme):"));
    assert!(
        line.contains("has not granted pull_requests: read"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_installation_at_all_is_named() {
    let fake = FakeGitHub::start(
        support::harness::APP_ID,
        &test_fixture("test-app-key.pub.pem"),
    )
    .await;
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(
        ran.line("FAIL  installations:")
            .contains("installed nowhere")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_policy_fails_unless_such_repositories_are_skipped() {
    let fake = fake_world().await;
    fake.remove_file(REPO, "main", POLICY_PATH);
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line(&format!("FAIL  policy {REPO}:"));
    assert!(
        line.contains(&format!("no {POLICY_PATH} on main")),
        "{line}"
    );
    assert!(line.contains("REVIEWGATE_WHEN_NO_POLICY=skip"), "{line}");

    let ran = doctor(&fake, &[("REVIEWGATE_WHEN_NO_POLICY", Some("skip"))], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(
        ran.line(&format!("PASS  policy {REPO}:"))
            .contains("get no check")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_is_named_with_its_line_and_column() {
    let fake = fake_world().await;
    let broken = POLICY.replace("approvals = 1", "approvals = \"one\"");
    fake.set_file(REPO, "main", POLICY_PATH, &broken);
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line(&format!("FAIL  policy {REPO}:"));
    assert!(
        line.contains("is invalid: acme/ledger:.github/review-policy.toml:"),
        "{line}"
    );
    assert!(
        line.contains("every pull request into main fails"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_organisation_floor_is_named() {
    let fake = fake_world().await;
    fake.add_repo(INSTALLATION, "acme/.github", "main");
    fake.set_file(
        "acme/.github",
        "main",
        POLICY_PATH,
        "version = 1\nlevels = 3\n",
    );
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(
        ran.line("FAIL  floor acme:")
            .contains("the floor is invalid: acme/.github:")
    );

    fake.set_file("acme/.github", "main", POLICY_PATH, POLICY);
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(ran.line("PASS  floor acme:").contains("is a valid floor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_github_cannot_sign_or_that_is_not_json_is_named() {
    let fake = fake_world().await;
    fake.set_hook_config(json!({"content_type": "json", "insecure_ssl": "0", "url": "https://reviewgate.example/webhook"}));
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(ran.line("FAIL  webhook:").contains("with no secret"));

    fake.set_hook_config(json!({"content_type": "form", "insecure_ssl": "0", "secret": "********", "url": "https://reviewgate.example/webhook"}));
    let ran = doctor(&fake, &[], &[]).await;
    assert!(ran.line("FAIL  webhook:").contains("application/json"));

    fake.set_hook_config(
        json!({"content_type": "json", "insecure_ssl": "0", "secret": "********", "url": ""}),
    );
    let ran = doctor(&fake, &[], &[]).await;
    assert!(ran.line("FAIL  webhook:").contains("no webhook URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_of_another_organisation_is_named_as_the_app_judges_it() {
    let fake = fake_world().await;
    let foreign = POLICY.replace("@acme/tech-leads", "@other-org/tech-leads");
    fake.set_file(REPO, "main", POLICY_PATH, &foreign);
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line(&format!("FAIL  policy {REPO}:"));
    assert!(
        line.contains("team `@other-org/tech-leads` belongs to organisation `other-org`"),
        "{line}"
    );
}
