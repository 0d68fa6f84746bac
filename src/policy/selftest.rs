//! `[[test]]` tables: example pull requests shipped inside the policy, each with the verdict
//! its authors expect, so that a change to the policy is checked against what it is meant to
//! do before it is merged (`reviewgate check` runs them; so does the App, on a PR that edits
//! the policy).
//!
//! A test is read into a [`PolicyTest`] while the policy loads (a malformed test is a policy
//! error, located like any other), and [`PolicyTest::run`] turns it into a snapshot, evaluates
//! it with the real evaluator and compares.

use std::collections::BTreeMap;

use toml::de::DeTable;

use super::Policy;
use super::load::{Loader, Span, Value, describe, integer};
use crate::evaluate::verdict::lower_first;
use crate::evaluate::{Verdict, evaluate};
use crate::snapshot::{ChangedFile, Commit, FileStatus, Permission, Review, ReviewState, Snapshot};

const TEST_KEYS: &[&str] = &[
    "name",
    "author",
    "files",
    "commits",
    "pushers",
    "permissions",
    "approvals",
    "changes_requested",
    "teams",
    "expect",
    "expect_missing",
    "expect_approvals",
];
const FILE_KEYS: &[&str] = &["path", "previous_path", "status"];
const COMMIT_KEYS: &[&str] = &["author", "committer"];

/// The head commit every test's reviews are given on.
const TEST_HEAD: &str = "0000000000000000000000000000000000000001";

/// One `[[test]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTest {
    pub name: String,
    /// Line of its `[[test]]` header, where a failure is reported.
    pub line: usize,
    pub author: String,
    pub files: Vec<ChangedFile>,
    pub commits: Vec<Commit>,
    pub pushers: Vec<String>,
    pub permissions: Option<BTreeMap<String, Permission>>,
    pub approvals: Vec<String>,
    pub changes_requested: Vec<String>,
    pub teams: BTreeMap<String, Vec<String>>,
    pub expect: Expect,
    /// Group → approvals still missing, as the test expects them (`{}`: none).
    pub expect_missing: Option<BTreeMap<String, u32>>,
    pub expect_approvals: Option<u32>,
}

/// What a test expects of the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Pass,
    Block,
}

impl Expect {
    fn as_str(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Block => "block",
        }
    }
}

/// A test whose verdict was not what it expected: the line to print, without the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub line: usize,
    pub message: String,
}

/// A test table's group names, checked against the policy's groups once it is loaded.
pub(super) struct RawTestGroups {
    pub groups: Vec<(String, Span)>,
}

impl PolicyTest {
    /// The snapshot this test describes: one head commit, the given reviews on it.
    pub fn snapshot(&self) -> Snapshot {
        let review = |user: &String, state| Review {
            user: user.clone(),
            state,
            commit: TEST_HEAD.to_string(),
            submitted_at: None,
        };
        let commits = if self.commits.is_empty() {
            vec![Commit {
                sha: Some(TEST_HEAD.to_string()),
                author: Some(self.author.clone()),
                committer: Some(self.author.clone()),
                parents: Vec::new(),
            }]
        } else {
            self.commits.clone()
        };
        Snapshot {
            author: self.author.clone(),
            base: None,
            head_sha: TEST_HEAD.to_string(),
            changed_files: None,
            files: self.files.clone(),
            commits,
            reviews: self
                .changes_requested
                .iter()
                .map(|u| review(u, ReviewState::ChangesRequested))
                .chain(
                    self.approvals
                        .iter()
                        .map(|u| review(u, ReviewState::Approved)),
                )
                .collect(),
            teams: self
                .teams
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            permissions: self.permissions.clone(),
            pushers: self.pushers.clone(),
            fingerprints: Default::default(),
        }
    }

    /// Evaluates the test's pull request under `policy`; `None` when the verdict is what the
    /// test expects.
    pub fn run(&self, policy: &Policy, policy_path: &str) -> Option<TestFailure> {
        let verdict = evaluate(policy, &self.snapshot(), policy_path);
        self.compare(&verdict).map(|message| TestFailure {
            line: self.line,
            message: format!("test \"{}\": {message}", self.name),
        })
    }

    fn compare(&self, verdict: &Verdict) -> Option<String> {
        let got = if verdict.approved {
            Expect::Pass
        } else {
            Expect::Block
        };
        if got != self.expect {
            return Some(format!(
                "expected {}, got {}: {}",
                self.expect.as_str(),
                got.as_str(),
                lower_first(&verdict.title)
            ));
        }
        if let Some(expected) = &self.expect_missing {
            let missing = missing_groups(verdict);
            if &missing != expected {
                return Some(format!(
                    "expected missing {}, got {}",
                    inline_table(expected),
                    inline_table(&missing)
                ));
            }
        }
        if let Some(expected) = self.expect_approvals {
            let missing = verdict.needs.approvals.saturating_sub(verdict.approvals);
            if missing != expected {
                return Some(format!(
                    "expected {expected} more approval{}, got {missing}",
                    if expected == 1 { "" } else { "s" }
                ));
            }
        }
        None
    }
}

/// Runs every test of `policy`, in file order.
pub fn run_all(policy: &Policy, policy_path: &str) -> Vec<TestFailure> {
    policy
        .tests
        .iter()
        .filter_map(|t| t.run(policy, policy_path))
        .collect()
}

/// Group → approvals still missing (only groups with some missing).
pub fn missing_groups(verdict: &Verdict) -> BTreeMap<String, u32> {
    let mut have: BTreeMap<&str, u32> = BTreeMap::new();
    for g in verdict.requirements.iter().flat_map(|r| &r.groups) {
        let slot = have.entry(g.group.as_str()).or_insert(0);
        *slot = (*slot).max(g.have);
    }
    verdict
        .needs
        .groups
        .iter()
        .filter_map(|(group, needed)| {
            let missing = needed.saturating_sub(have.get(group.as_str()).copied().unwrap_or(0));
            (missing > 0).then(|| (group.clone(), missing))
        })
        .collect()
}

/// `{ payments = 1, seniors = 2 }`, or `{}`.
fn inline_table(map: &BTreeMap<String, u32>) -> String {
    if map.is_empty() {
        return "{}".to_string();
    }
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", parts.join(", "))
}

impl Loader<'_> {
    /// The `test` key: a list of `[[test]]` tables. Groups named in `expect_missing` are
    /// returned with their spans for [`Loader::finish`] to check against `[groups]`.
    pub(super) fn tests(&mut self, v: &Value<'_>) -> (Vec<PolicyTest>, RawTestGroups) {
        let mut tests = Vec::new();
        let mut groups = RawTestGroups { groups: Vec::new() };
        let Some(entries) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!(
                    "`test` must be a list of tables written as [[test]], not {}",
                    describe(v)
                ),
            );
            return (tests, groups);
        };
        for (i, entry) in entries.iter().enumerate() {
            if let Some(t) = self.test(i + 1, entry, &mut groups) {
                tests.push(t);
            }
        }
        (tests, groups)
    }

    fn test(
        &mut self,
        number: usize,
        v: &Value<'_>,
        groups: &mut RawTestGroups,
    ) -> Option<PolicyTest> {
        let t = self.table(v, &format!("[[test]] {number}"))?;
        let line = self.index.position(v.span().start).0;
        let before = self.errors.len();
        let name = self.required_in(t, "name", &v.span(), number);
        let label = match &name {
            Some(n) => format!("[[test]] \"{n}\""),
            None => format!("[[test]] {number}"),
        };
        self.unknown_keys(t, TEST_KEYS, &format!("in {label}"));
        let author = self.required_in(t, "author", &v.span(), number);
        let files = match t.get("files") {
            None => {
                self.error(
                    &v.span(),
                    format!("{label} is missing `files`, the changed files of its pull request"),
                );
                Vec::new()
            }
            Some(f) => self.test_files(f, &label),
        };
        let expect = match t.get("expect") {
            None => {
                self.error(
                    &v.span(),
                    format!("{label} is missing `expect`: \"pass\" or \"block\""),
                );
                None
            }
            Some(e) => match e.get_ref().as_str() {
                Some("pass") => Some(Expect::Pass),
                Some("block") => Some(Expect::Block),
                _ => {
                    self.error(
                        &e.span(),
                        format!(
                            "`expect` in {label} must be \"pass\" or \"block\", not {}",
                            describe(e)
                        ),
                    );
                    None
                }
            },
        };
        let commits = t
            .get("commits")
            .map(|c| self.test_commits(c, &label))
            .unwrap_or_default();
        let logins = |s: &mut Self, key: &str| {
            t.get(key)
                .map(|l| s.logins(l, &format!("`{key}` in {label}")))
                .unwrap_or_default()
        };
        let pushers = logins(self, "pushers");
        let approvals = logins(self, "approvals");
        let changes_requested = logins(self, "changes_requested");
        let permissions = t
            .get("permissions")
            .map(|p| self.test_permissions(p, &label));
        let teams = t
            .get("teams")
            .map(|p| self.test_teams(p, &label))
            .unwrap_or_default();
        let expect_missing = t.get("expect_missing").map(|m| {
            let mut out = BTreeMap::new();
            if let Some(table) = self.table(m, &format!("`expect_missing` in {label}")) {
                for (key, value) in table.iter() {
                    let group = key.get_ref().to_string();
                    groups.groups.push((group.clone(), key.span()));
                    if let Some(n) = self
                        .missing_count(value, &format!("`{group}` in `expect_missing` of {label}"))
                    {
                        out.insert(group, n);
                    }
                }
            }
            out
        });
        let expect_approvals = t
            .get("expect_approvals")
            .and_then(|n| self.missing_count(n, &format!("`expect_approvals` in {label}")));
        if self.errors.len() > before {
            return None;
        }
        Some(PolicyTest {
            name: name?,
            line,
            author: author?,
            files,
            commits,
            pushers,
            permissions,
            approvals,
            changes_requested,
            teams,
            expect: expect?,
            expect_missing: expect_missing.map(|m| m.into_iter().filter(|(_, n)| *n > 0).collect()),
            expect_approvals,
        })
    }

    fn required_in(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        at: &Span,
        number: usize,
    ) -> Option<String> {
        match t.get(key) {
            None => {
                self.error(at, format!("[[test]] {number} is missing `{key}`"));
                None
            }
            Some(v) => self.string(v, &format!("`{key}` of [[test]] {number}")),
        }
    }

    /// A count of approvals still missing: a whole number, 0 allowed.
    fn missing_count(&mut self, v: &Value<'_>, what: &str) -> Option<u32> {
        match integer(v) {
            Some(n) if (0..=i64::from(super::limits::MAX_COUNT)).contains(&n) => {
                u32::try_from(n).ok()
            }
            _ => {
                self.error(
                    &v.span(),
                    format!("{what} must be a whole number from 0, not {}", describe(v)),
                );
                None
            }
        }
    }

    fn logins(&mut self, v: &Value<'_>, what: &str) -> Vec<String> {
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!("{what} must be a list of logins, not {}", describe(v)),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| self.string(item, &format!("a login in {what}")))
            .collect()
    }

    fn test_files(&mut self, v: &Value<'_>, label: &str) -> Vec<ChangedFile> {
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!("`files` in {label} must be a list, not {}", describe(v)),
            );
            return Vec::new();
        };
        if items.is_empty() {
            self.error(
                &v.span(),
                format!("`files` in {label} is empty; a pull request changes at least one file"),
            );
        }
        let mut files = Vec::new();
        for item in items {
            if item.get_ref().as_str().is_some() {
                if let Some(path) = self.string(item, &format!("a path in `files` of {label}")) {
                    files.push(ChangedFile {
                        path,
                        previous_path: None,
                        status: Some(FileStatus::Modified),
                    });
                }
                continue;
            }
            let Some(t) = self.table(item, &format!("a file in `files` of {label}")) else {
                continue;
            };
            self.unknown_keys(t, FILE_KEYS, &format!("in a file of {label}"));
            let path = match t.get("path") {
                Some(p) => self.string(p, &format!("`path` of a file in {label}")),
                None => {
                    self.error(&item.span(), format!("a file in {label} is missing `path`"));
                    None
                }
            };
            let previous_path = t
                .get("previous_path")
                .and_then(|p| self.string(p, &format!("`previous_path` of a file in {label}")));
            let status = match t.get("status") {
                None => Some(FileStatus::Modified),
                Some(s) => match s.get_ref().as_str().and_then(file_status) {
                    Some(status) => Some(status),
                    None => {
                        self.error(&s.span(), format!("`status` of a file in {label} must be one of added, removed, modified, renamed, copied, changed, unchanged, not {}", describe(s)));
                        None
                    }
                },
            };
            if let Some(path) = path {
                files.push(ChangedFile {
                    path,
                    previous_path,
                    status,
                });
            }
        }
        files
    }

    fn test_commits(&mut self, v: &Value<'_>, label: &str) -> Vec<Commit> {
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!(
                    "`commits` in {label} must be a list of tables, not {}",
                    describe(v)
                ),
            );
            return Vec::new();
        };
        let mut commits = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(t) = self.table(item, &format!("a commit in {label}")) else {
                continue;
            };
            self.unknown_keys(t, COMMIT_KEYS, &format!("in a commit of {label}"));
            let mut who = |key: &str| {
                t.get(key)
                    .and_then(|v| self.string(v, &format!("`{key}` of a commit in {label}")))
            };
            let (author, committer) = (who("author"), who("committer"));
            commits.push(Commit {
                sha: Some(format!("{:040x}", i + 2)),
                author,
                committer,
                parents: Vec::new(),
            });
        }
        commits
    }

    fn test_permissions(&mut self, v: &Value<'_>, label: &str) -> BTreeMap<String, Permission> {
        let mut out = BTreeMap::new();
        let Some(t) = self.table(v, &format!("`permissions` in {label}")) else {
            return out;
        };
        for (key, value) in t.iter() {
            match value.get_ref().as_str().and_then(permission) {
                Some(p) => {
                    out.insert(key.get_ref().to_string(), p);
                }
                None => self.error(&value.span(), format!("the permission of `{}` in {label} must be one of none, read, triage, write, maintain, admin, not {}", key.get_ref(), describe(value))),
            }
        }
        out
    }

    fn test_teams(&mut self, v: &Value<'_>, label: &str) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Some(t) = self.table(v, &format!("`teams` in {label}")) else {
            return out;
        };
        for (key, value) in t.iter() {
            let name = key.get_ref().to_string();
            let valid = name
                .split_once('/')
                .is_some_and(|(o, s)| !o.is_empty() && !s.is_empty() && !s.contains('/'));
            if !valid {
                self.error(
                    &key.span(),
                    format!("a team in `teams` of {label} is keyed `org/slug`, not `{name}`"),
                );
                continue;
            }
            let members = self.logins(value, &format!("the members of `{name}` in {label}"));
            out.insert(name, members);
        }
        out
    }
}

fn file_status(s: &str) -> Option<FileStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

fn permission(s: &str) -> Option<Permission> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}
