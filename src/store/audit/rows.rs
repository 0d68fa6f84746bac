//! Audit records as rows, both ways: a record sealed into the row both back ends insert, and
//! a row read back into the record's JSON exactly as it was hashed.

use serde_json::Value;

use crate::audit::time::parse_rfc3339_ms;
use crate::audit::{Conclusion, Record, seal};

use super::super::StoreError;
use super::super::types::to_i64;

/// The columns both back ends select, in the order of [`RecordRow`]'s fields (but `policy`).
pub(crate) const SELECT: &str = "r.id, r.repository, r.seq, r.kind, r.recorded_at, r.body, \
     r.prev_hash, r.hash, r.pr, r.base, r.head_sha, r.event_at, r.policy_blob_sha, r.passed";

/// The fields of a record that are repeated in columns for queries to filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    pub pr: Option<i64>,
    pub base: Option<String>,
    pub head_sha: Option<String>,
    /// evaluated_at, merged_at, pushed_at, or (a checkpoint) recorded_at, in ms.
    pub event_at: i64,
    pub policy_blob_sha: Option<String>,
    /// A decision's success, a merge's gate_passed; false otherwise.
    pub passed: bool,
    pub recorded_at: i64,
}

/// What a record's columns hold, from the record itself.
pub(crate) fn columns(record: &Record) -> Result<Columns, String> {
    let time = |field: &str, text: &str| {
        parse_rfc3339_ms(text).ok_or_else(|| format!("its {field} {text:?} is not RFC 3339"))
    };
    let recorded_at = time("recorded_at", record.recorded_at())?;
    let pr = |n: u64| to_i64("PR number", n).map_err(|e| e.to_string());
    Ok(match record {
        Record::Decision(d) => Columns {
            pr: d.pr.map(pr).transpose()?,
            base: d.base.clone(),
            head_sha: Some(d.head_sha.clone()),
            event_at: time("evaluated_at", &d.evaluated_at)?,
            policy_blob_sha: d.policy_blob_sha.clone(),
            passed: d.conclusion == Conclusion::Success,
            recorded_at,
        },
        Record::Merge(m) => Columns {
            pr: Some(pr(m.pr)?),
            base: Some(m.base.clone()),
            head_sha: Some(m.head_sha.clone()),
            event_at: time("merged_at", &m.merged_at)?,
            policy_blob_sha: m.policy_blob_sha.clone(),
            passed: m.gate_passed,
            recorded_at,
        },
        Record::Push(p) => Columns {
            pr: None,
            base: Some(p.branch.clone()),
            head_sha: Some(p.after.clone()),
            event_at: time("pushed_at", &p.pushed_at)?,
            policy_blob_sha: None,
            passed: false,
            recorded_at,
        },
        Record::Checkpoint(_) => Columns {
            pr: None,
            base: None,
            head_sha: None,
            event_at: recorded_at,
            policy_blob_sha: None,
            passed: false,
            recorded_at,
        },
    })
}

/// A record sealed into its chain, ready to insert.
pub(crate) struct NewRow {
    pub id: String,
    pub repository: String,
    pub seq: i64,
    pub kind: &'static str,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
    pub columns: Columns,
    /// A decision's policy: (blob SHA, text).
    pub policy: Option<(String, String)>,
    /// A merge's merge commit and PR commits.
    pub merge_commits: Vec<String>,
}

/// Seals `record` as number `seq` of its chain after `prev_hash`, written at `at` (ms), and
/// makes its row: the body is the sealed JSON without `prev_hash`, `hash` and policy text.
pub(crate) fn seal_row(
    record: &mut Record,
    seq: i64,
    at: i64,
    prev_hash: &str,
) -> Result<NewRow, StoreError> {
    let id = record.id().to_string();
    let invalid = |problem: String| StoreError::InvalidRecord {
        id: id.clone(),
        problem,
    };
    let mut value = seal(record, at, prev_hash).map_err(|e| invalid(e.to_string()))?;
    let columns = columns(record).map_err(invalid)?;
    if let Value::Object(fields) = &mut value {
        fields.remove("hash");
        fields.remove("prev_hash");
        fields.remove("policy");
    }
    let policy = match &*record {
        Record::Decision(d) => d.policy_blob_sha.clone().zip(d.policy.clone()),
        _ => None,
    };
    let merge_commits = match &*record {
        Record::Merge(m) => {
            let mut shas: Vec<String> = m.commits.clone();
            shas.push(m.merge_sha.clone());
            shas.sort();
            shas.dedup();
            shas.retain(|s| !s.is_empty());
            shas
        }
        _ => Vec::new(),
    };
    Ok(NewRow {
        id: record.id().to_string(),
        repository: record.repository().to_string(),
        seq,
        kind: record.kind().as_str(),
        body: value.to_string(),
        prev_hash: record.prev_hash().to_string(),
        hash: record.hash().to_string(),
        columns,
        policy,
        merge_commits,
    })
}

/// A stored record as both back ends read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RecordRow {
    pub id: String,
    pub repository: String,
    pub seq: i64,
    pub kind: String,
    pub recorded_at: i64,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
    pub pr: Option<i64>,
    pub base: Option<String>,
    pub head_sha: Option<String>,
    pub event_at: i64,
    pub policy_blob_sha: Option<String>,
    pub passed: bool,
    /// A decision's policy text, joined from audit_policies (null in queries that skip it).
    pub policy: Option<String>,
}

impl RecordRow {
    fn corrupt(&self, what: &'static str) -> StoreError {
        StoreError::Corrupt {
            what,
            value: format!("record {} of {}", self.id, self.repository),
        }
    }

    /// The record's JSON as it was hashed: the body with `prev_hash`, `hash` and (for a
    /// decision) the policy text put back.
    pub(crate) fn to_value(&self) -> Result<Value, StoreError> {
        let mut value: Value = serde_json::from_str(&self.body)
            .map_err(|_| self.corrupt("audit record body (not JSON)"))?;
        let Value::Object(fields) = &mut value else {
            return Err(self.corrupt("audit record body (not a JSON object)"));
        };
        fields.insert("prev_hash".into(), Value::String(self.prev_hash.clone()));
        fields.insert("hash".into(), Value::String(self.hash.clone()));
        if self.kind == "decision" {
            let text = self.policy.clone().map_or(Value::Null, Value::String);
            fields.insert("policy".into(), text);
        }
        Ok(value)
    }

    /// The record, read strictly (unknown fields refused).
    pub(crate) fn to_record(&self) -> Result<Record, StoreError> {
        let value = self.to_value()?;
        Record::from_value(value).map_err(|_| self.corrupt("audit record"))
    }

    /// Where the row's columns disagree with the record it holds, if they do: a column
    /// edited by hand would otherwise change what a query finds (an unapproved merge hidden
    /// from `--unapproved-only`) without changing the hashed body.
    pub(crate) fn column_mismatch(&self, record: &Record) -> Option<String> {
        let derived = match columns(record) {
            Ok(c) => c,
            Err(problem) => return Some(problem),
        };
        let stored = Columns {
            pr: self.pr,
            base: self.base.clone(),
            head_sha: self.head_sha.clone(),
            event_at: self.event_at,
            policy_blob_sha: self.policy_blob_sha.clone(),
            passed: self.passed,
            recorded_at: self.recorded_at,
        };
        let same_identity = record.id() == self.id
            && record.repository() == self.repository
            && record.kind().as_str() == self.kind;
        if same_identity && derived == stored {
            None
        } else {
            Some(format!(
                "its indexed columns disagree with its content (columns {stored:?}, content {derived:?})"
            ))
        }
    }
}
