//! The App's hold on its store: absent until it connects (the server starts without it, so a
//! store outage at start-up leaves `/healthz` answering), healthy or not, and how much work is
//! pending across all replicas (what back-pressure bounds).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::metrics::Metrics;
use crate::store::Store;

/// How often the store is pinged, its pending work counted, and a lost connection retried:
/// an outage shows in `/readyz` well within 10 s.
const WATCH_EVERY: Duration = Duration::from_secs(2);
/// How often what is kept only for a while is deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often audit records past their retention are pruned (by one replica).
const AUDIT_PRUNE_EVERY: Duration = Duration::from_secs(86_400);
/// The named lease of the replica that prunes audit records today.
const AUDIT_PRUNE_LEASE: &str = "audit-prune";

/// See the module documentation.
#[derive(Default)]
pub struct StoreSlot {
    store: OnceCell<Store>,
    healthy: AtomicBool,
    pending: AtomicU64,
}

impl StoreSlot {
    /// The store, once connected and migrated, whether or not it answers right now.
    pub fn get(&self) -> Option<&Store> {
        self.store.get()
    }

    /// The store, if it answered its last ping.
    pub fn ready(&self) -> Option<&Store> {
        self.store.get().filter(|_| self.healthy())
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Pending work at the last count, across all replicas.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// A store connected outside [`keep_connected`] (tests, `reviewgate migrate`).
    pub fn with(store: Store) -> StoreSlot {
        let slot = StoreSlot::default();
        let _ = slot.store.set(store);
        slot.healthy.store(true, Ordering::Relaxed);
        slot
    }

    fn set_health(&self, healthy: bool, metrics: &Metrics) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        metrics.set_store_up(healthy);
        match (was, healthy) {
            (true, false) => tracing::error!("the store stopped answering; refusing deliveries"),
            (false, true) if self.store.get().is_some() => {
                tracing::info!("the store answers again")
            }
            _ => {}
        }
    }
}

/// Connects to the store (retrying until it can), applies migrations, and then keeps
/// watching it: health, pending work, pruning. With SQLite, the one process that owns the
/// file releases the claims a previous process left. Runs until the process ends.
pub async fn keep_connected(
    slot: Arc<StoreSlot>,
    url: SecretString,
    metrics: Arc<Metrics>,
    audit_retention: Duration,
) {
    let store = connect(&url, &metrics).await;
    let _ = slot.store.set(store.clone());
    slot.set_health(true, &metrics);
    let holder = format!(
        "audit-pruner/{}/{:x}",
        std::process::id(),
        crate::store::now_ms()
    );
    prune_audit(&store, &holder, audit_retention).await;
    let mut audit_pruned = Instant::now();
    let mut pruned = Instant::now() - PRUNE_EVERY + Duration::from_secs(60);
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        // A ping bounded by a few seconds first, so an outage shows in /readyz within
        // WATCH_EVERY + PING_TIMEOUT (under 10 s), whatever a slower query would do.
        let started = Instant::now();
        let pinged = store.ping().await;
        metrics.store_call("ping", started.elapsed());
        if let Err(e) = pinged {
            if slot.healthy() {
                tracing::warn!(error = %e, "the store did not answer");
            }
            slot.set_health(false, &metrics);
            continue;
        }
        slot.set_health(true, &metrics);
        let started = Instant::now();
        let counted = store.pending().await;
        metrics.store_call("pending", started.elapsed());
        match counted {
            Ok(n) => {
                slot.pending.store(n, Ordering::Relaxed);
                metrics.set_pending_work(n);
                metrics.set_queue_depth(usize::try_from(n).unwrap_or(usize::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "could not count pending work"),
        }
        if slot.healthy() && audit_pruned.elapsed() >= AUDIT_PRUNE_EVERY {
            audit_pruned = Instant::now();
            prune_audit(&store, &holder, audit_retention).await;
        }
        if slot.healthy() && pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            match store.prune().await {
                Ok(p) => tracing::info!(?p, "pruned what the store keeps only for a while"),
                Err(e) => tracing::warn!(error = %e, "pruning the store failed"),
            }
        }
    }
}

/// Removes audit records older than `retention` (by when they were written), leaving each
/// pruned chain a checkpoint. One replica a day does it: the one that takes the named lease,
/// held until the next day's turn.
async fn prune_audit(store: &Store, holder: &str, retention: Duration) {
    match store
        .try_lease(
            AUDIT_PRUNE_LEASE,
            holder,
            AUDIT_PRUNE_EVERY - Duration::from_secs(600),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not take the audit pruning lease; trying tomorrow");
            return;
        }
    }
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let before = crate::store::now_ms().saturating_sub(retention_ms);
    match store.prune_records(before).await {
        Ok(p) if p.records > 0 => tracing::info!(
            chains = p.chains,
            records = p.records,
            policies = p.policies,
            retention_days = retention.as_secs() / 86_400,
            "pruned audit records past their retention; each pruned chain got a checkpoint"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning audit records failed; trying tomorrow"),
    }
}

/// Connects and migrates, retrying every [`WATCH_EVERY`] and saying so once per outage.
async fn connect(url: &SecretString, metrics: &Metrics) -> Store {
    let mut complained = false;
    loop {
        match connect_once(url).await {
            Ok(store) => {
                tracing::info!(store = store.url(), "store connected and migrated");
                return store;
            }
            Err(e) => {
                metrics.set_store_up(false);
                if !complained {
                    tracing::error!(
                        "REVIEWGATE_DATABASE_URL: {e}; not ready, refusing deliveries, trying again every {} s",
                        WATCH_EVERY.as_secs()
                    );
                    complained = true;
                }
                tokio::time::sleep(WATCH_EVERY).await;
            }
        }
    }
}

async fn connect_once(url: &SecretString) -> Result<Store, crate::store::StoreError> {
    let store = Store::connect(url.expose_secret()).await?;
    let applied = store.migrate().await?;
    if applied > 0 {
        tracing::info!(applied, "store schema migrated");
    }
    if store.backend() == "sqlite" {
        // One process owns a SQLite file: claims still in it are a previous process's.
        let released = store.release_all().await?;
        if released > 0 {
            tracing::info!(released, "released claims a previous process left");
        }
    }
    Ok(store)
}
