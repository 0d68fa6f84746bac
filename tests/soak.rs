//! Soak: minutes of mixed events with GitHub faults against one server process. Not part of
//! the default test run; see docs/operations.md.
//!
//! `SOAK_SECONDS=600 cargo test --release --test soak -- --ignored --nocapture`
//!
//! At the end every PR's check must match what a model of the same events says, no PR may be
//! missing a check, and the server's memory must be flat.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http::Method;
use support::fake_github::{CommitSpec, Fault, FaultKind, FileSpec, PrSpec};
use support::harness::*;
use support::process::ServerProcess;
use support::webhooks;

/// A small deterministic random source (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the App should conclude for one PR: the reviewers' latest standing on the head.
#[derive(Default)]
struct Model {
    head: String,
    /// reviewer → (state, commit, review id)
    latest: BTreeMap<String, (String, String, u64)>,
    /// Events so far; after [`EVENTS_PER_PR`] the PR is closed and a new one takes its place.
    events: u32,
}

/// Real pull requests do not collect hundreds of reviews; replacing each PR after this many
/// events keeps the workload (and so the App's working set) steady over the run.
const EVENTS_PER_PR: u32 = 60;

impl Model {
    fn approved(&self) -> bool {
        let approved = self
            .latest
            .values()
            .any(|(state, commit, _)| state == "APPROVED" && commit == &self.head);
        let blocked = self
            .latest
            .values()
            .any(|(state, _, _)| state == "CHANGES_REQUESTED");
        approved && !blocked
    }
}

/// Opens a PR by `zed` changing `file`, tells the server, and returns its number and model.
async fn open(
    fake: &support::fake_github::FakeGitHub,
    server: &ServerProcess,
    file: &str,
) -> (u64, Model) {
    let spec = PrSpec {
        author: "zed".into(),
        files: vec![FileSpec::modified(file)],
        ..PrSpec::default()
    };
    let n = fake.open_pr(REPO, spec);
    let head = fake.pr_json(REPO, n)["head"]["sha"]
        .as_str()
        .expect("head")
        .to_string();
    server
        .deliver(
            "pull_request",
            &webhooks::pull_request_event("opened", fake, REPO, n, INSTALLATION),
        )
        .await;
    (
        n,
        Model {
            head,
            ..Model::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: minutes long; run explicitly (docs/operations.md)"]
async fn soak() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    const PRS: u64 = 40;
    const REVIEWERS: [&str; 3] = ["dan", "erin", "fay"];
    let fake = fake_world().await;
    fake.set_latency(Duration::from_millis(10));
    // Ten minutes of this traffic spends more than GitHub's hourly 5,000 requests; the soak
    // is about faults and memory, not about running out of quota (tests/reliability.rs and the
    // sweep's quota share cover that), so the fake grants plenty.
    let day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    fake.set_rate_limit(INSTALLATION, 10_000_000, day);
    let server = ServerProcess::start(
        &fake,
        &[
            ("REVIEWGATE_RECONCILE_INTERVAL", "30s"),
            ("REVIEWGATE_DEBOUNCE_MS", "100"),
            ("REVIEWGATE_GITHUB_TIMEOUT_SECS", "2"),
            ("REVIEWGATE_GITHUB_RETRY_DEADLINE_SECS", "10"),
            // A small answer cache, so that memory reaches its plateau within the run.
            ("REVIEWGATE_GITHUB_CACHE_MB", "8"),
        ],
    )
    .await;
    let mut models: BTreeMap<u64, Model> = BTreeMap::new();
    for i in 0..PRS {
        let (n, model) = open(&fake, &server, &format!("src/f{i}.rs")).await;
        models.insert(n, model);
    }

    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let started = Instant::now();
    let mut memory = vec![(0u64, server.memory_kib().0)];
    let mut next_sample = 30;
    let (mut events, mut faults, mut pushes) = (0u64, 0u64, 0u64);
    let endpoints = [
        "/reviews",
        "/files",
        "/commits",
        "/pulls/",
        "/check-runs",
        "/contents/",
        "/teams/",
    ];
    let mut slots: Vec<u64> = models.keys().copied().collect();
    let mut replaced = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let slot = rng.below(PRS) as usize;
        let n = slots[slot];
        let model = models.get_mut(&n).expect("model");
        let reviewer = REVIEWERS[rng.below(3) as usize];
        match rng.below(10) {
            0..=3 => {
                let id = fake.review(REPO, n, reviewer, "APPROVED", None);
                model
                    .latest
                    .insert(reviewer.into(), ("APPROVED".into(), model.head.clone(), id));
                server
                    .deliver(
                        "pull_request_review",
                        &webhooks::pull_request_review_event(
                            "submitted",
                            &fake,
                            REPO,
                            n,
                            INSTALLATION,
                            reviewer,
                            "APPROVED",
                        ),
                    )
                    .await;
            }
            4 => {
                let id = fake.review(REPO, n, reviewer, "CHANGES_REQUESTED", None);
                model.latest.insert(
                    reviewer.into(),
                    ("CHANGES_REQUESTED".into(), model.head.clone(), id),
                );
                server
                    .deliver(
                        "pull_request_review",
                        &webhooks::pull_request_review_event(
                            "submitted",
                            &fake,
                            REPO,
                            n,
                            INSTALLATION,
                            reviewer,
                            "CHANGES_REQUESTED",
                        ),
                    )
                    .await;
            }
            5 | 6 => {
                if let Some((_, commit, id)) = model.latest.get(reviewer).cloned() {
                    fake.dismiss_review(REPO, n, id);
                    model
                        .latest
                        .insert(reviewer.into(), ("DISMISSED".into(), commit, id));
                    server
                        .deliver(
                            "pull_request_review",
                            &webhooks::pull_request_review_event(
                                "dismissed",
                                &fake,
                                REPO,
                                n,
                                INSTALLATION,
                                reviewer,
                                "DISMISSED",
                            ),
                        )
                        .await;
                }
            }
            7 => {
                pushes += 1;
                let sha = format!(
                    "{:040x}",
                    (u128::from(rng.next()) << 64) | u128::from(rng.next())
                );
                let sha = sha[..40].to_string();
                fake.push(REPO, n, &sha, vec![CommitSpec::by(&sha, "zed")], None);
                model.head = sha;
                server
                    .deliver(
                        "pull_request",
                        &webhooks::pull_request_event("synchronize", &fake, REPO, n, INSTALLATION),
                    )
                    .await;
            }
            _ => {
                faults += 1;
                let kind = match rng.below(6) {
                    0 => FaultKind::Status(502),
                    1 => FaultKind::Reset,
                    2 => FaultKind::TooManyRequests {
                        retry_after_secs: 1,
                    },
                    3 => FaultKind::SecondaryRateLimit {
                        retry_after_secs: 1,
                    },
                    4 => FaultKind::Delay(Duration::from_secs(3)),
                    _ => FaultKind::TruncatedBody,
                };
                let path = endpoints[rng.below(endpoints.len() as u64) as usize];
                let method = if path == "/check-runs" {
                    None
                } else {
                    Some(Method::GET)
                };
                fake.inject(Fault {
                    method,
                    path_contains: path.into(),
                    times: 1 + rng.below(2) as usize,
                    kind,
                });
            }
        }
        events += 1;
        let model = models.get_mut(&n).expect("model");
        model.events += 1;
        if model.events >= EVENTS_PER_PR {
            // Merged (closed) and left alone from now on; a new PR takes the slot.
            fake.close_pr(REPO, n);
            server
                .deliver(
                    "pull_request",
                    &webhooks::pull_request_event("closed", &fake, REPO, n, INSTALLATION),
                )
                .await;
            models.remove(&n);
            let (fresh, model) = open(&fake, &server, &format!("src/g{n}.rs")).await;
            models.insert(fresh, model);
            slots[slot] = fresh;
            replaced += 1;
        }
        if started.elapsed().as_secs() >= next_sample {
            memory.push((started.elapsed().as_secs(), server.memory_kib().0));
            next_sample += 30;
        }
        tokio::time::sleep(Duration::from_millis(20 + rng.below(60))).await;
    }

    // GitHub recovers: faults aimed at endpoints the App rarely calls (team members, the
    // policy) pile up faster than they are used, and would keep failing checks forever.
    let pending_faults = fake.pending_faults();
    fake.clear_faults();
    // Let retries and the next sweeps finish the job.
    let deadline = Instant::now() + Duration::from_secs(120);
    let wrong = loop {
        let wrong: Vec<(u64, bool, Option<String>, Option<String>)> = models
            .iter()
            .filter_map(|(n, m)| {
                let run = fake.latest_check_run(REPO, &m.head, CHECK);
                let got = run.as_ref().and_then(|r| r.conclusion.clone());
                let want = if m.approved() { "success" } else { "failure" };
                (got.as_deref() != Some(want))
                    .then(|| (*n, m.approved(), got, run.and_then(|r| r.title)))
            })
            .collect();
        if wrong.is_empty() || Instant::now() > deadline {
            break wrong;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (rss, peak) = server.memory_kib();
    memory.push((started.elapsed().as_secs(), rss));
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let evaluations: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("reviewgate_evaluations_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let duplicates = {
        let runs = fake.check_runs(REPO);
        let mut per_sha: BTreeMap<String, usize> = BTreeMap::new();
        for r in runs.iter().filter(|r| r.name == CHECK) {
            *per_sha.entry(r.head_sha.clone()).or_default() += 1;
        }
        per_sha.values().filter(|c| **c > 1).count()
    };
    let recent: Vec<String> = fake
        .requests()
        .iter()
        .rev()
        .take(30)
        .map(|r| format!("{} {} {} {:?}", r.method, r.path, r.status, r.fault))
        .collect();
    let fake_alive = reqwest::get(format!("{}/app", fake.url()))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    for (n, ..) in wrong.iter().take(3) {
        let m = &models[n];
        let run = fake.latest_check_run(REPO, &m.head, CHECK);
        let summary = run.and_then(|r| r.summary).unwrap_or_default();
        let reviewers = summary
            .split("### Reviewers")
            .nth(1)
            .unwrap_or("")
            .to_string();
        println!(
            "soak: PR #{n} head {} model {:?}\n  App's reviewers:{reviewers}",
            m.head, m.latest
        );
        println!(
            "  fake reviews: {:?}",
            fake.pr_json(REPO, *n)["head"]["sha"]
        );
    }
    if !wrong.is_empty() {
        println!("soak: fake answers {fake_alive}; last requests (newest first): {recent:#?}");
        println!(
            "soak: server metrics:\n{}",
            metrics
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    println!(
        "soak: {seconds} s, {PRS} PRs, {events} events ({pushes} pushes, {faults} fault injections, {pending_faults} unused at the end, {replaced} PRs closed and replaced), {evaluations} evaluations, {} GitHub requests; \
         RSS samples (s, KiB): {memory:?}; peak RSS {peak} KiB; commits with duplicate runs: {duplicates}; wrong or missing checks: {wrong:?}",
        fake.requests().len()
    );
    assert!(
        wrong.is_empty(),
        "every PR's check is right at the end: {wrong:?}"
    );
    assert_eq!(duplicates, 0, "no duplicate check runs");
    // Flat: after the caches fill (the first half), memory grows by less than 10 %.
    let half = memory
        .iter()
        .find(|(t, _)| *t >= seconds / 2)
        .map_or(memory[0].1, |m| m.1);
    let last = memory.last().expect("samples").1;
    // Short runs end while the caches still fill; the claim is about long ones.
    if seconds >= 300 {
        assert!(
            last <= half + half / 10,
            "memory flat in the second half: {memory:?}"
        );
    }
    server.stop();
}
