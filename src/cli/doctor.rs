//! `reviewgate doctor`: checks a deployment with the same settings as `serve`, one line per
//! check, each failure saying what to fix.
//!
//! The checks follow what a delivery needs, in order: settings that parse (the private key
//! among them), GitHub accepting the App's JWT, GitHub's webhook configuration, a token for
//! each installation and the permissions it granted, the policy on each installed
//! repository's default branch (and each organisation's floor), and the webhook secret. A
//! check that cannot run because an earlier one failed is reported as skipped, so the first
//! FAIL line is the one to fix first.
//!
//! Exit 0 when every check passes (WARN lines included), 1 when one fails, 2 when a setting
//! is missing or invalid (as `serve`).

use std::io::Write;
use std::sync::Arc;

use super::audit::block_on;
use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK};
use crate::app::{WhenNoPolicy, usable_policy};
use crate::github::app_auth::{
    HookConfig, InstallationInfo, InstalledRepo, Proof, hook_config, installations,
    installed_repositories,
};
use crate::github::policy_source::{PolicyCache, PolicyLookup, load_default_branch};
use crate::github::{GitHub, RepoName};
use crate::metrics::Metrics;
use crate::policy::PolicyErrors;
use crate::server::config::{Config, ConfigError, Settings};

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
}

impl Report<'_> {
    fn line(&mut self, status: Status, check: &str, message: &str) {
        let tag = match status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        if status != Status::Warn {
            self.checks += 1;
        }
        if status == Status::Fail {
            self.failed += 1;
        }
        // One line per check whatever GitHub put in a message.
        let message = message.replace(['\n', '\r'], " ");
        let _ = writeln!(self.out, "{tag}  {check}: {message}");
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

    fn summary(&mut self) {
        let line = if self.failed == 0 {
            format!("doctor: all {} checks passed", self.checks)
        } else {
            format!(
                "doctor: {} of {} checks failed; fix the first FAIL line first",
                self.failed, self.checks
            )
        };
        let _ = writeln!(self.out, "{line}");
    }
}

pub(super) fn run(settings: &Settings, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut report = Report {
        out,
        checks: 0,
        failed: 0,
    };
    let config = match Config::from_settings(settings) {
        Ok(config) => config,
        Err(e) => {
            report.fail(check_of(&e), e.to_string());
            report.skip("github", "needs valid settings first");
            report.summary();
            let _ = writeln!(err, "reviewgate: {e}");
            return EXIT_INVALID;
        }
    };
    report.pass(
        "settings",
        format!(
            "valid (GitHub {}, store {}, policy {}, check {:?})",
            config.github_api_url,
            config.database_url_redacted(),
            config.policy_path,
            config.check_name
        ),
    );
    for warning in &config.warnings {
        report.warn("settings", warning);
    }
    report.pass(
        "private key",
        format!("{} holds an RSA private key", config.private_key_setting),
    );
    if let Err(e) = block_on(github_checks(&config, &mut report)) {
        report.fail("github", e);
    }
    webhook_secret(&config, &mut report);
    report.summary();
    if report.failed == 0 {
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

async fn github_checks(config: &Config, report: &mut Report<'_>) {
    let github = match GitHub::new(config.client_settings(0), Arc::new(Metrics::new())) {
        Ok(github) => Arc::new(github),
        Err(e) => {
            report.fail("github", format!("cannot set up the GitHub client: {e}"));
            return;
        }
    };
    if !app_accepted(config, &github, report).await {
        report.skip("webhook", "needs GitHub to accept the App's JWT");
        report.skip("installations", "need GitHub to accept the App's JWT");
        return;
    }
    match hook_config(&github).await {
        Ok(hook) => webhook(&hook, report),
        Err(e) => report.fail(
            "webhook",
            format!("cannot read the App's webhook configuration (GET /app/hook/config): {e}"),
        ),
    }
    let all: Vec<InstallationInfo> = match installations(&github).await {
        Ok(all) => all,
        Err(e) => {
            report.fail(
                "installations",
                format!("cannot list the App's installations (GET /app/installations): {e}"),
            );
            return;
        }
    };
    if all.is_empty() {
        report.fail(
            "installations",
            "the App is installed nowhere: on the App's page, Install App on the organisation (all repositories, or those to gate)",
        );
        return;
    }
    let policies = PolicyCache::default();
    for installation in &all {
        installation_checks(config, &github, &policies, installation, report).await;
    }
}

/// `GET /app` with the App's JWT: GitHub's answer to the App ID and private key together.
async fn app_accepted(config: &Config, github: &GitHub, report: &mut Report<'_>) -> bool {
    match github.prove_credentials().await {
        Proof::Accepted { id, slug } => {
            report.pass(
                "app",
                format!("GitHub accepted the App's JWT (GET /app): {slug}, App ID {id}"),
            );
            true
        }
        Proof::Refused { message } => {
            report.fail(
                "app",
                format!(
                    "GitHub refused the App's JWT (401 {message}): REVIEWGATE_APP_ID {} and the private key in {} are not a pair; check the App ID on the App's settings page, that the key was generated for this App and not deleted there, and that this machine's clock is right",
                    config.app_id, config.private_key_setting
                ),
            );
            false
        }
        Proof::Unknown { error } => {
            report.fail(
                "app",
                format!(
                    "could not ask GitHub at {} (REVIEWGATE_GITHUB_API_URL): {error}; check the URL and that this machine can reach it (proxy, firewall, egress to TCP 443)",
                    config.github_api_url
                ),
            );
            false
        }
    }
}

/// Where GitHub sends deliveries: a URL, JSON bodies, and a secret to sign them with.
fn webhook(hook: &HookConfig, report: &mut Report<'_>) {
    let url = hook.url.as_deref().unwrap_or("").trim();
    if url.is_empty() {
        report.fail(
            "webhook",
            "the App has no webhook URL: set it in the App's settings (General → Webhook URL) to https://YOUR-HOST/webhook, and tick Active",
        );
        return;
    }
    let content_type = hook.content_type.as_deref().unwrap_or("json");
    if content_type != "json" {
        report.fail(
            "webhook",
            format!(
                "GitHub sends deliveries to {url} as {content_type:?}; reviewgate reads JSON: set the App's webhook content type to application/json"
            ),
        );
        return;
    }
    if hook.secret.as_deref().unwrap_or("").is_empty() {
        report.fail(
            "webhook",
            format!(
                "GitHub signs deliveries to {url} with no secret, and reviewgate refuses unsigned ones: set the App's webhook secret to the value of REVIEWGATE_WEBHOOK_SECRET"
            ),
        );
        return;
    }
    let insecure = match &hook.insecure_ssl {
        Some(serde_json::Value::String(s)) => s == "1",
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    };
    if insecure || !url.starts_with("https://") {
        report.warn(
            "webhook",
            format!(
                "GitHub sends deliveries to {url} without checking a certificate: use https:// with SSL verification on"
            ),
        );
    }
    report.pass(
        "webhook",
        format!(
            "GitHub sends deliveries to {url} as JSON, signed with a secret (GitHub cannot show it: that it matches REVIEWGATE_WEBHOOK_SECRET shows as deliveries answered 2xx in Recent Deliveries)"
        ),
    );
}

/// What an installation must grant for the gate to work, and why.
const NEEDED: &[(&str, &str, &str)] = &[
    ("checks", "write", "to write the check run"),
    ("pull_requests", "read", "to read pull requests and reviews"),
    ("contents", "read", "to read the policy file"),
    ("metadata", "read", "granted to every App"),
];

async fn installation_checks(
    config: &Config,
    github: &Arc<GitHub>,
    policies: &PolicyCache,
    installation: &InstallationInfo,
    report: &mut Report<'_>,
) {
    let name = format!(
        "installation {} ({})",
        installation.id, installation.account.login
    );
    if let Some(since) = &installation.suspended_at {
        report.fail(
            &name,
            format!("suspended since {since}: GitHub issues it no tokens; an owner of {} must unsuspend the App (Settings → GitHub Apps)", installation.account.login),
        );
        return;
    }
    let organisation = installation.account.kind == "Organization";
    let mut missing: Vec<String> = NEEDED
        .iter()
        .filter(|(permission, level, _)| !grants(installation, permission, level))
        .map(|(permission, level, why)| format!("{permission}: {level} ({why})"))
        .collect();
    if organisation && !grants(installation, "members", "read") {
        missing.push("members: read (to resolve the teams a policy names)".into());
    }
    if !missing.is_empty() {
        report.fail(
            &name,
            format!(
                "has not granted {}; an owner of {} must accept the App's permissions (Settings → GitHub Apps → Configure)",
                missing.join(", "),
                installation.account.login
            ),
        );
        return;
    }
    let repos: Vec<InstalledRepo> = match installed_repositories(github, installation.id).await {
        Ok(repos) => repos,
        Err(e) => {
            report.fail(
                &name,
                format!("no token, or the token cannot list the installation's repositories: {e}; if the App was uninstalled or its key revoked, reinstall it or generate a new key"),
            );
            return;
        }
    };
    let archived = repos.iter().filter(|r| r.archived).count();
    report.pass(
        &name,
        format!(
            "token issued; {} repositories ({archived} archived, not checked)",
            repos.len()
        ),
    );
    if !grants(installation, "merge_queues", "read") {
        report.warn(
            &name,
            "has not granted merge_queues: read; a merge queue that requires the check waits for a verdict that never comes",
        );
    }
    for repo in repos.iter().filter(|r| !r.archived) {
        policy_check(config, github, policies, installation.id, repo, report).await;
    }
    if organisation {
        floor_check(config, github, policies, installation, &repos, report).await;
    }
}

/// Whether the installation granted `permission` at `level` or above.
fn grants(installation: &InstallationInfo, permission: &str, level: &str) -> bool {
    match installation.permissions.get(permission).map(String::as_str) {
        Some("write") | Some("admin") => true,
        Some("read") => level == "read",
        _ => false,
    }
}

async fn policy_check(
    config: &Config,
    github: &GitHub,
    policies: &PolicyCache,
    installation: u64,
    repo: &InstalledRepo,
    report: &mut Report<'_>,
) {
    let check = format!("policy {}", repo.full_name);
    let Some(name) = RepoName::parse(&repo.full_name) else {
        report.fail(
            &check,
            "GitHub listed a repository name that is not OWNER/REPO",
        );
        return;
    };
    let path = &config.policy_path;
    let branch = if repo.default_branch.is_empty() {
        "its default branch".to_string()
    } else {
        repo.default_branch.clone()
    };
    let origin = format!("{name}:{path}");
    let lookup = load_default_branch(github, policies, installation, &name, path, &origin).await;
    match lookup {
        Ok(PolicyLookup::Found { file, .. }) => {
            // As the App judges it: valid, and naming only teams of the repository's owner.
            match usable_policy(&file.policy, &name, &origin) {
                Ok(policy) => {
                    let warnings = file
                        .text
                        .as_deref()
                        .map(|text| crate::policy::warnings(text, policy).len())
                        .unwrap_or(0);
                    let note = match warnings {
                        0 => String::new(),
                        n => format!(" ({n} warnings: run `reviewgate check` on it)"),
                    };
                    report.pass(&check, format!("{path} on {branch} is valid{note}"));
                }
                Err(errors) => report.fail(
                    &check,
                    format!(
                        "{path} on {branch} is invalid: {}; every pull request into {branch} fails until it is fixed",
                        first_error(&errors)
                    ),
                ),
            }
        }
        Ok(PolicyLookup::Missing) => match config.when_no_policy {
            WhenNoPolicy::Fail => report.fail(
                &check,
                format!("no {path} on {branch}: every pull request into it fails (\"No review policy\") until one is committed; or, for a repository you do not gate, set REVIEWGATE_WHEN_NO_POLICY=skip"),
            ),
            WhenNoPolicy::Skip => report.pass(
                &check,
                format!("no {path} on {branch}; its pull requests get no check (REVIEWGATE_WHEN_NO_POLICY=skip)"),
            ),
        },
        Err(e) => report.fail(&check, format!("cannot read {path} on {branch}: {e}")),
    }
}

/// The organisation's floor, read as the App reads it: from the policy repository's default
/// branch, if the installation can see that repository.
async fn floor_check(
    config: &Config,
    github: &GitHub,
    policies: &PolicyCache,
    installation: &InstallationInfo,
    repos: &[InstalledRepo],
    report: &mut Report<'_>,
) {
    let org = &installation.account.login;
    let check = format!("floor {org}");
    let full = format!("{org}/{}", config.org_policy_repo);
    let visible = repos
        .iter()
        .any(|r| r.full_name.eq_ignore_ascii_case(&full));
    let Some(name) = RepoName::parse(&full).filter(|_| visible) else {
        report.pass(
            &check,
            format!("no organisation floor: {full} is not visible to the App (if it holds a floor policy, install the App on it too)"),
        );
        return;
    };
    let path = &config.policy_path;
    let origin = format!("{full}:{path}");
    match load_default_branch(github, policies, installation.id, &name, path, &origin).await {
        Ok(PolicyLookup::Missing) => report.pass(
            &check,
            format!("no organisation floor ({full} has no {path} on its default branch)"),
        ),
        Ok(PolicyLookup::Found { file, .. }) => match usable_policy(&file.policy, &name, &origin) {
            Ok(_) => report.pass(&check, format!("{origin} is a valid floor")),
            Err(errors) => report.fail(
                &check,
                format!(
                    "the floor is invalid: {}; every pull request in {org} fails until it is fixed",
                    first_error(&errors)
                ),
            ),
        },
        Err(e) => report.fail(&check, format!("cannot read {origin}: {e}")),
    }
}

/// The first diagnostic, `origin:line:column: message`, and how many more there are.
fn first_error(errors: &PolicyErrors) -> String {
    let text = errors.to_string();
    let first = text.lines().next().unwrap_or("");
    match errors.diagnostics.len().saturating_sub(1) {
        0 => first.to_string(),
        more => format!("{first} (and {more} more)"),
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
