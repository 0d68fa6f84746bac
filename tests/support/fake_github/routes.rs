//! The REST routes the App uses, with GitHub's paths, authentication rules, status codes and
//! error bodies. Handlers never panic on request input: anything malformed gets the 4xx
//! GitHub would send, so a bug in the App shows up as a failed request, not a hung test.

use http::Method;
use serde_json::{Map, Value, json};

use super::auth::{self, Presented};
use super::clock::rfc3339;
use super::faults::primary_limit_reply;
use super::paging::{Query, paginate, percent_decode};
use super::server::Reply;
use super::shapes::{github_base64, token_permissions};
use super::state::{CheckRun, Repo, State};

/// GitHub serves at most this many files of a pull request, whatever `changed_files` says.
pub const MAX_PR_FILES: usize = 3000;
/// GitHub serves at most this many commits of a pull request.
pub const MAX_PR_COMMITS: usize = 250;
/// The limit on `output.summary` and `output.text` of a check run, in **bytes** of UTF-8: GitHub's
/// documentation says characters, but the API refuses more bytes with "exceeds a maximum bytesize".
pub const MAX_OUTPUT_BYTES: usize = 65_535;
/// Files above this size come back from the contents API without inline content.
const MAX_INLINE_CONTENT: usize = 1024 * 1024;

pub(super) struct Ctx<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a Query,
    pub presented: &'a Presented,
    pub body: &'a [u8],
}

/// Whose primary quota a request spends.
pub(super) enum QuotaKey {
    App,
    Installation(u64),
}

pub(super) struct Outcome {
    pub reply: Reply,
    pub quota: Option<QuotaKey>,
    pub installation: Option<u64>,
}

impl Outcome {
    fn unauthenticated(reply: Reply) -> Outcome {
        Outcome {
            reply,
            quota: None,
            installation: None,
        }
    }
}

enum Route {
    GetApp,
    HookConfig,
    ListInstallations,
    GetInstallation(u64),
    RequestReviewers(String, u64),
    CreateToken(u64),
    RepoInstallation(String),
    InstallationRepos,
    GetRepo(String),
    ListPulls(String),
    GetPull(String, u64),
    PullFiles(String, u64),
    PullCommits(String, u64),
    PullReviews(String, u64),
    Contents(String, String),
    TeamMembers(String, String),
    TeamMembership(String, String, String),
    CreateCheckRun(String),
    GetCheckRun(String, u64),
    UpdateCheckRun(String, u64),
    CheckRunsForRef(String, String),
    CommitPulls(String, String),
    CollaboratorPermission(String, String),
    Compare(String, String, String),
}

impl Route {
    fn parse(method: &Method, path: &str) -> Option<Route> {
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_decode(s, false))
            .collect();
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let num = |v: &str| v.parse::<u64>().ok();
        let get = *method == Method::GET;
        let route = match s.as_slice() {
            ["app"] if get => Route::GetApp,
            ["app", "hook", "config"] if get => Route::HookConfig,
            ["app", "installations"] if get => Route::ListInstallations,
            ["app", "installations", id] if get => Route::GetInstallation(num(id)?),
            ["app", "installations", id, "access_tokens"] if *method == Method::POST => {
                Route::CreateToken(num(id)?)
            }
            ["repos", o, r, "installation"] if get => Route::RepoInstallation(format!("{o}/{r}")),
            ["installation", "repositories"] if get => Route::InstallationRepos,
            ["repos", o, r] if get => Route::GetRepo(format!("{o}/{r}")),
            ["repos", o, r, "pulls"] if get => Route::ListPulls(format!("{o}/{r}")),
            ["repos", o, r, "pulls", n] if get => Route::GetPull(format!("{o}/{r}"), num(n)?),
            ["repos", o, r, "pulls", n, "files"] if get => {
                Route::PullFiles(format!("{o}/{r}"), num(n)?)
            }
            ["repos", o, r, "pulls", n, "commits"] if get => {
                Route::PullCommits(format!("{o}/{r}"), num(n)?)
            }
            ["repos", o, r, "pulls", n, "reviews"] if get => {
                Route::PullReviews(format!("{o}/{r}"), num(n)?)
            }
            ["repos", o, r, "contents", rest @ ..] if get => Route::Contents(
                format!("{o}/{r}"),
                rest.join("/").trim_matches('/').to_string(),
            ),
            ["orgs", org, "teams", slug, "members"] if get => {
                Route::TeamMembers(org.to_string(), slug.to_string())
            }
            ["orgs", org, "teams", slug, "memberships", user] if get => {
                Route::TeamMembership(org.to_string(), slug.to_string(), user.to_string())
            }
            ["repos", o, r, "pulls", n, "requested_reviewers"] if *method == Method::POST => {
                Route::RequestReviewers(format!("{o}/{r}"), num(n)?)
            }
            ["repos", o, r, "check-runs"] if *method == Method::POST => {
                Route::CreateCheckRun(format!("{o}/{r}"))
            }
            ["repos", o, r, "check-runs", id] if get => {
                Route::GetCheckRun(format!("{o}/{r}"), num(id)?)
            }
            ["repos", o, r, "check-runs", id] if *method == Method::PATCH => {
                Route::UpdateCheckRun(format!("{o}/{r}"), num(id)?)
            }
            ["repos", o, r, "commits", sha, "pulls"] if get => {
                Route::CommitPulls(format!("{o}/{r}"), sha.to_string())
            }
            ["repos", o, r, "compare", basehead] if get => {
                let (base, head) = basehead.split_once("...")?;
                Route::Compare(format!("{o}/{r}"), base.to_string(), head.to_string())
            }
            ["repos", o, r, "collaborators", user, "permission"] if get => {
                Route::CollaboratorPermission(format!("{o}/{r}"), user.to_string())
            }
            // Refs may contain slashes (`feature/x`), so everything between is the ref.
            ["repos", o, r, "commits", git_ref @ .., "check-runs"]
                if get && !git_ref.is_empty() =>
            {
                Route::CheckRunsForRef(format!("{o}/{r}"), git_ref.join("/"))
            }
            _ => return None,
        };
        Some(route)
    }

    /// App-level routes take the App's JWT; all others an installation token.
    fn needs_jwt(&self) -> bool {
        matches!(
            self,
            Route::GetApp
                | Route::HookConfig
                | Route::ListInstallations
                | Route::GetInstallation(_)
                | Route::CreateToken(_)
                | Route::RepoInstallation(_)
        )
    }
}

/// The installation a request acts for, known before routing: the token's installation, or
/// the one named in a token exchange. Used for concurrency accounting and fault records.
pub(super) fn installation_hint(
    st: &State,
    path: &str,
    presented: &Presented,
    now: u64,
) -> Option<u64> {
    match presented {
        Presented::Token(t) => auth::token_installation(st, t, now),
        Presented::Jwt(_) => match Route::parse(&Method::POST, path) {
            Some(Route::CreateToken(id)) => Some(id),
            _ => None,
        },
        Presented::None => None,
    }
}

fn not_found() -> Reply {
    Reply::error(404, "Not Found")
}

fn bad_credentials() -> Reply {
    Reply::error(401, "Bad credentials")
}

pub(super) fn dispatch(st: &mut State, ctx: &Ctx, now: u64) -> Outcome {
    let Some(route) = Route::parse(ctx.method, ctx.path) else {
        return Outcome::unauthenticated(not_found());
    };
    if route.needs_jwt() {
        let jwt = match ctx.presented {
            Presented::Jwt(jwt) => jwt,
            Presented::None => {
                return Outcome::unauthenticated(Reply::error(401, "Requires authentication"));
            }
            Presented::Token(_) => {
                return Outcome::unauthenticated(Reply::error(
                    401,
                    "A JSON web token could not be decoded",
                ));
            }
        };
        if let Err(message) = auth::verify_jwt(&st.app_key, st.app_id, jwt, now) {
            return Outcome::unauthenticated(Reply::error(401, message));
        }
        if st.refuse_app_credentials {
            return Outcome::unauthenticated(Reply::error(401, auth::CANNOT_DECODE));
        }
        let installation = match route {
            Route::CreateToken(id) | Route::GetInstallation(id) => Some(id),
            _ => None,
        };
        st.app_quota.roll(now);
        let reply = if st.app_quota.remaining == 0 {
            primary_limit_reply(&format!("app ID {}", st.app_id))
        } else {
            app_route(st, route, ctx, now)
        };
        return Outcome {
            reply,
            quota: Some(QuotaKey::App),
            installation,
        };
    }

    let installation = match ctx.presented {
        Presented::Token(token) => match auth::token_installation(st, token, now) {
            Some(id) => id,
            None => return Outcome::unauthenticated(bad_credentials()),
        },
        Presented::Jwt(_) => return Outcome::unauthenticated(bad_credentials()),
        Presented::None => {
            return Outcome::unauthenticated(Reply::error(401, "Requires authentication"));
        }
    };
    let exhausted = match st.installations.get_mut(&installation) {
        Some(inst) => {
            inst.quota.roll(now);
            inst.quota.remaining == 0
        }
        None => return Outcome::unauthenticated(bad_credentials()),
    };
    let reply = if exhausted {
        primary_limit_reply(&format!("installation ID {installation}"))
    } else {
        installation_route(st, route, ctx, installation, now)
    };
    Outcome {
        reply,
        quota: Some(QuotaKey::Installation(installation)),
        installation: Some(installation),
    }
}

fn app_route(st: &mut State, route: Route, ctx: &Ctx, now: u64) -> Reply {
    match route {
        // The App the JWT was signed for, in GitHub's App object shape (id, slug, name, owner,
        // permissions, events, ...).
        Route::GetApp => Reply::json(200, st.app_json(st.app_id)),
        // GitHub's shape: the secret, when one is set, shown as asterisks.
        Route::HookConfig => Reply::json(200, st.hook_config.clone()),
        Route::ListInstallations => {
            let all: Vec<Value> = st
                .installations
                .values()
                .map(|i| st.installation_json(i))
                .collect();
            paged_array(st, ctx, all)
        }
        Route::GetInstallation(id) => match st.installations.get(&id) {
            Some(inst) => Reply::json(200, st.installation_json(inst)),
            None => not_found(),
        },
        Route::CreateToken(id) => {
            if !st.installations.contains_key(&id) {
                return not_found();
            }
            let (token, expires_at) = auth::issue_token(st, id, now);
            Reply::json(
                201,
                json!({
                    "token": token,
                    "expires_at": rfc3339(expires_at),
                    "permissions": token_permissions(),
                    "repository_selection": "all",
                }),
            )
        }
        Route::RepoInstallation(repo) => match st
            .repo(&repo)
            .and_then(|r| st.installations.get(&r.installation_id))
        {
            Some(inst) => Reply::json(200, st.installation_json(inst)),
            None => not_found(),
        },
        _ => not_found(),
    }
}

/// Serves one page of a JSON array, with its `Link` header.
fn paged_array(st: &State, ctx: &Ctx, items: Vec<Value>) -> Reply {
    let page = paginate(items.len(), &st.base_url, ctx.path, ctx.query);
    let mut reply = Reply::json(200, Value::Array(items[page.start..page.end].to_vec()));
    if let Some(link) = page.link {
        reply.header("link", &link);
    }
    reply
}

/// Serves one page of a `{total_count, <key>: [...]}` list, with its `Link` header.
fn paged_object(st: &State, ctx: &Ctx, key: &str, items: Vec<Value>, extra: Value) -> Reply {
    let page = paginate(items.len(), &st.base_url, ctx.path, ctx.query);
    let mut body = json!({"total_count": items.len()});
    body[key] = Value::Array(items[page.start..page.end].to_vec());
    if let (Some(target), Value::Object(src)) = (body.as_object_mut(), extra) {
        target.extend(src);
    }
    let mut reply = Reply::json(200, body);
    if let Some(link) = page.link {
        reply.header("link", &link);
    }
    reply
}

/// A repository the token's installation can see. Others are 404, not 403, as GitHub hides
/// private repositories from installations they are not granted to.
fn visible_repo<'s>(st: &'s State, repo: &str, installation: u64) -> Option<&'s Repo> {
    st.repo(repo).filter(|r| r.installation_id == installation)
}

fn installation_route(
    st: &mut State,
    route: Route,
    ctx: &Ctx,
    installation: u64,
    now: u64,
) -> Reply {
    match route {
        Route::InstallationRepos => {
            let repos: Vec<Value> = st
                .repos
                .values()
                .filter(|r| r.installation_id == installation)
                .map(|r| st.repo_json(r))
                .collect();
            paged_object(
                st,
                ctx,
                "repositories",
                repos,
                json!({"repository_selection": "all"}),
            )
        }
        Route::GetRepo(repo) => match visible_repo(st, &repo, installation) {
            Some(r) => Reply::json(200, st.repo_json(r)),
            None => not_found(),
        },
        Route::ListPulls(repo) => list_pulls(st, ctx, &repo, installation),
        Route::GetPull(repo, n)
        | Route::PullFiles(repo, n)
        | Route::PullCommits(repo, n)
        | Route::PullReviews(repo, n)
            if visible_repo(st, &repo, installation)
                .and_then(|r| r.prs.get(&n))
                .is_none() =>
        {
            not_found()
        }
        Route::GetPull(repo, n) => {
            if st.restless.contains(&(repo.to_ascii_lowercase(), n)) {
                if let Some(pr) = st.repo_mut(&repo).and_then(|r| r.prs.get_mut(&n)) {
                    pr.updated_at = pr.updated_at.max(now) + 1;
                }
            }
            with_pr(st, &repo, n, |st, r, pr| {
                Reply::json(200, st.pr_json(r, pr))
            })
        }
        Route::PullFiles(repo, n) => with_pr(st, &repo, n, |st, r, pr| {
            let files = pr
                .files
                .iter()
                .take(MAX_PR_FILES)
                .map(|f| st.file_json(r, pr, f))
                .collect();
            paged_array(st, ctx, files)
        }),
        Route::PullCommits(repo, n) => with_pr(st, &repo, n, |st, r, pr| {
            let commits = pr
                .commits
                .iter()
                .take(MAX_PR_COMMITS)
                .enumerate()
                .map(|(i, c)| st.commit_json(r, pr, i, c))
                .collect();
            paged_array(st, ctx, commits)
        }),
        Route::PullReviews(repo, n) => with_pr(st, &repo, n, |st, r, pr| {
            // Pending reviews are visible only to their author, never to an App.
            let reviews = pr
                .reviews
                .iter()
                .filter(|rv| rv.state != "PENDING")
                .map(|rv| st.review_json(r, pr, rv))
                .collect();
            paged_array(st, ctx, reviews)
        }),
        Route::Contents(repo, path) => match visible_repo(st, &repo, installation) {
            Some(r) => contents(st, r, &path, ctx.query),
            None => not_found(),
        },
        Route::TeamMembers(org, slug) => {
            if st.installation_for_account(&org) != Some(installation) {
                return not_found();
            }
            match st.team(&org, &slug) {
                Some(team) => {
                    let members = team.members.iter().map(|m| st.user_json(m)).collect();
                    paged_array(st, ctx, members)
                }
                None => not_found(),
            }
        }
        Route::TeamMembership(org, slug, user) => {
            if st.installation_for_account(&org) != Some(installation) {
                return not_found();
            }
            match st.team(&org, &slug) {
                Some(team) if team.members.iter().any(|m| m.eq_ignore_ascii_case(&user)) => {
                    Reply::json(
                        200,
                        json!({
                            "url": format!("{}/organizations/{}/team/{}/memberships/{user}", st.base_url, super::shapes::account_id(&org), team.id),
                            "role": "member",
                            "state": "active",
                        }),
                    )
                }
                _ => not_found(),
            }
        }
        Route::RequestReviewers(repo, n) => match visible_repo(st, &repo, installation) {
            Some(_) => request_reviewers(st, installation, &repo, n, ctx.body),
            None => not_found(),
        },
        Route::CreateCheckRun(repo) => match visible_repo(st, &repo, installation) {
            Some(_) => create_check_run(st, &repo, ctx.body, now),
            None => not_found(),
        },
        Route::UpdateCheckRun(repo, id) => match visible_repo(st, &repo, installation) {
            Some(_) => update_check_run(st, &repo, id, ctx.body, now),
            None => not_found(),
        },
        Route::GetCheckRun(repo, id) => match visible_repo(st, &repo, installation) {
            Some(r) => {
                let key = repo.to_ascii_lowercase();
                match st
                    .check_runs
                    .iter()
                    .find(|(k, run)| *k == key && run.id == id)
                {
                    Some((_, run)) => Reply::json(200, st.check_run_json(r, run)),
                    None => not_found(),
                }
            }
            None => not_found(),
        },
        Route::CheckRunsForRef(repo, git_ref) => match visible_repo(st, &repo, installation) {
            Some(r) => list_check_runs(st, ctx, r, &git_ref),
            None => not_found(),
        },
        Route::CommitPulls(repo, sha) => match visible_repo(st, &repo, installation) {
            Some(r) => commit_pulls(st, ctx, r, &sha),
            None => not_found(),
        },
        Route::Compare(repo, base, head) => match visible_repo(st, &repo, installation) {
            Some(r) => match r.compares.get(&(base.clone(), head.clone())) {
                Some(shas) => {
                    let commits = shas
                        .iter()
                        .map(|sha| json!({"sha": sha, "commit": {"message": "A commit"}}))
                        .collect();
                    let extra = json!({
                        "status": "ahead",
                        "ahead_by": shas.len(),
                        "behind_by": 0,
                        "total_commits": shas.len(),
                    });
                    paged_object(st, ctx, "commits", commits, extra)
                }
                None => Reply::error(
                    404,
                    &format!("No common ancestor between {base} and {head}."),
                ),
            },
            None => not_found(),
        },
        Route::CollaboratorPermission(repo, user) => match visible_repo(st, &repo, installation) {
            Some(r) => collaborator_permission(st, r, &user),
            None => not_found(),
        },
        Route::GetApp
        | Route::HookConfig
        | Route::ListInstallations
        | Route::GetInstallation(_)
        | Route::CreateToken(_)
        | Route::RepoInstallation(_) => not_found(),
    }
}

/// `GET /repos/{o}/{r}/commits/{sha}/pulls`: the pull requests whose commits include `sha`,
/// newest first. As on GitHub, open pull requests are left out for a commit that is already on
/// the default branch (here: the default branch's head).
fn commit_pulls(st: &State, ctx: &Ctx, r: &Repo, sha: &str) -> Reply {
    let on_default = r
        .branches
        .get(&r.default_branch)
        .is_some_and(|b| b.head_sha == sha);
    let items = r
        .prs
        .values()
        .rev()
        .filter(|p| {
            p.head_sha == sha
                || p.commits.iter().any(|c| c.sha == sha)
                || p.merged.as_ref().is_some_and(|m| m.sha == sha)
        })
        .filter(|p| !(on_default && p.closed_at.is_none()))
        .map(|p| st.pr_simple_json(r, p))
        .collect();
    paged_array(st, ctx, items)
}

/// `GET /repos/{o}/{r}/collaborators/{username}/permission`. GitHub's `permission` folds
/// maintain into write and triage into read; `role_name` keeps the role. Someone with no
/// access gets 404.
fn collaborator_permission(st: &State, r: &Repo, user: &str) -> Reply {
    let Some(role) = r.collaborators.get(&user.to_ascii_lowercase()) else {
        return Reply::error(404, &format!("{user} is not a collaborator"));
    };
    let permission = match role.as_str() {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    Reply::json(
        200,
        json!({
            "permission": permission,
            "role_name": role,
            "user": st.user_json(user),
        }),
    )
}

fn with_pr(
    st: &State,
    repo: &str,
    number: u64,
    f: impl FnOnce(&State, &Repo, &super::state::Pr) -> Reply,
) -> Reply {
    match st
        .repo(repo)
        .and_then(|r| r.prs.get(&number).map(|pr| (r, pr)))
    {
        Some((r, pr)) => f(st, r, pr),
        None => not_found(),
    }
}

fn validation_failed(message: &str) -> Reply {
    Reply::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{"message": message, "resource": "Issue", "field": "state", "code": "invalid"}],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests",
            "status": "422",
        }),
    )
}

fn list_pulls(st: &State, ctx: &Ctx, repo: &str, installation: u64) -> Reply {
    let Some(r) = visible_repo(st, repo, installation) else {
        return not_found();
    };
    let state = ctx.query.get("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return validation_failed(&format!("state is not included in the list: {state}"));
    }
    let base = ctx.query.get("base");
    let head = ctx.query.get("head");
    let mut prs: Vec<_> = r
        .prs
        .values()
        .filter(|p| match state {
            "open" => p.closed_at.is_none(),
            "closed" => p.closed_at.is_some(),
            _ => true,
        })
        .filter(|p| base.is_none_or(|b| p.base == b))
        .filter(|p| {
            head.is_none_or(|h| format!("{}:{}", r.owner, p.head_ref).eq_ignore_ascii_case(h))
        })
        .collect();
    // GitHub's default order is newest first.
    if ctx.query.get("direction") != Some("asc") {
        prs.reverse();
    }
    let items = prs.into_iter().map(|p| st.pr_simple_json(r, p)).collect();
    paged_array(st, ctx, items)
}

/// Resolves a `ref` the way the contents API does for the refs this world has: a branch name
/// (bare or `refs/heads/...`), a branch's head SHA, or a pull request's head SHA.
fn resolve_branch<'r>(r: &'r Repo, git_ref: &str) -> Option<&'r super::state::Branch> {
    if let Some(name) = git_ref.strip_prefix("refs/heads/") {
        return r.branches.get(name);
    }
    if let Some(name) = git_ref.strip_prefix("refs/tags/") {
        return r.tags.get(name);
    }
    // A bare name: git resolves a tag before a branch of the same name.
    if let Some(b) = r.tags.get(git_ref).or_else(|| r.branches.get(git_ref)) {
        return Some(b);
    }
    if let Some(b) = r.branches.values().find(|b| b.head_sha == git_ref) {
        return Some(b);
    }
    r.prs
        .values()
        .rev()
        .find(|p| p.head_sha == git_ref)
        .and_then(|p| r.branches.get(&p.head_ref))
}

fn contents(st: &State, r: &Repo, path: &str, query: &Query) -> Reply {
    let git_ref = query.get("ref").unwrap_or(&r.default_branch);
    let Some(branch) = resolve_branch(r, git_ref) else {
        return Reply::error(404, &format!("No commit found for the ref {git_ref}"));
    };
    let api = format!("{}/repos/{}", st.base_url, r.full_name);
    let html = format!("https://github.com/{}", r.full_name);
    let entry = |path: &str, kind: &str, sha: &str, size: usize| {
        let name = path.rsplit('/').next().unwrap_or(path);
        json!({
            "type": kind,
            "size": size,
            "name": name,
            "path": path,
            "sha": sha,
            "url": format!("{api}/contents/{path}?ref={git_ref}"),
            "git_url": format!("{api}/git/{}/{sha}", if kind == "file" { "blobs" } else { "trees" }),
            "html_url": format!("{html}/{}/{git_ref}/{path}", if kind == "file" { "blob" } else { "tree" }),
            "download_url": if kind == "file" { json!(format!("https://raw.githubusercontent.com/{}/{git_ref}/{path}", r.full_name)) } else { Value::Null },
            "_links": {
                "self": format!("{api}/contents/{path}?ref={git_ref}"),
                "git": format!("{api}/git/{}/{sha}", if kind == "file" { "blobs" } else { "trees" }),
                "html": format!("{html}/{}/{git_ref}/{path}", if kind == "file" { "blob" } else { "tree" }),
            },
        })
    };
    if let Some(blob) = branch.files.get(path) {
        let mut v = entry(path, "file", &blob.sha, blob.content.len());
        if blob.content.len() > MAX_INLINE_CONTENT {
            // GitHub: 1-100 MB files come back with empty content; use the raw media type.
            v["encoding"] = json!("none");
            v["content"] = json!("");
        } else {
            v["encoding"] = json!("base64");
            v["content"] = json!(github_base64(blob.content.as_bytes()));
        }
        return Reply::json(200, v);
    }
    // A directory: list its immediate children, as GitHub does.
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut children: Vec<(String, bool)> = Vec::new();
    for file in branch.files.keys().filter(|f| f.starts_with(&prefix)) {
        let rest = &file[prefix.len()..];
        let (child, is_dir) = match rest.split_once('/') {
            Some((dir, _)) => (format!("{prefix}{dir}"), true),
            None => (file.clone(), false),
        };
        if !children.iter().any(|(c, _)| *c == child) {
            children.push((child, is_dir));
        }
    }
    if children.is_empty() {
        return not_found();
    }
    let listing = children
        .iter()
        .map(|(child, is_dir)| match (is_dir, branch.files.get(child)) {
            (false, Some(blob)) => entry(child, "file", &blob.sha, blob.content.len()),
            _ => entry(
                child,
                "dir",
                &super::state::sha_like(&format!("tree {child}")),
                0,
            ),
        })
        .collect();
    Reply::json(200, Value::Array(listing))
}

const STATUSES: &[&str] = &["queued", "in_progress", "completed"];
const CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
];

fn invalid(detail: &str) -> Reply {
    Reply::json(
        422,
        json!({
            "message": format!("Invalid request.\n\n{detail}"),
            "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run",
            "status": "422",
        }),
    )
}

fn one_of(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A string field of the request body, rejecting other JSON types as GitHub's schema does.
fn opt_str<'v>(
    obj: &'v Map<String, Value>,
    field: &str,
    prefix: &str,
) -> Result<Option<&'v str>, Reply> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(&format!(
            "For '{prefix}{field}', {other} is not a string."
        ))),
    }
}

/// The output fields of a check-run body, validated: `(title, summary, text, annotations)`.
type Output<'v> = Option<(&'v str, &'v str, Option<&'v str>, u64)>;

fn parse_output(obj: &Map<String, Value>) -> Result<Output<'_>, Reply> {
    let Some(output) = obj.get("output") else {
        return Ok(None);
    };
    let Some(output) = output.as_object() else {
        return Err(invalid(&format!(
            "For 'properties/output', {output} is not an object."
        )));
    };
    let prefix = "properties/output/properties/";
    let title =
        opt_str(output, "title", prefix)?.ok_or_else(|| invalid("\"title\" wasn't supplied."))?;
    let summary = opt_str(output, "summary", prefix)?
        .ok_or_else(|| invalid("\"summary\" wasn't supplied."))?;
    let text = opt_str(output, "text", prefix)?;
    for (field, value) in std::iter::once(("summary", summary)).chain(text.map(|t| ("text", t))) {
        if value.len() > MAX_OUTPUT_BYTES {
            return Err(invalid(&format!(
                "output.{field} exceeds a maximum bytesize of {MAX_OUTPUT_BYTES}"
            )));
        }
    }
    let annotations = match output.get("annotations") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(a)) if a.len() <= 50 => a.len() as u64,
        Some(Value::Array(_)) => {
            return Err(invalid("Only 50 annotations may be sent per request."));
        }
        Some(other) => {
            return Err(invalid(&format!(
                "For 'properties/output/properties/annotations', {other} is not an array."
            )));
        }
    };
    Ok(Some((title, summary, text, annotations)))
}

fn parse_status(obj: &Map<String, Value>) -> Result<(Option<&str>, Option<&str>), Reply> {
    let status = opt_str(obj, "status", "properties/")?;
    if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
        return Err(invalid(&format!(
            "For 'properties/status', \"{s}\" is not one of {}.",
            one_of(STATUSES)
        )));
    }
    let conclusion = opt_str(obj, "conclusion", "properties/")?;
    if let Some(c) = conclusion.filter(|c| !CONCLUSIONS.contains(c)) {
        return Err(invalid(&format!(
            "For 'properties/conclusion', \"{c}\" is not one of {}.",
            one_of(CONCLUSIONS)
        )));
    }
    Ok((status, conclusion))
}

fn parse_body(body: &[u8]) -> Result<Value, Reply> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(Reply::error(400, "Problems parsing JSON")),
    }
}

/// The fields of a check-run create or update body, each validated against GitHub's schema.
struct RunFields<'v> {
    name: Option<&'v str>,
    head_sha: Option<&'v str>,
    status: Option<&'v str>,
    conclusion: Option<&'v str>,
    output: Output<'v>,
    details_url: Option<&'v str>,
    external_id: Option<&'v str>,
    started_at: Option<&'v str>,
    completed_at: Option<&'v str>,
}

fn parse_run_fields(obj: &Map<String, Value>) -> Result<RunFields<'_>, Reply> {
    let (status, conclusion) = parse_status(obj)?;
    Ok(RunFields {
        name: opt_str(obj, "name", "properties/")?,
        head_sha: opt_str(obj, "head_sha", "properties/")?,
        status,
        conclusion,
        output: parse_output(obj)?,
        details_url: opt_str(obj, "details_url", "properties/")?,
        external_id: opt_str(obj, "external_id", "properties/")?,
        started_at: opt_str(obj, "started_at", "properties/")?,
        completed_at: opt_str(obj, "completed_at", "properties/")?,
    })
}

/// `POST /repos/{o}/{r}/pulls/{n}/requested_reviewers`: needs `pull_requests: write`, as on
/// GitHub (403 "Resource not accessible by integration" otherwise).
fn request_reviewers(st: &mut State, installation: u64, repo: &str, n: u64, body: &[u8]) -> Reply {
    let writable = st
        .installations
        .get(&installation)
        .is_some_and(|i| i.pull_requests == "write");
    if !writable {
        return Reply::error(403, "Resource not accessible by integration");
    }
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (users, teams) = (list("reviewers"), list("team_reviewers"));
    let Some(r) = st.repo_mut(repo) else {
        return not_found();
    };
    let Some(pr) = r.prs.get_mut(&n) else {
        return not_found();
    };
    for u in users {
        if !pr
            .requested_users
            .iter()
            .any(|x| x.eq_ignore_ascii_case(&u))
        {
            pr.requested_users.push(u);
        }
    }
    for t in teams {
        if !pr
            .requested_teams
            .iter()
            .any(|x| x.eq_ignore_ascii_case(&t))
        {
            pr.requested_teams.push(t);
        }
    }
    Reply::json(201, json!({"number": n}))
}

fn create_check_run(st: &mut State, repo: &str, body: &[u8], now: u64) -> Reply {
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let obj = body.as_object().cloned().unwrap_or_default();
    let f = match parse_run_fields(&obj) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let Some(name) = f.name else {
        return invalid("\"name\" wasn't supplied.");
    };
    let Some(head_sha) = f.head_sha else {
        return invalid("\"head_sha\" wasn't supplied.");
    };
    // Sending a conclusion marks the run completed, whatever status says.
    let status = if f.conclusion.is_some() {
        "completed"
    } else {
        f.status.unwrap_or("queued")
    };
    if status == "completed" && f.conclusion.is_none() {
        return invalid("\"conclusion\" wasn't supplied.");
    }
    let key = repo.to_ascii_lowercase();
    let app_id = st.app_id;
    let id = st.fresh_id(4_000_000_000);
    let check_suite_id = st.check_suite_id(&key, head_sha, app_id);
    let run = CheckRun {
        id,
        name: name.to_string(),
        head_sha: head_sha.to_string(),
        status: status.to_string(),
        conclusion: f.conclusion.map(str::to_string),
        title: f.output.map(|o| o.0.to_string()),
        summary: f.output.map(|o| o.1.to_string()),
        text: f.output.and_then(|o| o.2).map(str::to_string),
        external_id: f.external_id.map(str::to_string),
        details_url: f.details_url.map(str::to_string),
        app_id,
        updates: 0,
        history: vec![body.clone()],
        started_at: Some(f.started_at.map_or_else(|| rfc3339(now), str::to_string)),
        completed_at: (status == "completed")
            .then(|| f.completed_at.map_or_else(|| rfc3339(now), str::to_string)),
        check_suite_id,
        annotations_count: f.output.map_or(0, |o| o.3),
    };
    let reply = match st.repo(repo) {
        Some(r) => Reply::json(201, st.check_run_json(r, &run)),
        None => return not_found(),
    };
    st.check_runs.push((key, run));
    reply
}

fn update_check_run(st: &mut State, repo: &str, id: u64, body: &[u8], now: u64) -> Reply {
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let obj = body.as_object().cloned().unwrap_or_default();
    let key = repo.to_ascii_lowercase();
    let app_id = st.app_id;
    let Some(index) = st
        .check_runs
        .iter()
        .position(|(k, run)| *k == key && run.id == id)
    else {
        return not_found();
    };
    if st.check_runs[index].1.app_id != app_id {
        return Reply::error(403, "Resource not accessible by integration");
    }
    let f = match parse_run_fields(&obj) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let run = &mut st.check_runs[index].1;
    // Work out the new status first: nothing changes if the result would be invalid.
    let (status, conclusion) = match (f.status, f.conclusion) {
        (_, Some(c)) => ("completed".to_string(), Some(c.to_string())),
        (Some("completed"), None) => ("completed".to_string(), run.conclusion.clone()),
        (Some(s), None) => (s.to_string(), None),
        (None, None) => (run.status.clone(), run.conclusion.clone()),
    };
    if status == "completed" && conclusion.is_none() {
        return invalid("\"conclusion\" wasn't supplied.");
    }
    if let Some(n) = f.name {
        run.name = n.to_string();
    }
    let was_completed = run.status == "completed";
    run.status = status;
    run.conclusion = conclusion;
    if run.status == "completed" {
        if f.completed_at.is_some() || !was_completed || run.completed_at.is_none() {
            run.completed_at = Some(f.completed_at.map_or_else(|| rfc3339(now), str::to_string));
        }
    } else {
        run.completed_at = None;
    }
    if let Some((title, summary, text, annotations)) = f.output {
        run.title = Some(title.to_string());
        run.summary = Some(summary.to_string());
        if let Some(text) = text {
            run.text = Some(text.to_string());
        }
        run.annotations_count += annotations;
    }
    if let Some(url) = f.details_url {
        run.details_url = Some(url.to_string());
    }
    if let Some(external_id) = f.external_id {
        run.external_id = Some(external_id.to_string());
    }
    if let Some(started_at) = f.started_at {
        run.started_at = Some(started_at.to_string());
    }
    run.updates += 1;
    run.history.push(body);
    let run = run.clone();
    match st.repo(repo) {
        Some(r) => Reply::json(200, st.check_run_json(r, &run)),
        None => not_found(),
    }
}

fn list_check_runs(st: &State, ctx: &Ctx, r: &Repo, git_ref: &str) -> Reply {
    let key = r.full_name.to_ascii_lowercase();
    // A branch name (or an open pull request's head branch) stands for its head commit.
    let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let sha = r
        .branches
        .get(name)
        .map(|b| b.head_sha.clone())
        .or_else(|| {
            r.prs
                .values()
                .rev()
                .find(|p| p.closed_at.is_none() && p.head_ref == name)
                .map(|p| p.head_sha.clone())
        })
        .unwrap_or_else(|| git_ref.to_string());
    let check_name = ctx.query.get("check_name");
    let status = ctx.query.get("status");
    let app_filter = ctx.query.get("app_id").and_then(|a| a.parse::<u64>().ok());
    let latest_only = ctx.query.get("filter") != Some("all");
    let mut runs: Vec<&CheckRun> = st
        .check_runs
        .iter()
        .filter(|(k, run)| *k == key && run.head_sha == sha)
        .map(|(_, run)| run)
        .filter(|run| check_name.is_none_or(|n| run.name == n))
        .filter(|run| status.is_none_or(|s| run.status == s))
        .filter(|run| app_filter.is_none_or(|a| run.app_id == a))
        .collect();
    runs.sort_by_key(|run| std::cmp::Reverse(run.id));
    if latest_only {
        let mut seen = Vec::new();
        runs.retain(|run| {
            let k = (run.name.clone(), run.app_id);
            if seen.contains(&k) {
                false
            } else {
                seen.push(k);
                true
            }
        });
    }
    let items = runs.iter().map(|run| st.check_run_json(r, run)).collect();
    paged_object(st, ctx, "check_runs", items, json!({}))
}
