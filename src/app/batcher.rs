//! Webhook deliveries into the store, several to a commit.
//!
//! A delivery may be answered 2xx only once its work is durable. One transaction per delivery
//! would cap ingestion at the store's commit rate (a SQLite commit with `synchronous=FULL`
//! waits for the disk); so deliveries that arrive together are stored together: one writer
//! takes whatever is waiting (up to [`MAX_BATCH`]), stores it in one transaction, and only then
//! answers each. None is answered before its commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::durable::StoreSlot;
use crate::metrics::Metrics;
use crate::store::{Accepted, Delivery, StoreError};

/// Most deliveries stored in one transaction.
const MAX_BATCH: usize = 128;
/// Longest a delivery waits for its commit before it is answered 503 (GitHub gives up at 10 s).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(9);

/// Why a delivery could not be stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IntakeError {
    #[error("the store is not available")]
    Unavailable,
    /// The delivery names what the store cannot hold (an id past SQL's 64-bit integers): it
    /// is refused alone, before it joins (and would fail) a transaction shared with others.
    #[error("{0}")]
    Invalid(String),
    #[error("the store did not commit the delivery in time")]
    TimedOut,
    /// The store refused the transaction (the message, which never holds a password).
    #[error("{0}")]
    Store(String),
}

struct Waiting {
    delivery: Delivery,
    reply: oneshot::Sender<Result<Accepted, IntakeError>>,
}

/// The sending side: cheap to share between request handlers.
pub struct Intake {
    tx: mpsc::Sender<Waiting>,
    slot: Arc<StoreSlot>,
}

impl Intake {
    /// Starts the writer task.
    pub fn start(slot: Arc<StoreSlot>, metrics: Arc<Metrics>) -> Intake {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(rx, slot.clone(), metrics));
        Intake { tx, slot }
    }

    /// Stores one delivery, answering once it is committed (or at once when the store is
    /// known to be down, or after [`ANSWER_WITHIN`] when it does not commit).
    pub async fn accept(&self, delivery: Delivery) -> Result<Accepted, IntakeError> {
        crate::store::storable(&delivery).map_err(|e| IntakeError::Invalid(e.to_string()))?;
        if self.slot.ready().is_none() {
            return Err(IntakeError::Unavailable);
        }
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting { delivery, reply };
        let sent = tokio::time::timeout(ANSWER_WITHIN, self.tx.send(waiting)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return Err(IntakeError::TimedOut);
        }
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(IntakeError::Unavailable),
            Err(_) => Err(IntakeError::TimedOut),
        }
    }
}

/// The writer: one transaction for whatever is waiting, then the answers.
async fn write_batches(
    mut rx: mpsc::Receiver<Waiting>,
    slot: Arc<StoreSlot>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let deliveries: Vec<Delivery> = batch.iter().map(|w| w.delivery.clone()).collect();
        let result = match slot.ready() {
            Some(store) => {
                let started = Instant::now();
                let stored = store.accept(&deliveries).await;
                metrics.store_call("accept", started.elapsed());
                stored.map_err(|e: StoreError| IntakeError::Store(e.to_string()))
            }
            None => Err(IntakeError::Unavailable),
        };
        match result {
            Ok(accepted) => {
                for (w, a) in batch.into_iter().zip(accepted) {
                    let _ = w.reply.send(Ok(a));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, deliveries = batch.len(), "deliveries could not be stored");
                for w in batch {
                    let _ = w.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
