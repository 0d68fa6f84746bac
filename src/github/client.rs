//! Every request the App makes to GitHub goes through [`GitHub::send`]: installation
//! authentication (through octocrab, one client per installation so its token cache is
//! shared), a per-installation concurrency limit, conditional requests, metrics, and
//! retries with jittered backoff under a deadline.
//!
//! octocrab's own retry layer is compiled out because it re-sends POSTs; here only
//! idempotent requests are retried after an ambiguous failure, while any request is
//! retried after GitHub says it was rate limited (GitHub did not act on it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::conditional::{ConditionalCache, Kept};
pub use super::error::GitHubError;
use super::outages::Outages;
use super::retry::{backoff, header_u64, jitter, rate_limit_wait};
use crate::metrics::Metrics;

/// Who a request is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The App itself (JWT): `/app/...` routes.
    App,
    /// An installation (installation access token).
    Installation(u64),
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    pub auth: Auth,
    pub method: Method,
    /// Path and query, relative to the API base (e.g. `/repos/o/r/pulls/1`).
    pub path: String,
    /// The route template, for metrics and messages (e.g. `GET /repos/{owner}/{repo}/pulls/{number}`).
    pub endpoint: &'static str,
    pub body: Option<serde_json::Value>,
    /// Send `If-None-Match` with the ETag of the last answer and reuse that answer on 304.
    pub conditional: bool,
}

impl Request {
    pub fn get(auth: Auth, endpoint: &'static str, path: String) -> Request {
        Request {
            auth,
            method: Method::GET,
            path,
            endpoint,
            body: None,
            conditional: false,
        }
    }

    pub fn conditional(mut self) -> Request {
        self.conditional = true;
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Served from the conditional-request cache after GitHub answered 304.
    pub not_modified: bool,
    pub endpoint: &'static str,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|e| GitHubError::Malformed {
            endpoint: self.endpoint,
            detail: e.to_string(),
        })
    }

    /// GitHub's clock at the time of the answer (`Date` header), as Unix seconds.
    pub fn server_time(&self) -> Option<u64> {
        super::time::parse_http_date(self.headers.get(http::header::DATE)?.to_str().ok()?)
    }

    /// Whether the `Link` header announces a next page.
    pub fn has_next_page(&self) -> bool {
        self.headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|link| link.split(';').skip(1).any(|p| p.trim() == "rel=\"next\""))
    }
}

/// Tuning of [`GitHub`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub api_url: String,
    pub app_id: u64,
    /// Never printed: `SecretString`'s `Debug` shows a placeholder.
    pub private_key_pem: secrecy::SecretString,
    pub timeout: Duration,
    pub retry_deadline: Duration,
    pub concurrency_per_installation: usize,
    /// Bytes of answers kept for conditional requests.
    pub conditional_cache_bytes: usize,
}

struct InstallationClient {
    client: Octocrab,
    permits: Arc<Semaphore>,
}

/// The App's connection to GitHub's REST API.
pub struct GitHub {
    /// The App-authenticated (JWT) client.
    app: Arc<InstallationClient>,
    settings: ClientSettings,
    installations: Mutex<HashMap<u64, Arc<InstallationClient>>>,
    conditional: Mutex<ConditionalCache>,
    metrics: Arc<Metrics>,
    /// Failing endpoints, for one log line per outage instead of one per attempt.
    outages: Outages,
}

/// Why one attempt failed.
enum Failure {
    /// An answer with a status we do not accept.
    Answer(u16, HeaderMap, Bytes),
    Timeout,
    Transport(String),
}

impl GitHub {
    /// Builds the client. Fails if the key cannot sign a JWT, so a bad key or a broken crypto
    /// backend stops start-up instead of the first evaluation.
    pub fn new(settings: ClientSettings, metrics: Arc<Metrics>) -> Result<GitHub, String> {
        use secrecy::ExposeSecret;
        let key = octocrab::EncodingKey::from_rsa_pem(
            settings.private_key_pem.expose_secret().as_bytes(),
        )
        .map_err(|_| "the private key is not an RSA private key in PEM form".to_string())?;
        octocrab::auth::create_jwt(AppId(settings.app_id), &key)
            .map_err(|e| format!("cannot sign a JWT with the private key: {e}"))?;
        let app = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|e| format!("invalid GitHub API URL: {e}"))?
            .app(AppId(settings.app_id), key)
            // Through octocrab's extra-headers layer, on every request it sends, the token
            // exchanges it makes by itself included. Requests are built by `outgoing`, not by
            // octocrab's `_get`/`_post`, which add the header a second time.
            .add_header(
                http::HeaderName::from_static("x-github-api-version"),
                API_VERSION.to_string(),
            )
            .set_connect_timeout(Some(settings.timeout))
            // No read timeout: each exchange has its own deadline in `attempt`, which can
            // tell a timeout from a connection failure (and counts them apart).
            .build()
            .map_err(|e| format!("cannot build the GitHub client: {e}"))?;
        let conditional = ConditionalCache::with_budget(settings.conditional_cache_bytes);
        Ok(GitHub {
            app: Arc::new(InstallationClient {
                client: app,
                permits: Arc::new(Semaphore::new(settings.concurrency_per_installation)),
            }),
            settings,
            installations: Mutex::new(HashMap::new()),
            conditional: Mutex::new(conditional),
            metrics,
            outages: Outages::default(),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.settings.app_id
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The client for an installation: created once and kept, because octocrab caches the
    /// installation token inside each client value.
    fn installation(&self, id: u64) -> Result<Arc<InstallationClient>, String> {
        let mut map = self
            .installations
            .lock()
            .map_err(|_| "installation clients lock poisoned".to_string())?;
        if let Some(c) = map.get(&id) {
            return Ok(c.clone());
        }
        let client = self
            .app
            .client
            .installation(InstallationId(id))
            .map_err(|e| format!("cannot create installation client: {e}"))?;
        let c = Arc::new(InstallationClient {
            client,
            permits: Arc::new(Semaphore::new(self.settings.concurrency_per_installation)),
        });
        map.insert(id, c.clone());
        Ok(c)
    }

    /// Sends a request, retrying as described in the module documentation.
    pub async fn send(&self, request: &Request) -> Result<Response, GitHubError> {
        let started = Instant::now();
        let deadline = started + self.settings.retry_deadline;
        let idempotent = request.method != Method::POST;
        let endpoint = request.endpoint;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self.attempt(request, deadline).await {
                Ok(response) => {
                    self.outages.answered(endpoint);
                    return Ok(response);
                }
                Err(f) => f,
            };
            let last = describe(&failure);
            let give_up = |error: GitHubError| {
                self.outages
                    .gave_up(endpoint, attempts, started.elapsed(), &last);
                Err(error)
            };
            let wait = match &failure {
                Failure::Answer(status, headers, body) => {
                    if let Some(wait) = rate_limit_wait(*status, headers, body) {
                        let reason =
                            if *status == 429 || headers.contains_key(http::header::RETRY_AFTER) {
                                "secondary_rate_limit"
                            } else {
                                "rate_limited"
                            };
                        self.outages.failed(
                            endpoint,
                            &format!("{last} ({reason}; waiting {} ms)", wait.as_millis()),
                            attempts,
                        );
                        if Instant::now() + wait > deadline {
                            return give_up(GitHubError::RateLimited {
                                endpoint,
                                wait_secs: wait.as_secs(),
                            });
                        }
                        self.metrics.github_retry(reason);
                        tokio::time::sleep(wait + jitter(Duration::from_millis(250))).await;
                        continue;
                    }
                    if *status < 500 {
                        // An answer: the endpoint works, whatever it said about this request.
                        self.outages.answered(endpoint);
                        return Err(GitHubError::Status {
                            endpoint,
                            status: *status,
                            message: error_message(body),
                        });
                    }
                    self.outages.failed(endpoint, &last, attempts);
                    if !idempotent {
                        return give_up(GitHubError::Ambiguous {
                            endpoint,
                            last: format!("status {status}"),
                        });
                    }
                    self.metrics.github_retry("server_error");
                    backoff(attempts)
                }
                Failure::Timeout | Failure::Transport(_) => {
                    self.outages.failed(endpoint, &last, attempts);
                    if !idempotent {
                        return give_up(GitHubError::Ambiguous {
                            endpoint,
                            last: last.clone(),
                        });
                    }
                    self.metrics
                        .github_retry(if matches!(failure, Failure::Timeout) {
                            "timeout"
                        } else {
                            "connection"
                        });
                    backoff(attempts)
                }
            };
            if Instant::now() + wait > deadline {
                return give_up(GitHubError::Unavailable {
                    endpoint,
                    attempts,
                    last: last.clone(),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a request once, without retries: for checks repeated on their own schedule.
    /// An error answer below 500 is [`GitHubError::Status`]; anything else (5xx, timeout,
    /// connection failure) is [`GitHubError::Unavailable`].
    pub async fn send_once(&self, request: &Request) -> Result<Response, GitHubError> {
        let deadline = Instant::now() + self.settings.timeout;
        self.attempt(request, deadline)
            .await
            .map_err(|failure| match failure {
                Failure::Answer(status, _, body) if status < 500 => GitHubError::Status {
                    endpoint: request.endpoint,
                    status,
                    message: error_message(&body),
                },
                other => GitHubError::Unavailable {
                    endpoint: request.endpoint,
                    attempts: 1,
                    last: describe(&other),
                },
            })
    }

    async fn attempt(&self, request: &Request, deadline: Instant) -> Result<Response, Failure> {
        // Never clone an octocrab client: a clone copies the token cache, so a token fetched
        // through the copy would be lost and every request would fetch a new one.
        let target = match request.auth {
            Auth::App => self.app.clone(),
            Auth::Installation(id) => self.installation(id).map_err(Failure::Transport)?,
        };
        let client = &target.client;
        let _permit = target
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Failure::Transport("shutting down".into()))?;
        let cache_key = GitHub::cache_key(request);
        let cached = if request.conditional {
            self.conditional.lock().ok().and_then(|c| c.get(&cache_key))
        } else {
            None
        };
        let etag = cached.as_ref().map(|kept| kept.etag.clone());
        let outgoing = outgoing(request, etag).map_err(Failure::Transport)?;
        let timeout = self.settings.timeout.min(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100)),
        );
        let exchange = async {
            let response = client.execute(outgoing).await;
            let response = response.map_err(octocrab_failure)?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Failure::Transport(transport_message(&e)))?
                .to_bytes();
            Ok::<_, Failure>((parts.status, parts.headers, body))
        };
        let (status, headers, body) = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                self.metrics.github_request(request.endpoint, 0);
                return Err(Failure::Timeout);
            }
            Ok(Err(f)) => {
                self.metrics.github_request(request.endpoint, 0);
                return Err(f);
            }
            Ok(Ok(answer)) => answer,
        };
        self.metrics
            .github_request(request.endpoint, status.as_u16());
        if let (Auth::Installation(id), Some(remaining)) =
            (request.auth, header_u64(&headers, "x-ratelimit-remaining"))
        {
            self.metrics.rate_limit_remaining(id, remaining);
        }
        if status == StatusCode::NOT_MODIFIED {
            if let Some(kept) = cached {
                // The page is unchanged, and so is where the next page is: a 304 need not
                // repeat `Link`, and without it a list would silently end at this page.
                let mut headers = headers;
                if let (false, Some(link)) = (headers.contains_key(http::header::LINK), kept.link) {
                    headers.insert(http::header::LINK, link);
                }
                return Ok(Response {
                    status: 200,
                    headers,
                    body: kept.body,
                    not_modified: true,
                    endpoint: request.endpoint,
                });
            }
            return Err(Failure::Answer(304, headers, body));
        }
        if !status.is_success() {
            return Err(Failure::Answer(status.as_u16(), headers, body));
        }
        if request.conditional {
            if let Some(etag) = headers.get(http::header::ETAG) {
                if let Ok(mut c) = self.conditional.lock() {
                    let link = headers.get(http::header::LINK).cloned();
                    c.put(
                        cache_key,
                        Kept {
                            etag: etag.clone(),
                            link,
                            body: body.clone(),
                        },
                    );
                }
            }
        }
        Ok(Response {
            status: status.as_u16(),
            headers,
            body,
            not_modified: false,
            endpoint: request.endpoint,
        })
    }

    /// Sends a GET and decodes its JSON. An answer that does not decode (a body cut off in
    /// transit) is dropped from the conditional cache and fetched again, twice at most.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        request: &Request,
    ) -> Result<(T, Response), GitHubError> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let response = self.send(request).await?;
            match response.json::<T>() {
                Ok(value) => return Ok((value, response)),
                Err(e) => {
                    self.forget_answer(request);
                    if attempts >= 3 || request.method != Method::GET {
                        return Err(e);
                    }
                    self.metrics.github_retry("malformed");
                    tracing::debug!(endpoint = request.endpoint, error = %e, "undecodable answer; reading again");
                    tokio::time::sleep(backoff(attempts)).await;
                }
            }
        }
    }

    fn cache_key(request: &Request) -> String {
        match request.auth {
            Auth::App => format!("app:{}", request.path),
            Auth::Installation(id) => format!("{id}:{}", request.path),
        }
    }

    /// Drops the kept answer to one request.
    fn forget_answer(&self, request: &Request) {
        let key = GitHub::cache_key(request);
        if let Ok(mut c) = self.conditional.lock() {
            c.remove(&key);
        }
    }

    /// Forgets every kept answer whose path starts with `prefix`, for every installation
    /// (used when a webhook says the data changed).
    pub fn forget_conditional(&self, path_prefix: &str) {
        if let Ok(mut c) = self.conditional.lock() {
            c.remove_where(|key| {
                key.split_once(':')
                    .is_some_and(|(_, path)| path.starts_with(path_prefix))
            });
        }
    }
}

/// The REST API version every request names (`X-GitHub-Api-Version`).
const API_VERSION: &str = "2022-11-28";

/// The HTTP request for `request`, relative to the API base (octocrab adds the base, the
/// credentials and `X-GitHub-Api-Version`).
fn outgoing(request: &Request, etag: Option<HeaderValue>) -> Result<http::Request<String>, String> {
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(request.path.as_str())
        .header(http::header::ACCEPT, "application/vnd.github+json");
    if let Some(etag) = etag {
        builder = builder.header(http::header::IF_NONE_MATCH, etag);
    }
    let body = match &request.body {
        Some(json) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            serde_json::to_string(json).map_err(|e| e.to_string())?
        }
        None => String::new(),
    };
    builder
        .body(body)
        .map_err(|e| format!("cannot build the request to {}: {e}", request.endpoint))
}

/// GitHub's `message` from an error body, or the start of the body.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => b.message,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// An octocrab error as a failure. octocrab reports GitHub's own error answers (for example
/// when exchanging the JWT for an installation token) as errors; those keep their status so a
/// 404 for an unknown installation is not retried like a network fault.
fn octocrab_failure(e: octocrab::Error) -> Failure {
    if let octocrab::Error::GitHub { source, .. } = &e {
        let body = serde_json::to_vec(&serde_json::json!({ "message": source.message }))
            .unwrap_or_default();
        return Failure::Answer(
            source.status_code.as_u16(),
            source.headers.clone().unwrap_or_default(),
            Bytes::from(body),
        );
    }
    Failure::Transport(transport_message(&e))
}

/// An octocrab error as one line, without anything that could hold a token.
fn transport_message(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    let line = s.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}

fn describe(f: &Failure) -> String {
    match f {
        Failure::Answer(status, _, body) => format!("status {status}: {}", error_message(body)),
        Failure::Timeout => "timed out".into(),
        Failure::Transport(e) => e.clone(),
    }
}

/// Percent-encodes a value for a URL query string or path segment.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a repository file path, keeping its `/` separators.
pub fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
