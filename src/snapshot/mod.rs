//! The PR snapshot: every fact about a pull request the evaluator needs, as one plain value.
//!
//! The App builds it from GitHub's REST API; a lead can write one by hand as JSON to ask
//! "what would this PR need?". Unknown keys are ignored so the format can grow; unknown
//! enum values (a review state GitHub does not have) are errors, because guessing what
//! they mean could let a PR through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod fingerprint;

/// One pull request, as seen at one head commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Login of the PR's author.
    pub author: String,
    /// Base branch name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The PR's current head commit; approvals on other commits are stale.
    pub head_sha: String,
    /// How many files GitHub says the PR changes. When it exceeds `files.len()` the list
    /// was cut short (GitHub lists at most 3000) and the evaluator fails closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_files: Option<u64>,
    pub files: Vec<ChangedFile>,
    #[serde(default)]
    pub commits: Vec<Commit>,
    /// Reviews in the order GitHub lists them: oldest first.
    pub reviews: Vec<Review>,
    /// Members of the teams the policy names, keyed `org/slug`.
    #[serde(default)]
    pub teams: BTreeMap<String, Vec<String>>,
    /// Each reviewer's permission on the repository, keyed by login (any case). When present,
    /// an approver missing from it or below `write` is ignored; when absent (a hand-written
    /// snapshot), permissions are not checked and the verdict says so. The App always fills it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, Permission>>,
    /// Who pushed to the PR's head branch (from webhooks): contributors like commit authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushers: Vec<String>,
    /// Content fingerprints of heads, keyed by commit SHA (both compare case-insensitively):
    /// an opaque digest of the PR's own changes as of that head (see [`fingerprint`]). The
    /// App fills it for the current head, the heads reviewers approved, and every `web-flow`
    /// merge commit of the PR and its first parent; a head without one has no fingerprint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fingerprints: BTreeMap<String, String>,
}

impl Snapshot {
    /// Whether the file list is all of the PR's files (GitHub lists at most 3000).
    pub fn file_list_complete(&self) -> bool {
        self.changed_files
            .is_none_or(|n| n <= self.files.len() as u64)
    }

    /// The fingerprint of commit `sha`, lower-cased; `None` when the snapshot has none.
    pub fn fingerprint_of(&self, sha: &str) -> Option<String> {
        self.fingerprints
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(sha))
            .map(|(_, v)| v.to_ascii_lowercase())
            .filter(|v| !v.is_empty())
    }

    /// Whether `commit` is an update-branch merge: two parents, committed by `web-flow`, and
    /// the same changes as its first parent (so it brought only the base's changes, and none
    /// to the PR's own files). Such a commit is not a contribution. Either fingerprint
    /// missing: it is.
    pub fn is_update_branch_merge(&self, commit: &Commit) -> bool {
        let (Some(sha), [first, _]) = (commit.sha.as_deref(), commit.parents.as_slice()) else {
            return false;
        };
        commit
            .committer
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("web-flow"))
            && self
                .fingerprint_of(sha)
                .is_some_and(|fp| self.fingerprint_of(first) == Some(fp))
    }
}

/// A person's permission on a repository, as GitHub names the roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// Whether GitHub would count this person's approval: write, maintain or admin.
    pub fn can_approve(self) -> bool {
        self >= Permission::Write
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    /// The path before a rename or copy; the file counts under both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FileStatus>,
}

/// GitHub's file statuses in a PR's file list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Removed,
    Modified,
    Renamed,
    Copied,
    Changed,
    Unchanged,
}

/// A commit of the PR; its author and committer are contributors, who may not approve
/// (unless `contributors_can_approve`). `None` means GitHub could not link the commit's
/// e-mail address to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committer: Option<String>,
    /// Parent commit SHAs, in GitHub's order (a merge's first parent is the branch merged
    /// into). Empty when not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub user: String,
    pub state: ReviewState,
    /// The head commit the reviewer saw.
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

/// GitHub's review states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Dismissed => "DISMISSED",
            ReviewState::Pending => "PENDING",
        }
    }
}

/// A snapshot that could not be read, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct SnapshotError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Snapshot {
    /// Reads a snapshot from JSON. `origin` names the file in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Snapshot, SnapshotError> {
        let snapshot: Snapshot = serde_json::from_str(text).map_err(|e| SnapshotError {
            origin: origin.to_string(),
            // serde_json counts columns from 0 at the start of a line (an empty input, or
            // EOF right after a newline); positions here are 1-based.
            line: e.line().max(1),
            column: e.column().max(1),
            message: strip_position(&e.to_string()),
        })?;
        snapshot.check().map_err(|message| SnapshotError {
            origin: origin.to_string(),
            line: 1,
            column: 1,
            message,
        })?;
        Ok(snapshot)
    }

    /// Checks what the JSON shape alone cannot: values that must not be empty.
    fn check(&self) -> Result<(), String> {
        if self.author.trim().is_empty() {
            return Err("`author` must not be empty".into());
        }
        if self.head_sha.trim().is_empty() {
            return Err("`head_sha` must not be empty".into());
        }
        if let Some(i) = self.files.iter().position(|f| f.path.is_empty()) {
            return Err(format!("`files[{i}].path` must not be empty"));
        }
        if let Some(i) = self.reviews.iter().position(|r| r.user.trim().is_empty()) {
            return Err(format!("`reviews[{i}].user` must not be empty"));
        }
        Ok(())
    }
}

/// serde_json appends " at line L column C" to its messages; the position is given in
/// front instead, as compilers do.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "author": "zed", "base": "main", "head_sha": "c0ffee",
      "changed_files": 2,
      "files":   [{"path": "ledger/post.rs", "status": "modified"},
                  {"path": "misc/core.rs", "previous_path": "ledger/core.rs", "status": "renamed"}],
      "commits": [{"sha": "c0ffee", "author": "zed", "committer": "zed"}],
      "reviews": [{"user": "alice", "state": "APPROVED", "commit": "c0ffee", "submitted_at": "2026-11-01T10:00:00Z"}],
      "teams":   {"acme/senior-engineers": ["carol", "sam"]},
      "some_future_key": {"ignored": true}
    }"#;

    #[test]
    fn reads_the_documented_example() {
        let s = Snapshot::from_json(EXAMPLE, "pr.json").expect("valid");
        assert_eq!(s.author, "zed");
        assert_eq!(s.changed_files, Some(2));
        assert_eq!(s.files[1].previous_path.as_deref(), Some("ledger/core.rs"));
        assert_eq!(s.files[1].status, Some(FileStatus::Renamed));
        assert_eq!(s.reviews[0].state, ReviewState::Approved);
        assert_eq!(s.teams["acme/senior-engineers"], vec!["carol", "sam"]);
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let s = Snapshot::from_json(
            r#"{"author":"a","head_sha":"h","files":[{"path":"x"}],"reviews":[]}"#,
            "p",
        )
        .expect("valid");
        assert!(s.commits.is_empty() && s.teams.is_empty() && s.changed_files.is_none());
    }

    #[test]
    fn invalid_input_is_reported_with_position() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"head_sha":"h","files":[],"reviews":[]}"#,
                "missing field `author`",
            ),
            (
                r#"{"author":"a","files":[],"reviews":[]}"#,
                "missing field `head_sha`",
            ),
            (
                r#"{"author":"a","head_sha":"h","reviews":[]}"#,
                "missing field `files`",
            ),
            (
                r#"{"author":"a","head_sha":"h","files":[]}"#,
                "missing field `reviews`",
            ),
            (
                r#"{"author":"a","head_sha":"h","files":[{}],"reviews":[]}"#,
                "missing field `path`",
            ),
            (
                r#"{"author":"a","head_sha":"h","files":[],"reviews":[{"user":"b","state":"LGTM","commit":"h"}]}"#,
                "unknown variant `LGTM`",
            ),
            (
                r#"{"author":"a","head_sha":"h","files":[],"reviews":[{"user":"b","state":"APPROVED"}]}"#,
                "missing field `commit`",
            ),
            (
                r#"{"author":"a","head_sha":"h","files":[{"path":"x","status":"moved"}],"reviews":[]}"#,
                "unknown variant `moved`",
            ),
            (r#"{"author": "a", "#, "EOF while parsing"),
            (
                r#"{"author":"","head_sha":"h","files":[],"reviews":[]}"#,
                "`author` must not be empty",
            ),
        ];
        for (json, want) in cases {
            let err = Snapshot::from_json(json, "pr.json").expect_err(json);
            let text = err.to_string();
            assert!(text.starts_with("pr.json:"), "{text}");
            assert!(text.contains(want), "{json}: {text}");
            assert!(!text.contains(" at line "), "{text}");
        }
        let err = Snapshot::from_json("{\n  \"author\": 5\n}", "pr.json").expect_err("type");
        assert_eq!((err.line, err.column), (2, 13));
    }
}
