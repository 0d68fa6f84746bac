//! HTTP routes: `POST /webhook`, `GET /healthz`, `GET /readyz`, `GET /metrics`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use tracing::Instrument;

use super::signature;
use crate::app::App;
use crate::app::events::{self, Action, EventContext};
use crate::app::queue::Admission;

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// What the routes share.
pub struct ServerState {
    pub app: Arc<App>,
    pub webhook_secrets: Vec<SecretString>,
    pub app_id: u64,
    /// Set when shutdown starts: readiness fails and new deliveries are refused.
    pub shutting_down: AtomicBool,
    /// Deliveries already accepted, so a replayed one costs nothing.
    pub recent: Mutex<RecentDeliveries>,
}

/// `X-GitHub-Delivery` IDs accepted in the last [`REPLAY_WINDOW`]. A replay of an accepted
/// delivery (an attacker resending a captured one, or a proxy retrying) is answered without
/// work; its effect is already queued or done. Deliveries that were refused (401, 400, 503)
/// are not remembered, so GitHub's "Redeliver" still works for them.
#[derive(Default)]
pub struct RecentDeliveries {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

const REPLAY_WINDOW: Duration = Duration::from_secs(600);
const MAX_REMEMBERED_DELIVERIES: usize = 100_000;

impl RecentDeliveries {
    fn seen(&mut self, id: &str) -> bool {
        let now = Instant::now();
        while let Some((at, old)) = self.order.front() {
            if now.duration_since(*at) < REPLAY_WINDOW
                && self.order.len() <= MAX_REMEMBERED_DELIVERIES
            {
                break;
            }
            self.seen.remove(old);
            self.order.pop_front();
        }
        self.seen.contains_key(id)
    }

    fn remember(&mut self, id: &str) {
        let now = Instant::now();
        if self.seen.insert(id.to_string(), now).is_none() {
            self.order.push_back((now, id.to_string()));
        }
    }
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<ServerState>>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if !state.app.queue.has_room() {
        (StatusCode::SERVICE_UNAVAILABLE, "queue full\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.app.metrics.render(),
    )
        .into_response()
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// At most 300 characters of a message that may quote the payload (a 5 MB string in the
/// wrong place would otherwise come back in the answer and the log).
fn short(message: &str) -> String {
    if message.chars().count() <= 300 {
        return message.to_string();
    }
    let mut cut: String = message.chars().take(299).collect();
    cut.push('…');
    cut
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A client must send the whole body within this time.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn webhook(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let metrics = state.app.metrics.clone();
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let declared = header_str(&headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        metrics.delivery("unverified", "too_large");
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "deliveries are limited to 25 MiB",
        );
    }
    // A delivery without a well-formed signature is refused before its body is read, so
    // unauthenticated clients cannot make the server buffer 25 MiB each.
    let signed = signature::parse(header_str(&headers, "x-hub-signature-256")).is_some();
    if !signed {
        metrics.delivery("unverified", "bad_signature");
        tracing::warn!("webhook delivery with a missing or wrong signature refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            "missing or invalid X-Hub-Signature-256",
        );
    }
    let body = match tokio::time::timeout(
        BODY_READ_TIMEOUT,
        axum::body::to_bytes(body, MAX_BODY_BYTES),
    )
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            metrics.delivery("unverified", "too_large");
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "deliveries are limited to 25 MiB",
            );
        }
        Err(_) => {
            metrics.delivery("unverified", "bad_request");
            return answer(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        }
    };
    // Authenticate before reading anything else from the request.
    if !signature::verify(
        &state.webhook_secrets,
        &body,
        header_str(&headers, "x-hub-signature-256"),
    ) {
        metrics.delivery("unverified", "bad_signature");
        tracing::warn!("webhook delivery with a missing or wrong signature refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            "missing or invalid X-Hub-Signature-256",
        );
    }
    let Some(event) = header_str(&headers, "x-github-event").map(str::to_string) else {
        metrics.delivery("unknown", "bad_request");
        return answer(StatusCode::BAD_REQUEST, "missing X-GitHub-Event");
    };
    let delivery = header_str(&headers, "x-github-delivery")
        .unwrap_or("")
        .chars()
        .take(64)
        .collect::<String>();
    let span = tracing::info_span!(
        "delivery",
        event = %event,
        delivery = %delivery,
        repo = tracing::field::Empty,
        pr = tracing::field::Empty,
        head_sha = tracing::field::Empty,
    );
    let metrics = metrics.clone();
    async move {
        let metrics = &metrics;
        if state.shutting_down.load(Ordering::Relaxed) {
            metrics.delivery(&event, "overloaded");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting down; redeliver later",
            );
        }
        if !delivery.is_empty() && state.recent.lock().is_ok_and(|mut r| r.seen(&delivery)) {
            metrics.delivery(&event, "duplicate");
            tracing::info!("delivery already received; nothing more to do");
            return answer(StatusCode::OK, "delivery already received");
        }
        let app = &state.app;
        let cx = EventContext {
            app_id: state.app_id,
            check_name: &app.check_name,
            policy_path: &app.policy_path,
        };
        let actions = match events::actions(&event, &body, &cx) {
            Ok(a) => a,
            Err(e) => {
                metrics.delivery(&event, "bad_request");
                tracing::warn!(error = %short(&e.to_string()), "unreadable delivery");
                return answer(StatusCode::BAD_REQUEST, &short(&e.to_string()));
            }
        };
        let mut queued = 0usize;
        let mut refused = 0usize;
        for action in actions {
            if let Action::Enqueue(job) | Action::EnqueueNow(job) = &action {
                record_job(job);
            }
            match app.apply(action) {
                Some(Admission::Queued | Admission::Coalesced) => queued += 1,
                Some(Admission::Refused) => refused += 1,
                None => {}
            }
        }
        if refused > 0 {
            metrics.delivery(&event, "overloaded");
            tracing::warn!(
                refused,
                "queue full; refusing the delivery so GitHub records it as failed"
            );
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue full; redeliver later",
            );
        }
        if !delivery.is_empty() {
            if let Ok(mut r) = state.recent.lock() {
                r.remember(&delivery);
            }
        }
        if queued > 0 {
            metrics.delivery(&event, "accepted");
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({ "message": "queued", "jobs": queued })),
            )
                .into_response()
        } else {
            metrics.delivery(&event, "ignored");
            answer(StatusCode::OK, "nothing to do for this event")
        }
    }
    .instrument(span)
    .await
}

/// Puts the job's repository, PR and head SHA on the delivery's span, so its log lines can
/// be found by any of them.
fn record_job(job: &crate::app::jobs::Job) {
    use crate::app::jobs::Job;
    let span = tracing::Span::current();
    match job {
        Job::Pr { pr, head_sha } => {
            span.record("repo", tracing::field::display(&pr.repo));
            span.record("pr", pr.number);
            if let Some(sha) = head_sha {
                span.record("head_sha", sha.as_str());
            }
        }
        Job::MergeGroup { pr, head_sha } => {
            span.record("repo", tracing::field::display(&pr.repo));
            span.record("pr", pr.number);
            span.record("head_sha", head_sha.as_str());
        }
        Job::PolicyChanged { repo, .. } | Job::RepoChanged { repo, .. } => {
            span.record("repo", tracing::field::display(repo));
        }
    }
}
