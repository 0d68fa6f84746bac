//! The evaluator's answer: whether the PR may merge, and an explanation tree that says why,
//! requirement by requirement. It is plain data (serialised as the CLI's JSON output) so the
//! CLI, the check run and tests all render from the same facts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::snapshot::ReviewState;

/// The result of evaluating one PR against one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True only when every requirement is met and nothing blocks.
    pub approved: bool,
    /// One line saying what is missing, e.g. "Needs 1 more approval from seniors".
    pub title: String,
    pub head_sha: String,
    /// What the PR needs in all: the maximum over its requirements.
    pub needs: Needs,
    /// Distinct eligible approvers.
    pub approvals: u32,
    /// False when GitHub listed fewer files than the PR changes; every entry then applies.
    pub file_list_complete: bool,
    pub requirements: Vec<Requirement>,
    /// Everyone who reviewed, with what their reviews amount to.
    pub reviewers: Vec<Reviewer>,
    /// Reviewers whose outstanding "changes requested" blocks the merge.
    pub blocked_by: Vec<Blocker>,
    /// Things the reader should know that are not a requirement (fail-closed decisions,
    /// missing team data).
    pub notes: Vec<String>,
    /// The policy is in `report` mode and the PR does not change it: the check is written
    /// `neutral` whatever the verdict (see [`Verdict::check_title`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub report_only: bool,
}

impl Verdict {
    /// The check run's title: the verdict's title, after `Report only: ` in report mode.
    pub fn check_title(&self) -> String {
        if self.report_only {
            format!("Report only: {}", self.title)
        } else {
            self.title.clone()
        }
    }

    /// The check run's conclusion: `neutral` in report mode, else `success` exactly when
    /// approved.
    pub fn check_conclusion(&self) -> &'static str {
        match (self.report_only, self.approved) {
            (true, _) => "neutral",
            (false, true) => "success",
            (false, false) => "failure",
        }
    }
}

/// Merged needs: the maximum `approvals`, and per group the maximum count (never a sum).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Needs {
    pub approvals: u32,
    pub groups: BTreeMap<String, u32>,
}

/// Why a requirement applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// `default_level`: every PR.
    DefaultLevel { level: String },
    /// A `[[paths]]` entry (0-based `index` in the file) that changed files matched.
    Path {
        index: usize,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        level: Option<String>,
    },
    /// The PR changes the policy file itself.
    PolicyOwners { group: String, policy_path: String },
    /// A commit whose author or committer GitHub cannot link to an account: nobody can tell
    /// who wrote it, so no approval lifts it (unless `allow_unlinked_commits`).
    UnlinkedCommit {
        sha: String,
        author: bool,
        committer: bool,
    },
}

/// One thing the PR must satisfy, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub source: Source,
    /// Why it applies, in words.
    pub reason: String,
    /// Changed files that triggered it (at most [`MAX_LISTED_FILES`]; see `matched_files`).
    pub files: Vec<String>,
    /// How many changed files triggered it.
    pub matched_files: usize,
    /// The approval count this requirement sets, if it sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalCount>,
    pub groups: Vec<GroupCount>,
    pub satisfied: bool,
    /// The policy file it comes from, when a PR is judged under more than one (a
    /// repository's policy and its organisation's floor): `acme/.github:.github/review-policy.toml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Files listed per requirement; the count is always exact.
pub const MAX_LISTED_FILES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalCount {
    pub needed: u32,
    pub have: u32,
    pub approvers: Vec<String>,
}

/// Progress toward "at least `needed` approvals from members of `group`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCount {
    pub group: String,
    pub needed: u32,
    pub have: u32,
    /// Eligible approvers who are members.
    pub approvers: Vec<String>,
    /// Eligible approvers who are not members: they count toward `approvals` only.
    pub not_in_group: Vec<String>,
    /// Known members who could still approve: not the author, not a contributor (unless
    /// allowed), not already counted. Stale approvers are included: they can approve again.
    pub could_approve: Vec<String>,
    /// The group's teams, whose members could approve.
    pub teams: Vec<String>,
    pub satisfied: bool,
}

/// What one reviewer's reviews amount to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reviewer {
    pub login: String,
    /// Their latest review that counts: APPROVED or CHANGES_REQUESTED; DISMISSED when a
    /// dismissal cleared it; COMMENTED (or PENDING) when they never approved or objected.
    pub state: ReviewState,
    /// Commit of that review.
    pub commit: String,
    /// Counts toward `approvals`.
    pub counted: bool,
    /// Counts although given on an earlier head, because the PR's own changes are the same
    /// there (equal content fingerprints, `keep_approvals_when_unchanged`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub same_changes: bool,
    /// Stale, and the PR's own changes are known to differ from the approved head's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub content_changed: bool,
    /// Why an approval does not count, or a change request does not block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Ignored>,
    /// The policy's groups they belong to.
    pub groups: Vec<String>,
}

/// Why a review does not count: an approval toward the requirements, or a change request
/// toward blocking. When several reasons apply, the first in this order is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ignored {
    /// The PR's author cannot approve their own PR.
    #[serde(rename = "author")]
    Author,
    /// A GitHub App's bot account (`…[bot]`) never approves, even through a team.
    #[serde(rename = "bot")]
    Bot,
    /// Below write access on the repository (or not a collaborator at all): GitHub itself
    /// would not count their approval.
    #[serde(rename = "no write access")]
    NoWriteAccess,
    /// They authored or committed a commit of the PR (`contributors_can_approve = false`).
    #[serde(rename = "contributor")]
    Contributor,
    /// They pushed to the PR's head branch (`contributors_can_approve = false`).
    #[serde(rename = "pusher")]
    Pusher,
    /// Given on an older commit (`dismiss_stale_approvals = true`).
    #[serde(rename = "stale")]
    Stale,
}

impl Ignored {
    /// The reason as it appears in the JSON verdict and the text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Author => "author",
            Ignored::Bot => "bot",
            Ignored::NoWriteAccess => "no write access",
            Ignored::Contributor => "contributor",
            Ignored::Pusher => "pusher",
            Ignored::Stale => "stale",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            Ignored::Author => "the PR's author",
            Ignored::Bot => "bots never count",
            Ignored::NoWriteAccess => "needs write access to the repository",
            Ignored::Contributor => "authored or committed a commit in this PR",
            Ignored::Pusher => "pushed to this PR's branch",
            Ignored::Stale => "approved an older commit, not the current head",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub login: String,
    pub commit: String,
}

/// A title with its first letter in lower case, to follow a colon: "needs 1 more approval".
pub(crate) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "1 approval", "2 approvals".
pub(crate) fn approvals_phrase(n: u32) -> String {
    format!("{n} approval{}", if n == 1 { "" } else { "s" })
}

/// The one-line summary: what is missing, or who approved.
pub(crate) fn title(
    approved: bool,
    needs: &Needs,
    approvers: &[String],
    group_have: &BTreeMap<String, u32>,
    blockers: &[Blocker],
    unlinked: &[String],
) -> String {
    if approved {
        return match approvers.len() {
            0 => "Approved".to_string(),
            n if n <= 3 => format!("Approved by {}", approvers.join(", ")),
            n => format!(
                "Approved by {} and {} more",
                approvers[..3].join(", "),
                n - 3
            ),
        };
    }
    let mut parts = Vec::new();
    if !blockers.is_empty() {
        let names: Vec<&str> = blockers.iter().map(|b| b.login.as_str()).collect();
        parts.push(format!("Changes requested by {}", names.join(", ")));
    }
    let mut shortfalls = Vec::new();
    let mut group_missing_total = 0u32;
    for (group, needed) in &needs.groups {
        let have = group_have.get(group).copied().unwrap_or(0);
        if *needed > have {
            let missing = needed - have;
            group_missing_total = group_missing_total.saturating_add(missing);
            shortfalls.push(format!(
                "{} more approval{} from {group}",
                missing,
                if missing == 1 { "" } else { "s" }
            ));
        }
    }
    let have = approvers.len() as u32;
    if needs.approvals > have {
        let extra = (needs.approvals - have).saturating_sub(group_missing_total);
        if extra > 0 {
            if shortfalls.is_empty() {
                shortfalls.push(format!(
                    "{} more approval{}",
                    extra,
                    if extra == 1 { "" } else { "s" }
                ));
            } else {
                shortfalls.push(format!("{extra} more from anyone eligible"));
            }
        }
    }
    if !shortfalls.is_empty() {
        let needs_text = shortfalls.join(", ");
        if parts.is_empty() {
            parts.push(format!("Needs {needs_text}"));
        } else {
            parts.push(format!("needs {needs_text}"));
        }
    }
    match unlinked {
        [] => {}
        [one] => parts.push(one.clone()),
        many => parts.push(format!(
            "{} commits have an author or committer GitHub cannot link to an account",
            many.len()
        )),
    }
    if parts.is_empty() {
        // Not approved with nothing missing cannot happen; say so rather than guess.
        return "Not approved".to_string();
    }
    capitalize(&parts.join("; "))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(approvals: u32, groups: &[(&str, u32)]) -> Needs {
        Needs {
            approvals,
            groups: groups.iter().map(|(g, n)| (g.to_string(), *n)).collect(),
        }
    }

    fn have(groups: &[(&str, u32)]) -> BTreeMap<String, u32> {
        groups.iter().map(|(g, n)| (g.to_string(), *n)).collect()
    }

    #[test]
    fn titles_say_what_is_missing() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let bob = Blocker {
            login: "bob".into(),
            commit: "c".into(),
        };
        type Case = (
            bool,
            Needs,
            Vec<String>,
            BTreeMap<String, u32>,
            Vec<Blocker>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                true,
                needs(1, &[]),
                s(&["alice"]),
                have(&[]),
                vec![],
                "Approved by alice",
            ),
            (
                true,
                needs(1, &[]),
                s(&["a", "b", "c", "d", "e"]),
                have(&[]),
                vec![],
                "Approved by a, b, c and 2 more",
            ),
            (
                false,
                needs(1, &[]),
                s(&[]),
                have(&[]),
                vec![],
                "Needs 1 more approval",
            ),
            (
                false,
                needs(3, &[]),
                s(&["a"]),
                have(&[]),
                vec![],
                "Needs 2 more approvals",
            ),
            (
                false,
                needs(2, &[("seniors", 1)]),
                s(&["a"]),
                have(&[]),
                vec![],
                "Needs 1 more approval from seniors",
            ),
            (
                false,
                needs(3, &[("seniors", 1)]),
                s(&["a"]),
                have(&[]),
                vec![],
                "Needs 1 more approval from seniors, 1 more from anyone eligible",
            ),
            (
                false,
                needs(2, &[("leads", 1), ("seniors", 2)]),
                s(&["a", "b"]),
                have(&[("seniors", 1)]),
                vec![],
                "Needs 1 more approval from leads, 1 more approval from seniors",
            ),
            (
                false,
                needs(1, &[]),
                s(&["a"]),
                have(&[]),
                vec![bob.clone()],
                "Changes requested by bob",
            ),
            (
                false,
                needs(2, &[]),
                s(&["a"]),
                have(&[]),
                vec![bob],
                "Changes requested by bob; needs 1 more approval",
            ),
        ];
        for (approved, needs, approvers, group_have, blockers, want) in cases {
            assert_eq!(
                title(approved, &needs, &approvers, &group_have, &blockers, &[]),
                want
            );
        }
    }
}
