//! The doctor's checks that ask GitHub: the App's JWT, its webhook configuration, each
//! installation, each organisation's floor and each repository's policy.

use std::sync::Arc;
use std::time::Duration;

use super::Report;
use crate::app::{WhenNoPolicy, usable_policy};
use crate::github::app_auth::{
    HookConfig, InstallationInfo, InstalledRepo, Proof, hook_config, installations,
    installed_repositories,
};
use crate::github::policy_source::{PolicyCache, PolicyLookup, load_default_branch};
use crate::github::teams::{TeamCache, members};
use crate::github::{GitHub, RepoName};
use crate::metrics::Metrics;
use crate::policy::{Policy, PolicyErrors};
use crate::server::config::Config;

/// What an installation must grant for the gate to work, and why.
const NEEDED: &[(&str, &str, &str)] = &[
    ("checks", "write", "to write the check run"),
    ("pull_requests", "read", "to read pull requests and reviews"),
    ("contents", "read", "to read the policy file"),
    ("metadata", "read", "granted to every App"),
];

/// Below this many requests left in an installation's hour, doctor stops reading policies:
/// the running App needs them more.
const QUOTA_FLOOR: u64 = 500;

pub(super) async fn checks(config: &Config, report: &mut Report<'_>) {
    let github = match GitHub::new(config.client_settings(0), Arc::new(Metrics::new())) {
        Ok(github) => Arc::new(github),
        Err(e) => {
            report.fail("github", format!("cannot set up the GitHub client: {e}"));
            return;
        }
    };
    if !app_accepted(config, &github, report).await {
        report.skip("webhook", "needs GitHub to accept the App's JWT");
        report.skip("installations", "need GitHub to accept the App's JWT");
        return;
    }
    match hook_config(&github).await {
        Ok(hook) => webhook(&hook, report),
        // GitHub just accepted the JWT, so this is a GitHub (Enterprise Server) that does not
        // answer this route, or a passing fault: not a reason to fail a deployment that works.
        Err(e) => report.warn(
            "webhook",
            format!("could not read the App's webhook configuration (GET /app/hook/config): {e}; check the Webhook URL, content type (JSON) and secret in the App's settings yourself"),
        ),
    }
    let all: Vec<InstallationInfo> = match installations(&github).await {
        Ok(all) => all,
        Err(e) => {
            report.fail(
                "installations",
                format!("cannot list the App's installations (GET /app/installations): {e}"),
            );
            return;
        }
    };
    if all.is_empty() {
        report.fail(
            "installations",
            "the App is installed nowhere: on the App's page, Install App on the organisation (all repositories, or those to gate)",
        );
        return;
    }
    let doctor = Doctor {
        config,
        github,
        policies: PolicyCache::default(),
        teams: TeamCache::new(Duration::from_secs(600)),
    };
    for installation in &all {
        doctor.installation(installation, report).await;
    }
}

/// `GET /app` with the App's JWT: GitHub's answer to the App ID and private key together.
async fn app_accepted(config: &Config, github: &GitHub, report: &mut Report<'_>) -> bool {
    match github.prove_credentials().await {
        Proof::Accepted { id, slug } => {
            report.pass(
                "app",
                format!("GitHub accepted the App's JWT (GET /app): {slug}, App ID {id}"),
            );
            true
        }
        Proof::Refused { message } => {
            report.fail(
                "app",
                format!(
                    "GitHub refused the App's JWT (401 {message}): REVIEWGATE_APP_ID {} and the private key in {} are not a pair; check the App ID on the App's settings page, that the key was generated for this App and not deleted there, and that this machine's clock is right",
                    config.app_id, config.private_key_setting
                ),
            );
            false
        }
        Proof::Unknown { error } => {
            report.fail(
                "app",
                format!(
                    "could not ask GitHub at {} (REVIEWGATE_GITHUB_API_URL): {error}; check the URL and that this machine can reach it (proxy, firewall, egress to TCP 443)",
                    config.github_api_url
                ),
            );
            false
        }
    }
}

/// A URL as it may be printed: scheme, host, port and path; never a user, password, query or
/// fragment, where webhook relays keep their keys.
fn printable(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            format!(
                "{}://{}{}",
                uri.scheme_str().unwrap_or("?"),
                uri.host().unwrap_or("?"),
                uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
            ) + uri.path()
        }
        Err(_) => "(a URL that does not parse)".to_string(),
    }
}

/// Where GitHub sends deliveries: a URL, JSON bodies, and a secret to sign them with.
fn webhook(hook: &HookConfig, report: &mut Report<'_>) {
    let raw = hook.url.as_deref().unwrap_or("").trim();
    if raw.is_empty() {
        report.fail(
            "webhook",
            "the App has no webhook URL: set it in the App's settings (General → Webhook URL) to https://YOUR-HOST/webhook, and tick Active",
        );
        return;
    }
    let url = printable(raw);
    let content_type = hook.content_type.as_deref().unwrap_or("json");
    if content_type != "json" {
        report.fail(
            "webhook",
            format!(
                "GitHub sends deliveries to {url} as {content_type:?}; reviewgate reads JSON: set the App's webhook content type to application/json"
            ),
        );
        return;
    }
    if !hook.secret_set {
        report.fail(
            "webhook",
            format!(
                "GitHub signs deliveries to {url} with no secret, and reviewgate refuses unsigned ones: set the App's webhook secret to the value of REVIEWGATE_WEBHOOK_SECRET"
            ),
        );
        return;
    }
    let mut caveats = Vec::new();
    if !raw.starts_with("https://") {
        caveats.push("the URL is not https://, so deliveries travel unencrypted".to_string());
    } else if match &hook.insecure_ssl {
        Some(serde_json::Value::String(s)) => s == "1",
        Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    } {
        caveats.push("SSL verification is off in the App's settings; turn it on".to_string());
    }
    report.pass_unless(
        "webhook",
        format!(
            "GitHub sends deliveries to {url} as JSON, signed with a secret (GitHub cannot show it: deliveries answered 2xx in Recent Deliveries prove it matches REVIEWGATE_WEBHOOK_SECRET)"
        ),
        &caveats,
    );
}

/// Whether the installation granted `permission` at `level` or above.
fn grants(installation: &InstallationInfo, permission: &str, level: &str) -> bool {
    match installation.permissions.get(permission).map(String::as_str) {
        Some("write") | Some("admin") => true,
        Some("read") => level == "read",
        _ => false,
    }
}

/// Whether the installation lists its permissions and lacks `permission` at `level`. One
/// listed without permissions says nothing about them: only what is listed and lacking fails.
fn lacks(installation: &InstallationInfo, permission: &str, level: &str) -> bool {
    !installation.permissions.is_empty() && !grants(installation, permission, level)
}

/// The permissions the gate needs that the installation lacks, each with why.
fn lacking_permissions(installation: &InstallationInfo) -> Vec<String> {
    let mut missing: Vec<String> = NEEDED
        .iter()
        .filter(|(permission, level, _)| lacks(installation, permission, level))
        .map(|(permission, level, why)| format!("{permission}: {level} ({why})"))
        .collect();
    if installation.is_organisation() && lacks(installation, "members", "read") {
        missing.push("members: read (to resolve the teams a policy names)".into());
    }
    missing
}

/// The events the App handles that the installation lists as not subscribed (none when it
/// lists no events at all).
fn unsubscribed_events(installation: &InstallationInfo) -> Vec<&'static str> {
    if installation.events.is_empty() {
        return Vec::new();
    }
    crate::app::events::HANDLED
        .iter()
        .copied()
        .filter(|e| !installation.events.iter().any(|have| have == e))
        .collect()
}

/// An organisation's floor as the App would use it.
enum Floor {
    /// None to apply: no organisation, no policy repository visible, or no file in it.
    None,
    Valid(String),
    /// Invalid or unreadable: every PR in the organisation fails (its own line says so).
    Broken,
}

/// What the GitHub checks share.
struct Doctor<'a> {
    config: &'a Config,
    github: Arc<GitHub>,
    policies: PolicyCache,
    teams: TeamCache,
}

impl Doctor<'_> {
    async fn installation(&self, installation: &InstallationInfo, report: &mut Report<'_>) {
        let account = installation.account_name();
        let name = format!("installation {} ({account})", installation.id);
        if let Some(since) = &installation.suspended_at {
            report.fail(
                &name,
                format!("suspended since {since}: GitHub issues it no tokens; an owner of {account} must unsuspend the App (Settings → GitHub Apps)"),
            );
            return;
        }
        let missing = lacking_permissions(installation);
        if !missing.is_empty() {
            report.fail(
                &name,
                format!(
                    "has not granted {}; an owner of {account} must accept the App's permissions (Settings → GitHub Apps → Configure)",
                    missing.join(", ")
                ),
            );
            return;
        }
        let repos: Vec<InstalledRepo> = match installed_repositories(&self.github, installation.id)
            .await
        {
            Ok(repos) => repos,
            Err(e) => {
                report.fail(
                        &name,
                        format!("no token, or the token cannot list the installation's repositories: {e}; if the App was uninstalled or its key revoked, reinstall it or generate a new key"),
                    );
                return;
            }
        };
        let archived = repos.iter().filter(|r| r.archived).count();
        let listed = format!(
            "token issued; {} repositories ({archived} archived, not checked)",
            repos.len()
        );
        let unsubscribed = unsubscribed_events(installation);
        if !unsubscribed.is_empty() {
            report.fail(
                &name,
                format!(
                    "{listed}; but the App is not subscribed to {}: those events never arrive; tick them in the App's settings (Permissions & events), then each installation accepts",
                    unsubscribed.join(", ")
                ),
            );
        } else if lacks(installation, "merge_queues", "read") {
            report.warn(
                &name,
                format!("{listed}; but it has not granted merge_queues: read, so a merge queue that requires the check waits for a verdict that never comes"),
            );
        } else {
            report.pass(&name, listed);
        }
        let floor = if installation.is_organisation() {
            self.floor(installation, &repos, report).await
        } else {
            Floor::None
        };
        let live: Vec<&InstalledRepo> = repos.iter().filter(|r| !r.archived).collect();
        self.policies_within_quota(installation, &live, &floor, report)
            .await;
    }

    /// Each repository's policy, while the installation has quota to spare for it.
    async fn policies_within_quota(
        &self,
        installation: &InstallationInfo,
        repos: &[&InstalledRepo],
        floor: &Floor,
        report: &mut Report<'_>,
    ) {
        for (i, repo) in repos.iter().enumerate() {
            let left = self.github.metrics().rate_limit_of(installation.id);
            if let Some(left) = left.filter(|left| *left < QUOTA_FLOOR) {
                report.skip(
                    &format!(
                        "policy ({} more repositories of {})",
                        repos.len() - i,
                        installation.account_name()
                    ),
                    format!("the installation has {left} requests left this hour and the App needs them; run doctor again later"),
                );
                return;
            }
            self.policy(installation.id, repo, floor, report).await;
        }
    }

    /// The organisation's floor, read as the App reads it: from the policy repository's
    /// default branch, if the installation can see that repository.
    async fn floor(
        &self,
        installation: &InstallationInfo,
        repos: &[InstalledRepo],
        report: &mut Report<'_>,
    ) -> Floor {
        let org = installation.account_name();
        let check = format!("floor {org}");
        let full = format!("{org}/{}", self.config.org_policy_repo);
        let visible = repos
            .iter()
            .any(|r| r.full_name.eq_ignore_ascii_case(&full));
        let Some(name) = RepoName::parse(&full).filter(|_| visible) else {
            report.pass(
                &check,
                format!("no organisation floor: {full} is not visible to the App (if it holds a floor policy, install the App on it too)"),
            );
            return Floor::None;
        };
        let path = &self.config.policy_path;
        let origin = format!("{full}:{path}");
        let lookup = load_default_branch(
            &self.github,
            &self.policies,
            installation.id,
            &name,
            path,
            &origin,
        )
        .await;
        match lookup {
            Ok(PolicyLookup::Missing) => {
                report.pass(
                    &check,
                    format!("no organisation floor ({full} has no {path} on its default branch)"),
                );
                Floor::None
            }
            Ok(PolicyLookup::Found { file, .. }) => {
                match usable_policy(&file.policy, &name, &origin) {
                    Ok(_) => {
                        report.pass(&check, format!("{origin} is a valid floor"));
                        Floor::Valid(origin)
                    }
                    Err(errors) => {
                        report.fail(
                        &check,
                        format!(
                            "the floor is invalid: {}; every pull request in {org} fails until it is fixed",
                            first_error(&errors)
                        ),
                    );
                        Floor::Broken
                    }
                }
            }
            Err(e) => {
                report.fail(&check, format!("cannot read {origin}: {e}"));
                Floor::Broken
            }
        }
    }

    async fn policy(
        &self,
        installation: u64,
        repo: &InstalledRepo,
        floor: &Floor,
        report: &mut Report<'_>,
    ) {
        let check = format!("policy {}", repo.full_name);
        let Some(name) = RepoName::parse(&repo.full_name) else {
            report.fail(
                &check,
                "GitHub listed a repository name that is not OWNER/REPO",
            );
            return;
        };
        let path = &self.config.policy_path;
        let branch = if repo.default_branch.is_empty() {
            "its default branch".to_string()
        } else {
            repo.default_branch.clone()
        };
        let origin = format!("{name}:{path}");
        let lookup = load_default_branch(
            &self.github,
            &self.policies,
            installation,
            &name,
            path,
            &origin,
        )
        .await;
        let file = match lookup {
            Ok(PolicyLookup::Found { file, .. }) => file,
            Ok(PolicyLookup::Missing) => {
                self.missing(&check, path, &branch, floor, report);
                return;
            }
            Err(e) => {
                report.fail(&check, format!("cannot read {path} on {branch}: {e}"));
                return;
            }
        };
        // As the App judges it: valid, and naming only teams of the repository's owner.
        let policy = match usable_policy(&file.policy, &name, &origin) {
            Ok(policy) => policy,
            Err(errors) => {
                report.fail(
                    &check,
                    format!(
                        "{path} on {branch} is invalid: {}; every pull request into {branch} fails until it is fixed",
                        first_error(&errors)
                    ),
                );
                return;
            }
        };
        let (absent, empty) = match self.team_problems(installation, policy).await {
            Ok(found) => found,
            Err(e) => {
                report.fail(
                    &check,
                    format!("cannot read the members of the teams {path} names: {e}"),
                );
                return;
            }
        };
        if !absent.is_empty() {
            report.fail(
                &check,
                format!(
                    "{path} on {branch} names {}, which does not exist or the App cannot see: nobody can approve through it; fix the name, or grant the App Members: read",
                    absent.join(", ")
                ),
            );
            return;
        }
        let mut caveats: Vec<String> = empty
            .iter()
            .map(|team| format!("team {team} has no members"))
            .collect();
        let warnings = file
            .text
            .as_deref()
            .map(|text| crate::policy::warnings(text, policy).len())
            .unwrap_or(0);
        if warnings > 0 {
            caveats.push(format!(
                "it has {warnings} warnings (run `reviewgate check` on it)"
            ));
        }
        report.pass_unless(&check, format!("{path} on {branch} is valid"), &caveats);
    }

    /// No policy file: the floor governs, or the PRs fail, or get no check.
    fn missing(
        &self,
        check: &str,
        path: &str,
        branch: &str,
        floor: &Floor,
        report: &mut Report<'_>,
    ) {
        match (floor, self.config.when_no_policy) {
            (Floor::Valid(origin), _) => report.pass(
                check,
                format!("no {path} on {branch}: its pull requests are judged by the organisation floor {origin} alone"),
            ),
            (Floor::Broken, _) => report.fail(
                check,
                format!("no {path} on {branch}, and the organisation floor is broken (see its line): every pull request into it fails"),
            ),
            (Floor::None, WhenNoPolicy::Fail) => report.fail(
                check,
                format!("no {path} on {branch}: every pull request into it fails (\"No review policy\") until one is committed; or, for a repository you do not gate, set REVIEWGATE_WHEN_NO_POLICY=skip"),
            ),
            (Floor::None, WhenNoPolicy::Skip) => report.pass(
                check,
                format!("no {path} on {branch}; its pull requests get no check (REVIEWGATE_WHEN_NO_POLICY=skip)"),
            ),
        }
    }

    /// The teams a policy names that do not exist (or the App cannot see), and those without
    /// members.
    async fn team_problems(
        &self,
        installation: u64,
        policy: &Policy,
    ) -> Result<(Vec<String>, Vec<String>), crate::github::GitHubError> {
        let (mut absent, mut empty) = (Vec::new(), Vec::new());
        for team in policy.teams() {
            match members(&self.github, &self.teams, installation, &team).await? {
                None => absent.push(team.to_string()),
                Some(people) if people.is_empty() => empty.push(team.to_string()),
                Some(_) => {}
            }
        }
        Ok((absent, empty))
    }
}

/// The first diagnostic, `origin:line:column: message`, and how many more there are.
fn first_error(errors: &PolicyErrors) -> String {
    let text = errors.to_string();
    let first = text.lines().next().unwrap_or("");
    match errors.diagnostics.len().saturating_sub(1) {
        0 => first.to_string(),
        more => format!("{first} (and {more} more)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_printed_without_credentials_query_or_fragment() {
        assert_eq!(
            printable("https://user:pw@relay.example:8443/hooks/x?code=SECRET#frag"),
            "https://relay.example:8443/hooks/x"
        );
        assert_eq!(
            printable("https://gate.example/webhook"),
            "https://gate.example/webhook"
        );
        assert_eq!(printable("not a url at all"), "(a URL that does not parse)");
    }
}
