//! Replay: decide a recorded decision again with today's evaluator, from the record alone.
//!
//! A decision record holds the policy text and the PR snapshot it was reached from, so
//! whether today's binary reaches the same verdict needs neither GitHub nor the store: an
//! auditor can replay an exported record on their own machine. Replay does not check hashes
//! (`audit verify` does); it answers "does this evidence support this conclusion?".

use serde_json::Value;

use crate::evaluate::{Floor, Verdict, evaluate_with_floor, repository_origin};
use crate::policy::Policy;

use super::record::{Conclusion, DecisionRecord, Kind};

/// The recorded decision beside today's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Today's conclusion and title equal the recorded ones.
    pub same: bool,
    /// The recorded conclusion and title.
    pub recorded: (Conclusion, String),
    pub today: Verdict,
}

impl Replay {
    pub fn today_conclusion(&self) -> Conclusion {
        Conclusion::of_verdict(&self.today)
    }
}

/// Why a decision cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReplayable {
    /// Written without a verdict: no policy or no snapshot was read (a GitHub error, a base
    /// without a policy).
    #[error(
        "decision {id} is not replayable: it records no {missing} (the check was written without a verdict: {title})"
    )]
    Missing {
        id: String,
        missing: &'static str,
        title: String,
    },
    /// The recorded policy does not parse (the check said so at the time).
    #[error("decision {id} is not replayable: its policy is invalid:\n{errors}")]
    InvalidPolicy { id: String, errors: String },
}

/// Evaluates the record's snapshot against its policy text (and its organisation's floor,
/// when it names one) and compares conclusion
/// (`success` exactly when approved) and title with what was recorded.
pub fn replay(record: &DecisionRecord) -> Result<Replay, NotReplayable> {
    let missing = |missing| NotReplayable::Missing {
        id: record.id.clone(),
        missing,
        title: record.title.clone(),
    };
    let snapshot = record
        .snapshot
        .as_ref()
        .ok_or_else(|| missing("snapshot"))?;
    let invalid = |e: crate::policy::PolicyErrors| NotReplayable::InvalidPolicy {
        id: record.id.clone(),
        errors: e.to_string(),
    };
    // The organisation's floor, when one governed the PR: the record names it by its file.
    let floor = match &record.org_policy {
        Some(org) => {
            let text = org
                .text
                .as_deref()
                .ok_or_else(|| missing("organisation policy"))?;
            let origin = format!("{}@{}", org.file, org.blob_sha);
            Some((
                Policy::parse(text, &origin).map_err(invalid)?,
                org.file.as_str(),
            ))
        }
        None => None,
    };
    let own = match (&record.policy, &floor) {
        (Some(text), _) => {
            let origin = format!(
                "{}@{}",
                record.policy_path,
                record.policy_blob_sha.as_deref().unwrap_or("?")
            );
            Some(Policy::parse(text, &origin).map_err(invalid)?)
        }
        // A repository without a policy of its own, governed by the floor alone.
        (None, Some(_)) => None,
        (None, None) => return Err(missing("policy")),
    };
    // The App names the repository's own file `owner/repo:path` beside a floor.
    let own_origin = repository_origin(
        &record.repository,
        &record.policy_path,
        floor.as_ref().map(|(_, file)| *file),
    );
    let today = evaluate_with_floor(
        own.as_ref().map(|p| (p, own_origin.as_str())),
        floor
            .as_ref()
            .map(|(policy, origin)| Floor { policy, origin }),
        snapshot,
        &record.policy_path,
    )
    .ok_or_else(|| missing("policy"))?;
    let same =
        Conclusion::of_verdict(&today) == record.conclusion && today.check_title() == record.title;
    Ok(Replay {
        same,
        recorded: (record.conclusion, record.title.clone()),
        today,
    })
}

/// A file given to `replay --record` that cannot be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordFileError {
    /// Not JSON, or not a well-formed decision record.
    #[error("{origin}:{line}:{column}: {message}")]
    Malformed {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A record of another kind.
    #[error(
        "{origin}: a {kind} record, not a decision record; replay takes decision records (kind \"decision\")"
    )]
    NotADecision { origin: String, kind: String },
}

/// Reads a decision record from JSON text (one object, as `audit export --decisions` writes
/// each line). `origin` names the file in messages. Unknown fields are refused.
pub fn parse_decision(text: &str, origin: &str) -> Result<DecisionRecord, RecordFileError> {
    let malformed = |e: serde_json::Error| RecordFileError::Malformed {
        origin: origin.to_string(),
        line: e.line().max(1),
        column: e.column().max(1),
        message: strip_position(&e.to_string()),
    };
    let value: Value = serde_json::from_str(text).map_err(malformed)?;
    match value.get("kind").and_then(Value::as_str) {
        Some(k) if k == Kind::Decision.as_str() => {}
        Some(k) if Kind::parse(k).is_some() => {
            return Err(RecordFileError::NotADecision {
                origin: origin.to_string(),
                kind: k.to_string(),
            });
        }
        _ => {
            return Err(RecordFileError::Malformed {
                origin: origin.to_string(),
                line: 1,
                column: 1,
                message: "not a reviewgate record: it needs `\"kind\": \"decision\"`".into(),
            });
        }
    }
    // Parsed again from the text, not from the value, so that errors carry their position.
    serde_json::from_str(text).map_err(malformed)
}

/// serde_json appends " at line L column C"; the position is given in front instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_reported_with_its_position() {
        let e = parse_decision("{\n  \"kind\": \"decision\",\n  \"id\": \n}", "r.json")
            .expect_err("malformed");
        assert!(e.to_string().starts_with("r.json:4:1: "), "{e}");
        let e = parse_decision(r#"{"kind": "merge"}"#, "r.json").expect_err("merge");
        assert!(matches!(e, RecordFileError::NotADecision { .. }), "{e}");
        let e = parse_decision("[1]", "r.json").expect_err("not a record");
        assert!(e.to_string().contains("not a reviewgate record"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_position() {
        let e = parse_decision("{\"kind\": \"decision\",\n \"extra\": 1}", "r.json")
            .expect_err("unknown field");
        assert!(e.to_string().starts_with("r.json:2:"), "{e}");
        assert!(e.to_string().contains("unknown field `extra`"), "{e}");
    }
}
