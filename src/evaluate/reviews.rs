//! Who has approved, who is ignored and why, and who blocks: everything that depends on
//! reviews and commits but not on which files changed.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::policy::{Group, Policy, Settings};
use crate::snapshot::{ReviewState, Snapshot};

use super::verdict::{Blocker, Ignored, Reviewer};

/// Lower-cased login: GitHub logins compare case-insensitively.
pub(crate) fn key(login: &str) -> String {
    login.to_ascii_lowercase()
}

/// Team members from the snapshot, with keys and logins lower-cased.
pub(crate) struct Teams {
    members: HashMap<String, HashSet<String>>,
    /// Members in the order given, for listing who could approve.
    listed: HashMap<String, Vec<String>>,
}

impl Teams {
    pub(crate) fn new(snapshot: &Snapshot) -> Teams {
        let mut members: HashMap<String, HashSet<String>> = HashMap::new();
        let mut listed: HashMap<String, Vec<String>> = HashMap::new();
        for (team, logins) in &snapshot.teams {
            let team = team.trim_start_matches('@').to_ascii_lowercase();
            let set = members.entry(team.clone()).or_default();
            let list = listed.entry(team).or_default();
            for login in logins {
                if set.insert(key(login)) {
                    list.push(login.clone());
                }
            }
        }
        Teams { members, listed }
    }

    pub(crate) fn known(&self, team_key: &str) -> bool {
        self.members.contains_key(team_key)
    }

    pub(crate) fn members(&self, team_key: &str) -> &[String] {
        self.listed.get(team_key).map_or(&[], Vec::as_slice)
    }

    /// Whether a (lower-cased) login belongs to a group, by name or through a team.
    pub(crate) fn in_group(&self, group: &Group, login_key: &str) -> bool {
        group.users().any(|u| key(u) == login_key)
            || group.teams().any(|t| {
                self.members
                    .get(&t.key())
                    .is_some_and(|m| m.contains(login_key))
            })
    }
}

/// The review-derived facts of a PR.
pub(crate) struct ReviewFacts {
    pub(crate) reviewers: Vec<Reviewer>,
    /// Eligible approvers, as displayed logins, in the order they first reviewed.
    pub(crate) approvers: Vec<String>,
    pub(crate) blockers: Vec<Blocker>,
    /// Lower-cased logins who may not approve: the author and (unless allowed) contributors.
    pub(crate) ineligible: HashSet<String>,
    /// Lower-cased logins already counted.
    pub(crate) counted: HashSet<String>,
}

/// Reduces the review list to each reviewer's standing, in the order they first reviewed.
pub(crate) fn review_facts(policy: &Policy, snapshot: &Snapshot, teams: &Teams) -> ReviewFacts {
    let settings: Settings = policy.settings;
    let author = key(&snapshot.author);
    let contributors: HashSet<String> = snapshot
        .commits
        .iter()
        .flat_map(|c| [c.author.as_deref(), c.committer.as_deref()])
        .flatten()
        .map(key)
        .collect();
    let mut ineligible: HashSet<String> = HashSet::from([author.clone()]);
    if !settings.contributors_can_approve {
        ineligible.extend(contributors.iter().cloned());
    }

    // Latest standing per reviewer. COMMENTED and PENDING change nothing; DISMISSED clears
    // an earlier approval or change request.
    struct Standing {
        login: String,
        state: ReviewState,
        commit: String,
    }
    let mut order: Vec<String> = Vec::new();
    let mut standing: BTreeMap<String, Standing> = BTreeMap::new();
    for review in &snapshot.reviews {
        let k = key(&review.user);
        let entry = standing.entry(k.clone()).or_insert_with(|| {
            order.push(k.clone());
            Standing {
                login: review.user.clone(),
                state: ReviewState::Commented,
                commit: review.commit.clone(),
            }
        });
        match review.state {
            ReviewState::Approved | ReviewState::ChangesRequested => {
                entry.login = review.user.clone();
                entry.state = review.state;
                entry.commit = review.commit.clone();
            }
            ReviewState::Dismissed => {
                // GitHub dismisses in place: the dismissed review itself reads DISMISSED.
                entry.state = ReviewState::Dismissed;
                entry.commit = review.commit.clone();
            }
            ReviewState::Commented | ReviewState::Pending => {}
        }
    }

    let mut facts = ReviewFacts {
        reviewers: Vec::new(),
        approvers: Vec::new(),
        blockers: Vec::new(),
        ineligible,
        counted: HashSet::new(),
    };
    for k in order {
        let Some(s) = standing.remove(&k) else {
            continue;
        };
        let mut ignored = None;
        if s.state == ReviewState::Approved {
            ignored = if k == author {
                Some(Ignored::Author)
            } else if !settings.contributors_can_approve && contributors.contains(&k) {
                Some(Ignored::Contributor)
            } else if settings.dismiss_stale_approvals
                && !s.commit.eq_ignore_ascii_case(&snapshot.head_sha)
            {
                Some(Ignored::Stale)
            } else {
                None
            };
        }
        let counted = s.state == ReviewState::Approved && ignored.is_none();
        if counted {
            facts.approvers.push(s.login.clone());
            facts.counted.insert(k.clone());
        }
        if settings.changes_requested_blocks
            && s.state == ReviewState::ChangesRequested
            && k != author
        {
            facts.blockers.push(Blocker {
                login: s.login.clone(),
                commit: s.commit.clone(),
            });
        }
        let groups = policy
            .groups
            .iter()
            .filter(|(_, g)| teams.in_group(g, &k))
            .map(|(name, _)| name.clone())
            .collect();
        facts.reviewers.push(Reviewer {
            login: s.login,
            state: s.state,
            commit: s.commit,
            counted,
            ignored,
            groups,
        });
    }
    facts
}
