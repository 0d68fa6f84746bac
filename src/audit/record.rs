//! The records themselves: plain data whose JSON field names are the evidence format
//! (docs/audit.md), so renaming a field breaks every stored hash and every auditor's script.
//!
//! Every record has `kind`, `id`, `repository`, `recorded_at`, `prev_hash` and `hash`. The
//! fields are repeated in each type rather than flattened from a shared struct, because
//! serde cannot combine `flatten` with `deny_unknown_fields`, and a record read back for
//! `replay --record` must refuse fields it does not know: a record an auditor edited by hand
//! should fail loudly, not replay as something it is not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::snapshot::{ReviewState, Snapshot};

/// Declares a one-value enum that serialises as the record's `kind`: a record of one type
/// can then never be read as another.
macro_rules! kind_tag {
    ($name:ident, $text:literal) => {
        #[doc = concat!("The `kind` of this record type: always `\"", $text, "\"`.")]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            #[default]
            #[serde(rename = $text)]
            Tag,
        }
    };
}

kind_tag!(DecisionKind, "decision");
kind_tag!(MergeKind, "merge");
kind_tag!(PushKind, "push");
kind_tag!(CheckpointKind, "checkpoint");

/// A check run's conclusion, as GitHub spells it. `neutral` only in a policy's report mode
/// (which GitHub counts as passing; a merge judged against it never has `gate_passed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
        }
    }

    /// `success` exactly when the verdict approves.
    pub fn of(approved: bool) -> Conclusion {
        if approved {
            Conclusion::Success
        } else {
            Conclusion::Failure
        }
    }

    /// A conclusion as the check run spells it; anything but `success` and `neutral` is
    /// `failure`.
    pub fn of_check(conclusion: &str) -> Conclusion {
        match conclusion {
            "success" => Conclusion::Success,
            "neutral" => Conclusion::Neutral,
            _ => Conclusion::Failure,
        }
    }

    /// What the check run for `verdict` concludes (report mode included).
    pub fn of_verdict(verdict: &crate::evaluate::Verdict) -> Conclusion {
        Conclusion::of_check(verdict.check_conclusion())
    }
}

impl std::fmt::Display for Conclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Someone whose approval counted, and why they qualified: for each group they counted
/// toward, the policy entry that made them a member — their login as the group lists it, or
/// `@org/team` when membership came through a team (as the snapshot read it). Empty `groups`:
/// they counted only toward the approval count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    pub login: String,
    pub groups: BTreeMap<String, String>,
}

/// What one requirement needed: the approval count it set (null when it sets none) and the
/// count per group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementNeeds {
    pub approvals: Option<u32>,
    pub groups: BTreeMap<String, u32>,
}

/// One requirement of the verdict, as evidence: why it applied, what it needed, whether it
/// was met and who made it so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementRecord {
    /// As the JSON verdict's `source` (docs/policy.md); kept as JSON so a record stays
    /// readable when a later version adds a kind of source.
    pub source: Value,
    /// The policy file the requirement came from, when an organisation's floor governed the
    /// PR too (`acme/.github:.github/review-policy.toml`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub reason: String,
    pub satisfied: bool,
    pub needs: RequirementNeeds,
    pub approvers: Vec<Approver>,
}

/// A reviewer whose approval did not count (or whose change request did not block), and why:
/// `author`, `bot`, `no write access`, `contributor`, `pusher` or `stale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoredReviewer {
    pub login: String,
    pub state: ReviewState,
    pub reason: String,
}

/// Another open PR with the same head commit, judged for the same check run: the check passes
/// only if every one of them does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherPr {
    pub pr: u64,
    pub base: String,
    pub conclusion: Conclusion,
    pub decision_id: String,
}

/// The organisation's floor a decision was also reached under: the policy file at the same
/// path on the default branch of the organisation's policy repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgPolicyRecord {
    /// How reports name it: `acme/.github:.github/review-policy.toml`.
    pub file: String,
    /// Its git blob SHA (40 hex).
    pub blob_sha: String,
    /// Its text; null when it could not be read as text.
    pub text: Option<String>,
}

/// What reviewgate decided for one check-run write, with everything needed to decide it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    pub kind: DecisionKind,
    pub id: String,
    /// `owner/repo`.
    pub repository: String,
    /// When the record was written (RFC 3339 UTC, milliseconds); retention goes by it.
    pub recorded_at: String,
    pub prev_hash: String,
    pub hash: String,
    /// Null for a merge group.
    pub pr: Option<u64>,
    /// The base branch; null when it was not known.
    pub base: Option<String>,
    pub head_sha: String,
    pub policy_path: String,
    /// The git blob SHA of the policy file at the base (40 hex); null when no policy was read.
    pub policy_blob_sha: Option<String>,
    /// The policy text itself (stored once per blob SHA, shown inline).
    pub policy: Option<String>,
    pub evaluated_at: String,
    pub conclusion: Conclusion,
    /// The check run's title.
    pub title: String,
    pub requirements: Vec<RequirementRecord>,
    pub ignored: Vec<IgnoredReviewer>,
    /// The PR snapshot exactly as `reviewgate evaluate --pr` reads it; null when no facts
    /// were read.
    pub snapshot: Option<Snapshot>,
    pub other_prs: Vec<OtherPr>,
    /// The PR's `updated_at` (GitHub's) when it was read for this decision, when it could be
    /// trusted to the second: the reconciliation sweep compares it to tell a run that no
    /// longer reflects its PR. Absent for merge groups and for facts read in the same second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_updated_at: Option<String>,
    /// The organisation's floor, when one governed the PR (with or without a policy of the
    /// repository's own); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_policy: Option<OrgPolicyRecord>,
}

/// A PR merged into a branch with a policy, and whether the gate had passed when it merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRecord {
    pub kind: MergeKind,
    pub id: String,
    pub repository: String,
    pub recorded_at: String,
    pub prev_hash: String,
    pub hash: String,
    pub pr: u64,
    pub base: String,
    pub head_sha: String,
    pub merge_sha: String,
    /// Null only when GitHub did not say who merged.
    pub merged_by: Option<String>,
    /// GitHub's time of the merge, normalised to UTC.
    pub merged_at: String,
    pub author: String,
    /// The latest decision for this head and base written before the merge was heard of.
    pub decision_id: Option<String>,
    /// That decision passed, and was reached (to the second) no later than the merge.
    pub gate_passed: bool,
    pub policy_blob_sha: Option<String>,
    /// The decision's approvers across its requirements, merged per login, so this record
    /// stands on its own after the decision is pruned.
    pub approvers: Vec<Approver>,
    /// The PR's commit SHAs, as known.
    pub commits: Vec<String>,
}

/// A push to a branch with a policy whose commits belong to no merged PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRecord {
    pub kind: PushKind,
    pub id: String,
    pub repository: String,
    pub recorded_at: String,
    pub prev_hash: String,
    pub hash: String,
    pub branch: String,
    pub pusher: String,
    /// The branch's head after the push (all zeros for a deletion, as GitHub sends it).
    pub after: String,
    pub pushed_at: String,
    /// Empty for a branch deletion.
    pub commits: Vec<String>,
    pub deleted: bool,
}

/// Left in a chain where retention removed its oldest records, so the rest still verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRecord {
    pub kind: CheckpointKind,
    pub id: String,
    pub repository: String,
    pub recorded_at: String,
    pub prev_hash: String,
    pub hash: String,
    /// The `hash` of the last record removed: the `prev_hash` of the oldest one kept.
    pub pruned_through: String,
    /// How many records this pruning removed.
    pub pruned: u64,
    /// The oldest record kept.
    pub oldest_kept: Option<String>,
}

/// Any record of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Record {
    Decision(Box<DecisionRecord>),
    Merge(MergeRecord),
    Push(PushRecord),
    Checkpoint(CheckpointRecord),
}

/// The record types, by their `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Decision,
    Merge,
    Push,
    Checkpoint,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Decision => "decision",
            Kind::Merge => "merge",
            Kind::Push => "push",
            Kind::Checkpoint => "checkpoint",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Decision, Kind::Merge, Kind::Push, Kind::Checkpoint]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    /// The prefix of this kind's record ids.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::Decision => "d-",
            Kind::Merge => "m-",
            Kind::Push => "p-",
            Kind::Checkpoint => "c-",
        }
    }
}

/// Applies `$body` to the record inside whichever variant `$record` is.
macro_rules! each {
    ($record:expr, $r:ident => $body:expr) => {
        match $record {
            Record::Decision($r) => $body,
            Record::Merge($r) => $body,
            Record::Push($r) => $body,
            Record::Checkpoint($r) => $body,
        }
    };
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Decision(_) => Kind::Decision,
            Record::Merge(_) => Kind::Merge,
            Record::Push(_) => Kind::Push,
            Record::Checkpoint(_) => Kind::Checkpoint,
        }
    }

    pub fn id(&self) -> &str {
        each!(self, r => &r.id)
    }

    pub fn repository(&self) -> &str {
        each!(self, r => &r.repository)
    }

    pub fn recorded_at(&self) -> &str {
        each!(self, r => &r.recorded_at)
    }

    pub fn prev_hash(&self) -> &str {
        each!(self, r => &r.prev_hash)
    }

    pub fn hash(&self) -> &str {
        each!(self, r => &r.hash)
    }

    /// The decision inside, if this is one (for [`super::summary_line`] after an append).
    pub fn as_decision(&self) -> Option<&DecisionRecord> {
        match self {
            Record::Decision(d) => Some(d),
            _ => None,
        }
    }

    /// Sets what the chain decides: when it was written, the previous record's hash, and its
    /// own hash (which must be computed over the first two; see [`super::chain::seal`]).
    pub(crate) fn set_chain(&mut self, recorded_at: String, prev_hash: String, hash: String) {
        each!(self, r => {
            r.recorded_at = recorded_at;
            r.prev_hash = prev_hash;
            r.hash = hash;
        })
    }

    /// The record as JSON, every field included.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    /// Reads a record of any kind from JSON, refusing unknown fields and unknown kinds.
    pub fn from_value(value: Value) -> Result<Record, serde_json::Error> {
        use serde::de::Error;
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .and_then(Kind::parse);
        Ok(match kind {
            Some(Kind::Decision) => Record::Decision(Box::new(serde_json::from_value(value)?)),
            Some(Kind::Merge) => Record::Merge(serde_json::from_value(value)?),
            Some(Kind::Push) => Record::Push(serde_json::from_value(value)?),
            Some(Kind::Checkpoint) => Record::Checkpoint(serde_json::from_value(value)?),
            None => {
                return Err(serde_json::Error::custom(
                    "`kind` must be one of decision, merge, push, checkpoint",
                ));
            }
        })
    }
}

impl From<DecisionRecord> for Record {
    fn from(r: DecisionRecord) -> Record {
        Record::Decision(Box::new(r))
    }
}

impl From<MergeRecord> for Record {
    fn from(r: MergeRecord) -> Record {
        Record::Merge(r)
    }
}

impl From<PushRecord> for Record {
    fn from(r: PushRecord) -> Record {
        Record::Push(r)
    }
}

impl From<CheckpointRecord> for Record {
    fn from(r: CheckpointRecord) -> Record {
        Record::Checkpoint(r)
    }
}
