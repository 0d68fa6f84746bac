//! `reviewgate replay DECISION_ID` / `reviewgate replay --record FILE.json`: decide a recorded
//! decision again with this binary's evaluator and say whether it agrees.
//!
//! Exit 0: the same conclusion and title; 1: different (both shown); 2: the decision cannot
//! be replayed — an unknown id, a record of another kind, a malformed file (named with line
//! and column), a decision written without a verdict, or a store that cannot be read.

use std::io::Write;
use std::path::Path;

use crate::audit::{DecisionRecord, Record, Replay, parse_decision, replay};
use crate::report;
use crate::store::{Store, redact};

use super::audit::{block_on, database_url, store_problem};
use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK, read};

pub(super) fn run(
    id: Option<String>,
    record: Option<&Path>,
    database: Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let decision = match (id, record) {
        (_, Some(file)) => from_file(file),
        (Some(id), None) => from_store(&id, database),
        (None, None) => Err("give a DECISION_ID or --record FILE.json".to_string()),
    };
    let decision = match decision {
        Ok(d) => d,
        Err(line) => {
            let _ = writeln!(err, "reviewgate: {line}");
            return EXIT_INVALID;
        }
    };
    match replay(&decision) {
        Ok(outcome) => show(&decision, &outcome, out),
        Err(e) => {
            let _ = writeln!(err, "reviewgate: {e}");
            EXIT_INVALID
        }
    }
}

fn from_file(file: &Path) -> Result<DecisionRecord, String> {
    let text = read(file, "decision record")?;
    parse_decision(&text, &file.display().to_string()).map_err(|e| e.to_string())
}

fn from_store(id: &str, database: Option<String>) -> Result<DecisionRecord, String> {
    let url = database_url(database);
    let found = block_on(async {
        let store = Store::open_existing(&url).await?;
        store.record(id).await
    })?
    .map_err(|e| store_problem(&url, &e))?;
    match found {
        Some(Record::Decision(d)) => Ok(*d),
        Some(other) => Err(format!(
            "{id} is a {} record, not a decision record; replay takes decision records",
            other.kind().as_str()
        )),
        None => Err(format!(
            "no record {id:?} in store {} (unknown, or pruned by retention)",
            redact(&url)
        )),
    }
}

/// Prints the outcome; the exit code says whether the verdicts agree.
fn show(decision: &DecisionRecord, outcome: &Replay, out: &mut dyn Write) -> u8 {
    let (conclusion, title) = &outcome.recorded;
    let today = outcome.today_conclusion();
    if outcome.same {
        let _ = writeln!(out, "{}: same verdict: {conclusion}: {title}", decision.id);
        return EXIT_OK;
    }
    let _ = writeln!(out, "{}: different verdict", decision.id);
    let _ = writeln!(out, "  recorded: {conclusion}: {title}");
    let _ = writeln!(out, "  today:    {today}: {}", outcome.today.check_title());
    let _ = writeln!(out, "\nToday's verdict in full:\n");
    let _ = write!(out, "{}", report::text(&outcome.today));
    EXIT_NOT_APPROVED
}
