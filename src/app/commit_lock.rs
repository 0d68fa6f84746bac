//! One evaluation per commit at a time (in this process).
//!
//! Jobs are per pull request, but the check run is per commit, and several PRs may share a
//! head. Without this, two workers judging PRs #1 and #2 of one commit could each read the
//! facts, and the one that read first could write last: a pass computed before #2 existed
//! would overwrite the failure that counted it. Holding the commit's lock from reading the
//! facts until the run is written makes every write follow from reads made after the
//! previous write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

type Key = (String, String);

#[derive(Default)]
pub(super) struct CommitLocks {
    locks: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a commit is evaluated; dropping it lets the next evaluation of that commit in.
pub(super) struct CommitGuard {
    _guard: OwnedMutexGuard<()>,
}

impl CommitLocks {
    /// Waits until no other evaluation of `sha` in `repo` runs, then holds it.
    pub(super) async fn lock(&self, repo: &str, sha: &str) -> CommitGuard {
        let key = (repo.to_ascii_lowercase(), sha.to_ascii_lowercase());
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Locks nobody holds or waits for are dropped, so the map stays as small as the
            // number of commits being evaluated.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(key).or_default().clone()
        };
        CommitGuard {
            _guard: lock.lock_owned().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_commit_at_a_time_others_in_parallel() {
        let locks = Arc::new(CommitLocks::default());
        let held = locks.lock("acme/app", "abc").await;
        let other =
            tokio::time::timeout(Duration::from_millis(50), locks.lock("acme/app", "def")).await;
        assert!(other.is_ok(), "another commit is not held up");
        let same =
            tokio::time::timeout(Duration::from_millis(50), locks.lock("ACME/app", "ABC")).await;
        assert!(same.is_err(), "the same commit waits");
        drop(held);
        let again =
            tokio::time::timeout(Duration::from_millis(50), locks.lock("acme/app", "abc")).await;
        assert!(again.is_ok(), "and goes once the first is done");
    }
}
