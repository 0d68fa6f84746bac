//! A pull request that edits the policy file is judged by the base branch's policy (which
//! asks its owners to approve), and its **proposed** policy — read at the PR's head commit —
//! must also load and pass its own `[[test]]` tables: otherwise the check fails, however many
//! owners approved, and its summary says what is wrong.

use std::fmt::Write;

use super::App;
use super::check_output::{cap, one_line};
use super::floor::{Usable, usable};
use super::jobs::PrRef;
use crate::github::GitHubError;
use crate::github::checks::CheckOutput;
use crate::github::policy_source::{self, PolicyLookup};
use crate::policy::PolicyErrors;
use crate::policy::selftest::run_all;
use crate::snapshot::{FileStatus, Snapshot};

/// What is wrong with a proposed policy.
enum Problem {
    Invalid(PolicyErrors),
    Failing { failed: Vec<String>, of: usize },
    Unreadable(GitHubError),
}

impl App {
    /// Fails `output` when `snapshot`'s PR edits the policy file and the version it proposes
    /// is invalid, fails one of its tests, or cannot be read (then the GitHub error is
    /// returned, for the evaluation to be retried).
    pub(super) async fn check_proposed_policy(
        &self,
        pr_ref: &PrRef,
        current: &Usable<'_>,
        snapshot: &Snapshot,
        output: &mut CheckOutput,
    ) -> Option<GitHubError> {
        let (installation, repo) = (pr_ref.installation, &pr_ref.repo);
        let edits = snapshot
            .files
            .iter()
            .any(|f| f.path == self.policy_path && f.status != Some(FileStatus::Removed));
        if !edits {
            return None;
        }
        let lookup = policy_source::load_at(
            &self.github,
            &self.policies,
            installation,
            repo,
            &snapshot.head_sha,
            &self.policy_path,
        )
        .await;
        let problem = match lookup {
            Err(e) => Problem::Unreadable(e),
            Ok(PolicyLookup::Missing) => return None,
            // Invalid, or naming another organisation's teams: as for the base's policy.
            Ok(PolicyLookup::Found { file, .. }) => {
                match usable(&file.policy, repo, &self.policy_path) {
                    Err(errors) => Problem::Invalid(errors),
                    Ok(policy) => {
                        let failures = run_all(policy, &self.policy_path);
                        let base = snapshot.base.as_deref().unwrap_or_default();
                        if let Some(preview) =
                            self.impact_preview(pr_ref, base, current, policy).await
                        {
                            output.summary = cap(format!("{}{preview}", output.summary));
                        }
                        if failures.is_empty() {
                            return None;
                        }
                        Problem::Failing {
                            failed: failures
                                .iter()
                                .map(|f| {
                                    format!("{}:{}:1: {}", self.policy_path, f.line, f.message)
                                })
                                .collect(),
                            of: policy.tests.len(),
                        }
                    }
                }
            }
        };
        fail(output, &problem, &self.policy_path);
        match problem {
            Problem::Unreadable(e) => Some(e),
            _ => None,
        }
    }
}

/// Turns `output` into a failure naming `problem`, keeping what the policy said below it.
fn fail(output: &mut CheckOutput, problem: &Problem, path: &str) {
    let (title, detail) = match problem {
        Problem::Invalid(errors) => (
            format!("The proposed policy `{path}` is invalid"),
            format!(
                "This pull request changes the review policy, and the version it proposes does not load:\n\n```\n{}\n```",
                errors.to_string().replace("```", "'''")
            ),
        ),
        Problem::Failing { failed, of } => (
            format!(
                "The proposed policy fails {} of its {of} test{}",
                failed.len(),
                if *of == 1 { "" } else { "s" }
            ),
            format!(
                "This pull request changes the review policy, and the version it proposes fails its own `[[test]]` tables:\n\n```\n{}\n```",
                failed.join("\n").replace("```", "'''")
            ),
        ),
        Problem::Unreadable(e) => (
            "Could not read the proposed policy from GitHub; will retry".to_string(),
            format!(
                "This pull request changes the review policy, and its proposed version could not be read: {e}."
            ),
        ),
    };
    let mut summary = String::new();
    let _ = write!(
        summary,
        "⛔ **Not approved**: {detail}\n\nRun `reviewgate check {path}` on the branch to see the same. What the current policy says:\n\n{}",
        output.summary
    );
    output.conclusion = "failure";
    output.title = one_line(&title);
    output.summary = cap(summary);
}
