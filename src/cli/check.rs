//! `reviewgate check [POLICY]`.

use std::io::Write;
use std::path::Path;

use super::{EXIT_INVALID, EXIT_OK, read};
use crate::policy::Policy;

pub(super) fn run(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let text = match read(path, "policy") {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_INVALID;
        }
    };
    match Policy::parse(&text, &path.display().to_string()) {
        Ok(policy) => {
            let _ = writeln!(
                out,
                "{}: valid ({} {}, {} {}, {} path {})",
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
