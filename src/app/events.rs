//! Webhook deliveries turned into what the App should do. Pure: a payload in, actions out.
//!
//! Payloads are read with small structs of optional fields, so GitHub adding or omitting a
//! field never turns a delivery into an error; only malformed JSON is rejected.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::audit_event::{AuditEvent, audit_event};
use super::jobs::{Job, PrRef};
use crate::github::RepoName;
use crate::github::policy_source::FLOOR_FRESH_FOR;

/// Something a delivery asks of the App.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Enqueue(Job),
    /// Like `Enqueue`, without the debounce: a retargeted PR must not keep the verdict of its
    /// old base a moment longer than it takes to evaluate it.
    EnqueueNow(Job),
    /// Like `Enqueue`, due after `delay`.
    EnqueueAfter(Job, std::time::Duration),
    /// `login` pushed to the PR's head branch, making `head_sha` its head: a contributor,
    /// who may not approve (unless the push only made an update-branch merge).
    RecordPusher {
        pr: PrRef,
        login: String,
        head_sha: Option<String>,
    },
    /// The PR was closed (its facts are kept 30 days more) or reopened.
    PrClosed {
        pr: PrRef,
    },
    PrReopened {
        pr: PrRef,
    },
    /// Who has what access may have changed: drop cached permissions of one repository, or
    /// (`repo: None`) of every repository of the installation (`None`: of every installation).
    ForgetPermissions {
        installation: Option<u64>,
        repo: Option<RepoName>,
    },
    /// A team of the organisation changed: re-evaluate the PRs whose verdict named one.
    ReevaluateOrg {
        org: String,
    },
    /// Team members may have changed: drop the cached members (`slug: None`: every team of
    /// the organisation, e.g. when a team was deleted or renamed).
    ForgetTeam {
        org: String,
        slug: Option<String>,
    },
    /// The policy on a branch may have changed: drop cached copies.
    ForgetPolicy {
        repo: RepoName,
        branch: String,
    },
    /// A person removed a review request on the PR: the App never asks that reviewer
    /// (`user:login` or `team:org/slug`) there again.
    BarReviewRequest {
        pr: PrRef,
        reviewer: String,
    },
    /// A merge or a push to keep in the repository's audit trail.
    Audit {
        installation: u64,
        repo_id: u64,
        repo: RepoName,
        event: AuditEvent,
    },
}

/// What the App needs to know to read a delivery.
pub struct EventContext<'a> {
    pub app_id: u64,
    pub check_name: &'a str,
    pub policy_path: &'a str,
    /// The repository of each organisation that holds its floor policy.
    pub org_policy_repo: &'a str,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Repo {
    #[serde(default)]
    id: Option<u64>,
    full_name: String,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Head {
    sha: Option<String>,
}

#[derive(Deserialize)]
struct ShortPr {
    number: u64,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    head: Option<Head>,
}

#[derive(Deserialize)]
struct PrChanges {
    #[serde(default)]
    base: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct CheckRunBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    app: Option<Id>,
    #[serde(default)]
    pull_requests: Vec<ShortPr>,
}

#[derive(Deserialize)]
struct MergeGroupBody {
    head_sha: String,
    head_ref: String,
}

#[derive(Deserialize)]
struct PushCommit {
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
}

#[derive(Deserialize)]
struct Team {
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    deleted: bool,
}

/// The fields of any event the App acts on.
#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    installation: Option<Id>,
    #[serde(default)]
    repository: Option<Repo>,
    #[serde(default)]
    organization: Option<Login>,
    #[serde(default)]
    pull_request: Option<ShortPr>,
    #[serde(default)]
    changes: Option<PrChanges>,
    #[serde(default)]
    check_run: Option<CheckRunBody>,
    #[serde(default)]
    check_suite: Option<CheckRunBody>,
    #[serde(default)]
    merge_group: Option<MergeGroupBody>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: bool,
    #[serde(default)]
    commits: Option<Vec<PushCommit>>,
    #[serde(default)]
    team: Option<Team>,
    #[serde(default)]
    sender: Option<Login>,
    #[serde(default)]
    requested_reviewer: Option<Login>,
    #[serde(default)]
    requested_team: Option<Team>,
}

/// Events the App reads; every other event is only checked to be JSON.
pub const HANDLED: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "check_run",
    "check_suite",
    "merge_group",
    "push",
    "member",
    "membership",
    "team",
];

/// A delivery the App cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadDelivery(pub String);

/// The actions a delivery asks for (often none).
pub fn actions(
    event: &str,
    body: &[u8],
    cx: &EventContext<'_>,
) -> Result<Vec<Action>, BadDelivery> {
    if !HANDLED.contains(&event) {
        serde_json::from_slice::<IgnoredAny>(body)
            .map_err(|e| BadDelivery(format!("malformed JSON: {e}")))?;
        return Ok(Vec::new());
    }
    let p: Payload = serde_json::from_slice(body)
        .map_err(|e| BadDelivery(format!("malformed {event} payload: {e}")))?;
    let action = p.action.as_deref().unwrap_or("");
    let installation = p.installation.as_ref().map(|i| i.id);
    let repo = p
        .repository
        .as_ref()
        .and_then(|r| RepoName::parse(&r.full_name));
    let repo_id = p.repository.as_ref().and_then(|r| r.id);
    let default_branch = p.repository.as_ref().and_then(|r| r.default_branch.clone());
    let pr_ref = |number: u64| -> Option<PrRef> {
        Some(PrRef {
            installation: installation?,
            repo_id: repo_id?,
            repo: repo.clone()?,
            number,
        })
    };
    let mut out = Vec::new();
    match event {
        "pull_request" => {
            let base_changed =
                action == "edited" && p.changes.as_ref().is_some_and(|c| c.base.is_some());
            let relevant = base_changed
                || matches!(
                    action,
                    "opened" | "reopened" | "synchronize" | "ready_for_review"
                );
            let pr = p.pull_request.as_ref();
            // A person (not an App, this one included) removed a request: never ask again.
            let by_person = p.sender.as_ref().is_some_and(|s| {
                s.kind.as_deref() != Some("Bot") && !crate::policy::is_bot(&s.login)
            });
            if let (Some(r), "review_request_removed", true) =
                (pr.and_then(|pr| pr_ref(pr.number)), action, by_person)
            {
                let owner = r.repo.owner.to_ascii_lowercase();
                let reviewer = match (&p.requested_reviewer, &p.requested_team) {
                    (Some(user), _) => Some(format!("user:{}", user.login.to_ascii_lowercase())),
                    (
                        None,
                        Some(Team {
                            slug: Some(slug), ..
                        }),
                    ) => Some(format!("team:{owner}/{}", slug.to_ascii_lowercase())),
                    _ => None,
                };
                if let Some(reviewer) = reviewer {
                    out.push(Action::BarReviewRequest { pr: r, reviewer });
                }
            }
            // How long who pushed is kept depends on whether the PR is open.
            if let (Some(r), true) = (
                pr.and_then(|pr| pr_ref(pr.number)),
                matches!(action, "closed" | "reopened"),
            ) {
                out.push(if action == "closed" {
                    Action::PrClosed { pr: r }
                } else {
                    Action::PrReopened { pr: r }
                });
            }
            // Whoever pushed is recorded even for a PR closed since: it may be reopened.
            if let (Some(pr), Some(sender), true) = (
                pr,
                p.sender.as_ref(),
                matches!(action, "opened" | "synchronize"),
            ) {
                if let Some(r) = pr_ref(pr.number) {
                    out.push(Action::RecordPusher {
                        pr: r,
                        login: sender.login.clone(),
                        head_sha: pr.head.as_ref().and_then(|h| h.sha.clone()),
                    });
                }
            }
            if let Some(pr) = p
                .pull_request
                .filter(|pr| relevant && pr.state.as_deref() != Some("closed"))
            {
                if let Some(r) = pr_ref(pr.number) {
                    let job = Job::Pr {
                        pr: r,
                        head_sha: pr.head.and_then(|h| h.sha),
                    };
                    // A new or retargeted PR, or a push, may find a passing run on its head
                    // that another PR with that head earned: judge it without the debounce.
                    let now =
                        base_changed || matches!(action, "opened" | "reopened" | "synchronize");
                    out.push(if now {
                        Action::EnqueueNow(job)
                    } else {
                        Action::Enqueue(job)
                    });
                }
            }
        }
        "pull_request_review" => {
            if matches!(action, "submitted" | "edited" | "dismissed") {
                if let Some(pr) = p
                    .pull_request
                    .filter(|pr| pr.state.as_deref() != Some("closed"))
                {
                    if let Some(r) = pr_ref(pr.number) {
                        out.push(Action::Enqueue(Job::Pr {
                            pr: r,
                            head_sha: pr.head.and_then(|h| h.sha),
                        }));
                    }
                }
            }
        }
        "check_run" | "check_suite" => {
            let body = if event == "check_run" {
                p.check_run
            } else {
                p.check_suite
            };
            if let Some(body) = body.filter(|_| action == "rerequested") {
                let ours = body.app.as_ref().is_none_or(|a| a.id == cx.app_id)
                    && (event == "check_suite" || body.name.as_deref() == Some(cx.check_name));
                if ours {
                    for pr in body.pull_requests {
                        if let Some(r) = pr_ref(pr.number) {
                            out.push(Action::Enqueue(Job::Pr {
                                pr: r,
                                head_sha: pr.head.and_then(|h| h.sha),
                            }));
                        }
                    }
                }
            }
        }
        "merge_group" => {
            if let Some(group) = p.merge_group.filter(|_| action == "checks_requested") {
                let number = merge_queue_pr(&group.head_ref).ok_or_else(|| {
                    BadDelivery(format!(
                        "merge group head_ref {:?} names no PR",
                        group.head_ref
                    ))
                })?;
                if let Some(r) = pr_ref(number) {
                    out.push(Action::Enqueue(Job::MergeGroup {
                        pr: r,
                        head_sha: group.head_sha,
                    }));
                }
            }
        }
        "push" => {
            let branch = p
                .git_ref
                .as_deref()
                .and_then(|r| r.strip_prefix("refs/heads/"));
            if let (Some(branch), Some(repo), false) = (branch, repo.clone(), p.deleted) {
                let commits = p.commits.unwrap_or_default();
                // GitHub lists at most 20 commits in a push event; a longer or forced push
                // may have touched the policy unseen, so it counts as a policy change.
                let touches = commits.len() >= 20
                    || p.forced
                    || commits
                        .iter()
                        .flat_map(|c| c.added.iter().chain(&c.removed).chain(&c.modified))
                        .any(|path| path == cx.policy_path);
                if touches {
                    out.push(Action::ForgetPolicy {
                        repo: repo.clone(),
                        branch: branch.to_string(),
                    });
                    // The organisation's floor: its policy repository's default branch (a
                    // payload without `default_branch` is taken to be about it).
                    let floor = repo.name.eq_ignore_ascii_case(cx.org_policy_repo)
                        && default_branch.as_deref().is_none_or(|d| d == branch);
                    if let (Some(installation), Some(repo_id)) = (installation, repo_id) {
                        if floor {
                            // After every replica's cached read of the floor has gone stale.
                            let delay = FLOOR_FRESH_FOR + std::time::Duration::from_secs(1);
                            let job = Job::FloorChanged {
                                installation,
                                repo_id,
                                repo: repo.clone(),
                            };
                            out.push(Action::EnqueueAfter(job, delay));
                        }
                        out.push(Action::Enqueue(Job::PolicyChanged {
                            installation,
                            repo_id,
                            repo,
                            branch: branch.to_string(),
                        }));
                    }
                }
            }
        }
        "membership" | "team" => {
            if let Some(org) = p.organization.map(|o| o.login) {
                let slug = p
                    .team
                    .filter(|t| !(t.deleted || event == "team" && action == "edited"))
                    .and_then(|t| t.slug);
                out.push(Action::ForgetTeam {
                    org: org.clone(),
                    slug,
                });
                out.push(Action::ForgetPermissions {
                    installation,
                    repo: None,
                });
                out.push(Action::ReevaluateOrg { org });
            }
        }
        "member" => {
            out.push(Action::ForgetPermissions {
                installation,
                repo: repo.clone(),
            });
            if let (Some(installation), Some(repo_id), Some(repo)) =
                (installation, repo_id, repo.clone())
            {
                out.push(Action::Enqueue(Job::RepoChanged {
                    installation,
                    repo_id,
                    repo,
                }));
            }
        }
        _ => {}
    }
    if let (Some(event), Some(installation), Some(repo_id), Some(repo)) = (
        audit_event(event, action, body),
        installation,
        repo_id,
        repo,
    ) {
        out.push(Action::Audit {
            installation,
            repo_id,
            repo,
            event,
        });
    }
    Ok(out)
}

/// The PR number in a merge queue branch: `refs/heads/gh-readonly-queue/<base>/pr-<N>-<sha>`
/// (the base branch may itself contain `/`).
pub fn merge_queue_pr(head_ref: &str) -> Option<u64> {
    let rest = head_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(head_ref)
        .strip_prefix("gh-readonly-queue/")?;
    let (_, tail) = rest.rsplit_once("/pr-")?;
    let (number, sha) = tail.split_once('-')?;
    (!sha.is_empty()).then_some(())?;
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_queue_refs() {
        let sha = "929f8209d40f77f4abc622a499c93a83babdbe64";
        assert_eq!(
            merge_queue_pr(&format!("refs/heads/gh-readonly-queue/main/pr-104-{sha}")),
            Some(104)
        );
        assert_eq!(
            merge_queue_pr(&format!(
                "refs/heads/gh-readonly-queue/release/1.x/pr-7-{sha}"
            )),
            Some(7)
        );
        assert_eq!(
            merge_queue_pr(&format!("gh-readonly-queue/main/pr-7-{sha}")),
            Some(7)
        );
        for bad in [
            "refs/heads/main",
            "refs/heads/gh-readonly-queue/main/pr-x-abc",
            "refs/heads/gh-readonly-queue/main/pr-7-",
            "refs/heads/gh-readonly-queue/main/7-abc",
        ] {
            assert_eq!(merge_queue_pr(bad), None, "{bad}");
        }
    }
}
