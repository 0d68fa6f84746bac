//! The side effect, last: writing the check run, and what a failed write means.
//!
//! A failed write over a failing run is harmless (the next event or sweep writes again). A
//! failed write of a failure over a *passing* run leaves a merge gate open, so it is reported
//! as [`JobError::PassStands`] and retried until GitHub takes it.

use super::aggregate::Write;
use super::check_output;
use super::{App, JobError};
use crate::github::checks::{self, CheckOutput, Standing};
use crate::github::{GitHubError, RepoName};

impl App {
    /// Writes `output` as our run on `sha`.
    pub(super) async fn write(
        &self,
        inst: u64,
        repo: &RepoName,
        sha: &str,
        output: &CheckOutput,
    ) -> Result<(), JobError> {
        let written = checks::write(
            &self.github,
            &self.check_runs,
            inst,
            repo,
            sha,
            &self.check_name,
            output,
        )
        .await;
        let Err(failure) = written else {
            return Ok(());
        };
        self.metrics.check_write_failure();
        // A run we could not see may be passing: only a known non-passing run is safe. (A
        // repository that is gone, or no longer ours, has nothing left to write to.)
        let pass_stands = output.conclusion != "success"
            && failure.standing != Standing::NotPassing
            && !failure.error.is_not_found();
        tracing::warn!(
            error = %failure.error,
            conclusion = output.conclusion,
            standing = ?failure.standing,
            "the check run could not be written"
        );
        Err(if pass_stands {
            JobError::PassStands(failure.error, failure.standing)
        } else {
            JobError::GitHub(failure.error)
        })
    }

    /// Writes what was decided for the commit.
    pub(super) async fn write_decision(
        &self,
        inst: u64,
        repo: &RepoName,
        sha: &str,
        decision: Write,
    ) -> Result<(), JobError> {
        match decision {
            Write::Run(output) => self.write(inst, repo, sha, &output).await,
            Write::IfRunExists(output) => {
                let exists = checks::exists(
                    &self.github,
                    &self.check_runs,
                    inst,
                    repo,
                    sha,
                    &self.check_name,
                )
                .await;
                match exists {
                    Ok(false) => Ok(()),
                    Ok(true) => self.write(inst, repo, sha, &output).await,
                    Err(e) if e.is_not_found() => Ok(()),
                    // Whether a run of ours (perhaps passing) is there is unknown: retry.
                    Err(e) => Err(JobError::PassStands(e, Standing::Unknown)),
                }
            }
        }
    }

    /// GitHub could not be read: the check must not stay green, and says why. Returns the
    /// job's error: the read failure, or [`JobError::PassStands`] if the failure could not be
    /// written over a run that may pass.
    pub(super) async fn fail_closed(
        &self,
        inst: u64,
        repo: &RepoName,
        sha: &str,
        what: &str,
        error: GitHubError,
    ) -> JobError {
        let output = check_output::github_error(what, &error);
        match self.write(inst, repo, sha, &output).await {
            Err(JobError::PassStands(_, standing)) => JobError::PassStands(error, standing),
            _ => JobError::GitHub(error),
        }
    }
}
