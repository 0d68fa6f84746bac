//! The side effect, last: writing the check run, and what a failed write means.
//!
//! A failed write over a failing run is harmless (the next event or sweep writes again). A
//! failed write of a failure over a *passing* run leaves a merge gate open, so it is reported
//! as [`JobError::PassStands`] and retried until GitHub takes it.
//!
//! Before any write goes to GitHub, the store says whether it may ([`Store::gate_write`]): the
//! claim must still be held with more lease left than one GitHub request takes, and no write
//! covering later events may have been made for the PR. So a slow replica never overwrites a
//! newer verdict with an older one.

use super::aggregate::{PrResult, Write};
use super::check_output;
use super::jobs::PrRef;
use super::{App, JobError, Turn};
use crate::github::GitHubError;
use crate::github::checks::{self, CheckOutput, Standing};
use crate::store::WriteGate;

/// Who writes: the claim the write is made under, the PR whose events it covers, its base
/// (once known) and whether the run is a merge group's.
pub(super) struct Writer<'a> {
    pub turn: &'a Turn,
    pub pr: &'a PrRef,
    pub base: Option<String>,
    pub merge_group: bool,
}

impl App {
    /// Writes `output` as our run on `sha`, if the store allows it, after appending the
    /// decision records of the write (`judged`: the PRs it stands for; see [`super::record`]).
    pub(super) async fn write(
        &self,
        w: &Writer<'_>,
        sha: &str,
        output: &CheckOutput,
        judged: &[PrResult],
    ) -> Result<(), JobError> {
        self.may_write(w).await?;
        let mut output = output.clone();
        self.record_write(w, sha, &mut output, judged).await?;
        let output = &output;
        let (inst, repo) = (w.pr.installation, &w.pr.repo);
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
        let pass_stands = !matches!(output.conclusion, "success" | "neutral")
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

    /// Asks the store whether this write may go to GitHub now (see the module documentation).
    async fn may_write(&self, w: &Writer<'_>) -> Result<(), JobError> {
        if w.turn.is_lost() {
            return Err(JobError::Lost);
        }
        let Some(store) = self.store.ready() else {
            return Err(JobError::Store("not available".into()));
        };
        let gate = store.gate_write(&w.turn.claim, w.pr.number, self.settings.github_timeout);
        match self.timed("gate_write", gate).await {
            Ok(WriteGate::Allowed) => Ok(()),
            Ok(WriteGate::Stale) => {
                self.metrics.stale_result();
                tracing::info!(
                    pr = w.pr.number,
                    "a newer verdict was already written; dropping this one"
                );
                Err(JobError::Stale)
            }
            Ok(WriteGate::LeaseTooShort | WriteGate::Lost) => {
                tracing::warn!(
                    pr = w.pr.number,
                    "the claim ran out before the write; leaving it to the next holder"
                );
                Err(JobError::Lost)
            }
            Err(e) => Err(JobError::Store(e.to_string())),
        }
    }

    /// Writes what was decided for the commit.
    pub(super) async fn write_decision(
        &self,
        w: &Writer<'_>,
        sha: &str,
        decision: Write,
        judged: &[PrResult],
    ) -> Result<(), JobError> {
        let (inst, repo) = (w.pr.installation, &w.pr.repo);
        match decision {
            Write::Run(output) => self.write(w, sha, &output, judged).await,
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
                    Ok(true) => self.write(w, sha, &output, judged).await,
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
        w: &Writer<'_>,
        sha: &str,
        what: &str,
        error: GitHubError,
    ) -> JobError {
        let output = check_output::github_error(what, &error);
        match self.write(w, sha, &output, &[]).await {
            Err(JobError::PassStands(_, standing)) => JobError::PassStands(error, standing),
            Err(e @ (JobError::Lost | JobError::Stale)) => e,
            _ => JobError::GitHub(error),
        }
    }
}
