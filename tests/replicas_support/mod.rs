//! What `tests/replicas.rs` builds on: replicas of the real binary on one store, bursts of PRs
//! whose right check is known in advance, webhook senders that can run in spawned tasks, and
//! the per-PR evaluation windows seen from the fake GitHub.
//!
//! **Telling replicas apart.** Each replica is given its own door to the one fake GitHub
//! ([`FakeGitHub::open_door`]): another listener onto the same world, and the fake records on
//! every request which door it came through. The App builds every URL from its configured base
//! (it never follows a URL from an answer, pagination included), so every request replica A
//! makes comes through A's door, whatever connections its pool opens or reopens. This is more
//! robust than telling clients apart by User-Agent (the same for both), TCP peer ports (which
//! need /proc to map to a process, racily) or installation tokens (one process may hold two).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use reviewgate::store::Store;
use serde_json::Value;

use crate::store_support;
use crate::support::fake_github::{FakeGitHub, FileSpec, PrSpec, RecordedRequest};
use crate::support::harness::{CHECK, INSTALLATION, REPO, SECRET, WRITERS};
use crate::support::process::ServerProcess;
use crate::support::webhooks;

/// The tests of `tests/replicas.rs` run one at a time: each starts servers as processes (two
/// with up to 10 PostgreSQL connections each, of the server's 100), and several measure time
/// limits that a neighbour competing for the cores (2 on this project's machines) would blur.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Who opens every PR of a burst; never an approver.
pub const AUTHOR: &str = "zed";
const SENIORS: &[&str] = &["alice", "carol", "sam"];
const PAYMENTS: &[&str] = &["pat", "carol"];

/// One PR of a burst: its number and head, the reviewer whose approval is delivered, and the
/// conclusion its check must end with.
#[derive(Clone, Debug)]
pub struct Case {
    pub n: u64,
    pub head: String,
    pub reviewer: &'static str,
    pub expected: &'static str,
}

/// The kinds of PR a burst cycles through: changed files, approvals recorded earlier (not
/// delivered), and the approval that is delivered. Some need two approvals with a senior and a
/// payments member (`ledger/**`, `payments/**` except Markdown), some one.
const KINDS: &[(&[&str], &[&str], &str)] = &[
    (&["src/lib.rs"], &[], "dan"),
    (&["ledger/books.rs"], &[], "carol"),
    (&["ledger/books.rs", "src/lib.rs"], &["dan"], "carol"),
    (&["payments/pay.rs"], &["dan"], "bob"),
    (&["ledger/README.md"], &[], "erin"),
    (&["payments/pay.rs"], &["sam"], "dan"),
    (&["payments/pay.rs"], &["sam"], "pat"),
];

/// Whether a path needs the `critical` level under the harness's policy.
fn critical(path: &str) -> bool {
    (path.starts_with("ledger/") || path.starts_with("payments/"))
        && !path.ends_with(".md")
        && !path.contains("/testdata/")
}

/// The conclusion the harness's policy gives a PR by [`AUTHOR`] changing `files`, approved by
/// `approvers`: standard needs one approval by someone with write access who is not the
/// author; critical needs two, one of them a senior and one a payments member.
pub fn expected(files: &[&str], approvers: &[&str]) -> &'static str {
    let mut valid: Vec<&str> = approvers
        .iter()
        .copied()
        .filter(|a| *a != AUTHOR && WRITERS.contains(a))
        .collect();
    valid.sort_unstable();
    valid.dedup();
    let pass = if files.iter().any(|f| critical(f)) {
        valid.len() >= 2
            && valid.iter().any(|a| SENIORS.contains(a))
            && valid.iter().any(|a| PAYMENTS.contains(a))
    } else {
        !valid.is_empty()
    };
    if pass { "success" } else { "failure" }
}

/// Opens `count` PRs on the fake, cycling through [`KINDS`], with every approval recorded on
/// the fake before any delivery (so any evaluation, early or late, has one right answer).
pub fn open_burst(fake: &FakeGitHub, count: usize) -> Vec<Case> {
    (0..count)
        .map(|i| {
            let (files, earlier, reviewer) = KINDS[i % KINDS.len()];
            let n = fake.open_pr(
                REPO,
                PrSpec {
                    author: AUTHOR.into(),
                    files: files.iter().map(|f| FileSpec::modified(f)).collect(),
                    ..PrSpec::default()
                },
            );
            for who in earlier.iter().chain([&reviewer]) {
                fake.review(REPO, n, who, "APPROVED", None);
            }
            let approvers: Vec<&str> = earlier.iter().copied().chain([reviewer]).collect();
            Case {
                n,
                head: head(fake, n),
                reviewer,
                expected: expected(files, &approvers),
            }
        })
        .collect()
}

pub fn head(fake: &FakeGitHub, n: u64) -> String {
    fake.pr_json(REPO, n)["head"]["sha"]
        .as_str()
        .expect("head sha")
        .to_string()
}

pub fn opened(fake: &FakeGitHub, n: u64) -> Value {
    webhooks::pull_request_event("opened", fake, REPO, n, INSTALLATION)
}

/// A `pull_request_review` `submitted` webhook for `reviewer`'s latest review (`state` as the
/// webhook spells it: `approved`, `changes_requested`).
pub fn reviewed(fake: &FakeGitHub, n: u64, reviewer: &str, state: &str) -> Value {
    webhooks::pull_request_review_event("submitted", fake, REPO, n, INSTALLATION, reviewer, state)
}

/// Starts a replica: the store `store_url`, the fake through `door`, sweeps off, a 50 ms
/// debounce, then `extra` (which wins).
pub async fn replica(
    fake: &FakeGitHub,
    door: &str,
    store_url: &str,
    extra: &[(&str, &str)],
) -> ServerProcess {
    let mut env = vec![
        ("REVIEWGATE_DATABASE_URL", store_url),
        ("REVIEWGATE_GITHUB_API_URL", door),
        ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
        ("REVIEWGATE_DEBOUNCE_MS", "50"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start(fake, &env).await
}

/// Sends signed webhooks to one server; cheap to clone into spawned tasks.
#[derive(Clone)]
pub struct Hook {
    http: reqwest::Client,
    url: String,
}

impl Hook {
    pub fn to(server: &ServerProcess) -> Hook {
        Hook {
            http: reqwest::Client::new(),
            url: server.url.clone(),
        }
    }

    /// Delivers `payload` as `event` with a fresh delivery ID: the status, 0 if none came.
    pub async fn send(&self, event: &str, payload: &Value) -> u16 {
        self.send_as(event, payload, &webhooks::delivery_id())
            .await
            .0
    }

    /// Delivers with this `X-GitHub-Delivery`: the status (0 if none came) and the body.
    pub async fn send_as(&self, event: &str, payload: &Value, delivery: &str) -> (u16, String) {
        let body = serde_json::to_vec(payload).expect("json");
        let mut req = self
            .http
            .post(format!("{}/webhook", self.url))
            .timeout(Duration::from_secs(30))
            .body(body.clone());
        for (k, v) in webhooks::delivery_headers(event, SECRET, &body) {
            let v = if k == "x-github-delivery" {
                delivery.to_string()
            } else {
                v
            };
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }
}

/// The conclusion of our newest run on each head, and how many runs of ours each head has.
pub fn verdicts(fake: &FakeGitHub) -> HashMap<String, (Option<String>, usize)> {
    let mut out: HashMap<String, (u64, Option<String>, usize)> = HashMap::new();
    for run in fake
        .check_runs(REPO)
        .into_iter()
        .filter(|r| r.name == CHECK)
    {
        let e = out.entry(run.head_sha.clone()).or_insert((0, None, 0));
        e.2 += 1;
        if run.id >= e.0 {
            e.0 = run.id;
            e.1 = run.conclusion.clone();
        }
    }
    out.into_iter().map(|(k, (_, c, n))| (k, (c, n))).collect()
}

/// The cases whose check is not (yet) the expected one.
pub fn wrong<'c>(fake: &FakeGitHub, cases: impl IntoIterator<Item = &'c Case>) -> Vec<&'c Case> {
    let now = verdicts(fake);
    cases
        .into_iter()
        .filter(|c| now.get(&c.head).and_then(|v| v.0.as_deref()) != Some(c.expected))
        .collect()
}

/// Waits until `done` holds, panicking with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the store has no pending work (claimed or not); panics after `timeout`.
pub async fn drained(store: &Store, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let n = store.pending().await.expect("count pending work");
        if n == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} pieces of work still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A counter's total over all its labels in a `/metrics` text.
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Whether a request writes a check run (create or update).
pub fn is_write(r: &RecordedRequest) -> bool {
    (r.method == Method::POST || r.method == Method::PATCH) && r.path.contains("/check-runs")
}

/// The requests one replica made for one PR in one evaluation: from its first request to its
/// check-run write.
#[derive(Debug)]
pub struct Window {
    pub door: String,
    pub start: Instant,
    pub end: Instant,
    /// `METHOD path` of each request, in order, for the failure message.
    pub requests: Vec<String>,
}

/// Each PR's evaluation windows, from everything the fake recorded, sorted by start.
///
/// A request is about PR `n` when its path is `/pulls/{n}` or under it, `/commits/{head}/…`,
/// or a check-run write on `n`'s head (the created run's body names the head; an update names
/// the run, whose head the fake knows). Requests about no single PR (the policy, teams,
/// permissions, tokens, the list of open PRs) are left out: they are shared or cached. Per PR
/// and door, a window runs from the start of a request to the finish (when the answer left
/// the fake) of the next check-run write: one evaluation, which reads first and writes last.
/// An evaluation that ends without writing (its claim lost, a replica killed) joins the next
/// one of the same replica, which only makes its window wider, the check stricter.
pub fn windows(
    fake: &FakeGitHub,
    cases: &[Case],
    requests: &[RecordedRequest],
) -> BTreeMap<u64, Vec<Window>> {
    let prefix = format!("/repos/{REPO}/");
    let by_head: HashMap<&str, u64> = cases.iter().map(|c| (c.head.as_str(), c.n)).collect();
    let run_head: HashMap<u64, String> = fake
        .check_runs(REPO)
        .into_iter()
        .map(|r| (r.id, r.head_sha))
        .collect();
    let mut out: BTreeMap<u64, Vec<Window>> = BTreeMap::new();
    let mut open: HashMap<(u64, String), Window> = HashMap::new();
    let mut sorted: Vec<&RecordedRequest> = requests.iter().collect();
    sorted.sort_by_key(|r| r.seq);
    for r in sorted {
        let Some(rest) = r.path.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let pr = match parts.as_slice() {
            ["pulls", n, ..] => n.parse().ok(),
            ["commits", sha, ..] => by_head.get(sha).copied(),
            ["check-runs"] => r
                .body
                .as_ref()
                .and_then(|b| b["head_sha"].as_str())
                .and_then(|sha| by_head.get(sha).copied()),
            ["check-runs", id] => id
                .parse()
                .ok()
                .and_then(|id: u64| run_head.get(&id))
                .and_then(|sha| by_head.get(sha.as_str()).copied()),
            _ => None,
        };
        let Some(pr) = pr else { continue };
        let end = r.finished.unwrap_or_else(Instant::now);
        let key = (pr, r.door.clone());
        let w = open.entry(key.clone()).or_insert_with(|| Window {
            door: r.door.clone(),
            start: r.started,
            end,
            requests: Vec::new(),
        });
        w.start = w.start.min(r.started);
        w.end = w.end.max(end);
        w.requests.push(format!("{} {}", r.method, r.path));
        if is_write(r) {
            let done = open.remove(&key).expect("the window just used");
            out.entry(pr).or_default().push(done);
        }
    }
    for ((pr, _), w) in open {
        out.entry(pr).or_default().push(w);
    }
    for ws in out.values_mut() {
        ws.sort_by_key(|w| w.start);
    }
    out
}

/// Two windows of one PR that overlap in time: two evaluations of it at once.
pub fn overlaps(windows: &BTreeMap<u64, Vec<Window>>) -> Vec<String> {
    let mut out = Vec::new();
    for (pr, ws) in windows {
        // Sorted by start: each must start after every earlier one ended.
        let mut latest: Option<&Window> = None;
        for w in ws {
            if let Some(l) = latest {
                if w.start <= l.end {
                    out.push(format!(
                        "PR #{pr}: {} {:?} overlaps {} {:?}",
                        l.door, l.requests, w.door, w.requests
                    ));
                }
                if w.end <= l.end {
                    continue;
                }
            }
            latest = Some(w);
        }
    }
    out
}

/// A check-run write on one head, as the fake received it.
#[derive(Debug, Clone)]
pub struct Written {
    pub door: String,
    pub started: Instant,
    pub conclusion: Option<String>,
}

/// Every check-run write on `head`'s runs, in the order the fake received them.
pub fn writes_on(fake: &FakeGitHub, requests: &[RecordedRequest], head: &str) -> Vec<Written> {
    let ours: Vec<u64> = fake
        .check_runs(REPO)
        .into_iter()
        .filter(|r| r.head_sha == head)
        .map(|r| r.id)
        .collect();
    let mut out: Vec<(u64, Written)> = requests
        .iter()
        .filter(|r| is_write(r))
        .filter(|r| {
            let created = r.body.as_ref().and_then(|b| b["head_sha"].as_str()) == Some(head);
            let updated = r
                .path
                .rsplit('/')
                .next()
                .and_then(|id| id.parse().ok())
                .is_some_and(|id: u64| ours.contains(&id));
            created || updated
        })
        .map(|r| {
            let conclusion = r.body.as_ref().and_then(|b| b["conclusion"].as_str());
            (
                r.seq,
                Written {
                    door: r.door.clone(),
                    started: r.started,
                    conclusion: conclusion.map(str::to_string),
                },
            )
        })
        .collect();
    out.sort_by_key(|(seq, _)| *seq);
    out.into_iter().map(|(_, w)| w).collect()
}

/// Two replicas on one fresh PostgreSQL schema, each through its own door to `fake`.
pub struct Pair {
    pub a: ServerProcess,
    pub b: ServerProcess,
    pub door_a: String,
    pub door_b: String,
    /// The same store, for the test to look at.
    pub store: Store,
    pub db: store_support::Db,
}

impl Pair {
    /// None (after printing that it was skipped) without `REVIEWGATE_TEST_DATABASE_URL`.
    pub async fn start(fake: &FakeGitHub, extra: &[(&str, &str)]) -> Option<Pair> {
        // Unmigrated: the two replicas, starting together, migrate it (once, under a lock).
        let db = store_support::postgres_unmigrated().await?;
        let (door_a, door_b) = (fake.open_door().await, fake.open_door().await);
        let (a, b) = tokio::join!(
            replica(fake, &door_a, &db.url, extra),
            replica(fake, &door_b, &db.url, extra)
        );
        let store = db.replica().await;
        Some(Pair {
            a,
            b,
            door_a,
            door_b,
            store,
            db,
        })
    }

    /// The replica that came through `door`, and the other one.
    pub fn split(&self, door: &str) -> (&ServerProcess, &ServerProcess) {
        if door == self.door_a {
            (&self.a, &self.b)
        } else {
            (&self.b, &self.a)
        }
    }

    pub async fn finish(self) {
        self.a.stop();
        self.b.stop();
        self.db.cleanup().await;
    }
}

/// Delivers, for each case, `opened` to `first` and, `gap` later, the approval to `second`,
/// at most `parallel` cases at a time; the two statuses per case.
pub async fn burst(
    fake: &FakeGitHub,
    cases: &[Case],
    first: &[Hook],
    second: &[Hook],
    gap: Duration,
    parallel: usize,
) -> tokio::task::JoinHandle<Vec<(u16, u16)>> {
    let jobs: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                first[i % first.len()].clone(),
                opened(fake, c.n),
                second[i % second.len()].clone(),
                reviewed(fake, c.n, c.reviewer, "approved"),
            )
        })
        .collect();
    tokio::spawn(async move {
        let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut tasks = Vec::new();
        for (to_first, open, to_second, review) in jobs {
            let permit = gate.clone().acquire_owned().await.expect("semaphore");
            tasks.push(tokio::spawn(async move {
                let s1 = to_first.send("pull_request", &open).await;
                tokio::time::sleep(gap).await;
                let s2 = to_second.send("pull_request_review", &review).await;
                drop(permit);
                (s1, s2)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("delivery task"));
        }
        out
    })
}

/// One PR by [`AUTHOR`] changing `src/lib.rs` (one approval passes it), opened at B and
/// evaluated (by either replica): its check fails, waiting for an approval.
pub async fn one_waiting_pr(fake: &FakeGitHub, b: &ServerProcess) -> Case {
    let n = fake.open_pr(
        REPO,
        PrSpec {
            author: AUTHOR.into(),
            files: vec![FileSpec::modified("src/lib.rs")],
            ..PrSpec::default()
        },
    );
    let case = Case {
        n,
        head: head(fake, n),
        reviewer: "dan",
        expected: "failure",
    };
    assert_eq!(
        Hook::to(b).send("pull_request", &opened(fake, n)).await,
        202
    );
    wait_for("the first check", Duration::from_secs(20), || {
        wrong(fake, [&case]).is_empty()
    })
    .await;
    case
}

/// Records `reviewer`'s review on the fake and delivers it through `hook`.
pub async fn review_at(fake: &FakeGitHub, hook: &Hook, n: u64, reviewer: &str, state: &str) {
    fake.review(REPO, n, reviewer, state, None);
    let status = hook
        .send("pull_request_review", &reviewed(fake, n, reviewer, state))
        .await;
    assert_eq!(status, 202, "{reviewer} {state}");
}

/// Waits until a replica has read the PR's reviews after request `after`; returns its door.
pub async fn read_reviews(fake: &FakeGitHub, n: u64, after: u64) -> String {
    let path = format!("/repos/{REPO}/pulls/{n}/reviews");
    let read = || {
        fake.requests()
            .into_iter()
            .find(|r| r.seq > after && r.path == path)
            .map(|r| r.door)
    };
    wait_for("the reviews to be read", Duration::from_secs(20), || {
        read().is_some()
    })
    .await;
    read().expect("read")
}

pub fn last_seq(fake: &FakeGitHub) -> u64 {
    fake.requests().iter().map(|r| r.seq).max().unwrap_or(0)
}

/// The writes on `head` as `slow:success`, `other:failure`, … for messages.
pub fn story(slow_door: &str, writes: &[Written]) -> Vec<String> {
    writes
        .iter()
        .map(|w| {
            let who = if w.door == slow_door { "slow" } else { "other" };
            format!("{who}:{}", w.conclusion.as_deref().unwrap_or("-"))
        })
        .collect()
}

/// Delivers an approval to A while GitHub is slow, and waits until a replica (A or B: the
/// store decides who evaluates) has read the reviews, the approval alone. GitHub then stays
/// slow for that replica only. Returns its door.
pub async fn approval_read_slowly(
    fake: &FakeGitHub,
    pair: &Pair,
    case: &Case,
    slow: Duration,
) -> String {
    fake.set_latency(slow);
    let mark = last_seq(fake);
    review_at(fake, &Hook::to(&pair.a), case.n, "dan", "approved").await;
    let door = read_reviews(fake, case.n, mark).await;
    fake.set_door_latency(&door, slow);
    fake.set_latency(Duration::ZERO);
    door
}
