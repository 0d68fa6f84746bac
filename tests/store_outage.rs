//! The store going away and coming back: the server starts without it, says so on /readyz,
//! refuses deliveries it cannot store (503 within GitHub's 10 s), and recovers on its own.
//! PostgreSQL outages are made with a TCP proxy in front of the test database.

#[path = "store_support/mod.rs"]
mod store_support;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::fake_github::{FileSpec, PrSpec};
use support::harness::*;
use support::webhooks;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn pr(files: &[&str]) -> PrSpec {
    PrSpec {
        author: "zed".into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

async fn readyz(h: &Harness) -> (u16, String) {
    let r = h.get("/readyz").await;
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Waits until /readyz answers `want`; returns how long it took.
async fn readyz_becomes(h: &Harness, want: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = readyz(h).await;
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "/readyz still {status} ({body:?}) after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deliver_opened(h: &Harness, n: u64) -> (u16, Duration) {
    let event = webhooks::pull_request_event("opened", &h.fake, REPO, n, INSTALLATION);
    let started = Instant::now();
    let status = h.deliver("pull_request", &event).await.status().as_u16();
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_missing_at_start_up_leaves_the_server_live_but_not_ready_until_it_appears() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("not-yet");
    let url = format!("sqlite:{}", data.join("reviewgate.db").display());
    let h = Harness::started(fake_world().await, &[("REVIEWGATE_DATABASE_URL", &url)]).await;
    h.wait_for_credentials().await;
    assert_eq!(h.get("/healthz").await.status(), 200);
    let (status, body) = readyz(&h).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store"), "{body}");
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let (status, took) = deliver_opened(&h, n).await;
    assert_eq!(status, 503, "a delivery that cannot be stored is refused");
    assert!(took < Duration::from_secs(10), "{took:?}");

    // The directory appears: the server connects, migrates, and takes deliveries.
    std::fs::create_dir(&data).expect("create the store's directory");
    readyz_becomes(&h, 200, Duration::from_secs(10)).await;
    let (status, _) = deliver_opened(&h, n).await;
    assert_eq!(status, 202);
    let run = h.check_on(&h.head_sha(n)).await.expect("a run");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
}

/// A TCP proxy to `upstream` that can cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let connections: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (down, connections) = (down.clone(), connections.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().expect("lock").push(task);
                }
            }
        });
        Proxy {
            port,
            down,
            connections,
            _accept: accept,
        }
    }

    /// Every connection cut, new ones refused.
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_shows_on_readyz_and_refuses_deliveries_within_10_s_then_recovers() {
    let Some(db) = store_support::postgres().await else {
        return;
    };
    // The same database and schema, reached through the proxy.
    let server: reqwest::Url = db.url.parse().expect("url");
    let upstream = format!(
        "{}:{}",
        server.host_str().expect("host"),
        server.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream).await;
    let mut through = server.clone();
    through.set_host(Some("127.0.0.1")).expect("host");
    through.set_port(Some(proxy.port)).expect("port");
    let h = Harness::with(
        fake_world().await,
        &[("REVIEWGATE_DATABASE_URL", through.as_str())],
    )
    .await;
    readyz_becomes(&h, 200, Duration::from_secs(10)).await;
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));

    proxy.cut();
    let took = readyz_becomes(&h, 503, Duration::from_secs(10)).await;
    eprintln!("readyz 503 {took:?} after the store went away");
    let (status, took) = deliver_opened(&h, n).await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(10), "answered after {took:?}");

    proxy.restore();
    let took = readyz_becomes(&h, 200, Duration::from_secs(10)).await;
    eprintln!("readyz 200 {took:?} after the store came back");
    let (status, _) = deliver_opened(&h, n).await;
    assert_eq!(status, 202);
    let run = h.check_on(&h.head_sha(n)).await.expect("a run");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_capacity_deliveries_and_readiness_are_refused() {
    // A long debounce keeps the work pending; the capacity counts pending PRs in the store.
    let h = Harness::with(
        fake_world().await,
        &[
            ("REVIEWGATE_QUEUE_CAPACITY", "2"),
            ("REVIEWGATE_DEBOUNCE_MS", "60000"),
        ],
    )
    .await;
    for _ in 0..2 {
        let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
        let event =
            webhooks::pull_request_event("ready_for_review", &h.fake, REPO, n, INSTALLATION);
        assert_eq!(h.deliver("pull_request", &event).await.status(), 202);
    }
    readyz_becomes(&h, 503, Duration::from_secs(10)).await;
    let (_, body) = readyz(&h).await;
    assert!(body.contains("queue full"), "{body}");
    let n = h.fake.open_pr(REPO, pr(&["src/lib.rs"]));
    let event = webhooks::pull_request_event("ready_for_review", &h.fake, REPO, n, INSTALLATION);
    assert_eq!(h.deliver("pull_request", &event).await.status(), 503);
}
