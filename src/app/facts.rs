//! Read the facts of one pull request, then decide its verdict: the base branch's policy, the
//! PR's files, reviews and commits, the members of the policy's teams, the reviewers'
//! permissions and who pushed. Every fact GitHub could not give ends in a failing result
//! that says which, never in a guess.

use std::collections::{BTreeMap, BTreeSet};

use tokio::task::JoinSet;

use super::aggregate::{Evidence, PrResult};
use super::check_output;
use super::floor::Unusable;
use super::heads;
use super::jobs::PrRef;
use super::{App, JobError, Outcome};
use crate::evaluate::Verdict;
use crate::github::checks::CheckOutput;
use crate::github::permissions;
use crate::github::pulls::{self, MAX_LISTED_COMMITS, PullContents};
use crate::github::teams;
use crate::github::types::PullRequest;
use crate::github::{GitHubError, RepoName};
use crate::policy::{Policy, is_bot};
use crate::snapshot::{Permission, ReviewState};

impl App {
    /// The verdict of one open pull request, as the check it alone would get. `read_at` is
    /// GitHub's clock when `pr` was read.
    pub(super) async fn judge(
        &self,
        pr_ref: &PrRef,
        pr: &PullRequest,
        read_at: Option<u64>,
    ) -> Result<PrResult, JobError> {
        let result = |output: CheckOutput, outcome: Outcome, error: Option<GitHubError>| PrResult {
            number: pr.number,
            base: pr.base.ref_name.clone(),
            output,
            outcome,
            error,
            team_orgs: BTreeSet::new(),
            evidence: Evidence::default(),
        };
        let failed = |what: &str, e: GitHubError| {
            result(
                check_output::github_error(what, &e),
                Outcome::Error,
                Some(e),
            )
        };
        let (inst, repo) = (pr_ref.installation, &pr_ref.repo);
        let (contents, governing) = tokio::join!(
            pulls::contents(&self.github, inst, repo, pr),
            self.governing(inst, repo, &pr.base.ref_name),
        );
        let governing = match governing {
            Ok(g) if g.is_empty() => {
                let mut output = check_output::no_policy(&self.policy_path, &pr.base.ref_name);
                output.pr_updated_at = current_updated_at(pr, read_at);
                return Ok(result(output, Outcome::NoPolicy, None));
            }
            Ok(g) => g,
            Err(unread) => return Ok(failed(&unread.what, unread.error)),
        };
        let with_policy = |r: PrResult| PrResult {
            evidence: Evidence {
                policy: governing.own.clone(),
                floor: governing.floor.clone(),
                judged: None,
            },
            ..r
        };
        let policies = match governing.usable(repo, &self.policy_path) {
            Ok(p) => p,
            Err(Unusable { errors, floor }) => {
                let mut output = if floor {
                    check_output::invalid_org_policy(&errors, &repo.owner)
                } else {
                    check_output::invalid_policy(&errors, &pr.base.ref_name)
                };
                output.policy_sha = governing.blob_sha();
                return Ok(with_policy(result(output, Outcome::InvalidPolicy, None)));
            }
        };
        let contents = match contents {
            Ok(c) => c,
            Err(e) => {
                let what = "the pull request's files, reviews or commits";
                return Ok(with_policy(failed(what, e)));
            }
        };
        let all = policies.policies();
        let team_members = match self.team_members(inst, &all).await {
            Ok(t) => t,
            Err((what, e)) => return Ok(with_policy(failed(&what, e))),
        };
        let permissions = match self.reviewer_permissions(inst, repo, pr, &contents).await {
            Ok(p) => p,
            Err((what, e)) => return Ok(with_policy(failed(&what, e))),
        };
        let listed_commits = contents.commits.len() as u64;
        let Some(store) = self.store.ready() else {
            return Err(JobError::Store("not available".into()));
        };
        let read = heads::Read {
            contents,
            teams: team_members,
            permissions,
        };
        // Who pushed comes from the store (only webhooks say): a store that cannot be read
        // stops the evaluation rather than let a pusher approve.
        let snapshot = self.assemble(pr_ref, pr, read, Some(store)).await?;
        let Some(verdict) = policies.evaluate(&snapshot, &self.policy_path) else {
            let output = check_output::no_policy(&self.policy_path, &pr.base.ref_name);
            return Ok(result(output, Outcome::NoPolicy, None));
        };
        let commits = (pr.commits, listed_commits);
        let mut output = verdict_output(policies.contributors_can_approve(), &verdict, commits);
        let unreadable = self
            .check_proposed_policy(pr_ref, &policies, &snapshot, &mut output)
            .await;
        output.policy_sha = governing.blob_sha();
        output.pr_updated_at = current_updated_at(pr, read_at);
        let outcome = if unreadable.is_some() {
            Outcome::Error
        } else if output.conclusion == "success"
            || (output.conclusion == "neutral" && verdict.approved)
        {
            Outcome::Approved
        } else {
            Outcome::NotApproved
        };
        let team_orgs = all
            .iter()
            .flat_map(|p| p.teams())
            .map(|t| t.org.to_ascii_lowercase())
            .collect();
        let mut judged = with_policy(result(output, outcome, unreadable));
        judged.team_orgs = team_orgs;
        judged.evidence.judged = Some((snapshot, verdict));
        Ok(judged)
    }

    /// Every team's members at once (each read is shared with concurrent evaluations).
    pub(super) async fn team_members(
        &self,
        inst: u64,
        policies: &[&Policy],
    ) -> Result<BTreeMap<String, Vec<String>>, (String, GitHubError)> {
        let mut reads = JoinSet::new();
        let mut teams: Vec<_> = policies.iter().flat_map(|p| p.teams()).collect();
        teams.sort_by_key(|t| t.key());
        teams.dedup_by_key(|t| t.key());
        for team in teams {
            let (gh, cache) = (self.github.clone(), self.teams.clone());
            reads.spawn(async move {
                let members = teams::members(&gh, &cache, inst, &team).await;
                (team, members)
            });
        }
        let mut out = BTreeMap::new();
        while let Some(joined) = reads.join_next().await {
            let (team, members) = joined.map_err(|e| ("team members".to_string(), task(e)))?;
            match members {
                Ok(Some(members)) => {
                    out.insert(team.key(), members.as_ref().clone());
                }
                // A team GitHub does not know has no members; the verdict says so.
                Ok(None) => {}
                Err(e) => return Err((format!("the members of team {team}"), e)),
            }
        }
        Ok(out)
    }

    /// The permission of everyone whose approval or change request could matter: reviewers
    /// whose reviews approve or request changes, except the author and bots (who never count,
    /// whatever their permission).
    pub(super) async fn reviewer_permissions(
        &self,
        inst: u64,
        repo: &RepoName,
        pr: &PullRequest,
        contents: &PullContents,
    ) -> Result<BTreeMap<String, Permission>, (String, GitHubError)> {
        let author = author(pr).to_ascii_lowercase();
        let logins: BTreeSet<String> = contents
            .reviews
            .iter()
            .filter(|r| {
                matches!(
                    r.state,
                    ReviewState::Approved | ReviewState::ChangesRequested
                )
            })
            .map(|r| r.user.to_ascii_lowercase())
            .filter(|login| *login != author && !is_bot(login))
            .collect();
        let mut reads = JoinSet::new();
        for login in logins {
            let (gh, cache, repo) = (self.github.clone(), self.permissions.clone(), repo.clone());
            reads.spawn(async move {
                let p = permissions::permission(&gh, &cache, inst, &repo, &login).await;
                (login, p)
            });
        }
        let mut out = BTreeMap::new();
        while let Some(joined) = reads.join_next().await {
            let (login, permission) =
                joined.map_err(|e| ("reviewer permissions".to_string(), task(e)))?;
            let permission =
                permission.map_err(|e| (format!("the permission of reviewer {login}"), e))?;
            out.insert(login, permission);
        }
        Ok(out)
    }
}

fn task(e: tokio::task::JoinError) -> GitHubError {
    GitHubError::Malformed {
        endpoint: "evaluation",
        detail: e.to_string(),
    }
}

pub(super) fn author(pr: &PullRequest) -> String {
    pr.user
        .as_ref()
        .map_or_else(|| "ghost".to_string(), |u| u.login.clone())
}

/// The check for a verdict, overridden when the App could not see every commit.
fn verdict_output(
    contributors_can_approve: bool,
    verdict: &Verdict,
    (total_commits, listed_commits): (Option<u64>, u64),
) -> CheckOutput {
    let total_commits = total_commits.unwrap_or(listed_commits);
    if verdict.approved && !contributors_can_approve && total_commits > listed_commits {
        return check_output::incomplete(
            verdict,
            &format!(
                "Cannot verify contributors: GitHub lists {listed_commits} of {total_commits} commits"
            ),
            &format!(
                "this pull request has {total_commits} commits and GitHub lists at most {MAX_LISTED_COMMITS}, so reviewgate \
                 cannot tell whether an approver committed to it. Split the pull request or squash its commits."
            ),
        );
    }
    check_output::verdict(verdict, None)
}

/// The PR's `updated_at`, for the run's `external_id`, when it can be trusted. GitHub's
/// timestamps have whole seconds, so a change in the same second as this read leaves
/// `updated_at` as it is: record it only when it is at least 2 s older than the read (both by
/// GitHub's clock); otherwise the next sweep evaluates the PR once more.
fn current_updated_at(pr: &PullRequest, read_at: Option<u64>) -> Option<String> {
    let updated = pr
        .updated_at
        .as_deref()
        .and_then(crate::github::time::parse_rfc3339)?;
    (read_at? >= updated + 2)
        .then(|| pr.updated_at.clone())
        .flatten()
}
