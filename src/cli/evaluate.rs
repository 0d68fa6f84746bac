//! `reviewgate evaluate --policy POLICY --pr SNAPSHOT.json`.

use std::io::Write;
use std::path::Path;

use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK, Format, read};
use crate::evaluate::{Floor, evaluate_with_floor};
use crate::policy::Policy;
use crate::report;
use crate::snapshot::Snapshot;

/// What `evaluate` reads.
pub(super) struct Inputs<'a> {
    pub policy_file: &'a Path,
    pub org_policy_file: Option<&'a Path>,
    pub pr_file: &'a Path,
    pub policy_path: &'a str,
}

pub(super) fn run(
    inputs: Inputs<'_>,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let load = |file: &Path| {
        read(file, "policy")
            .and_then(|t| Policy::parse(&t, &file.display().to_string()).map_err(|e| e.to_string()))
    };
    // Read every input before reporting, so one run shows every input problem.
    let policy = load(inputs.policy_file);
    let org = inputs.org_policy_file.map(load).transpose();
    let snapshot = read(inputs.pr_file, "PR snapshot").and_then(|t| {
        Snapshot::from_json(&t, &inputs.pr_file.display().to_string()).map_err(|e| e.to_string())
    });
    let (policy, org, snapshot) = match (policy, org, snapshot) {
        (Ok(p), Ok(o), Ok(s)) => (p, o, s),
        (p, o, s) => {
            for e in [p.err(), o.err(), s.err()].into_iter().flatten() {
                let _ = writeln!(err, "{e}");
            }
            return EXIT_INVALID;
        }
    };
    let own = inputs.policy_file.display().to_string();
    let floor_origin = inputs
        .org_policy_file
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    let floor = org.as_ref().map(|policy| Floor {
        policy,
        origin: &floor_origin,
    });
    let Some(verdict) =
        evaluate_with_floor(Some((&policy, &own)), floor, &snapshot, inputs.policy_path)
    else {
        return EXIT_INVALID;
    };
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
