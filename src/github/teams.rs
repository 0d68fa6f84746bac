//! Members of the teams a policy names, cached for a short time and dropped early when a
//! `membership` or `team` webhook says a team changed.

use std::sync::Arc;
use std::time::Duration;

use super::client::{GitHub, GitHubError, encode};
use super::coalesce::Coalesced;
use super::pulls::{Listing, pages};
use super::types::User;
use crate::policy::TeamRef;

/// A team's members, or `None` for a team GitHub says does not exist.
pub type Members = Option<Arc<Vec<String>>>;

/// Team members by `org/slug` (lower case), shared by concurrent evaluations.
pub struct TeamCache {
    members: Coalesced<Members>,
}

impl TeamCache {
    pub fn new(ttl: Duration) -> TeamCache {
        TeamCache {
            members: Coalesced::new(ttl, 10_000),
        }
    }

    /// Drops one team (`org/slug`, any case).
    pub fn invalidate(&self, org: &str, slug: &str) {
        self.members
            .forget(&format!("{org}/{slug}").to_ascii_lowercase());
    }

    /// Drops every team of an organisation (a team renamed or deleted may be known under
    /// its old slug).
    pub fn invalidate_org(&self, org: &str) {
        self.members
            .forget_prefix(&format!("{}/", org.to_ascii_lowercase()));
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
        .get(&team.key(), || async {
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
