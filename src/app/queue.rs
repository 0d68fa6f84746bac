//! The work queue between webhook deliveries and evaluations.
//!
//! - **Coalescing.** Events for a PR that is already queued merge into the queued job; events
//!   for a PR being evaluated mark it for exactly one follow-up evaluation of the latest state.
//! - **Debounce.** A job becomes due a short time after its first event, so a burst of reviews
//!   costs one or two evaluations rather than one each.
//! - **Bounded.** At most `capacity` distinct jobs wait; a delivery that would add one more is
//!   refused, and the webhook answers 503 so GitHub records the failed delivery instead of the
//!   App silently dropping it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::jobs::{Job, JobKey};
use crate::metrics::Metrics;

/// What became of a pushed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new job was queued.
    Queued,
    /// Merged into a job already queued or running.
    Coalesced,
    /// The queue is full (or closed); nothing was queued.
    Refused,
}

enum State {
    /// Waiting in `due` under this `(due, seq)`.
    Queued(Instant, u64),
    Running {
        again: bool,
    },
}

struct Entry {
    job: Job,
    state: State,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<JobKey, Entry>,
    due: BTreeSet<(Instant, u64, JobKey)>,
    seq: u64,
    running: usize,
    closed: bool,
}

/// See the module documentation.
pub struct Queue {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
    debounce: Duration,
    metrics: Arc<Metrics>,
}

impl Queue {
    /// The state, even after a panic elsewhere poisoned the lock: every update here leaves
    /// it consistent, and a queue that stopped handing out work would stop all evaluations.
    fn state(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn new(capacity: usize, debounce: Duration, metrics: Arc<Metrics>) -> Queue {
        Queue {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            capacity,
            debounce,
            metrics,
        }
    }

    /// Adds a job from a webhook delivery, refusing it when the queue is full.
    pub fn push(&self, job: Job) -> Admission {
        self.insert(job, true, self.debounce)
    }

    /// Adds a job from a webhook delivery that must not wait for the debounce: due now, or
    /// moved forward if it was already queued.
    pub fn push_now(&self, job: Job) -> Admission {
        self.insert(job, true, Duration::ZERO)
    }

    /// Adds a job the App itself derived (fan-out after a policy change, a retry). These are
    /// bounded by GitHub's own data, so they are not refused for capacity.
    pub fn push_internal(&self, job: Job, delay: Duration) -> Admission {
        self.insert(job, false, delay)
    }

    fn insert(&self, job: Job, enforce_capacity: bool, delay: Duration) -> Admission {
        let mut guard = self.state();
        let inner = &mut *guard;
        if inner.closed {
            return Admission::Refused;
        }
        let key = job.key();
        let due = Instant::now() + delay;
        if let Some(entry) = inner.entries.get_mut(&key) {
            entry.job.absorb(job);
            match &mut entry.state {
                State::Running { again } => *again = true,
                State::Queued(at, seq) if due < *at => {
                    let old = (*at, *seq, key.clone());
                    *at = due;
                    let seq = *seq;
                    inner.due.remove(&old);
                    inner.due.insert((due, seq, key));
                }
                State::Queued(..) => {}
            }
            return Admission::Coalesced;
        }
        let waiting = inner.entries.len().saturating_sub(inner.running);
        if enforce_capacity && waiting >= self.capacity {
            return Admission::Refused;
        }
        inner.seq += 1;
        let seq = inner.seq;
        inner.due.insert((due, seq, key.clone()));
        inner.entries.insert(
            key,
            Entry {
                job,
                state: State::Queued(due, seq),
            },
        );
        self.metrics.set_queue_depth(inner.due.len());
        drop(guard);
        self.notify.notify_one();
        Admission::Queued
    }

    /// Waits for the next due job. Returns `None` once the queue is closed and empty.
    /// After [`Queue::close`], remaining jobs are handed out at once, without debounce.
    pub async fn next(&self) -> Option<(JobKey, Job)> {
        loop {
            let wait = {
                let mut inner = self.state();
                let now = Instant::now();
                match inner.due.first().cloned() {
                    Some((due, seq, key)) if due <= now || inner.closed => {
                        inner.due.remove(&(due, seq, key.clone()));
                        self.metrics.set_queue_depth(inner.due.len());
                        let Some(entry) = inner.entries.get_mut(&key) else {
                            // Cannot happen (every due key has an entry); skip it rather
                            // than end the worker.
                            continue;
                        };
                        entry.state = State::Running { again: false };
                        let job = entry.job.clone();
                        inner.running += 1;
                        // Wake another worker in case more jobs are due.
                        self.notify.notify_one();
                        return Some((key, job));
                    }
                    Some((due, _, _)) => Some(due - now),
                    None if inner.closed => return None,
                    None => None,
                }
            };
            match wait {
                Some(d) => {
                    let _ = tokio::time::timeout(d, self.notify.notified()).await;
                }
                None => self.notify.notified().await,
            }
        }
    }

    /// Marks a job finished; if events arrived while it ran, it is queued once more.
    pub fn done(&self, key: &JobKey) {
        let mut inner = self.state();
        inner.running = inner.running.saturating_sub(1);
        let again = matches!(
            inner.entries.get(key),
            Some(Entry {
                state: State::Running { again: true },
                ..
            })
        );
        if again {
            let due = Instant::now() + self.debounce;
            inner.seq += 1;
            let seq = inner.seq;
            inner.due.insert((due, seq, key.clone()));
            if let Some(entry) = inner.entries.get_mut(key) {
                entry.state = State::Queued(due, seq);
            }
        } else {
            inner.entries.remove(key);
        }
        self.metrics.set_queue_depth(inner.due.len());
        drop(inner);
        self.notify.notify_one();
    }

    /// Stops taking new jobs; workers drain what is queued, then [`Queue::next`] returns `None`.
    pub fn close(&self) {
        self.state().closed = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Whether another delivery could be queued now.
    pub fn has_room(&self) -> bool {
        let inner = self.state();
        !inner.closed && inner.entries.len().saturating_sub(inner.running) < self.capacity
    }

    /// Jobs queued or running.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::jobs::PrRef;
    use crate::github::RepoName;

    fn pr(n: u64) -> Job {
        Job::Pr {
            pr: PrRef {
                installation: 1,
                repo: RepoName::parse("acme/app").unwrap(),
                number: n,
            },
            head_sha: Some(format!("sha{n}")),
        }
    }

    fn queue(capacity: usize, debounce_ms: u64) -> Queue {
        Queue::new(
            capacity,
            Duration::from_millis(debounce_ms),
            Arc::new(Metrics::new()),
        )
    }

    #[tokio::test]
    async fn events_for_a_queued_pr_coalesce() {
        let q = queue(10, 20);
        assert_eq!(q.push(pr(1)), Admission::Queued);
        for _ in 0..49 {
            assert_eq!(q.push(pr(1)), Admission::Coalesced);
        }
        assert_eq!(q.push(pr(2)), Admission::Queued);
        let (k1, _) = q.next().await.unwrap();
        let (k2, _) = q.next().await.unwrap();
        assert_ne!(k1, k2);
        q.done(&k1);
        q.done(&k2);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn events_during_a_run_cause_exactly_one_follow_up() {
        let q = queue(10, 0);
        q.push(pr(1));
        let (key, _) = q.next().await.unwrap();
        for _ in 0..10 {
            assert_eq!(q.push(pr(1)), Admission::Coalesced);
        }
        q.done(&key);
        let (again, _) = q.next().await.unwrap();
        assert_eq!(again, key);
        q.done(&again);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn debounce_delays_the_first_run() {
        let q = queue(10, 150);
        let started = Instant::now();
        q.push(pr(1));
        let _ = q.next().await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(140),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_new_prs_but_still_coalesces() {
        let q = queue(2, 1000);
        assert_eq!(q.push(pr(1)), Admission::Queued);
        assert_eq!(q.push(pr(2)), Admission::Queued);
        assert!(!q.has_room());
        assert_eq!(q.push(pr(3)), Admission::Refused);
        assert_eq!(q.push(pr(1)), Admission::Coalesced);
        assert_eq!(q.push_internal(pr(4), Duration::ZERO), Admission::Queued);
    }

    #[tokio::test]
    async fn close_drains_without_waiting_for_debounce() {
        let q = queue(10, 60_000);
        q.push(pr(1));
        q.close();
        assert_eq!(q.push(pr(2)), Admission::Refused);
        let (k, _) = tokio::time::timeout(Duration::from_secs(1), q.next())
            .await
            .unwrap()
            .unwrap();
        q.done(&k);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), q.next())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn push_now_skips_the_debounce_even_for_a_queued_job() {
        let q = queue(10, 60_000);
        assert_eq!(q.push(pr(1)), Admission::Queued);
        assert_eq!(q.push_now(pr(1)), Admission::Coalesced);
        let next = tokio::time::timeout(Duration::from_secs(1), q.next()).await;
        assert!(next.is_ok(), "the queued job was moved forward");
        assert_eq!(q.push_now(pr(2)), Admission::Queued);
        let next = tokio::time::timeout(Duration::from_secs(1), q.next()).await;
        assert!(next.is_ok(), "a new job is due at once");
    }

    #[tokio::test]
    async fn the_newest_head_sha_wins() {
        let q = queue(10, 0);
        q.push(pr(1));
        q.push(Job::Pr {
            pr: PrRef {
                installation: 1,
                repo: RepoName::parse("acme/app").unwrap(),
                number: 1,
            },
            head_sha: Some("newer".into()),
        });
        let (_, job) = q.next().await.unwrap();
        assert!(matches!(job, Job::Pr { head_sha: Some(ref s), .. } if s == "newer"));
    }
}
