//! Store URLs: which back end a URL names, and the same URL made safe to print.
//!
//! Operators paste PostgreSQL URLs with passwords into `REVIEWGATE_DATABASE_URL`; every message
//! about the store names the URL so they can tell which store is meant, so every message goes
//! through [`redact`], and driver messages through [`scrub`] as a second line of defence.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use super::StoreError;

/// The forms accepted, for messages about a URL that is none of them.
pub(crate) const ACCEPTED_FORMS: &str = "must be sqlite:PATH (or sqlite://PATH) or postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://…)";

/// Where a URL points.
#[derive(Debug)]
pub(crate) enum Location {
    /// A SQLite file, relative to the working directory unless absolute.
    Sqlite(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

/// Reads a store URL. Only the form is checked here; whether the store can be reached is
/// for connecting to find out.
pub(crate) fn parse(url: &str) -> Result<Location, StoreError> {
    let bad = |problem: String| StoreError::BadUrl {
        url: redact(url),
        problem,
    };
    let trimmed = url.trim();
    if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        // `sqlite://PATH` as many tools write it; `sqlite:///abs` keeps its leading slash.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(bad(
                "names no file; give sqlite:PATH, such as sqlite:reviewgate.db".into(),
            ));
        }
        if path.starts_with(':') {
            return Err(bad(
                "an in-memory database keeps nothing across a restart; give a file path".into(),
            ));
        }
        if path.contains('?') {
            return Err(bad(
                "takes no parameters; the store sets its own SQLite settings".into(),
            ));
        }
        return Ok(Location::Sqlite(PathBuf::from(path)));
    }
    let scheme = trimmed.split("://").next().unwrap_or_default();
    if trimmed.contains("://") && (scheme == "postgres" || scheme == "postgresql") {
        return PgConnectOptions::from_str(trimmed)
            .map(|o| Location::Postgres(Box::new(o)))
            .map_err(|e| bad(scrub(&e.to_string(), url)));
    }
    Err(bad(ACCEPTED_FORMS.into()))
}

/// The URL with any password replaced by `***`, safe to log and print.
///
/// Works on the text rather than through a URL parser so that URLs too malformed to parse
/// (a password with an unescaped `/` or `#`) are redacted too; when in doubt it redacts more.
pub fn redact(url: &str) -> String {
    let start = match url.find("://") {
        Some(i) => i + 3,
        // `sqlite:PATH` has no userinfo; only a query string could hold a password.
        None if url.starts_with("sqlite:") => return redact_query(url),
        // No scheme at all (`app:pw@db/gate`, a mistake): everything up to the last `@` may
        // be userinfo.
        None => 0,
    };
    let (prefix, rest) = url.split_at(start);
    // The last `@` ends the userinfo, whatever the password holds; a URL with an `@` only in
    // its query loses its port in the output, which errs on the safe side.
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = match rest[..at].split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => rest[..at].to_string(),
            };
            format!("{prefix}{userinfo}{}", redact_query(&rest[at..]))
        }
        None => format!("{prefix}{}", redact_query(rest)),
    }
}

/// `…?user=app&password=secret` → `…?user=app&password=***`.
fn redact_query(text: &str) -> String {
    let Some((base, query)) = text.split_once('?') else {
        return text.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_password_key(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// Any key naming a password (`password`, `passwd`, `sslpassword`, …).
fn is_password_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("pass")
}

/// `text` with every form of the URL's password (as written, and percent-decoded) replaced by
/// `***`: driver messages are not ours, so they are scrubbed before they go anywhere.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    for secret in passwords(url) {
        if !secret.is_empty() {
            out = out.replace(&secret, "***");
        }
    }
    out
}

/// The password in `url`, as written and decoded, from the userinfo and the query string.
fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(start) = url.find("://").map(|i| i + 3) {
        let rest = &url[start..];
        if let Some(at) = rest.rfind('@') {
            if let Some((_, secret)) = rest[..at].split_once(':') {
                found.push(secret.to_string());
            }
        }
    }
    if let Some((_, q)) = url.split_once('?') {
        for pair in q.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if is_password_key(k) {
                    found.push(v.to_string());
                }
            }
        }
    }
    let decoded: Vec<String> = found.iter().filter_map(|s| percent_decode(s)).collect();
    found.extend(decoded);
    found
}

/// `%41` → `A`; None when nothing was escaped or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') && !s.contains('+') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_password_and_keeps_the_rest() {
        let cases = [
            (
                "postgres://app:s3cret@db.internal:5432/gate",
                "postgres://app:***@db.internal:5432/gate",
            ),
            (
                "postgresql://app:s3cret@db/gate?sslmode=require",
                "postgresql://app:***@db/gate?sslmode=require",
            ),
            // Unescaped `/`, `@`, `?` and `#` in the password.
            (
                "postgres://app:p/a@s?s#w@db/gate",
                "postgres://app:***@db/gate",
            ),
            (
                "postgres://db/gate?user=app&password=s3cret",
                "postgres://db/gate?user=app&password=***",
            ),
            ("postgres://app@db/gate", "postgres://app@db/gate"),
            ("sqlite:reviewgate.db", "sqlite:reviewgate.db"),
            ("sqlite:///var/lib/x.db", "sqlite:///var/lib/x.db"),
            ("mysql://root:pw@h/d", "mysql://root:***@h/d"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn scrub_removes_raw_and_decoded_passwords() {
        let url = "postgres://app:s%40cret@db/gate";
        let text = "auth failed for s%40cret (s@cret)";
        assert_eq!(scrub(text, url), "auth failed for *** (***)");
    }

    #[test]
    fn parse_accepts_the_documented_forms_only() {
        for (url, want) in [
            ("sqlite:reviewgate.db", "reviewgate.db"),
            ("sqlite://data/r.db", "data/r.db"),
            ("sqlite:///var/lib/r.db", "/var/lib/r.db"),
            ("sqlite:/var/lib/r.db", "/var/lib/r.db"),
        ] {
            match parse(url) {
                Ok(Location::Sqlite(p)) => assert_eq!(p, PathBuf::from(want)),
                other => panic!("{url}: {other:?}"),
            }
        }
        for url in ["postgres://u:p@h/d", "postgresql://h:5433/d"] {
            assert!(matches!(parse(url), Ok(Location::Postgres(_))), "{url}");
        }
        for url in [
            "mysql://u:topsecret@h/d",
            "reviewgate.db",
            "sqlite:",
            "sqlite::memory:",
            "sqlite:x.db?mode=ro",
            "postgres://u:topsecret@h:notaport/d",
        ] {
            let e = parse(url).expect_err(url).to_string();
            assert!(!e.contains("topsecret"), "{e}");
            assert!(e.starts_with("store URL "), "{e}");
        }
        let e = parse("mysql://u:topsecret@h/d")
            .expect_err("mysql")
            .to_string();
        assert!(
            e.contains("sqlite:PATH") && e.contains("postgres://"),
            "{e}"
        );
    }
}
