//! Audit evidence: a tamper-evident record of every decision, merge and unreviewed push.
//!
//! An auditor asks, for every change that reached a protected branch: who wrote it, who
//! approved it and why each approver qualified, under which version of the policy, and
//! whether the gate had passed when it merged. The records here answer that; they are plain
//! data built from what the App already knows ([`build`]), linked per repository into a hash
//! chain ([`chain`]) so that an edit, a removal or an insertion shows, exported as rows an
//! auditor opens ([`export`]), and replayable with today's evaluator ([`replay`]).
//!
//! This module is pure: no I/O and no SQL (the store keeps the records; see
//! `Store::append_record`). It reads the clock and the random number generator only to make
//! record ids.

pub mod approvers;
pub mod build;
pub mod chain;
pub mod export;
pub mod record;
pub mod replay;
pub mod time;

pub use approvers::{approvers, merge_approvers, qualifying_member};
pub use build::{DecisionContext, FloorSource, Judged, MergeFacts, PolicySource, PushFacts};
pub use chain::{ChainBreak, ChainVerifier, Fault, ZERO_HASH, record_hash, seal, verify_chain};
pub use export::{COLUMNS, CsvWriter, ExportRow, approvers_cell, write_json_line};
pub use record::{
    Approver, CheckpointRecord, Conclusion, DecisionRecord, IgnoredReviewer, Kind, MergeRecord,
    OrgPolicyRecord, OtherPr, PushRecord, Record, RequirementNeeds, RequirementRecord,
};
pub use replay::{NotReplayable, RecordFileError, Replay, parse_decision, replay};

/// How long records are kept by default: 400 days, above PCI DSS's twelve months of audit
/// trail, with room for an audit that starts a little late.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// A record that cannot be built or stored.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A timestamp that is not RFC 3339.
    #[error("{field} {value:?} is not an RFC 3339 timestamp")]
    Time { field: &'static str, value: String },

    /// A record breaking a rule every stored record keeps.
    #[error("record {id}: {problem}")]
    Invalid { id: String, problem: String },

    /// A record that serde_json cannot encode (cannot happen for the types here).
    #[error("record {id}: cannot encode as JSON: {source}")]
    Encode {
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A fresh record id: the kind's prefix (`d-`, `m-`, `p-`, `c-`) and a ULID, 26 characters
/// of Crockford base32 (digits and upper-case letters without I, L, O, U).
///
/// A ULID, because it is time-ordered (ids sort roughly by creation, which helps an auditor
/// reading a list) and carries 80 random bits from a cryptographically seeded generator, so
/// replicas minting ids at the same millisecond do not collide; and its alphabet needs no
/// quoting in a check run's `external_id`, a CSV cell, a URL or a shell command line.
pub fn new_id(kind: Kind) -> String {
    format!("{}{}", kind.id_prefix(), ulid::Ulid::generate())
}

/// Whether `id` has the shape of a record id: safe to pass on a command line or to store.
pub fn is_valid_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks the rules every stored record keeps, so that nothing malformed enters a chain:
/// a safe id with its kind's prefix, an `owner/repo` repository, and for a decision a 40-hex
/// policy blob SHA given exactly when the policy text is.
pub fn check_record(record: &Record) -> Result<(), AuditError> {
    let id = record.id();
    let invalid = |problem: String| AuditError::Invalid {
        id: id.to_string(),
        problem,
    };
    if !is_valid_id(id) || !id.starts_with(record.kind().id_prefix()) {
        return Err(invalid(format!(
            "a {} record's id must be `{}` and up to 62 letters, digits, `-` or `_`",
            record.kind().as_str(),
            record.kind().id_prefix()
        )));
    }
    let repository = record.repository();
    let valid_repo = repository
        .split_once('/')
        .is_some_and(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'))
        && !repository.chars().any(char::is_whitespace);
    if !valid_repo {
        return Err(invalid(format!(
            "repository {repository:?} is not `owner/repo`"
        )));
    }
    if let Record::Decision(d) = record {
        match (&d.policy_blob_sha, &d.policy) {
            (Some(sha), Some(_)) if is_blob_sha(sha) => {}
            (Some(sha), Some(_)) => {
                return Err(invalid(format!(
                    "policy_blob_sha {sha:?} is not 40 lower-case hex digits"
                )));
            }
            (None, None) => {}
            (Some(_), None) => return Err(invalid("a policy blob SHA without its text".into())),
            (None, Some(_)) => return Err(invalid("a policy text without its blob SHA".into())),
        }
        if let Some(org) = &d.org_policy
            && !is_blob_sha(&org.blob_sha)
        {
            return Err(invalid(format!(
                "org_policy.blob_sha {:?} is not 40 lower-case hex digits",
                org.blob_sha
            )));
        }
    }
    Ok(())
}

/// 40 lower-case hex digits: a git blob SHA-1 as GitHub's contents API gives it.
pub fn is_blob_sha(sha: &str) -> bool {
    sha.len() == 40 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The line a check run's summary ends with, tying the check to its evidence:
/// `Decision record <id> (sha256 <first 12 hex of its hash>) under policy <path>@<blob SHA>`
/// (`under no policy` when none was read). Call it with the record as stored, once its hash
/// is known.
pub fn summary_line(record: &DecisionRecord) -> String {
    let short: String = record.hash.chars().take(12).collect();
    let org = record.org_policy.as_ref();
    match (&record.policy_blob_sha, org) {
        (Some(sha), None) => format!(
            "Decision record {} (sha256 {short}) under policy {}@{sha}",
            record.id, record.policy_path
        ),
        (Some(sha), Some(org)) => format!(
            "Decision record {} (sha256 {short}) under policy {}@{sha} and organisation policy {}@{}",
            record.id, record.policy_path, org.file, org.blob_sha
        ),
        (None, Some(org)) => format!(
            "Decision record {} (sha256 {short}) under organisation policy {}@{}",
            record.id, org.file, org.blob_sha
        ),
        (None, None) => format!(
            "Decision record {} (sha256 {short}) under no policy (none read from {})",
            record.id, record.policy_path
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_ulids_safe_everywhere() {
        let a = new_id(Kind::Decision);
        let b = new_id(Kind::Decision);
        assert_ne!(a, b);
        assert!(a.starts_with("d-") && a.len() == 28, "{a}");
        assert!(is_valid_id(&a));
        assert!(!is_valid_id("d-x y") && !is_valid_id("d-;rm") && !is_valid_id(""));
    }

    #[test]
    fn blob_shas_are_forty_lower_hex() {
        assert!(is_blob_sha(&"a".repeat(40)));
        assert!(!is_blob_sha(&"A".repeat(40)) && !is_blob_sha("abc"));
    }
}

#[cfg(test)]
mod record_tests;
