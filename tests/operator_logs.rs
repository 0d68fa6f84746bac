//! What the log says while GitHub fails (issue 15, "Logs"): the real binary, logging JSON at
//! `debug`, against the fake GitHub. octocrab's and the HTTP stack's own lines stay off even
//! then; the App logs one WARN per failing endpoint when its first attempt fails (template,
//! failure, attempt), one when a request to it gives up, and one INFO when it answers again.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake_github::{Fault, FaultKind, FileSpec, PrSpec};
use support::harness::{CHECK, INSTALLATION, REPO, fake_world};
use support::process::ServerProcess;
use support::webhooks;

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or("")
}

/// The lines whose message starts with `prefix`, by endpoint.
fn by_endpoint<'a>(log: &'a [Value], prefix: &str) -> BTreeMap<String, Vec<&'a Value>> {
    let mut out: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for line in log.iter().filter(|l| message(l).starts_with(prefix)) {
        let endpoint = line["endpoint"].as_str().unwrap_or("").to_string();
        out.entry(endpoint).or_default().push(line);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_one_warning_per_endpoint_then_a_summary() {
    let fake = fake_world().await;
    let server = ServerProcess::start_logged(
        &fake,
        &[
            ("REVIEWGATE_LOG", "debug"),
            ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
            ("REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS", "2"),
            ("REVIEWGATE_DEBOUNCE_MS", "50"),
        ],
    )
    .await;
    let n = fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            files: vec![FileSpec::modified("src/lib.rs")],
            ..PrSpec::default()
        },
    );
    // Every read of the pull request fails with a 502 until the outage ends.
    fake.inject(Fault {
        times: 10_000,
        ..Fault::once(
            None,
            &format!("/repos/{REPO}/pulls/{n}"),
            FaultKind::Status(502),
        )
    });
    let opened = webhooks::pull_request_event("opened", &fake, REPO, n, INSTALLATION);
    server.wait_for_store().await;
    assert_eq!(server.deliver("pull_request", &opened).await, 202);
    // Long enough for several requests to give up (2 s deadline) and be tried again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    fake.clear_faults();
    let sha = fake.pr_json(REPO, n)["head"]["sha"]
        .as_str()
        .expect("head")
        .to_string();
    // The outage may have written "Could not read ... from GitHub; will retry"; wait for the
    // verdict the retry after it writes, which needs the pull request read again.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let judged = fake.latest_check_run(REPO, &sha, CHECK).is_some_and(|run| {
            !run.title
                .as_deref()
                .unwrap_or("")
                .starts_with("Could not read")
        });
        if judged {
            break;
        }
        assert!(Instant::now() < deadline, "no verdict after the outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.log();
    let at = |level: &str| log.iter().filter(|l| l["level"] == level).count();
    let github_lines = |level: &str| {
        log.iter()
            .filter(|l| l["level"] == level && message(l).starts_with("GitHub "))
            .count()
    };
    eprintln!(
        "log during a 6 s outage of one pull request's reads: {} lines ({} ERROR, {} WARN, {} INFO, {} DEBUG); about GitHub requests: {} WARN, {} INFO, {} DEBUG",
        log.len(),
        at("ERROR"),
        at("WARN"),
        at("INFO"),
        at("DEBUG"),
        github_lines("WARN"),
        github_lines("INFO"),
        github_lines("DEBUG")
    );

    let quiet: Vec<&Value> = log
        .iter()
        .filter(|l| {
            let target = l["target"].as_str().unwrap_or("");
            ["octocrab", "tower_http", "hyper", "hyper_util", "tower"]
                .iter()
                .any(|t| target == *t || target.starts_with(&format!("{t}::")))
        })
        .collect();
    assert!(
        quiet.is_empty(),
        "the client's own lines at debug: {quiet:?}"
    );

    let failed = by_endpoint(&log, "GitHub request failed;");
    assert!(!failed.is_empty(), "no warning for the outage");
    for (endpoint, lines) in &failed {
        assert!(
            endpoint.starts_with("GET /repos/{owner}/{repo}/pulls/{number}"),
            "{endpoint}"
        );
        assert_eq!(
            lines.len(),
            1,
            "{endpoint}: one warning, not one per attempt: {lines:?}"
        );
        let line = lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["attempt"], 1, "{line}");
        assert!(
            line["failure"].as_str().unwrap_or("").contains("502"),
            "{line}"
        );
    }
    let again: usize = log
        .iter()
        .filter(|l| message(l).starts_with("GitHub request failed again"))
        .count();
    assert!(again >= 2, "later attempts are logged at debug ({again})");
    let gave_up = by_endpoint(&log, "GitHub request gave up");
    assert!(
        !gave_up.is_empty(),
        "a request gave up within 6 s of a 2 s deadline"
    );
    for (endpoint, lines) in &gave_up {
        let warned = lines.iter().filter(|l| l["level"] == "WARN").count();
        assert_eq!(warned, 1, "{endpoint}: one summary at WARN: {lines:?}");
    }
    let recovered = by_endpoint(&log, "GitHub endpoint answers again");
    for endpoint in failed.keys() {
        let lines = recovered.get(endpoint).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            lines.len(),
            1,
            "{endpoint}: recovery logged once: {recovered:?}"
        );
        assert_eq!(lines[0]["level"], "INFO");
        assert!(
            lines[0]["failures"].as_u64().unwrap_or(0) >= 2,
            "{}",
            lines[0]
        );
    }
    server.stop();
}
