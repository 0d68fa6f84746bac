//! Why each approver qualified: the evidence an auditor asks for beyond "who approved".
//!
//! The verdict says which approvers counted toward each group; this says through which entry
//! of the policy's group — the login as the group lists it, or the team (`@org/team`) whose
//! membership, as read from GitHub at decision time and kept in the snapshot, made them a
//! member. Team membership changes over time, so only the snapshot can say what it was.

use std::collections::BTreeMap;

use crate::evaluate::Requirement;
use crate::policy::{Group, Member, Policy};
use crate::snapshot::Snapshot;

use super::record::Approver;

/// GitHub logins, organisations and team slugs compare case-insensitively.
fn key(login: &str) -> String {
    login.to_ascii_lowercase()
}

/// The policy entry of `group` through which `login` is a member: the first, in the order the
/// group lists them, of a login equal to theirs (as written in the policy) or a team the
/// snapshot lists them in (as `@org/team`). `None` when neither (which the evaluator would
/// not have counted).
pub fn qualifying_member(group: &Group, snapshot: &Snapshot, login: &str) -> Option<String> {
    let login = key(login);
    group.members.iter().find_map(|member| match member {
        Member::User(listed) => (key(listed) == login).then(|| listed.clone()),
        Member::Team(team) => {
            let team_key = team.key();
            let member = snapshot.teams.iter().any(|(name, logins)| {
                key(name.trim_start_matches('@')) == team_key
                    && logins.iter().any(|l| key(l) == login)
            });
            member.then(|| team.to_string())
        }
    })
}

/// The approvers of one requirement, each with the groups they counted toward in it and the
/// entry that qualified them there: approvers of the approval count first, in the verdict's
/// order, then any who counted only toward a group. An approver who counted toward no group
/// of the requirement has empty `groups`.
pub fn approvers(policy: &Policy, snapshot: &Snapshot, requirement: &Requirement) -> Vec<Approver> {
    let mut out: Vec<Approver> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut slot = |out: &mut Vec<Approver>, login: &str| -> usize {
        *index.entry(key(login)).or_insert_with(|| {
            out.push(Approver {
                login: login.to_string(),
                groups: BTreeMap::new(),
            });
            out.len() - 1
        })
    };
    if let Some(count) = &requirement.approvals {
        for login in &count.approvers {
            slot(&mut out, login);
        }
    }
    for count in &requirement.groups {
        let group = policy.groups.get(&count.group);
        for login in &count.approvers {
            let i = slot(&mut out, login);
            let entry = group
                .and_then(|g| qualifying_member(g, snapshot, login))
                .unwrap_or_else(|| "(not found in the group)".to_string());
            out[i].groups.insert(count.group.clone(), entry);
        }
    }
    out
}

/// Approver lists merged per login (case-insensitively), first appearance first, with the
/// union of their groups: a merge's approvers across all the requirements of its decision.
pub fn merge_approvers<'a>(lists: impl IntoIterator<Item = &'a [Approver]>) -> Vec<Approver> {
    let mut out: Vec<Approver> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for approver in lists.into_iter().flatten() {
        let i = *index.entry(key(&approver.login)).or_insert_with(|| {
            out.push(Approver {
                login: approver.login.clone(),
                groups: BTreeMap::new(),
            });
            out.len() - 1
        });
        for (group, entry) in &approver.groups {
            out[i]
                .groups
                .entry(group.clone())
                .or_insert_with(|| entry.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::evaluate;

    const POLICY: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors = ["Alice", "@Acme/Senior-Engineers"]
leads = ["alice", "@acme/tech-leads"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 3
require = { seniors = 2, leads = 1 }

[[paths]]
name = "ledger"
match = ["ledger/**"]
level = "critical"
"#;

    fn snapshot(approvers: &[&str]) -> Snapshot {
        let reviews: Vec<String> = approvers
            .iter()
            .map(|a| format!(r#"{{"user": "{a}", "state": "APPROVED", "commit": "h1"}}"#))
            .collect();
        let text = format!(
            r#"{{"author": "zed", "head_sha": "h1", "files": [{{"path": "ledger/a.rs"}}],
                "reviews": [{}],
                "teams": {{"acme/senior-engineers": ["CAROL"], "acme/tech-leads": ["lena"]}}}}"#,
            reviews.join(",")
        );
        Snapshot::from_json(&text, "pr.json").expect("snapshot")
    }

    fn ledger_approvers(reviewers: &[&str]) -> Vec<Approver> {
        let policy = Policy::parse(POLICY, "p.toml").expect("policy");
        let snapshot = snapshot(reviewers);
        let verdict = evaluate(&policy, &snapshot, ".github/review-policy.toml");
        let ledger = verdict
            .requirements
            .iter()
            .find(|r| r.reason.contains("matched"))
            .expect("ledger requirement");
        approvers(&policy, &snapshot, ledger)
    }

    fn approver(login: &str, groups: &[(&str, &str)]) -> Approver {
        Approver {
            login: login.into(),
            groups: groups
                .iter()
                .map(|(g, e)| (g.to_string(), e.to_string()))
                .collect(),
        }
    }

    #[test]
    fn listed_logins_and_team_members_are_told_apart_case_insensitively() {
        let got = ledger_approvers(&["ALICE", "carol", "dave"]);
        assert_eq!(
            got,
            vec![
                // Listed by name in both groups: each group's own spelling.
                approver("ALICE", &[("leads", "alice"), ("seniors", "Alice")]),
                // Through a team, whose member list spells her CAROL.
                approver("carol", &[("seniors", "@Acme/Senior-Engineers")]),
                // Counted only toward the approval count.
                approver("dave", &[]),
            ]
        );
    }

    #[test]
    fn the_default_level_has_approvers_without_groups() {
        let policy = Policy::parse(POLICY, "p.toml").expect("policy");
        let snapshot = snapshot(&["lena"]);
        let verdict = evaluate(&policy, &snapshot, ".github/review-policy.toml");
        let default = &verdict.requirements[0];
        assert_eq!(
            approvers(&policy, &snapshot, default),
            vec![approver("lena", &[])]
        );
    }

    #[test]
    fn merging_keeps_one_entry_per_login_with_every_group() {
        let a = vec![approver("carol", &[]), approver("dave", &[])];
        let b = vec![approver("Carol", &[("seniors", "@acme/seniors")])];
        assert_eq!(
            merge_approvers([a.as_slice(), b.as_slice()]),
            vec![
                approver("carol", &[("seniors", "@acme/seniors")]),
                approver("dave", &[])
            ]
        );
    }
}
