//! The few timestamp formats GitHub uses, to and from Unix seconds (UTC), without a date
//! library: RFC 3339 (`2026-11-30T23:10:00Z`) in JSON, IMF-fixdate
//! (`Mon, 30 Nov 2026 23:10:00 GMT`) in the `Date` header.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn seconds(year: i64, month: i64, day: i64, h: i64, m: i64, s: i64) -> Option<u64> {
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&m)
        && (0..=60).contains(&s);
    if !valid {
        return None;
    }
    u64::try_from(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// `2026-11-30T23:10:00Z` (fractions ignored; `Z` or `+00:00` only, as GitHub sends).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let tail = &s[19..];
    let utc = tail.ends_with('Z') || tail.ends_with("+00:00");
    if !utc {
        return None;
    }
    seconds(
        n(0, 4)?,
        n(5, 7)?,
        n(8, 10)?,
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
    )
}

/// `Mon, 30 Nov 2026 23:10:00 GMT`.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = t.as_slice() else {
        return None;
    };
    seconds(year.parse().ok()?, month, day.parse().ok()?, *h, *m, *sec)
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The current time as RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for secs in [0, 951_782_400, 1_796_083_200, 1_796_086_861, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs));
        }
        assert_eq!(
            parse_rfc3339("2026-12-01T01:01:01.123Z"),
            parse_rfc3339("2026-12-01T01:01:01Z")
        );
        assert_eq!(
            parse_http_date("Tue, 01 Dec 2026 01:01:01 GMT"),
            parse_rfc3339("2026-12-01T01:01:01Z")
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-12-01 00:00:00Z",
            "2026-12-01T00:00:00+02:00",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_http_date("Tue, 01 Foo 2026 01:01:01 GMT"), None);
    }
}
