//! No secret ever reaches a log line or a check run: the webhook secrets (current and the one
//! being rotated out), the App's private key, the JWTs signed with it, and the installation
//! tokens GitHub hands out.
//!
//! This file is its own test binary because it installs a global `tracing` subscriber that
//! records everything, at TRACE level for every crate, as JSON lines in memory. A full
//! scenario then runs against the real server (reviews, dismissals, policy pushes, faults,
//! expired tokens, rate limits, forged deliveries, an invalid policy, a merge group) and the
//! captured lines, every check run ever written and every request body sent to GitHub are
//! searched for each secret.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::Method;
use reviewgate::github::ClientSettings;
use reviewgate::server::config::Config;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

use support::fake_github::{Fault, FaultKind, FileSpec, PrSpec, clock, test_fixture};
use support::harness::*;
use support::webhooks;

/// The secret the App accepted before the current one; still valid during a rotation.
const PREVIOUS_SECRET: &str = "previous-rotated-webhook-secret-7f3a";

/// Log lines, appended by every thread.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Installs the capturing subscriber once for this binary and returns its buffer.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(capture.clone())
            .try_init()
            .expect("the only global subscriber of this binary");
        capture
    })
}

/// The base64 lines of the App's private key (each 64 characters but the last).
fn private_key_lines() -> Vec<String> {
    let pem = test_fixture("test-app-key.pem");
    let lines: Vec<String> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .map(str::to_string)
        .collect();
    assert!(lines.len() > 10, "the key has a body");
    assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 64));
    lines
        .into_iter()
        .filter(|l| l.len() >= 16)
        .collect::<Vec<_>>()
}

fn is_credential_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | '=')
}

/// Every place `text` has `scheme` followed by something shaped like a credential (a run of
/// at least 20 token characters), e.g. `Bearer eyJ...` or `token ghs_...`.
fn credentials_after(text: &str, scheme: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices(scheme) {
        let rest = &text[i + scheme.len()..];
        let run: String = rest
            .chars()
            .take_while(|c| is_credential_char(*c))
            .collect();
        if run.len() >= 20 {
            found.push(format!("{scheme}{run}"));
        }
    }
    found
}

/// Every secret-looking thing in `text`, described, for one assertion message.
fn leaks(text: &str, key_lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (what, needle) in [
        ("the webhook secret", SECRET),
        ("the previous webhook secret", PREVIOUS_SECRET),
        ("a PEM header", "PRIVATE KEY"),
        ("an installation token", "ghs_"),
        ("a JWT", "eyJ"),
    ] {
        if let Some(at) = text.find(needle) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(80)
                .map_or(0, |(i, _)| i);
            let context: String = text[from..].chars().take(200).collect();
            out.push(format!("{what} ({needle:?}) in …{context}…"));
        }
    }
    for (n, line) in key_lines.iter().enumerate() {
        if text.contains(line.as_str()) {
            out.push(format!("line {} of the private key", n + 2));
        }
    }
    for scheme in ["Bearer ", "bearer ", "token ", "Token "] {
        for hit in credentials_after(text, scheme) {
            out.push(format!("a credential after {scheme:?}: {hit}"));
        }
    }
    out
}

fn pr(author: &str, files: &[&str]) -> PrSpec {
    PrSpec {
        author: author.into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

/// Delivers `payload` signed with `secret` and returns the status.
async fn deliver_signed(h: &Harness, event: &str, payload: &Value, secret: &str) -> u16 {
    let body = serde_json::to_vec(payload).expect("json");
    let mut req = h
        .http
        .post(format!("{}/webhook", h.base))
        .body(body.clone());
    for (k, v) in webhooks::delivery_headers(event, secret, &body) {
        req = req.header(k, v);
    }
    req.send().await.expect("delivery").status().as_u16()
}

async fn push_policy(h: &Harness, policy: &str) {
    h.fake.set_file(REPO, "main", POLICY_PATH, policy);
    let after = h.fake.branch_head(REPO, "main").expect("main");
    let push = webhooks::push_event(
        &h.fake,
        REPO,
        "refs/heads/main",
        &after,
        &[POLICY_PATH],
        INSTALLATION,
    );
    assert_eq!(h.deliver("push", &push).await.status(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_check_run() {
    let logs = capture();
    let h = Harness::with(
        fake_world().await,
        &[("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", PREVIOUS_SECRET)],
    )
    .await;

    // A PR through its life: opened, approved, approved again under the rotated-out secret,
    // dismissed.
    let a = h.fake.open_pr(REPO, pr("zed", &["src/lib.rs"]));
    assert_eq!(
        h.pr_event("opened", a).await.conclusion.as_deref(),
        Some("failure")
    );
    assert_eq!(
        h.review(a, "dan", "APPROVED").await.conclusion.as_deref(),
        Some("success")
    );
    let review = webhooks::pull_request_review_event(
        "submitted",
        &h.fake,
        REPO,
        a,
        INSTALLATION,
        "dan",
        "APPROVED",
    );
    assert_eq!(
        deliver_signed(&h, "pull_request_review", &review, PREVIOUS_SECRET).await,
        202,
        "the previous secret is still accepted during the rotation"
    );
    // Forged deliveries, one of them signed with a near miss of the secret.
    for secret in ["wrong", &format!("{SECRET} "), &SECRET[1..]] {
        assert_eq!(
            deliver_signed(&h, "pull_request_review", &review, secret).await,
            401
        );
    }
    let r = h
        .http
        .post(format!("{}/webhook", h.base))
        .header("x-github-event", "pull_request")
        .header("x-hub-signature-256", format!("sha256={SECRET}"))
        .body(serde_json::to_vec(&review).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let review_id = h.fake.latest_review_by(REPO, a, "dan").expect("review")["id"]
        .as_u64()
        .expect("id");
    h.fake.dismiss_review(REPO, a, review_id);
    let dismissed = webhooks::pull_request_review_event(
        "dismissed",
        &h.fake,
        REPO,
        a,
        INSTALLATION,
        "dan",
        "DISMISSED",
    );
    assert_eq!(
        h.deliver("pull_request_review", &dismissed).await.status(),
        202
    );
    let head_a = h.head_sha(a);
    assert_eq!(
        h.check_on(&head_a)
            .await
            .expect("run")
            .conclusion
            .as_deref(),
        Some("failure")
    );

    // GitHub failing in the ways it does: 5xx, resets, a truncated token answer, an expired
    // token, rate limits.
    h.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: format!("/pulls/{a}"),
        times: 2,
        kind: FaultKind::Status(502),
    });
    h.fake
        .inject(Fault::once(Some(Method::GET), "/reviews", FaultKind::Reset));
    assert_eq!(
        h.review(a, "erin", "APPROVED").await.conclusion.as_deref(),
        Some("success")
    );
    h.fake.expire_tokens();
    h.fake.inject(Fault::once(
        Some(Method::POST),
        "/access_tokens",
        FaultKind::TruncatedBody,
    ));
    let run = h.review(a, "erin", "APPROVED").await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
    h.fake.expire_tokens();
    h.fake.inject(Fault::once(
        Some(Method::GET),
        "/files",
        FaultKind::SecondaryRateLimit {
            retry_after_secs: 1,
        },
    ));
    h.fake.inject(Fault::once(
        Some(Method::GET),
        "/commits",
        FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
    ));
    assert_eq!(
        h.pr_event("synchronize", a).await.conclusion.as_deref(),
        Some("success")
    );
    let now = clock::now();
    h.fake.set_rate_limit(INSTALLATION, 0, now + 2);
    assert_eq!(
        h.pr_event("synchronize", a).await.conclusion.as_deref(),
        Some("success")
    );
    // Rate limited for longer than the retry deadline: the run says so and is retried.
    h.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: "/reviews".into(),
        times: 1,
        kind: FaultKind::PrimaryRateLimit,
    });
    h.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: "/files".into(),
        times: 1,
        kind: FaultKind::Status(401),
    });
    let b = h.fake.open_pr(REPO, pr("zed", &["ledger/post.rs"]));
    h.pr_event("opened", b).await;

    // A PR on the ledger through a merge group, with a team read.
    h.fake.review(REPO, b, "carol", "APPROVED", None);
    h.fake.review(REPO, b, "sam", "APPROVED", None);
    let group_sha = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d";
    let group =
        webhooks::merge_group_checks_requested(&h.fake, REPO, "main", b, group_sha, INSTALLATION);
    assert_eq!(h.deliver("merge_group", &group).await.status(), 202);
    let run = h.check_on(group_sha).await.expect("a check on the group");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
    let membership = webhooks::membership_event(
        &h.fake,
        "removed",
        "acme",
        "payments",
        "carol",
        INSTALLATION,
    );
    h.deliver("membership", &membership).await;

    // The policy changes, becomes invalid, then valid again.
    push_policy(
        &h,
        &POLICY.replace(
            "[levels.standard]\napprovals = 1",
            "[levels.standard]\napprovals = 3",
        ),
    )
    .await;
    assert_eq!(
        h.check_on(&head_a)
            .await
            .expect("run")
            .conclusion
            .as_deref(),
        Some("failure")
    );
    push_policy(
        &h,
        &POLICY.replace("level = \"critical\"", "level = \"urgent\""),
    )
    .await;
    let run = h.check_on(&head_a).await.expect("run");
    assert!(
        run.title
            .as_deref()
            .unwrap_or("")
            .starts_with("Invalid review policy"),
        "{:?}",
        run.title
    );
    push_policy(&h, POLICY).await;
    assert_eq!(
        h.check_on(&head_a)
            .await
            .expect("run")
            .conclusion
            .as_deref(),
        Some("success")
    );
    // "Re-run" from the Checks tab, and an installation GitHub does not know.
    let run_id = h
        .fake
        .latest_check_run(REPO, &head_a, CHECK)
        .expect("run")
        .id;
    let rerun = webhooks::check_run_rerequested(&h.fake, REPO, run_id, INSTALLATION);
    assert_eq!(h.deliver("check_run", &rerun).await.status(), 202);
    let stranger = webhooks::pull_request_event("opened", &h.fake, REPO, a, 99_999);
    assert_eq!(h.deliver("pull_request", &stranger).await.status(), 202);
    h.settle().await;
    // Let retried jobs (5 s after a failure) run before reading the logs.
    tokio::time::sleep(Duration::from_secs(6)).await;
    h.settle().await;
    let metrics = h.get("/metrics").await.text().await.unwrap();
    let _ = h.get("/healthz").await;

    // The scenario really went through every failure it set up.
    let requests = h.fake.requests();
    for want in [
        FaultKind::Status(502),
        FaultKind::Reset,
        FaultKind::TruncatedBody,
        FaultKind::SecondaryRateLimit {
            retry_after_secs: 1,
        },
        FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
        FaultKind::PrimaryRateLimit,
        FaultKind::Status(401),
    ] {
        assert!(
            requests.iter().any(|r| r.fault.as_ref() == Some(&want)),
            "no request met {want:?}"
        );
    }
    let token_exchanges = requests
        .iter()
        .filter(|r| r.method == Method::POST && r.path.ends_with("/access_tokens"))
        .count();
    assert!(
        token_exchanges >= 3,
        "tokens were fetched again after expiring: {token_exchanges} exchanges"
    );
    assert!(
        requests.iter().any(|r| r.status == 401),
        "an expired token was refused at least once"
    );

    // --- what was written ---
    let key_lines = private_key_lines();
    let text = logs.text();
    assert!(
        text.lines().count() > 100,
        "the subscriber captured the App's logs: {} lines",
        text.lines().count()
    );
    let found = leaks(&text, &key_lines);
    assert!(
        found.is_empty(),
        "secrets in the logs:\n{}",
        found.join("\n")
    );
    for run in h.fake.check_runs(REPO) {
        let written = serde_json::to_string(&run.history).unwrap();
        let fields = format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{written}",
            run.title, run.summary, run.text, run.external_id, run.details_url
        );
        let found = leaks(&fields, &key_lines);
        assert!(
            found.is_empty(),
            "secrets in check run {} on {}:\n{}",
            run.id,
            run.head_sha,
            found.join("\n")
        );
    }
    for request in h.fake.requests() {
        if let Some(body) = &request.body {
            let found = leaks(&body.to_string(), &key_lines);
            assert!(
                found.is_empty(),
                "secrets in the body of {} {}: {}",
                request.method,
                request.path,
                found.join("\n")
            );
        }
    }
    let found = leaks(&metrics, &key_lines);
    assert!(
        found.is_empty(),
        "secrets in /metrics: {}",
        found.join("\n")
    );

    // --- and the capture is real: the lines carry the evaluations' span fields ---
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        lines.len(),
        text.lines().count(),
        "every captured line is one JSON object"
    );
    let evaluated: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "evaluated")
        .collect();
    assert!(
        evaluated.len() >= 5,
        "{} `evaluated` lines",
        evaluated.len()
    );
    for l in &evaluated {
        let span = &l["span"];
        assert_eq!(span["name"], "evaluation", "{l}");
        assert_eq!(span["repo"], REPO, "{l}");
        assert!(span["pr"].as_u64().is_some(), "{l}");
        // Only an evaluation that never read the PR (not found: here, the unknown
        // installation's) has no head to name.
        if l["fields"]["outcome"] != "skipped" {
            assert!(
                span["head_sha"].as_str().is_some_and(|s| s.len() == 40),
                "{l}"
            );
        }
    }
    assert!(
        evaluated
            .iter()
            .any(|l| l["span"]["pr"] == a && l["span"]["head_sha"] == head_a.as_str()),
        "an evaluation of PR {a} at {head_a} was logged"
    );
    let refused = lines
        .iter()
        .filter(|l| {
            l["level"] == "WARN"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("signature"))
        })
        .count();
    assert_eq!(
        refused, 4,
        "each forged delivery was logged, without its secret"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "TRACE" || l["level"] == "DEBUG"),
        "the capture runs at TRACE"
    );
}

fn config_with_secrets() -> Config {
    let key = test_fixture("test-app-key.pem");
    let vars = [
        ("REVIEWGATE_APP_ID", APP_ID.to_string()),
        ("REVIEWGATE_PRIVATE_KEY", key),
        ("REVIEWGATE_WEBHOOK_SECRET", SECRET.to_string()),
        (
            "REVIEWGATE_WEBHOOK_SECRET_PREVIOUS",
            PREVIOUS_SECRET.to_string(),
        ),
    ];
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("valid configuration")
}

#[test]
fn config_debug_prints_no_secret() {
    let config = config_with_secrets();
    assert_eq!(config.webhook_secrets.len(), 2);
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        let found = leaks(&shown, &private_key_lines());
        assert!(found.is_empty(), "{}\nin {shown}", found.join("\n"));
    }
    // Also when the key comes from a file.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-app-key.pem"
    );
    let config = Config::from_lookup(|name| match name {
        "REVIEWGATE_APP_ID" => Some("1".into()),
        "REVIEWGATE_PRIVATE_KEY_PATH" => Some(path.into()),
        "REVIEWGATE_WEBHOOK_SECRET" => Some(SECRET.into()),
        _ => None,
    })
    .expect("valid");
    let found = leaks(&format!("{config:?}"), &private_key_lines());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn client_settings_debug_prints_no_private_key() {
    let settings = ClientSettings {
        api_url: "https://api.github.com".into(),
        app_id: APP_ID,
        private_key_pem: test_fixture("test-app-key.pem").into(),
        timeout: Duration::from_secs(10),
        retry_deadline: Duration::from_secs(60),
        concurrency_per_installation: 40,
        conditional_cache_bytes: 0,
    };
    let found = leaks(&format!("{settings:?}"), &private_key_lines());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_leak_detector_finds_what_it_looks_for() {
    let key_lines = private_key_lines();
    let planted = [
        format!("x {SECRET} y"),
        format!("{{\"s\":\"{PREVIOUS_SECRET}\"}}"),
        format!("key material {} here", key_lines[3]),
        "-----BEGIN RSA PRIVATE KEY-----".to_string(),
        "Authorization: token ghs_16C7e42F292c6912E7710c838347Ae178B4a".to_string(),
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjQyNDJ9.c2lnbmF0dXJl".to_string(),
        "authorization=Bearer abcdefghijklmnopqrstuvwxyz0123456789".to_string(),
    ];
    for text in planted {
        assert!(!leaks(&text, &key_lines).is_empty(), "missed in {text:?}");
    }
    for clean in [
        "the installation token expires at 12:00",
        "Token expires at: Some(2026-12-01T00:40:55Z)",
        "webhook delivery with a missing or wrong signature refused",
    ] {
        assert!(
            leaks(clean, &key_lines).is_empty(),
            "false alarm on {clean:?}"
        );
    }
}
