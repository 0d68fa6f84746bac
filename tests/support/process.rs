//! The real `reviewgate serve` binary as a child process, for tests and benches that need
//! its own memory figures or must kill it (`kill -9`) and start it again.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fake_github::FakeGitHub;
use super::harness::{APP_ID, SECRET};

pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub port: u16,
    /// Where stderr goes when the log is kept ([`ServerProcess::start_logged`]).
    log: Option<tempfile::NamedTempFile>,
    /// The process's own SQLite store, unless `env` named another `REVIEWGATE_DATABASE_URL`.
    _data: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary against `fake` with the harness's credentials, `env` on top (set
    /// `REVIEWGATE_LISTEN` there to reuse a port), and waits until it is ready.
    pub async fn start(fake: &FakeGitHub, env: &[(&str, &str)]) -> ServerProcess {
        let server = ServerProcess::spawn(fake, env, None);
        server.wait_for("/readyz").await;
        server
    }

    /// Like [`ServerProcess::start`], but keeps the log (JSON lines, `info` and up, unless
    /// `env` says otherwise) for [`ServerProcess::log`], and waits only until the server
    /// answers `/healthz`: readiness is for the test to look at.
    pub async fn start_logged(fake: &FakeGitHub, env: &[(&str, &str)]) -> ServerProcess {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut with_log = vec![
            ("REVIEWGATE_LOG", "info"),
            ("REVIEWGATE_LOG_FORMAT", "json"),
        ];
        with_log.extend_from_slice(env);
        let server = ServerProcess::spawn(fake, &with_log, Some(log));
        server.wait_for("/healthz").await;
        server
    }

    fn spawn(
        fake: &FakeGitHub,
        env: &[(&str, &str)],
        log: Option<tempfile::NamedTempFile>,
    ) -> ServerProcess {
        let port = match env.iter().find(|(k, _)| *k == "REVIEWGATE_LISTEN") {
            Some((_, v)) => v
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port in REVIEWGATE_LISTEN"),
            None => std::net::TcpListener::bind("127.0.0.1:0")
                .expect("port")
                .local_addr()
                .expect("addr")
                .port(),
        };
        let key = format!(
            "{}/tests/fixtures/test-app-key.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        // Not inherited: nothing would read it while the test waits, and a full pipe would
        // stall the server's logging. A file never fills up.
        let stderr = match &log {
            Some(file) => Stdio::from(file.reopen().expect("log file")),
            None => Stdio::null(),
        };
        let data = tempfile::tempdir().expect("a directory for the store");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reviewgate"));
        cmd.arg("serve")
            .env_clear()
            .env("REVIEWGATE_APP_ID", APP_ID.to_string())
            .env("REVIEWGATE_PRIVATE_KEY_PATH", key)
            .env("REVIEWGATE_WEBHOOK_SECRET", SECRET)
            .env("REVIEWGATE_GITHUB_API_URL", fake.url())
            .env("REVIEWGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("REVIEWGATE_LOG", "error")
            .env(
                "REVIEWGATE_DATABASE_URL",
                format!("sqlite:{}", data.path().join("reviewgate.db").display()),
            )
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start reviewgate serve");
        let url = format!("http://127.0.0.1:{port}");
        ServerProcess {
            child,
            url,
            port,
            log,
            _data: data,
        }
    }

    /// Waits until `path` answers 2xx.
    async fn wait_for(&self, path: &str) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{}{path}", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "server did not answer {path}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The log so far, one JSON object per line (lines that are not JSON are skipped).
    pub fn log(&self) -> Vec<serde_json::Value> {
        let file = self.log.as_ref().expect("started with start_logged");
        std::fs::read_to_string(file.path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The log lines at `level` (`ERROR`, `WARN`, `INFO`, ...).
    pub fn log_at(&self, level: &str) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|l| l["level"] == level)
            .collect()
    }

    /// `VmRSS` and `VmHWM` (peak RSS: what `/usr/bin/time -v` reports as "Maximum resident
    /// set size") of the process, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, and wait for the graceful exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// SIGSTOP: the process freezes where it is (a stalled VM, a long pause), holding whatever
    /// it held, until [`ServerProcess::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`ServerProcess::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let ok = Command::new("kill")
            .arg(which)
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {which} {}", self.child.id());
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Delivers a signed webhook.
    pub async fn deliver(&self, event: &str, payload: &serde_json::Value) -> u16 {
        let body = serde_json::to_vec(payload).expect("json");
        let mut req = reqwest::Client::new()
            .post(format!("{}/webhook", self.url))
            .body(body.clone());
        for (k, v) in super::webhooks::delivery_headers(event, SECRET, &body) {
            req = req.header(k, v);
        }
        req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    }

    /// Waits until the store is connected (`reviewgate_store_up 1`). `/healthz` answers
    /// before the store is: a delivery sent in between is refused 503 so that GitHub
    /// redelivers it, which a test that means "deliveries are taken" must not race.
    pub async fn wait_for_store(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .metrics()
            .await
            .lines()
            .any(|l| l == "reviewgate_store_up 1")
        {
            assert!(Instant::now() < deadline, "the store did not connect");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What `/metrics` answers now (empty when it does not answer).
    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("{}/metrics", self.url)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
