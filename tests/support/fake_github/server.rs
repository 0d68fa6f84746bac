//! The HTTP side: a hyper HTTP/1 server on a loopback socket, and the pipeline every request
//! goes through (fault injection, routing, conditional requests, rate-limit headers,
//! recording, latency). Connections are served with hyper directly rather than through axum
//! so that a `Reset` fault can abort the TCP connection without writing any response.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::auth::Presented;
use super::clock;
use super::faults::{self, FaultAction};
use super::paging::Query;
use super::routes::{self, Ctx, QuotaKey};
use super::state::{RecordedRequest, State};

pub(super) type Shared = Arc<Mutex<State>>;

/// Locks the world. A panic elsewhere (a failed assertion in a test thread) must not turn
/// every later request into a second panic, so poisoning is ignored.
pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An answer before it becomes an HTTP response.
pub(super) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    /// GitHub's error shape: `message`, `documentation_url` and the status as a string.
    pub(super) fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        )
    }

    /// Sets a header, replacing any earlier value of it.
    pub(super) fn header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    pub(super) fn set_rate_limit_headers(&mut self, limit: u64, remaining: u64, reset: u64) {
        self.header("x-ratelimit-limit", &limit.to_string());
        self.header("x-ratelimit-remaining", &remaining.to_string());
        self.header("x-ratelimit-reset", &reset.to_string());
        self.header(
            "x-ratelimit-used",
            &limit.saturating_sub(remaining).to_string(),
        );
        self.header("x-ratelimit-resource", "core");
    }

    fn into_response(self, request_id: u64) -> Response<Full<Bytes>> {
        let mut builder = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("x-github-request-id", format!("FAKE:{request_id:08X}"))
            .header("x-github-api-version-selected", "2022-11-28");
        if !self.body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json; charset=utf-8");
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(Full::new(Bytes::from(self.body)))
            .unwrap_or_else(|_| {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r
            })
    }
}

/// The error a service returns to make hyper abandon the connection without answering.
#[derive(Debug)]
pub(super) struct ConnectionReset;

impl fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault injected: connection reset")
    }
}

impl std::error::Error for ConnectionReset {}

/// A TCP stream that, once its connection is marked for reset, refuses further I/O and closes
/// with `SO_LINGER` 0, so the peer sees a TCP RST instead of any bytes of a response.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
            return Err(io::Error::from(io::ErrorKind::ConnectionReset));
        }
        Ok(())
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Accepts connections until the task is aborted (when the last `FakeGitHub` handle drops),
/// recording `door` (the base URL clients were given for this listener) on each request.
pub(super) async fn serve(listener: TcpListener, state: Shared, door: Arc<str>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let door = door.clone();
        tokio::spawn(async move {
            let reset = Arc::new(AtomicBool::new(false));
            let io = TokioIo::new(ResettableStream {
                inner: stream,
                reset: reset.clone(),
            });
            let service =
                service_fn(move |req| handle(state.clone(), reset.clone(), door.clone(), req));
            // Errors here are client disconnects and injected resets; nothing to report.
            let _ = http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

/// Counts a request as in flight for an installation until dropped, even when the client
/// gives up and hyper drops the handler midway.
struct InFlight {
    state: Shared,
    installation: u64,
}

impl InFlight {
    fn enter(st: &mut State, state: Shared, installation: u64) -> InFlight {
        let now = {
            let n = st.inflight.entry(installation).or_insert(0);
            *n += 1;
            *n
        };
        let max = st.max_inflight.entry(installation).or_insert(0);
        *max = (*max).max(now);
        InFlight {
            state,
            installation,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        if let Some(n) = st.inflight.get_mut(&self.installation) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Marks the request `seq` finished when dropped: when its answer leaves, or when hyper
/// drops the handler because the client went away or the connection was reset.
struct Finish {
    state: Shared,
    seq: u64,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        if let Some(r) = st.requests.iter_mut().rev().find(|r| r.seq == self.seq) {
            r.finished = Some(now);
        }
    }
}

/// The strong ETag of a body: quoted hex of its SHA-256.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(body)))
}

/// Whether `If-None-Match` names this ETag. Accepts lists, `*`, and weak (`W/`) forms, since
/// clients echo back whatever form the server sent.
fn if_none_match_hits(header: Option<&str>, etag: &str) -> bool {
    let Some(header) = header else { return false };
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.trim_start_matches("W/") == etag.trim_start_matches("W/")
    })
}

struct ParsedRequest {
    method: Method,
    path: String,
    query: String,
    presented: Presented,
    if_none_match: Option<String>,
    body: Bytes,
    headers: Vec<(String, String)>,
}

async fn read_request(req: Request<Incoming>) -> ParsedRequest {
    let (parts, body) = req.into_parts();
    // A body that fails mid-read comes from a client that went away; treat it as empty.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header_str = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    ParsedRequest {
        headers,
        presented: Presented::parse(header_str(header::AUTHORIZATION).as_deref()),
        if_none_match: header_str(header::IF_NONE_MATCH),
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        body,
    }
}

async fn handle(
    state: Shared,
    reset: Arc<AtomicBool>,
    door: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionReset> {
    let started = Instant::now();
    let seq = {
        let mut st = lock(&state);
        st.next_request += 1;
        st.next_request
    };
    let _finish = Finish {
        state: state.clone(),
        seq,
    };
    let req = read_request(req).await;
    let now = clock::now();
    let path_and_query = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let body_json: Option<Value> = if req.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&req.body).ok()
    };
    let record = |status: u16,
                  installation: Option<u64>,
                  not_modified: bool,
                  fault: Option<faults::FaultKind>| {
        RecordedRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            status,
            installation,
            not_modified,
            auth: req.presented.kind(),
            fault,
            body: body_json.clone(),
            headers: req.headers.clone(),
            door: door.to_string(),
            seq,
            started,
            finished: None,
        }
    };

    // Admission: who is asking, whether a fault applies, and concurrency accounting.
    let (fault, action, latency, hint, _in_flight, request_id) = {
        let mut st = lock(&state);
        let hint = routes::installation_hint(&st, &req.path, &req.presented, now);
        let in_flight = hint.map(|i| InFlight::enter(&mut st, state.clone(), i));
        let fault = faults::take(&mut st.faults, &req.method, &path_and_query);
        let action = fault.as_ref().map(|kind| {
            let quota = hint
                .and_then(|i| st.installations.get(&i))
                .map(|inst| (&inst.quota, inst.id));
            faults::action(kind, quota, now)
        });
        let latency = st.latency + st.door_latency.get(&*door).copied().unwrap_or_default();
        (
            fault,
            action,
            latency,
            hint,
            in_flight,
            st.requests.len() as u64,
        )
    };

    let mut extra_delay = Duration::ZERO;
    let mut truncate = false;
    match action {
        Some(FaultAction::Reset) => {
            lock(&state).requests.push(record(0, hint, false, fault));
            tokio::time::sleep(latency).await;
            reset.store(true, Ordering::SeqCst);
            return Err(ConnectionReset);
        }
        Some(FaultAction::Respond(reply)) => {
            lock(&state)
                .requests
                .push(record(reply.status, hint, false, fault));
            tokio::time::sleep(latency).await;
            return Ok(reply.into_response(request_id));
        }
        Some(FaultAction::Delay(d)) => extra_delay = d,
        Some(FaultAction::TruncateBody) => truncate = true,
        None => {}
    }

    let reply = {
        let mut st = lock(&state);
        let query = Query::parse(&req.query);
        let ctx = Ctx {
            method: &req.method,
            path: &req.path,
            query: &query,
            presented: &req.presented,
            body: &req.body,
        };
        let outcome = routes::dispatch(&mut st, &ctx, now);
        let mut reply = outcome.reply;
        let mut not_modified = false;
        if req.method == Method::GET && reply.status == 200 {
            let etag = etag_of(&reply.body);
            if if_none_match_hits(req.if_none_match.as_deref(), &etag) {
                not_modified = true;
                reply = Reply {
                    status: 304,
                    body: Vec::new(),
                    headers: Vec::new(),
                };
            }
            reply.header("etag", &etag);
        }
        if let Some(key) = outcome.quota {
            let quota = match key {
                QuotaKey::App => Some(&mut st.app_quota),
                QuotaKey::Installation(id) => st.installations.get_mut(&id).map(|i| &mut i.quota),
            };
            if let Some(q) = quota {
                // A 304 answer to a conditional request is free, as on GitHub.
                if !not_modified {
                    q.remaining = q.remaining.saturating_sub(1);
                }
                let (limit, remaining, reset_at) = (q.limit, q.remaining, q.reset);
                reply.set_rate_limit_headers(limit, remaining, reset_at);
            }
        }
        if truncate {
            let half = reply.body.len() / 2;
            reply.body.truncate(half);
        }
        st.requests.push(record(
            reply.status,
            outcome.installation,
            not_modified,
            fault,
        ));
        reply
    };
    tokio::time::sleep(latency + extra_delay).await;
    Ok(reply.into_response(request_id))
}
