//! `reviewgate doctor`: checks a deployment with the same settings as `serve`, one line per
//! check, each failure saying what to fix.
//!
//! The checks follow what a delivery needs, in order: settings that parse (the private key
//! among them), the store, GitHub accepting the App's JWT, GitHub's webhook configuration, a
//! token for each installation with the permissions and events it granted, each
//! organisation's floor, the policy on each installed repository's default branch (as the App
//! judges it, the teams it names included), and the webhook secret. A check that cannot run
//! because an earlier one failed is reported as skipped, so the first FAIL line is the one to
//! fix first. It only reads: nothing is written to GitHub or to the store.
//!
//! Exit 0 when every check passes (WARN lines pass, with something worth a look), 1 when one
//! fails or could not run, 2 when a setting is missing or invalid (as `serve`).

mod github;

use std::io::Write;
use std::path::Path;

use secrecy::ExposeSecret;

use super::audit::{block_on, store_problem};
use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK};
use crate::server::config::{Config, ConfigError, Settings};
use crate::store::Store;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// Writes each check's line as it is decided, and counts them.
struct Report<'a> {
    out: &'a mut dyn Write,
    checks: usize,
    failed: usize,
    skipped: usize,
}

impl Report<'_> {
    fn line(&mut self, status: Status, check: &str, message: &str) {
        let tag = match status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        self.checks += 1;
        match status {
            Status::Fail => self.failed += 1,
            Status::Skip => self.skipped += 1,
            Status::Pass | Status::Warn => {}
        }
        // One line per check, and nothing a repository's policy file or GitHub's answer could
        // do to the operator's terminal.
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        };
        let _ = writeln!(self.out, "{tag}  {}: {}", clean(check), clean(message));
    }

    fn pass(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Status::Pass, check, message.as_ref());
    }

    fn warn(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Status::Warn, check, message.as_ref());
    }

    fn fail(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Status::Fail, check, message.as_ref());
    }

    fn skip(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Status::Skip, check, message.as_ref());
    }

    /// PASS, or WARN with the caveats appended when there are any.
    fn pass_unless(&mut self, check: &str, message: String, caveats: &[String]) {
        if caveats.is_empty() {
            self.pass(check, message);
        } else {
            self.warn(check, format!("{message}; but {}", caveats.join("; ")));
        }
    }

    /// Whether every check ran and passed: a skipped check proved nothing.
    fn all_passed(&self) -> bool {
        self.failed == 0 && self.skipped == 0
    }

    fn summary(&mut self) {
        let line = if self.failed > 0 {
            format!(
                "doctor: {} of {} checks failed; fix the first FAIL line first",
                self.failed, self.checks
            )
        } else if self.skipped > 0 {
            format!(
                "doctor: {} of {} checks skipped; run doctor again when they can run",
                self.skipped, self.checks
            )
        } else {
            format!("doctor: all {} checks passed", self.checks)
        };
        let _ = writeln!(self.out, "{line}");
    }
}

pub(super) fn run(settings: &Settings, out: &mut dyn Write, _err: &mut dyn Write) -> u8 {
    let mut report = Report {
        out,
        checks: 0,
        failed: 0,
        skipped: 0,
    };
    let config = match Config::from_settings(settings) {
        Ok(config) => config,
        Err(e) => {
            report.fail(check_of(&e), e.to_string());
            report.skip("github", "needs valid settings first");
            report.summary();
            return EXIT_INVALID;
        }
    };
    report.pass_unless(
        "settings",
        format!(
            "valid (GitHub {}, policy {}, check {:?})",
            config.github_api_url, config.policy_path, config.check_name
        ),
        &config.warnings,
    );
    report.pass(
        "private key",
        format!("{} holds an RSA private key", config.private_key_setting),
    );
    let checked = block_on(async {
        store_check(&config, &mut report).await;
        github::checks(&config, &mut report).await;
    });
    if let Err(e) = checked {
        report.fail("github", e);
    }
    webhook_secret(&config, &mut report);
    report.summary();
    if report.all_passed() {
        EXIT_OK
    } else {
        EXIT_NOT_APPROVED
    }
}

/// The check a settings error belongs to.
fn check_of(e: &ConfigError) -> &'static str {
    match e.setting {
        "REVIEWGATE_PRIVATE_KEY" | "REVIEWGATE_PRIVATE_KEY_PATH" => "private key",
        "REVIEWGATE_WEBHOOK_SECRET" | "REVIEWGATE_WEBHOOK_SECRET_PREVIOUS" => "webhook secret",
        _ => "settings",
    }
}

/// The store `serve` would use: reachable, and with its schema (or about to be given one).
async fn store_check(config: &Config, report: &mut Report<'_>) {
    let url = config.database_url.expose_secret();
    let shown = config.database_url_redacted();
    if let Some(path) = Store::sqlite_file(url) {
        if !path.exists() {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if dir.is_dir() {
                report.pass(
                    "store",
                    format!(
                        "{shown} does not exist yet; serve creates it in {}",
                        dir.display()
                    ),
                );
            } else {
                report.fail(
                    "store",
                    format!(
                        "{shown}: the directory {} does not exist; create it, or mount the volume there",
                        dir.display()
                    ),
                );
            }
            return;
        }
    }
    let store = match Store::open_existing(url).await {
        Ok(store) => store,
        Err(e) => {
            report.fail("store", store_problem(url, &e));
            return;
        }
    };
    match store.pending().await {
        Ok(n) => report.pass(
            "store",
            format!("{shown} answers; {n} pull requests with work pending"),
        ),
        Err(e) if e.is_missing_table() => report.pass(
            "store",
            format!(
                "{shown} answers; its schema is made when serve starts (or by reviewgate migrate)"
            ),
        ),
        Err(e) => report.fail("store", store_problem(url, &e)),
    }
}

fn webhook_secret(config: &Config, report: &mut Report<'_>) {
    let rotating = if config.webhook_secrets.len() > 1 {
        ", and REVIEWGATE_WEBHOOK_SECRET_PREVIOUS while rotating"
    } else {
        ""
    };
    report.pass(
        "webhook secret",
        format!("REVIEWGATE_WEBHOOK_SECRET is set{rotating}"),
    );
}
