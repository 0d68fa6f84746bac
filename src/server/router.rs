//! HTTP routes: `POST /webhook`, `GET /healthz`, `GET /readyz`, `GET /metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use tracing::Instrument;

use super::body::{self, BodyBudget, BodyError};
use super::credentials::Credentials;
use super::signature;
use crate::app::App;
use crate::app::batcher::IntakeError;
use crate::app::events::{self, Action, EventContext};
use crate::app::intake::Taken;
use crate::metrics::Metrics;

pub use super::body::MAX_BODY_BYTES;

/// What the routes share.
pub struct ServerState {
    pub app: Arc<App>,
    pub webhook_secrets: Vec<SecretString>,
    pub app_id: u64,
    /// Set when shutdown starts: readiness fails and new deliveries are refused.
    pub shutting_down: AtomicBool,
    /// Memory for bodies whose signature is not checked yet.
    pub unverified: Arc<BodyBudget>,
    /// Whether GitHub has accepted the App's credentials; not ready until it has.
    pub credentials: Arc<Credentials>,
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
    } else if let Some(why) = state.credentials.not_ready_because() {
        (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
    } else if state.app.store.get().is_none() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is not connected yet\n",
        )
            .into_response()
    } else if !state.app.store.healthy() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store does not answer\n",
        )
            .into_response()
    } else if state.app.store.pending() >= state.app.settings.queue_capacity as u64 {
        (StatusCode::SERVICE_UNAVAILABLE, "queue full\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
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

fn bad_signature(metrics: &Metrics) -> Response {
    metrics.delivery("unverified", "bad_signature");
    tracing::warn!("webhook delivery with a missing or wrong signature refused");
    answer(
        StatusCode::UNAUTHORIZED,
        "missing or invalid X-Hub-Signature-256",
    )
}

fn too_large(metrics: &Metrics) -> Response {
    metrics.delivery("unverified", "too_large");
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        "deliveries are limited to 25 MiB",
    )
}

/// The body of a delivery whose signature is right, or the answer refusing it. Nothing else
/// of the request is looked at before this. A delivery without a well-formed signature is
/// refused before its body is read; the others are read within the budget for unverified
/// bodies (see [`body`]), and hashed as they arrive.
async fn read_verified(
    state: &ServerState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Vec<u8>, Response> {
    let metrics = &state.app.metrics;
    let declared = header_str(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large(metrics));
    }
    let signature = header_str(headers, "x-hub-signature-256");
    let Some(mut verifier) = signature::Verifier::new(&state.webhook_secrets, signature) else {
        return Err(bad_signature(metrics));
    };
    let Some(reservation) = state.unverified.reserve(declared, body::BUDGET_WAIT).await else {
        metrics.delivery("unverified", "overloaded");
        tracing::warn!(
            declared,
            "too many large deliveries being read at once; refusing one"
        );
        return Err(answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many large deliveries at once; redeliver later",
        ));
    };
    let read = body::read(body, declared, &mut verifier).await;
    let verified = verifier.finish();
    drop(reservation);
    match read {
        Ok(bytes) if verified => Ok(bytes),
        Ok(_) => Err(bad_signature(metrics)),
        Err(BodyError::TooLarge) => Err(too_large(metrics)),
        Err(BodyError::TimedOut) => {
            metrics.delivery("unverified", "bad_request");
            Err(answer(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            ))
        }
        Err(BodyError::Broken) => {
            metrics.delivery("unverified", "bad_request");
            Err(answer(
                StatusCode::BAD_REQUEST,
                "the body could not be read",
            ))
        }
    }
}

async fn webhook(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let body = match read_verified(&state, &headers, body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let metrics = &state.app.metrics;
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
        let app = &state.app;
        let cx = EventContext {
            app_id: state.app_id,
            check_name: &app.check_name,
            policy_path: &app.policy_path,
            org_policy_repo: &app.settings.org_policy_repo,
        };
        let actions = match events::actions(&event, &body, &cx) {
            Ok(a) => a,
            Err(e) => {
                metrics.delivery(&event, "bad_request");
                tracing::warn!(error = %short(&e.to_string()), "unreadable delivery");
                return answer(StatusCode::BAD_REQUEST, &short(&e.to_string()));
            }
        };
        for action in &actions {
            if let Action::Enqueue(job) | Action::EnqueueNow(job) = action {
                record_job(job);
            }
        }
        match app.take(&delivery, actions).await {
            Ok(Taken::Stored { jobs }) if jobs > 0 => {
                metrics.delivery(&event, "accepted");
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({ "message": "queued", "jobs": jobs })),
                )
                    .into_response()
            }
            Ok(Taken::Stored { .. } | Taken::Nothing) => {
                metrics.delivery(&event, "ignored");
                answer(StatusCode::OK, "nothing to do for this event")
            }
            Ok(Taken::Duplicate) => {
                metrics.delivery(&event, "duplicate");
                tracing::info!("delivery already received; nothing more to do");
                answer(StatusCode::OK, "delivery already received")
            }
            Ok(Taken::Full) => {
                metrics.delivery(&event, "overloaded");
                tracing::warn!("too many pull requests pending; refusing the delivery so GitHub records it as failed");
                answer(StatusCode::SERVICE_UNAVAILABLE, "queue full; redeliver later")
            }
            Err(IntakeError::Invalid(e)) => {
                metrics.delivery(&event, "bad_request");
                tracing::warn!(error = %short(&e), "a delivery the store cannot hold");
                answer(StatusCode::BAD_REQUEST, &short(&e))
            }
            Err(e) => {
                metrics.delivery(&event, "overloaded");
                tracing::warn!(error = %e, "the delivery could not be stored; refusing it so GitHub records it as failed");
                let why = match e {
                    IntakeError::Unavailable => "the store is not available; redeliver later",
                    IntakeError::TimedOut | IntakeError::Store(_) | IntakeError::Invalid(_) => {
                        "the delivery could not be stored; redeliver later"
                    }
                };
                answer(StatusCode::SERVICE_UNAVAILABLE, why)
            }
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
        Job::PolicyChanged { repo, .. }
        | Job::RepoChanged { repo, .. }
        | Job::Audit { repo, .. }
        | Job::FloorChanged { repo, .. } => {
            span.record("repo", tracing::field::display(repo));
        }
    }
}
