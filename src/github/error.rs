//! What went wrong talking to GitHub, as the rest of the App sees it.

/// What went wrong talking to GitHub.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitHubError {
    /// GitHub answered with an error status that retrying will not fix.
    #[error("GitHub answered {status} to {endpoint}: {message}")]
    Status {
        endpoint: &'static str,
        status: u16,
        message: String,
    },
    /// No usable answer before the deadline (5xx, timeouts, connection failures).
    #[error("GitHub did not answer {endpoint} successfully after {attempts} attempts: {last}")]
    Unavailable {
        endpoint: &'static str,
        attempts: u32,
        last: String,
    },
    /// Rate limited for longer than the deadline allows waiting.
    #[error("GitHub rate-limited {endpoint} for {wait_secs} s, longer than the retry deadline")]
    RateLimited {
        endpoint: &'static str,
        wait_secs: u64,
    },
    /// The answer did not have the shape GitHub documents.
    #[error("unexpected answer from GitHub to {endpoint}: {detail}")]
    Malformed {
        endpoint: &'static str,
        detail: String,
    },
    /// A non-idempotent request failed in a way that leaves unknown whether GitHub acted.
    #[error("GitHub's answer to {endpoint} was lost ({last}); it may or may not have been applied")]
    Ambiguous {
        endpoint: &'static str,
        last: String,
    },
}

impl GitHubError {
    /// Whether trying again later may succeed (GitHub down or busy), as opposed to an answer
    /// that will not change by itself (not found, forbidden).
    pub fn is_transient(&self) -> bool {
        !matches!(self, GitHubError::Status { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}
