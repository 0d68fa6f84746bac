//! The App's settings, read from the environment.
//!
//! Every problem stops start-up with one line that names the setting; values of secret
//! settings never appear in those lines (nor anywhere else: they are held as
//! [`SecretString`], whose `Debug` prints a placeholder).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::app::WhenNoPolicy;

mod database;
mod key;
mod listen;
pub mod settings;

use settings::default_of;
pub use settings::{SETTINGS, Settings};

pub use database::{DEFAULT_DATABASE_URL, read_database_url, redact_url};
use key::read_private_key;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `reviewgate serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_id: u64,
    /// The App's private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8).
    pub private_key: SecretString,
    /// The setting the key came from, `REVIEWGATE_PRIVATE_KEY_PATH` or `REVIEWGATE_PRIVATE_KEY`,
    /// for messages about it.
    pub private_key_setting: &'static str,
    /// Problems that do not stop start-up, each one line naming its setting; logged as WARN
    /// once logging has started.
    pub warnings: Vec<String>,
    /// Webhook secrets accepted: the current one first, then any previous one still being
    /// rotated out.
    pub webhook_secrets: Vec<SecretString>,
    /// Base URL of GitHub's REST API, without a trailing slash.
    pub github_api_url: String,
    pub listen: SocketAddr,
    /// Where the policy lives on each repository's base branch.
    pub policy_path: String,
    /// The repository of each organisation whose default branch holds the organisation's
    /// floor policy, at `policy_path` (`REVIEWGATE_ORG_POLICY_REPO`, default `.github`).
    pub org_policy_repo: String,
    pub check_name: String,
    pub log_format: LogFormat,
    /// `REVIEWGATE_LOG` when given (else `RUST_LOG`, else the default filter).
    pub log_filter: Option<String>,
    /// Evaluations that may run at once.
    pub workers: usize,
    /// Most distinct PRs waiting; a delivery that would exceed it gets 503.
    pub queue_capacity: usize,
    /// How long events for one PR are gathered before it is evaluated.
    pub debounce: Duration,
    /// Time limit of one request to GitHub.
    pub github_timeout: Duration,
    /// Time limit of one request to GitHub including its retries.
    pub github_retry_deadline: Duration,
    /// Most requests in flight to GitHub per installation from this replica (GitHub's
    /// secondary limit is 100 across all clients; the default 40 leaves room for two replicas).
    pub github_concurrency: usize,
    pub team_cache_ttl: Duration,
    /// How long shutdown waits for running evaluations.
    pub shutdown_grace: Duration,
    /// How often every open PR is re-checked; zero turns the sweep off.
    pub reconcile_interval: Duration,
    /// Largest share of an installation's remaining quota one sweep may spend (0–1).
    pub reconcile_quota_share: f64,
    /// Bytes of GitHub answers kept for conditional requests.
    pub github_cache_bytes: usize,
    /// What a PR into a branch without a policy gets: a failing check, or none.
    pub when_no_policy: WhenNoPolicy,
    /// The store, `sqlite:PATH` or `postgres://…`; may hold a password, so print
    /// [`Config::database_url_redacted`] instead.
    pub database_url: SecretString,
    /// How long a worker's claim on a PR's work lasts unless renewed; always more than
    /// `github_timeout`.
    pub lease: Duration,
    /// How long audit records are kept (`REVIEWGATE_AUDIT_RETENTION_DAYS`).
    pub audit_retention: Duration,
    /// Most open PRs evaluated for a policy change's impact preview
    /// (`REVIEWGATE_PREVIEW_MAX_PRS`; 0: no preview).
    pub preview_max_prs: usize,
}

/// A setting that stops start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

/// A repository name as GitHub allows it: letters, digits, `.`, `-` and `_`, at most 100.
fn org_policy_repo(value: &str) -> Result<String, ConfigError> {
    let name = value.trim().to_string();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.is_empty()
        || name.len() > 100
        || !name.chars().all(allowed)
        || name == "."
        || name == ".."
    {
        return Err(err(
            "REVIEWGATE_ORG_POLICY_REPO",
            format!(
                "must be a repository name such as .github (letters, digits, '.', '-', '_'), not {name:?}"
            ),
        ));
    }
    Ok(name)
}

fn err(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        problem: problem.into(),
    }
}

impl Config {
    /// The GitHub client's settings, keeping up to `cache_bytes` of answers for conditional
    /// requests.
    pub fn client_settings(&self, cache_bytes: usize) -> crate::github::ClientSettings {
        crate::github::ClientSettings {
            api_url: self.github_api_url.clone(),
            app_id: self.app_id,
            private_key_pem: self.private_key.clone(),
            timeout: self.github_timeout,
            retry_deadline: self.github_retry_deadline,
            concurrency_per_installation: self.github_concurrency,
            conditional_cache_bytes: cache_bytes,
        }
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_settings(&Settings::from_env())
    }

    /// Reads the configuration from the settings given to a command (its flags, else the
    /// environment).
    pub fn from_settings(settings: &Settings) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| settings.get(name))
    }

    /// Reads the configuration through `get`, which returns a variable's value if set; a
    /// setting `get` has no value for takes its default from [`SETTINGS`].
    pub fn from_lookup(given: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| given(name).or_else(|| default_of(name).map(str::to_string));
        // Settings with a default always have a value; `""` only if the table lost one,
        // which the tests of every default would catch.
        let value = |name: &str| get(name).unwrap_or_default();
        let app_id = match get("REVIEWGATE_APP_ID") {
            None => {
                return Err(err(
                    "REVIEWGATE_APP_ID",
                    "is not set; give the App's numeric ID from its settings page",
                ));
            }
            Some(v) => match v.trim().parse::<u64>() {
                Ok(id) if id > 0 => id,
                _ => {
                    return Err(err(
                        "REVIEWGATE_APP_ID",
                        format!("must be a positive whole number, not {v:?}"),
                    ));
                }
            },
        };
        let mut warnings = Vec::new();
        let (private_key, private_key_setting) = read_private_key(&get, &mut warnings)?;
        let webhook_secrets = webhook_secrets(&get)?;
        let github_api_url = github_api_url(&value("REVIEWGATE_GITHUB_API_URL"))?;
        let listen = listen::parse(&value("REVIEWGATE_LISTEN"))?;
        let policy_path =
            crate::evaluate::normalize_path(value("REVIEWGATE_POLICY_PATH").trim()).to_string();
        if policy_path.is_empty() || policy_path.ends_with('/') {
            return Err(err(
                "REVIEWGATE_POLICY_PATH",
                "must be a file path in the repository, such as .github/review-policy.toml",
            ));
        }
        let org_policy_repo = org_policy_repo(&value("REVIEWGATE_ORG_POLICY_REPO"))?;
        let check_name = value("REVIEWGATE_CHECK_NAME").trim().to_string();
        // GitHub's limit counts characters, not UTF-8 bytes.
        if check_name.is_empty() || check_name.chars().count() > 100 {
            return Err(err(
                "REVIEWGATE_CHECK_NAME",
                "must be a non-empty name of at most 100 characters",
            ));
        }
        let log_format = match value("REVIEWGATE_LOG_FORMAT").trim() {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(err(
                    "REVIEWGATE_LOG_FORMAT",
                    format!("must be text or json, not {other:?}"),
                ));
            }
        };
        // Its range from SETTINGS. One read as a number but declared without a range is a
        // mistake in this file: refused rather than taking any number.
        let number = |name: &'static str| -> Result<u64, ConfigError> {
            let Some((min, max)) = settings::range_of(name) else {
                return Err(err(name, "has no declared range (a bug in reviewgate)"));
            };
            let v = value(name);
            match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(err(
                    name,
                    format!("must be a whole number from {min} to {max}, not {v:?}"),
                )),
            }
        };
        let reconcile_quota_share = {
            let v = value("REVIEWGATE_RECONCILE_QUOTA_SHARE");
            match v.trim().parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 1.0 => x,
                _ => {
                    return Err(err(
                        "REVIEWGATE_RECONCILE_QUOTA_SHARE",
                        format!("must be a fraction above 0 and at most 1, not {v:?}"),
                    ));
                }
            }
        };
        let when_no_policy = match value("REVIEWGATE_WHEN_NO_POLICY").trim() {
            "" | "fail" => WhenNoPolicy::Fail,
            "skip" => WhenNoPolicy::Skip,
            other => {
                return Err(err(
                    "REVIEWGATE_WHEN_NO_POLICY",
                    format!("must be fail or skip, not {other:?}"),
                ));
            }
        };
        let github_timeout = Duration::from_secs(number("REVIEWGATE_GITHUB_TIMEOUT_SECS")?);
        let lease = database::check_lease(
            number("REVIEWGATE_LEASE_SECS")?,
            given("REVIEWGATE_LEASE_SECS").is_some(),
            github_timeout,
        )?;
        let audit_retention =
            Duration::from_secs(86_400 * number("REVIEWGATE_AUDIT_RETENTION_DAYS")?);
        Ok(Config {
            preview_max_prs: number("REVIEWGATE_PREVIEW_MAX_PRS")? as usize,
            database_url: read_database_url(&get)?,
            lease,
            audit_retention,
            when_no_policy,
            app_id,
            private_key,
            private_key_setting,
            warnings,
            webhook_secrets,
            github_api_url,
            listen,
            policy_path,
            org_policy_repo,
            check_name,
            log_format,
            log_filter: given("REVIEWGATE_LOG"),
            workers: number("REVIEWGATE_WORKERS")? as usize,
            queue_capacity: number("REVIEWGATE_QUEUE_CAPACITY")? as usize,
            debounce: Duration::from_millis(number("REVIEWGATE_DEBOUNCE_MS")?),
            github_timeout,
            github_retry_deadline: Duration::from_secs(number(
                "REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS",
            )?),
            github_concurrency: number("REVIEWGATE_GITHUB_CONCURRENCY")? as usize,
            team_cache_ttl: Duration::from_secs(number("REVIEWGATE_TEAM_CACHE_TTL_SECS")?),
            shutdown_grace: Duration::from_secs(number("REVIEWGATE_SHUTDOWN_GRACE_SECS")?),
            reconcile_interval: parse_interval(&value("REVIEWGATE_RECONCILE_INTERVAL"))?,
            reconcile_quota_share,
            github_cache_bytes: number("REVIEWGATE_GITHUB_CACHE_MB")? as usize * 1024 * 1024,
        })
    }
}

/// `REVIEWGATE_WEBHOOK_SECRET`, then `REVIEWGATE_WEBHOOK_SECRET_PREVIOUS` if it is not blank.
fn webhook_secrets(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<SecretString>, ConfigError> {
    let mut secrets = Vec::new();
    match get("REVIEWGATE_WEBHOOK_SECRET") {
        None => {
            return Err(err(
                "REVIEWGATE_WEBHOOK_SECRET",
                "is not set; give the App's webhook secret",
            ));
        }
        Some(s) if s.trim().is_empty() => {
            return Err(err(
                "REVIEWGATE_WEBHOOK_SECRET",
                "is empty or only whitespace; such a secret would accept forged deliveries",
            ));
        }
        Some(s) => secrets.push(SecretString::from(s)),
    }
    if let Some(previous) = get("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS") {
        // Unset in effect: a blank secret would let anyone sign deliveries.
        if !previous.trim().is_empty() {
            secrets.push(SecretString::from(previous));
        }
    }
    Ok(secrets)
}

/// `REVIEWGATE_GITHUB_API_URL`, without a trailing slash.
fn github_api_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim().trim_end_matches('/').to_string();
    let uri = trimmed.parse::<http::Uri>().ok();
    if uri
        .as_ref()
        .and_then(|u| u.authority())
        .is_some_and(|a| a.as_str().contains('@'))
    {
        // The App authenticates with its JWT; credentials in the URL would only be logged.
        return Err(err(
            "REVIEWGATE_GITHUB_API_URL",
            "must not carry a user or password (user:password@); the App authenticates with its own key",
        ));
    }
    let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
        && uri.is_some_and(|u| u.host().is_some());
    if !valid {
        return Err(err(
            "REVIEWGATE_GITHUB_API_URL",
            format!(
                "must be an http(s) URL such as https://api.github.com or https://github.example.com/api/v3, not {url:?}"
            ),
        ));
    }
    Ok(trimmed)
}

/// `REVIEWGATE_RECONCILE_INTERVAL`: seconds (`600`), or with a unit (`90s`, `10m`, `1h`);
/// `0` turns the periodic sweep off.
fn parse_interval(v: &str) -> Result<Duration, ConfigError> {
    let t = v.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if scale > 0 && n.checked_mul(scale).is_some_and(|s| s <= 7 * 86_400) => {
            Ok(Duration::from_secs(n * scale))
        }
        _ => Err(err(
            "REVIEWGATE_RECONCILE_INTERVAL",
            format!("must be a duration such as 600, 90s, 10m or 1h (at most a week), not {v:?}"),
        )),
    }
}

#[cfg(test)]
mod tests;
