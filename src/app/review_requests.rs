//! Asking for the reviews a blocked PR still needs (`settings.request_reviewers`): after the
//! PR is judged and before its check is written, so the summary can list every request. The
//! planning is pure ([`crate::evaluate::requests`]); this gathers what it needs (who is asked
//! now, whom the App asked before, whose request a person removed, who may approve, how busy
//! everyone is), sends the requests, and remembers them.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::aggregate::PrResult;
use super::check_output::cap;
use super::jobs::PrRef;
use super::{App, Outcome};
use crate::evaluate::requests::{Ask, Plan, RequestState, Reviewer, plan};
use crate::evaluate::{Requirement, Verdict};
use crate::github::types::PullRequest;
use crate::github::{permissions, review_requests};
use crate::policy::Policy;
use crate::store::{Store, StoredRequest, now_ms};

impl App {
    /// Requests reviews for a blocked PR whose policy asks for it, and lists every request the
    /// App made on it in `result`'s summary. Best effort: a request GitHub refuses is noted
    /// and tried again at the next evaluation; it never changes the verdict.
    /// Returns whether a request was sent (it may move the PR's `updated_at`).
    pub(super) async fn request_reviews(
        &self,
        pr_ref: &PrRef,
        pr: &PullRequest,
        result: &mut PrResult,
    ) -> bool {
        let Some((snapshot, verdict)) = &result.evidence.judged else {
            return false;
        };
        let governing = governed(result);
        if governing.iter().all(|(p, _)| !p.settings.request_reviewers)
            || result.outcome != Outcome::NotApproved
            || result.output.conclusion != "failure"
            || verdict.report_only
            || pr.draft
        {
            return false;
        }
        let Some(store) = self.store.ready() else {
            return false;
        };
        let mut lines = Vec::new();
        let mut sent = false;
        match review_requests::pull_requests_permission(&self.github, pr_ref.installation).await {
            Ok(Some(p)) if p == "write" => {
                let state = self.request_state(store, pr_ref, pr, verdict).await;
                match state {
                    Ok(mut state) => {
                        state.ineligible = ineligible(snapshot);
                        let planned = plan_all(&governing, verdict, &state);
                        lines.extend(planned.notes.iter().cloned());
                        let (made, errors) = self.send(store, pr_ref, &planned.asks).await;
                        sent = made;
                        for e in errors {
                            lines.push(format!("Could not request reviews from GitHub: {e}; trying again at the next evaluation."));
                        }
                    }
                    Err(e) => lines.push(format!(
                        "Could not work out whom to ask for a review: {e}; trying again at the next evaluation."
                    )),
                }
            }
            Ok(_) => lines.push(
                "The policy asks reviewgate to request reviewers, but the App may only read pull requests: \
                 grant it \"Pull requests: Read and write\" (docs/deploy.md) to let it ask."
                    .to_string(),
            ),
            Err(e) => lines.push(format!(
                "Could not read the App's permissions from GitHub: {e}; no reviewers were requested."
            )),
        }
        if let Ok(made) = store.review_requests(pr_ref.repo_id, pr_ref.number).await {
            for r in made {
                lines.push(format!(
                    "Review requested from {} ({}) at {}",
                    mention(&r.reviewer),
                    r.grp,
                    crate::audit::time::format_ms_auto(r.requested_at.div_euclid(1000) * 1000)
                ));
            }
        }
        if !lines.is_empty() {
            let mut section = String::from("\n\n### Review requests\n\n");
            for l in &lines {
                let _ = writeln!(section, "- {l}");
            }
            result.output.summary = cap(format!("{}{section}", result.output.summary));
        }
        sent
    }

    /// What the planner needs to know about the PR's requests.
    async fn request_state(
        &self,
        store: &Store,
        pr_ref: &PrRef,
        pr: &PullRequest,
        verdict: &Verdict,
    ) -> Result<RequestState, String> {
        let (repo_id, number) = (pr_ref.repo_id, pr_ref.number);
        let made = store
            .review_requests(repo_id, number)
            .await
            .map_err(|e| e.to_string())?;
        let mut asked: BTreeMap<String, Vec<Reviewer>> = BTreeMap::new();
        for r in made {
            asked
                .entry(r.requirement)
                .or_default()
                .push(parse(&r.reviewer));
        }
        let barred = store
            .review_request_bars(repo_id, number)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| parse(r))
            .collect();
        let owner = pr_ref.repo.owner.to_ascii_lowercase();
        let pending = pr
            .requested_reviewers
            .iter()
            .map(|u| Reviewer::User(u.login.to_ascii_lowercase()))
            .chain(
                pr.requested_teams
                    .iter()
                    .map(|t| Reviewer::Team(format!("{owner}/{}", t.slug.to_ascii_lowercase()))),
            )
            .collect();
        let load = review_requests::pending_load(&self.github, pr_ref.installation, &pr_ref.repo)
            .await
            .map_err(|e| e.to_string())?;
        // Who may be asked must have write access: read it for every listed candidate.
        let mut can_write = HashSet::new();
        let candidates: HashSet<String> = verdict
            .requirements
            .iter()
            .flat_map(|r| r.groups.iter())
            .filter(|g| !g.satisfied && g.teams.is_empty())
            .flat_map(|g| g.could_approve.iter().map(|l| l.to_ascii_lowercase()))
            .collect();
        for login in candidates {
            let p = permissions::permission(
                &self.github,
                &self.permissions,
                pr_ref.installation,
                &pr_ref.repo,
                &login,
            )
            .await
            .map_err(|e| e.to_string())?;
            if p.can_approve() {
                can_write.insert(login);
            }
        }
        Ok(RequestState {
            pr: number,
            pending,
            asked,
            barred,
            can_write,
            load,
            ineligible: HashSet::new(),
        })
    }

    /// Sends the planned requests: each is first claimed in the store (so of two replicas
    /// planning the same request, one sends it), users and teams in separate calls (a team
    /// GitHub refuses must not stop the users' requests); a claim whose call failed is given
    /// back, to be tried at the next evaluation. Returns whether any call was accepted, and
    /// the errors.
    async fn send(&self, store: &Store, pr_ref: &PrRef, asks: &[Ask]) -> (bool, Vec<String>) {
        let at = now_ms();
        let mut claimed: Vec<&Ask> = Vec::new();
        for a in asks {
            let request = StoredRequest {
                reviewer: a.reviewer.key(),
                requirement: a.requirement.clone(),
                grp: a.group.clone(),
                requested_at: at,
            };
            match store
                .claim_review_request(pr_ref.repo_id, pr_ref.number, &request)
                .await
            {
                Ok(true) => claimed.push(a),
                Ok(false) => {}
                Err(e) => return (false, vec![format!("the store: {e}")]),
            }
        }
        let (mut sent, mut errors) = (false, Vec::new());
        let users: Vec<&Ask> = claimed
            .iter()
            .copied()
            .filter(|a| matches!(a.reviewer, Reviewer::User(_)))
            .collect();
        let teams: Vec<&Ask> = claimed
            .iter()
            .copied()
            .filter(|a| matches!(a.reviewer, Reviewer::Team(_)))
            .collect();
        for batch in [users, teams] {
            if batch.is_empty() {
                continue;
            }
            let (mut logins, mut slugs) = (Vec::new(), Vec::new());
            for a in &batch {
                match &a.reviewer {
                    Reviewer::User(l) => logins.push(l.clone()),
                    Reviewer::Team(t) => {
                        slugs.push(t.split_once('/').map_or(t.clone(), |(_, s)| s.to_string()))
                    }
                }
            }
            let (gh, inst, repo) = (&self.github, pr_ref.installation, &pr_ref.repo);
            match review_requests::request(gh, inst, repo, pr_ref.number, &logins, &slugs).await {
                Ok(()) => sent = true,
                Err(e) => {
                    errors.push(e.to_string());
                    for a in batch {
                        let key = a.reviewer.key();
                        if let Err(e) = store
                            .unclaim_review_request(pr_ref.repo_id, pr_ref.number, &key)
                            .await
                        {
                            tracing::warn!(error = %e, "could not give back a review request's claim");
                        }
                    }
                }
            }
        }
        (sent, errors)
    }
}

/// Who may never be asked: the author, every commit's author and committer, and pushers.
fn ineligible(snapshot: &crate::snapshot::Snapshot) -> HashSet<String> {
    std::iter::once(snapshot.author.as_str())
        .chain(
            snapshot
                .commits
                .iter()
                .flat_map(|c| [c.author.as_deref(), c.committer.as_deref()])
                .flatten(),
        )
        .chain(snapshot.pushers.iter().map(String::as_str))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The compiled policies that judged the PR, each with the file its requirements name
/// (`None`: the only one).
fn governed(result: &PrResult) -> Vec<(&Policy, Option<&str>)> {
    let e = &result.evidence;
    let floor = e
        .floor
        .as_ref()
        .and_then(|f| f.file.policy.as_ref().ok().map(|p| (p, f.origin.as_str())));
    let own = e.policy.as_ref().and_then(|(_, f)| f.policy.as_ref().ok());
    match (own, floor) {
        (Some(own), Some((floor, origin))) => vec![(own, Some("")), (floor, Some(origin))],
        (Some(own), None) => vec![(own, None)],
        (None, Some((floor, origin))) => vec![(floor, Some(origin))],
        (None, None) => Vec::new(),
    }
}

/// Plans each governing policy's requests for the requirements it set.
fn plan_all(
    governing: &[(&Policy, Option<&str>)],
    verdict: &Verdict,
    state: &RequestState,
) -> Plan {
    let floor_origin = governing
        .iter()
        .find_map(|(_, o)| o.filter(|o| !o.is_empty()));
    let mut out = Plan::default();
    for (policy, origin) in governing {
        if !policy.settings.request_reviewers {
            continue;
        }
        let mine: Vec<&Requirement> = verdict
            .requirements
            .iter()
            .filter(|r| match origin {
                None => true,
                Some("") => r.origin.as_deref() != floor_origin,
                Some(o) => r.origin.as_deref() == Some(o),
            })
            .collect();
        let p = plan(policy, &mine, state);
        out.asks.extend(p.asks);
        out.notes.extend(p.notes);
    }
    out
}

fn parse(key: &str) -> Reviewer {
    match key.split_once(':') {
        Some(("team", t)) => Reviewer::Team(t.to_string()),
        Some((_, l)) => Reviewer::User(l.to_string()),
        None => Reviewer::User(key.to_string()),
    }
}

fn mention(key: &str) -> String {
    parse(key).mention()
}
