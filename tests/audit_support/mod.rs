//! Audit records built the way the App builds them: a real policy, a real snapshot, the real
//! evaluator, and the `reviewgate::audit` constructors.
// Each test binary uses only part of the harness.
#![allow(dead_code)]

use reviewgate::audit::{
    DecisionContext, DecisionRecord, MergeFacts, MergeRecord, PolicySource, PushFacts, PushRecord,
};
use reviewgate::evaluate::evaluate;
use reviewgate::policy::Policy;
use reviewgate::snapshot::Snapshot;

pub const POLICY: &str = r#"version = 1
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

/// The policy's git blob SHA, as GitHub would report it.
pub const BLOB: &str = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
pub const POLICY_PATH: &str = ".github/review-policy.toml";

/// 2026-07-01T00:00:00Z.
pub const JULY_1: i64 = 1_782_864_000_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;

/// A PR by zed changing the ledger, with these approvals on its head `head`.
pub fn snapshot(head: &str, approvers: &[&str]) -> Snapshot {
    let reviews: Vec<String> = approvers
        .iter()
        .map(|a| format!(r#"{{"user": "{a}", "state": "APPROVED", "commit": "{head}"}}"#))
        .collect();
    let text = format!(
        r#"{{"author": "zed", "base": "main", "head_sha": "{head}",
            "files": [{{"path": "ledger/post.rs", "status": "modified"}}],
            "commits": [{{"sha": "{head}", "author": "zed", "committer": "zed"}}],
            "reviews": [{}],
            "teams": {{"acme/senior-engineers": ["carol"], "acme/tech-leads": ["lena"]}},
            "permissions": {{"carol": "write", "dave": "write", "lena": "admin", "mallory": "read"}}}}"#,
        reviews.join(", ")
    );
    Snapshot::from_json(&text, "pr.json").expect("snapshot")
}

/// The decision for PR `pr` of `repo` at head `head` with these approvers, evaluated at
/// `at_ms`, exactly as the App would record it.
pub fn decision(repo: &str, pr: u64, head: &str, approvers: &[&str], at_ms: i64) -> DecisionRecord {
    decision_with_policy(repo, pr, head, approvers, at_ms, POLICY, BLOB)
}

pub fn decision_with_policy(
    repo: &str,
    pr: u64,
    head: &str,
    approvers: &[&str],
    at_ms: i64,
    text: &str,
    blob: &str,
) -> DecisionRecord {
    let policy = Policy::parse(text, POLICY_PATH).expect("policy");
    let snapshot = snapshot(head, approvers);
    let verdict = evaluate(&policy, &snapshot, POLICY_PATH);
    DecisionRecord::from_verdict(
        DecisionContext {
            repository: repo.to_string(),
            pr: Some(pr),
            base: Some("main".to_string()),
            head_sha: head.to_string(),
            policy_path: POLICY_PATH.to_string(),
            evaluated_at_ms: at_ms,
            other_prs: vec![],
            pr_updated_at: None,
        },
        PolicySource {
            blob_sha: blob,
            text,
        },
        &policy,
        &snapshot,
        &verdict,
    )
}

/// The merge of PR `pr` at `merged_at` (RFC 3339), judged against `decision`.
pub fn merge(
    repo: &str,
    pr: u64,
    head: &str,
    merged_at: &str,
    decision: Option<&DecisionRecord>,
) -> MergeRecord {
    MergeRecord::new(
        MergeFacts {
            repository: repo.to_string(),
            pr,
            base: "main".to_string(),
            head_sha: head.to_string(),
            merge_sha: format!("m{head}"),
            merged_by: Some("lena".to_string()),
            merged_at: merged_at.to_string(),
            author: "zed".to_string(),
            commits: vec![head.to_string()],
        },
        decision,
    )
    .expect("merge")
}

/// A direct push of `commits` to main by eve.
pub fn push(repo: &str, after: &str, at_ms: i64) -> PushRecord {
    PushRecord::new(PushFacts {
        repository: repo.to_string(),
        branch: "main".to_string(),
        pusher: "eve".to_string(),
        after: after.to_string(),
        pushed_at_ms: at_ms,
        commits: vec![after.to_string()],
        deleted: false,
    })
}
