//! `reviewgate evaluate --policy POLICY --pr SNAPSHOT.json`.

use std::io::Write;
use std::path::Path;

use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK, Format, read};
use crate::evaluate::evaluate;
use crate::policy::Policy;
use crate::report;
use crate::snapshot::Snapshot;

pub(super) fn run(
    policy_file: &Path,
    pr_file: &Path,
    policy_path: &str,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // Read both inputs before reporting, so one run shows every input problem.
    let policy = read(policy_file, "policy").and_then(|t| {
        Policy::parse(&t, &policy_file.display().to_string()).map_err(|e| e.to_string())
    });
    let snapshot = read(pr_file, "PR snapshot").and_then(|t| {
        Snapshot::from_json(&t, &pr_file.display().to_string()).map_err(|e| e.to_string())
    });
    let (policy, snapshot) = match (policy, snapshot) {
        (Ok(p), Ok(s)) => (p, s),
        (p, s) => {
            for e in [p.err(), s.err()].into_iter().flatten() {
                let _ = writeln!(err, "{e}");
            }
            return EXIT_INVALID;
        }
    };
    let verdict = evaluate(&policy, &snapshot, policy_path);
    let written = match format {
        Format::Text => write!(out, "{}", report::text(&verdict)),
        Format::Markdown => {
            let output = crate::app::check_output::verdict(&verdict, None);
            write!(out, "{}\n\n{}", output.title, output.summary)
        }
        Format::Json => match serde_json::to_string_pretty(&verdict) {
            Ok(json) => writeln!(out, "{json}"),
            Err(e) => {
                let _ = writeln!(err, "cannot encode the verdict as JSON: {e}");
                return EXIT_INVALID;
            }
        },
    };
    if let Err(e) = written {
        let _ = writeln!(err, "cannot write the verdict: {e}");
        return EXIT_INVALID;
    }
    if verdict.approved {
        EXIT_OK
    } else {
        EXIT_NOT_APPROVED
    }
}
