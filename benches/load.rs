//! Load figures for docs/performance.md, measured against the real `reviewgate serve`
//! process on loopback, with the fake GitHub (from the test harness) in this process.
//!
//! - `cargo bench --bench load -- idle`: idle RSS of the server.
//! - `cargo bench --bench load -- ingest`: signed webhook deliveries accepted (stored) per
//!   second, and their latency, while the fake GitHub takes 100 ms per request: one replica on
//!   SQLite, then (when `REVIEWGATE_TEST_DATABASE_URL` names a PostgreSQL database) one on
//!   PostgreSQL.
//! - `cargo bench --bench load -- burst`: 500 PRs opened at once with GitHub at 50 ms per
//!   request: time until all 500 check runs are written, peak concurrency per installation,
//!   peak RSS — one replica on SQLite, then two replicas sharing PostgreSQL (deliveries
//!   alternating between them).
//!
//! With no argument, all three run. Each PostgreSQL run uses a fresh schema.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../tests/store_support/mod.rs"]
mod store_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::fake_github::{FakeGitHub, FileSpec, PrSpec, test_fixture};
use support::harness::{APP_ID, INSTALLATION, POLICY, POLICY_PATH, REPO, SECRET};
use support::process::ServerProcess;
use support::webhooks;

async fn world(prs: usize, latency: Duration) -> (FakeGitHub, Vec<u64>) {
    let fake = FakeGitHub::start(APP_ID, &test_fixture("test-app-key.pub.pem")).await;
    fake.add_installation(INSTALLATION, "acme");
    fake.add_repo(INSTALLATION, REPO, "main");
    fake.set_file(REPO, "main", POLICY_PATH, POLICY);
    fake.set_team("acme", "senior-engineers", &["carol", "sam"]);
    fake.set_team("acme", "tech-leads", &["lena"]);
    fake.set_team("acme", "payments", &["pat", "carol"]);
    let numbers = (0..prs)
        .map(|i| {
            let file = if i % 3 == 0 {
                format!("ledger/f{i}.rs")
            } else {
                format!("src/f{i}.rs")
            };
            fake.open_pr(
                REPO,
                PrSpec {
                    author: "zed".into(),
                    files: vec![FileSpec::modified(&file)],
                    ..PrSpec::default()
                },
            )
        })
        .collect();
    fake.set_latency(latency);
    (fake, numbers)
}

fn signed(
    event: &str,
    payload: &serde_json::Value,
) -> (String, Vec<u8>, Vec<(&'static str, String)>) {
    let body = serde_json::to_vec(payload).expect("json");
    let headers = webhooks::delivery_headers(event, SECRET, &body);
    (event.to_string(), body, headers)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Where the replicas keep their state: each its own SQLite file, or one PostgreSQL schema.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// `n` servers against `fake`; with PostgreSQL all share one fresh schema (the value keeps it).
/// `None` when PostgreSQL was asked for and `REVIEWGATE_TEST_DATABASE_URL` is not set.
async fn replicas(
    fake: &FakeGitHub,
    backend: Backend,
    n: usize,
) -> Option<(Vec<ServerProcess>, Option<store_support::Db>)> {
    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(store_support::postgres_unmigrated().await?),
    };
    let mut servers = Vec::new();
    for _ in 0..n {
        let mut env = vec![("REVIEWGATE_RECONCILE_INTERVAL", "0")];
        if let Some(db) = &db {
            env.push(("REVIEWGATE_DATABASE_URL", db.url.as_str()));
        }
        servers.push(ServerProcess::start(fake, &env).await);
    }
    Some((servers, db))
}

async fn idle() {
    let (fake, _) = world(1, Duration::ZERO).await;
    let server = ServerProcess::start(&fake, &[("REVIEWGATE_RECONCILE_INTERVAL", "0")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, _) = server.memory_kib();
    println!(
        "idle: RSS {:.1} MiB on SQLite (target < 30 MiB)",
        rss as f64 / 1024.0
    );
    server.stop();
}

async fn ingest(backend: Backend) {
    const PRS: usize = 1000;
    const CONNECTIONS: usize = 32;
    const SECONDS: u64 = 5;
    let (fake, numbers) = world(PRS, Duration::from_millis(100)).await;
    let Some((mut servers, _db)) = replicas(&fake, backend, 1).await else {
        return;
    };
    let server = servers.remove(0);
    let deliveries: Arc<Vec<_>> = Arc::new(
        numbers
            .iter()
            .map(|n| {
                signed(
                    "pull_request",
                    &webhooks::pull_request_event("synchronize", &fake, REPO, *n, INSTALLATION),
                )
            })
            .collect(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (http, deliveries, stop, measuring, errors) = (
            http.clone(),
            deliveries.clone(),
            stop.clone(),
            measuring.clone(),
            errors.clone(),
        );
        let url = format!("{}/webhook", server.url);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let (event, body, headers) = &deliveries[i % deliveries.len()];
                i += CONNECTIONS;
                let mut req = http
                    .post(&url)
                    .body(body.clone())
                    .header("x-github-event", event);
                for (k, v) in headers.iter().filter(|(k, _)| *k != "x-github-delivery") {
                    req = req.header(*k, v);
                }
                // Every request is a new delivery: a repeated ID would be answered as a
                // replay, without the work this measures.
                req = req.header("x-github-delivery", format!("load-{c}-{i}"));
                let started = Instant::now();
                let ok = req
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed().as_micros() as u32);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    let (_, peak) = server.memory_kib();
    println!(
        "ingest ({backend:?}): {:.0} deliveries/s over {:.1} s with {CONNECTIONS} connections ({} refused or failed); latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; GitHub at 100 ms/request; server peak RSS {:.1} MiB",
        all.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        errors.load(Ordering::Relaxed),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        peak as f64 / 1024.0
    );
    server.stop();
}

async fn burst(backend: Backend, n: usize) {
    const PRS: usize = 500;
    let (fake, numbers) = world(PRS, Duration::from_millis(50)).await;
    let Some((servers, _db)) = replicas(&fake, backend, n).await else {
        return;
    };
    let deliveries: Vec<_> = numbers
        .iter()
        .map(|n| {
            signed(
                "pull_request",
                &webhooks::pull_request_event("opened", &fake, REPO, *n, INSTALLATION),
            )
        })
        .collect();
    let heads: Vec<String> = numbers
        .iter()
        .map(|n| {
            fake.pr_json(REPO, *n)["head"]["sha"]
                .as_str()
                .expect("sha")
                .to_string()
        })
        .collect();
    let http = reqwest::Client::new();
    fake.clear_requests();
    let started = Instant::now();
    let mut sends = Vec::new();
    for (i, (event, body, headers)) in deliveries.into_iter().enumerate() {
        let server = &servers[i % servers.len()];
        let (http, url) = (http.clone(), format!("{}/webhook", server.url));
        sends.push(tokio::spawn(async move {
            let mut req = http.post(url).body(body).header("x-github-event", event);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut accepted = 0;
    for s in sends {
        if s.await.expect("send") == 202 {
            accepted += 1;
        }
    }
    let delivered = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    let written = loop {
        let written = heads
            .iter()
            .filter(|sha| fake.latest_check_run(REPO, sha, "reviewgate").is_some())
            .count();
        if written == PRS || Instant::now() > deadline {
            break written;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let all_written = started.elapsed();
    let peak = servers.iter().map(|s| s.memory_kib().1).max().unwrap_or(0);
    let requests = fake.requests().len();
    println!(
        "burst ({n} × {backend:?}): {accepted}/{PRS} deliveries accepted in {:.2} s; {written}/{PRS} check runs written {:.2} s after the first delivery (target < 10 s); {requests} GitHub requests; peak concurrency per installation {} (limit 100); peak RSS of a replica {:.1} MiB (target < 150 MiB)",
        delivered.as_secs_f64(),
        all_written.as_secs_f64(),
        fake.max_concurrency(INSTALLATION),
        peak as f64 / 1024.0
    );
    for server in servers {
        server.stop();
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if wants("idle") {
            idle().await;
        }
        if wants("ingest") {
            ingest(Backend::Sqlite).await;
            ingest(Backend::Postgres).await;
        }
        if wants("burst") {
            burst(Backend::Sqlite, 1).await;
            burst(Backend::Postgres, 2).await;
        }
    });
}
