//! Members of the teams a policy names, cached for a short time and dropped early when a
//! `membership` or `team` webhook says a team changed.
//!
//! Entries are keyed by installation as well as team: a team read with one installation's
//! token is never shown to another installation, nor cached as missing for it.

use std::sync::Arc;
use std::time::Duration;

use super::client::{GitHub, GitHubError, encode};
use super::coalesce::Coalesced;
use super::pulls::{Listing, pages};
use super::types::User;
use crate::policy::TeamRef;

/// A team's members, or `None` for a team GitHub says does not exist.
pub type Members = Option<Arc<Vec<String>>>;

/// Team members by installation and `org/slug` (lower case), shared by concurrent evaluations.
pub struct TeamCache {
    members: Coalesced<Members>,
}

impl TeamCache {
    pub fn new(ttl: Duration) -> TeamCache {
        TeamCache {
            members: Coalesced::new(ttl, 10_000),
        }
    }

    /// Drops one team (`org/slug`, any case), as read by every installation.
    pub fn invalidate(&self, org: &str, slug: &str) {
        let team = format!("/{org}/{slug}").to_ascii_lowercase();
        self.members.forget_where(|k| k.ends_with(&team));
    }

    /// Drops every team of an organisation (a team renamed or deleted may be known under
    /// its old slug), as read by every installation.
    pub fn invalidate_org(&self, org: &str) {
        let org = format!("/{}/", org.to_ascii_lowercase());
        self.members.forget_where(|k| k.contains(&org));
    }
}

/// The members of `team` (child teams included), or `None` if the team does not exist.
pub async fn members(
    gh: &Arc<GitHub>,
    cache: &TeamCache,
    installation: u64,
    team: &TeamRef,
) -> Result<Members, GitHubError> {
    let path = format!(
        "/orgs/{}/teams/{}/members",
        encode(&team.org),
        encode(&team.slug)
    );
    let (members, hit) = cache
        .members
        .get(&format!("{installation}/{}", team.key()), || async {
            match pages::<User>(
                gh,
                Listing::new(
                    installation,
                    "GET /orgs/{org}/teams/{team_slug}/members",
                    path,
                ),
                1,
            )
            .await
            {
                Ok(users) => Ok(Some(Arc::new(
                    users.into_iter().map(|u| u.login).collect::<Vec<_>>(),
                ))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
    gh.metrics().cache("teams", hit);
    Ok(members)
}
