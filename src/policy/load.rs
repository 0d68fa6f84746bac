//! Reads a policy from TOML text, checking everything at once and pinning each problem to a
//! line and column.
//!
//! Serde's derive would stop at the first problem and cannot say where a cross-reference
//! (an undefined level, say) sits in the file, so this walks toml's spanned document tree
//! by hand: every key and value keeps its byte span, and every problem becomes a
//! [`Diagnostic`] while the walk carries on.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostics::{Diagnostic, LineIndex};
use super::glob::Glob;
use super::limits::{MAX_COUNT, MAX_DIAGNOSTICS, MAX_GLOB_LEN, MAX_PATTERNS, MAX_POLICY_BYTES};
use super::matcher::PathMatcher;
use super::{Group, Level, Member, POLICY_VERSION, PathRule, Policy, Settings, TeamRef};

pub(super) type Span = Range<usize>;
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &[
    "version",
    "default_level",
    "policy_owners",
    "settings",
    "groups",
    "levels",
    "paths",
    "test",
];
const SETTINGS_KEYS: &[&str] = &[
    "dismiss_stale_approvals",
    "keep_approvals_when_unchanged",
    "contributors_can_approve",
    "changes_requested_blocks",
    "allow_unlinked_commits",
    "mode",
    "request_reviewers",
    "max_requests_per_requirement",
];
const LEVEL_KEYS: &[&str] = &["approvals", "require"];
const PATH_KEYS: &[&str] = &["name", "match", "except", "level", "require"];

/// Loads a policy, or returns every problem found in it, in file order.
pub(super) fn load(text: &str) -> Result<Policy, Vec<Diagnostic>> {
    let index = LineIndex::new(text);
    if text.len() > MAX_POLICY_BYTES {
        return Err(vec![index.diagnostic(
            &(0..0),
            format!(
                "the policy file is {} bytes; policies are limited to {} bytes (1 MiB)",
                text.len(),
                MAX_POLICY_BYTES
            ),
        )]);
    }
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // A document with syntax errors is only partly understood; checking its meaning
        // would report confusing follow-on errors, so report the syntax alone.
        let mut diagnostics: Vec<Diagnostic> = syntax_errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                index.diagnostic(&span, format!("TOML syntax error: {}", e.message().trim()))
            })
            .collect();
        diagnostics.sort_by_key(|d| (d.line, d.column));
        diagnostics.dedup();
        cap(&mut diagnostics);
        return Err(diagnostics);
    }
    let mut loader = Loader {
        index,
        errors: Vec::new(),
        team_locations: BTreeMap::new(),
    };
    let raw = loader.document(doc.get_ref());
    let policy = loader.finish(raw);
    let mut errors = loader.errors;
    match policy {
        Some(policy) if errors.is_empty() => Ok(policy),
        _ => {
            errors.sort_by_key(|d| (d.line, d.column));
            errors.dedup();
            cap(&mut errors);
            if errors.is_empty() {
                // Unreachable by construction, but never hand back a policy we could not build.
                errors.push(Diagnostic {
                    line: 1,
                    column: 1,
                    message: "the policy could not be built".into(),
                });
            }
            Err(errors)
        }
    }
}

/// Keeps the first [`MAX_DIAGNOSTICS`] problems and says how many more there were: a file of
/// 60,000 typos needs fixing in rounds anyway, and the report must stay readable.
fn cap(diagnostics: &mut Vec<Diagnostic>) {
    if diagnostics.len() > MAX_DIAGNOSTICS {
        let more = diagnostics.len() - MAX_DIAGNOSTICS;
        diagnostics.truncate(MAX_DIAGNOSTICS);
        let last = diagnostics.last().map_or((1, 1), |d| (d.line, d.column));
        diagnostics.push(Diagnostic {
            line: last.0,
            column: last.1,
            message: format!("… and {more} more problems not listed; fix these first"),
        });
    }
}

/// A `require` entry before cross-checking: group name, where it was written, count.
struct RawRequire {
    group: String,
    span: Span,
    count: u32,
}

struct RawLevel {
    name: String,
    span: Span,
    approvals: Option<u32>,
    require: Vec<RawRequire>,
}

struct RawPath {
    /// How messages name this entry.
    label: String,
    name: Option<String>,
    patterns: Vec<String>,
    except: Vec<String>,
    level: Option<(String, Span)>,
    require: Vec<RawRequire>,
}

#[derive(Default)]
struct RawPolicy {
    default_level: Option<(String, Span)>,
    policy_owners: Option<(String, Span)>,
    settings: Settings,
    groups: BTreeMap<String, (Span, Group)>,
    /// Groups with a malformed member: their size is unknown, so counts are not checked
    /// against it (that would only repeat the member error).
    doubtful_groups: BTreeSet<String>,
    levels: Vec<RawLevel>,
    paths: Vec<RawPath>,
    tests: Vec<super::selftest::PolicyTest>,
    /// Groups the tests name, to check against `[groups]`.
    test_groups: Vec<(String, Span)>,
}

pub(super) struct Loader<'t> {
    pub(super) index: LineIndex<'t>,
    pub(super) errors: Vec<Diagnostic>,
    /// Where each team (by key) is first named, for problems only the App can see.
    team_locations: BTreeMap<String, (usize, usize)>,
}

impl Loader<'_> {
    pub(super) fn error(&mut self, span: &Span, message: impl Into<String>) {
        let d = self.index.diagnostic(span, message);
        self.errors.push(d);
    }

    fn document(&mut self, doc: &DeTable<'_>) -> RawPolicy {
        let mut raw = RawPolicy::default();
        self.unknown_keys(doc, TOP_KEYS, "at the top level");
        let top = 0..0;

        match doc.get("version") {
            None => self.error(&top, "missing required key `version`; add `version = 1` at the top of the file"),
            Some(v) => match integer(v) {
                Some(POLICY_VERSION) => {}
                Some(other) => self.error(
                    &v.span(),
                    format!("unsupported policy version {other}; this reviewgate understands version {POLICY_VERSION}"),
                ),
                None => self.error(&v.span(), format!("`version` must be the integer {POLICY_VERSION}, not {}", describe(v))),
            },
        }
        raw.default_level = self.required_string(
            doc,
            "default_level",
            &top,
            "the level every pull request needs at least, e.g. `default_level = \"standard\"`",
        );
        raw.policy_owners = self.required_string(doc, "policy_owners", &top, "the group whose approval any change to the policy file needs, e.g. `policy_owners = \"leads\"`");

        if let Some(v) = doc.get("settings") {
            if let Some(t) = self.table(v, "`settings`") {
                self.unknown_keys(t, SETTINGS_KEYS, "in [settings]");
                if let Some(v) = t.get("mode") {
                    match v.get_ref().as_str() {
                        Some("enforce") => raw.settings.mode = super::Mode::Enforce,
                        Some("report") => raw.settings.mode = super::Mode::Report,
                        _ => self.error(
                            &v.span(),
                            format!(
                                "`mode` must be \"enforce\" or \"report\", not {}",
                                describe(v)
                            ),
                        ),
                    }
                }
                if let Some(v) = t.get("max_requests_per_requirement") {
                    match integer(v) {
                        Some(n) if (0..=20).contains(&n) => {
                            raw.settings.max_requests_per_requirement = n as u32;
                        }
                        _ => self.error(
                            &v.span(),
                            format!(
                                "`max_requests_per_requirement` must be a whole number from 0 to 20, not {}",
                                describe(v)
                            ),
                        ),
                    }
                }
                let s = &mut raw.settings;
                for (key, slot) in [
                    ("dismiss_stale_approvals", &mut s.dismiss_stale_approvals),
                    (
                        "keep_approvals_when_unchanged",
                        &mut s.keep_approvals_when_unchanged,
                    ),
                    ("contributors_can_approve", &mut s.contributors_can_approve),
                    ("changes_requested_blocks", &mut s.changes_requested_blocks),
                    ("allow_unlinked_commits", &mut s.allow_unlinked_commits),
                    ("request_reviewers", &mut s.request_reviewers),
                ] {
                    if let Some(v) = t.get(key) {
                        match v.get_ref().as_bool() {
                            Some(b) => *slot = b,
                            None => self.errors.push(self.index.diagnostic(
                                &v.span(),
                                format!("`{key}` must be true or false, not {}", describe(v)),
                            )),
                        }
                    }
                }
            }
        }

        if let Some(v) = doc.get("groups") {
            if let Some(t) = self.table(v, "`groups`") {
                for (key, value) in t.iter() {
                    let name = key.get_ref().to_string();
                    let before = self.errors.len();
                    if let Some(group) = self.group(&name, value) {
                        if self.errors.len() > before {
                            raw.doubtful_groups.insert(name.clone());
                        }
                        raw.groups.insert(name, (key.span(), group));
                    }
                }
            }
        }

        if let Some(v) = doc.get("levels") {
            if let Some(t) = self.table(v, "`levels`") {
                for (key, value) in t.iter() {
                    let name = key.get_ref().to_string();
                    let level = self.level(&name, key.span(), value);
                    raw.levels.push(level);
                }
            }
        }

        if let Some(v) = doc.get("test") {
            let (tests, groups) = self.tests(v);
            raw.tests = tests;
            raw.test_groups = groups.groups;
        }

        if let Some(v) = doc.get("paths") {
            match v.get_ref().as_array() {
                None => self.error(
                    &v.span(),
                    format!(
                        "`paths` must be a list of tables written as [[paths]], not {}",
                        describe(v)
                    ),
                ),
                Some(entries) => {
                    for (i, entry) in entries.iter().enumerate() {
                        if let Some(p) = self.path(i + 1, entry) {
                            raw.paths.push(p);
                        }
                    }
                }
            }
        }
        raw
    }

    fn required_string(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        missing_at: &Span,
        hint: &str,
    ) -> Option<(String, Span)> {
        match t.get(key) {
            None => {
                self.error(missing_at, format!("missing required key `{key}`: {hint}"));
                None
            }
            Some(v) => self.string(v, &format!("`{key}`")).map(|s| (s, v.span())),
        }
    }

    pub(super) fn string(&mut self, v: &Value<'_>, what: &str) -> Option<String> {
        match v.get_ref().as_str() {
            Some(s) if s.trim().is_empty() => {
                self.error(&v.span(), format!("{what} must not be empty"));
                None
            }
            Some(s) => Some(s.to_string()),
            None => {
                self.error(
                    &v.span(),
                    format!("{what} must be a string, not {}", describe(v)),
                );
                None
            }
        }
    }

    pub(super) fn table<'a, 'i>(
        &mut self,
        v: &'a Value<'i>,
        what: &str,
    ) -> Option<&'a DeTable<'i>> {
        let t = v.get_ref().as_table();
        if t.is_none() {
            self.error(
                &v.span(),
                format!("{what} must be a table, not {}", describe(v)),
            );
        }
        t
    }

    pub(super) fn unknown_keys(&mut self, t: &DeTable<'_>, allowed: &[&str], place: &str) {
        for (key, _) in t.iter() {
            let k = key.get_ref();
            if !allowed.contains(&k.as_ref()) {
                let mut message = format!("unknown key `{k}` {place}");
                match closest(k, allowed) {
                    Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                    None => message.push_str(&format!("; expected one of: {}", allowed.join(", "))),
                }
                self.error(&key.span(), message);
            }
        }
    }

    /// A count of approvals: a whole number of at least 1.
    fn count(&mut self, v: &Value<'_>, what: &str) -> Option<u32> {
        match integer(v) {
            Some(n) if n < 1 => {
                self.error(&v.span(), format!("{what} must be at least 1, not {n}"));
                None
            }
            Some(n) if n > i64::from(MAX_COUNT) => {
                self.error(
                    &v.span(),
                    format!("{what} is {n}; counts above {MAX_COUNT} are certainly a mistake"),
                );
                None
            }
            Some(n) => u32::try_from(n).ok(),
            None => {
                self.error(
                    &v.span(),
                    format!("{what} must be a whole number, not {}", describe(v)),
                );
                None
            }
        }
    }

    fn group(&mut self, name: &str, v: &Value<'_>) -> Option<Group> {
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!("group `{name}` must be a list of GitHub logins and \"@org/team\" names, not {}", describe(v)),
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                &v.span(),
                format!("group `{name}` is empty; list at least one login or \"@org/team\""),
            );
            // Keep the (empty) group so references to it are not also reported as undefined.
            return Some(Group::default());
        }
        let mut members = Vec::new();
        for item in items.iter() {
            let Some(s) = item.get_ref().as_str() else {
                self.error(
                    &item.span(),
                    format!(
                        "members of group `{name}` must be strings, not {}",
                        describe(item)
                    ),
                );
                continue;
            };
            match parse_member(s) {
                Ok(m) => {
                    if let Member::Team(team) = &m {
                        let at = self.index.diagnostic(&item.span(), "");
                        self.team_locations
                            .entry(team.key())
                            .or_insert((at.line, at.column));
                    }
                    members.push(m)
                }
                Err(why) => self.error(&item.span(), format!("group `{name}`: {why}")),
            }
        }
        Some(Group { members })
    }

    fn require(&mut self, v: &Value<'_>, place: &str) -> Vec<RawRequire> {
        let Some(t) = self.table(v, &format!("`require` {place}")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in t.iter() {
            let group = key.get_ref().to_string();
            if let Some(count) =
                self.count(value, &format!("the count for group `{group}` {place}"))
            {
                out.push(RawRequire {
                    group,
                    span: key.span(),
                    count,
                });
            }
        }
        out
    }

    fn level(&mut self, name: &str, span: Span, v: &Value<'_>) -> RawLevel {
        let place = format!("in [levels.{name}]");
        let mut level = RawLevel {
            name: name.to_string(),
            span,
            approvals: None,
            require: Vec::new(),
        };
        let Some(t) = self.table(v, &format!("level `{name}`")) else {
            return level;
        };
        self.unknown_keys(t, LEVEL_KEYS, &place);
        match t.get("approvals") {
            None => self.error(
                &level.span,
                format!("level `{name}` is missing `approvals`, the number of distinct eligible approvers it needs"),
            ),
            Some(a) => level.approvals = self.count(a, &format!("`approvals` {place}")),
        }
        if let Some(r) = t.get("require") {
            level.require = self.require(r, &place);
        }
        level
    }

    fn path(&mut self, number: usize, v: &Value<'_>) -> Option<RawPath> {
        let t = self.table(v, &format!("[[paths]] entry {number}"))?;
        let name = match t.get("name") {
            Some(n) => self.string(n, &format!("`name` of [[paths]] entry {number}")),
            None => None,
        };
        let label = match &name {
            Some(n) => format!("[[paths]] entry {number} (\"{n}\")"),
            None => format!("[[paths]] entry {number}"),
        };
        self.unknown_keys(t, PATH_KEYS, &format!("in {label}"));
        let patterns = match t.get("match") {
            None => {
                self.error(
                    &v.span(),
                    format!("{label} is missing `match`, the list of path globs it applies to"),
                );
                Vec::new()
            }
            Some(m) => {
                let p = self.globs(m, "match", &label);
                if p.is_empty() && m.get_ref().as_array().is_some_and(|a| a.is_empty()) {
                    self.error(
                        &m.span(),
                        format!("`match` in {label} is empty; give at least one glob"),
                    );
                }
                p
            }
        };
        let except = match t.get("except") {
            Some(e) => self.globs(e, "except", &label),
            None => Vec::new(),
        };
        let level = match t.get("level") {
            Some(l) => self
                .string(l, &format!("`level` in {label}"))
                .map(|s| (s, l.span())),
            None => None,
        };
        let require = match t.get("require") {
            Some(r) => self.require(r, &format!("in {label}")),
            None => Vec::new(),
        };
        if t.get("level").is_none() && t.get("require").is_none() {
            self.error(
                &v.span(),
                format!(
                    "{label} needs a `level`, a `require`, or both; otherwise it changes nothing"
                ),
            );
        } else if t.get("level").is_none()
            && t.get("require")
                .is_some_and(|r| r.get_ref().as_table().is_some_and(|t| t.is_empty()))
        {
            self.error(
                &v.span(),
                format!(
                    "{label} has an empty `require` and no `level`; otherwise it changes nothing"
                ),
            );
        }
        Some(RawPath {
            label,
            name,
            patterns,
            except,
            level,
            require,
        })
    }

    /// A list of globs; each must compile, and each bad one is reported where it stands.
    fn globs(&mut self, v: &Value<'_>, key: &str, label: &str) -> Vec<String> {
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!(
                    "`{key}` in {label} must be a list of globs, not {}",
                    describe(v)
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let Some(s) = item.get_ref().as_str() else {
                self.error(
                    &item.span(),
                    format!("globs in `{key}` must be strings, not {}", describe(item)),
                );
                continue;
            };
            if s.is_empty() {
                self.error(&item.span(), format!("empty glob in `{key}` of {label}"));
            } else if s.len() > MAX_GLOB_LEN {
                self.error(
                    &item.span(),
                    format!(
                        "glob in `{key}` of {label} is {} bytes long; the limit is {MAX_GLOB_LEN}",
                        s.len()
                    ),
                );
            } else if s.starts_with('/') {
                self.error(
                    &item.span(),
                    format!("glob `{s}` starts with `/`, but paths are matched relative to the repository root; drop the leading `/`"),
                );
            } else {
                match Glob::parse(s) {
                    Ok(_) => out.push(s.to_string()),
                    Err(e) => self.error(
                        &item.span(),
                        format!("invalid glob `{s}` in `{key}` of {label}: {e}"),
                    ),
                }
            }
        }
        out
    }

    /// Cross-checks names and counts, then builds the policy if nothing was wrong.
    fn finish(&mut self, raw: RawPolicy) -> Option<Policy> {
        let level_names: BTreeSet<&str> = raw.levels.iter().map(|l| l.name.as_str()).collect();
        let defined_levels = list_names(level_names.iter().copied(), "levels", "[levels.NAME]");
        let defined_groups =
            list_names(raw.groups.keys().map(String::as_str), "groups", "[groups]");

        if let Some((name, span)) = &raw.default_level {
            if !level_names.contains(name.as_str()) {
                self.error(span, format!("`default_level` names level `{name}`, which is not defined; {defined_levels}"));
            }
        }
        if let Some((name, span)) = &raw.policy_owners {
            if !raw.groups.contains_key(name) {
                self.error(span, format!("`policy_owners` names group `{name}`, which is not defined; {defined_groups}"));
            }
        }
        for level in &raw.levels {
            self.check_requires(
                &level.require,
                &raw,
                &format!("level `{}`", level.name),
                &defined_groups,
            );
        }
        let mut pattern_count = 0usize;
        for path in &raw.paths {
            pattern_count += path.patterns.len() + path.except.len();
            if let Some((name, span)) = &path.level {
                if !level_names.contains(name.as_str()) {
                    self.error(
                        span,
                        format!(
                            "{} names level `{name}`, which is not defined; {defined_levels}",
                            path.label
                        ),
                    );
                }
            }
            self.check_requires(&path.require, &raw, &path.label, &defined_groups);
        }
        for (group, span) in &raw.test_groups {
            if !raw.groups.contains_key(group) {
                self.error(
                    span,
                    format!("`expect_missing` names group `{group}`, which is not defined; {defined_groups}"),
                );
            }
        }
        if pattern_count > MAX_PATTERNS {
            self.error(
                &(0..0),
                format!(
                    "the policy has {pattern_count} globs; policies are limited to {MAX_PATTERNS}"
                ),
            );
        }
        if !self.errors.is_empty() {
            return None;
        }

        let levels: BTreeMap<String, Level> = raw
            .levels
            .into_iter()
            .map(|l| {
                let level = Level {
                    approvals: l.approvals.unwrap_or(1),
                    require: merge_requires(&l.require),
                };
                (l.name, level)
            })
            .collect();
        let paths: Vec<PathRule> = raw
            .paths
            .into_iter()
            .map(|p| PathRule {
                name: p.name,
                require: merge_requires(&p.require),
                patterns: p.patterns,
                except: p.except,
                level: p.level.map(|(name, _)| name),
            })
            .collect();
        let globs: Vec<(Vec<String>, Vec<String>)> = paths
            .iter()
            .map(|p| (p.patterns.clone(), p.except.clone()))
            .collect();
        let matcher = match PathMatcher::new(&globs) {
            Ok(m) => m,
            Err(e) => {
                self.error(
                    &(0..0),
                    format!(
                        "the policy's globs are too complex to match together: {e}; \
                         write globs that share their wildcard shapes, or fewer globs"
                    ),
                );
                return None;
            }
        };
        Some(Policy {
            default_level: raw.default_level?.0,
            policy_owners: raw.policy_owners?.0,
            settings: raw.settings,
            groups: raw
                .groups
                .into_iter()
                .map(|(name, (_, g))| (name, g))
                .collect(),
            levels,
            paths,
            matcher,
            team_locations: std::mem::take(&mut self.team_locations),
            tests: raw.tests,
        })
    }

    fn check_requires(
        &mut self,
        requires: &[RawRequire],
        raw: &RawPolicy,
        owner: &str,
        defined: &str,
    ) {
        for r in requires {
            let Some((_, group)) = raw.groups.get(&r.group) else {
                self.error(&r.span, format!("{owner} requires approvals from group `{}`, which is not defined; {defined}", r.group));
                continue;
            };
            if group.teams().next().is_none() && !raw.doubtful_groups.contains(&r.group) {
                let people: BTreeSet<String> =
                    group.users().map(|u| u.to_ascii_lowercase()).collect();
                if (r.count as usize) > people.len() {
                    self.error(
                        &r.span,
                        format!(
                            "{owner} requires {} approvals from group `{}`, which can never happen: the group lists only {} {} and no team",
                            r.count,
                            r.group,
                            people.len(),
                            if people.len() == 1 { "person" } else { "people" }
                        ),
                    );
                }
            }
        }
    }
}

/// The same group named twice in one `require` cannot happen (TOML rejects duplicate keys),
/// so this only turns the list into a map.
fn merge_requires(requires: &[RawRequire]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for r in requires {
        let slot = out.entry(r.group.clone()).or_insert(0);
        *slot = (*slot).max(r.count);
    }
    out
}

fn list_names<'a>(names: impl Iterator<Item = &'a str>, kind: &str, how: &str) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        format!("no {kind} are defined; add them under {how}")
    } else {
        format!("defined {kind}: {}", names.join(", "))
    }
}

/// Reads a group member: a GitHub login, or `@org/team-slug`.
fn parse_member(s: &str) -> Result<Member, String> {
    if s.trim().is_empty() {
        return Err("empty member; write a GitHub login or \"@org/team-slug\"".into());
    }
    if let Some(rest) = s.strip_prefix('@') {
        let Some((org, slug)) = rest.split_once('/') else {
            return Err(format!(
                "`{s}` names an organisation but no team; write \"@{rest}/team-slug\""
            ));
        };
        if org.is_empty() {
            return Err(format!("`{s}` has no organisation; write \"@org/{slug}\""));
        }
        if slug.is_empty() {
            return Err(format!(
                "`{s}` names an organisation but no team; write \"@{org}/team-slug\""
            ));
        }
        if !is_name(org) || !is_name(slug) {
            return Err(format!(
                "`{s}` is not a valid \"@org/team-slug\" (letters, digits, `-`, `_` and `.` only)"
            ));
        }
        return Ok(Member::Team(TeamRef {
            org: org.to_string(),
            slug: slug.to_string(),
        }));
    }
    if crate::policy::is_bot(s) {
        return Err(format!(
            "`{s}` is a bot; bots never count as approvers, so a group cannot list one"
        ));
    }
    if !is_name(s) {
        return Err(format!(
            "`{s}` is not a GitHub login (letters, digits and `-`); teams are written \"@org/team-slug\""
        ));
    }
    Ok(Member::User(s.to_string()))
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn integer(v: &Value<'_>) -> Option<i64> {
    let i = v.get_ref().as_integer()?;
    i64::from_str_radix(i.as_str(), i.radix()).ok()
}

/// Names a TOML value's type the way a policy author would.
pub(super) fn describe(v: &Value<'_>) -> String {
    match v.get_ref() {
        DeValue::String(s) => format!("the string \"{s}\""),
        DeValue::Integer(i) => format!("the number {}", i.as_str()),
        DeValue::Float(f) => format!("the number {}", f.as_str()),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(d) => format!("the date {d}"),
        DeValue::Array(_) => "a list".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// The allowed key nearest to a misspelt one, if it is close enough to be a likely typo.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
