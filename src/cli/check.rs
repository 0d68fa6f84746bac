//! `reviewgate check [POLICY] [--policy-path PATH]`: validate the policy, then run its
//! `[[test]]` tables.

use std::io::Write;
use std::path::Path;

use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK, read};
use crate::policy::Policy;
use crate::policy::selftest::run_all;

pub(super) fn run(
    path: &Path,
    policy_path: &str,
    deny_warnings: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let text = match read(path, "policy") {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_INVALID;
        }
    };
    match Policy::parse(&text, &path.display().to_string()) {
        Ok(policy) => {
            let warnings = crate::policy::warnings(&text, &policy);
            for w in &warnings {
                let _ = writeln!(
                    err,
                    "{}:{}:{}: {}",
                    path.display(),
                    w.line,
                    w.column,
                    w.message
                );
            }
            let failures = run_all(&policy, policy_path);
            for f in &failures {
                let _ = writeln!(err, "{}:{}:1: {}", path.display(), f.line, f.message);
            }
            if !failures.is_empty() {
                let n = failures.len();
                let _ = writeln!(
                    err,
                    "{}: {n} of {} {} failed",
                    path.display(),
                    policy.tests.len(),
                    if policy.tests.len() == 1 {
                        "test"
                    } else {
                        "tests"
                    }
                );
                return EXIT_NOT_APPROVED;
            }
            let tests = match policy.tests.len() {
                0 => String::new(),
                1 => "; 1 test passed".to_string(),
                n => format!("; {n} tests passed"),
            };
            if deny_warnings && !warnings.is_empty() {
                let n = warnings.len();
                let _ = writeln!(
                    err,
                    "{}: {n} {} (--deny-warnings)",
                    path.display(),
                    if n == 1 { "warning" } else { "warnings" }
                );
                return EXIT_NOT_APPROVED;
            }
            let _ = writeln!(
                out,
                "{}: valid ({} {}, {} {}, {} path {}){tests}",
                path.display(),
                policy.levels.len(),
                if policy.levels.len() == 1 {
                    "level"
                } else {
                    "levels"
                },
                policy.groups.len(),
                if policy.groups.len() == 1 {
                    "group"
                } else {
                    "groups"
                },
                policy.paths.len(),
                if policy.paths.len() == 1 {
                    "rule"
                } else {
                    "rules"
                },
            );
            EXIT_OK
        }
        Err(errors) => {
            let _ = writeln!(err, "{errors}");
            let n = errors.diagnostics.len();
            let _ = writeln!(
                err,
                "{}: {n} {} found",
                path.display(),
                if n == 1 { "error" } else { "errors" }
            );
            EXIT_INVALID
        }
    }
}
