//! Proving the App's credentials at start-up, and again every [`RETRY_EVERY`] until they work.
//!
//! Until GitHub accepts them, `/readyz` answers 503 (so a rollout with a wrong key or App ID
//! stalls with the old pods serving) while `/healthz` stays 200 and deliveries are still
//! accepted. A refusal (401) is logged once as an ERROR naming both settings, since GitHub
//! answers the same for a wrong App ID and a wrong key; other failures (network, 5xx) are
//! logged once as a WARN; repeats of the same failure go to debug, and success to INFO.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::github::GitHub;
use crate::github::app_auth::Proof;

/// How often the credentials are tried again while they do not work.
pub const RETRY_EVERY: Duration = Duration::from_secs(10);

const UNVERIFIED: u8 = 0;
const REFUSED: u8 = 1;
const VERIFIED: u8 = 2;
/// A failed try that says nothing about the credentials (network, 5xx).
const UNKNOWN: u8 = 3;

/// What is known about the App's credentials, for `/readyz`.
#[derive(Debug)]
pub struct Credentials(AtomicU8);

impl Default for Credentials {
    fn default() -> Credentials {
        Credentials(AtomicU8::new(UNVERIFIED))
    }
}

impl Credentials {
    /// Why the server is not ready, or `None` once GitHub has accepted the credentials.
    pub fn not_ready_because(&self) -> Option<&'static str> {
        match self.0.load(Ordering::Relaxed) {
            VERIFIED => None,
            REFUSED => Some(
                "GitHub refused the App's credentials (REVIEWGATE_APP_ID and the private key); see the log\n",
            ),
            _ => Some("the App's credentials are not verified with GitHub yet\n"),
        }
    }

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

/// Tries the credentials and logs what changed since the last try.
pub struct Prover {
    github: Arc<GitHub>,
    credentials: Arc<Credentials>,
    /// `REVIEWGATE_PRIVATE_KEY_PATH` or `REVIEWGATE_PRIVATE_KEY`, whichever was used.
    key_setting: &'static str,
    /// What the last failed try found, so a repeat is not logged again at its level.
    last_failure: Option<u8>,
}

impl Prover {
    pub fn new(
        github: Arc<GitHub>,
        credentials: Arc<Credentials>,
        key_setting: &'static str,
    ) -> Prover {
        Prover {
            github,
            credentials,
            key_setting,
            last_failure: None,
        }
    }

    /// One try; whether GitHub accepted the credentials.
    pub async fn try_once(&mut self) -> bool {
        match self.github.prove_credentials().await {
            Proof::Accepted { id, slug } => {
                self.credentials.set(VERIFIED);
                tracing::info!(app_id = id, app = %slug, "GitHub accepted the App's credentials; ready");
                true
            }
            Proof::Refused { message } => {
                self.credentials.set(REFUSED);
                self.refused(&message);
                false
            }
            Proof::Unknown { error } => {
                self.unknown(&error);
                false
            }
        }
    }

    fn refused(&mut self, message: &str) {
        let repeat = self.last_failure.replace(REFUSED) == Some(REFUSED);
        if repeat {
            tracing::debug!(%message, "GitHub still refuses the App's credentials");
            return;
        }
        tracing::error!(
            "GitHub refused the App's credentials (401: {message}): check REVIEWGATE_APP_ID and {}, GitHub answers the same for either being wrong; not ready until they work, trying again every {} s",
            self.key_setting,
            RETRY_EVERY.as_secs()
        );
    }

    fn unknown(&mut self, error: &str) {
        let repeat = self.last_failure.replace(UNKNOWN) == Some(UNKNOWN);
        if repeat {
            tracing::debug!(%error, "the App's credentials still cannot be checked");
            return;
        }
        tracing::warn!(
            %error,
            "cannot check the App's credentials with GitHub; not ready until they are checked, trying again every {} s",
            RETRY_EVERY.as_secs()
        );
    }

    /// Tries every [`RETRY_EVERY`] until the credentials work.
    pub async fn retry_until_accepted(mut self) {
        loop {
            tokio::time::sleep(RETRY_EVERY).await;
            if self.try_once().await {
                return;
            }
        }
    }
}
