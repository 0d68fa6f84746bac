//! The real App (router, queue, workers, GitHub client) served on loopback against the fake
//! GitHub, plus helpers to deliver signed webhooks and wait for check runs.

use std::time::{Duration, Instant};

use reviewgate::server::config::Config;
use reviewgate::server::{self, Running};
use serde_json::Value;

use super::fake_github::{CheckRun, FakeGitHub, test_fixture};
use super::webhooks;

pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const REPO: &str = "acme/ledger";
pub const SECRET: &str = "test-webhook-secret";
pub const CHECK: &str = "reviewgate";
pub const POLICY_PATH: &str = ".github/review-policy.toml";

pub const POLICY: &str = r#"
version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors  = ["alice", "@acme/senior-engineers"]
leads    = ["@acme/tech-leads"]
payments = ["@acme/payments"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 1 }

[[paths]]
name = "ledger"
match = ["ledger/**", "payments/**"]
except = ["**/*.md", "**/testdata/**"]
level = "critical"
require = { payments = 1 }
"#;

pub struct Harness {
    pub fake: FakeGitHub,
    pub server: Running,
    pub http: reqwest::Client,
    pub base: String,
    /// Holds the harness's own SQLite store (unless a test gave another URL).
    pub data: tempfile::TempDir,
}

/// Settings the tests use unless a test overrides them.
pub fn test_env(fake: &FakeGitHub) -> Vec<(String, String)> {
    [
        ("REVIEWGATE_APP_ID", APP_ID.to_string()),
        ("REVIEWGATE_PRIVATE_KEY", test_fixture("test-app-key.pem")),
        ("REVIEWGATE_WEBHOOK_SECRET", SECRET.to_string()),
        ("REVIEWGATE_GITHUB_API_URL", fake.url()),
        ("REVIEWGATE_LISTEN", "127.0.0.1:0".to_string()),
        ("REVIEWGATE_DEBOUNCE_MS", "100".to_string()),
        ("REVIEWGATE_GITHUB_TIMEOUT_SECS", "2".to_string()),
        ("REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS", "15".to_string()),
        ("REVIEWGATE_WORKERS", "4".to_string()),
        ("REVIEWGATE_SHUTDOWN_GRACE_SECS", "5".to_string()),
        // Sweeps are tested on their own; elsewhere they would add requests tests count.
        ("REVIEWGATE_RECONCILE_INTERVAL", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A fake GitHub with one installation, one repository holding [`POLICY`] on `main`, and the
/// teams the policy names.
pub async fn fake_world() -> FakeGitHub {
    let fake = FakeGitHub::start(APP_ID, &test_fixture("test-app-key.pub.pem")).await;
    fake.add_installation(INSTALLATION, "acme");
    fake.add_repo(INSTALLATION, REPO, "main");
    fake.set_file(REPO, "main", POLICY_PATH, POLICY);
    fake.set_team("acme", "senior-engineers", &["carol", "sam"]);
    fake.set_team("acme", "tech-leads", &["lena"]);
    fake.set_team("acme", "payments", &["pat", "carol"]);
    for login in WRITERS {
        fake.set_permission(REPO, login, Some("write"));
    }
    fake
}

/// The people with write access to [`REPO`] in [`fake_world`]; anyone else has none.
pub const WRITERS: &[&str] = &[
    "alice", "bob", "carol", "dan", "erin", "fay", "lena", "pat", "sam", "zed",
];

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(fake_world().await, &[]).await
    }

    /// Starts the App against `fake`, with `overrides` on top of [`test_env`], and waits until
    /// it has connected to its store.
    pub async fn with(fake: FakeGitHub, overrides: &[(&str, &str)]) -> Harness {
        let h = Harness::started(fake, overrides).await;
        h.wait_for_store().await;
        h.wait_for_credentials().await;
        h
    }

    /// Starts the App without waiting for its store (which may not be reachable).
    pub async fn started(fake: FakeGitHub, overrides: &[(&str, &str)]) -> Harness {
        let data = tempfile::tempdir().expect("a directory for the store");
        let mut env = test_env(&fake);
        env.push((
            "REVIEWGATE_DATABASE_URL".to_string(),
            format!("sqlite:{}", data.path().join("reviewgate.db").display()),
        ));
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        let config =
            Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .expect("test configuration is valid");
        let server = server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        Harness {
            fake,
            server,
            http: reqwest::Client::new(),
            base,
            data,
        }
    }

    /// Waits until the App has connected to its store (it starts without it).
    pub async fn wait_for_store(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.server.state.app.store.ready().is_none() {
            assert!(Instant::now() < deadline, "the store did not connect");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until GitHub has accepted the App's credentials. The start-up try is bounded
    /// by the 2 s GitHub timeout, which a loaded machine signing the JWT in a debug build
    /// could exceed; the next try is 10 s later, and until it the server is not ready (and
    /// that try would be one more request for tests that count them).
    pub async fn wait_for_credentials(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(why) = self.server.state.credentials.not_ready_because() {
            assert!(Instant::now() < deadline, "{why}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Delivers `payload` as event `event`, signed with the right secret.
    pub async fn deliver(&self, event: &str, payload: &Value) -> reqwest::Response {
        self.deliver_raw(event, serde_json::to_vec(payload).expect("json").as_slice())
            .await
    }

    pub async fn deliver_raw(&self, event: &str, body: &[u8]) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhook", self.base))
            .body(body.to_vec());
        for (k, v) in webhooks::delivery_headers(event, SECRET, body) {
            req = req.header(k, v);
        }
        req.send().await.expect("webhook delivery")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    pub fn head_sha(&self, number: u64) -> String {
        self.fake.pr_json(REPO, number)["head"]["sha"]
            .as_str()
            .expect("head sha")
            .to_string()
    }

    /// Waits until the App has nothing queued or running.
    pub async fn settle(&self) {
        let app = &self.server.state.app;
        let deadline = Instant::now() + Duration::from_secs(30);
        // Give a just-delivered event time to pass the debounce.
        tokio::time::sleep(Duration::from_millis(50)).await;
        while !app.idle().await {
            assert!(Instant::now() < deadline, "the App did not settle");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the App to settle, then returns the latest check run on `sha`.
    pub async fn check_on(&self, sha: &str) -> Option<CheckRun> {
        self.settle().await;
        self.fake.latest_check_run(REPO, sha, CHECK)
    }

    /// Delivers a `pull_request` event and returns the settled check on the PR's head.
    pub async fn pr_event(&self, action: &str, number: u64) -> CheckRun {
        let r = self
            .deliver(
                "pull_request",
                &webhooks::pull_request_event(action, &self.fake, REPO, number, INSTALLATION),
            )
            .await;
        assert!(r.status().is_success(), "delivery answered {}", r.status());
        self.check_on(&self.head_sha(number))
            .await
            .expect("a check run on the head")
    }

    /// Records a review on the fake, delivers its webhook, returns the settled check.
    pub async fn review(&self, number: u64, user: &str, state: &str) -> CheckRun {
        self.fake.review(REPO, number, user, state, None);
        let payload = webhooks::pull_request_review_event(
            "submitted",
            &self.fake,
            REPO,
            number,
            INSTALLATION,
            user,
            state,
        );
        let r = self.deliver("pull_request_review", &payload).await;
        assert!(r.status().is_success(), "delivery answered {}", r.status());
        self.check_on(&self.head_sha(number))
            .await
            .expect("a check run on the head")
    }

    /// Dismisses `user`'s latest review on the fake and delivers the `dismissed` webhook;
    /// returns the delivery's status without waiting for the evaluation.
    pub async fn dismiss(&self, number: u64, user: &str) -> reqwest::StatusCode {
        let review = self
            .fake
            .latest_review_by(REPO, number, user)
            .expect("a review to dismiss")["id"]
            .as_u64()
            .expect("review id");
        self.fake.dismiss_review(REPO, number, review);
        let payload = webhooks::pull_request_review_event(
            "dismissed",
            &self.fake,
            REPO,
            number,
            INSTALLATION,
            user,
            "DISMISSED",
        );
        self.deliver("pull_request_review", &payload).await.status()
    }

    /// How many evaluations the App has run, by outcome label.
    pub fn evaluations(&self, outcome: &str) -> u64 {
        self.server.state.app.metrics.evaluations_of(outcome)
    }
}
