//! Hostile input never panics and never earns a server error: mutated webhook payloads (signed
//! correctly, so they reach the code that acts on them), forged signatures, replays, random
//! policy files and random PR snapshots.
//!
//! The webhook properties share one running server per test: each generated case is one
//! delivery, run with `Runtime::block_on` from proptest's `TestRunner`, so a few hundred cases
//! cost seconds rather than a server start each.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reviewgate::policy::{Policy, limits};
use reviewgate::snapshot::Snapshot;
use serde_json::{Value, json};

use support::fake_github::{FileSpec, PrSpec};
use support::harness::*;
use support::webhooks;

// --------------------------------------------------------------------------------------------
// Mutations of JSON documents, shared by the webhook and snapshot properties.
// --------------------------------------------------------------------------------------------

/// Number-like text `serde_json::Value` cannot hold, spliced into the serialized text in place
/// of a placeholder string.
const RAW_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890123456789",
    "-0",
    "0.0",
    "1E+2",
    "-1",
    "00",
    "1.",
    ".5",
    "+1",
    "NaN",
    "Infinity",
    "0x10",
];

/// Strings a payload field should never be trusted to hold.
const NASTY_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\u{7f}\u{1b}[31mred\u{1b}[0m",
    "line\nbreak\r\nand\ttab",
    "\u{202e}gnp.exe",
    "\u{feff}bom",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 ñ ç",
    "\u{d7ff}\u{e000}\u{fffd}",
    "../../etc/passwd",
    "acme/ledger",
    "acme/ledger/../other",
    "refs/heads/gh-readonly-queue/main/pr-1-",
    "refs/heads/gh-readonly-queue/main/pr-18446744073709551616-abc",
    "refs/heads/gh-readonly-queue/main/pr-1-\u{0}",
    "%00%2F%2e%2e",
    "a\"b\\c",
    "ghp_notarealtoken",
    "9999999999999999999999999999",
];

/// A value of some other type to put where the payload had something else.
#[derive(Debug, Clone)]
enum Hostile {
    Null,
    Bool(bool),
    Int(i64),
    U64Max,
    Float(f64),
    Raw(Index),
    Nasty(Index),
    Text(String),
    Long(usize),
    EmptyArray,
    EmptyObject,
    /// Arrays (or objects) nested this deep; past serde_json's limit of 128 on purpose.
    Deep(usize, bool),
    BigArray(usize),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        Just(Hostile::Null),
        any::<bool>().prop_map(Hostile::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::MIN),
            Just(i64::MAX),
            any::<i64>()
        ]
        .prop_map(Hostile::Int),
        Just(Hostile::U64Max),
        prop_oneof![Just(1.5f64), Just(-0.0), Just(f64::MAX), Just(1e-300)]
            .prop_map(Hostile::Float),
        any::<Index>().prop_map(Hostile::Raw),
        any::<Index>().prop_map(Hostile::Nasty),
        ".{0,40}".prop_map(Hostile::Text),
        (1000usize..200_000).prop_map(Hostile::Long),
        Just(Hostile::EmptyArray),
        Just(Hostile::EmptyObject),
        (1usize..400, any::<bool>()).prop_map(|(d, arrays)| Hostile::Deep(d, arrays)),
        (1usize..5000).prop_map(Hostile::BigArray),
    ]
}

/// One change to a document. JSON-aware ones edit the parsed tree; byte ones edit the text.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, Hostile),
    DeleteKey(Index),
    DuplicateKey(Index, Index, Hostile),
    Truncate(Index),
    FlipBit(Index, u8),
    InsertByte(Index, u8),
    DeleteByte(Index),
}

impl Mutation {
    fn is_textual(&self) -> bool {
        matches!(
            self,
            Mutation::Truncate(_)
                | Mutation::FlipBit(..)
                | Mutation::InsertByte(..)
                | Mutation::DeleteByte(_)
        )
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        5 => (any::<Index>(), hostile()).prop_map(|(i, h)| Mutation::Replace(i, h)),
        2 => any::<Index>().prop_map(Mutation::DeleteKey),
        2 => (any::<Index>(), any::<Index>(), hostile())
            .prop_map(|(i, k, h)| Mutation::DuplicateKey(i, k, h)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::InsertByte(i, b)),
        1 => any::<Index>().prop_map(Mutation::DeleteByte),
    ]
}

const RAW_MARK: &str = "@@raw@@";
const DUP_MARK: &str = "@@dup@@";

/// Placeholders for text that is spliced in after serialization.
#[derive(Default)]
struct Splices {
    raws: Vec<&'static str>,
}

impl Hostile {
    fn to_value(&self, splices: &mut Splices) -> Value {
        match self {
            Hostile::Null => Value::Null,
            Hostile::Bool(b) => json!(b),
            Hostile::Int(n) => json!(n),
            Hostile::U64Max => json!(u64::MAX),
            Hostile::Float(f) => json!(f),
            Hostile::Raw(i) => {
                splices.raws.push(RAW_NUMBERS[i.index(RAW_NUMBERS.len())]);
                json!(format!("{RAW_MARK}{}", splices.raws.len() - 1))
            }
            Hostile::Nasty(i) => json!(NASTY_STRINGS[i.index(NASTY_STRINGS.len())]),
            Hostile::Text(s) => json!(s),
            Hostile::Long(n) => json!("x".repeat(*n)),
            Hostile::EmptyArray => json!([]),
            Hostile::EmptyObject => json!({}),
            Hostile::Deep(depth, arrays) => {
                let mut v = json!(1);
                for _ in 0..*depth {
                    v = if *arrays {
                        json!([v])
                    } else {
                        json!({ "a": v })
                    };
                }
                v
            }
            Hostile::BigArray(n) => Value::Array(vec![json!(0); *n]),
        }
    }
}

/// A path to a node of a JSON tree.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

fn all_paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                here.push(Step::Key(k.clone()));
                all_paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(Step::At(i));
                all_paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'v>(v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::At(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

fn pick_path(v: &Value, i: &Index, want_object: bool) -> Option<Vec<Step>> {
    let mut paths = Vec::new();
    all_paths(v, &mut Vec::new(), &mut paths);
    if want_object {
        let mut probe = v.clone();
        paths.retain(|p| {
            node_mut(&mut probe, p).is_some_and(|n| n.as_object().is_some_and(|m| !m.is_empty()))
        });
    }
    if paths.is_empty() {
        None
    } else {
        Some(paths[i.index(paths.len())].clone())
    }
}

/// Applies the mutations: tree edits first, then serialization (with the raw splices and real
/// duplicate keys), then byte edits.
fn mutate(mut doc: Value, mutations: &[Mutation]) -> Vec<u8> {
    let mut splices = Splices::default();
    for m in mutations.iter().filter(|m| !m.is_textual()) {
        match m {
            Mutation::Replace(i, h) => {
                if let Some(path) = pick_path(&doc, i, false) {
                    let new = h.to_value(&mut splices);
                    if let Some(node) = node_mut(&mut doc, &path) {
                        *node = new;
                    }
                }
            }
            Mutation::DeleteKey(i) => {
                if let Some(path) = pick_path(&doc, i, true) {
                    if let Some(Value::Object(map)) = node_mut(&mut doc, &path) {
                        let keys: Vec<String> = map.keys().cloned().collect();
                        let k = &keys[i.index(keys.len())];
                        map.remove(k);
                    }
                }
            }
            Mutation::DuplicateKey(i, k, h) => {
                if let Some(path) = pick_path(&doc, i, true) {
                    let new = h.to_value(&mut splices);
                    if let Some(Value::Object(map)) = node_mut(&mut doc, &path) {
                        let keys: Vec<String> = map.keys().cloned().collect();
                        let key = keys[k.index(keys.len())].clone();
                        map.insert(format!("{DUP_MARK}{key}"), new);
                    }
                }
            }
            _ => {}
        }
    }
    let mut text = serde_json::to_string(&doc).expect("a Value serializes");
    text = text.replace(&format!("\"{DUP_MARK}"), "\"");
    for (n, raw) in splices.raws.iter().enumerate().rev() {
        text = text.replace(&format!("\"{RAW_MARK}{n}\""), raw);
    }
    let mut bytes = text.into_bytes();
    for m in mutations.iter().filter(|m| m.is_textual()) {
        match m {
            Mutation::Truncate(i) => {
                let at = i.index(bytes.len() + 1);
                bytes.truncate(at);
            }
            Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            Mutation::InsertByte(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Mutation::DeleteByte(i) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

// --------------------------------------------------------------------------------------------
// Webhooks
// --------------------------------------------------------------------------------------------

const HANDLED: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "check_run",
    "check_suite",
    "merge_group",
    "push",
    "membership",
    "team",
];

/// `X-GitHub-Event` values GitHub never sends; raw bytes so non-ASCII can be tried too.
const ODD_EVENTS: &[&[u8]] = &[
    b"",
    b"ping",
    b"star",
    b"installation",
    b"PULL_REQUEST",
    b"pull_request ",
    b" pull_request",
    b"pull_request\tx",
    b"pull_request,push",
    b"check_run\xff",
    b"\xc3\xa9v\xc3\xa9nement",
];

#[derive(Debug, Clone)]
enum EventName {
    /// The event the fixture was published for.
    Own,
    Handled(Index),
    Odd(Index),
}

#[derive(Debug, Clone)]
enum DeliveryId {
    Fresh,
    Missing,
    Long,
    Odd(Vec<u8>),
}

/// Where a retargeted payload points.
#[derive(Debug, Clone)]
struct Target {
    /// Which of the fake's open pull requests.
    pr: Index,
    /// For a push: whether it is forced (so it counts as a policy change).
    forced: bool,
    /// Replace the payload's `action` with one the App acts on for its event.
    acting: bool,
}

/// One generated delivery.
#[derive(Debug, Clone)]
struct Case {
    fixture: Index,
    event: EventName,
    /// Only payloads of the events the App handles (else any of GitHub's payloads).
    handled_only: bool,
    /// Point the payload at the fake's installation, repository and open pull requests, so
    /// that what survives the mutations reaches evaluations, check runs and caches.
    retarget: Option<Target>,
    delivery: DeliveryId,
    mutations: Vec<Mutation>,
}

fn case() -> impl Strategy<Value = Case> {
    let event = prop_oneof![
        6 => Just(EventName::Own),
        3 => any::<Index>().prop_map(EventName::Handled),
        1 => any::<Index>().prop_map(EventName::Odd),
    ];
    let delivery = prop_oneof![
        8 => Just(DeliveryId::Fresh),
        1 => Just(DeliveryId::Missing),
        1 => Just(DeliveryId::Long),
        1 => proptest::collection::vec(32u8..=255, 0..80)
            .prop_filter("header-safe", |b| !b.contains(&127))
            .prop_map(DeliveryId::Odd),
    ];
    let target = (any::<Index>(), any::<bool>(), any::<bool>())
        .prop_map(|(pr, forced, acting)| Target { pr, forced, acting });
    (
        any::<Index>(),
        event,
        proptest::bool::weighted(0.7),
        proptest::option::weighted(0.7, target),
        delivery,
        proptest::collection::vec(mutation(), 0..5),
    )
        .prop_map(
            |(fixture, event, handled_only, retarget, delivery, mutations)| Case {
                fixture,
                event,
                handled_only,
                retarget,
                delivery,
                mutations,
            },
        )
}

/// Rewrites a published payload to name the fake's installation, repository and PR `number`
/// (and, for a push, the default branch and the policy file, so it reaches the policy-change
/// code). Only fields the payload already has are touched, apart from `installation`.
fn retarget(v: &mut Value, event: &str, number: u64, head_sha: &str, target: &Target) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    obj.insert("installation".into(), json!({ "id": INSTALLATION }));
    if target.acting {
        let action = match event {
            "pull_request" => "synchronize",
            "pull_request_review" => "submitted",
            "check_run" | "check_suite" => "rerequested",
            "merge_group" => "checks_requested",
            "membership" => "added",
            _ => "edited",
        };
        obj.insert("action".into(), json!(action));
    }
    if let Some(Value::Object(repo)) = obj.get_mut("repository") {
        repo.insert("full_name".into(), json!(REPO));
    }
    if let Some(Value::Object(org)) = obj.get_mut("organization") {
        org.insert("login".into(), json!("acme"));
    }
    if let Some(Value::Object(pr)) = obj.get_mut("pull_request") {
        pr.insert("number".into(), json!(number));
        pr.insert("state".into(), json!("open"));
        if let Some(Value::Object(head)) = pr.get_mut("head") {
            head.insert("sha".into(), json!(head_sha));
        }
    }
    if obj.contains_key("number") {
        obj.insert("number".into(), json!(number));
    }
    for key in ["check_run", "check_suite"] {
        if let Some(Value::Object(body)) = obj.get_mut(key) {
            body.insert("name".into(), json!(CHECK));
            body.insert("app".into(), json!({ "id": APP_ID }));
            body.insert(
                "pull_requests".into(),
                json!([{ "number": number, "head": { "sha": head_sha } }]),
            );
        }
    }
    if let Some(Value::Object(group)) = obj.get_mut("merge_group") {
        group.insert(
            "head_ref".into(),
            json!(format!(
                "refs/heads/gh-readonly-queue/main/pr-{number}-{head_sha}"
            )),
        );
    }
    if event == "push" {
        obj.insert("ref".into(), json!("refs/heads/main"));
        obj.insert("deleted".into(), json!(false));
        obj.insert("forced".into(), json!(target.forced));
        obj.insert(
            "commits".into(),
            json!([{ "added": [], "removed": [], "modified": [POLICY_PATH] }]),
        );
    }
}

fn pr(author: &str, files: &[&str]) -> PrSpec {
    PrSpec {
        author: author.into(),
        files: files.iter().map(|f| FileSpec::modified(f)).collect(),
        ..PrSpec::default()
    }
}

fn is_queue_full(status: u16, body: &str) -> bool {
    status == 503 && body.contains("queue full")
}

/// What the generated deliveries were answered, for the test's output.
#[derive(Default, Debug)]
struct Tally {
    by_status: BTreeMap<u16, usize>,
}

#[test]
fn mutated_real_payloads_never_get_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let h = runtime.block_on(Harness::start());
    // Four open pull requests, of which two need nothing special and two touch the ledger.
    let heads: Vec<(u64, String)> = [
        pr("zed", &["src/lib.rs"]),
        pr("zed", &["ledger/post.rs"]),
        pr("amy", &["docs/a.md", POLICY_PATH]),
        pr("bob", &[]),
    ]
    .into_iter()
    .map(|spec| {
        let n = h.fake.open_pr(REPO, spec);
        (n, h.head_sha(n))
    })
    .collect();
    h.fake.review(REPO, 1, "dan", "APPROVED", None);

    let fixtures = webhooks::all_fixtures();
    assert!(
        fixtures.len() > 200,
        "GitHub's published payloads are there"
    );
    let parsed: Vec<Option<Value>> = fixtures
        .iter()
        .map(|(_, _, body)| serde_json::from_slice(body).ok())
        .collect();

    let started = Instant::now();
    let tally = std::cell::RefCell::new(Tally::default());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 600,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let handled: Vec<usize> = (0..fixtures.len())
        .filter(|&i| HANDLED.contains(&fixtures[i].0.as_str()))
        .collect();
    let result = runner.run(&case(), |c| {
        let i = if c.handled_only {
            handled[c.fixture.index(handled.len())]
        } else {
            c.fixture.index(fixtures.len())
        };
        let (own_event, file, raw) = &fixtures[i];
        let event: Vec<u8> = match &c.event {
            EventName::Own => own_event.as_bytes().to_vec(),
            EventName::Handled(j) => HANDLED[j.index(HANDLED.len())].as_bytes().to_vec(),
            EventName::Odd(j) => ODD_EVENTS[j.index(ODD_EVENTS.len())].to_vec(),
        };
        let body = match (&parsed[i], &c.retarget) {
            (Some(doc), target) => {
                let mut doc = doc.clone();
                if let Some(t) = target {
                    let (number, sha) = &heads[t.pr.index(heads.len())];
                    let ev = String::from_utf8_lossy(&event).into_owned();
                    retarget(&mut doc, &ev, *number, sha, t);
                }
                mutate(doc, &c.mutations)
            }
            (None, _) => raw.clone(),
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "x-github-event",
            HeaderValue::from_bytes(&event).expect("header-safe event"),
        );
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&webhooks::sign(SECRET, &body)).expect("hex"),
        );
        let delivery = match &c.delivery {
            DeliveryId::Fresh => Some(webhooks::delivery_id().into_bytes()),
            DeliveryId::Missing => None,
            DeliveryId::Long => Some(vec![b'd'; 8000]),
            DeliveryId::Odd(b) => Some(b.clone()),
        };
        if let Some(d) = delivery {
            headers.insert(
                HeaderName::from_static("x-github-delivery"),
                HeaderValue::from_bytes(&d).expect("header-safe delivery id"),
            );
        }
        let (status, text) = runtime.block_on(async {
            let r = h
                .http
                .post(format!("{}/webhook", h.base))
                .headers(headers)
                .body(body.clone())
                .send()
                .await
                .expect("the server answers");
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        });
        *tally.borrow_mut().by_status.entry(status).or_default() += 1;
        let event_shown = String::from_utf8_lossy(&event);
        prop_assert!(
            matches!(status, 200 | 202 | 400) || is_queue_full(status, &text),
            "{own_event}/{file} as {event_shown:?}: answered {status} {text}"
        );
        Ok(())
    });
    let elapsed = started.elapsed();
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "{} mutated deliveries in {elapsed:?}: {:?}",
        runner_cases(&tally.borrow()),
        tally.borrow().by_status
    );
    let by_status = &tally.borrow().by_status;
    assert!(
        by_status.get(&202).copied().unwrap_or(0) > 10,
        "enough mutated payloads were acted on to mean something: {by_status:?}"
    );
    assert!(
        by_status.get(&400).copied().unwrap_or(0) > 10,
        "enough mutated payloads were rejected to mean something: {by_status:?}"
    );

    runtime.block_on(async {
        h.settle().await;
        assert_eq!(h.get("/healthz").await.status(), 200);
        assert_eq!(h.get("/readyz").await.status(), 200);
        let outcomes: Vec<(&str, u64)> = [
            "approved",
            "not_approved",
            "invalid_policy",
            "no_policy",
            "skipped",
            "error",
        ]
        .into_iter()
        .map(|o| (o, h.evaluations(o)))
        .collect();
        eprintln!(
            "evaluations {outcomes:?}; {} GitHub requests",
            h.fake.requests().len()
        );
        assert!(
            outcomes.iter().map(|(_, n)| n).sum::<u64>() > 0,
            "some mutated payloads were evaluated"
        );
        let runs = h.fake.check_runs(REPO);
        for (_, sha) in &heads {
            let ours = runs
                .iter()
                .filter(|r| r.name == CHECK && &r.head_sha == sha)
                .count();
            assert!(ours <= 1, "{ours} check runs on {sha}");
        }
        // Still judging correctly afterwards: no worker died, no cache was poisoned.
        let n = h.fake.open_pr(REPO, pr("zed", &["src/main.rs"]));
        let run = h.pr_event("opened", n).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        let run = h.review(n, "dan", "APPROVED").await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
        let run = h.pr_event("synchronize", 1).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "PR 1 was approved by dan on its head before the storm: {:?}",
            run.summary
        );
    });
}

fn runner_cases(t: &Tally) -> usize {
    t.by_status.values().sum()
}

/// How a forged delivery is signed.
#[derive(Debug, Clone)]
enum Forgery {
    NoHeader,
    Empty,
    PrefixOnly,
    RandomHex(Vec<u8>),
    WrongSecret(String),
    SecretPrefix,
    SecretWithNewline,
    OtherBody,
    TamperedBody(Index, u8),
    ShortenedHex(usize),
    WrongAlgorithm,
    UpperCasePrefix,
    NonAscii,
    WrongThenRight,
    EmptyKey,
}

/// What a forged delivery carries.
#[derive(Debug, Clone)]
enum ForgedBody {
    /// A delivery for an open PR of the fake that, signed, would be evaluated.
    Real(Index),
    /// One of GitHub's published payloads.
    Fixture(Index),
    Random(Vec<u8>),
}

fn forgery() -> impl Strategy<Value = Forgery> {
    prop_oneof![
        Just(Forgery::NoHeader),
        Just(Forgery::Empty),
        Just(Forgery::PrefixOnly),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Forgery::RandomHex),
        "[ -~]{1,30}"
            .prop_filter("not the secret", |s| s != SECRET)
            .prop_map(Forgery::WrongSecret),
        Just(Forgery::SecretPrefix),
        Just(Forgery::SecretWithNewline),
        Just(Forgery::OtherBody),
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Forgery::TamperedBody(i, x)),
        (0usize..64).prop_map(Forgery::ShortenedHex),
        Just(Forgery::WrongAlgorithm),
        Just(Forgery::UpperCasePrefix),
        Just(Forgery::NonAscii),
        Just(Forgery::WrongThenRight),
        Just(Forgery::EmptyKey),
    ]
}

#[test]
fn forged_deliveries_get_401_and_cost_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let h = runtime.block_on(Harness::start());
    let n = h.fake.open_pr(REPO, pr("zed", &["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    // Real deliveries that would each cost GitHub requests if they were let in.
    let real: Vec<(String, Vec<u8>)> = vec![
        (
            "pull_request".into(),
            serde_json::to_vec(&webhooks::pull_request_event(
                "opened",
                &h.fake,
                REPO,
                n,
                INSTALLATION,
            ))
            .unwrap(),
        ),
        (
            "pull_request_review".into(),
            serde_json::to_vec(&webhooks::pull_request_review_event(
                "submitted",
                &h.fake,
                REPO,
                n,
                INSTALLATION,
                "dan",
                "APPROVED",
            ))
            .unwrap(),
        ),
    ];
    let fixtures = webhooks::all_fixtures();
    h.fake.clear_requests();

    let body_strategy = prop_oneof![
        any::<Index>().prop_map(ForgedBody::Real),
        any::<Index>().prop_map(ForgedBody::Fixture),
        proptest::collection::vec(any::<u8>(), 0..2000).prop_map(ForgedBody::Random),
    ];
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 250,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(&(body_strategy, forgery()), |(body, forgery)| {
        let (event, body) = match body {
            ForgedBody::Real(i) => real[i.index(real.len())].clone(),
            ForgedBody::Fixture(i) => {
                let (event, _, body) = &fixtures[i.index(fixtures.len())];
                (event.clone(), body.clone())
            }
            ForgedBody::Random(bytes) => ("pull_request".to_string(), bytes),
        };
        let good = webhooks::sign(SECRET, &body);
        let mut signatures: Vec<Vec<u8>> = Vec::new();
        match &forgery {
            Forgery::NoHeader => {}
            Forgery::Empty => signatures.push(Vec::new()),
            Forgery::PrefixOnly => signatures.push(b"sha256=".to_vec()),
            Forgery::RandomHex(bytes) => {
                signatures.push(format!("sha256={}", hex_of(bytes)).into_bytes())
            }
            Forgery::WrongSecret(s) => signatures.push(webhooks::sign(s, &body).into_bytes()),
            Forgery::SecretPrefix => {
                signatures.push(webhooks::sign(&SECRET[..SECRET.len() - 1], &body).into_bytes())
            }
            Forgery::SecretWithNewline => {
                signatures.push(webhooks::sign(&format!("{SECRET}\n"), &body).into_bytes())
            }
            Forgery::OtherBody => {
                signatures.push(webhooks::sign(SECRET, b"{\"action\":\"opened\"}").into_bytes())
            }
            Forgery::TamperedBody(at, x) => {
                let mut other = body.clone();
                if other.is_empty() {
                    other.push(*x);
                } else {
                    let at = at.index(other.len());
                    other[at] ^= x;
                }
                signatures.push(webhooks::sign(SECRET, &other).into_bytes());
            }
            Forgery::ShortenedHex(keep) => {
                signatures.push(good.as_bytes()[..7 + keep].to_vec());
            }
            Forgery::WrongAlgorithm => {
                signatures.push(good.replacen("sha256=", "sha1=", 1).into_bytes())
            }
            Forgery::UpperCasePrefix => {
                signatures.push(good.replacen("sha256=", "SHA256=", 1).into_bytes())
            }
            Forgery::NonAscii => {
                let mut s = good.clone().into_bytes();
                s.push(0xff);
                signatures.push(s);
            }
            Forgery::WrongThenRight => {
                signatures.push(webhooks::sign("not-the-secret", &body).into_bytes());
                signatures.push(good.clone().into_bytes());
            }
            Forgery::EmptyKey => signatures.push(webhooks::sign("", &body).into_bytes()),
        }
        let status = runtime.block_on(async {
            let mut req = h
                .http
                .post(format!("{}/webhook", h.base))
                .header("x-github-event", event.as_str())
                .header("x-github-delivery", webhooks::delivery_id())
                .body(body.clone());
            for s in &signatures {
                req = req.header(
                    "x-hub-signature-256",
                    HeaderValue::from_bytes(s).expect("header-safe"),
                );
            }
            req.send()
                .await
                .expect("the server answers")
                .status()
                .as_u16()
        });
        prop_assert_eq!(status, 401, "{:?} on {} body", forgery, event);
        Ok(())
    });
    let elapsed = started.elapsed();
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("250 forged deliveries in {elapsed:?}");
    runtime.block_on(async {
        h.settle().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            h.fake.requests().is_empty(),
            "a forged delivery made the App call GitHub: {:?}",
            h.fake.requests()
        );
        assert!(h.fake.check_runs(REPO).is_empty());
        // The same bodies, signed, are acted on: the 401s above were the signature's doing.
        let r = h.deliver_raw(&real[0].0, &real[0].1).await;
        assert_eq!(r.status(), 202);
        let run = h.check_on(&h.head_sha(n)).await.expect("a check run");
        assert_eq!(run.conclusion.as_deref(), Some("success"));
    });
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_one_delivery_is_harmless() {
    let h = Harness::start().await;
    let n = h.fake.open_pr(REPO, pr("zed", &["src/lib.rs"]));
    h.fake.review(REPO, n, "dan", "APPROVED", None);
    let body = serde_json::to_vec(&webhooks::pull_request_review_event(
        "submitted",
        &h.fake,
        REPO,
        n,
        INSTALLATION,
        "dan",
        "APPROVED",
    ))
    .unwrap();
    // The very same delivery, GUID included, as a replaying attacker (or GitHub's redeliver
    // button) would send it.
    let headers = webhooks::delivery_headers("pull_request_review", SECRET, &body);
    for i in 0..20 {
        let mut req = h
            .http
            .post(format!("{}/webhook", h.base))
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        assert!(
            r.status().is_success(),
            "replay {i} answered {}",
            r.status()
        );
    }
    let head = h.head_sha(n);
    let run = h.check_on(&head).await.expect("a check run");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title.as_deref(), Some("Approved by dan"));
    let ours = h
        .fake
        .check_runs(REPO)
        .into_iter()
        .filter(|r| r.name == CHECK && r.head_sha == head)
        .count();
    assert_eq!(ours, 1, "exactly one check run on the head");
    let evaluations = h.evaluations("approved") + h.evaluations("not_approved");
    assert!(
        (1..=3).contains(&evaluations),
        "{evaluations} evaluations for 20 replays"
    );
}

// --------------------------------------------------------------------------------------------
// Policy files
// --------------------------------------------------------------------------------------------

const REFERENCE_POLICY: &str = include_str!("../policy.toml");
const POLICY_DOC: &str = include_str!("../docs/policy.md");

/// Every line of the reference policy and of the TOML examples in the docs.
fn policy_lines() -> Vec<String> {
    let mut lines: Vec<String> = REFERENCE_POLICY.lines().map(str::to_string).collect();
    let mut in_toml = false;
    for line in POLICY_DOC.lines() {
        if line.starts_with("```") {
            in_toml = line.starts_with("```toml");
            continue;
        }
        if in_toml {
            lines.push(line.to_string());
        }
    }
    lines
}

const POLICY_KEYS: &[&str] = &[
    "version",
    "default_level",
    "policy_owners",
    "settings",
    "groups",
    "levels",
    "paths",
    "approvals",
    "require",
    "name",
    "match",
    "except",
    "level",
    "dismiss_stale_approvals",
    "contributors_can_approve",
    "changes_requested_blocks",
    "standard",
    "seniors",
    "\"quoted key\"",
    "\"line\\nbreak\"",
    "'literal'",
    "a.b.c",
    "ключ",
    "\"\"",
    "\"\\u0000\"",
    "levels.standard",
    "paths.0",
];

const POLICY_VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "2",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999999999",
    "0x7fffffff",
    "0o777",
    "0b101",
    "1e999",
    "nan",
    "-inf",
    "1_000",
    "true",
    "false",
    "1979-05-27T07:32:00Z",
    "\"standard\"",
    "\"\"",
    "\" \"",
    "\"@acme/team\"",
    "\"@acme\"",
    "\"@/x\"",
    "\"@a/b/c\"",
    "\"alice[bot]\"",
    "\"a\\nb\"",
    "\"tab\\there\"",
    "\"\\u202e\"",
    "\"\\uD800\"",
    "'''\nmulti\nline'''",
    "\"\"\"\nmulti\nline\"\"\"",
    "[]",
    "[\"**\"]",
    "[\"/abs\"]",
    "[\"[\"]",
    "[\"{a,{b,c}}\"]",
    "[\"a/**/b\", \"\"]",
    "[1, \"a\"]",
    "{}",
    "{ seniors = 1 }",
    "{ seniors = 0 }",
    "{ nobody = 1 }",
    "{ a = { b = 1 } }",
    "[[[]]]",
];

/// A fragment of TOML-ish text.
fn fragment() -> impl Strategy<Value = String> {
    let lines = policy_lines();
    prop_oneof![
        8 => proptest::sample::select(lines),
        6 => (
            proptest::sample::select(POLICY_KEYS),
            proptest::sample::select(POLICY_VALUES)
        )
            .prop_map(|(k, v)| format!("{k} = {v}")),
        2 => proptest::sample::select(POLICY_KEYS).prop_map(|k| format!("[{k}]")),
        2 => proptest::sample::select(POLICY_KEYS).prop_map(|k| format!("[[{k}]]")),
        1 => (1usize..2000).prop_map(|n| "[".repeat(n)),
        1 => (1usize..2000).prop_map(|n| format!("a = {}", "[".repeat(n))),
        1 => (1usize..300).prop_map(|n| format!("a = {}1{}", "{ b = ".repeat(n), " }".repeat(n))),
        1 => (1usize..300).prop_map(|n| format!("{} = 1", vec!["k"; n].join("."))),
        1 => (1usize..100_000).prop_map(|n| format!("name = \"{}\"", "x".repeat(n))),
        1 => (1usize..50_000).prop_map(|n| "y".repeat(n)),
        2 => ".{0,30}",
        2 => proptest::collection::vec(any::<u8>(), 0..30)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => Just("]]]]".to_string()),
        1 => Just("}".to_string()),
        1 => Just("\"unterminated".to_string()),
        1 => Just("'''never closed".to_string()),
        1 => Just("# comment \u{0} with nul".to_string()),
        1 => Just("\u{feff}version = 1".to_string()),
    ]
}

fn policy_text() -> impl Strategy<Value = String> {
    let separator = prop_oneof![
        8 => Just("\n"),
        1 => Just("\r\n"),
        1 => Just("\r"),
        1 => Just(" "),
        1 => Just(""),
    ];
    proptest::collection::vec((fragment(), separator), 0..40).prop_map(|parts| {
        let mut text = String::new();
        for (f, sep) in parts {
            text.push_str(&f);
            text.push_str(sep);
        }
        text
    })
}

/// `ORIGIN:LINE:COL: ` at the start of `line`, with the numbers it names.
fn located(line: &str, origin: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix(origin)?.strip_prefix(':')?;
    let (l, rest) = rest.split_once(':')?;
    let (c, rest) = rest.split_once(':')?;
    rest.starts_with(' ').then_some(())?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(l) && digits(c)).then(|| (l.parse().unwrap(), c.parse().unwrap()))
}

/// The checks every rejected policy must pass. With `strict`, also that the rendered errors
/// are one diagnostic per line (a message holding a line break breaks that).
fn check_policy_result(text: &str, strict: bool) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let result = Policy::parse(text, "p.toml");
    let took = started.elapsed();
    prop_assert!(
        took < Duration::from_secs(10),
        "parsing {} bytes took {took:?}",
        text.len()
    );
    let Err(e) = result else {
        return Ok(());
    };
    prop_assert!(!e.diagnostics.is_empty(), "an error with no diagnostic");
    let line_count = text.lines().count();
    let physical: Vec<&str> = text.split('\n').collect();
    for d in &e.diagnostics {
        prop_assert!(d.line >= 1 && d.column >= 1, "{d:?}");
        prop_assert!(!d.message.trim().is_empty(), "{d:?}");
        prop_assert!(
            d.line <= line_count + 1,
            "{d:?} is past the last line ({line_count})"
        );
        let width = physical.get(d.line - 1).map_or(0, |l| l.chars().count());
        prop_assert!(
            d.column <= width + 1,
            "{d:?} is past the end of its line ({width} characters)"
        );
    }
    let rendered = e.to_string();
    let expected: Vec<String> = e
        .diagnostics
        .iter()
        .map(|d| format!("p.toml:{}:{}: {}", d.line, d.column, d.message))
        .collect();
    prop_assert_eq!(&rendered, &expected.join("\n"));
    if strict {
        for line in rendered.lines() {
            prop_assert!(
                located(line, "p.toml").is_some(),
                "a line of the rendered errors names no position: {line:?}"
            );
        }
    } else {
        for d in e
            .diagnostics
            .iter()
            .filter(|d| !d.message.contains(['\n', '\r']))
        {
            let line = format!("p.toml:{}:{}: {}", d.line, d.column, d.message);
            prop_assert_eq!(located(&line, "p.toml"), Some((d.line, d.column)));
        }
    }
    Ok(())
}

fn policy_runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

#[test]
fn random_policy_files_are_rejected_with_positions_never_a_panic() {
    let started = Instant::now();
    let mut runner = policy_runner(1000);
    let result = runner.run(&policy_text(), |text| check_policy_result(&text, false));
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("1000 random policies in {:?}", started.elapsed());
}

#[test]

fn random_policy_errors_render_one_located_line_each() {
    let mut runner = policy_runner(1000);
    let result = runner.run(&policy_text(), |text| check_policy_result(&text, true));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]

fn policy_errors_are_one_line_each_even_for_strings_with_line_breaks() {
    let cases = [
        "version = \"a\\nb\"\ndefault_level = \"s\"\npolicy_owners = \"g\"\n",
        "version = 1\ndefault_level = \"s\"\npolicy_owners = \"g\"\n\"k\\nz\" = 1\n",
        "version = 1\ndefault_level = \"s\"\npolicy_owners = \"g\"\n[groups]\ng = [\"x\\ny\"]\n[levels.s]\napprovals = 1\n",
        "version = 1\ndefault_level = \"s\\n\"\npolicy_owners = \"g\"\n[groups]\ng = [\"x\"]\n[levels.s]\napprovals = 1\n",
    ];
    for text in cases {
        let e = Policy::parse(text, "p.toml").expect_err(text);
        for line in e.to_string().lines() {
            assert!(
                located(line, "p.toml").is_some(),
                "{text:?}: line without a position: {line:?}\nall:\n{e}"
            );
        }
    }
}

const MINIMAL: &str = "version = 1\ndefault_level = \"s\"\npolicy_owners = \"g\"\n[groups]\ng = [\"x\"]\n[levels.s]\napprovals = 1\n";

/// Parses `text`, which must be rejected within `limit`, with a message containing `want`.
fn assert_rejected_quickly(text: &str, limit: Duration, want: &[&str]) {
    let started = Instant::now();
    let e = Policy::parse(text, "p.toml").expect_err("rejected");
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}");
    let rendered = e.to_string();
    for w in want {
        assert!(rendered.contains(w), "missing {w:?} in {rendered}");
    }
    for d in &e.diagnostics {
        assert!(d.line >= 1 && d.column >= 1, "{d:?}");
    }
}

#[test]
fn a_policy_over_one_mib_is_rejected_by_size() {
    let mut text = MINIMAL.to_string();
    text.push_str("# padding\n");
    text.push_str(&"#".repeat(limits::MAX_POLICY_BYTES));
    text.push('\n');
    assert_rejected_quickly(
        &text,
        Duration::from_secs(2),
        &[
            &format!("{} bytes", text.len()),
            &limits::MAX_POLICY_BYTES.to_string(),
            "1 MiB",
        ],
    );
    // Exactly at the limit is a size the loader reads (and here finds valid).
    let mut at_limit = MINIMAL.to_string();
    at_limit.push_str(&"#".repeat(limits::MAX_POLICY_BYTES - MINIMAL.len()));
    assert_eq!(at_limit.len(), limits::MAX_POLICY_BYTES);
    Policy::parse(&at_limit, "p.toml").expect("a policy of exactly 1 MiB is read");
}

#[test]
fn more_globs_than_the_limit_are_rejected_by_count() {
    let n = limits::MAX_PATTERNS + 1;
    let globs: Vec<String> = (0..n).map(|i| format!("\"d{i}/*.rs\"")).collect();
    let text = format!(
        "{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [{}]\n",
        globs.join(", ")
    );
    assert!(text.len() < limits::MAX_POLICY_BYTES);
    assert_rejected_quickly(
        &text,
        Duration::from_secs(5),
        &[&format!("{n} globs"), &limits::MAX_PATTERNS.to_string()],
    );
    // The count covers `match` and `except` together.
    let half = limits::MAX_PATTERNS / 2 + 1;
    let m: Vec<String> = (0..half).map(|i| format!("\"m{i}/**\"")).collect();
    let x: Vec<String> = (0..half).map(|i| format!("\"m{i}/x\"")).collect();
    let text = format!(
        "{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [{}]\nexcept = [{}]\n",
        m.join(","),
        x.join(",")
    );
    assert_rejected_quickly(
        &text,
        Duration::from_secs(5),
        &[&format!("{} globs", 2 * half)],
    );
}

/// Globs of one wildcard shape cost one compiled pattern however many there are; distinct
/// shapes each cost one, and a policy of many distinct shapes a path can be tested against
/// at once (`*7*/**` against `x7y/z`) is what makes matching slow. So their number is capped,
/// and so is their size, checked before anything is compiled.
#[test]
fn too_many_or_too_large_distinct_wildcard_parts_are_rejected_quickly() {
    let n = limits::MAX_WILDCARD_PARTS + 1;
    let globs: Vec<String> = (0..n).map(|i| format!("\"*{i}*/**\"")).collect();
    let text = format!(
        "{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [{}]\n",
        globs.join(", ")
    );
    assert_rejected_quickly(
        &text,
        Duration::from_secs(5),
        &[
            "p.toml:1:1: the policy's globs are too complex to match together",
            &format!("they have {n} distinct wildcard parts"),
            &format!("at most {} are allowed", limits::MAX_WILDCARD_PARTS),
        ],
    );
    let globs: Vec<String> = (0..3_000)
        .map(|i| format!("\"{}{i}*\"", "?".repeat(60)))
        .collect();
    let text = format!(
        "{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [{}]\n",
        globs.join(", ")
    );
    assert_rejected_quickly(
        &text,
        Duration::from_secs(5),
        &["bytes as regular expressions", "at most 524288"],
    );
    // At the limit the policy loads (matching a 3000-file PR built to keep every shape alive
    // then takes about 3 s in a release build: docs/performance.md).
    let globs: Vec<String> = (0..limits::MAX_WILDCARD_PARTS)
        .map(|i| format!("\"*{i}*/**\""))
        .collect();
    let text = format!(
        "{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [{}]\n",
        globs.join(", ")
    );
    Policy::parse(&text, "p.toml").expect("at the limit");
}

#[test]
fn a_glob_longer_than_the_limit_is_rejected_where_it_stands() {
    let long = "a".repeat(limits::MAX_GLOB_LEN + 1);
    let text = format!("{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [\"ok/**\", \"{long}\"]\n");
    assert_rejected_quickly(
        &text,
        Duration::from_secs(2),
        &[
            "p.toml:10:19: glob in `match`",
            &format!("{} bytes long", limits::MAX_GLOB_LEN + 1),
            &format!("the limit is {}", limits::MAX_GLOB_LEN),
        ],
    );
    let at_limit = "b".repeat(limits::MAX_GLOB_LEN);
    let text = format!("{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [\"{at_limit}\"]\n");
    Policy::parse(&text, "p.toml").expect("a glob of exactly the limit is accepted");
}

#[test]
fn ten_thousand_nested_brackets_are_rejected_without_overflowing_the_stack() {
    // Run where a tokio worker would: a thread with the default 2 MiB stack.
    let depth = 10_000;
    let texts = vec![
        (
            "arrays",
            format!("a = {}{}", "[".repeat(depth), "]".repeat(depth)),
        ),
        ("unclosed arrays", format!("a = {}", "[".repeat(depth))),
        (
            "inline tables",
            format!("a = {}1{}", "{ b = ".repeat(depth), " }".repeat(depth)),
        ),
        ("dotted keys", format!("{} = 1", vec!["k"; depth].join("."))),
        (
            "table header",
            format!("[{}]\nx = 1", vec!["k"; depth].join(".")),
        ),
        ("bare brackets", "[".repeat(depth)),
        (
            "array of tables",
            format!("{}x{}", "[".repeat(depth), "]".repeat(depth)),
        ),
    ];
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            for (what, text) in texts {
                let started = Instant::now();
                let e = Policy::parse(&text, "p.toml").expect_err(what);
                let took = started.elapsed();
                assert!(took < Duration::from_secs(2), "{what}: took {took:?}");
                let rendered = e.to_string();
                assert!(rendered.contains("TOML syntax error"), "{what}: {rendered}");
                if what != "bare brackets" && what != "array of tables" {
                    assert!(
                        rendered.contains("recurs"),
                        "{what}: the message names the nesting: {rendered}"
                    );
                }
                for d in &e.diagnostics {
                    assert!(d.line >= 1 && d.column >= 1, "{what}: {d:?}");
                }
            }
        })
        .expect("thread")
        .join()
        .expect("no panic, no overflow");
}

// --------------------------------------------------------------------------------------------
// PR snapshots
// --------------------------------------------------------------------------------------------

const EXAMPLE_PR: &str = include_str!("../examples/pr.json");

#[test]
fn random_snapshots_never_panic_and_errors_carry_positions() {
    let doc: Value = serde_json::from_str(EXAMPLE_PR).expect("the example parses");
    Snapshot::from_json(EXAMPLE_PR, "pr.json").expect("the example is valid");
    let pretty = prop_oneof![Just(false), Just(true)];
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(
        &(proptest::collection::vec(mutation(), 0..5), pretty),
        |(mutations, pretty)| {
            let bytes = if pretty {
                // Multi-line text, so positions past line 1 are exercised too.
                let compact = mutate(doc.clone(), &mutations);
                match serde_json::from_slice::<Value>(&compact) {
                    Ok(v) => serde_json::to_vec_pretty(&v).expect("pretty"),
                    Err(_) => compact,
                }
            } else {
                mutate(doc.clone(), &mutations)
            };
            let text = String::from_utf8_lossy(&bytes);
            check_snapshot_result(&text, false)
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("1000 random snapshots in {:?}", started.elapsed());
}

fn check_snapshot_result(text: &str, strict_column: bool) -> Result<(), TestCaseError> {
    let Err(e) = Snapshot::from_json(text, "pr.json") else {
        return Ok(());
    };
    prop_assert!(e.line >= 1, "{e:?}");
    // serde_json counts a position at the very start of a line (EOF right after a newline, or
    // in an empty text) as column 0; see `an_empty_snapshot_is_reported_at_column_one`.
    prop_assert!(e.column >= 1 || !strict_column, "{e:?}");
    prop_assert!(
        e.line <= text.lines().count() + 1,
        "{e:?} past the last line"
    );
    prop_assert!(!e.message.trim().is_empty(), "{e:?}");
    prop_assert!(!e.message.contains(" at line "), "{e:?}");
    let rendered = e.to_string();
    prop_assert!(
        rendered.starts_with(&format!("pr.json:{}:{}: ", e.line, e.column)),
        "{rendered}"
    );
    Ok(())
}

#[test]

fn an_empty_snapshot_is_reported_at_column_one() {
    for text in ["", "\n", "{\"author\": \"a\",\n"] {
        let e = Snapshot::from_json(text, "pr.json").expect_err(text);
        assert!(e.line >= 1 && e.column >= 1, "{text:?}: {e}");
    }
}

/// A policy at the glob limit still loads. The time bound is deliberately loose: it catches a
/// blow-up (20,000 globs once took 25 s in a debug build), not speed, which
/// `cargo test --release --test policy_bench -- --ignored --nocapture` measures (15,000 globs
/// in under 0.1 s in release).
#[test]
fn a_policy_at_the_glob_limit_compiles_quickly() {
    let globs: Vec<String> = (0..limits::MAX_PATTERNS)
        .map(|i| format!("\"**/*{i}.rs\""))
        .collect();
    let text = format!(
        "{MINIMAL}[[paths]]\nlevel = \"s\"\nmatch = [{}]\n",
        globs.join(", ")
    );
    assert!(text.len() < limits::MAX_POLICY_BYTES);
    let started = Instant::now();
    Policy::parse(&text, "p.toml").expect("within every limit");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

/// Group counts at the top of the range the loader accepts, on groups with a team (so the
/// loader cannot tell they are unreachable).
const HUGE_REQUIRE_POLICY: &str = r#"
version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
leads = ["@acme/tech-leads"]
seniors = ["@acme/senior-engineers"]
payments = ["@acme/payments"]

[levels.standard]
approvals = 1
require = { seniors = 10000, payments = 10000 }
"#;

#[test]
fn counts_beyond_any_organisation_are_rejected() {
    let text = HUGE_REQUIRE_POLICY.replace("10000", "4294967295");
    let err = Policy::parse(&text, "p.toml")
        .expect_err("rejected")
        .to_string();
    assert!(err.contains("p.toml:13:23: the count for group `seniors` in [levels.standard] is 4294967295; counts above 10000"), "{err}");
}

#[test]
fn counts_at_the_top_of_the_accepted_range_do_not_overflow() {
    let policy = Policy::parse(HUGE_REQUIRE_POLICY, "p.toml").expect("the loader accepts it");
    let snapshot = Snapshot::from_json(
        r#"{"author":"zed","head_sha":"h","files":[{"path":"src/lib.rs"}],"reviews":[]}"#,
        "pr.json",
    )
    .expect("snapshot");
    let verdict = reviewgate::evaluate::evaluate(&policy, &snapshot, POLICY_PATH);
    assert!(!verdict.approved);
    assert!(
        verdict.title.contains("10000 more approvals from payments"),
        "{}",
        verdict.title
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_evaluation_does_not_wedge_the_pr() {
    let fake = fake_world().await;
    fake.set_file(REPO, "main", POLICY_PATH, HUGE_REQUIRE_POLICY);
    let h = Harness::with(fake, &[("REVIEWGATE_WORKERS", "1")]).await;
    let n = h.fake.open_pr(REPO, pr("zed", &["src/lib.rs"]));
    let event = webhooks::pull_request_event("opened", &h.fake, REPO, n, INSTALLATION);
    assert_eq!(h.deliver("pull_request", &event).await.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.server.state.app.idle().await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        h.server.state.app.idle().await,
        "the PR's job is still queued or running 10 s later"
    );
    let run = h.fake.latest_check_run(REPO, &h.head_sha(n), CHECK);
    assert_eq!(
        run.and_then(|r| r.conclusion).as_deref(),
        Some("failure"),
        "an unapproved PR gets a failing check, never none"
    );
}

/// Whether the server closes (or answers) a connection that stopped mid-request within
/// `limit`.
async fn closed_within(h: &Harness, partial: &'static [u8], limit: Duration) -> bool {
    use std::io::{Read, Write};
    let addr = h.server.addr;
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(partial).expect("write");
        s.set_read_timeout(Some(limit)).expect("timeout");
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            // An answer (408, 400) or a close (0 bytes): either way the server let go.
            Ok(_answered_or_closed) => true,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    })
    .await
    .expect("probe")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_is_dropped_within_thirty_seconds() {
    let h = Harness::start().await;
    assert!(
        closed_within(&h, b"NOT HTTP\r\n\r\n", Duration::from_secs(5)).await,
        "the probe sees an answer when there is one"
    );
    let limit = Duration::from_secs(35);
    let (headers, body) = tokio::join!(
        closed_within(&h, b"POST /webhook HTTP/1.1\r\nHost: x\r\n", limit),
        closed_within(
            &h,
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nx-github-event: push\r\n\r\n{",
            limit
        ),
    );
    assert!(headers, "unfinished headers kept open for {limit:?}");
    assert!(body, "unfinished body kept open for {limit:?}");
}
