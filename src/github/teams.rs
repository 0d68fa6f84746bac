//! Members of the teams a policy names, cached for a short time and dropped early when a
//! `membership` or `team` webhook says a team changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{GitHub, GitHubError, encode};
use super::pulls::pages;
use super::types::User;
use crate::policy::TeamRef;

/// A team's members, or `None` for a team GitHub says does not exist.
pub type Members = Option<Arc<Vec<String>>>;

/// Cached team members, with when they were read.
pub struct TeamCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Members)>>,
}

impl TeamCache {
    pub fn new(ttl: Duration) -> TeamCache {
        TeamCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Drops one team (`org/slug`, any case).
    pub fn invalidate(&self, org: &str, slug: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(&format!("{org}/{slug}").to_ascii_lowercase());
        }
    }

    /// Drops every team of an organisation (a team renamed or deleted may be known under
    /// its old slug).
    pub fn invalidate_org(&self, org: &str) {
        let prefix = format!("{}/", org.to_ascii_lowercase());
        if let Ok(mut m) = self.entries.lock() {
            m.retain(|k, _| !k.starts_with(&prefix));
        }
    }

    fn get(&self, key: &str) -> Option<Members> {
        let m = self.entries.lock().ok()?;
        let (at, members) = m.get(key)?;
        (at.elapsed() < self.ttl).then(|| members.clone())
    }

    fn put(&self, key: String, members: Members) {
        if let Ok(mut m) = self.entries.lock() {
            if m.len() > 10_000 {
                m.retain(|_, (at, _)| at.elapsed() < self.ttl);
            }
            m.insert(key, (Instant::now(), members));
        }
    }
}

/// The members of `team` (child teams included), or `None` if the team does not exist.
pub async fn members(
    gh: &Arc<GitHub>,
    cache: &TeamCache,
    installation: u64,
    team: &TeamRef,
) -> Result<Members, GitHubError> {
    let key = team.key();
    if let Some(hit) = cache.get(&key) {
        gh.metrics().cache("teams", true);
        return Ok(hit);
    }
    gh.metrics().cache("teams", false);
    let path = format!(
        "/orgs/{}/teams/{}/members",
        encode(&team.org),
        encode(&team.slug)
    );
    let members = match pages::<User>(
        gh,
        installation,
        "GET /orgs/{org}/teams/{team_slug}/members",
        path,
        1,
    )
    .await
    {
        Ok(users) => Some(Arc::new(
            users.into_iter().map(|u| u.login).collect::<Vec<_>>(),
        )),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    cache.put(key, members.clone());
    Ok(members)
}
