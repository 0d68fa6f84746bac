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
    // A store that does not exist yet, in a directory that does: serve would create it.
    let data = tempfile::tempdir().expect("dir");
    if !env.iter().any(|(k, _)| k == "REVIEWGATE_DATABASE_URL") {
        env.push((
            "REVIEWGATE_DATABASE_URL".to_string(),
            format!("sqlite:{}", data.path().join("reviewgate.db").display()),
        ));
    }
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_reviewgate"))
            .arg("doctor")
            .args(args)
            .env_clear()
            .envs(env)
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
    let line = installation_failure(&fake).await;
    assert!(line.contains("no token"), "{line}");
    assert!(line.contains("403"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_the_installation_did_not_grant_is_named() {
    let fake = fake_world().await;
    fake.set_pull_requests_permission(INSTALLATION, "none");
    let line = installation_failure(&fake).await;
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

    // A GitHub that does not answer the route: a warning to look by hand, not a failure.
    fake.inject(Fault {
        times: 10,
        ..Fault::once(None, "/app/hook/config", FaultKind::NotFound)
    });
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(ran.line("WARN  webhook:").contains("check the Webhook URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_reached_is_named_without_its_password() {
    let fake = fake_world().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("postgres://gate:hush-db-pw@127.0.0.1:{closed}/gate");
    let ran = doctor(&fake, &[("REVIEWGATE_DATABASE_URL", Some(&url))], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let line = ran.line("FAIL  store:");
    assert!(line.contains("gate:***@127.0.0.1"), "{line}");
    assert!(!ran.stdout.contains("hush-db-pw"), "{}", ran.stdout);

    let ran = doctor(
        &fake,
        &[(
            "REVIEWGATE_DATABASE_URL",
            Some("sqlite:/nonexistent-dir/reviewgate.db"),
        )],
        &[],
    )
    .await;
    assert!(
        ran.line("FAIL  store:")
            .contains("the directory /nonexistent-dir does not exist")
    );

    // A file that is a database but has no tables yet: serve (or migrate) makes them.
    let empty = tempfile::tempdir().expect("dir");
    let file = empty.path().join("empty.db");
    std::fs::write(&file, b"").expect("an empty SQLite file");
    let url = format!("sqlite:{}", file.display());
    let ran = doctor(&fake, &[("REVIEWGATE_DATABASE_URL", Some(&url))], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(
        ran.line("PASS  store:")
            .contains("its schema is made when serve starts")
    );

    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite:{}", dir.path().join("r.db").display());
    let store = reviewgate::store::Store::connect(&url)
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    drop(store);
    let ran = doctor(&fake, &[("REVIEWGATE_DATABASE_URL", Some(&url))], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(
        ran.line("PASS  store:")
            .contains("answers; 0 pull requests with work pending")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_without_its_own_policy_is_judged_by_a_valid_floor() {
    let fake = fake_world().await;
    fake.add_repo(INSTALLATION, "acme/.github", "main");
    fake.set_file("acme/.github", "main", POLICY_PATH, POLICY);
    fake.add_repo(INSTALLATION, "acme/web", "trunk");
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    let line = ran.line("PASS  policy acme/web:");
    assert!(
        line.contains(&format!("no {POLICY_PATH} on trunk")),
        "{line}"
    );
    assert!(
        line.contains("judged by the organisation floor acme/.github:"),
        "{line}"
    );
}

/// Doctor's line for the installation, which must fail.
async fn installation_failure(fake: &FakeGitHub) -> String {
    let ran = doctor(fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    ran.line(&format!("FAIL  installation {INSTALLATION} (acme):"))
        .to_string()
}

/// Doctor's line for the repository's policy when it holds `policy`, which must fail.
async fn policy_failure(policy: &str) -> String {
    let fake = fake_world().await;
    fake.set_file(REPO, "main", POLICY_PATH, policy);
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    ran.line(&format!("FAIL  policy {REPO}:")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_the_app_cannot_use_is_named_as_the_app_judges_it() {
    // Another organisation's team: the App refuses the policy.
    let line = policy_failure(&POLICY.replace("@acme/tech-leads", "@other-org/tech-leads")).await;
    assert!(
        line.contains("team `@other-org/tech-leads` belongs to organisation `other-org`"),
        "{line}"
    );
    // A team that does not exist: nobody could approve through it.
    let line = policy_failure(&POLICY.replace("@acme/tech-leads", "@acme/tech-leeds")).await;
    assert!(
        line.contains("names @acme/tech-leeds, which does not exist"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_app_is_not_subscribed_to_are_named() {
    let fake = fake_world().await;
    fake.set_installation_events(
        INSTALLATION,
        &[
            "check_run",
            "check_suite",
            "merge_group",
            "pull_request",
            "push",
        ],
    );
    let line = installation_failure(&fake).await;
    assert!(
        line.contains("not subscribed to pull_request_review, member, membership, team"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_is_shown_without_its_credentials_and_plain_http_is_a_warning() {
    let fake = fake_world().await;
    fake.set_hook_config(json!({"content_type": "json", "insecure_ssl": "0", "secret": "********", "url": "http://relay:hush-relay@relay.example/in?key=hush-key"}));
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 0, "a warning passes: {}", ran.stdout);
    let line = ran.line("WARN  webhook:");
    assert!(line.contains("http://relay.example/in as JSON"), "{line}");
    assert!(line.contains("unencrypted"), "{line}");
    assert!(!ran.stdout.contains("hush"), "{}", ran.stdout);
}

/// The sample output in docs/deploy.md (step 7) is what doctor prints for that setup: one
/// repository with a policy, one without, no floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_in_the_deploy_walkthrough_is_real() {
    let fake = fake_world().await;
    fake.add_repo(INSTALLATION, "acme/web", "main");
    fake.set_hook_config(json!({"content_type": "json", "insecure_ssl": "0", "secret": "********", "url": "https://reviewgate.acme.example/webhook"}));
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("reviewgate.db");
    let url = format!("sqlite:{}", db.display());
    let store = reviewgate::store::Store::connect(&url)
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    drop(store);
    let ran = doctor(&fake, &[("REVIEWGATE_DATABASE_URL", Some(&url))], &[]).await;
    assert_eq!(ran.code, 1);
    let shown = ran
        .stdout
        .replace(&fake.url(), "https://api.github.com")
        .replace(
            &db.display().to_string(),
            "/var/lib/reviewgate/reviewgate.db",
        )
        .replace("REVIEWGATE_PRIVATE_KEY ", "REVIEWGATE_PRIVATE_KEY_PATH ")
        .replace("reviewgate-test, App ID 4242", "reviewgate, App ID 123456")
        .replace(
            &format!("installation {INSTALLATION} "),
            "installation 4567890 ",
        );
    let docs = std::fs::read_to_string(format!("{}/docs/deploy.md", env!("CARGO_MANIFEST_DIR")))
        .expect("deploy.md");
    let start = docs
        .find("   ```text\n   PASS  settings")
        .expect("the sample")
        + "   ```text\n".len();
    let sample: String = docs[start..]
        .lines()
        .take_while(|l| l.trim() != "```")
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    assert_eq!(
        sample, shown,
        "docs/deploy.md's sample, then doctor's output"
    );
}

/// What doctor costs: GET /app, the hook configuration, the installation list, one token,
/// the repository list, then one read per repository and one per team its policy names —
/// nothing else, and nothing written (docs/performance.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_once_per_repository_and_team_and_writes_nothing() {
    let fake = fake_world().await;
    for n in 0..5 {
        fake.add_repo(INSTALLATION, &format!("acme/svc-{n}"), "main");
        fake.set_file(&format!("acme/svc-{n}"), "main", POLICY_PATH, POLICY);
    }
    fake.clear_requests();
    let ran = doctor(&fake, &[], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    let requests = fake.requests();
    let writes: Vec<String> = requests
        .iter()
        .filter(|r| r.method != http::Method::GET && !r.path.ends_with("/access_tokens"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "doctor only reads: {writes:?}");
    let teams = requests
        .iter()
        .filter(|r| r.path.contains("/teams/"))
        .count();
    let contents = requests
        .iter()
        .filter(|r| r.path.contains("/contents/"))
        .count();
    assert_eq!(contents, 6, "one policy read per repository");
    assert_eq!(
        teams, 3,
        "each team the policies name read once, however many name it"
    );
    assert_eq!(requests.len(), 5 + contents + teams, "{requests:#?}");
}
