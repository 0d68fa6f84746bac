//! Answers kept for conditional requests (`If-None-Match`): GitHub answers 304 for an
//! unchanged resource without spending quota, and the body kept here stands in for it.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use http::HeaderValue;

/// An answer kept for a conditional request: its `ETag`, its body, and its `Link` header,
/// which a 304 need not repeat but pagination depends on.
#[derive(Clone)]
pub(super) struct Kept {
    pub etag: HeaderValue,
    pub link: Option<HeaderValue>,
    pub body: Bytes,
}

/// Answers kept for conditional requests, evicted oldest first past a byte budget.
#[derive(Default)]
pub(super) struct ConditionalCache {
    entries: HashMap<String, Kept>,
    order: VecDeque<String>,
    bytes: usize,
    budget: usize,
}

impl ConditionalCache {
    /// An empty cache that keeps up to `budget` bytes of bodies.
    pub(super) fn with_budget(budget: usize) -> ConditionalCache {
        ConditionalCache {
            budget,
            ..ConditionalCache::default()
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<Kept> {
        self.entries.get(key).cloned()
    }

    pub(super) fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= old.body.len();
            self.order.retain(|k| k != key);
        }
    }

    pub(super) fn put(&mut self, key: String, kept: Kept) {
        // Whatever was kept for this request is out of date now, kept or not.
        self.remove(&key);
        if kept.body.len() > self.budget / 4 {
            return;
        }
        self.bytes += kept.body.len();
        self.entries.insert(key.clone(), kept);
        self.order.push_back(key);
        while self.bytes > self.budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.entries.remove(&oldest) {
                self.bytes -= b.body.len();
            }
        }
    }

    /// Forgets every kept answer whose key `doomed` picks.
    pub(super) fn remove_where(&mut self, doomed: impl Fn(&str) -> bool) {
        let keys: Vec<String> = self.entries.keys().filter(|k| doomed(k)).cloned().collect();
        for key in keys {
            self.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_cache_stays_within_budget() {
        let mut c = ConditionalCache::with_budget(100);
        let kept = |n: usize| Kept {
            etag: HeaderValue::from_static("\"e\""),
            link: None,
            body: Bytes::from(vec![0u8; n]),
        };
        for i in 0..10 {
            c.put(format!("k{i}"), kept(20));
        }
        assert!(c.bytes <= 100);
        assert!(c.get("k9").is_some() && c.get("k0").is_none());
        c.put("big".into(), kept(60));
        assert!(
            c.get("big").is_none(),
            "entries over a quarter of the budget are not kept"
        );
        c.put("k9".into(), kept(60));
        assert!(
            c.get("k9").is_none(),
            "an answer too big to keep drops the older one for that request"
        );
        assert!(c.bytes <= 100);
    }
}
