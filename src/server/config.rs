//! The App's settings, read from the environment.
//!
//! Every problem stops start-up with one line that names the setting; values of secret
//! settings never appear in those lines (nor anywhere else: they are held as
//! [`SecretString`], whose `Debug` prints a placeholder).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::app::WhenNoPolicy;
use crate::policy::DEFAULT_POLICY_PATH;

mod database;
mod key;

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
fn org_policy_repo(value: Option<String>) -> Result<String, ConfigError> {
    let name = value.map_or_else(|| ".github".to_string(), |v| v.trim().to_string());
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
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get`, which returns a variable's value if set.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
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
        let mut webhook_secrets = Vec::new();
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
            Some(s) => webhook_secrets.push(SecretString::from(s)),
        }
        if let Some(previous) = get("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS") {
            // Unset in effect: a blank secret would let anyone sign deliveries.
            if !previous.trim().is_empty() {
                webhook_secrets.push(SecretString::from(previous));
            }
        }
        let github_api_url = match get("REVIEWGATE_GITHUB_API_URL") {
            None => "https://api.github.com".to_string(),
            Some(url) => {
                let trimmed = url.trim().trim_end_matches('/').to_string();
                let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
                    && trimmed
                        .parse::<http::Uri>()
                        .is_ok_and(|u| u.host().is_some());
                if !valid {
                    return Err(err(
                        "REVIEWGATE_GITHUB_API_URL",
                        format!(
                            "must be an http(s) URL such as https://api.github.com or https://github.example.com/api/v3, not {url:?}"
                        ),
                    ));
                }
                trimmed
            }
        };
        let listen = match get("REVIEWGATE_LISTEN") {
            None => SocketAddr::from(([0, 0, 0, 0], 8080)),
            Some(v) => v.trim().parse().map_err(|_| {
                err(
                    "REVIEWGATE_LISTEN",
                    format!("must be an address and port such as 0.0.0.0:8080, not {v:?}"),
                )
            })?,
        };
        let policy_path =
            get("REVIEWGATE_POLICY_PATH").unwrap_or_else(|| DEFAULT_POLICY_PATH.to_string());
        let policy_path = crate::evaluate::normalize_path(policy_path.trim()).to_string();
        if policy_path.is_empty() || policy_path.ends_with('/') {
            return Err(err(
                "REVIEWGATE_POLICY_PATH",
                "must be a file path in the repository, such as .github/review-policy.toml",
            ));
        }
        let org_policy_repo = org_policy_repo(get("REVIEWGATE_ORG_POLICY_REPO"))?;
        let check_name = get("REVIEWGATE_CHECK_NAME").unwrap_or_else(|| "reviewgate".to_string());
        let check_name = check_name.trim().to_string();
        // GitHub's limit counts characters, not UTF-8 bytes.
        if check_name.is_empty() || check_name.chars().count() > 100 {
            return Err(err(
                "REVIEWGATE_CHECK_NAME",
                "must be a non-empty name of at most 100 characters",
            ));
        }
        let log_format = match get("REVIEWGATE_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") | Some("") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "REVIEWGATE_LOG_FORMAT",
                    format!("must be text or json, not {other:?}"),
                ));
            }
        };
        let number =
            |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => match v.trim().parse::<u64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(n),
                        _ => Err(err(
                            name,
                            format!("must be a whole number from {min} to {max}, not {v:?}"),
                        )),
                    },
                }
            };
        let reconcile_quota_share = match get("REVIEWGATE_RECONCILE_QUOTA_SHARE") {
            None => 0.25,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 1.0 => x,
                _ => {
                    return Err(err(
                        "REVIEWGATE_RECONCILE_QUOTA_SHARE",
                        format!("must be a fraction above 0 and at most 1, not {v:?}"),
                    ));
                }
            },
        };
        let when_no_policy = match get("REVIEWGATE_WHEN_NO_POLICY").as_deref().map(str::trim) {
            None | Some("") | Some("fail") => WhenNoPolicy::Fail,
            Some("skip") => WhenNoPolicy::Skip,
            Some(other) => {
                return Err(err(
                    "REVIEWGATE_WHEN_NO_POLICY",
                    format!("must be fail or skip, not {other:?}"),
                ));
            }
        };
        let github_timeout =
            Duration::from_secs(number("REVIEWGATE_GITHUB_TIMEOUT_SECS", 10, 1, 300)?);
        let lease = database::check_lease(
            number("REVIEWGATE_LEASE_SECS", 30, 5, 3600)?,
            get("REVIEWGATE_LEASE_SECS").is_some(),
            github_timeout,
        )?;
        let audit_retention = Duration::from_secs(
            86_400
                * number(
                    "REVIEWGATE_AUDIT_RETENTION_DAYS",
                    u64::from(crate::audit::DEFAULT_RETENTION_DAYS),
                    1,
                    36_500,
                )?,
        );
        let preview_max_prs = number("REVIEWGATE_PREVIEW_MAX_PRS", 100, 0, 1000)? as usize;
        Ok(Config {
            preview_max_prs,
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
            workers: number("REVIEWGATE_WORKERS", 32, 1, 1024)? as usize,
            queue_capacity: number("REVIEWGATE_QUEUE_CAPACITY", 10_000, 1, 10_000_000)? as usize,
            debounce: Duration::from_millis(number("REVIEWGATE_DEBOUNCE_MS", 300, 0, 60_000)?),
            github_timeout,
            github_retry_deadline: Duration::from_secs(number(
                "REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS",
                60,
                1,
                3600,
            )?),
            github_concurrency: number("REVIEWGATE_GITHUB_CONCURRENCY", 40, 1, 90)? as usize,
            team_cache_ttl: Duration::from_secs(number(
                "REVIEWGATE_TEAM_CACHE_TTL_SECS",
                300,
                0,
                86_400,
            )?),
            shutdown_grace: Duration::from_secs(number(
                "REVIEWGATE_SHUTDOWN_GRACE_SECS",
                20,
                0,
                3600,
            )?),
            reconcile_interval: parse_interval(get("REVIEWGATE_RECONCILE_INTERVAL"))?,
            reconcile_quota_share,
            github_cache_bytes: number("REVIEWGATE_GITHUB_CACHE_MB", 32, 0, 4096)? as usize
                * 1024
                * 1024,
        })
    }
}

/// `REVIEWGATE_RECONCILE_INTERVAL`: seconds (`600`), or with a unit (`90s`, `10m`, `1h`);
/// `0` turns the periodic sweep off.
fn parse_interval(value: Option<String>) -> Result<Duration, ConfigError> {
    let Some(v) = value else {
        return Ok(Duration::from_secs(600));
    };
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
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = include_str!("../../tests/fixtures/test-app-key.pem");
    const KEY8: &str = include_str!("../../tests/fixtures/test-app-key.pkcs8.pem");

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("REVIEWGATE_APP_ID", "123"),
            ("REVIEWGATE_PRIVATE_KEY", KEY),
            ("REVIEWGATE_WEBHOOK_SECRET", "s3cret-value"),
        ]
    }

    #[test]
    fn defaults() {
        let c = load(&base()).expect("valid");
        assert_eq!(c.app_id, 123);
        assert_eq!(c.github_api_url, "https://api.github.com");
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.policy_path, ".github/review-policy.toml");
        assert_eq!(c.check_name, "reviewgate");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.webhook_secrets.len(), 1);
        assert_eq!(c.reconcile_interval, Duration::from_secs(600));
        assert_eq!(c.when_no_policy, WhenNoPolicy::Fail);
        assert_eq!(c.org_policy_repo, ".github");
    }

    #[test]
    fn keys_in_either_pem_form_and_from_a_file() {
        let mut vars = base();
        vars[1] = ("REVIEWGATE_PRIVATE_KEY", KEY8);
        load(&vars).expect("PKCS#8");
        let flattened = KEY.replace('\n', "\\n");
        vars[1] = ("REVIEWGATE_PRIVATE_KEY", &flattened);
        load(&vars).expect("escaped newlines");
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/test-app-key.pem"
        );
        vars[1] = ("REVIEWGATE_PRIVATE_KEY_PATH", path);
        load(&vars).expect("from file");
    }

    #[test]
    fn each_problem_names_its_setting_and_never_the_secret() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "REVIEWGATE_APP_ID: is not set"),
            (
                vec![("REVIEWGATE_APP_ID", "abc")],
                "REVIEWGATE_APP_ID: must be a positive whole number",
            ),
            (
                vec![("REVIEWGATE_APP_ID", "0")],
                "REVIEWGATE_APP_ID: must be a positive whole number",
            ),
            (
                vec![("REVIEWGATE_APP_ID", "1")],
                "REVIEWGATE_PRIVATE_KEY_PATH: is not set",
            ),
            (
                vec![
                    ("REVIEWGATE_APP_ID", "1"),
                    ("REVIEWGATE_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
                ],
                "REVIEWGATE_PRIVATE_KEY_PATH: cannot read /nonexistent/key.pem",
            ),
            (
                vec![
                    ("REVIEWGATE_APP_ID", "1"),
                    (
                        "REVIEWGATE_PRIVATE_KEY",
                        "-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END RSA PRIVATE KEY-----",
                    ),
                ],
                "REVIEWGATE_PRIVATE_KEY: is not an RSA private key",
            ),
            (
                vec![("REVIEWGATE_APP_ID", "1"), ("REVIEWGATE_PRIVATE_KEY", KEY)],
                "REVIEWGATE_WEBHOOK_SECRET: is not set",
            ),
            (
                vec![
                    ("REVIEWGATE_APP_ID", "1"),
                    ("REVIEWGATE_PRIVATE_KEY", KEY),
                    ("REVIEWGATE_WEBHOOK_SECRET", ""),
                ],
                "REVIEWGATE_WEBHOOK_SECRET: is empty",
            ),
        ];
        for (vars, want) in cases {
            let e = load(&vars).expect_err(want).to_string();
            assert!(e.starts_with(want), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
            assert!(
                !e.contains("TOPSECRET") && !e.contains("MII"),
                "no key material: {e}"
            );
        }
        let more: Vec<(&str, &str, &str)> = vec![
            (
                "REVIEWGATE_GITHUB_API_URL",
                "ftp://x",
                "REVIEWGATE_GITHUB_API_URL: must be an http(s) URL",
            ),
            (
                "REVIEWGATE_LISTEN",
                "8080",
                "REVIEWGATE_LISTEN: must be an address and port",
            ),
            (
                "REVIEWGATE_CHECK_NAME",
                " ",
                "REVIEWGATE_CHECK_NAME: must be a non-empty name",
            ),
            (
                "REVIEWGATE_POLICY_PATH",
                "dir/",
                "REVIEWGATE_POLICY_PATH: must be a file path",
            ),
            (
                "REVIEWGATE_ORG_POLICY_REPO",
                "acme/.github",
                "REVIEWGATE_ORG_POLICY_REPO: must be a repository name such as .github",
            ),
            (
                "REVIEWGATE_LOG_FORMAT",
                "xml",
                "REVIEWGATE_LOG_FORMAT: must be text or json",
            ),
            (
                "REVIEWGATE_WORKERS",
                "0",
                "REVIEWGATE_WORKERS: must be a whole number from 1 to 1024",
            ),
            (
                "REVIEWGATE_GITHUB_CONCURRENCY",
                "500",
                "REVIEWGATE_GITHUB_CONCURRENCY: must be a whole number from 1 to 90",
            ),
            (
                "REVIEWGATE_RECONCILE_INTERVAL",
                "soon",
                "REVIEWGATE_RECONCILE_INTERVAL: must be a duration",
            ),
            (
                "REVIEWGATE_WHEN_NO_POLICY",
                "neutral",
                "REVIEWGATE_WHEN_NO_POLICY: must be fail or skip",
            ),
        ];
        for (name, value, want) in more {
            let mut vars = base();
            vars.push((name, value));
            let e = load(&vars).expect_err(want).to_string();
            assert!(e.starts_with(want), "{e}");
            assert!(!e.contains("s3cret-value"));
        }
    }

    #[test]
    fn a_webhook_secret_of_only_whitespace_is_refused() {
        for blank in [" ", "\t\n", "  \r\n  "] {
            let mut vars = base();
            vars[2] = ("REVIEWGATE_WEBHOOK_SECRET", blank);
            let e = load(&vars).expect_err("blank secret").to_string();
            assert!(e.starts_with("REVIEWGATE_WEBHOOK_SECRET: is empty"), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let mut vars = base();
        vars.push(("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", " \n"));
        let c = load(&vars).expect("a blank previous secret is as good as none");
        assert_eq!(c.webhook_secrets.len(), 1, "and is never accepted");
    }

    #[test]
    fn a_public_key_is_refused_naming_the_setting_used() {
        const PUBLIC: &str = include_str!("../../tests/fixtures/test-app-key.pub.pem");
        // The same key in PKCS#1 form, "BEGIN RSA PUBLIC KEY".
        let pkcs1 = PUBLIC.replace("PUBLIC KEY", "RSA PUBLIC KEY");
        for pem in [PUBLIC.to_string(), pkcs1] {
            let mut vars = base();
            vars[1] = ("REVIEWGATE_PRIVATE_KEY", &pem);
            let e = load(&vars).expect_err("public key").to_string();
            assert!(
                e.starts_with("REVIEWGATE_PRIVATE_KEY: is a public key"),
                "{e}"
            );
            assert!(!e.contains('\n') && !e.contains("MII"), "{e}");
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/test-app-key.pub.pem"
        );
        let mut vars = base();
        vars[1] = ("REVIEWGATE_PRIVATE_KEY_PATH", path);
        let e = load(&vars).expect_err("public key file").to_string();
        assert!(
            e.starts_with(&format!(
                "REVIEWGATE_PRIVATE_KEY_PATH: {path}: is a public key"
            )),
            "{e}"
        );
    }

    #[test]
    fn check_names_are_limited_to_100_characters_not_bytes() {
        let hundred = "é".repeat(100);
        let mut vars = base();
        vars.push(("REVIEWGATE_CHECK_NAME", &hundred));
        assert_eq!(load(&vars).expect("100 characters").check_name, hundred);
        let too_long = "é".repeat(101);
        let mut vars = base();
        vars.push(("REVIEWGATE_CHECK_NAME", &too_long));
        let e = load(&vars).expect_err("101 characters").to_string();
        assert!(
            e.starts_with("REVIEWGATE_CHECK_NAME: must be a non-empty name"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_gives_one_warning_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, KEY).expect("write key");
        let path_str = path.to_str().expect("utf-8 path");
        let load_with_mode = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let mut vars = base();
            vars[1] = ("REVIEWGATE_PRIVATE_KEY_PATH", path_str);
            load(&vars).expect("a readable key is accepted").warnings
        };
        for mode in [0o644, 0o604, 0o666] {
            let warnings = load_with_mode(mode);
            assert_eq!(warnings.len(), 1, "{mode:o}: {warnings:?}");
            let w = &warnings[0];
            assert!(
                w.starts_with(&format!(
                    "REVIEWGATE_PRIVATE_KEY_PATH: {path_str} has mode {mode:04o}"
                )),
                "{w}"
            );
            assert!(w.contains("chmod 600") && w.contains("0400") && !w.contains('\n'));
        }
        for mode in [0o600, 0o400] {
            assert_eq!(load_with_mode(mode), Vec::<String>::new(), "{mode:o}");
        }
        assert!(load(&base()).expect("valid").warnings.is_empty());
    }

    #[test]
    fn optional_settings_are_read() {
        let mut vars = base();
        vars.extend([
            (
                "REVIEWGATE_GITHUB_API_URL",
                "https://ghe.example.com/api/v3/",
            ),
            ("REVIEWGATE_LISTEN", "127.0.0.1:9000"),
            ("REVIEWGATE_POLICY_PATH", "./review.toml"),
            ("REVIEWGATE_CHECK_NAME", "review policy"),
            ("REVIEWGATE_LOG_FORMAT", "json"),
            ("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", "old"),
            ("REVIEWGATE_RECONCILE_INTERVAL", "2m"),
        ]);
        let c = load(&vars).expect("valid");
        assert_eq!(c.github_api_url, "https://ghe.example.com/api/v3");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.policy_path, "review.toml");
        assert_eq!(c.check_name, "review policy");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.webhook_secrets.len(), 2);
        assert_eq!(c.reconcile_interval, Duration::from_secs(120));
        assert!(
            !format!("{c:?}").contains("s3cret-value"),
            "Debug must not print secrets"
        );
        assert!(
            !format!("{c:?}").contains("MII"),
            "Debug must not print the key"
        );
    }
}
