//! The gate's front door, through the real `reviewgate serve` binary over loopback HTTP against
//! the fake GitHub: what unauthenticated clients can make it hold in memory, and what it checks
//! about itself before it says it is ready.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::fake_github::{FileSpec, PrSpec};
use support::harness::*;
use support::process::ServerProcess;
use support::webhooks;

const MIB: usize = 1024 * 1024;
/// GitHub's cap on a delivery, and the most a forged one can declare without a 413.
const MAX_BODY: usize = 25 * MIB;

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

/// Sends a 25 MiB body with a well-formed but wrong signature, 64 KiB at a time from one
/// reused buffer (so the test itself holds no 25 MiB), and returns the server's status line,
/// or what went wrong: a server that refuses without reading may close the socket mid-body.
fn send_forged_body(port: u16) -> String {
    let run = || -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_write_timeout(Some(Duration::from_secs(60)))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let head = format!(
            "POST /webhook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             x-github-event: push\r\nx-hub-signature-256: sha256={}\r\n\
             content-length: {MAX_BODY}\r\n\r\n",
            "0".repeat(64)
        );
        s.write_all(head.as_bytes())?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..MAX_BODY / chunk.len() {
            s.write_all(&chunk)?;
        }
        let mut answer = [0u8; 64];
        let n = s.read(&mut answer)?;
        Ok(String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string())
    };
    run().unwrap_or_else(|e| format!("io error: {}", e.kind()))
}

/// A gauge or counter without labels from `/metrics`.
async fn metric(server: &ServerProcess, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{}/metrics", server.url))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_bodies_stay_within_the_memory_budget_and_real_deliveries_pass() {
    let fake = fake_world().await;
    let server = ServerProcess::start(&fake, &[("REVIEWGATE_RECONCILE_INTERVAL", "0")]).await;
    let n = fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let payload = webhooks::pull_request_event("opened", &fake, REPO, n, INSTALLATION);

    let port = server.port;
    let forged: Vec<_> = (0..16)
        .map(|_| std::thread::spawn(move || send_forged_body(port)))
        .collect();
    // Send the real delivery while the forged bodies fill the budget for unverified bodies.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = 0.0;
    while held < (2 * MAX_BODY) as f64 && Instant::now() < deadline {
        held = metric(&server, "reviewgate_unverified_body_bytes")
            .await
            .unwrap_or(0.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let body_len = serde_json::to_vec(&payload).expect("json").len();
    let sent = Instant::now();
    let status = server.deliver("pull_request", &payload).await;
    let took = sent.elapsed();

    let answers = tokio::task::spawn_blocking(move || {
        forged
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| "panicked".into()))
            .collect::<Vec<_>>()
    })
    .await
    .expect("senders");
    let (_, peak_kib) = server.memory_kib();
    eprintln!(
        "unverified bytes held when the real delivery was sent: {held}; real delivery \
         ({body_len} bytes) answered {status} in {took:?}; peak RSS {peak_kib} KiB \
         ({:.1} MB); forged bodies answered {answers:?}",
        (peak_kib * 1024) as f64 / 1e6
    );
    assert!(
        held >= (2 * MAX_BODY) as f64,
        "the forged bodies filled the budget before the real delivery was sent ({held} bytes)"
    );
    assert!(
        (200..300).contains(&status),
        "real delivery answered {status}"
    );
    assert!(took < Duration::from_secs(1), "real delivery took {took:?}");
    assert!(
        peak_kib * 1024 < 150_000_000,
        "peak RSS {peak_kib} KiB with 16 forged 25 MiB bodies"
    );
    assert!(
        answers.iter().all(|a| !a.starts_with("HTTP/1.1 2")),
        "{answers:?}"
    );
}

/// `reviewgate serve` with `env` only; its exit code and stderr. A server that starts
/// instead of refusing is stopped after 10 s and reported as still running.
fn serve_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let stderr = tempfile::NamedTempFile::new().expect("stderr file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .arg("serve")
        .env_clear()
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(stderr.reopen().expect("stderr file"))
        .spawn()
        .expect("run reviewgate serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "still running after 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        code,
        std::fs::read_to_string(stderr.path()).unwrap_or_default(),
    )
}

fn fixture_path(file: &str) -> String {
    format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn start_up_refuses_blank_secrets_public_keys_and_long_check_names() {
    let key = fixture_path("test-app-key.pem");
    let public_path = fixture_path("test-app-key.pub.pem");
    let public = support::fake_github::test_fixture("test-app-key.pub.pem");
    let name_101 = "é".repeat(101);
    let base = [
        ("REVIEWGATE_APP_ID", "12"),
        ("REVIEWGATE_PRIVATE_KEY_PATH", key.as_str()),
        ("REVIEWGATE_WEBHOOK_SECRET", "hush-hush"),
        ("REVIEWGATE_LISTEN", "127.0.0.1:0"),
    ];
    let with = |k: &'static str, v: &str| -> Vec<(&'static str, String)> {
        let mut env: Vec<(&str, String)> = base
            .iter()
            .filter(|(name, _)| {
                *name != k
                    && !(k == "REVIEWGATE_PRIVATE_KEY" && *name == "REVIEWGATE_PRIVATE_KEY_PATH")
            })
            .map(|(n, v)| (*n, v.to_string()))
            .collect();
        env.push((k, v.to_string()));
        env
    };
    let cases = [
        (
            with("REVIEWGATE_WEBHOOK_SECRET", " \t "),
            "reviewgate: REVIEWGATE_WEBHOOK_SECRET: is empty",
        ),
        (
            with("REVIEWGATE_PRIVATE_KEY_PATH", &public_path),
            "reviewgate: REVIEWGATE_PRIVATE_KEY_PATH: ",
        ),
        (
            with("REVIEWGATE_PRIVATE_KEY", &public),
            "reviewgate: REVIEWGATE_PRIVATE_KEY: is a public key",
        ),
        (
            with("REVIEWGATE_CHECK_NAME", &name_101),
            "reviewgate: REVIEWGATE_CHECK_NAME: must be a non-empty name of at most 100 characters",
        ),
    ];
    for (env, want) in cases {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, stderr) = serve_with(&env);
        assert_eq!(code, Some(2), "{want}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with(want), "want {want:?}, got {stderr}");
        assert!(
            !stderr.contains("hush-hush") && !stderr.contains("MII"),
            "{stderr}"
        );
        if want.contains("PRIVATE_KEY") {
            assert!(stderr.contains("is a public key"), "{stderr}");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_key_file_others_can_read_is_warned_about_at_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let fake = fake_world().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("private-key.pem");
    std::fs::write(&key, support::fake_github::test_fixture("test-app-key.pem")).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let key = key.to_str().expect("utf-8 path");
    let server = ServerProcess::start_logged(
        &fake,
        &[
            ("REVIEWGATE_PRIVATE_KEY_PATH", key),
            ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
        ],
    )
    .await;
    let warnings: Vec<String> = server
        .log_at("WARN")
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_string())
        .filter(|m| m.contains("REVIEWGATE_PRIVATE_KEY_PATH"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!("{key} has mode 0644")) && warnings[0].contains("chmod 600"),
        "{warnings:?}"
    );
    server.stop();
}

#[tokio::test]
async fn every_request_to_github_names_the_api_version_once() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    h.pr_event("opened", n).await;
    h.review(n, "dan", "APPROVED").await;
    let requests = h.fake.requests();
    let kinds: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|r| format!("{} {:?}", r.method, r.auth))
        .collect();
    for want in ["GET Token", "POST Jwt", "POST Token", "PATCH Token"] {
        assert!(kinds.contains(want), "no {want} request in {kinds:?}");
    }
    for r in &requests {
        assert_eq!(
            r.header_count("x-github-api-version"),
            1,
            "{} {}: {:?}",
            r.method,
            r.path,
            r.headers
        );
    }
}

/// Requests the App made to `GET /app` so far.
fn app_checks(fake: &support::fake_github::FakeGitHub) -> usize {
    fake.requests().iter().filter(|r| r.path == "/app").count()
}

async fn readyz(server: &ServerProcess) -> (u16, String) {
    let r = reqwest::get(format!("{}/readyz", server.url))
        .await
        .expect("readyz");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

fn messages(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_keep_the_server_up_but_not_ready_until_they_work() {
    let fake = fake_world().await;
    fake.refuse_app_credentials(true);
    let server =
        ServerProcess::start_logged(&fake, &[("REVIEWGATE_RECONCILE_INTERVAL", "0")]).await;
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("refused the App's credentials"), "{body}");

    // Still alive and still taking deliveries (once the store is connected, which readiness
    // cannot show here: it reports the credentials first).
    server.wait_for_store().await;
    let healthz = reqwest::get(format!("{}/healthz", server.url))
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    let n = fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let opened = webhooks::pull_request_event("opened", &fake, REPO, n, INSTALLATION);
    assert_eq!(server.deliver("pull_request", &opened).await, 202);

    // Tried again (every 10 s), and still one ERROR line.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app_checks(&fake) < 3 {
        assert!(Instant::now() < deadline, "{} checks", app_checks(&fake));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(readyz(&server).await.0, 503);
    let errors = messages(&server.log_at("ERROR"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    for setting in ["REVIEWGATE_APP_ID", "REVIEWGATE_PRIVATE_KEY_PATH"] {
        assert!(errors[0].contains(setting), "{errors:?}");
    }

    fake.refuse_app_credentials(false);
    let accepted = Instant::now();
    while readyz(&server).await.0 != 200 {
        assert!(
            accepted.elapsed() < Duration::from_secs(30),
            "not ready 30 s after GitHub accepted the credentials"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "ready {:?} after GitHub accepted the credentials ({} checks of GET /app)",
        accepted.elapsed(),
        app_checks(&fake)
    );
    let infos = messages(&server.log_at("INFO"));
    assert_eq!(
        infos
            .iter()
            .filter(|m| m.contains("accepted the App's credentials"))
            .count(),
        1,
        "{infos:?}"
    );
    let accepted_line = server
        .log_at("INFO")
        .into_iter()
        .find(|l| l["message"].as_str().unwrap_or("").contains("accepted"))
        .expect("INFO line");
    assert_eq!(accepted_line["app"], "reviewgate-test", "{accepted_line}");
    assert_eq!(messages(&server.log_at("ERROR")).len(), 1);
    let checks = app_checks(&fake);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(app_checks(&fake), checks, "no more checks once they work");
    server.stop();
}

/// A signed delivery whose ids do not fit the store's signed 64-bit integers (GitHub's are far
/// smaller; a mangled payload) is refused 400, as an unreadable one is, instead of 503 for
/// ever; and it fails no other delivery: deliveries are stored in shared transactions, and
/// one that cannot be stored must not be in one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_ids_the_store_cannot_hold_is_refused_alone() {
    let h = Harness::start().await;
    let good: Vec<serde_json::Value> = (0..40)
        .map(|_| {
            let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
            webhooks::pull_request_event("opened", &h.fake, REPO, n, INSTALLATION)
        })
        .collect();
    let mut bad = good[0].clone();
    bad["repository"]["id"] = serde_json::json!(u64::MAX);
    let send = |payload: serde_json::Value| {
        let (http, url) = (h.http.clone(), format!("{}/webhook", h.base));
        tokio::spawn(async move {
            let body = serde_json::to_vec(&payload).expect("json");
            let mut req = http.post(url).body(body.clone());
            for (k, v) in webhooks::delivery_headers("pull_request", SECRET, &body) {
                req = req.header(k, v);
            }
            let r = req.send().await.expect("answer");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    };
    // The bad one amid good ones, so that they would share a transaction.
    let mut tasks: Vec<_> = good[1..20].iter().cloned().map(send).collect();
    let bad_task = send(bad);
    tasks.extend(good[20..].iter().cloned().map(send));
    let bad = bad_task.await.expect("bad delivery");
    let mut refused_good = Vec::new();
    for t in tasks {
        let (status, text) = t.await.expect("good delivery");
        if status != 202 {
            refused_good.push(format!("{status} {text}"));
        }
    }
    assert_eq!(bad.0, 400, "{bad:?}; good ones refused: {refused_good:?}");
    assert!(refused_good.is_empty(), "{refused_good:?}");
}
