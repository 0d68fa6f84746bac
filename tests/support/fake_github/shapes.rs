//! GitHub's JSON shapes. Every object starts from the matching object in GitHub's own example
//! webhook payloads (the same fixtures the App must parse) and overwrites only the fields this
//! world decides, so field names, nesting and the many `*_url` fields are GitHub's, not ours.
//! API URLs point at the fake (as they would point at a GitHub Enterprise host), so an App that
//! follows a URL from a response stays on the fake.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::super::webhooks::fixture;
use super::clock::rfc3339;
use super::state::{
    CheckRun, CommitSpec, FileSpec, Installation, Pr, Repo, Review, State, Team, blob_sha,
};

/// The example objects everything is built from, loaded once per fake.
pub(super) struct Templates {
    pull_request: Value,
    repository: Value,
    user: Value,
    organization: Value,
    review: Value,
    check_run: Value,
    app: Value,
    installation: Value,
    team: Value,
}

impl Templates {
    pub(super) fn load() -> Templates {
        let opened = fixture("pull_request", "opened.payload.json");
        let created_run = fixture("check_run", "created.payload.json");
        Templates {
            pull_request: opened["pull_request"].clone(),
            repository: opened["repository"].clone(),
            user: opened["sender"].clone(),
            organization:
                fixture("check_run", "rerequested.with-organization.payload.json")["organization"]
                    .clone(),
            review: fixture("pull_request_review", "submitted.payload.json")["review"].clone(),
            check_run: created_run["check_run"].clone(),
            app: created_run["check_run"]["app"].clone(),
            installation: fixture("installation", "created.payload.json")["installation"].clone(),
            team: fixture("team", "created.payload.json")["team"].clone(),
        }
    }
}

/// Keys GitHub leaves out of the "simple" pull request (list endpoints and the
/// `pull_request_review` event); only `GET /pulls/{n}` and `pull_request` events carry them.
const FULL_ONLY_PR_KEYS: &[&str] = &[
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
];

/// Replaces `from` with `to` in every string inside `v`.
pub fn replace_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|i| replace_strings(i, from, to)),
        Value::Object(map) => map.values_mut().for_each(|i| replace_strings(i, from, to)),
        _ => {}
    }
}

/// Overwrites `target`'s fields with those of `fields` (both objects), keeping the rest.
fn merge(target: &mut Value, fields: Value) {
    if let (Some(target), Value::Object(src)) = (target.as_object_mut(), fields) {
        target.extend(src);
    }
}

/// A stable numeric id for a login or org name (case-insensitive, as GitHub logins are).
pub(super) fn account_id(login: &str) -> u64 {
    let digest = Sha256::digest(login.to_ascii_lowercase().as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    1000 + u64::from(n % 90_000_000)
}

fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// The additions/deletions GitHub would report for a file of this status; the exact numbers
/// do not matter, only that they are plausible and consistent with `changes`.
fn file_stats(status: &str) -> (u64, u64) {
    match status {
        "added" => (10, 0),
        "removed" => (0, 10),
        "renamed" | "unchanged" => (0, 0),
        _ => (3, 1),
    }
}

impl State {
    fn rebased(&self, mut v: Value) -> Value {
        replace_strings(&mut v, "https://api.github.com", &self.base_url);
        v
    }

    fn api(&self, repo: &Repo) -> String {
        format!("{}/repos/{}", self.base_url, repo.full_name)
    }

    /// GitHub's "simple user" object, as in `user`, `sender`, `owner` and team member lists.
    pub(super) fn user_json(&self, login: &str) -> Value {
        let mut u = self.templates.user.clone();
        replace_strings(&mut u, "Codertocat", login);
        let id = account_id(login);
        u["login"] = json!(login);
        u["id"] = json!(id);
        u["node_id"] = json!(node_id("User", id));
        u["avatar_url"] = json!(format!("https://avatars.githubusercontent.com/u/{id}?v=4"));
        u["type"] = json!(if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        });
        self.rebased(u)
    }

    /// The owner of an installation's repositories: shaped as a user, typed as an organisation.
    fn org_owner_json(&self, login: &str) -> Value {
        let mut u = self.user_json(login);
        u["type"] = json!("Organization");
        u
    }

    /// The `organization` object of webhook payloads.
    pub(super) fn org_json(&self, org: &str) -> Value {
        let mut o = self.templates.organization.clone();
        replace_strings(&mut o, "Octocoders", org);
        let id = account_id(org);
        o["login"] = json!(org);
        o["id"] = json!(id);
        o["node_id"] = json!(node_id("Organization", id));
        o["avatar_url"] = json!(format!("https://avatars.githubusercontent.com/u/{id}?v=4"));
        self.rebased(o)
    }

    pub(super) fn repo_json(&self, repo: &Repo) -> Value {
        let mut r = self.templates.repository.clone();
        replace_strings(&mut r, "Codertocat/Hello-World", &repo.full_name);
        r["id"] = json!(repo.id);
        r["node_id"] = json!(node_id("Repository", repo.id));
        r["name"] = json!(repo.name);
        r["full_name"] = json!(repo.full_name);
        r["owner"] = self.org_owner_json(&repo.owner);
        r["default_branch"] = json!(repo.default_branch);
        self.rebased(r)
    }

    fn branch_ref_json(&self, repo: &Repo, branch: &str, sha: &str) -> Value {
        json!({
            "label": format!("{}:{}", repo.owner, branch),
            "ref": branch,
            "sha": sha,
            "user": self.org_owner_json(&repo.owner),
            "repo": self.repo_json(repo),
        })
    }

    /// The full pull request, as `GET /pulls/{n}` and `pull_request` events carry it.
    pub(super) fn pr_json(&self, repo: &Repo, pr: &Pr) -> Value {
        let api = self.api(repo);
        let html = format!("https://github.com/{}", repo.full_name);
        let n = pr.number;
        let mut p = self.templates.pull_request.clone();
        let (additions, deletions) = pr.files.iter().fold((0, 0), |(a, d), f| {
            let (fa, fd) = file_stats(&f.status);
            (a + fa, d + fd)
        });
        let links = json!({
            "self": {"href": format!("{api}/pulls/{n}")},
            "html": {"href": format!("{html}/pull/{n}")},
            "issue": {"href": format!("{api}/issues/{n}")},
            "comments": {"href": format!("{api}/issues/{n}/comments")},
            "review_comments": {"href": format!("{api}/pulls/{n}/comments")},
            "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{api}/pulls/{n}/commits")},
            "statuses": {"href": format!("{api}/statuses/{}", pr.head_sha)},
        });
        let fields = json!({
            "url": format!("{api}/pulls/{n}"),
            "id": pr.id,
            "node_id": node_id("PullRequest", pr.id),
            "html_url": format!("{html}/pull/{n}"),
            "diff_url": format!("{html}/pull/{n}.diff"),
            "patch_url": format!("{html}/pull/{n}.patch"),
            "issue_url": format!("{api}/issues/{n}"),
            "number": n,
            "state": if pr.closed_at.is_some() { "closed" } else { "open" },
            "locked": false,
            "title": pr.title,
            "user": self.user_json(&pr.author),
            "body": null,
            "created_at": rfc3339(pr.created_at),
            "updated_at": rfc3339(pr.updated_at),
            "closed_at": pr.closed_at.map(rfc3339),
            "merged_at": pr.merged.as_ref().map(|m| rfc3339(m.at)),
            "merge_commit_sha": pr.merged.as_ref().map(|m| m.sha.clone()),
            "assignee": null,
            "assignees": [],
            "requested_reviewers": pr.requested_users.iter().map(|l| self.user_json(l)).collect::<Vec<_>>(),
            "requested_teams": pr.requested_teams.iter().map(|t| json!({"slug": t, "name": t})).collect::<Vec<_>>(),
            "labels": [],
            "milestone": null,
            "draft": pr.draft,
            "commits_url": format!("{api}/pulls/{n}/commits"),
            "review_comments_url": format!("{api}/pulls/{n}/comments"),
            "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
            "comments_url": format!("{api}/issues/{n}/comments"),
            "statuses_url": format!("{api}/statuses/{}", pr.head_sha),
            "head": self.branch_ref_json(repo, &pr.head_ref, &pr.head_sha),
            "base": self.branch_ref_json(repo, &pr.base, &pr.base_sha),
            "_links": links,
        });
        let status_fields = json!({
            "author_association": "CONTRIBUTOR",
            "auto_merge": null,
            "active_lock_reason": null,
            "merged": pr.merged.is_some(),
            "mergeable": null,
            "rebaseable": null,
            "mergeable_state": "unknown",
            "merged_by": pr.merged.as_ref().map(|m| self.user_json(&m.by)),
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": pr.commits.len(),
            "additions": additions,
            "deletions": deletions,
            "changed_files": pr.files.len(),
        });
        merge(&mut p, fields);
        merge(&mut p, status_fields);
        if let Some((owner, _)) = pr.head_repo.split_once('/') {
            // A fork: the head branch lives in another repository, owned by someone else.
            let head = &mut p["head"];
            head["label"] = json!(format!("{owner}:{}", pr.head_ref));
            head["user"] = self.user_json(owner);
            head["repo"]["full_name"] = json!(pr.head_repo);
            head["repo"]["fork"] = json!(true);
        }
        self.rebased(p)
    }

    /// The "simple" pull request of list endpoints and `pull_request_review` events.
    pub(super) fn pr_simple_json(&self, repo: &Repo, pr: &Pr) -> Value {
        let mut p = self.pr_json(repo, pr);
        if let Some(map) = p.as_object_mut() {
            for key in FULL_ONLY_PR_KEYS {
                map.remove(*key);
            }
        }
        p
    }

    /// The minimal pull request reference inside check runs and check suites.
    pub(super) fn pr_ref_json(&self, repo: &Repo, pr: &Pr) -> Value {
        let api = self.api(repo);
        let repo_ref = json!({"id": repo.id, "url": api, "name": repo.name});
        json!({
            "url": format!("{api}/pulls/{}", pr.number),
            "id": pr.id,
            "number": pr.number,
            "head": {"ref": pr.head_ref, "sha": pr.head_sha, "repo": repo_ref},
            "base": {"ref": pr.base, "sha": pr.base_sha, "repo": repo_ref},
        })
    }

    pub(super) fn file_json(&self, repo: &Repo, pr: &Pr, f: &FileSpec) -> Value {
        let (additions, deletions) = file_stats(&f.status);
        let html = format!("https://github.com/{}", repo.full_name);
        let blob = match &f.content {
            Some(content) => blob_sha(content),
            None => blob_sha(&format!("{}@{}", f.filename, pr.head_sha)),
        };
        let mut v = json!({
            "sha": blob,
            "filename": f.filename,
            "status": f.status,
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "blob_url": format!("{html}/blob/{}/{}", pr.head_sha, f.filename),
            "raw_url": format!("{html}/raw/{}/{}", pr.head_sha, f.filename),
            "contents_url": format!("{}/contents/{}?ref={}", self.api(repo), f.filename, pr.head_sha),
        });
        if additions + deletions > 0 && !f.binary {
            v["patch"] = match &f.content {
                Some(content) => json!(format!("@@ -1 +1 @@\n-old\n+{content}")),
                None => json!("@@ -1 +1 @@\n-old\n+new"),
            };
        }
        if let Some(prev) = &f.previous_filename {
            v["previous_filename"] = json!(prev);
        }
        v
    }

    fn git_identity(&self, login: Option<&str>, date: u64) -> Value {
        match login {
            Some(l) => json!({
                "name": l,
                "email": format!("{}+{l}@users.noreply.github.com", account_id(l)),
                "date": rfc3339(date),
            }),
            None => {
                json!({"name": "Someone Unknown", "email": "someone@example.invalid", "date": rfc3339(date)})
            }
        }
    }

    pub(super) fn commit_json(&self, repo: &Repo, pr: &Pr, index: usize, c: &CommitSpec) -> Value {
        let api = self.api(repo);
        let html = format!("https://github.com/{}", repo.full_name);
        let previous = match index.checked_sub(1).and_then(|i| pr.commits.get(i)) {
            Some(p) => p.sha.clone(),
            None => pr.base_sha.clone(),
        };
        let parents = c.parents.clone().unwrap_or_else(|| vec![previous]);
        let short = c.sha.get(..7).unwrap_or(&c.sha);
        json!({
            "sha": c.sha,
            "node_id": node_id("Commit", account_id(&c.sha)),
            "commit": {
                "author": self.git_identity(c.author.as_deref(), pr.created_at),
                "committer": self.git_identity(c.committer.as_deref(), pr.created_at),
                "message": format!("Commit {short}"),
                "tree": {"sha": super::state::sha_like(&format!("tree {}", c.sha)), "url": format!("{api}/git/trees/{}", c.sha)},
                "url": format!("{api}/git/commits/{}", c.sha),
                "comment_count": 0,
                "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
            },
            "url": format!("{api}/commits/{}", c.sha),
            "html_url": format!("{html}/commit/{}", c.sha),
            "comments_url": format!("{api}/commits/{}/comments", c.sha),
            "author": c.author.as_deref().map(|l| self.user_json(l)),
            "committer": c.committer.as_deref().map(|l| self.user_json(l)),
            "parents": parents.iter().map(|parent| json!({"sha": parent, "url": format!("{api}/commits/{parent}"), "html_url": format!("{html}/commit/{parent}")})).collect::<Vec<_>>(),
        })
    }

    /// A review in the REST shape: `state` upper-case (`APPROVED`). Webhooks use lower case.
    pub(super) fn review_json(&self, repo: &Repo, pr: &Pr, r: &Review) -> Value {
        let api = self.api(repo);
        let html = format!(
            "https://github.com/{}/pull/{}#pullrequestreview-{}",
            repo.full_name, pr.number, r.id
        );
        let mut v = self.templates.review.clone();
        let fields = json!({
            "id": r.id,
            "node_id": node_id("PullRequestReview", r.id),
            "user": self.user_json(&r.user),
            "body": r.body,
            "commit_id": r.commit_id,
            "submitted_at": rfc3339(r.submitted_at),
            "state": r.state,
            "html_url": html,
            "pull_request_url": format!("{api}/pulls/{}", pr.number),
            "author_association": "MEMBER",
            "_links": {"html": {"href": html}, "pull_request": {"href": format!("{api}/pulls/{}", pr.number)}},
        });
        merge(&mut v, fields);
        self.rebased(v)
    }

    /// The App object embedded in check runs; ours is `reviewgate-test`, others `app-<id>`.
    pub(super) fn app_json(&self, app_id: u64) -> Value {
        let mut a = self.templates.app.clone();
        let slug = if app_id == self.app_id {
            "reviewgate-test".to_string()
        } else {
            format!("app-{app_id}")
        };
        a["id"] = json!(app_id);
        a["slug"] = json!(slug);
        a["node_id"] = json!(node_id("App", app_id));
        a["name"] = json!(slug);
        a["html_url"] = json!(format!("https://github.com/apps/{slug}"));
        self.rebased(a)
    }

    pub(super) fn check_run_json(&self, repo: &Repo, run: &CheckRun) -> Value {
        let api = self.api(repo);
        let html_url = format!("https://github.com/{}/runs/{}", repo.full_name, run.id);
        let pull_requests: Vec<Value> = repo
            .prs
            .values()
            .filter(|p| p.closed_at.is_none() && p.head_sha == run.head_sha)
            .map(|p| self.pr_ref_json(repo, p))
            .collect();
        let mut v = self.templates.check_run.clone();
        let fields = json!({
            "id": run.id,
            "node_id": node_id("CheckRun", run.id),
            "head_sha": run.head_sha,
            "external_id": run.external_id.clone().unwrap_or_default(),
            "url": format!("{api}/check-runs/{}", run.id),
            "html_url": html_url,
            "details_url": run.details_url.clone().unwrap_or_else(|| html_url.clone()),
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                "title": run.title,
                "summary": run.summary,
                "text": run.text,
                "annotations_count": run.annotations_count,
                "annotations_url": format!("{api}/check-runs/{}/annotations", run.id),
            },
            "name": run.name,
            "check_suite": {"id": run.check_suite_id},
            "app": self.app_json(run.app_id),
            "pull_requests": pull_requests,
        });
        merge(&mut v, fields);
        self.rebased(v)
    }

    /// An installation as `GET /app/installations` lists it (timestamps as strings; the
    /// `installation` webhook uses epoch numbers instead).
    pub(super) fn installation_json(&self, inst: &Installation) -> Value {
        let mut v = self.templates.installation.clone();
        let account = self.org_owner_json(&inst.account);
        let mut permissions = token_permissions();
        permissions["pull_requests"] = json!(inst.pull_requests);
        let fields = json!({
            "id": inst.id,
            "target_id": account["id"].clone(),
            "account": account,
            "repository_selection": "all",
            "access_tokens_url": format!("{}/app/installations/{}/access_tokens", self.base_url, inst.id),
            "repositories_url": format!("{}/installation/repositories", self.base_url),
            "html_url": format!("https://github.com/organizations/{}/settings/installations/{}", inst.account, inst.id),
            "app_id": self.app_id,
            "app_slug": "reviewgate-test",
            "target_type": "Organization",
            "permissions": permissions,
            "events": inst.events.clone().unwrap_or_else(|| {
                ["check_run", "check_suite", "merge_group", "member", "membership", "pull_request", "pull_request_review", "push", "team"]
                    .iter().map(|e| e.to_string()).collect()
            }),
            "created_at": rfc3339(inst.created_at),
            "updated_at": rfc3339(inst.created_at),
        });
        merge(&mut v, fields);
        self.rebased(v)
    }

    /// A team as webhook payloads carry it.
    pub(super) fn team_json(&self, team: &Team) -> Value {
        let org_id = account_id(&team.org);
        let team_api = format!("{}/organizations/{org_id}/team/{}", self.base_url, team.id);
        let mut v = self.templates.team.clone();
        let fields = json!({
            "name": team.slug,
            "id": team.id,
            "node_id": node_id("Team", team.id),
            "slug": team.slug,
            "description": "",
            "privacy": "closed",
            "url": team_api,
            "html_url": format!("https://github.com/orgs/{}/teams/{}", team.org, team.slug),
            "members_url": format!("{team_api}/members{{/member}}"),
            "repositories_url": format!("{team_api}/repos"),
            "permission": "pull",
        });
        merge(&mut v, fields);
        self.rebased(v)
    }
}

/// The permissions a reviewgate installation token carries.
pub(super) fn token_permissions() -> Value {
    json!({
        "checks": "write",
        "contents": "read",
        "members": "read",
        "merge_queues": "read",
        "metadata": "read",
        "pull_requests": "read",
    })
}

/// Base64 the way the contents API sends it: a line break after every 60 characters and at
/// the end (Ruby's `Base64.encode64`). Decoders that reject whitespace fail on real GitHub.
pub(super) fn github_base64(content: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}
