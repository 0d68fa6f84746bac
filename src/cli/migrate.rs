//! `reviewgate migrate`: apply the store's schema migrations and exit.
//!
//! For operators who want the schema in place before rolling out replicas (or who run
//! migrations as a Kubernetes Job); `serve` applies them at start-up as well. It reads only
//! `REVIEWGATE_DATABASE_URL` and the logging settings, so it runs without the App's secrets,
//! and it talks to the store only through the same interface the server uses.

use std::io::Write;

use super::{EXIT_INVALID, EXIT_OK};
use crate::server::config::LogFormat;
use crate::store::{DEFAULT_URL, Store, StoreError, redact};

/// The setting naming the store.
const DATABASE_URL: &str = "REVIEWGATE_DATABASE_URL";
/// Exit code: the store could not be reached or migrated.
const EXIT_UNREACHABLE: u8 = 1;

pub(super) fn run(out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    run_with(|name| std::env::var(name).ok(), out, err)
}

/// [`run`] with the environment read through `get`.
fn run_with(get: impl Fn(&str) -> Option<String>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let log_format = match get("REVIEWGATE_LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("") | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            let _ = writeln!(
                err,
                "reviewgate: REVIEWGATE_LOG_FORMAT: must be text or json, not {other:?}"
            );
            return EXIT_INVALID;
        }
    };
    crate::server::logging::init(log_format, get("REVIEWGATE_LOG").as_deref());
    let url = get(DATABASE_URL)
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "reviewgate: cannot start the async runtime: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let result = runtime.block_on(async {
        let store = Store::connect(&url).await?;
        store.migrate().await
    });
    match result {
        Ok(applied) => {
            let what = match applied {
                0 => "none to apply".to_string(),
                1 => "1 applied".to_string(),
                n => format!("{n} applied"),
            };
            let _ = writeln!(
                out,
                "migrations: {what}, store {} is up to date",
                redact(&url)
            );
            EXIT_OK
        }
        Err(e) => {
            // One line: driver messages may span several.
            let message = e.to_string().replace(['\n', '\r'], " ");
            let _ = writeln!(err, "reviewgate: {DATABASE_URL}: {message}");
            match e {
                StoreError::BadUrl { .. } => EXIT_INVALID,
                _ => EXIT_UNREACHABLE,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_env(vars: &[(&str, &str)]) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(
            |k| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            },
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn malformed_url_exits_2_naming_the_setting_not_the_password() {
        let (code, out, err) = run_env(&[(DATABASE_URL, "mysql://root:hunter2@db/gate")]);
        assert_eq!(code, EXIT_INVALID);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(DATABASE_URL) && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn sqlite_in_a_temp_dir_migrates_then_has_nothing_to_apply() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("s.db").display());
        let (code, out, _) = run_env(&[(DATABASE_URL, &url)]);
        assert_eq!(code, EXIT_OK);
        assert!(out.starts_with("migrations: "), "{out}");
        assert!(
            out.contains(" applied, store sqlite:") && !out.contains("none"),
            "{out}"
        );
        let (code, out, _) = run_env(&[(DATABASE_URL, &url)]);
        assert_eq!(code, EXIT_OK);
        assert!(out.starts_with("migrations: none to apply"), "{out}");
    }
}
