//! Records built from a real policy, snapshot and verdict: what they say, how they chain,
//! and how they replay.

use super::*;
use crate::evaluate::evaluate;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

const POLICY: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors = ["alice", "@acme/senior-engineers"]
leads = ["@acme/tech-leads"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 1 }

[[paths]]
name = "ledger"
match = ["ledger/**"]
level = "critical"
"#;

const BLOB: &str = "0123456789abcdef0123456789abcdef01234567";

fn snapshot(reviewers: &[&str]) -> Snapshot {
    let reviews: Vec<String> = reviewers
        .iter()
        .map(|a| format!(r#"{{"user": "{a}", "state": "APPROVED", "commit": "h1"}}"#))
        .collect();
    Snapshot::from_json(
        &format!(
            r#"{{"author": "zed", "base": "main", "head_sha": "h1",
                "files": [{{"path": "ledger/post.rs"}}],
                "commits": [{{"sha": "h1", "author": "zed", "committer": "zed"}}],
                "reviews": [{}, {{"user": "mallory", "state": "APPROVED", "commit": "h1"}}],
                "teams": {{"acme/senior-engineers": ["carol"], "acme/tech-leads": ["lena"]}},
                "permissions": {{"carol": "write", "dave": "write", "alice": "admin"}}}}"#,
            reviews.join(",")
        ),
        "pr.json",
    )
    .expect("snapshot")
}

fn context(at_ms: i64) -> DecisionContext {
    DecisionContext {
        repository: "acme/ledger".into(),
        pr: Some(7),
        base: Some("main".into()),
        head_sha: "h1".into(),
        policy_path: ".github/review-policy.toml".into(),
        evaluated_at_ms: at_ms,
        other_prs: vec![],
        pr_updated_at: Some("2026-07-01T09:00:00Z".into()),
    }
}

fn decision(reviewers: &[&str], at_ms: i64) -> DecisionRecord {
    let policy = Policy::parse(POLICY, "p.toml").expect("policy");
    let snapshot = snapshot(reviewers);
    let verdict = evaluate(&policy, &snapshot, ".github/review-policy.toml");
    let source = PolicySource {
        blob_sha: BLOB,
        text: POLICY,
    };
    DecisionRecord::from_verdict(context(at_ms), source, &policy, &snapshot, &verdict)
}

const T0: i64 = 1_782_898_200_000; // 2026-07-01T09:30:00Z

#[test]
fn a_decision_records_requirements_approvers_and_ignored_reviewers() {
    let d = decision(&["carol", "dave"], T0 + 400);
    assert_eq!(d.conclusion, Conclusion::Success);
    assert_eq!(d.title, "Approved by carol, dave");
    assert_eq!(d.evaluated_at, "2026-07-01T09:30:00.400Z");
    assert!(d.id.starts_with("d-"));
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(
        json["requirements"][1]["approvers"],
        serde_json::json!([
            {"login": "carol", "groups": {"seniors": "@acme/senior-engineers"}},
            {"login": "dave", "groups": {}}
        ])
    );
    assert_eq!(
        json["requirements"][1]["needs"],
        serde_json::json!({"approvals": 2, "groups": {"seniors": 1}})
    );
    assert_eq!(json["requirements"][1]["source"]["kind"], "path");
    assert_eq!(
        json["ignored"],
        serde_json::json!([{"login": "mallory", "state": "APPROVED", "reason": "no write access"}])
    );
    assert_eq!(json["snapshot"]["teams"]["acme/tech-leads"][0], "lena");
    check_record(&Record::from(d)).expect("valid");
}

#[test]
fn a_merge_passed_the_gate_only_if_its_decision_passed_by_the_second() {
    let facts = |merged_at: &str| MergeFacts {
        repository: "acme/ledger".into(),
        pr: 7,
        base: "main".into(),
        head_sha: "h1".into(),
        merge_sha: "m1".into(),
        merged_by: Some("lena".into()),
        merged_at: merged_at.into(),
        author: "zed".into(),
        commits: vec!["h1".into()],
    };
    let passed = decision(&["carol", "dave"], T0 + 400);
    // Evaluated at 09:30:00.400, merged at 09:30:00 (GitHub's seconds): passed.
    let m = MergeRecord::new(facts("2026-07-01T11:30:00+02:00"), Some(&passed)).expect("merge");
    assert!(m.gate_passed);
    assert_eq!(m.merged_at, "2026-07-01T09:30:00Z");
    assert_eq!(m.decision_id.as_deref(), Some(passed.id.as_str()));
    assert_eq!(m.policy_blob_sha.as_deref(), Some(BLOB));
    assert_eq!(m.approvers.len(), 2);
    // Merged a second before the passing decision: not passed.
    let early = MergeRecord::new(facts("2026-07-01T09:29:59Z"), Some(&passed)).expect("merge");
    assert!(!early.gate_passed);
    // A failing decision, or none: not passed.
    let failed = decision(&["dave"], T0);
    assert!(
        !MergeRecord::new(facts("2026-07-01T10:00:00Z"), Some(&failed))
            .expect("m")
            .gate_passed
    );
    let none = MergeRecord::new(facts("2026-07-01T10:00:00Z"), None).expect("merge");
    assert!(!none.gate_passed && none.decision_id.is_none() && none.approvers.is_empty());
    assert!(MergeRecord::new(facts("yesterday"), None).is_err());
}

#[test]
fn sealed_records_chain_and_read_back() {
    let mut records: Vec<Record> = vec![
        decision(&["carol", "dave"], T0).into(),
        PushRecord::new(PushFacts {
            repository: "acme/ledger".into(),
            branch: "main".into(),
            pusher: "eve".into(),
            after: "a1".into(),
            pushed_at_ms: T0,
            commits: vec!["a1".into()],
            deleted: false,
        })
        .into(),
    ];
    let mut prev = ZERO_HASH.to_string();
    let mut values = Vec::new();
    for (i, r) in records.iter_mut().enumerate() {
        let v = seal(r, T0 + i as i64, &prev).expect("seal");
        assert_eq!(r.hash(), v["hash"].as_str().expect("hash"));
        assert_eq!(record_hash(&v).expect("hash"), r.hash());
        prev = r.hash().to_string();
        values.push(v);
    }
    assert_eq!(verify_chain(&values, ZERO_HASH), Ok(2));
    let back = Record::from_value(values[0].clone()).expect("read back");
    assert_eq!(back, records[0]);
    let mut extra = values[1].clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(Record::from_value(extra).is_err(), "unknown fields refused");
}

#[test]
fn replay_reaches_the_same_verdict_or_says_how_it_differs() {
    let d = decision(&["carol", "dave"], T0);
    let same = replay(&d).expect("replayable");
    assert!(same.same && same.today.approved);

    let mut forged = d.clone();
    forged.conclusion = Conclusion::Failure;
    let different = replay(&forged).expect("replayable");
    assert!(!different.same);
    assert_eq!(different.recorded.0, Conclusion::Failure);
    assert_eq!(different.today_conclusion(), Conclusion::Success);

    let blind = DecisionRecord::unevaluated(
        context(T0),
        None,
        Conclusion::Failure,
        "Could not read the policy from GitHub; will retry".into(),
    );
    assert!(matches!(replay(&blind), Err(NotReplayable::Missing { .. })));
    // The record read back from its JSON replays the same.
    let text = serde_json::to_string(&d).expect("json");
    let read = parse_decision(&text, "d.json").expect("parse");
    assert!(replay(&read).expect("replay").same);
}

#[test]
fn the_summary_line_names_record_hash_and_policy() {
    let mut r: Record = decision(&["carol"], T0).into();
    seal(&mut r, T0, ZERO_HASH).expect("seal");
    let Record::Decision(d) = r else {
        unreachable!("built a decision")
    };
    let line = summary_line(&d);
    assert_eq!(
        line,
        format!(
            "Decision record {} (sha256 {}) under policy .github/review-policy.toml@{BLOB}",
            d.id,
            &d.hash[..12]
        )
    );
}

#[test]
fn malformed_records_are_refused_before_they_are_stored() {
    let mut d = decision(&["carol"], T0);
    d.policy = None;
    assert!(
        check_record(&d.clone().into()).is_err(),
        "blob without text"
    );
    let mut d = decision(&["carol"], T0);
    d.repository = "acme".into();
    assert!(check_record(&d.into()).is_err(), "no owner/repo");
    let mut d = decision(&["carol"], T0);
    d.id = "m-01".into();
    assert!(check_record(&d.into()).is_err(), "wrong prefix");
}

const FLOOR: &str = r#"version = 1
default_level = "base"
policy_owners = "org-leads"

[groups]
seniors = ["carol"]
org-leads = ["olga"]

[levels.base]
approvals = 1
require = { seniors = 1 }
"#;

const FLOOR_FILE: &str = "acme/.github:.github/review-policy.toml";
const FLOOR_BLOB: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A decision under the repository's policy and the floor (or the floor alone).
fn floor_record(own: bool, reviewers: &[&str]) -> DecisionRecord {
    use crate::evaluate::{Floor, evaluate_with_floor, repository_origin};
    let repo_policy = Policy::parse(POLICY, "repo").expect("policy");
    let floor = Policy::parse(FLOOR, FLOOR_FILE).expect("floor");
    let snap = snapshot(reviewers);
    let origin = repository_origin(
        "acme/ledger",
        ".github/review-policy.toml",
        Some(FLOOR_FILE),
    );
    let verdict = evaluate_with_floor(
        own.then_some((&repo_policy, origin.as_str())),
        Some(Floor {
            policy: &floor,
            origin: FLOOR_FILE,
        }),
        &snap,
        ".github/review-policy.toml",
    )
    .expect("a verdict");
    let judged = Judged {
        own: own.then_some((
            PolicySource {
                blob_sha: BLOB,
                text: POLICY,
            },
            &repo_policy,
        )),
        floor: Some((
            FloorSource {
                file: FLOOR_FILE,
                blob_sha: FLOOR_BLOB,
                text: Some(FLOOR),
            },
            &floor,
        )),
        snapshot: &snap,
        verdict: &verdict,
    };
    let written = (Conclusion::of_verdict(&verdict), verdict.check_title());
    DecisionRecord::from_judged(context(1_700_000_000_000), judged, written)
}

#[test]
fn a_decision_under_a_floor_records_it_and_replays_under_both_files() {
    let record = floor_record(true, &["carol", "dave"]);
    assert_eq!(record.conclusion, Conclusion::Success, "{}", record.title);
    let org = record.org_policy.as_ref().expect("floor recorded");
    assert_eq!(
        (org.file.as_str(), org.blob_sha.as_str()),
        (FLOOR_FILE, FLOOR_BLOB)
    );
    // carol counts toward the floor's `seniors` as the floor lists her, and toward the
    // repository's `seniors` through its team: each requirement is qualified by its own file.
    let floor_req = record
        .requirements
        .iter()
        .find(|r| r.origin.as_deref() == Some(FLOOR_FILE) && r.needs.groups.contains_key("seniors"))
        .expect("a requirement of the floor");
    let carol = floor_req.approvers.iter().find(|a| a.login == "carol");
    assert_eq!(
        carol.map(|a| a.groups["seniors"].as_str()),
        Some("carol"),
        "{floor_req:?}"
    );
    let own_req = record
        .requirements
        .iter()
        .find(|r| {
            r.origin.as_deref() == Some("acme/ledger:.github/review-policy.toml")
                && r.needs.groups.contains_key("seniors")
        })
        .expect("a requirement of the repository");
    let carol = own_req.approvers.iter().find(|a| a.login == "carol");
    assert_eq!(
        carol.map(|a| a.groups["seniors"].as_str()),
        Some("@acme/senior-engineers")
    );
    assert!(replay(&record).expect("replayable").same);

    // It reads back strictly, as stored.
    let value = Record::from(record.clone()).to_value().expect("json");
    assert_eq!(value["org_policy"]["file"], FLOOR_FILE);
    let back = Record::from_value(value).expect("reads back");
    assert_eq!(back, Record::from(record));

    // Under the floor alone: no policy of the repository's own, still replayable.
    let alone = floor_record(false, &["dave"]);
    assert_eq!(alone.policy_blob_sha, None);
    assert_eq!(alone.conclusion, Conclusion::Failure);
    assert!(replay(&alone).expect("replayable").same);
    assert!(summary_line(&alone).contains(&format!(
        "under organisation policy {FLOOR_FILE}@{FLOOR_BLOB}"
    )));
}

#[test]
fn a_decision_without_a_floor_has_no_floor_fields_so_old_hashes_hold() {
    let policy = Policy::parse(POLICY, "p").expect("policy");
    let snap = snapshot(&["carol", "dave"]);
    let verdict = evaluate(&policy, &snap, ".github/review-policy.toml");
    let record = DecisionRecord::from_verdict(
        context(1_700_000_000_000),
        PolicySource {
            blob_sha: BLOB,
            text: POLICY,
        },
        &policy,
        &snap,
        &verdict,
    );
    let value = Record::from(record).to_value().expect("json");
    assert!(value.get("org_policy").is_none(), "{value}");
    let requirement = &value["requirements"][0];
    assert!(requirement.get("origin").is_none(), "{requirement}");
}
