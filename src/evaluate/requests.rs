//! Whom to ask for a review, from a verdict that blocks (issue 14 §2): for each unmet group
//! requirement, as many eligible people as approvals are still missing from that group —
//! counting people already asked and still pending — and never more than the policy's
//! `max_requests_per_requirement` over the PR's life. Pure: the App gathers what GitHub and
//! the store say (who is requested now, whom the App asked before, whose request a person
//! removed, who has write access, how many pending requests each person has) and sends what
//! this plans.
//!
//! A group that lists a team is asked as its first team; a group of logins only through its
//! eligible members with the fewest pending requests, ties broken by a stable hash of PR and
//! login so that every replica picks the same people.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::verdict::Requirement;
use crate::policy::{Policy, is_bot};

/// Something to ask for a review.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reviewer {
    User(String),
    /// `org/slug`.
    Team(String),
}

impl Reviewer {
    /// The key the store keeps it under: `user:login` or `team:org/slug`, lower case.
    pub fn key(&self) -> String {
        match self {
            Reviewer::User(l) => format!("user:{}", l.to_ascii_lowercase()),
            Reviewer::Team(t) => format!("team:{}", t.to_ascii_lowercase()),
        }
    }

    /// As the summary names it: `@carol`, `@acme/seniors`.
    pub fn mention(&self) -> String {
        match self {
            Reviewer::User(l) | Reviewer::Team(l) => format!("@{l}"),
        }
    }
}

/// What the App knows about requests on one PR.
#[derive(Debug, Clone, Default)]
pub struct RequestState {
    pub pr: u64,
    /// Requested now (GitHub's `requested_reviewers` and `requested_teams`).
    pub pending: HashSet<Reviewer>,
    /// Asked by the App on this PR before, by requirement key.
    pub asked: BTreeMap<String, Vec<Reviewer>>,
    /// Whose request a person removed on this PR: never asked again.
    pub barred: HashSet<Reviewer>,
    /// People known to have write access (lower case); anyone else is not asked.
    pub can_write: HashSet<String>,
    /// The author, contributors and pushers (lower case): never asked, whatever
    /// `contributors_can_approve` says.
    pub ineligible: HashSet<String>,
    /// Pending requests per login across the repository's open PRs (lower case).
    pub load: HashMap<String, usize>,
}

/// One request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub requirement: String,
    pub group: String,
    pub reviewer: Reviewer,
}

/// What to ask, and what to say about requirements nobody can be asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub asks: Vec<Ask>,
    pub notes: Vec<String>,
}

/// The key a requirement's requests are counted under: its file (when a floor applies too)
/// and its source, so the cap holds per requirement over the PR's life.
pub fn requirement_key(r: &Requirement) -> String {
    let source = serde_json::to_string(&r.source).unwrap_or_default();
    format!("{}{source}", r.origin.as_deref().unwrap_or(""))
}

/// The logins of the people a group lists by name (not through teams), lower case.
fn listed_users(policy: &Policy, group: &str) -> Vec<String> {
    policy
        .groups
        .get(group)
        .map(|g| g.users().map(|u| u.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

/// A stable tie-break: the same on every replica for the same PR and login.
fn tie(pr: u64, login: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(pr.to_be_bytes());
    h.update(login.to_ascii_lowercase().as_bytes());
    h.finalize().into()
}

/// The requests for `verdict`'s unmet group requirements under `policy` (the requirements of
/// other files are planned with theirs: pass only the requirements `policy` governs).
pub fn plan(policy: &Policy, requirements: &[&Requirement], state: &RequestState) -> Plan {
    let max = policy.settings.max_requests_per_requirement as usize;
    let mut out = Plan::default();
    let mut asked_now: HashSet<Reviewer> = HashSet::new();
    for r in requirements.iter().filter(|r| !r.satisfied) {
        let key = requirement_key(r);
        let before = state.asked.get(&key).map_or(0, Vec::len);
        let mut room = max.saturating_sub(before);
        let unmet: Vec<_> = r.groups.iter().filter(|g| !g.satisfied).collect();
        if unmet.is_empty() {
            if r.approvals.as_ref().is_some_and(|a| a.have < a.needed) && r.groups.is_empty() {
                out.notes.push(format!(
                    "No reviewers requested for {}: it needs approvals from no particular group.",
                    r.reason
                ));
            }
            continue;
        }
        for g in unmet {
            // Members still able to approve: an approver already counted in `have` who was
            // asked again is not also pending.
            let members: HashSet<String> = g
                .could_approve
                .iter()
                .map(|l| l.to_ascii_lowercase())
                .collect();
            // Asked now for another requirement naming the same group counts as pending too:
            // the group is short by the most any requirement needs, never the sum.
            let pending_here = state
                .pending
                .iter()
                .chain(asked_now.iter())
                .filter(|p| match p {
                    Reviewer::User(l) => members.contains(&l.to_ascii_lowercase()),
                    Reviewer::Team(t) => g
                        .teams
                        .iter()
                        .any(|gt| gt.trim_start_matches('@').eq_ignore_ascii_case(t)),
                })
                .count();
            let missing = (g.needed - g.have.min(g.needed)) as usize;
            let wanted = missing.saturating_sub(pending_here).min(room);
            if wanted == 0 {
                continue;
            }
            let untouched = |who: &Reviewer| {
                let k = who.key();
                !state.pending.iter().any(|p| p.key() == k)
                    && !state.barred.iter().any(|p| p.key() == k)
                    && !asked_now.iter().any(|p| p.key() == k)
                    && !state.asked.values().flatten().any(|a| a.key() == k)
            };
            if let Some(team) = g.teams.first() {
                let who = Reviewer::Team(team.trim_start_matches('@').to_string());
                if untouched(&who) {
                    asked_now.insert(who.clone());
                    out.asks.push(Ask {
                        requirement: key.clone(),
                        group: g.group.clone(),
                        reviewer: who,
                    });
                    room -= 1;
                }
                continue;
            }
            let listed = listed_users(policy, &g.group);
            let mut candidates: Vec<&String> = g
                .could_approve
                .iter()
                .filter(|l| listed.contains(&l.to_ascii_lowercase()))
                .filter(|l| {
                    let k = l.to_ascii_lowercase();
                    !is_bot(l) && state.can_write.contains(&k) && !state.ineligible.contains(&k)
                })
                .filter(|l| untouched(&Reviewer::User(l.to_ascii_lowercase())))
                .collect();
            candidates.sort_by_key(|l| {
                let k = l.to_ascii_lowercase();
                (state.load.get(&k).copied().unwrap_or(0), tie(state.pr, &k))
            });
            for login in candidates.into_iter().take(wanted) {
                let who = Reviewer::User(login.clone());
                asked_now.insert(who.clone());
                out.asks.push(Ask {
                    requirement: key.clone(),
                    group: g.group.clone(),
                    reviewer: who,
                });
                room -= 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::evaluate;
    use crate::snapshot::Snapshot;

    const POLICY: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[settings]
request_reviewers = true

[groups]
seniors = ["carol", "sam", "alice", "dave"]
leads = ["@acme/tech-leads"]

[levels.standard]
approvals = 1
require = { seniors = 2 }
"#;

    fn planned(state: &RequestState) -> Vec<String> {
        let policy = Policy::parse(POLICY, "p.toml").expect("policy");
        let snapshot = Snapshot::from_json(
            r#"{"author": "zed", "head_sha": "h", "files": [{"path": "src/a.rs"}], "reviews": []}"#,
            "pr.json",
        )
        .expect("snapshot");
        let verdict = evaluate(&policy, &snapshot, ".github/review-policy.toml");
        let requirements: Vec<&Requirement> = verdict.requirements.iter().collect();
        plan(&policy, &requirements, state)
            .asks
            .into_iter()
            .map(|a| a.reviewer.key())
            .collect()
    }

    fn everyone_can_write() -> RequestState {
        RequestState {
            pr: 7,
            can_write: ["carol", "sam", "alice", "dave"]
                .into_iter()
                .map(String::from)
                .collect(),
            ..RequestState::default()
        }
    }

    #[test]
    fn the_least_busy_are_asked_and_ties_break_the_same_way_every_time() {
        let mut state = everyone_can_write();
        state.load = [("carol".to_string(), 2), ("sam".to_string(), 1)].into();
        let asked = planned(&state);
        assert_eq!(asked.len(), 2);
        assert!(!asked.contains(&"user:carol".to_string()), "{asked:?}");
        assert_eq!(planned(&state), asked, "stable");
    }

    #[test]
    fn pending_requests_count_and_the_cap_holds_over_the_prs_life() {
        let mut state = everyone_can_write();
        state.pending = [Reviewer::User("carol".into())].into();
        assert_eq!(planned(&state).len(), 1, "carol is asked already");

        let policy = Policy::parse(POLICY, "p.toml").expect("policy");
        let snapshot = Snapshot::from_json(
            r#"{"author": "zed", "head_sha": "h", "files": [{"path": "src/a.rs"}], "reviews": []}"#,
            "pr.json",
        )
        .expect("snapshot");
        let verdict = evaluate(&policy, &snapshot, ".github/review-policy.toml");
        let key = requirement_key(&verdict.requirements[0]);
        let mut state = everyone_can_write();
        state.asked = [(
            key,
            vec![
                Reviewer::User("dave".into()),
                Reviewer::User("alice".into()),
            ],
        )]
        .into();
        assert!(
            planned(&state).is_empty(),
            "two asked before: the cap is reached"
        );
    }

    #[test]
    fn barred_and_read_only_people_are_never_asked() {
        let mut state = everyone_can_write();
        state.barred = [Reviewer::User("carol".into())].into();
        state.can_write.remove("sam");
        let mut asked = planned(&state);
        asked.sort();
        assert_eq!(asked, vec!["user:alice", "user:dave"]);
    }
}
