//! What the check run says in each situation. Only an approved verdict is `success`; every
//! doubt is `failure`, never `neutral` or `skipped` (GitHub counts both as passing for a
//! required check) — a base branch without a policy included. The one `neutral` is a verdict
//! under a policy whose owners chose report mode (`settings.mode = "report"`), and never on a
//! PR that changes the policy.

use std::fmt::Write;

use crate::evaluate::Verdict;
use crate::github::GitHubError;
use crate::github::checks::CheckOutput;
use crate::policy::PolicyErrors;
use crate::report::{self, MAX_CHECK_OUTPUT_BYTES};

/// Titles are one line; GitHub shows them beside the check's name.
const MAX_TITLE_CHARS: usize = 200;

pub(super) fn one_line(title: &str) -> String {
    let line = title.lines().next().unwrap_or("").trim();
    if line.chars().count() <= MAX_TITLE_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(MAX_TITLE_CHARS - 1).collect();
    cut.push('…');
    cut
}

pub(super) fn cap(summary: String) -> String {
    crate::report::truncate_for_check(summary, MAX_CHECK_OUTPUT_BYTES)
}

/// The evaluator's verdict.
pub fn verdict(v: &Verdict, merge_group_of: Option<u64>) -> CheckOutput {
    let mut summary = String::new();
    if let Some(n) = merge_group_of {
        let _ = writeln!(
            summary,
            "Merge group check for pull request #{n}, judged on its current approvals.\n"
        );
    }
    summary.push_str(&report::markdown(v));
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion: v.check_conclusion(),
        title: one_line(&v.check_title()),
        summary: cap(summary),
    }
}

/// A verdict overridden because the App could not see everything it needs.
pub fn incomplete(v: &Verdict, title: &str, why: &str) -> CheckOutput {
    let summary = format!(
        "⛔ **Not approved**: {why}\n\nWhat the policy would otherwise say:\n\n{}",
        report::markdown(v)
    );
    // In report mode nothing is enforced, this override included.
    let (conclusion, title) = if v.report_only {
        ("neutral", format!("Report only: {title}"))
    } else {
        ("failure", title.to_string())
    };
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion,
        title: one_line(&title),
        summary: cap(summary),
    }
}

/// The base branch's policy is invalid: nothing can be approved until it is fixed.
pub fn invalid_policy(errors: &PolicyErrors, branch: &str) -> CheckOutput {
    let why = format!(
        "The review policy `{}` on `{branch}` is invalid, so no pull request into `{branch}` can be approved until a lead fixes it.",
        errors.origin
    );
    invalid(errors, "Invalid review policy", &why)
}

/// The organisation's floor policy is invalid: no pull request of any of the organisation's
/// repositories can be approved until it is fixed.
pub fn invalid_org_policy(errors: &PolicyErrors, org: &str) -> CheckOutput {
    let why = format!(
        "The organisation's review policy `{}` is invalid, so no pull request of any repository of `{org}` can be approved until a lead fixes it (on the default branch of the organisation's policy repository).",
        errors.origin
    );
    invalid(errors, "Invalid organisation review policy", &why)
}

/// A failing check for an invalid policy: `TITLE: N errors in FILE:LINE:COLUMN`, then `why`
/// and every error.
fn invalid(errors: &PolicyErrors, title: &str, why: &str) -> CheckOutput {
    let n = errors.diagnostics.len();
    let mut summary = format!("{why}\n\n```\n");
    summary.push_str(&errors.to_string().replace("```", "'''"));
    summary.push_str("\n```\n\nCheck a policy locally with `reviewgate check <file>`.\n");
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion: "failure",
        title: one_line(&format!(
            "{title}: {n} {} in {}",
            if n == 1 { "error" } else { "errors" },
            errors
                .diagnostics
                .first()
                .map(|d| format!("{}:{}:{}", errors.origin, d.line, d.column))
                .unwrap_or_default()
        )),
        summary: cap(summary),
    }
}

/// GitHub could not be read: the check must not pass, and says why.
pub fn github_error(what: &str, error: &GitHubError) -> CheckOutput {
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion: "failure",
        title: one_line(&format!("Could not read {what} from GitHub; will retry")),
        summary: cap(format!(
            "reviewgate could not read {what} from GitHub, so it cannot tell whether this pull request is approved.\n\n\
             Error: `{}`\n\nThe check is re-run on the next event for this pull request (a review, a push), \
             or re-run it from the Checks tab.",
            error.to_string().replace('`', "'")
        )),
    }
}

/// The base branch has no policy: nothing can be approved into it. (A check that passed
/// here would let anyone merge by opening a PR into a branch without one.)
pub fn no_policy(policy_path: &str, branch: &str) -> CheckOutput {
    CheckOutput {
        policy_sha: Some(NO_POLICY.to_string()),
        pr_updated_at: None,
        external: None,
        conclusion: "failure",
        title: one_line(&format!("No review policy on {branch}")),
        summary: cap(format!(
            "There is no review policy on `{branch}`: reviewgate expects it at `{policy_path}` on the pull request's \
             base branch, so it cannot approve pull requests into `{branch}`. A lead adds the policy there \
             (check it first with `reviewgate check`); an organisation that installs reviewgate on repositories it \
             does not gate sets `REVIEWGATE_WHEN_NO_POLICY=skip`."
        )),
    }
}

/// What `external_id` records as the policy of a base branch without one.
pub const NO_POLICY: &str = "none";

/// A pull request of the commit changed while it was judged: what was judged may not pass,
/// and what passed before may have been another PR's verdict. `tries` > 0 once the App gave up
/// for now.
pub fn moving(tries: u32) -> CheckOutput {
    let later = if tries > 0 {
        format!(" It changed during {tries} evaluations in a row; reviewgate tries again shortly.")
    } else {
        " It is being judged again.".to_string()
    };
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion: "failure",
        title: "A pull request changed while it was judged".to_string(),
        summary: format!(
            "A pull request with this head commit changed (pushed, retargeted, reviewed) while reviewgate was \
             reading it, so the verdict reached could be out of date.{later}"
        ),
    }
}

/// More open pull requests share this head than reviewgate judges for one commit.
pub fn too_many_prs(count: usize, max: usize) -> CheckOutput {
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion: "failure",
        title: format!("{count} open pull requests share this commit"),
        summary: format!(
            "{count} open pull requests have this commit as their head; reviewgate judges at most {max} for one \
             commit (each is judged against its own base, and all must pass). Close the pull requests that are not \
             needed, then re-run this check."
        ),
    }
}

/// The merge group's PR is closed: the group must not merge on our account.
pub fn closed_pr(number: u64) -> CheckOutput {
    CheckOutput {
        policy_sha: None,
        pr_updated_at: None,
        external: None,
        conclusion: "failure",
        title: format!("Pull request #{number} is closed"),
        summary: format!(
            "The merge group names pull request #{number}, which is closed, so it cannot be approved."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Diagnostic;

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(one_line("a\nb"), "a");
        assert_eq!(one_line(&"x".repeat(500)).chars().count(), MAX_TITLE_CHARS);
    }

    #[test]
    fn invalid_policy_names_line_and_column() {
        let errors = PolicyErrors {
            origin: ".github/review-policy.toml".into(),
            diagnostics: vec![Diagnostic {
                line: 3,
                column: 17,
                message: "`default_level` names level `x`".into(),
            }],
        };
        let out = invalid_policy(&errors, "main");
        assert_eq!(out.conclusion, "failure");
        assert_eq!(
            out.title,
            "Invalid review policy: 1 error in .github/review-policy.toml:3:17"
        );
        assert!(
            out.summary
                .contains(".github/review-policy.toml:3:17: `default_level` names level `x`")
        );
    }
}
