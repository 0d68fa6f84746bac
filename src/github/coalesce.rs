//! A read-through cache where concurrent misses for the same key share one fetch.
//!
//! When 500 PRs are opened at once they all need the same policy and the same team members;
//! without this, each would send its own request in the same instant. With it, the first
//! caller fetches and the others wait for its answer, which is then kept for a short time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

struct Slot<V> {
    cell: Arc<OnceCell<V>>,
    created: Instant,
}

/// See the module documentation. Failed fetches are not kept: the next caller tries again.
pub struct Coalesced<V> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<String, Slot<V>>>,
}

impl<V: Clone> Coalesced<V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Coalesced<V> {
        Coalesced {
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`: kept, being fetched by another caller, or fetched now. The flag
    /// says whether it was served without this caller fetching.
    pub async fn get<E, F, Fut>(&self, key: &str, fetch: F) -> Result<(V, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let Some(cell) = self.slot(key) else {
            return fetch().await.map(|v| (v, false));
        };
        let mut fetched = false;
        let value = cell
            .get_or_try_init(|| {
                fetched = true;
                fetch()
            })
            .await?
            .clone();
        Ok((value, !fetched))
    }

    /// The cell for `key`: the current one while fresh or still being fetched, else a new one.
    fn slot(&self, key: &str) -> Option<Arc<OnceCell<V>>> {
        let mut entries = self.entries.lock().ok()?;
        if let Some(s) = entries.get(key) {
            if !s.cell.initialized() || s.created.elapsed() < self.ttl {
                return Some(s.cell.clone());
            }
        }
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, s| !s.cell.initialized() || s.created.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.insert(
            key.to_string(),
            Slot {
                cell: cell.clone(),
                created: Instant::now(),
            },
        );
        Some(cell)
    }

    /// Drops one key, so the next caller fetches anew.
    pub fn forget(&self, key: &str) {
        if let Ok(mut e) = self.entries.lock() {
            e.remove(key);
        }
    }

    /// Drops every key starting with `prefix`.
    pub fn forget_prefix(&self, prefix: &str) {
        self.forget_where(|k| k.starts_with(prefix));
    }

    /// Drops every key for which `doomed` is true.
    pub fn forget_where(&self, doomed: impl Fn(&str) -> bool) {
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|k, _| !doomed(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        let cache: Arc<Coalesced<u32>> = Arc::new(Coalesced::new(Duration::from_secs(60), 100));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<u32, ()>(7)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().0, 7);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn values_expire_errors_are_not_kept_and_forget_works() {
        let cache: Coalesced<u32> = Coalesced::new(Duration::from_secs(1), 100);
        assert_eq!(
            cache.get("k", || async { Err::<u32, &str>("down") }).await,
            Err("down")
        );
        assert_eq!(
            cache.get("k", || async { Ok::<u32, &str>(1) }).await,
            Ok((1, false))
        );
        assert_eq!(
            cache.get("k", || async { Ok::<u32, &str>(2) }).await,
            Ok((1, true))
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            cache.get("k", || async { Ok::<u32, &str>(3) }).await,
            Ok((3, false))
        );
        cache.forget_prefix("k");
        assert_eq!(
            cache.get("k", || async { Ok::<u32, &str>(4) }).await,
            Ok((4, false))
        );
    }
}
