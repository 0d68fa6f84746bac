//! Whether GitHub accepts the App's credentials: `GET /app` signed with the App's JWT (App ID
//! and private key). GitHub answers 401 alike for a wrong App ID and a wrong key.

use serde::Deserialize;

use super::{Auth, GitHub, GitHubError, Request};

/// What GitHub said about the App's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// GitHub knows the App by these credentials.
    Accepted { id: u64, slug: String },
    /// 401: the App ID or the private key is wrong (or the key was revoked).
    Refused { message: String },
    /// No verdict: GitHub unreachable, 5xx, rate limited, or an unexpected answer.
    Unknown { error: String },
}

#[derive(Deserialize)]
struct App {
    id: u64,
    #[serde(default)]
    slug: Option<String>,
}

impl GitHub {
    /// Asks GitHub once (no retries) whether it accepts the App's credentials.
    pub async fn prove_credentials(&self) -> Proof {
        let request = Request::get(Auth::App, "GET /app", "/app".to_string());
        let response = match self.send_once(&request).await {
            Ok(response) => response,
            Err(GitHubError::Status {
                status: 401,
                message,
                ..
            }) => return Proof::Refused { message },
            Err(e) => {
                return Proof::Unknown {
                    error: e.to_string(),
                };
            }
        };
        match response.json::<App>() {
            Ok(app) => Proof::Accepted {
                id: app.id,
                slug: app.slug.unwrap_or_default(),
            },
            Err(e) => Proof::Unknown {
                error: e.to_string(),
            },
        }
    }
}
