//! Every `REVIEWGATE_*` setting, declared once.
//!
//! [`SETTINGS`] is the one list: it gives each setting its environment variable, its
//! `--flag` (the variable's name without `REVIEWGATE_`, in lower case with dashes), its
//! default and a line saying what it is for. From it come the flags and the `--help` text of
//! `serve` and `doctor` (through clap's `env` support), the defaults [`Config`](super::Config)
//! applies, and — checked by a test — the settings table in docs/deploy.md. Validation stays
//! in [`Config::from_lookup`](super::Config::from_lookup), so a bad value gets the same
//! one-line error naming the variable whether it came from the environment or a flag.

use std::collections::BTreeMap;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable.
    pub env: &'static str,
    /// The value used when the setting is not given; `None`: required, or off when unset.
    pub default: Option<&'static str>,
    /// The placeholder in `--help` (`--listen <ADDR:PORT>`).
    pub value_name: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    /// Its value is a secret: `--help` never shows the value found in the environment.
    pub secret: bool,
    /// For a whole number: the least and the most it may be.
    pub range: Option<(u64, u64)>,
}

const fn setting(
    env: &'static str,
    default: Option<&'static str>,
    value_name: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        env,
        default,
        value_name,
        help,
        secret: false,
        range: None,
    }
}

/// A whole number from `min` to `max`.
const fn whole(
    env: &'static str,
    default: &'static str,
    value_name: &'static str,
    help: &'static str,
    (min, max): (u64, u64),
) -> Setting {
    Setting {
        range: Some((min, max)),
        ..setting(env, Some(default), value_name, help)
    }
}

const fn secret(env: &'static str, value_name: &'static str, help: &'static str) -> Setting {
    Setting {
        env,
        default: None,
        value_name,
        help,
        secret: true,
        range: None,
    }
}

/// Every setting `reviewgate serve` reads, in the order docs/deploy.md lists them.
pub const SETTINGS: &[Setting] = &[
    setting(
        "REVIEWGATE_APP_ID",
        None,
        "ID",
        "Required. The App's numeric ID, from its settings page.",
    ),
    setting(
        "REVIEWGATE_PRIVATE_KEY_PATH",
        None,
        "FILE",
        "Path of the App's private key (PEM, PKCS#1 or PKCS#8); required unless REVIEWGATE_PRIVATE_KEY is set.",
    ),
    secret(
        "REVIEWGATE_PRIVATE_KEY",
        "PEM",
        "The private key's PEM text itself, instead of a path (literal \\n accepted for newlines).",
    ),
    secret(
        "REVIEWGATE_WEBHOOK_SECRET",
        "SECRET",
        "Required. The App's webhook secret; not empty or only whitespace.",
    ),
    secret(
        "REVIEWGATE_WEBHOOK_SECRET_PREVIOUS",
        "SECRET",
        "A second accepted webhook secret, while rotating.",
    ),
    setting(
        "REVIEWGATE_GITHUB_API_URL",
        Some("https://api.github.com"),
        "URL",
        "GitHub's REST API; GitHub Enterprise Server: https://HOST/api/v3.",
    ),
    setting(
        "REVIEWGATE_LISTEN",
        Some("0.0.0.0:8080"),
        "ADDR:PORT",
        "IP address and port to listen on; IPv6 in brackets, [::]:8080.",
    ),
    Setting {
        secret: true,
        ..setting(
            "REVIEWGATE_DATABASE_URL",
            Some(crate::store::DEFAULT_URL),
            "URL",
            "The store: sqlite:PATH for one replica, postgres://USER:PASSWORD@HOST/DB for several.",
        )
    },
    setting(
        "REVIEWGATE_POLICY_PATH",
        Some(crate::policy::DEFAULT_POLICY_PATH),
        "PATH",
        "Where the policy lives in each repository (read from the PR's base branch).",
    ),
    setting(
        "REVIEWGATE_ORG_POLICY_REPO",
        Some(".github"),
        "REPO",
        "The repository of each organisation whose default branch holds its floor policy.",
    ),
    setting(
        "REVIEWGATE_CHECK_NAME",
        Some("reviewgate"),
        "NAME",
        "The check run's name (at most 100 characters); the name branch rules require.",
    ),
    setting(
        "REVIEWGATE_LOG_FORMAT",
        Some("text"),
        "text|json",
        "Log lines as text or as JSON objects, on stderr.",
    ),
    setting(
        "REVIEWGATE_LOG",
        Some(super::super::logging::DEFAULT_FILTER),
        "FILTER",
        "Log filter (tracing EnvFilter syntax; RUST_LOG if unset). octocrab's and the HTTP stack's own lines stay off unless named.",
    ),
    whole(
        "REVIEWGATE_WORKERS",
        "32",
        "N",
        "Evaluations that may run at once, per replica.",
        (1, 1024),
    ),
    whole(
        "REVIEWGATE_QUEUE_CAPACITY",
        "10000",
        "N",
        "Most pull requests with work pending in the store, across replicas.",
        (1, 10_000_000),
    ),
    whole(
        "REVIEWGATE_LEASE_SECS",
        "30",
        "SECS",
        "How long a claim on a PR's work lasts unless renewed; more than the GitHub timeout.",
        (5, 3600),
    ),
    whole(
        "REVIEWGATE_DEBOUNCE_MS",
        "300",
        "MS",
        "How long events for one PR are gathered before it is evaluated.",
        (0, 60_000),
    ),
    whole(
        "REVIEWGATE_GITHUB_TIMEOUT_SECS",
        "10",
        "SECS",
        "Time limit of one request to GitHub.",
        (1, 300),
    ),
    whole(
        "REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS",
        "60",
        "SECS",
        "Time limit of one request to GitHub including its retries.",
        (1, 3600),
    ),
    whole(
        "REVIEWGATE_GITHUB_CONCURRENCY",
        "40",
        "N",
        "Requests in flight to GitHub per installation, per replica.",
        (1, 90),
    ),
    whole(
        "REVIEWGATE_GITHUB_CACHE_MB",
        "32",
        "MB",
        "Memory for GitHub answers kept for conditional requests, per replica; 0: none.",
        (0, 4096),
    ),
    whole(
        "REVIEWGATE_TEAM_CACHE_TTL_SECS",
        "300",
        "SECS",
        "How long a team's member list is reused; 0: not cached.",
        (0, 86_400),
    ),
    whole(
        "REVIEWGATE_SHUTDOWN_GRACE_SECS",
        "20",
        "SECS",
        "After SIGTERM, how long running evaluations get to finish.",
        (0, 3600),
    ),
    setting(
        "REVIEWGATE_RECONCILE_INTERVAL",
        Some("600"),
        "DURATION",
        "How often every open PR is checked (seconds, or 90s, 10m, 1h; at most a week; 0: off).",
    ),
    setting(
        "REVIEWGATE_RECONCILE_QUOTA_SHARE",
        Some("0.25"),
        "FRACTION",
        "Largest share of an installation's remaining quota one sweep may spend (above 0, at most 1).",
    ),
    whole(
        "REVIEWGATE_AUDIT_RETENTION_DAYS",
        "400",
        "DAYS",
        "How long audit records are kept.",
        (1, 36_500),
    ),
    whole(
        "REVIEWGATE_PREVIEW_MAX_PRS",
        "100",
        "N",
        "Most open PRs evaluated for a policy change's impact preview; 0: off.",
        (0, 1000),
    ),
    setting(
        "REVIEWGATE_WHEN_NO_POLICY",
        Some("fail"),
        "fail|skip",
        "What a PR into a branch without a policy gets: a failing check, or none.",
    ),
];

/// The declaration of `env`, if it is a setting.
pub fn find(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The least and the most a whole-number setting may be.
pub fn range_of(env: &str) -> Option<(u64, u64)> {
    find(env).and_then(|s| s.range)
}

/// The default of `env`, if it has one.
pub fn default_of(env: &str) -> Option<&'static str> {
    find(env).and_then(|s| s.default)
}

/// The flag of a setting: `REVIEWGATE_GITHUB_API_URL` is `--github-api-url`.
pub fn flag_of(env: &str) -> String {
    env.trim_start_matches("REVIEWGATE_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The settings given to one run: from a flag, else from the environment. Only what was
/// given; defaults are applied by [`Config::from_lookup`](super::Config::from_lookup).
#[derive(Clone, Default)]
pub struct Settings {
    given: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for Settings {
    // Names only: values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.given.keys()).finish()
    }
}

impl Settings {
    /// The settings of the process environment alone.
    pub fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings `get` returns a value for.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Settings {
        let given = SETTINGS
            .iter()
            .filter_map(|s| get(s.env).map(|v| (s.env, v)))
            .collect();
        Settings { given }
    }

    /// The value given for a setting, if any.
    pub fn get(&self, env: &str) -> Option<String> {
        self.given.get(env).cloned()
    }
}

impl FromArgMatches for Settings {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut settings = Settings::default();
        settings.update_from_arg_matches(matches)?;
        Ok(settings)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for s in SETTINGS {
            // A flag wins. Otherwise the environment is read here, as `from_env` reads it, so
            // an empty variable means what it always has (an empty webhook secret is refused,
            // not taken for a missing one) whatever clap makes of it.
            let value = match matches.value_source(s.env) {
                Some(ValueSource::CommandLine) => matches.get_one::<String>(s.env).cloned(),
                _ => std::env::var(s.env).ok(),
            };
            match value {
                Some(v) => {
                    self.given.insert(s.env, v);
                }
                None => {
                    self.given.remove(s.env);
                }
            }
        }
        Ok(())
    }
}

impl Args for Settings {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(SETTINGS.iter().map(arg))
            .next_help_heading(None::<&str>)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Settings::augment_args(cmd)
    }
}

fn arg(s: &Setting) -> Arg {
    let mut help = s.help.to_string();
    if let Some((min, max)) = s.range {
        help.push_str(&format!(" A whole number from {min} to {max}."));
    }
    if s.secret {
        help.push_str(" Prefer the environment: a command line is visible to other processes.");
    }
    let arg = Arg::new(s.env)
        .long(flag_of(s.env))
        .env(s.env)
        .value_name(s.value_name)
        .help(help)
        .help_heading("Settings (each flag or its REVIEWGATE_* variable)")
        // A PEM starts with dashes: without this clap would take the key for an unknown flag
        // and quote it in its error.
        .allow_hyphen_values(true)
        .hide_env_values(s.secret);
    match s.default {
        Some(default) => arg.default_value(default),
        None => arg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_flags_follow_from_them() {
        let mut seen = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.env), "{} twice", s.env);
            assert!(s.env.starts_with("REVIEWGATE_"), "{}", s.env);
            assert!(!s.help.contains('\n'), "{}: one line", s.env);
        }
        assert_eq!(flag_of("REVIEWGATE_GITHUB_API_URL"), "github-api-url");
    }

    #[test]
    fn defaults_kept_elsewhere_too_agree() {
        assert_eq!(
            default_of("REVIEWGATE_AUDIT_RETENTION_DAYS"),
            Some(crate::audit::DEFAULT_RETENTION_DAYS.to_string().as_str())
        );
        assert_eq!(
            default_of("REVIEWGATE_DATABASE_URL"),
            Some(crate::store::DEFAULT_URL)
        );
    }

    #[test]
    fn whole_numbers_declare_a_range_their_default_is_in() {
        let wholes: Vec<&Setting> = SETTINGS.iter().filter(|s| s.range.is_some()).collect();
        assert_eq!(wholes.len(), 12, "the settings read as whole numbers");
        for s in wholes {
            let (min, max) = s.range.expect("range");
            let default: u64 = s
                .default
                .expect("a default")
                .parse()
                .expect("a whole number");
            assert!((min..=max).contains(&default), "{}: {default}", s.env);
        }
    }

    #[test]
    fn a_flag_wins_over_nothing_and_debug_shows_no_values() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "x",
            "--app-id",
            "77",
            "--webhook-secret",
            "hush-hush",
        ])
        .expect("parses");
        assert_eq!(cli.settings.get("REVIEWGATE_APP_ID").as_deref(), Some("77"));
        let shown = format!("{:?}", cli.settings);
        assert!(shown.contains("REVIEWGATE_WEBHOOK_SECRET"), "{shown}");
        assert!(!shown.contains("hush-hush"), "{shown}");
    }
}
