//! How fast the store accepts deliveries: the figure behind "a webhook is answered only after
//! its work is committed". Ignored by default; run with
//! `cargo test --release --test store_bench -- --ignored --nocapture`
//! (set `REVIEWGATE_TEST_DATABASE_URL` for the PostgreSQL figures).

mod store_support;

use std::time::{Duration, Instant};

use reviewgate::store::{Delivery, Fact, Store};
use store_support::{Db, pr_item, unique};

/// Deliveries per measurement.
const DELIVERIES: usize = 2_000;

/// A delivery as a `pull_request` webhook gives it: one PR's work and its pusher.
fn delivery(run: &str, i: usize) -> Delivery {
    let pr = (i % 500) as u64 + 1;
    Delivery {
        id: format!("{run}-{i}"),
        work: vec![pr_item(1, pr, None, Duration::from_millis(300))],
        facts: vec![Fact::Pusher {
            repo_id: 1,
            pr,
            login: format!("dev{}", i % 7),
            head_sha: None,
        }],
    }
}

/// Accepts `DELIVERIES` deliveries in batches of `batch` from `tasks` concurrent callers;
/// prints deliveries per second and the p50/p99 time of one `accept` call.
async fn measure(store: &Store, label: &str, batch: usize, tasks: usize) {
    let run = unique("bench");
    let per_task = DELIVERIES / tasks;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (store, run) = (store.clone(), run.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let all: Vec<Delivery> = (0..per_task)
                .map(|i| delivery(&run, t * per_task + i))
                .collect();
            for chunk in all.chunks(batch) {
                let t0 = Instant::now();
                store.accept(chunk).await.expect("accept");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.expect("task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "{label:<10} batch {batch:>2}, {tasks:>2} callers: {:>7.0} deliveries/s; accept p50 {:>6.2} ms, p99 {:>6.2} ms",
        (tasks * per_task) as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}

async fn suite(db: &Db) {
    let label = db.store.backend();
    for (batch, tasks) in [(1, 1), (32, 1), (1, 16), (32, 4)] {
        measure(&db.store, label, batch, tasks).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
async fn accept_throughput() {
    let db = store_support::sqlite().await;
    suite(&db).await;
    db.cleanup().await;
    if let Some(db) = store_support::postgres().await {
        suite(&db).await;
        db.cleanup().await;
    }
}
