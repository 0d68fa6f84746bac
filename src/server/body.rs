//! Reading webhook bodies before they are verified, within a memory budget.
//!
//! Anyone can send a well-formed signature header with a wrong signature, and the signature
//! can only be checked once the whole body is in. So the bodies being read are held against
//! a budget shared by all requests ([`UNVERIFIED_BUDGET_BYTES`]): a body that would exceed it
//! waits for room (at most [`BUDGET_WAIT`]) and is then refused with 503. A body that declares
//! at most [`SMALL_BODY_BYTES`] (nearly every real delivery) is never delayed or refused for
//! budget reasons; it counts against the budget but may exceed it. A body without a
//! `Content-Length` counts as the largest allowed.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::Notify;

use super::signature::Verifier;
use crate::metrics::Metrics;

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Most bytes of bodies not yet verified held at once (small bodies may go past it).
pub const UNVERIFIED_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// Bodies declaring at most this much never wait for the budget.
pub const SMALL_BODY_BYTES: usize = 1024 * 1024;
/// How long a large body may wait for room in the budget before it is refused.
pub const BUDGET_WAIT: Duration = Duration::from_secs(5);
/// A client must send the whole body within this time.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The first allocation for a body of unknown length; it grows as the body arrives.
const UNKNOWN_LENGTH_START: usize = 64 * 1024;

/// The bytes of unverified bodies being held, against [`UNVERIFIED_BUDGET_BYTES`].
pub struct BodyBudget {
    held: Mutex<usize>,
    freed: Notify,
    limit: usize,
    metrics: Arc<Metrics>,
}

/// Room taken in the budget; given back when dropped.
pub struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

impl BodyBudget {
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            held: Mutex::new(0),
            freed: Notify::new(),
            limit,
            metrics,
        })
    }

    /// Room for a body declaring `declared` bytes (`None`: no `Content-Length`), or `None`
    /// when a large body found no room within `wait`.
    pub async fn reserve(
        self: &Arc<Self>,
        declared: Option<usize>,
        wait: Duration,
    ) -> Option<Reservation> {
        let bytes = declared.unwrap_or(MAX_BODY_BYTES).min(MAX_BODY_BYTES);
        let small = declared.is_some_and(|n| n <= SMALL_BODY_BYTES);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a release between the look and the wait is seen.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.take(bytes, small) {
                return Some(Reservation {
                    budget: self.clone(),
                    bytes,
                });
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    fn take(&self, bytes: usize, small: bool) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        if !small && *held + bytes > self.limit {
            return false;
        }
        *held += bytes;
        self.metrics.set_unverified_body_bytes(*held);
        true
    }

    fn give_back(&self, bytes: usize) {
        if let Ok(mut held) = self.held.lock() {
            *held = held.saturating_sub(bytes);
            self.metrics.set_unverified_body_bytes(*held);
        }
        self.freed.notify_waiters();
    }
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// More than [`MAX_BODY_BYTES`].
    TooLarge,
    /// Not all of it within [`BODY_READ_TIMEOUT`].
    TimedOut,
    /// The connection failed or ended before the declared length.
    Broken,
}

/// Reads a body into a buffer sized for its declared length, feeding each piece to
/// `verifier` as it arrives (no collect-then-copy: the body is in memory once).
pub async fn read(
    body: axum::body::Body,
    declared: Option<usize>,
    verifier: &mut Verifier,
) -> Result<Vec<u8>, BodyError> {
    let reading = async {
        let mut body = body;
        let mut buffer = Vec::with_capacity(declared.unwrap_or(UNKNOWN_LENGTH_START));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Broken)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if buffer.len() + data.len() > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            verifier.update(&data);
            buffer.extend_from_slice(&data);
        }
        Ok(buffer)
    };
    tokio::time::timeout(BODY_READ_TIMEOUT, reading)
        .await
        .map_err(|_| BodyError::TimedOut)?
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn large_bodies_wait_for_room_and_small_ones_never_do() {
        let budget = BodyBudget::new(64 * MIB, Arc::new(Metrics::new()));
        let no_wait = Duration::ZERO;
        let a = budget.reserve(Some(25 * MIB), no_wait).await.expect("room");
        let b = budget.reserve(None, no_wait).await.expect("room");
        assert!(
            budget.reserve(Some(25 * MIB), no_wait).await.is_none(),
            "a third 25 MiB body finds no room"
        );
        let small: Vec<_> = small_reservations(&budget, 20).await;
        assert_eq!(small.len(), 20, "1 MiB bodies pass even past the budget");
        drop(small);
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move {
                budget
                    .reserve(Some(25 * MIB), Duration::from_secs(5))
                    .await
                    .is_some()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(a);
        assert!(
            waiting.await.expect("task"),
            "room given back wakes a waiter"
        );
        drop(b);
        assert_eq!(*budget.held.lock().expect("lock"), 0);
    }

    async fn small_reservations(budget: &Arc<BodyBudget>, n: usize) -> Vec<Reservation> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend(budget.reserve(Some(MIB), Duration::ZERO).await);
        }
        out
    }
}
