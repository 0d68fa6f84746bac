//! `reviewgate snapshot OWNER/REPO#N`: the snapshot the App would evaluate for a pull request,
//! read live from GitHub with the App's own settings, printed as JSON (pipe it to `reviewgate
//! evaluate --pr -`).

use std::io::Write;
use std::sync::Arc;

use serde::Deserialize;

use super::audit::block_on;
use super::{EXIT_INVALID, EXIT_OK};
use crate::app::durable::StoreSlot;
use crate::app::jobs::PrRef;
use crate::app::{App, AppSettings};
use crate::github::RepoName;
use crate::github::client::{Auth, GitHub, Request};
use crate::metrics::Metrics;
use crate::server::config::{Config, Settings};
use crate::store::Store;

/// Stands in for the webhook secret, which reading a pull request does not use.
const NO_SECRET: &str = "unused: reviewgate snapshot receives no webhooks";

#[derive(Deserialize)]
struct Id {
    id: u64,
}

pub(super) fn run(
    target: &str,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some((repo, number)) = parse_target(target) else {
        let _ = writeln!(
            err,
            "reviewgate: `{target}` is not OWNER/REPO#NUMBER (for example acme/ledger#123)"
        );
        return EXIT_INVALID;
    };
    let config = Config::from_lookup(|name| match settings.get(name) {
        None if name == "REVIEWGATE_WEBHOOK_SECRET" => Some(NO_SECRET.to_string()),
        value => value,
    });
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "reviewgate: {e}");
            return EXIT_INVALID;
        }
    };
    let gathered = block_on(gather(config, repo, number)).and_then(|r| r);
    match gathered {
        Ok((snapshot, pushers_known)) => {
            if !pushers_known {
                let _ = writeln!(
                    err,
                    "reviewgate: note: the store (REVIEWGATE_DATABASE_URL) could not be read, so `pushers` is empty; the App knows who pushed from webhooks"
                );
            }
            match serde_json::to_string_pretty(&snapshot) {
                Ok(json) => {
                    let _ = writeln!(out, "{json}");
                    EXIT_OK
                }
                Err(e) => {
                    let _ = writeln!(err, "reviewgate: cannot encode the snapshot: {e}");
                    EXIT_INVALID
                }
            }
        }
        Err(e) => {
            let _ = writeln!(err, "reviewgate: {e}");
            EXIT_INVALID
        }
    }
}

fn parse_target(target: &str) -> Option<(RepoName, u64)> {
    let (repo, number) = target.rsplit_once('#')?;
    Some((RepoName::parse(repo)?, number.parse().ok()?))
}

async fn gather(
    config: Config,
    repo: RepoName,
    number: u64,
) -> Result<(crate::snapshot::Snapshot, bool), String> {
    let metrics = Arc::new(Metrics::new());
    let github = Arc::new(GitHub::new(config.client_settings(0), metrics)?);
    let installation: Id = github
        .get_json(&Request::get(
            Auth::App,
            "GET /repos/{owner}/{repo}/installation",
            format!("{}/installation", repo.api_path()),
        ))
        .await
        .map(|(v, _)| v)
        .map_err(|e| format!("the App is not installed on {repo}, or cannot see it: {e}"))?;
    let repo_id: Id = github
        .get_json(&Request::get(
            Auth::Installation(installation.id),
            "GET /repos/{owner}/{repo}",
            repo.api_path(),
        ))
        .await
        .map(|(v, _)| v)
        .map_err(|e| format!("cannot read {repo}: {e}"))?;
    // Who pushed is known only to the store; a store that cannot be opened leaves it empty.
    let url = secrecy::ExposeSecret::expose_secret(&config.database_url).to_string();
    let store = match Store::open_existing(&url).await {
        Ok(store) => StoreSlot::with(store),
        Err(_) => StoreSlot::default(),
    };
    let app = App::new(
        github,
        Arc::new(store),
        AppSettings {
            check_name: config.check_name.clone(),
            policy_path: config.policy_path.clone(),
            org_policy_repo: config.org_policy_repo.clone(),
            reconcile_quota_share: config.reconcile_quota_share,
            team_cache_ttl: config.team_cache_ttl,
            when_no_policy: config.when_no_policy,
            workers: 1,
            lease: config.lease,
            debounce: config.debounce,
            github_timeout: config.github_timeout,
            queue_capacity: config.queue_capacity,
            preview_max_prs: config.preview_max_prs,
        },
    );
    app.snapshot_of(&PrRef {
        installation: installation.id,
        repo_id: repo_id.id,
        repo,
        number,
    })
    .await
}
