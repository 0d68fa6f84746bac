//! Timestamps in records and on the command line.
//!
//! Records carry times as RFC 3339 text in UTC so that an auditor reads them without a
//! conversion and so that the hashed bytes never depend on a time zone; the store keeps the
//! same instants as milliseconds since the Unix epoch, for filtering and retention.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Milliseconds since the epoch as `2026-07-01T09:30:00.125Z`: what `recorded_at` and
/// `evaluated_at` hold (milliseconds always shown, so every such field has one length).
/// Instants outside chrono's range (±262,000 years) are clamped to its ends rather than
/// failing: the store's clock cannot produce them.
pub fn format_ms(ms: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since the epoch as RFC 3339 in UTC with only the precision it has:
/// `2026-07-03T08:30:00Z` for a whole second (GitHub's times: a push's `pushed_at`, a merge's
/// `merged_at`), `2026-07-03T08:30:00.125Z` otherwise.
pub fn format_ms_auto(ms: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads an RFC 3339 timestamp with any offset (`2026-07-01T11:30:00+02:00`), as
/// milliseconds since the epoch.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// An RFC 3339 timestamp as given by GitHub, normalised to UTC with a `Z`, keeping its
/// precision: `2026-07-01T11:30:00+02:00` becomes `2026-07-01T09:30:00Z`; fractions of a
/// second are kept only when present. `None` when `text` is not RFC 3339.
pub fn normalise_rfc3339(text: &str) -> Option<String> {
    let at = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(
        at.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// A command line's DATE: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 timestamp, as
/// milliseconds since the epoch. `None` when it is neither.
pub fn parse_date_arg(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        // Only the exact form: chrono also accepts `2026-7-1`, which an auditor may well
        // have meant, but a filter that silently reads a typo is worse than a refusal.
        if text.len() == 10 {
            return day
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis());
        }
        return None;
    }
    parse_rfc3339_ms(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_782_898_200_125), "2026-07-01T09:30:00.125Z");
    }

    #[test]
    fn normalises_offsets_to_utc() {
        assert_eq!(
            normalise_rfc3339("2026-07-01T11:30:00+02:00").as_deref(),
            Some("2026-07-01T09:30:00Z")
        );
        assert_eq!(
            normalise_rfc3339("2026-07-01T09:30:00.5Z").as_deref(),
            Some("2026-07-01T09:30:00.500Z")
        );
        assert_eq!(normalise_rfc3339("yesterday"), None);
    }

    #[test]
    fn dates_are_days_at_midnight_utc_or_rfc3339() {
        let q3 = parse_date_arg("2026-07-01").expect("date");
        assert_eq!(format_ms(q3), "2026-07-01T00:00:00.000Z");
        assert_eq!(parse_date_arg("2026-07-01T02:00:00+02:00"), Some(q3));
        for bad in ["2026-13-01", "2026-7-1", "01/07/2026", "", "2026-02-30"] {
            assert_eq!(parse_date_arg(bad), None, "{bad}");
        }
    }
}
