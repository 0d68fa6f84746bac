//! Self-tests of the test harness: drive the fake GitHub over real HTTP with reqwest, the way
//! the App will, so a wrong shape or rule in the fake is caught here rather than passing the
//! App's tests against behaviour GitHub does not have.

mod support;

use std::time::Duration;

use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use support::fake_github::{
    AuthKind, CommitSpec, FakeGitHub, Fault, FaultKind, FileSpec, MAX_OUTPUT_BYTES, PrSpec,
    blob_sha, clock, test_fixture,
};
use support::webhooks;

const APP_ID: u64 = 4242;
const INST: u64 = 77;
const REPO: &str = "acme/app";

fn jwt(claims: Value) -> String {
    let key =
        EncodingKey::from_rsa_pem(test_fixture("test-app-key.pem").as_bytes()).expect("test key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign JWT")
}

/// A JWT as the App should build it: `iat` 60 s in the past, `exp` 9 minutes ahead of now.
fn app_jwt() -> String {
    let now = clock::now();
    jwt(json!({"iat": now - 60, "exp": now + 540, "iss": APP_ID.to_string()}))
}

struct World {
    fake: FakeGitHub,
    http: Client,
    token: String,
}

async fn start() -> FakeGitHub {
    FakeGitHub::start(APP_ID, &test_fixture("test-app-key.pub.pem")).await
}

async fn exchange(fake: &FakeGitHub, http: &Client, installation: u64) -> Response {
    http.post(format!(
        "{}/app/installations/{installation}/access_tokens",
        fake.url()
    ))
    .bearer_auth(app_jwt())
    .send()
    .await
    .expect("token exchange")
}

async fn world() -> World {
    let fake = start().await;
    fake.add_installation(INST, "acme");
    fake.add_repo(INST, REPO, "main");
    let http = Client::new();
    let answer = exchange(&fake, &http, INST).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.expect("token JSON");
    let token = body["token"].as_str().expect("token").to_string();
    World { fake, http, token }
}

impl World {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.fake.url())
        }
    }

    async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header("authorization", format!("token {}", self.token))
            .send()
            .await
            .expect("GET")
    }

    async fn get_json(&self, path: &str) -> Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status(), StatusCode::OK, "GET {path}");
        answer.json().await.expect("JSON body")
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> Response {
        self.http
            .request(method, self.url(path))
            .header("authorization", format!("Bearer {}", self.token))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Follows `rel="next"` links from `path`, returning every page's items and Link header.
    async fn all_pages(&self, path: &str) -> (Vec<Value>, Vec<Option<String>>) {
        let mut items = Vec::new();
        let mut links = Vec::new();
        let mut next = Some(self.url(path));
        while let Some(url) = next {
            let answer = self.get(&url).await;
            assert_eq!(answer.status(), StatusCode::OK);
            let link = answer
                .headers()
                .get("link")
                .map(|v| v.to_str().expect("ascii link").to_string());
            next = link.as_deref().and_then(|l| rel(l, "next"));
            links.push(link);
            let page: Value = answer.json().await.expect("page JSON");
            items.extend(page.as_array().expect("array page").iter().cloned());
        }
        (items, links)
    }
}

/// The URL of one relation in a `Link` header.
fn rel(link: &str, name: &str) -> Option<String> {
    link.split(", ").find_map(|part| {
        let (url, r) = part.split_once("; ")?;
        (r == format!("rel=\"{name}\""))
            .then(|| url.trim_matches(|c| c == '<' || c == '>').to_string())
    })
}

fn files(n: usize) -> Vec<FileSpec> {
    (0..n)
        .map(|i| FileSpec::modified(&format!("src/file{i:04}.rs")))
        .collect()
}

// --- authentication ---

#[tokio::test]
async fn jwt_buys_an_installation_token() {
    let fake = start().await;
    fake.add_installation(INST, "acme");
    let http = Client::new();
    let answer = exchange(&fake, &http, INST).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    let now = clock::now();
    let expected: Vec<Value> = (now + 3598..=now + 3600)
        .map(|t| json!(clock::rfc3339(t)))
        .collect();
    assert!(
        expected.contains(&body["expires_at"]),
        "{}",
        body["expires_at"]
    );
    assert_eq!(body["permissions"]["checks"], "write");
    assert_eq!(body["repository_selection"], "all");

    // GitHub also accepts `iss` as a number.
    let numeric = jwt(json!({"iat": now - 60, "exp": now + 540, "iss": APP_ID}));
    let answer = http
        .get(format!("{}/app/installations", fake.url()))
        .bearer_auth(numeric)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let list: Value = answer.json().await.unwrap();
    assert_eq!(list[0]["id"], json!(INST));
    assert_eq!(list[0]["account"]["login"], "acme");

    let recorded = fake.requests();
    assert_eq!(recorded[0].auth, AuthKind::Jwt);
    assert_eq!(recorded[0].installation, Some(INST));
    assert_eq!(recorded[0].status, 201);
}

#[tokio::test]
async fn bad_jwts_are_refused_like_github_does() {
    let fake = start().await;
    fake.add_installation(INST, "acme");
    let http = Client::new();
    let now = clock::now();
    let url = format!("{}/app/installations/{INST}/access_tokens", fake.url());
    // Flip a character in the middle of the signature (the last one may only hold padding bits).
    let mut tampered: Vec<char> = app_jwt().chars().collect();
    let i = tampered.len() - 20;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let cases = [
        (
            "exp more than 10 minutes after iat",
            jwt(json!({"iat": now, "exp": now + 601, "iss": APP_ID})),
        ),
        (
            "iat in the future",
            jwt(json!({"iat": now + 120, "exp": now + 500, "iss": APP_ID})),
        ),
        (
            "expired",
            jwt(json!({"iat": now - 700, "exp": now - 100, "iss": APP_ID})),
        ),
        (
            "other app",
            jwt(json!({"iat": now - 60, "exp": now + 500, "iss": APP_ID + 1})),
        ),
        ("no exp", jwt(json!({"iat": now - 60, "iss": APP_ID}))),
        ("bad signature", tampered),
    ];
    for (why, token) in cases {
        let answer = http.post(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{why}");
        let body: Value = answer.json().await.unwrap();
        assert!(body["message"].is_string(), "{why}");
    }
    // Skew within 60 s is tolerated, as on GitHub.
    let skewed = jwt(json!({"iat": now + 30, "exp": now + 600, "iss": APP_ID}));
    assert_eq!(
        http.post(&url)
            .bearer_auth(skewed)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        http.post(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = format!("{}/app/installations/999/access_tokens", fake.url());
    assert_eq!(
        http.post(&unknown)
            .bearer_auth(app_jwt())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn installation_routes_need_a_live_token_of_the_owning_installation() {
    let w = world().await;
    let path = format!("{}/repos/{REPO}", w.fake.url());
    let no_auth = w.http.get(&path).send().await.unwrap();
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    let bad = w
        .http
        .get(&path)
        .header("authorization", "token ghs_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["message"],
        "Bad credentials"
    );
    let jwt_on_repo = w
        .http
        .get(&path)
        .bearer_auth(app_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(jwt_on_repo.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.get(&format!("/repos/{REPO}")).await.status(),
        StatusCode::OK
    );

    let kinds: Vec<(AuthKind, Option<u64>)> = w
        .fake
        .requests()
        .iter()
        .map(|r| (r.auth, r.installation))
        .collect();
    assert_eq!(
        kinds[1..],
        [
            (AuthKind::None, None),
            (AuthKind::Token, None),
            (AuthKind::Jwt, None),
            (AuthKind::Token, Some(INST))
        ]
    );

    // Another installation's token does not see this repository (404, as for private repos).
    w.fake.add_installation(88, "other");
    let other: Value = exchange(&w.fake, &w.http, 88).await.json().await.unwrap();
    let answer = w
        .http
        .get(&path)
        .header(
            "authorization",
            format!("token {}", other["token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);

    w.fake.expire_tokens();
    assert_eq!(
        w.get(&format!("/repos/{REPO}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn installation_repositories_are_listed_and_paginated() {
    let w = world().await;
    for i in 0..4 {
        w.fake.add_repo(INST, &format!("acme/extra{i}"), "main");
    }
    let page: Value = w.get_json("/installation/repositories?per_page=2").await;
    assert_eq!(page["total_count"], 5);
    assert_eq!(page["repositories"].as_array().unwrap().len(), 2);
    assert_eq!(page["repository_selection"], "all");
    let answer = w.get("/installation/repositories?per_page=2&page=3").await;
    let link = answer.headers()["link"].to_str().unwrap().to_string();
    assert!(
        rel(&link, "next").is_none() && rel(&link, "prev").unwrap().ends_with("per_page=2&page=2")
    );
    let last: Value = answer.json().await.unwrap();
    assert_eq!(last["repositories"].as_array().unwrap().len(), 1);
}

// --- pull requests ---

#[tokio::test]
async fn pr_files_stop_at_3000_with_github_link_headers() {
    let w = world().await;
    let n = w.fake.open_pr(
        REPO,
        PrSpec {
            files: files(3500),
            ..PrSpec::default()
        },
    );
    let pr = w.get_json(&format!("/repos/{REPO}/pulls/{n}")).await;
    assert_eq!(pr["changed_files"], 3500);

    let (items, links) = w
        .all_pages(&format!("/repos/{REPO}/pulls/{n}/files?per_page=100"))
        .await;
    assert_eq!(items.len(), 3000);
    assert_eq!(links.len(), 30);
    assert_eq!(items[0]["filename"], "src/file0000.rs");
    assert_eq!(items[2999]["filename"], "src/file2999.rs");
    let base = format!("{}/repos/{REPO}/pulls/{n}/files?per_page=100", w.fake.url());
    let first = links[0].as_deref().unwrap();
    assert_eq!(rel(first, "next").unwrap(), format!("{base}&page=2"));
    assert_eq!(rel(first, "last").unwrap(), format!("{base}&page=30"));
    assert!(rel(first, "prev").is_none() && rel(first, "first").is_none());
    let middle = links[1].as_deref().unwrap();
    assert_eq!(
        middle,
        format!(
            "<{base}&page=1>; rel=\"prev\", <{base}&page=3>; rel=\"next\", <{base}&page=30>; rel=\"last\", <{base}&page=1>; rel=\"first\""
        )
    );
    let last = links[29].as_deref().unwrap();
    assert!(rel(last, "next").is_none() && rel(last, "last").is_none());
    assert_eq!(rel(last, "prev").unwrap(), format!("{base}&page=29"));

    // Defaults: 30 per page; more than 100 is capped at 100.
    let default_page: Value = w.get_json(&format!("/repos/{REPO}/pulls/{n}/files")).await;
    assert_eq!(default_page.as_array().unwrap().len(), 30);
    let capped: Value = w
        .get_json(&format!("/repos/{REPO}/pulls/{n}/files?per_page=500"))
        .await;
    assert_eq!(capped.as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn pr_files_carry_status_and_previous_filename() {
    let w = world().await;
    let spec = PrSpec {
        files: vec![
            FileSpec::added("a.rs"),
            FileSpec::renamed("old.rs", "new.rs"),
            FileSpec::removed("gone.rs"),
        ],
        ..PrSpec::default()
    };
    let n = w.fake.open_pr(REPO, spec);
    let listed = w.get_json(&format!("/repos/{REPO}/pulls/{n}/files")).await;
    assert_eq!(listed[0]["status"], "added");
    assert!(listed[0].get("previous_filename").is_none());
    assert_eq!(listed[1]["status"], "renamed");
    assert_eq!(listed[1]["previous_filename"], "old.rs");
    assert_eq!(listed[2]["status"], "removed");
}

#[tokio::test]
async fn pr_commits_stop_at_250() {
    let w = world().await;
    let mut commits: Vec<CommitSpec> = (0..300)
        .map(|i| CommitSpec::by(&format!("{i:040x}"), "dev"))
        .collect();
    commits[0].author = None;
    let head = commits[299].sha.clone();
    let n = w.fake.open_pr(
        REPO,
        PrSpec {
            head_sha: head,
            commits,
            ..PrSpec::default()
        },
    );
    let pr = w.get_json(&format!("/repos/{REPO}/pulls/{n}")).await;
    assert_eq!(pr["commits"], 300);
    let (items, _) = w
        .all_pages(&format!("/repos/{REPO}/pulls/{n}/commits?per_page=100"))
        .await;
    assert_eq!(items.len(), 250);
    assert!(
        items[0]["author"].is_null(),
        "an unknown git author has a null top-level author"
    );
    assert_eq!(items[0]["commit"]["author"]["name"], "Someone Unknown");
    assert_eq!(items[1]["author"]["login"], "dev");
    assert_eq!(items[1]["committer"]["login"], "dev");
    assert_eq!(items[1]["parents"][0]["sha"], items[0]["sha"]);
}

#[tokio::test]
async fn reviews_are_oldest_first_and_dismissal_is_in_place() {
    let w = world().await;
    let n = w.fake.open_pr(
        REPO,
        PrSpec {
            head_sha: "a".repeat(40),
            ..PrSpec::default()
        },
    );
    let first = w.fake.review(REPO, n, "alice", "approved", None);
    w.fake.push(REPO, n, &"b".repeat(40), vec![], None);
    let second = w.fake.review(REPO, n, "bob", "CHANGES_REQUESTED", None);
    w.fake.review(REPO, n, "carol", "PENDING", None);
    w.fake.dismiss_review(REPO, n, second);
    let reviews = w
        .get_json(&format!("/repos/{REPO}/pulls/{n}/reviews"))
        .await;
    let reviews = reviews.as_array().unwrap();
    assert_eq!(reviews.len(), 2, "pending reviews are invisible to an App");
    assert_eq!(reviews[0]["id"], json!(first));
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_eq!(reviews[0]["commit_id"], "a".repeat(40));
    assert_eq!(reviews[0]["user"]["login"], "alice");
    assert_eq!(reviews[1]["state"], "DISMISSED");
    assert_eq!(reviews[1]["commit_id"], "b".repeat(40));
    assert!(reviews[1]["submitted_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn pr_lifecycle_matches_the_api() {
    let w = world().await;
    let n = w.fake.open_pr(
        REPO,
        PrSpec {
            author: "dev".into(),
            files: files(2),
            ..PrSpec::default()
        },
    );
    assert_eq!(n, 1);
    assert_eq!(w.fake.open_pr(REPO, PrSpec::default()), 2);
    let served = w.get_json(&format!("/repos/{REPO}/pulls/{n}")).await;
    assert_eq!(served, w.fake.pr_json(REPO, n));
    assert_eq!(served["state"], "open");
    assert_eq!(served["user"]["login"], "dev");
    assert_eq!(served["base"]["ref"], "main");
    assert_eq!(served["head"]["ref"], "feature-1");
    assert_eq!(served["base"]["repo"]["full_name"], REPO);
    assert_eq!(
        served["url"],
        format!("{}/repos/{REPO}/pulls/1", w.fake.url())
    );
    let text = served.to_string();
    assert!(
        !text.contains("Codertocat")
            && !text.contains("Hello-World")
            && !text.contains("api.github.com")
    );

    w.fake
        .push(REPO, n, &"c".repeat(40), vec![], Some(files(5)));
    let pushed = w.get_json(&format!("/repos/{REPO}/pulls/{n}")).await;
    assert_eq!(pushed["head"]["sha"], "c".repeat(40));
    assert_eq!(pushed["commits"], 2);
    assert_eq!(pushed["changed_files"], 5);

    let open = w
        .get_json(&format!("/repos/{REPO}/pulls?state=open&base=main"))
        .await;
    assert_eq!(open.as_array().unwrap().len(), 2);
    assert_eq!(open[0]["number"], 2, "newest first");
    assert!(
        open[0].get("changed_files").is_none(),
        "list items are the short form"
    );
    w.fake.close_pr(REPO, 2);
    let open = w
        .get_json(&format!("/repos/{REPO}/pulls?state=open&base=main"))
        .await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(
        w.get_json(&format!("/repos/{REPO}/pulls/2")).await["state"],
        "closed"
    );
    assert_eq!(
        w.get_json(&format!("/repos/{REPO}/pulls?base=other")).await,
        json!([])
    );

    w.fake.delete_pr(REPO, n);
    for tail in ["", "/files", "/commits", "/reviews"] {
        assert_eq!(
            w.get(&format!("/repos/{REPO}/pulls/{n}{tail}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
}

// --- contents and teams ---

#[tokio::test]
async fn contents_are_base64_in_60_char_lines() {
    let w = world().await;
    let policy = "policy:\n  approvals: 2\n".repeat(20);
    w.fake
        .set_file(REPO, "main", ".github/reviewgate.yml", &policy);
    let v = w
        .get_json(&format!(
            "/repos/{REPO}/contents/.github/reviewgate.yml?ref=main"
        ))
        .await;
    assert_eq!(v["type"], "file");
    assert_eq!(v["encoding"], "base64");
    assert_eq!(v["sha"], blob_sha(&policy));
    assert_eq!(v["path"], ".github/reviewgate.yml");
    assert_eq!(v["name"], "reviewgate.yml");
    assert_eq!(v["size"], policy.len());
    let content = v["content"].as_str().unwrap();
    assert!(
        content.lines().all(|l| l.len() <= 60)
            && content.lines().count() > 1
            && content.ends_with('\n')
    );
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(content.replace('\n', ""))
        .unwrap();
    assert_eq!(decoded, policy.as_bytes());

    // Default ref is the default branch; percent-encoded paths work; absent files are 404.
    let encoded = w
        .get_json(&format!("/repos/{REPO}/contents/.github%2Freviewgate.yml"))
        .await;
    assert_eq!(encoded["sha"], v["sha"]);
    let missing = w
        .get(&format!("/repos/{REPO}/contents/nope.yml?ref=main"))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Not Found"
    );
    assert_eq!(
        w.get(&format!(
            "/repos/{REPO}/contents/.github/reviewgate.yml?ref=nobranch"
        ))
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let dir = w.get_json(&format!("/repos/{REPO}/contents/.github")).await;
    assert_eq!(dir[0]["name"], "reviewgate.yml");

    w.fake.remove_file(REPO, "main", ".github/reviewgate.yml");
    assert_eq!(
        w.get(&format!("/repos/{REPO}/contents/.github/reviewgate.yml"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn team_members_are_paginated_and_unknown_teams_404() {
    let w = world().await;
    let members: Vec<String> = (0..45).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    w.fake.set_team("acme", "reviewers", &refs);
    let (items, links) = w.all_pages("/orgs/acme/teams/reviewers/members").await;
    assert_eq!(items.len(), 45);
    assert_eq!(links.len(), 2);
    assert_eq!(items[44]["login"], "user44");
    assert_eq!(
        w.get("/orgs/acme/teams/ghosts/members").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.get("/orgs/acme/teams/reviewers/memberships/user3")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        w.get("/orgs/acme/teams/reviewers/memberships/stranger")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    w.fake.set_team("elsewhere", "reviewers", &["x"]);
    assert_eq!(
        w.get("/orgs/elsewhere/teams/reviewers/members")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

// --- conditional requests and quota ---

#[tokio::test]
async fn etag_match_is_a_free_304() {
    let w = world().await;
    let n = w.fake.open_pr(REPO, PrSpec::default());
    let path = format!("/repos/{REPO}/pulls/{n}");
    let first = w.get(&path).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let remaining: u64 = first.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first.headers()["x-ratelimit-resource"], "core");
    assert_eq!(first.headers()["x-ratelimit-limit"], "5000");

    let conditional = w
        .http
        .get(w.url(&path))
        .header("authorization", format!("token {}", w.token))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        conditional.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap(),
        remaining.to_string()
    );
    assert!(conditional.bytes().await.unwrap().is_empty());
    assert!(w.fake.requests().last().unwrap().not_modified);
    assert_eq!(w.fake.rate_limit_remaining(INST), remaining);

    w.fake.close_pr(REPO, n);
    let changed = w
        .http
        .get(w.url(&path))
        .header("authorization", format!("token {}", w.token))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(w.fake.rate_limit_remaining(INST), remaining - 1);
}

#[tokio::test]
async fn spent_quota_answers_403_until_reset() {
    let w = world().await;
    let reset = clock::now() + 600;
    w.fake.set_rate_limit(INST, 1, reset);
    let ok = w.get(&format!("/repos/{REPO}")).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    let limited = w.get(&format!("/repos/{REPO}")).await;
    assert_eq!(limited.status(), StatusCode::FORBIDDEN);
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        limited.headers()["x-ratelimit-reset"].to_str().unwrap(),
        reset.to_string()
    );
    let body: Value = limited.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );

    w.fake.set_rate_limit(INST, 0, clock::now() - 1);
    assert_eq!(
        w.get(&format!("/repos/{REPO}")).await.status(),
        StatusCode::OK,
        "a passed reset refills the quota"
    );
}

// --- check runs ---

#[tokio::test]
async fn check_runs_are_created_updated_and_listed_newest_first() {
    let w = world().await;
    let sha = "d".repeat(40);
    let n = w.fake.open_pr(
        REPO,
        PrSpec {
            head_sha: sha.clone(),
            head_ref: "topic".into(),
            ..PrSpec::default()
        },
    );
    let created = w
        .send(Method::POST, &format!("/repos/{REPO}/check-runs"), &json!({"name": "reviewgate", "head_sha": sha, "status": "in_progress", "external_id": "pr-1"}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_u64().unwrap();
    assert_eq!(created["status"], "in_progress");
    assert!(created["conclusion"].is_null());
    assert_eq!(created["app"]["id"], json!(APP_ID));
    assert_eq!(created["pull_requests"][0]["number"], json!(n));

    let updated = w
        .send(
            Method::PATCH,
            &format!("/repos/{REPO}/check-runs/{id}"),
            &json!({"conclusion": "failure", "output": {"title": "Needs 2 approvals", "summary": "1 of 2", "text": "details"}}),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["status"], "completed");
    assert_eq!(updated["conclusion"], "failure");
    assert_eq!(updated["output"]["title"], "Needs 2 approvals");
    assert!(updated["completed_at"].is_string());

    let second = w
        .send(Method::POST, &format!("/repos/{REPO}/check-runs"), &json!({"name": "reviewgate", "head_sha": sha, "conclusion": "success", "output": {"title": "ok", "summary": "ok"}}))
        .await;
    let second_id = second.json::<Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    w.send(
        Method::POST,
        &format!("/repos/{REPO}/check-runs"),
        &json!({"name": "other", "head_sha": sha}),
    )
    .await;

    let latest = w
        .get_json(&format!(
            "/repos/{REPO}/commits/{sha}/check-runs?check_name=reviewgate&filter=latest"
        ))
        .await;
    assert_eq!(latest["total_count"], 1);
    assert_eq!(latest["check_runs"][0]["id"], json!(second_id));
    let all = w
        .get_json(&format!(
            "/repos/{REPO}/commits/{sha}/check-runs?check_name=reviewgate&filter=all"
        ))
        .await;
    assert_eq!(all["total_count"], 2);
    assert_eq!(all["check_runs"][0]["id"], json!(second_id), "newest first");
    assert_eq!(all["check_runs"][1]["id"], json!(id));
    let by_branch = w
        .get_json(&format!("/repos/{REPO}/commits/topic/check-runs"))
        .await;
    assert_eq!(by_branch["total_count"], 2, "one latest run per name");
    let single = w.get_json(&format!("/repos/{REPO}/check-runs/{id}")).await;
    assert_eq!(single["conclusion"], "failure");

    let runs = w.fake.check_runs(REPO);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].updates, 1);
    assert_eq!(runs[0].history.len(), 2);
    assert_eq!(runs[0].external_id.as_deref(), Some("pr-1"));
    assert_eq!(runs[0].title.as_deref(), Some("Needs 2 approvals"));
    assert_eq!(runs[0].app_id, APP_ID);
    let latest = w.fake.latest_check_run(REPO, &sha, "reviewgate").unwrap();
    assert_eq!(
        (latest.id, latest.conclusion.as_deref()),
        (second_id, Some("success"))
    );
}

#[tokio::test]
async fn check_run_input_is_validated_like_github() {
    let w = world().await;
    let sha = "e".repeat(40);
    let path = format!("/repos/{REPO}/check-runs");
    let long = "x".repeat(MAX_OUTPUT_BYTES + 1);
    // Fewer characters than the limit, more bytes: GitHub counts bytes.
    let wide = "é".repeat(MAX_OUTPUT_BYTES / 2 + 1);
    let invalid = [
        json!({"head_sha": sha}),
        json!({"name": "reviewgate"}),
        json!({"name": 5, "head_sha": sha}),
        json!({"name": "reviewgate", "head_sha": sha, "status": "done"}),
        json!({"name": "reviewgate", "head_sha": sha, "conclusion": "stale"}),
        json!({"name": "reviewgate", "head_sha": sha, "conclusion": "approved"}),
        json!({"name": "reviewgate", "head_sha": sha, "status": "completed"}),
        json!({"name": "reviewgate", "head_sha": sha, "output": {"summary": "s"}}),
        json!({"name": "reviewgate", "head_sha": sha, "output": {"title": "t"}}),
        json!({"name": "reviewgate", "head_sha": sha, "output": {"title": "t", "summary": long}}),
        json!({"name": "reviewgate", "head_sha": sha, "output": {"title": "t", "summary": "s", "text": long}}),
        json!({"name": "reviewgate", "head_sha": sha, "output": {"title": "t", "summary": wide}}),
    ];
    for body in invalid {
        let answer = w.send(Method::POST, &path, &body).await;
        assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = answer.json().await.unwrap();
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid request."),
            "{error}"
        );
        assert!(error["documentation_url"].is_string());
    }
    assert!(w.fake.check_runs(REPO).is_empty());

    // Exactly at the limit is fine; the limit counts bytes, not characters.
    let at_limit = format!("{}a", "é".repeat(MAX_OUTPUT_BYTES / 2));
    assert_eq!(at_limit.len(), MAX_OUTPUT_BYTES);
    let ok = w
        .send(Method::POST, &path, &json!({"name": "reviewgate", "head_sha": sha, "status": "queued", "output": {"title": "t", "summary": at_limit}}))
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let id = ok.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let patch = w
        .send(
            Method::PATCH,
            &format!("{path}/{id}"),
            &json!({"status": "completed"}),
        )
        .await;
    assert_eq!(patch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let raw = w
        .http
        .post(w.url(&path))
        .header("authorization", format!("token {}", w.token))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        w.send(Method::PATCH, &format!("{path}/12345"), &json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // A run another App created cannot be updated with our token.
    let foreign = w
        .fake
        .seed_foreign_check_run(REPO, 9999, "reviewgate", &sha, "success");
    let answer = w
        .send(
            Method::PATCH,
            &format!("{path}/{foreign}"),
            &json!({"conclusion": "failure"}),
        )
        .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let listed = w
        .get_json(&format!(
            "/repos/{REPO}/commits/{sha}/check-runs?check_name=reviewgate"
        ))
        .await;
    assert_eq!(
        listed["total_count"], 2,
        "latest per App: ours and the impostor's"
    );
    let ours = w
        .get_json(&format!(
            "/repos/{REPO}/commits/{sha}/check-runs?check_name=reviewgate&app_id={APP_ID}"
        ))
        .await;
    assert_eq!(ours["total_count"], 1);
}

// --- faults ---

#[tokio::test]
async fn status_and_not_found_faults_answer_with_github_error_bodies() {
    let w = world().await;
    let path = format!("/repos/{REPO}");
    w.fake.inject(Fault {
        method: Some(Method::GET),
        path_contains: path.clone(),
        times: 2,
        kind: FaultKind::Status(502),
    });
    for _ in 0..2 {
        let answer = w.get(&path).await;
        assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            answer.json::<Value>().await.unwrap()["message"],
            "Bad Gateway"
        );
    }
    assert_eq!(
        w.get(&path).await.status(),
        StatusCode::OK,
        "the fault is used up"
    );

    w.fake
        .inject(Fault::once(None, "/pulls/", FaultKind::NotFound));
    let n = w.fake.open_pr(REPO, PrSpec::default());
    assert_eq!(
        w.get(&format!("/repos/{REPO}/pulls/{n}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.get(&format!("/repos/{REPO}/pulls/{n}")).await.status(),
        StatusCode::OK
    );

    // A method filter spares other methods.
    w.fake.inject(Fault::once(
        Some(Method::POST),
        "/check-runs",
        FaultKind::Status(500),
    ));
    assert_eq!(
        w.get(&format!("/repos/{REPO}/commits/abc/check-runs"))
            .await
            .status(),
        StatusCode::OK
    );
    let post = w
        .send(
            Method::POST,
            &format!("/repos/{REPO}/check-runs"),
            &json!({"name": "x", "head_sha": "abc"}),
        )
        .await;
    assert_eq!(post.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        w.fake.check_runs(REPO).is_empty(),
        "a 5xx fault does not take effect"
    );
    let faulted: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.fault.is_some())
        .collect();
    assert_eq!(faulted.len(), 4);
    assert_eq!(faulted[3].installation, Some(INST));
}

#[tokio::test]
async fn reset_drops_the_connection_without_a_response() {
    let w = world().await;
    let path = format!("/repos/{REPO}");
    w.fake.inject(Fault::once(None, &path, FaultKind::Reset));
    let error = w
        .http
        .get(w.url(&path))
        .header("authorization", format!("token {}", w.token))
        .send()
        .await
        .expect_err("a reset connection yields no response");
    assert!(
        error.is_request() || error.is_connect() || error.is_body(),
        "{error:?}"
    );
    let recorded = w.fake.requests();
    let last = recorded.last().unwrap();
    assert_eq!(
        (last.status, last.fault.clone()),
        (0, Some(FaultKind::Reset))
    );
    assert_eq!(
        recorded.iter().filter(|r| r.path == path).count(),
        1,
        "the client did not silently retry"
    );
    assert_eq!(
        w.get(&path).await.status(),
        StatusCode::OK,
        "new connections work"
    );
}

#[tokio::test]
async fn delay_trips_client_timeouts_but_the_request_takes_effect() {
    let w = world().await;
    let path = format!("/repos/{REPO}/check-runs");
    w.fake.inject(Fault::once(
        Some(Method::POST),
        &path,
        FaultKind::Delay(Duration::from_millis(800)),
    ));
    let error = w
        .http
        .post(w.url(&path))
        .header("authorization", format!("token {}", w.token))
        .json(&json!({"name": "reviewgate", "head_sha": "f".repeat(40)}))
        .timeout(Duration::from_millis(150))
        .send()
        .await
        .expect_err("the client gives up first");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(
        w.fake.check_runs(REPO).len(),
        1,
        "the POST took effect although its answer was lost"
    );
}

#[tokio::test]
async fn rate_limit_faults_carry_the_headers_clients_must_read() {
    let w = world().await;
    let path = format!("/repos/{REPO}");
    w.fake.inject(Fault::once(
        None,
        &path,
        FaultKind::SecondaryRateLimit {
            retry_after_secs: 7,
        },
    ));
    let secondary = w.get(&path).await;
    assert_eq!(secondary.status(), StatusCode::FORBIDDEN);
    assert_eq!(secondary.headers()["retry-after"], "7");
    let remaining: u64 = secondary.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining > 0, "a secondary limit leaves primary quota");
    assert!(
        secondary.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );

    w.fake.inject(Fault::once(
        None,
        &path,
        FaultKind::TooManyRequests {
            retry_after_secs: 3,
        },
    ));
    let too_many = w.get(&path).await;
    assert_eq!(too_many.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(too_many.headers()["retry-after"], "3");

    w.fake
        .inject(Fault::once(None, &path, FaultKind::PrimaryRateLimit));
    let primary = w.get(&path).await;
    assert_eq!(primary.status(), StatusCode::FORBIDDEN);
    assert_eq!(primary.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = primary.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > clock::now());
    assert!(primary.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn truncated_body_is_a_200_that_does_not_parse() {
    let w = world().await;
    let n = w.fake.open_pr(REPO, PrSpec::default());
    let path = format!("/repos/{REPO}/pulls/{n}");
    w.fake
        .inject(Fault::once(None, &path, FaultKind::TruncatedBody));
    let answer = w.get(&path).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let bytes = answer
        .bytes()
        .await
        .expect("the HTTP message itself is complete");
    assert!(!bytes.is_empty());
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    assert!(w.get(&path).await.json::<Value>().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_concurrency_are_observable() {
    let w = world().await;
    w.fake.set_latency(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (http, url, token) = (
            w.http.clone(),
            w.url(&format!("/repos/{REPO}")),
            w.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .header("authorization", format!("token {token}"))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), StatusCode::OK);
    }
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(w.fake.max_concurrency(INST), 5);
    assert_eq!(w.fake.max_concurrency(88), 0);
}

// --- webhooks ---

#[test]
fn signature_matches_githubs_documented_example() {
    // The test vector from GitHub's "Validating webhook deliveries" documentation.
    assert_eq!(
        webhooks::sign("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let headers = webhooks::delivery_headers("ping", "s", b"{}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| *k == "x-hub-signature-256" && *v == webhooks::sign("s", b"{}"))
    );
    assert_eq!(clock::rfc3339(1_557_933_633), "2019-05-15T15:20:33Z");
    assert_eq!(clock::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn every_fixture_is_listed_and_parses() {
    let all = webhooks::all_fixtures();
    assert!(all.len() > 250, "{}", all.len());
    for (event, file, body) in &all {
        serde_json::from_slice::<Value>(body).unwrap_or_else(|e| panic!("{event}/{file}: {e}"));
    }
    assert!(
        all.iter()
            .any(|(e, f, _)| e == "pull_request" && f == "opened.payload.json")
    );
}

/// Serialises and re-parses, as a delivery would, so builders cannot produce non-JSON.
fn delivered(v: &Value) -> Value {
    let body = serde_json::to_vec(v).unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn builders_start_from_real_payloads_and_overwrite_the_scenario() {
    let w = world().await;
    let fake = &w.fake;
    let head = "1".repeat(40);
    fake.set_team("acme", "reviewers", &["alice"]);
    let n = fake.open_pr(
        REPO,
        PrSpec {
            head_sha: head.clone(),
            files: files(3),
            ..PrSpec::default()
        },
    );
    fake.review(REPO, n, "alice", "APPROVED", None);

    let opened = delivered(&webhooks::pull_request_event("opened", fake, REPO, n, INST));
    assert_eq!(opened["action"], "opened");
    assert_eq!(opened["number"], json!(n));
    assert_eq!(opened["pull_request"], fake.pr_json(REPO, n));
    assert_eq!(opened["repository"]["full_name"], REPO);
    assert_eq!(opened["installation"]["id"], json!(INST));

    fake.push(REPO, n, &"2".repeat(40), vec![], None);
    let sync = delivered(&webhooks::pull_request_event(
        "synchronize",
        fake,
        REPO,
        n,
        INST,
    ));
    assert_eq!(
        (
            sync["before"].as_str().unwrap(),
            sync["after"].as_str().unwrap()
        ),
        (head.as_str(), "2".repeat(40).as_str())
    );

    let review = delivered(&webhooks::pull_request_review_event(
        "submitted",
        fake,
        REPO,
        n,
        INST,
        "alice",
        "APPROVED",
    ));
    assert_eq!(review["review"]["state"], "approved");
    assert_eq!(review["review"]["user"]["login"], "alice");
    assert_eq!(
        review["review"]["commit_id"], head,
        "the review's own commit, not the new head"
    );
    assert!(review["pull_request"].get("changed_files").is_none());
    assert_eq!(review["pull_request"]["number"], json!(n));
    assert_eq!(review["installation"]["id"], json!(INST));

    let created = w
        .send(
            Method::POST,
            &format!("/repos/{REPO}/check-runs"),
            &json!({"name": "reviewgate", "head_sha": "2".repeat(40)}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let run_id = created["id"].as_u64().unwrap();
    let rerun = delivered(&webhooks::check_run_rerequested(fake, REPO, run_id, INST));
    assert_eq!(rerun["action"], "rerequested");
    assert_eq!(rerun["check_run"]["id"], json!(run_id));
    assert_eq!(rerun["check_run"]["app"]["id"], json!(APP_ID));
    assert_eq!(
        rerun["check_run"]["check_suite"]["head_sha"],
        "2".repeat(40)
    );
    assert_eq!(rerun["check_run"]["pull_requests"][0]["number"], json!(n));

    let suite = delivered(&webhooks::check_suite_rerequested(
        fake,
        REPO,
        &"2".repeat(40),
        INST,
    ));
    assert_eq!(suite["check_suite"]["head_sha"], "2".repeat(40));
    assert_eq!(suite["check_suite"]["pull_requests"][0]["number"], json!(n));
    assert_eq!(suite["check_suite"]["app"]["id"], json!(APP_ID));
    assert_eq!(
        suite["check_suite"]["id"],
        rerun["check_run"]["check_suite"]["id"]
    );

    let group = delivered(&webhooks::merge_group_checks_requested(
        fake,
        REPO,
        "main",
        n,
        &"3".repeat(40),
        INST,
    ));
    assert_eq!(group["merge_group"]["head_sha"], "3".repeat(40));
    assert_eq!(
        group["merge_group"]["head_ref"],
        format!(
            "refs/heads/gh-readonly-queue/main/pr-{n}-{}",
            "2".repeat(40)
        )
    );
    assert_eq!(group["merge_group"]["base_ref"], "refs/heads/main");
    assert_eq!(group["installation"]["id"], json!(INST));

    let before = fake.branch_head(REPO, "main").unwrap();
    let push = delivered(&webhooks::push_event(
        fake,
        REPO,
        "main",
        &"4".repeat(40),
        &[".github/reviewgate.yml"],
        INST,
    ));
    assert_eq!(push["ref"], "refs/heads/main");
    assert_eq!(push["before"], before);
    assert_eq!(push["after"], "4".repeat(40));
    assert_eq!(
        push["head_commit"]["modified"],
        json!([".github/reviewgate.yml"])
    );
    assert_eq!(push["repository"]["full_name"], REPO);
    assert_eq!(push["installation"]["id"], json!(INST));

    let member = delivered(&webhooks::membership_event(
        fake,
        "removed",
        "acme",
        "reviewers",
        "alice",
        INST,
    ));
    assert_eq!(member["action"], "removed");
    assert_eq!(member["member"]["login"], "alice");
    assert_eq!(member["team"]["slug"], "reviewers");
    assert_eq!(member["organization"]["login"], "acme");
    assert_eq!(member["installation"]["id"], json!(INST));

    let team = delivered(&webhooks::team_event(
        fake,
        "edited",
        "acme",
        "reviewers",
        None,
        INST,
    ));
    assert_eq!(team["team"]["slug"], "reviewers");
    assert!(team.get("repository").is_none());
    let added = delivered(&webhooks::team_event(
        fake,
        "added_to_repository",
        "acme",
        "reviewers",
        Some(REPO),
        INST,
    ));
    assert_eq!(added["repository"]["full_name"], REPO);

    for payload in [&opened, &review, &rerun, &suite, &group, &member, &team] {
        let text = payload.to_string();
        assert!(
            !text.contains("api.github.com"),
            "API URLs point at the fake: {text:.200}"
        );
    }
}

// --- compatibility with the App's client library ---

/// The App talks to GitHub through octocrab, so every answer the fake gives and every payload
/// the builders make must deserialise into octocrab's models, or the fake is not GitHub-shaped.
#[tokio::test]
async fn octocrab_models_parse_the_fakes_answers_and_payloads() {
    use octocrab::models;
    use octocrab::models::webhook_events::{WebhookEvent, WebhookEventPayload};

    let w = world().await;
    let fake = &w.fake;
    let head = "5".repeat(40);
    let n = fake.open_pr(
        REPO,
        PrSpec {
            head_sha: head.clone(),
            files: vec![
                FileSpec::modified("a.rs"),
                FileSpec::renamed("b.rs", "c.rs"),
            ],
            commits: vec![CommitSpec {
                sha: head.clone(),
                author: None,
                committer: Some("dev".into()),
                parents: None,
            }],
            ..PrSpec::default()
        },
    );
    fake.review(REPO, n, "alice", "APPROVED", None);
    fake.set_team("acme", "reviewers", &["alice", "bob"]);
    fake.set_file(REPO, "main", ".github/reviewgate.yml", "approvals: 1\n");

    let key = EncodingKey::from_rsa_pem(test_fixture("test-app-key.pem").as_bytes()).unwrap();
    let app = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .app(models::AppId(APP_ID), key)
        .build()
        .unwrap();
    let installations: Vec<models::Installation> =
        app.get("/app/installations", None::<&()>).await.unwrap();
    assert_eq!(installations[0].id, models::InstallationId(INST));

    let inst = app.installation(models::InstallationId(INST)).unwrap();
    let pr: models::pulls::PullRequest = inst
        .get(format!("/repos/{REPO}/pulls/{n}"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(pr.head.sha, head);
    assert_eq!(pr.changed_files, Some(2));
    let files: Vec<models::repos::DiffEntry> = inst
        .get(format!("/repos/{REPO}/pulls/{n}/files"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(files[1].previous_filename.as_deref(), Some("b.rs"));
    let commits: Vec<models::repos::RepoCommit> = inst
        .get(format!("/repos/{REPO}/pulls/{n}/commits"), None::<&()>)
        .await
        .unwrap();
    assert!(commits[0].author.is_none());
    let reviews: Vec<models::pulls::Review> = inst
        .get(format!("/repos/{REPO}/pulls/{n}/reviews"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(reviews[0].state, Some(models::pulls::ReviewState::Approved));
    let listed: Vec<models::pulls::PullRequest> = inst
        .get(
            format!("/repos/{REPO}/pulls?state=open&base=main"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let content: models::repos::Content = inst
        .get(
            format!("/repos/{REPO}/contents/.github/reviewgate.yml?ref=main"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(content.decoded_content().as_deref(), Some("approvals: 1\n"));
    let members: Vec<models::Author> = inst
        .get("/orgs/acme/teams/reviewers/members", None::<&()>)
        .await
        .unwrap();
    assert_eq!(members[1].login, "bob");
    let repos: models::InstallationRepositories = inst
        .get("/installation/repositories", None::<&()>)
        .await
        .unwrap();
    assert_eq!(repos.repositories[0].full_name.as_deref(), Some(REPO));
    let run: models::checks::CheckRun = inst
        .post(
            format!("/repos/{REPO}/check-runs"),
            Some(&json!({"name": "reviewgate", "head_sha": head, "status": "in_progress"})),
        )
        .await
        .unwrap();
    let run: models::checks::CheckRun = inst
        .patch(
            format!("/repos/{REPO}/check-runs/{}", run.id),
            Some(&json!({"conclusion": "success", "output": {"title": "Approved", "summary": "1 of 1"}})),
        )
        .await
        .unwrap();
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let runs: models::checks::ListCheckRuns = inst
        .get(
            format!("/repos/{REPO}/commits/{head}/check-runs?check_name=reviewgate"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(runs.total_count, 1);
    let kinds: Vec<AuthKind> = fake.requests().iter().map(|r| r.auth).collect();
    assert!(
        kinds.iter().filter(|k| **k == AuthKind::Jwt).count() >= 2,
        "app list + token exchange"
    );
    assert_eq!(fake.requests().last().unwrap().installation, Some(INST));

    let payloads = [
        (
            "pull_request",
            webhooks::pull_request_event("opened", fake, REPO, n, INST),
        ),
        (
            "pull_request",
            webhooks::pull_request_event("synchronize", fake, REPO, n, INST),
        ),
        (
            "pull_request_review",
            webhooks::pull_request_review_event(
                "submitted",
                fake,
                REPO,
                n,
                INST,
                "alice",
                "approved",
            ),
        ),
        (
            "pull_request_review",
            webhooks::pull_request_review_event(
                "dismissed",
                fake,
                REPO,
                n,
                INST,
                "alice",
                "dismissed",
            ),
        ),
        (
            "check_run",
            webhooks::check_run_rerequested(fake, REPO, run.id.0, INST),
        ),
        (
            "check_suite",
            webhooks::check_suite_rerequested(fake, REPO, &head, INST),
        ),
        (
            "merge_group",
            webhooks::merge_group_checks_requested(fake, REPO, "main", n, &"6".repeat(40), INST),
        ),
        (
            "push",
            webhooks::push_event(
                fake,
                REPO,
                "refs/heads/main",
                &"7".repeat(40),
                &["x.rs"],
                INST,
            ),
        ),
        (
            "membership",
            webhooks::membership_event(fake, "added", "acme", "reviewers", "carol", INST),
        ),
        (
            "team",
            webhooks::team_event(fake, "edited", "acme", "reviewers", None, INST),
        ),
    ];
    for (event, payload) in payloads {
        let body = serde_json::to_vec(&payload).unwrap();
        let parsed = WebhookEvent::try_from_header_and_body(event, &body)
            .unwrap_or_else(|e| panic!("{event} {}: {e}", payload["action"]));
        assert_eq!(
            parsed.installation.map(|i| i.id()),
            Some(models::InstallationId(INST)),
            "{event}"
        );
        if let WebhookEventPayload::PullRequestReview(review) = parsed.specific {
            assert_eq!(review.pull_request.number, n);
        }
    }
}

#[test]
fn vendored_fixtures_match_shared() {
    use std::collections::BTreeMap;
    fn read_all(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path
                        .strip_prefix(dir)
                        .expect("prefix")
                        .display()
                        .to_string();
                    out.insert(rel, std::fs::read(&path).expect("read"));
                }
            }
        }
        out
    }
    let shared = support::webhooks::shared_fixture_dir();
    let vendored = read_all(&support::webhooks::fixture_dir());
    assert!(vendored.len() > 200, "vendored payloads present");
    if shared.is_dir() {
        assert!(
            read_all(&shared) == vendored,
            "tests/fixtures/github-webhooks differs from {}",
            shared.display()
        );
    }
}
