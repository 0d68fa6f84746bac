//! Whether GitHub accepts the App's credentials: `GET /app` signed with the App's JWT (App ID
//! and private key). GitHub answers 401 alike for a wrong App ID and a wrong key.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::pulls::{Listing, pages};
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

/// An installation of the App, as `GET /app/installations` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct InstallationInfo {
    pub id: u64,
    /// The organisation or user it belongs to (absent or null for some enterprise ones).
    #[serde(default)]
    pub account: Option<Account>,
    /// What the installation granted: `{"checks": "write", ...}`.
    #[serde(default)]
    pub permissions: std::collections::BTreeMap<String, String>,
    /// The webhook events the App is subscribed to.
    #[serde(default)]
    pub events: Vec<String>,
    /// Set while an owner has suspended the installation (GitHub then refuses its tokens).
    #[serde(default)]
    pub suspended_at: Option<String>,
}

impl InstallationInfo {
    /// The account's login (an enterprise's slug), or `?`.
    pub fn account_name(&self) -> &str {
        self.account
            .as_ref()
            .and_then(|a| a.login.as_deref().or(a.slug.as_deref()))
            .unwrap_or("?")
    }

    /// Whether it belongs to an organisation (which may have a floor and teams).
    pub fn is_organisation(&self) -> bool {
        self.account
            .as_ref()
            .is_some_and(|a| a.kind == "Organization")
    }
}

/// The account an installation belongs to.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub login: Option<String>,
    /// Enterprise accounts have a slug instead of a login.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// A repository an installation can see, as `GET /installation/repositories` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct InstalledRepo {
    pub full_name: String,
    #[serde(default)]
    pub default_branch: String,
    #[serde(default)]
    pub archived: bool,
}

/// Where GitHub sends the App's deliveries (`GET /app/hook/config`). GitHub shows a secret
/// that is set as `********`; only whether one is set is kept.
#[derive(Debug, Clone, Deserialize)]
pub struct HookConfig {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(rename = "secret", default, deserialize_with = "is_set")]
    pub secret_set: bool,
    /// `"0"` or `"1"`; GitHub documents a string or a number.
    #[serde(default)]
    pub insecure_ssl: Option<serde_json::Value>,
}

/// A string field that is present, not null and not empty.
fn is_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.is_some_and(|v| !v.is_empty()))
}

/// Every installation of the App, as `T` (the reconciliation sweep needs only the ID).
pub async fn installations<T: DeserializeOwned + Send + 'static>(
    gh: &Arc<GitHub>,
) -> Result<Vec<T>, GitHubError> {
    let listing = Listing {
        auth: Auth::App,
        endpoint: "GET /app/installations",
        path: "/app/installations".into(),
        field: None,
        max_items: None,
    };
    pages(gh, listing, 1).await
}

/// Every repository an installation can see; the first request needs the installation's
/// token, so this also proves GitHub issues one.
pub async fn installed_repositories<T: DeserializeOwned + Send + 'static>(
    gh: &Arc<GitHub>,
    installation: u64,
) -> Result<Vec<T>, GitHubError> {
    let listing = Listing {
        field: Some("repositories"),
        ..Listing::new(
            installation,
            "GET /installation/repositories",
            "/installation/repositories".into(),
        )
    };
    pages(gh, listing, 1).await
}

/// The App's webhook configuration on GitHub.
pub async fn hook_config(gh: &GitHub) -> Result<HookConfig, GitHubError> {
    let request = Request::get(Auth::App, "GET /app/hook/config", "/app/hook/config".into());
    Ok(gh.get_json::<HookConfig>(&request).await?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installations_of_any_account_kind_are_read() {
        let listed: Vec<InstallationInfo> = serde_json::from_value(serde_json::json!([
            {"id": 1, "account": {"login": "acme", "type": "Organization"}, "events": ["push"]},
            {"id": 2, "account": {"slug": "big-corp", "name": "Big Corp"}},
            {"id": 3, "account": null},
        ]))
        .expect("every installation reads");
        assert_eq!(listed[0].account_name(), "acme");
        assert!(listed[0].is_organisation());
        assert_eq!(listed[1].account_name(), "big-corp");
        assert!(!listed[1].is_organisation());
        assert_eq!(listed[2].account_name(), "?");
    }

    #[test]
    fn a_hook_secret_is_kept_only_as_whether_it_is_set() {
        let set: HookConfig =
            serde_json::from_value(serde_json::json!({"secret": "********", "url": "https://x"}))
                .expect("reads");
        assert!(set.secret_set);
        for unset in [
            serde_json::json!({}),
            serde_json::json!({"secret": null}),
            serde_json::json!({"secret": ""}),
        ] {
            let hook: HookConfig = serde_json::from_value(unset).expect("reads");
            assert!(!hook.secret_set);
        }
    }
}
