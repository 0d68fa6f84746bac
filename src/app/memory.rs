//! Facts only webhooks carry, kept in memory until the durable store holds them: who pushed
//! to each pull request, and which open pull requests were last judged with teams of which
//! organisation.
//!
//! Both are bounded. Losing them (a restart, or eviction past the bound) errs toward the
//! weaker side in one known way each, written down in docs/security.md: a push whose webhook
//! was never received, or was received before a restart, cannot be attributed to its pusher.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::jobs::PrRef;

/// Most pull requests remembered; past it an arbitrary half is dropped (the durable store
/// replaces this bound).
const MAX_PRS: usize = 100_000;

/// `(installation, lower-cased owner/name, number)`.
type PrKey = (u64, String, u64);

fn pr_key(pr: &PrRef) -> PrKey {
    (
        pr.installation,
        pr.repo.to_string().to_ascii_lowercase(),
        pr.number,
    )
}

/// Who pushed to each pull request's head branch: the `sender` of `pull_request` `opened`
/// and `synchronize` deliveries.
#[derive(Default)]
pub struct Pushers {
    inner: Mutex<HashMap<PrKey, BTreeSet<String>>>,
}

impl Pushers {
    pub fn record(&self, pr: &PrRef, login: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_PRS {
            let doomed: Vec<PrKey> = map.keys().take(MAX_PRS / 2).cloned().collect();
            for k in doomed {
                map.remove(&k);
            }
        }
        map.entry(pr_key(pr)).or_default().insert(login.to_string());
    }

    /// Everyone known to have pushed to the PR, in login order.
    pub fn of(&self, pr: &PrRef) -> Vec<String> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&pr_key(pr))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn forget(&self, pr: &PrRef) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&pr_key(pr));
    }
}

/// Open pull requests by the organisations of the teams their last verdict named, so a
/// `membership` or `team` event can re-evaluate exactly those (a senior removed from the
/// seniors team must stop counting within a minute, not at the next unrelated event).
#[derive(Default)]
pub struct TeamIndex {
    inner: Mutex<HashMap<String, HashMap<PrKey, PrRef>>>,
}

impl TeamIndex {
    /// Records that `pr`'s latest verdict named teams of `orgs` (and no others).
    pub fn record(&self, pr: &PrRef, orgs: &BTreeSet<String>) {
        let key = pr_key(pr);
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (org, prs) in map.iter_mut() {
            if !orgs.contains(org) {
                prs.remove(&key);
            }
        }
        for org in orgs {
            let prs = map.entry(org.to_ascii_lowercase()).or_default();
            if prs.len() >= MAX_PRS {
                prs.clear();
            }
            prs.insert(key.clone(), pr.clone());
        }
        map.retain(|_, prs| !prs.is_empty());
    }

    /// Forgets a pull request that is closed or gone.
    pub fn forget(&self, pr: &PrRef) {
        self.record(pr, &BTreeSet::new());
    }

    /// The pull requests last judged with a team of `org`.
    pub fn of_org(&self, org: &str) -> Vec<PrRef> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&org.to_ascii_lowercase())
            .map(|prs| prs.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::RepoName;

    fn pr(n: u64) -> PrRef {
        PrRef {
            installation: 1,
            repo: RepoName::parse("Acme/App").expect("name"),
            number: n,
        }
    }

    #[test]
    fn pushers_are_kept_per_pull_request() {
        let p = Pushers::default();
        p.record(&pr(1), "zed");
        p.record(&pr(1), "mallory");
        p.record(&pr(1), "zed");
        p.record(&pr(2), "amy");
        assert_eq!(p.of(&pr(1)), vec!["mallory", "zed"]);
        assert_eq!(p.of(&pr(2)), vec!["amy"]);
        p.forget(&pr(1));
        assert!(p.of(&pr(1)).is_empty());
    }

    #[test]
    fn the_team_index_follows_the_latest_verdict() {
        let idx = TeamIndex::default();
        idx.record(&pr(1), &BTreeSet::from(["acme".to_string()]));
        idx.record(&pr(2), &BTreeSet::from(["acme".to_string()]));
        assert_eq!(idx.of_org("ACME").len(), 2);
        idx.record(&pr(1), &BTreeSet::new());
        assert_eq!(idx.of_org("acme"), vec![pr(2)]);
        idx.forget(&pr(2));
        assert!(idx.of_org("acme").is_empty());
    }
}
