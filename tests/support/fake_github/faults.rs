//! Injected failures. Each kind reproduces something GitHub (or the network in front of it)
//! really does, with the status, headers and body GitHub sends, so the App's retry and backoff
//! code is tested against the signals it must read in production.

use std::time::Duration;

use http::Method;
use serde_json::json;

use super::server::Reply;
use super::state::Quota;

/// A failure to apply to the next `times` requests whose method is `method` (any method when
/// `None`) and whose `path?query` contains `path_contains`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_contains: String,
    pub times: usize,
    pub kind: FaultKind,
}

impl Fault {
    /// The common case: fail the next matching request once.
    pub fn once(method: Option<Method>, path_contains: &str, kind: FaultKind) -> Fault {
        Fault {
            method,
            path_contains: path_contains.to_string(),
            times: 1,
            kind,
        }
    }

    fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && path_and_query.contains(&self.path_contains)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// That status with a GitHub-style JSON error body (e.g. 500, 502, 503).
    Status(u16),
    /// Close the TCP connection with a reset after reading the request, without any response:
    /// the App cannot know whether a POST took effect.
    Reset,
    /// Serve the normal answer, but only after this extra delay (to trip client timeouts). The
    /// request takes effect before the delay, as a slow network would leave it.
    Delay(Duration),
    /// 403 with `Retry-After` and GitHub's secondary-limit message; the primary quota headers
    /// still show quota left, which is how a client tells it apart from the primary limit.
    SecondaryRateLimit { retry_after_secs: u64 },
    /// 429 with `Retry-After`, the other way GitHub signals a secondary limit.
    TooManyRequests { retry_after_secs: u64 },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`: the hourly quota is spent.
    PrimaryRateLimit,
    /// 404 `{"message":"Not Found"}`, as for a resource deleted between webhook and fetch.
    NotFound,
    /// 200 with the real answer's JSON cut off halfway (and a matching Content-Length), as a
    /// broken proxy would deliver it: the client reads a complete HTTP message it cannot parse.
    TruncatedBody,
}

/// What the pipeline must do for a request once a fault has been taken for it.
pub(super) enum FaultAction {
    Reset,
    Delay(Duration),
    TruncateBody,
    Respond(Reply),
}

/// Takes one use of the first queued fault matching this request, dropping used-up faults.
pub(super) fn take(
    faults: &mut Vec<Fault>,
    method: &Method,
    path_and_query: &str,
) -> Option<FaultKind> {
    let index = faults
        .iter()
        .position(|f| f.matches(method, path_and_query))?;
    let fault = &mut faults[index];
    fault.times -= 1;
    let kind = fault.kind.clone();
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(kind)
}

/// How the pipeline serves a fault. `quota` is the caller's quota when it is known, so that
/// fault answers carry the same rate-limit headers GitHub would send.
pub(super) fn action(kind: &FaultKind, quota: Option<(&Quota, u64)>, now: u64) -> FaultAction {
    match kind {
        FaultKind::Reset => FaultAction::Reset,
        FaultKind::Delay(d) => FaultAction::Delay(*d),
        FaultKind::TruncatedBody => FaultAction::TruncateBody,
        FaultKind::Status(code) => {
            let reason = http::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Server Error");
            let mut reply = Reply::error(*code, reason);
            add_quota_headers(&mut reply, quota);
            FaultAction::Respond(reply)
        }
        FaultKind::NotFound => {
            let mut reply = Reply::error(404, "Not Found");
            add_quota_headers(&mut reply, quota);
            FaultAction::Respond(reply)
        }
        FaultKind::SecondaryRateLimit { retry_after_secs } => {
            let mut reply = secondary_limit(403, *retry_after_secs);
            add_quota_headers(&mut reply, quota);
            FaultAction::Respond(reply)
        }
        FaultKind::TooManyRequests { retry_after_secs } => {
            let mut reply = secondary_limit(429, *retry_after_secs);
            add_quota_headers(&mut reply, quota);
            FaultAction::Respond(reply)
        }
        FaultKind::PrimaryRateLimit => {
            let (limit, reset, who) = match quota {
                Some((q, installation)) => {
                    (q.limit, q.reset, format!("installation ID {installation}"))
                }
                None => (5000, now + 3600, "this app".to_string()),
            };
            let mut reply = primary_limit_reply(&who);
            reply.set_rate_limit_headers(limit, 0, reset);
            FaultAction::Respond(reply)
        }
    }
}

/// GitHub's answer once the hourly quota is spent; also served for real exhaustion.
pub(super) fn primary_limit_reply(who: &str) -> Reply {
    Reply::json(
        403,
        json!({
            "message": format!("API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."),
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
            "status": "403",
        }),
    )
}

fn secondary_limit(status: u16, retry_after_secs: u64) -> Reply {
    let mut reply = Reply::json(
        status,
        json!({
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
            "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            "status": status.to_string(),
        }),
    );
    reply.header("retry-after", &retry_after_secs.to_string());
    reply
}

fn add_quota_headers(reply: &mut Reply, quota: Option<(&Quota, u64)>) {
    if let Some((q, _)) = quota {
        reply.set_rate_limit_headers(q.limit, q.remaining, q.reset);
    }
}
