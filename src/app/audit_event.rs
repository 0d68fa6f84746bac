//! The merges and pushes the audit trail records, as read from their webhooks. Pure: a
//! payload in, an event out, kept in the store's audit inbox (as JSON) until recorded.
//!
//! Only what GitHub's payload says is kept here; what needs GitHub's API (the PR's commits,
//! whether the base has a policy, which PRs a pushed commit belongs to) is read when the
//! event is recorded, by `App::record_audit`.

use serde::{Deserialize, Serialize};

/// A merge or a push waiting to be recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent {
    /// `pull_request` `closed` with `merged: true`.
    Merge {
        pr: u64,
        base: String,
        head_sha: String,
        merge_sha: String,
        merged_by: Option<String>,
        /// GitHub's `merged_at` (RFC 3339).
        merged_at: String,
        author: String,
    },
    /// A `push` to a branch (`refs/heads/*`).
    Push {
        /// Without `refs/heads/`.
        branch: String,
        before: String,
        after: String,
        pusher: String,
        /// GitHub's `repository.pushed_at` (seconds), when the payload has it.
        pushed_at: Option<i64>,
        /// The commits the payload lists (at most 20; see `truncated`).
        commits: Vec<String>,
        /// The payload lists 20 commits: there may be more (the compare API has them).
        truncated: bool,
        created: bool,
        deleted: bool,
    },
}

/// GitHub lists at most this many commits in a push event.
pub const PUSH_PAYLOAD_COMMITS: usize = 20;

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

#[derive(Deserialize)]
struct MergedPr {
    number: u64,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    merged_by: Option<Login>,
    user: Login,
    base: Branch,
    head: Branch,
}

#[derive(Deserialize)]
struct ClosedPayload {
    pull_request: MergedPr,
}

#[derive(Deserialize)]
struct PushCommit {
    id: String,
}

#[derive(Deserialize)]
struct Pusher {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct PushRepo {
    #[serde(default)]
    pushed_at: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    commits: Vec<PushCommit>,
    #[serde(default)]
    pusher: Option<Pusher>,
    #[serde(default)]
    sender: Option<Login>,
    #[serde(default)]
    repository: Option<PushRepo>,
}

/// The audit event of a delivery, if it is one: a merged PR's `closed`, or a push to a
/// branch. `None` for everything else, and for a payload that lacks what a record needs
/// (GitHub always sends it; a payload without it is not GitHub's).
pub fn audit_event(event: &str, action: &str, body: &[u8]) -> Option<AuditEvent> {
    match (event, action) {
        ("pull_request", "closed") => merge(body),
        ("push", _) => push(body),
        _ => None,
    }
}

fn merge(body: &[u8]) -> Option<AuditEvent> {
    let pr = serde_json::from_slice::<ClosedPayload>(body)
        .ok()?
        .pull_request;
    if !pr.merged {
        return None;
    }
    Some(AuditEvent::Merge {
        pr: pr.number,
        base: pr.base.name,
        head_sha: pr.head.sha.to_ascii_lowercase(),
        merge_sha: pr.merge_commit_sha?.to_ascii_lowercase(),
        merged_by: pr.merged_by.map(|l| l.login),
        merged_at: pr.merged_at?,
        author: pr.user.login,
    })
}

fn push(body: &[u8]) -> Option<AuditEvent> {
    let p: PushPayload = serde_json::from_slice(body).ok()?;
    let branch = p.git_ref.strip_prefix("refs/heads/")?.to_string();
    // The login of who pushed: `sender` is the account; `pusher.name` is its git name, which
    // is the login for pushes over HTTPS and SSH but not always, so it is only the fallback.
    let pusher = p
        .sender
        .map(|s| s.login)
        .or_else(|| p.pusher.and_then(|p| p.name))?;
    let pushed_at = p
        .repository
        .and_then(|r| r.pushed_at)
        .and_then(|v| v.as_i64());
    let truncated = p.commits.len() >= PUSH_PAYLOAD_COMMITS;
    Some(AuditEvent::Push {
        branch,
        before: p.before.to_ascii_lowercase(),
        after: p.after.to_ascii_lowercase(),
        pusher,
        pushed_at,
        commits: p
            .commits
            .into_iter()
            .map(|c| c.id.to_ascii_lowercase())
            .collect(),
        truncated,
        created: p.created,
        deleted: p.deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(event: &str, file: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/github-webhooks/{event}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("json")
    }

    #[test]
    fn a_closed_pr_is_a_merge_only_when_merged() {
        let mut closed = fixture("pull_request", "closed.payload.json");
        let body = serde_json::to_vec(&closed).expect("encode");
        assert_eq!(audit_event("pull_request", "closed", &body), None);
        closed["pull_request"]["merged"] = true.into();
        closed["pull_request"]["merged_at"] = "2026-07-02T10:00:00Z".into();
        closed["pull_request"]["merged_by"] = serde_json::json!({"login": "lead"});
        let body = serde_json::to_vec(&closed).expect("encode");
        match audit_event("pull_request", "closed", &body) {
            Some(AuditEvent::Merge {
                pr,
                base,
                merged_by,
                merged_at,
                author,
                merge_sha,
                ..
            }) => {
                assert_eq!(pr, closed["pull_request"]["number"].as_u64().expect("n"));
                assert_eq!(base, "master");
                assert_eq!(merged_by.as_deref(), Some("lead"));
                assert_eq!(merged_at, "2026-07-02T10:00:00Z");
                assert_eq!(author, "Codertocat");
                assert_eq!(merge_sha, "c4295bd74fb0f4fda03689c3df3f2803b658fd85");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(audit_event("pull_request", "opened", &body), None);
    }

    #[test]
    fn pushes_to_branches_are_read_and_tags_are_not() {
        let push_body = fixture("push", "with-new-branch.payload.json");
        let body = serde_json::to_vec(&push_body).expect("encode");
        match audit_event("push", "", &body) {
            Some(AuditEvent::Push {
                branch,
                pusher,
                commits,
                truncated,
                created,
                ..
            }) => {
                assert_eq!(branch, "master");
                assert_eq!(pusher, "Codertocat");
                assert_eq!(
                    commits.len(),
                    push_body["commits"].as_array().expect("c").len()
                );
                assert!(!truncated);
                assert!(created);
            }
            other => panic!("{other:?}"),
        }
        // GitHub's own example of a tag push (deleted, no commits) is no audit event.
        let tag = serde_json::to_vec(&fixture("push", "payload.json")).expect("encode");
        assert_eq!(audit_event("push", "", &tag), None);
    }

    #[test]
    fn events_survive_the_inbox() {
        let event = AuditEvent::Push {
            branch: "main".into(),
            before: "a".repeat(40),
            after: "b".repeat(40),
            pusher: "mallory".into(),
            pushed_at: Some(1),
            commits: vec!["b".repeat(40)],
            truncated: false,
            created: false,
            deleted: false,
        };
        let json = serde_json::to_string(&event).expect("encode");
        assert_eq!(
            serde_json::from_str::<AuditEvent>(&json).expect("decode"),
            event
        );
    }
}
