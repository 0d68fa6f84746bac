//! The impact preview of a policy change: on a PR that edits the policy file, the open PRs
//! into the same base whose verdict the proposed policy would change (blocked → pass or pass →
//! blocked), each with the requirement that differs. It only reads: those PRs' own checks
//! are never written from here.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::App;
use super::floor::Usable;
use super::jobs::PrRef;
use crate::evaluate::{Source, Verdict};
use crate::github::pulls::{Listing, pages};
use crate::github::types::PullRequest;
use crate::policy::Policy;

/// PRs listed in a preview at most.
const MAX_LISTED: usize = 50;

impl App {
    /// The preview section for a PR (`editing`) proposing `proposed` in place of the base's
    /// own policy on `base`; `None` when no open PR's verdict changes (or there is nothing to
    /// compare). Verdicts are compared under the organisation's floor too, when one governs:
    /// a change the floor makes moot changes no verdict.
    pub(super) async fn impact_preview(
        &self,
        editing: &PrRef,
        base: &str,
        current: &Usable<'_>,
        proposed: &Policy,
    ) -> Option<String> {
        let proposed = Usable {
            own: Some(proposed),
            own_origin: current.own_origin.clone(),
            floor: current.floor,
        };
        let max = self.settings.preview_max_prs;
        if max == 0 {
            return None;
        }
        let listing = Listing::new(
            editing.installation,
            "GET /repos/{owner}/{repo}/pulls",
            format!(
                "{}/pulls?state=open&base={}",
                editing.repo.api_path(),
                crate::github::client::encode(base)
            ),
        );
        let open: Vec<PullRequest> = match pages(&self.github, listing, 1).await {
            Ok(prs) => prs,
            Err(e) => {
                return Some(format!(
                    "\n\n### Impact of this policy change\n\nThe open pull requests into `{base}` could not be listed: {e}.\n"
                ));
            }
        };
        let others: Vec<&PullRequest> = open
            .iter()
            .filter(|p| p.number != editing.number && p.base.ref_name == base)
            .collect();
        let total = others.len();
        // The members of both policies' teams, read once for every PR previewed.
        let mut teams = BTreeMap::new();
        for policies in [current.policies(), proposed.policies()] {
            match self.team_members(editing.installation, &policies).await {
                Ok(members) => teams.extend(members),
                Err((what, e)) => {
                    return Some(format!(
                        "\n\n### Impact of this policy change\n\n{what} could not be read: {e}.\n"
                    ));
                }
            }
        }
        let mut changed = Vec::new();
        let mut evaluated = 0;
        let mut unreadable = 0;
        for pr in others.iter().take(max) {
            let pr_ref = PrRef {
                number: pr.number,
                ..editing.clone()
            };
            match self.snapshot_with(&pr_ref, pr, teams.clone()).await {
                Ok((snapshot, _)) => {
                    evaluated += 1;
                    let before = current.evaluate(&snapshot, &self.policy_path);
                    let after = proposed.evaluate(&snapshot, &self.policy_path);
                    let (Some(before), Some(after)) = (before, after) else {
                        continue;
                    };
                    if before.approved != after.approved {
                        changed.push((pr.number, difference(&before, &after)));
                    }
                }
                Err(_) => unreadable += 1,
            }
        }
        Some(section(base, &changed, evaluated, total, unreadable))
    }
}

/// `blocked → pass (…)` with the requirement that differs, named as the check names it.
fn difference(before: &Verdict, after: &Verdict) -> String {
    let word = |v: &Verdict| if v.approved { "pass" } else { "blocked" };
    let unmet = |v: &Verdict| -> Vec<String> {
        v.requirements
            .iter()
            .filter(|r| !r.satisfied)
            .map(|r| label(&r.source))
            .collect()
    };
    let (was, now) = (unmet(before), unmet(after));
    let why = if after.approved {
        match was.first() {
            Some(r) => format!("no longer needs: {r}"),
            None => format!("was: {}", before.title),
        }
    } else {
        match now.iter().find(|r| !was.contains(r)).or(now.first()) {
            Some(r) => format!("now needs: {r} — {}", after.title),
            None => after.title.clone(),
        }
    };
    format!("{} → {} ({why})", word(before), word(after))
}

fn label(source: &Source) -> String {
    match source {
        Source::DefaultLevel { level } => format!("default level `{level}`"),
        Source::Path { name, .. } => format!("path rule `{name}`"),
        Source::PolicyOwners { group, .. } => format!("policy owners `{group}`"),
        Source::UnlinkedCommit { sha, .. } => format!("unlinked commit {sha}"),
    }
}

fn section(
    base: &str,
    changed: &[(u64, String)],
    evaluated: usize,
    total: usize,
    unreadable: usize,
) -> String {
    let mut out = String::from("\n\n### Impact of this policy change\n\n");
    if evaluated < total {
        let _ = writeln!(
            out,
            "Partial preview: {evaluated} of {total} open pull requests evaluated.\n"
        );
    }
    if unreadable > 0 {
        let _ = writeln!(
            out,
            "{unreadable} pull request{} could not be read from GitHub and {} not previewed.\n",
            if unreadable == 1 { "" } else { "s" },
            if unreadable == 1 { "is" } else { "are" }
        );
    }
    if changed.is_empty() {
        let _ = writeln!(
            out,
            "No open pull request into `{base}` would change verdict under the proposed policy."
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{} open pull request{} into `{base}` would change verdict under the proposed policy:\n",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    );
    for (number, what) in changed.iter().take(MAX_LISTED) {
        let _ = writeln!(out, "- #{number}: {what}");
    }
    if changed.len() > MAX_LISTED {
        let _ = writeln!(out, "- … and {} more", changed.len() - MAX_LISTED);
    }
    out
}
