//! Work from the store to the workers: claim, hold (renew the lease), run, then finish or give
//! back. Any replica takes any pending work; at most one evaluation of a PR runs at a time
//! across all of them (the store's claim); an event that arrives meanwhile causes exactly one
//! more evaluation afterwards (`finish` keeps the work when it grew).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use super::jobs::Job;
use super::{App, JobError, pass_retry_delay};
use crate::store::{Claim, Store};

/// How often an idle replica looks for claimable work (it is also woken when it stores work
/// itself): work stored by any replica starts within this, well inside the 5 s promised.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Retries of a job that failed on GitHub errors (further events retry it too).
const MAX_RETRIES: u32 = 3;

/// One claim being worked on: the claim, whether it was lost, and an id unique to it (the
/// holder of the commit leases its evaluations take).
pub struct Turn {
    pub claim: Claim,
    lost: AtomicBool,
    pub id: String,
    /// The commit lease an evaluation of this turn holds now, renewed with the claim.
    pub(super) commit: Arc<std::sync::Mutex<Option<String>>>,
}

impl Turn {
    pub fn new(claim: Claim) -> Turn {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = format!("{}#{}", claim.holder, NEXT.fetch_add(1, Ordering::Relaxed));
        Turn {
            claim,
            lost: AtomicBool::new(false),
            id,
            commit: Arc::default(),
        }
    }

    /// The lease could not be renewed: another holder may have the work; write nothing.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    pub(super) fn mark_lost(&self) {
        self.lost.store(true, Ordering::Relaxed);
    }
}

impl App {
    /// Claims and runs work until `stop` turns true; then lets running work finish for up to
    /// `grace` and gives back whatever this replica still holds.
    pub async fn dispatch(self: Arc<Self>, mut stop: watch::Receiver<bool>, grace: Duration) {
        let permits = Arc::new(Semaphore::new(self.settings.workers));
        loop {
            if *stop.borrow() {
                break;
            }
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = stop.changed() => continue,
            };
            let claimed = match self.store.ready() {
                Some(store) => {
                    self.timed("claim", store.claim(&self.holder, self.settings.lease))
                        .await
                }
                None => Ok(None),
            };
            match claimed {
                Ok(Some(claim)) => {
                    let app = self.clone();
                    tokio::spawn(async move {
                        app.run_claim(claim).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(POLL_EVERY) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "could not claim work");
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
        let all = u32::try_from(self.settings.workers).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; giving back unfinished work");
        }
        if let Some(store) = self.store.get() {
            match store.release_holder(&self.holder).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "gave back claims for other replicas"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not give back claims; they expire with their lease")
                }
            }
        }
    }

    /// Whether nothing is pending in the store and nothing runs here (for tests and benches).
    pub async fn idle(&self) -> bool {
        if self.running.load(Ordering::Relaxed) > 0 {
            return false;
        }
        match self.store.get() {
            Some(store) => store.pending().await.is_ok_and(|n| n == 0),
            None => false,
        }
    }

    /// Runs a claim to its end: its jobs in order, the lease renewed meanwhile, then the work
    /// finished or given back according to how it went.
    async fn run_claim(self: Arc<Self>, claim: Claim) {
        if claim.took_over_expired {
            self.metrics.claim_lost();
            tracing::warn!(repo = %claim.repo, key = %claim.key, "took over work whose holder's lease expired");
        }
        self.running.fetch_add(1, Ordering::Relaxed);
        let turn = Arc::new(Turn::new(claim));
        let renewer = tokio::spawn(self.clone().renew_while_running(turn.clone()));
        // Each claim runs in its own task so that a panic (a bug) ends that work only: the
        // worker survives and the work is given back to be retried.
        let result = tokio::spawn({
            let (app, turn) = (self.clone(), turn.clone());
            async move { app.run_jobs(&turn).await }
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "evaluation panicked; retrying later");
            self.metrics.evaluation("error", Duration::ZERO);
            Err(JobError::GitHub(crate::github::GitHubError::Malformed {
                endpoint: "evaluation",
                detail: "the evaluation panicked".into(),
            }))
        });
        renewer.abort();
        if let Some(store) = self.store.get() {
            self.settle(store, &turn, result).await;
        }
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    async fn run_jobs(&self, turn: &Turn) -> Result<(), JobError> {
        let Some(jobs) = Job::from_claim(&turn.claim) else {
            tracing::error!(repo = %turn.claim.repo, "stored work names no repository; dropping it");
            return Ok(());
        };
        let mut first_error = None;
        for job in jobs {
            if let Err(e) = self.run(turn, &job).await {
                let worse =
                    matches!(e, JobError::PassStands(..) | JobError::Lost) || first_error.is_none();
                if worse {
                    first_error = Some(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Renews the turn's lease every third of it; marks the turn lost when it cannot.
    async fn renew_while_running(self: Arc<Self>, turn: Arc<Turn>) {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let Some(store) = self.store.get() else {
                continue;
            };
            match self
                .timed("renew", store.renew(&turn.claim, self.settings.lease))
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(key = %turn.claim.key, "lost the claim: another replica took the work");
                    turn.mark_lost();
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "could not renew a claim's lease"),
            }
        }
    }

    /// Finishes the work, or gives it back to be tried again, as the result says.
    async fn settle(&self, store: &Store, turn: &Turn, result: Result<(), JobError>) {
        let claim = &turn.claim;
        let settled = match &result {
            Ok(()) | Err(JobError::Stale) => self
                .timed("finish", store.finish(claim, self.settings.debounce))
                .await
                .map(|_| ()),
            Err(JobError::Lost) => Ok(()),
            Err(JobError::Store(e)) => {
                tracing::warn!(key = %claim.key, error = %e, "the store failed during an evaluation; retrying later");
                self.timed(
                    "release",
                    store.release(claim, Duration::from_secs(5), true),
                )
                .await
            }
            // Merges and pushes waiting to be recorded are never given up on: only transient
            // failures reach here for them (a permanent one takes the fail-closed answer),
            // and the events stay in the inbox; retried at most a minute apart, for ever.
            Err(JobError::GitHub(e)) if claim.target == crate::store::Target::Audit => {
                let delay = super::pass_retry_delay(claim.attempts + 1);
                tracing::warn!(key = %claim.key, error = %e, attempt = claim.attempts + 1, delay_secs = delay.as_secs(), "recording merges and pushes failed; retrying later");
                self.timed("release", store.release(claim, delay, true))
                    .await
            }
            Err(JobError::GitHub(e)) if e.is_transient() && claim.attempts < MAX_RETRIES => {
                let delay = Duration::from_secs(5 << claim.attempts);
                tracing::warn!(key = %claim.key, error = %e, attempt = claim.attempts + 1, delay_secs = delay.as_secs(), "job failed; retrying later");
                self.timed("release", store.release(claim, delay, true))
                    .await
            }
            Err(JobError::GitHub(e)) => {
                tracing::error!(key = %claim.key, error = %e, "giving up on this job until the next event for it");
                self.timed("finish", store.finish(claim, self.settings.debounce))
                    .await
                    .map(|_| ())
            }
            Err(JobError::PassStands(e, standing)) => {
                let delay = pass_retry_delay(claim.attempts + 1);
                self.log_pass_stands(claim, e, *standing, delay);
                self.timed("release", store.release(claim, delay, true))
                    .await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(key = %claim.key, error = %e, "could not settle work in the store; its lease will expire and another replica takes it");
        }
    }

    /// Runs one store call, recording how long it took.
    pub(super) async fn timed<T>(&self, op: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        self.metrics.store_call(op, started.elapsed());
        out
    }
}
