//! The webhook server (`reviewgate serve`): configuration, routes, workers and shutdown.

pub mod body;
pub mod config;
pub mod credentials;
pub mod logging;
pub mod router;
pub mod signature;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::durable::{StoreSlot, keep_connected};
use crate::app::{App, AppSettings};
use crate::github::GitHub;
use crate::metrics::Metrics;
use config::Config;
use router::ServerState;

/// A server that has been started.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts shutting down and waits until it is done.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (after SIGTERM/SIGINT).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Builds everything, binds the listener and starts serving. Stops on SIGTERM or SIGINT (or
/// [`Running::stop`]): readiness fails, the listener closes, in-flight requests finish,
/// queued and running evaluations get `shutdown_grace` to complete, then it returns.
pub async fn start(config: Config) -> Result<Running, String> {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let metrics = Arc::new(Metrics::new());
    let github = Arc::new(GitHub::new(
        config.client_settings(config.github_cache_bytes),
        metrics.clone(),
    )?);
    let credentials = Arc::new(credentials::Credentials::default());
    let mut prover = credentials::Prover::new(
        github.clone(),
        credentials.clone(),
        config.private_key_setting,
    );
    // The store is connected in the background: a store that cannot be reached at start-up
    // leaves the server listening, live and not ready, until it can.
    let store = Arc::new(StoreSlot::default());
    let connector = tokio::spawn(keep_connected(
        store.clone(),
        config.database_url.clone(),
        metrics.clone(),
        config.audit_retention,
    ));
    let app = Arc::new(App::new(
        github,
        store,
        AppSettings {
            check_name: config.check_name.clone(),
            policy_path: config.policy_path.clone(),
            org_policy_repo: config.org_policy_repo.clone(),
            reconcile_quota_share: config.reconcile_quota_share,
            team_cache_ttl: config.team_cache_ttl,
            when_no_policy: config.when_no_policy,
            workers: config.workers,
            lease: config.lease,
            debounce: config.debounce,
            github_timeout: config.github_timeout,
            queue_capacity: config.queue_capacity,
            preview_max_prs: config.preview_max_prs,
        },
    ));
    let state = Arc::new(ServerState {
        app: app.clone(),
        webhook_secrets: config.webhook_secrets.clone(),
        app_id: config.app_id,
        shutting_down: Default::default(),
        unverified: body::BodyBudget::new(body::UNVERIFIED_BUDGET_BYTES, metrics.clone()),
        credentials,
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("REVIEWGATE_LISTEN: cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    // The first try before serving, so a server that starts with working credentials is
    // ready at once; later tries in the background while they do not work.
    let proved = tokio::time::timeout(config.github_timeout, prover.try_once())
        .await
        .unwrap_or(false);
    let prover = (!proved).then(|| tokio::spawn(prover.retry_until_accepted()));
    let (stop_work, stop_work_rx) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(app.clone().dispatch(stop_work_rx, config.shutdown_grace));
    let reconciler = (!config.reconcile_interval.is_zero()).then(|| {
        tokio::spawn(reconcile_forever(
            app.clone(),
            config.reconcile_interval,
            config.reconcile_quota_share,
        ))
    });
    let (shutdown, mut shutdown_rx) = tokio::sync::watch::channel(false);
    let router = router::router(state.clone());
    let serve_state = state.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = signal() => {}
                _ = shutdown_rx.wait_for(|stop| *stop) => {}
            }
            tracing::info!("shutting down: no new deliveries; finishing evaluations");
            serve_state.shutting_down.store(true, Ordering::Relaxed);
        };
        accept(listener, router, stop).await;
        for task in [reconciler, prover].into_iter().flatten() {
            task.abort();
        }
        // Running evaluations get the grace period; then this replica's claims are given back.
        let _ = stop_work.send(true);
        let _ = dispatcher.await;
        connector.abort();
        tracing::info!("stopped");
    });
    tracing::info!(%addr, "reviewgate listening");
    Ok(Running {
        addr,
        state,
        shutdown,
        task,
    })
}

/// Level-triggered backstop: a sweep once the store is connected, then on the interval — on
/// whichever replica holds the sweep's lease.
async fn reconcile_forever(app: Arc<App>, interval: Duration, share: f64) {
    while app.store.ready().is_none() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    loop {
        match app.sweep_if_ours(share, interval).await {
            Some(Ok(sweep)) => app.metrics.reconcile_sweep(true, sweep.queued),
            Some(Err(e)) => {
                app.metrics.reconcile_sweep(false, 0);
                tracing::warn!(error = %e, "reconciliation sweep failed; trying again at the next interval");
            }
            None => tracing::debug!("another replica holds the sweep's lease"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// Most connections served at once; further ones are closed at once, so idle sockets cannot
/// exhaust the process's file descriptors.
const MAX_CONNECTIONS: usize = 4096;
/// A client must send a request's headers within this time (GitHub sends them at once).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for in-flight requests once shutdown starts.
const HTTP_DRAIN: Duration = Duration::from_secs(10);

/// Serves HTTP/1.1 connections until `stop` completes, then stops accepting and lets
/// in-flight requests finish (for up to [`HTTP_DRAIN`]). Unlike `axum::serve`, it bounds how
/// long a client may take to send headers and how many connections may be open.
async fn accept(
    listener: TcpListener,
    router: axum::Router,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(limit = MAX_CONNECTIONS, "too many open connections; closing a new one");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(HTTP_DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP connections did not finish in time");
    }
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `reviewgate serve`: reads the environment, serves until told to stop.
pub fn serve_from_env() -> Result<(), String> {
    serve(&config::Settings::from_env())
}

/// `reviewgate serve` with the settings given (flags, else the environment).
pub fn serve(settings: &config::Settings) -> Result<(), String> {
    let config = Config::from_settings(settings).map_err(|e| e.to_string())?;
    logging::init(config.log_format, config.log_filter.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let running = start(config).await?;
        running.wait().await;
        Ok::<(), String>(())
    })?;
    // Outstanding background tasks (idle connections) must not hold the process open.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
