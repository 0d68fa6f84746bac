//! The pure evaluator: a policy and a PR snapshot in, a [`Verdict`] out.
//!
//! No I/O happens here, and nothing here can fail: every input the evaluator receives has
//! already been validated, and every doubt (an incomplete file list, a team without known
//! members) resolves toward needing more approvals, never fewer.

pub mod requests;
mod reviews;
mod union;
pub mod verdict;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::policy::{Level, MatchScratch, Policy, is_bot};
use crate::snapshot::Snapshot;

use reviews::{Teams, key, review_facts};
pub use union::{Floor, evaluate_with_floor, repository_origin};
pub use verdict::{
    ApprovalCount, Blocker, GroupCount, Ignored, Needs, Requirement, Reviewer, Source, Verdict,
};
use verdict::{MAX_LISTED_FILES, approvals_phrase, title};

/// Most names listed as "could approve" per group; large teams would otherwise flood reports.
pub const MAX_LISTED_CANDIDATES: usize = 25;

/// Evaluates `snapshot` against `policy`. `policy_path` is the policy file's path in the
/// repository, used to notice PRs that edit the policy itself.
pub fn evaluate(policy: &Policy, snapshot: &Snapshot, policy_path: &str) -> Verdict {
    let teams = Teams::new(snapshot);
    let facts = review_facts(policy, snapshot, &teams);
    let policy_path = normalize_path(policy_path);
    let given = snapshot.files.len() as u64;
    let complete = snapshot.changed_files.is_none_or(|n| n <= given);
    let mut triggers = if complete {
        match_files(policy, snapshot, policy_path)
    } else {
        Triggers::everything(policy.paths.len())
    };

    let mut groups = GroupTally::new(policy, &teams, &facts);
    let mut requirements = Vec::new();
    let default_level = level(policy, &policy.default_level);
    requirements.push(groups.requirement(
        verdict::Source::DefaultLevel {
            level: policy.default_level.clone(),
        },
        format!(
            "every pull request needs at least the default level `{}`",
            policy.default_level
        ),
        (Vec::new(), 0),
        Some(default_level.approvals),
        default_level.require.clone(),
    ));
    for (index, rule) in policy.paths.iter().enumerate() {
        let Some(files) = triggers.rules[index].take() else {
            continue;
        };
        let rule_level = rule.level.as_deref().map(|l| level(policy, l));
        let mut require = rule_level.map(|l| l.require.clone()).unwrap_or_default();
        for (group, count) in &rule.require {
            let slot = require.entry(group.clone()).or_insert(0);
            *slot = (*slot).max(*count);
        }
        let reason = if complete {
            format!(
                "{} changed {} matched",
                files.1,
                if files.1 == 1 { "file" } else { "files" }
            )
        } else {
            "the PR's file list is incomplete, so every [[paths]] entry applies".to_string()
        };
        requirements.push(groups.requirement(
            Source::Path {
                index,
                name: rule.label(),
                level: rule.level.clone(),
            },
            reason,
            files,
            rule_level.map(|l| l.approvals),
            require,
        ));
    }
    if triggers.policy_file_changed || !complete {
        let reason = if complete {
            format!("the PR changes the policy file `{policy_path}`")
        } else {
            "the PR's file list is incomplete, so it may change the policy file".to_string()
        };
        let files = if complete {
            (vec![policy_path.to_string()], 1)
        } else {
            (Vec::new(), 0)
        };
        requirements.push(groups.requirement(
            Source::PolicyOwners {
                group: policy.policy_owners.clone(),
                policy_path: policy_path.to_string(),
            },
            reason,
            files,
            None,
            BTreeMap::from([(policy.policy_owners.clone(), 1)]),
        ));
    }

    let unlinked = unlinked_commits(policy, snapshot);
    let unlinked_lines: Vec<String> = unlinked.iter().map(|r| r.reason.clone()).collect();
    requirements.extend(unlinked);

    let mut needs = Needs::default();
    for r in &requirements {
        if let Some(a) = &r.approvals {
            needs.approvals = needs.approvals.max(a.needed);
        }
        for g in &r.groups {
            let slot = needs.groups.entry(g.group.clone()).or_insert(0);
            *slot = (*slot).max(g.needed);
        }
    }
    let approved = facts.blockers.is_empty() && requirements.iter().all(|r| r.satisfied);
    let title = title(
        approved,
        &needs,
        &facts.approvers,
        &groups.have(),
        &facts.blockers,
        &unlinked_lines,
    );
    let notes = notes(policy, snapshot, &teams, complete);
    // Report mode never covers a change to the policy itself (its owners still decide, so
    // report mode cannot be used to change the policy, or to switch to enforce, without
    // them), nor a PR whose file list is incomplete (it may change the policy).
    let report_only = policy.settings.mode == crate::policy::Mode::Report
        && complete
        && !triggers.policy_file_changed;

    Verdict {
        report_only,
        approved,
        title,
        head_sha: snapshot.head_sha.clone(),
        needs,
        approvals: facts.approvers.len() as u32,
        file_list_complete: complete,
        requirements,
        reviewers: facts.reviewers,
        blocked_by: facts.blockers,
        notes,
    }
}

/// Things the reader should know that are not requirements: fail-closed decisions and
/// facts the snapshot did not give.
fn notes(policy: &Policy, snapshot: &Snapshot, teams: &Teams, complete: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let given = snapshot.files.len() as u64;
    if !complete {
        notes.push(format!(
            "GitHub listed {given} of the {} files this PR changes (it lists at most 3000). With the list incomplete, \
             every [[paths]] entry and the policy owners' approval apply, so the PR is judged as strictly as it could need.",
            snapshot.changed_files.unwrap_or(given)
        ));
    }
    for team in policy.teams() {
        if !teams.known(&team.key()) {
            notes.push(format!(
                "The members of team {team} were not provided, so it counts as having no members."
            ));
        }
    }
    if snapshot.permissions.is_none() {
        notes.push(
            "The snapshot gives no `permissions`, so permissions were not checked: every reviewer \
             is taken to have write access."
                .to_string(),
        );
    }
    let settings = policy.settings;
    if !settings.contributors_can_approve && settings.allow_unlinked_commits {
        let unlinked = snapshot
            .commits
            .iter()
            .filter(|c| c.author.is_none() || c.committer.is_none())
            .count();
        if unlinked > 0 {
            notes.push(format!(
                "{unlinked} {} an author or committer that GitHub could not link to an account; \
                 whoever that is could not be excluded from approving.",
                if unlinked == 1 {
                    "commit has"
                } else {
                    "commits have"
                }
            ));
        }
    }
    notes
}

/// One unmet requirement per commit whose author or committer GitHub cannot link to an
/// account, unless contributors may approve or the policy allows such commits: nobody can
/// tell who wrote it, so nobody can be shown not to have.
fn unlinked_commits(policy: &Policy, snapshot: &Snapshot) -> Vec<Requirement> {
    let settings = policy.settings;
    if settings.contributors_can_approve || settings.allow_unlinked_commits {
        return Vec::new();
    }
    snapshot
        .commits
        .iter()
        .filter(|c| c.author.is_none() || c.committer.is_none())
        .map(|c| {
            let sha = c.sha.clone().unwrap_or_default();
            let (author, committer) = (c.author.is_none(), c.committer.is_none());
            let who = match (author, committer) {
                (true, true) => "an author and a committer",
                (true, false) => "an author",
                _ => "a committer",
            };
            let short = if sha.is_empty() {
                "(unknown SHA)".to_string()
            } else {
                sha.chars().take(7).collect()
            };
            Requirement {
                source: Source::UnlinkedCommit {
                    sha,
                    author,
                    committer,
                },
                reason: format!("commit {short} has {who} GitHub cannot link to an account"),
                files: Vec::new(),
                matched_files: 0,
                origin: None,
                approvals: None,
                groups: Vec::new(),
                satisfied: false,
            }
        })
        .collect()
}

/// Policy paths are repo-relative; tolerate a leading `./` or `/` in how one is configured.
pub fn normalize_path(path: &str) -> &str {
    let path = path.strip_prefix("./").unwrap_or(path);
    path.trim_start_matches('/')
}

fn level<'p>(policy: &'p Policy, name: &str) -> &'p Level {
    // The loader guarantees every level named exists; fall back to the strictest reading
    // rather than panic should that ever be broken.
    static MISSING: std::sync::LazyLock<Level> = std::sync::LazyLock::new(|| Level {
        approvals: u32::MAX,
        require: BTreeMap::new(),
    });
    policy.levels.get(name).unwrap_or(&MISSING)
}

/// Which `[[paths]]` entries the changed files trigger, and whether the policy file changed.
struct Triggers {
    /// Per entry: `Some((files listed, files matched))` when triggered.
    rules: Vec<Option<(Vec<String>, usize)>>,
    policy_file_changed: bool,
}

impl Triggers {
    fn everything(rules: usize) -> Triggers {
        Triggers {
            rules: vec![Some((Vec::new(), 0)); rules],
            policy_file_changed: true,
        }
    }
}

fn match_files(policy: &Policy, snapshot: &Snapshot, policy_path: &str) -> Triggers {
    let matcher = policy.matcher();
    let mut rules: Vec<Option<(Vec<String>, usize)>> = vec![None; policy.paths.len()];
    // `seen[rule] == file + 1` once a file has counted for a rule, so a renamed file whose
    // old and new paths both match counts once.
    let mut seen = vec![0usize; policy.paths.len()];
    let mut scratch = MatchScratch::default();
    let mut policy_file_changed = false;
    for (i, file) in snapshot.files.iter().enumerate() {
        let stamp = i + 1;
        let paths = std::iter::once((file.path.as_str(), false))
            .chain(file.previous_path.as_deref().map(|p| (p, true)));
        for (path, is_previous) in paths {
            if path == policy_path {
                policy_file_changed = true;
            }
            matcher.matching_rules(path, &mut scratch, |rule| {
                if seen[rule] == stamp {
                    return;
                }
                seen[rule] = stamp;
                let (listed, count) = rules[rule].get_or_insert_with(|| (Vec::new(), 0));
                *count += 1;
                if listed.len() < MAX_LISTED_FILES {
                    listed.push(if is_previous {
                        format!("{path} (now {})", file.path)
                    } else {
                        file.path.clone()
                    });
                }
            });
        }
    }
    Triggers {
        rules,
        policy_file_changed,
    }
}

/// Per-group progress, computed once per group however many requirements name it.
struct GroupTally<'a> {
    policy: &'a Policy,
    teams: &'a Teams,
    facts: &'a reviews::ReviewFacts,
    cache: HashMap<String, GroupCount>,
}

impl<'a> GroupTally<'a> {
    fn new(policy: &'a Policy, teams: &'a Teams, facts: &'a reviews::ReviewFacts) -> Self {
        GroupTally {
            policy,
            teams,
            facts,
            cache: HashMap::new(),
        }
    }

    /// Eligible approvers per group, over the groups seen so far.
    fn have(&self) -> BTreeMap<String, u32> {
        self.cache
            .iter()
            .map(|(g, c)| (g.clone(), c.have))
            .collect()
    }

    fn count(&mut self, group_name: &str, needed: u32) -> GroupCount {
        let base = self.cache.entry(group_name.to_string()).or_insert_with(|| {
            let group = self.policy.groups.get(group_name);
            let (mut approvers, mut not_in_group) = (Vec::new(), Vec::new());
            for login in &self.facts.approvers {
                if group.is_some_and(|g| self.teams.in_group(g, &key(login))) {
                    approvers.push(login.clone());
                } else {
                    not_in_group.push(login.clone());
                }
            }
            let mut could_approve = Vec::new();
            let mut teams = Vec::new();
            if let Some(g) = group {
                let mut seen: HashSet<String> = HashSet::new();
                let team_members = g
                    .teams()
                    .flat_map(|t| self.teams.members(&t.key()).iter().map(String::as_str));
                for login in g.users().chain(team_members) {
                    let k = key(login);
                    if is_bot(login)
                        || self.facts.ineligible.contains(&k)
                        || self.facts.counted.contains(&k)
                        || !seen.insert(k)
                    {
                        continue;
                    }
                    if could_approve.len() < MAX_LISTED_CANDIDATES {
                        could_approve.push(login.to_string());
                    }
                }
                teams = g.teams().map(|t| t.to_string()).collect();
            }
            GroupCount {
                group: group_name.to_string(),
                needed: 0,
                have: approvers.len() as u32,
                approvers,
                not_in_group,
                could_approve,
                teams,
                satisfied: true,
            }
        });
        let mut count = base.clone();
        count.needed = needed;
        count.satisfied = count.have >= needed;
        count
    }

    fn requirement(
        &mut self,
        source: Source,
        reason: String,
        (files, matched_files): (Vec<String>, usize),
        approvals: Option<u32>,
        require: BTreeMap<String, u32>,
    ) -> Requirement {
        let approvals = approvals.map(|needed| ApprovalCount {
            needed,
            have: self.facts.approvers.len() as u32,
            approvers: self.facts.approvers.clone(),
        });
        let groups: Vec<GroupCount> = require.iter().map(|(g, n)| self.count(g, *n)).collect();
        let satisfied = approvals.as_ref().is_none_or(|a| a.have >= a.needed)
            && groups.iter().all(|g| g.satisfied);
        Requirement {
            source,
            reason,
            files,
            matched_files,
            approvals,
            groups,
            satisfied,
            origin: None,
        }
    }
}

/// Describes what a requirement asks for: "2 approvals, 1 from seniors, 1 from payments".
pub fn describe_needs(requirement: &Requirement) -> String {
    let mut parts = Vec::new();
    if let Some(a) = &requirement.approvals {
        parts.push(approvals_phrase(a.needed));
    }
    for g in &requirement.groups {
        if parts.is_empty() {
            parts.push(format!("{} from {}", approvals_phrase(g.needed), g.group));
        } else {
            parts.push(format!("{} from {}", g.needed, g.group));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod eligibility_tests;
#[cfg(test)]
mod tests;
