//! The policy language: what `policy.toml` says, loaded, validated and compiled.
//!
//! A [`Policy`] is only ever built by [`Policy::parse`], which rejects anything it cannot
//! enforce exactly; holding one means every level and group it names exists and every glob
//! compiled. The evaluator can therefore trust it without re-checking.

mod diagnostics;
mod glob;
mod load;
mod matcher;
pub mod selftest;
mod warnings;

use std::collections::BTreeMap;

pub use diagnostics::{Diagnostic, PolicyErrors};
pub use matcher::{MatchScratch, PathMatcher};
pub use warnings::warnings;

/// The only policy language version this build understands.
pub const POLICY_VERSION: i64 = 1;

/// Whether a login is a GitHub App's bot account (`renovate[bot]`): bots never approve.
pub fn is_bot(login: &str) -> bool {
    login.len() >= 5
        && login
            .get(login.len() - 5..)
            .is_some_and(|end| end.eq_ignore_ascii_case("[bot]"))
}

/// Where the App looks for the policy on the PR's base branch unless told otherwise.
pub const DEFAULT_POLICY_PATH: &str = ".github/review-policy.toml";

/// Size limits that keep a hostile or mistaken policy from costing unbounded memory or time.
pub mod limits {
    /// Largest policy file accepted, in bytes.
    pub const MAX_POLICY_BYTES: usize = 1024 * 1024;
    /// Most glob patterns (`match` and `except` together) in one policy: 5,000 entries with
    /// 4 globs each. The matcher compiles only the distinct wildcard shapes, so 15,000 globs
    /// of real shapes compile in tens of milliseconds (docs/performance.md); the limit bounds
    /// the memory and the hash maps a hostile policy can make us build.
    pub const MAX_PATTERNS: usize = 20_000;
    /// Most distinct wildcard parts (a glob without its literal leading directories and the
    /// literal end of its file name: `**` in `ledger/**`) in one policy. Real policies repeat
    /// a handful of shapes; what bounds the cost of matching is how many distinct ones a path
    /// can be tested against at once, and a policy of 4,000 distinct shapes built to keep
    /// them all alive (`*7*/**` against `x7y/z`) takes 3 s on a 3000-file PR.
    pub const MAX_WILDCARD_PARTS: usize = 4_000;
    /// Longest single glob pattern, in bytes.
    pub const MAX_GLOB_LEN: usize = 1024;
    /// Largest approval count: more people than any organisation has; larger counts are
    /// certainly mistakes (and would overflow sums).
    pub const MAX_COUNT: u32 = 10_000;
    /// Most problems listed for one file; past this, one line says how many more there are.
    pub const MAX_DIAGNOSTICS: usize = 100;
}

/// A validated, compiled review policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub default_level: String,
    pub policy_owners: String,
    pub settings: Settings,
    pub groups: BTreeMap<String, Group>,
    pub levels: BTreeMap<String, Level>,
    pub paths: Vec<PathRule>,
    pub(crate) matcher: PathMatcher,
    /// Line and column where each team (by [`TeamRef::key`]) is first named.
    pub(crate) team_locations: BTreeMap<String, (usize, usize)>,
    /// The `[[test]]` tables, in file order: checked by `reviewgate check` (and by the App on
    /// a PR that edits the policy), ignored when evaluating.
    pub tests: Vec<selftest::PolicyTest>,
}

/// `[settings]`; the defaults are the strict choices a bank would make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    pub dismiss_stale_approvals: bool,
    /// With `dismiss_stale_approvals`, an approval given on an earlier head still counts when
    /// the PR's own changes are byte for byte the same on both heads (equal content
    /// fingerprints): a rebase or an "Update branch" that touches none of its files keeps it.
    pub keep_approvals_when_unchanged: bool,
    pub contributors_can_approve: bool,
    pub changes_requested_blocks: bool,
    /// When false (and contributors may not approve), a commit whose author or committer
    /// GitHub cannot link to an account blocks: nobody can tell who wrote it, so nobody can be
    /// shown not to have.
    pub allow_unlinked_commits: bool,
    /// `enforce` (the default), or `report` while rolling the App out: every verdict is then
    /// written `neutral`, except on a PR that changes the policy file.
    pub mode: Mode,
    /// After an evaluation that blocks, the App asks eligible people for the reviews still
    /// missing from each unmet group (needs the App's `pull_requests: write` permission).
    pub request_reviewers: bool,
    /// Most review requests the App makes for one requirement over a PR's life.
    pub max_requests_per_requirement: u32,
}

/// Whether verdicts gate merges or are only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Report,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dismiss_stale_approvals: true,
            keep_approvals_when_unchanged: true,
            contributors_can_approve: false,
            changes_requested_blocks: true,
            allow_unlinked_commits: false,
            mode: Mode::Enforce,
            request_reviewers: false,
            max_requests_per_requirement: 2,
        }
    }
}

/// A named set of people: GitHub logins and GitHub teams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub members: Vec<Member>,
}

impl Group {
    /// Logins listed by name, as written.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.members.iter().filter_map(|m| match m {
            Member::User(login) => Some(login.as_str()),
            Member::Team(_) => None,
        })
    }

    pub fn teams(&self) -> impl Iterator<Item = &TeamRef> {
        self.members.iter().filter_map(|m| match m {
            Member::Team(team) => Some(team),
            Member::User(_) => None,
        })
    }
}

/// One entry of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// A GitHub login.
    User(String),
    /// `@org/team-slug`.
    Team(TeamRef),
}

/// A GitHub team named as `@org/team-slug`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeamRef {
    pub org: String,
    pub slug: String,
}

impl TeamRef {
    /// `org/slug` in lower case: how snapshots key team members, since GitHub compares
    /// organisation names and team slugs case-insensitively.
    pub fn key(&self) -> String {
        format!("{}/{}", self.org, self.slug).to_ascii_lowercase()
    }
}

impl std::fmt::Display for TeamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "@{}/{}", self.org, self.slug)
    }
}

/// A sensitivity level: how many eligible approvals, and how many from which groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub approvals: u32,
    pub require: BTreeMap<String, u32>,
}

/// One `[[paths]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub name: Option<String>,
    pub patterns: Vec<String>,
    pub except: Vec<String>,
    pub level: Option<String>,
    pub require: BTreeMap<String, u32>,
}

impl PathRule {
    /// How reports name this entry: its `name`, or its first pattern.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => self.patterns.first().cloned().unwrap_or_default(),
        }
    }
}

impl Policy {
    /// Parses and validates a policy. `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        load::load(text).map_err(|diagnostics| PolicyErrors {
            origin: origin.to_string(),
            diagnostics,
        })
    }

    /// Every team any group names, each once.
    pub fn teams(&self) -> Vec<TeamRef> {
        let mut teams: Vec<TeamRef> = self
            .groups
            .values()
            .flat_map(|g| g.teams().cloned())
            .collect();
        teams.sort();
        teams.dedup_by(|a, b| a.key() == b.key());
        teams
    }

    /// Teams of an organisation other than `owner`, the account that owns the repository the
    /// policy judges, each as a located problem. The App reads team members with the
    /// repository's installation token, which sees only its own organisation: a team of
    /// another organisation would be read through another installation, or read as empty.
    pub fn foreign_teams(&self, owner: &str) -> Vec<Diagnostic> {
        self.teams()
            .into_iter()
            .filter(|t| !t.org.eq_ignore_ascii_case(owner))
            .map(|t| {
                let (line, column) = self.team_locations.get(&t.key()).copied().unwrap_or((1, 1));
                Diagnostic {
                    line,
                    column,
                    message: format!(
                        "team `{t}` belongs to organisation `{}`, but the repository belongs to `{owner}`; \
                         a policy can name only teams of the repository's owner",
                        t.org
                    ),
                }
            })
            .collect()
    }

    /// The compiled matcher for the `[[paths]]` globs.
    pub fn matcher(&self) -> &PathMatcher {
        &self.matcher
    }
}

#[cfg(test)]
mod tests;
