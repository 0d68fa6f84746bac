//! Where the App keeps its state (`REVIEWGATE_DATABASE_URL`), and how long a worker's claim on
//! a pull request's work lasts (`REVIEWGATE_LEASE_SECS`).
//!
//! Only the URL's form is checked here; whether the store can be reached is for connecting to
//! find out. Operators paste PostgreSQL URLs with passwords, so the URL is held as a
//! [`SecretString`] and every message shows it through [`redact_url`].

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{Config, ConfigError, err};

const DATABASE_URL: &str = "REVIEWGATE_DATABASE_URL";

/// The store when `REVIEWGATE_DATABASE_URL` is unset: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = crate::store::DEFAULT_URL;

impl Config {
    /// The store's URL with any password replaced by `***`, for logs and messages.
    pub fn database_url_redacted(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }
}

/// `REVIEWGATE_DATABASE_URL`: `sqlite:PATH` (or `sqlite://PATH`), `postgres://…` or
/// `postgresql://…`; [`DEFAULT_DATABASE_URL`] when unset. Also for `reviewgate migrate`,
/// which reads this setting and the logging ones only.
pub fn read_database_url(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<SecretString, ConfigError> {
    let Some(raw) = get(DATABASE_URL) else {
        return Ok(SecretString::from(DEFAULT_DATABASE_URL));
    };
    let url = raw.trim();
    let bad = |problem: &str| {
        // A URL's password is masked; libpq's keyword form (`host=db password=…`) has no
        // place `redact_url` knows, so none of it is shown.
        let keywords =
            !url.contains("://") && url.contains(|c: char| c == '=' || c.is_whitespace());
        let shown = if keywords {
            "the value given (not shown: it is no URL, and may hold a password)".to_string()
        } else {
            format!("{:?}", redact_url(url))
        };
        err(DATABASE_URL, format!("{problem}, not {shown}"))
    };
    if let Some(rest) = url.strip_prefix("sqlite:") {
        // `sqlite://PATH` as many tools write it; `sqlite:///abs` keeps its leading slash.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.starts_with(':') {
            return Err(bad(
                "must name a file: an in-memory SQLite database keeps nothing across a restart",
            ));
        }
        if path.contains('?') {
            return Err(bad(
                "must be sqlite:PATH without parameters: the store sets its own SQLite settings",
            ));
        }
        if !path.is_empty() {
            return Ok(SecretString::from(url.to_string()));
        }
    } else if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        if !rest.is_empty() {
            return Ok(SecretString::from(url.to_string()));
        }
    }
    // Empty included: falling back to a SQLite file would give each replica its own store.
    Err(bad("must be sqlite:PATH or postgres://USER@HOST/DB"))
}

/// `REVIEWGATE_LEASE_SECS` (already within 5–3600) against `REVIEWGATE_GITHUB_TIMEOUT_SECS`:
/// a worker starts a GitHub write only while its lease has more time left than one request
/// may take, so a lease no longer than the timeout could never write.
pub(super) fn check_lease(
    lease_secs: u64,
    explicit: bool,
    github_timeout: Duration,
) -> Result<Duration, ConfigError> {
    let timeout = github_timeout.as_secs();
    if lease_secs <= timeout {
        let default = if explicit { "" } else { " (the default)" };
        return Err(err(
            "REVIEWGATE_LEASE_SECS",
            format!(
                "must be more than REVIEWGATE_GITHUB_TIMEOUT_SECS ({timeout}), not {lease_secs}{default}"
            ),
        ));
    }
    Ok(Duration::from_secs(lease_secs))
}

/// The URL with any password replaced by `***` (one implementation, the store's).
pub use crate::store::redact as redact_url;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    const KEY: &str = include_str!("../../../tests/fixtures/test-app-key.pem");

    fn load(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("REVIEWGATE_APP_ID", "123"),
            ("REVIEWGATE_PRIVATE_KEY", KEY),
            ("REVIEWGATE_WEBHOOK_SECRET", "s3cret-value"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            map.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn error(extra: &[(&str, &str)]) -> String {
        let e = load(extra).expect_err("invalid").to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn defaults_to_a_sqlite_file_in_the_working_directory_and_a_30_s_lease() {
        let c = load(&[]).expect("valid");
        assert_eq!(c.database_url.expose_secret(), "sqlite:reviewgate.db");
        assert_eq!(c.database_url_redacted(), "sqlite:reviewgate.db");
        assert_eq!(c.lease, Duration::from_secs(30));
    }

    #[test]
    fn accepts_sqlite_and_postgres_urls_as_given() {
        for url in [
            "sqlite:/var/lib/reviewgate/reviewgate.db",
            "sqlite://data/reviewgate.db",
            "sqlite:///var/lib/reviewgate/reviewgate.db",
            "postgres://reviewgate@db.internal/reviewgate",
            "postgres://reviewgate:hunter2@db.internal:5432/reviewgate?sslmode=verify-full",
            "postgresql://reviewgate:hunter2@db.internal/reviewgate",
        ] {
            let c = load(&[(DATABASE_URL, url)]).expect(url);
            assert_eq!(c.database_url.expose_secret(), url);
        }
        let c = load(&[(DATABASE_URL, "  sqlite:x.db\n")]).expect("trimmed");
        assert_eq!(c.database_url.expose_secret(), "sqlite:x.db");
    }

    #[test]
    fn anything_else_is_refused_naming_the_setting_without_the_password() {
        for url in [
            "mysql://root:hunter2@db/reviewgate",
            "reviewgate:hunter2@db/reviewgate",
            "postgres:/reviewgate:hunter2@db",
            "http://db/reviewgate?password=hunter2",
            "postgres://",
            "sqlite:",
            "sqlite://",
            "",
            "reviewgate.db",
        ] {
            let e = error(&[(DATABASE_URL, url)]);
            let want = format!(
                "REVIEWGATE_DATABASE_URL: must be sqlite:PATH or postgres://USER@HOST/DB, not {:?}",
                redact_url(url.trim())
            );
            assert_eq!(e, want);
            assert!(!e.contains("hunter2"), "{e}");
        }
        assert_eq!(
            error(&[(DATABASE_URL, "mysql://root:hunter2@db/gate")]),
            "REVIEWGATE_DATABASE_URL: must be sqlite:PATH or postgres://USER@HOST/DB, not \"mysql://root:***@db/gate\""
        );
        let e = error(&[(DATABASE_URL, "host=db user=gate password=hunter2")]);
        assert!(!e.contains("hunter2") && e.contains("not shown"), "{e}");
        let e = error(&[(DATABASE_URL, "sqlite::memory:")]);
        assert!(
            e.starts_with("REVIEWGATE_DATABASE_URL: must name a file: an in-memory"),
            "{e}"
        );
        let e = error(&[(DATABASE_URL, "sqlite:x.db?mode=ro")]);
        assert!(
            e.starts_with("REVIEWGATE_DATABASE_URL: must be sqlite:PATH without parameters"),
            "{e}"
        );
    }

    #[test]
    fn the_password_never_appears_in_debug_or_the_redacted_url() {
        let url = "postgres://reviewgate:hunter2@db.internal:5432/reviewgate";
        let c = load(&[(DATABASE_URL, url)]).expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        assert!(
            !format!("{c:?}").contains("db.internal"),
            "the whole URL is secret"
        );
        assert_eq!(
            c.database_url_redacted(),
            "postgres://reviewgate:***@db.internal:5432/reviewgate"
        );
    }

    #[test]
    fn redact_url_hides_every_password_and_keeps_the_rest() {
        let cases = [
            (
                "postgres://app:pw@db:5432/gate",
                "postgres://app:***@db:5432/gate",
            ),
            (
                "postgresql://app:pw@db/gate?sslmode=require",
                "postgresql://app:***@db/gate?sslmode=require",
            ),
            // Unescaped `/`, `@`, `?` and `#` in the password.
            (
                "postgres://app:p/a@s?s#w@db/gate",
                "postgres://app:***@db/gate",
            ),
            (
                "postgres://db/gate?user=app&password=pw&sslpassword=pw2",
                "postgres://db/gate?user=app&password=***&sslpassword=***",
            ),
            ("postgres://app:@db/gate", "postgres://app:***@db/gate"),
            ("postgres://app@db/gate", "postgres://app@db/gate"),
            ("postgres://db/gate", "postgres://db/gate"),
            // No scheme: the userinfo is still found.
            ("app:pw@db/gate", "app:***@db/gate"),
            ("sqlite:reviewgate.db", "sqlite:reviewgate.db"),
            ("sqlite:/data/a:b@c.db", "sqlite:/data/a:b@c.db"),
            ("sqlite:///var/lib/r.db", "sqlite:///var/lib/r.db"),
            ("", ""),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn the_lease_is_a_whole_number_from_5_to_3600_above_the_github_timeout() {
        let c = load(&[("REVIEWGATE_LEASE_SECS", "11")]).expect("above the 10 s timeout");
        assert_eq!(c.lease, Duration::from_secs(11));
        let c = load(&[
            ("REVIEWGATE_LEASE_SECS", "3600"),
            ("REVIEWGATE_GITHUB_TIMEOUT_SECS", "300"),
        ])
        .expect("both at their maximum");
        assert_eq!(c.lease, Duration::from_secs(3600));
        assert_eq!(
            error(&[("REVIEWGATE_LEASE_SECS", "8")]),
            "REVIEWGATE_LEASE_SECS: must be more than REVIEWGATE_GITHUB_TIMEOUT_SECS (10), not 8"
        );
        assert_eq!(
            error(&[("REVIEWGATE_LEASE_SECS", "10")]),
            "REVIEWGATE_LEASE_SECS: must be more than REVIEWGATE_GITHUB_TIMEOUT_SECS (10), not 10"
        );
        assert_eq!(
            error(&[("REVIEWGATE_GITHUB_TIMEOUT_SECS", "30")]),
            "REVIEWGATE_LEASE_SECS: must be more than REVIEWGATE_GITHUB_TIMEOUT_SECS (30), not 30 (the default)"
        );
        for bad in ["4", "3601", "ten", "-30", "30.5", ""] {
            assert_eq!(
                error(&[("REVIEWGATE_LEASE_SECS", bad)]),
                format!(
                    "REVIEWGATE_LEASE_SECS: must be a whole number from 5 to 3600, not {bad:?}"
                )
            );
        }
    }

    #[test]
    fn audit_retention_defaults_to_400_days_and_is_1_to_36500() {
        let day = Duration::from_secs(86_400);
        assert_eq!(load(&[]).expect("valid").audit_retention, day * 400);
        let c = load(&[("REVIEWGATE_AUDIT_RETENTION_DAYS", "30")]).expect("valid");
        assert_eq!(c.audit_retention, day * 30);
        for bad in ["0", "36501", "a year", "-1"] {
            assert_eq!(
                error(&[("REVIEWGATE_AUDIT_RETENTION_DAYS", bad)]),
                format!(
                    "REVIEWGATE_AUDIT_RETENTION_DAYS: must be a whole number from 1 to 36500, not {bad:?}"
                )
            );
        }
    }
}
