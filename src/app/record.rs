//! The audit trail of check-run writes: before each write goes to GitHub, one decision record
//! per pull request the run stands for is appended to the store's hash chain, and the run
//! names the record — its id as the run's `external_id`, and the summary's last line.
//!
//! Every record carries the conclusion and title actually written (what gated the merge);
//! its requirements, approvers, snapshot and policy are its own PR's, so `reviewgate replay`
//! can decide it again. A record is appended before the write is sent, so a write GitHub then
//! refuses leaves a record of the attempt (the retry appends another).

use super::aggregate::{Evidence, PrResult};
use super::check_output::cap;
use super::write::Writer;
use super::{App, JobError};
use crate::audit::{
    Conclusion, DecisionContext, DecisionRecord, FloorSource, Judged, OtherPr, PolicySource,
    Record, summary_line,
};
use crate::github::checks::CheckOutput;
use crate::report::MAX_CHECK_OUTPUT_BYTES;
use crate::store::now_ms;

impl App {
    /// Appends the decision records of a write of `output` on `sha` (`judged`: the PRs the
    /// run stands for, empty when nothing was judged), then makes `output` name the record of
    /// the writer's PR: its id as `external_id`, and the summary line.
    pub(super) async fn record_write(
        &self,
        w: &Writer<'_>,
        sha: &str,
        output: &mut CheckOutput,
        judged: &[PrResult],
    ) -> Result<(), JobError> {
        let mut records = self.decision_records(w, sha, output, judged);
        let Some(store) = self.store.ready() else {
            return Err(JobError::Store("not available".into()));
        };
        let appended = self
            .timed("append_record", store.append_records(&mut records))
            .await;
        if let Err(e) = appended {
            return Err(JobError::Store(e.to_string()));
        }
        let ours = records
            .iter()
            .find_map(Record::as_decision)
            .ok_or_else(|| JobError::Store("no decision record was built".into()))?;
        let line = summary_line(ours);
        output.summary = format!(
            "{}\n\n{line}",
            cap_to(std::mem::take(&mut output.summary), line.len() + 2)
        );
        output.external = Some(ours.id.clone());
        Ok(())
    }

    /// One record per judged PR, the writer's first (one unevaluated record when nothing was
    /// judged), each naming the others.
    fn decision_records(
        &self,
        w: &Writer<'_>,
        sha: &str,
        output: &CheckOutput,
        judged: &[PrResult],
    ) -> Vec<Record> {
        let written = (
            Conclusion::of_check(output.conclusion),
            output.title.clone(),
        );
        let context =
            |pr: u64, base: Option<String>, pr_updated_at: Option<String>| DecisionContext {
                repository: w.pr.repo.to_string(),
                pr: (!w.merge_group).then_some(pr),
                base,
                head_sha: sha.to_string(),
                policy_path: self.policy_path.clone(),
                evaluated_at_ms: now_ms(),
                other_prs: Vec::new(),
                pr_updated_at: pr_updated_at.filter(|_| !w.merge_group),
            };
        if judged.is_empty() {
            let record = DecisionRecord::unevaluated(
                context(w.pr.number, w.base.clone(), None),
                None,
                written.0,
                written.1,
            );
            return vec![Record::Decision(Box::new(record))];
        }
        let mut order: Vec<&PrResult> = judged.iter().collect();
        order.sort_by_key(|r| r.number != w.pr.number);
        let mut records: Vec<DecisionRecord> = order
            .iter()
            .map(|r| {
                let cx = context(
                    r.number,
                    Some(r.base.clone()),
                    r.output.pr_updated_at.clone(),
                );
                decision(cx, &r.evidence, written.clone())
            })
            .collect();
        let others: Vec<OtherPr> = order
            .iter()
            .zip(&records)
            .map(|(r, d)| OtherPr {
                pr: r.number,
                base: r.base.clone(),
                conclusion: Conclusion::of_check(r.output.conclusion),
                decision_id: d.id.clone(),
            })
            .collect();
        for (i, record) in records.iter_mut().enumerate() {
            record.other_prs = others
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, o)| o.clone())
                .collect();
        }
        records
            .into_iter()
            .map(|d| Record::Decision(Box::new(d)))
            .collect()
    }
}

/// A PR's decision: the verdict it was judged by, when it was; else what was read.
fn decision(
    context: DecisionContext,
    evidence: &Evidence,
    written: (Conclusion, String),
) -> DecisionRecord {
    let own = evidence.policy.as_ref().and_then(|(blob, file)| {
        let text = file.text.as_deref()?;
        crate::audit::is_blob_sha(blob).then_some((
            PolicySource {
                blob_sha: blob,
                text,
            },
            file,
        ))
    });
    let floor = evidence.floor.as_ref().and_then(|f| {
        crate::audit::is_blob_sha(&f.blob_sha).then_some((
            FloorSource {
                file: &f.origin,
                blob_sha: &f.blob_sha,
                text: f.file.text.as_deref(),
            },
            &f.file,
        ))
    });
    let unevaluated = || {
        DecisionRecord::unevaluated(
            context.clone(),
            own.map(|o| o.0),
            written.0,
            written.1.clone(),
        )
        .with_floor(floor.map(|f| f.0))
    };
    let Some((snapshot, verdict)) = &evidence.judged else {
        return unevaluated();
    };
    // Evaluated only under policies that compiled and were read as text; a policy that did
    // not (which the verdict would not exist without) leaves the record unevaluated.
    let own_judged = match own {
        Some((source, file)) => match &file.policy {
            Ok(policy) => Some((source, policy)),
            Err(_) => return unevaluated(),
        },
        None if evidence.policy.is_some() => return unevaluated(),
        None => None,
    };
    let floor_judged = match floor {
        Some((source, file)) => match &file.policy {
            Ok(policy) => Some((source, policy)),
            Err(_) => return unevaluated(),
        },
        None if evidence.floor.is_some() => return unevaluated(),
        None => None,
    };
    if own_judged.is_none() && floor_judged.is_none() {
        return unevaluated();
    }
    let judged = Judged {
        own: own_judged,
        floor: floor_judged,
        snapshot,
        verdict,
    };
    DecisionRecord::from_judged(context, judged, written)
}

/// Cuts a summary so that `room` more bytes still fit GitHub's limit.
fn cap_to(summary: String, room: usize) -> String {
    let capped = cap(summary);
    if capped.len() + room <= MAX_CHECK_OUTPUT_BYTES {
        return capped;
    }
    crate::report::truncate_for_check(capped, MAX_CHECK_OUTPUT_BYTES.saturating_sub(room))
}
