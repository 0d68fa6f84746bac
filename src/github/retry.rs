//! How long to wait before trying GitHub again: what a rate-limited answer asks for, and
//! jittered exponential backoff after a failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// How long GitHub asks us to wait, if this answer is a rate limit: 429, or 403 with
/// `Retry-After`, with `x-ratelimit-remaining: 0`, or with GitHub's secondary-limit message.
pub(super) fn rate_limit_wait(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Duration::from_secs(secs.max(1)));
    }
    let exhausted = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    if exhausted {
        if let Some(reset) = header_u64(headers, "x-ratelimit-reset") {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
        }
        return Some(Duration::from_secs(60));
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    if status == 429 || text.contains("rate limit") {
        // GitHub: without a Retry-After, wait at least one minute.
        return Some(Duration::from_secs(60));
    }
    None
}

pub(super) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Exponential backoff with full jitter: up to 250 ms, 500 ms, 1 s … capped at 8 s.
pub(super) fn backoff(attempt: u32) -> Duration {
    let cap = Duration::from_millis(250 * (1u64 << attempt.saturating_sub(1).min(5)));
    jitter(cap.min(Duration::from_secs(8))).max(Duration::from_millis(50))
}

/// A random duration in `[0, max]`, from a small xorshift generator (no need for a crypto RNG
/// to spread retries apart).
pub(super) fn jitter(max: Duration) -> Duration {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    let fraction = (x >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(fraction)
}
