//! One check run for a commit, from the verdicts of every open pull request whose head it is.
//!
//! A check run belongs to a commit, a verdict to a pull request. Were the run to carry the
//! verdict of whichever PR was evaluated last, anyone could open a second PR with the same head
//! into a branch with a weaker policy (or none) and turn the first PR's check green. So the run
//! passes only if it passes for every one of them, and its summary lists each with its own
//! verdict. Pure: results in, what to write out.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use super::Outcome;
use super::check_output::{cap, one_line};
use crate::evaluate::Verdict;
use crate::github::GitHubError;
use crate::github::checks::CheckOutput;
use crate::github::policy_source::PolicyFile;
use crate::snapshot::Snapshot;

/// What one open pull request on the commit amounts to.
#[derive(Debug, Clone)]
pub struct PrResult {
    pub number: u64,
    pub base: String,
    /// The check this PR alone would get.
    pub output: CheckOutput,
    pub outcome: Outcome,
    /// Why GitHub could not be read, when it could not (the job is retried).
    pub error: Option<GitHubError>,
    /// The organisations (lower case) whose teams the verdict named.
    pub team_orgs: BTreeSet<String>,
    /// What the result was reached from, for its decision record.
    pub evidence: Evidence,
}

/// What a PR's result was reached from, kept for its decision record.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The policy file read from the base: its blob SHA and what was read, when one was.
    pub policy: Option<(String, Arc<PolicyFile>)>,
    /// The organisation's floor, when one governed the PR too.
    pub floor: Option<super::floor::OrgFloor>,
    /// The facts and the verdict, when the PR was evaluated.
    pub judged: Option<(Snapshot, Verdict)>,
}

/// What to write on the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Write this run.
    Run(CheckOutput),
    /// No PR is gated (`REVIEWGATE_WHEN_NO_POLICY=skip`): write nothing, unless a run of ours is
    /// already on the commit, which must then not go on passing.
    IfRunExists(CheckOutput),
}

/// How PRs into branches without a policy are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenNoPolicy {
    /// Such a PR's verdict is `failure`.
    Fail,
    /// Such a PR is left out: no run is written for it, and it never makes a run pass.
    Skip,
}

/// The run for a commit that is the head of `results`' pull requests (never empty).
pub fn decide(results: &[PrResult], when_no_policy: WhenNoPolicy) -> Write {
    let gated: Vec<&PrResult> = results
        .iter()
        .filter(|r| !(when_no_policy == WhenNoPolicy::Skip && r.outcome == Outcome::NoPolicy))
        .collect();
    match gated.as_slice() {
        [] => {
            let first = results.first().map(|r| r.output.clone());
            Write::IfRunExists(first.unwrap_or_else(nothing_to_judge))
        }
        [only] if results.len() == 1 => Write::Run(single(only)),
        _ => Write::Run(several(results, &gated)),
    }
}

/// The line that names a PR in a summary: `#12 into `main``.
fn name(r: &PrResult) -> String {
    format!("#{} into `{}`", r.number, r.base.replace('`', "'"))
}

fn mark(output: &CheckOutput) -> &'static str {
    match output.conclusion {
        "success" => "✅",
        "neutral" => "ℹ️",
        _ => "⛔",
    }
}

fn single(r: &PrResult) -> CheckOutput {
    let mut output = r.output.clone();
    output.summary = cap(format!(
        "Pull request {}: {} {}\n\n{}",
        name(r),
        mark(&r.output),
        r.output.title,
        r.output.summary
    ));
    output
}

fn several(all: &[PrResult], gated: &[&PrResult]) -> CheckOutput {
    // A PR in report mode (`neutral`) never fails the commit; any other non-success does.
    let failing: Vec<&&PrResult> = gated
        .iter()
        .filter(|r| !matches!(r.output.conclusion, "success" | "neutral"))
        .collect();
    let reported: Vec<&&PrResult> = gated
        .iter()
        .filter(|r| r.output.conclusion == "neutral")
        .collect();
    let mut summary = format!(
        "This commit is the head of {} open pull requests. Its check passes only if it passes for every one of them:\n\n",
        all.len()
    );
    for r in all {
        if gated.iter().any(|g| g.number == r.number) {
            let _ = writeln!(
                summary,
                "- {} {}: {}",
                mark(&r.output),
                name(r),
                r.output.title
            );
        } else {
            let _ = writeln!(
                summary,
                "- ➖ {}: not gated (no review policy on `{}`)",
                name(r),
                r.base
            );
        }
    }
    for r in gated {
        let _ = write!(summary, "\n## {}\n\n{}\n", name(r), r.output.summary);
    }
    let title = match failing.as_slice() {
        [] if !reported.is_empty() => {
            let blocked = reported
                .iter()
                .filter(|r| r.outcome != Outcome::Approved)
                .count();
            format!(
                "Report only: {blocked} of {} pull requests on this commit not approved",
                gated.len()
            )
        }
        [] => format!(
            "Approved for all {} pull requests on this commit",
            gated.len()
        ),
        [one] => format!("#{} into {}: {}", one.number, one.base, one.output.title),
        [first, rest @ ..] => format!(
            "#{} into {}: {} (and {} more not approved)",
            first.number,
            first.base,
            first.output.title,
            rest.len()
        ),
    };
    CheckOutput {
        conclusion: match (failing.is_empty(), reported.is_empty()) {
            (false, _) => "failure",
            (true, false) => "neutral",
            (true, true) => "success",
        },
        title: one_line(&title),
        summary: cap(summary),
        policy_sha: None,
        pr_updated_at: None,
        external: None,
    }
}

fn nothing_to_judge() -> CheckOutput {
    CheckOutput {
        conclusion: "failure",
        title: "No pull request to judge".to_string(),
        summary: "No open pull request has this commit as its head.".to_string(),
        policy_sha: None,
        pr_updated_at: None,
        external: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(number: u64, base: &str, conclusion: &'static str, outcome: Outcome) -> PrResult {
        PrResult {
            number,
            base: base.to_string(),
            output: CheckOutput {
                conclusion,
                title: format!("verdict of #{number}"),
                summary: format!("details of #{number}"),
                policy_sha: Some(format!("blob{number}")),
                pr_updated_at: Some("2026-12-01T00:00:00Z".into()),
                external: None,
            },
            outcome,
            error: None,
            team_orgs: BTreeSet::new(),
            evidence: Evidence::default(),
        }
    }

    fn run(w: Write) -> CheckOutput {
        match w {
            Write::Run(o) => o,
            Write::IfRunExists(o) => panic!("expected a run, got IfRunExists({o:?})"),
        }
    }

    #[test]
    fn one_failing_pr_fails_the_commit_whatever_the_others_say() {
        let ok = result(1, "main", "success", Outcome::Approved);
        let weak = result(2, "sandbox", "failure", Outcome::NoPolicy);
        let out = run(decide(&[ok.clone(), weak], WhenNoPolicy::Fail));
        assert_eq!(out.conclusion, "failure");
        assert!(out.title.starts_with("#2 into sandbox:"), "{}", out.title);
        assert!(out.summary.contains("- ✅ #1 into `main`: verdict of #1"));
        assert!(
            out.summary
                .contains("- ⛔ #2 into `sandbox`: verdict of #2")
        );
        let both = run(decide(
            &[
                ok.clone(),
                result(3, "release", "success", Outcome::Approved),
            ],
            WhenNoPolicy::Fail,
        ));
        assert_eq!(both.conclusion, "success");
    }

    #[test]
    fn skipped_prs_never_make_a_run_pass() {
        let ungated = result(2, "sandbox", "failure", Outcome::NoPolicy);
        match decide(std::slice::from_ref(&ungated), WhenNoPolicy::Skip) {
            Write::IfRunExists(o) => assert_eq!(o.conclusion, "failure"),
            other => panic!("{other:?}"),
        }
        let bad = result(1, "main", "failure", Outcome::NotApproved);
        let out = run(decide(&[bad, ungated.clone()], WhenNoPolicy::Skip));
        assert_eq!(out.conclusion, "failure");
        assert!(out.summary.contains("➖ #2 into `sandbox`: not gated"));
        let good = result(1, "main", "success", Outcome::Approved);
        let out = run(decide(&[good, ungated], WhenNoPolicy::Skip));
        assert_eq!(out.conclusion, "success", "the gated PR alone decides");
    }

    #[test]
    fn a_single_pr_names_itself() {
        let out = run(decide(
            &[result(7, "main", "failure", Outcome::NotApproved)],
            WhenNoPolicy::Fail,
        ));
        assert!(
            out.summary
                .starts_with("Pull request #7 into `main`: ⛔ verdict of #7")
        );
        assert_eq!(out.title, "verdict of #7");
    }
}
