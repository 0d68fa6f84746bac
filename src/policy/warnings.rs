//! Warnings: things a valid policy says that are almost certainly not what its author meant.
//! `reviewgate check` prints them (`file:line:column: warning: message`) and still exits 0,
//! unless `--deny-warnings`.
//!
//! Computed from the loaded [`Policy`] (what the entries mean) and a second, cheap parse of
//! the text (where they are written), so that loading itself stays about errors.

use std::collections::BTreeSet;

use toml::de::DeTable;

use super::Policy;
use super::diagnostics::{Diagnostic, LineIndex};
use super::load::{Value, integer};

/// Every warning for `policy`, loaded from `text`, in file order.
pub fn warnings(text: &str, policy: &Policy) -> Vec<Diagnostic> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Vec::new();
    }
    let index = LineIndex::new(text);
    let doc = doc.get_ref();
    let mut out = Vec::new();
    paths(doc, policy, &index, &mut out);
    levels(doc, policy, &index, &mut out);
    unused_groups(doc, policy, &index, &mut out);
    self_approval(doc, policy, &index, &mut out);
    out.sort_by_key(|d| (d.line, d.column));
    out
}

fn at(index: &LineIndex<'_>, v: &Value<'_>, message: String) -> Diagnostic {
    index.diagnostic(&v.span(), message)
}

/// `[[paths]]` entries that change nothing, counts above their level's approvals, and globs
/// that can never match a path GitHub reports.
fn paths(doc: &DeTable<'_>, policy: &Policy, index: &LineIndex<'_>, out: &mut Vec<Diagnostic>) {
    let Some(entries) = doc.get("paths").and_then(|v| v.get_ref().as_array()) else {
        return;
    };
    let Some(default) = policy.levels.get(&policy.default_level) else {
        return;
    };
    for (number, (entry, rule)) in entries.iter().zip(&policy.paths).enumerate() {
        let label = match &rule.name {
            Some(n) => format!("[[paths]] entry {} (\"{n}\")", number + 1),
            None => format!("[[paths]] entry {}", number + 1),
        };
        let level = rule.level.as_ref().and_then(|l| policy.levels.get(l));
        let no_more = level.is_none_or(|l| {
            l.approvals <= default.approvals
                && l.require
                    .iter()
                    .all(|(g, n)| default.require.get(g).is_some_and(|d| d >= n))
        });
        if rule.require.is_empty() && no_more {
            let line = index.position(entry.span().start).0;
            out.push(Diagnostic {
                line,
                column: 1,
                message: format!(
                    "warning: {label} changes nothing: it has no `require` of its own and its level `{}` needs no more than the default level `{}`",
                    rule.level.as_deref().unwrap_or("?"),
                    policy.default_level
                ),
            });
        }
        let Some(table) = entry.get_ref().as_table() else {
            continue;
        };
        let approvals = level.unwrap_or(default).approvals;
        if let Some(require) = table.get("require").and_then(|r| r.get_ref().as_table()) {
            for (group, count) in require.iter() {
                if let Some(n) = integer(count).filter(|n| *n > i64::from(approvals)) {
                    out.push(at(index, count, format!(
                        "warning: {label} requires {n} approvals from `{}`, more than the {approvals} its level asks for in all: the pull request needs {n} approvals",
                        group.get_ref()
                    )));
                }
            }
        }
        for key in ["match", "except"] {
            let Some(globs) = table.get(key).and_then(|g| g.get_ref().as_array()) else {
                continue;
            };
            for glob in globs {
                if let Some(s) = glob.get_ref().as_str().filter(|s| never_reported(s)) {
                    out.push(at(index, glob, format!(
                        "warning: glob `{s}` in `{key}` of {label} can never match: GitHub reports paths without `.` or `..` segments (write `src/**`, not `./src/**`)"
                    )));
                }
            }
        }
    }
}

/// Whether a glob has a `.` or `..` path segment: GitHub never reports such a path.
fn never_reported(glob: &str) -> bool {
    glob.split('/')
        .any(|segment| segment == "." || segment == "..")
}

/// Group counts in `[levels.NAME]` above that level's `approvals`.
fn levels(doc: &DeTable<'_>, policy: &Policy, index: &LineIndex<'_>, out: &mut Vec<Diagnostic>) {
    let Some(levels) = doc.get("levels").and_then(|v| v.get_ref().as_table()) else {
        return;
    };
    for (name, value) in levels.iter() {
        let Some(level) = policy.levels.get(name.get_ref().as_ref()) else {
            continue;
        };
        let require = value
            .get_ref()
            .as_table()
            .and_then(|t| t.get("require"))
            .and_then(|r| r.get_ref().as_table());
        for (group, count) in require.into_iter().flat_map(|r| r.iter()) {
            if let Some(n) = integer(count).filter(|n| *n > i64::from(level.approvals)) {
                out.push(at(index, count, format!(
                    "warning: level `{}` requires {n} approvals from `{}` but `approvals = {}`: the level in effect needs {n} approvals",
                    name.get_ref(),
                    group.get_ref(),
                    level.approvals
                )));
            }
        }
    }
}

/// Groups no level, `[[paths]]` entry or `policy_owners` names.
fn unused_groups(
    doc: &DeTable<'_>,
    policy: &Policy,
    index: &LineIndex<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(groups) = doc.get("groups").and_then(|v| v.get_ref().as_table()) else {
        return;
    };
    let used: BTreeSet<&str> = policy
        .levels
        .values()
        .flat_map(|l| l.require.keys())
        .chain(policy.paths.iter().flat_map(|p| p.require.keys()))
        .map(String::as_str)
        .chain([policy.policy_owners.as_str()])
        .collect();
    for (name, _) in groups.iter() {
        if !used.contains(name.get_ref().as_ref()) {
            out.push(index.diagnostic(
                &name.span(),
                format!(
                    "warning: group `{}` is never used: no level, [[paths]] entry or `policy_owners` names it",
                    name.get_ref()
                ),
            ));
        }
    }
}

/// `contributors_can_approve = true` with `dismiss_stale_approvals = false`: an author can
/// approve, then push their own code, and the approval still counts.
fn self_approval(
    doc: &DeTable<'_>,
    policy: &Policy,
    index: &LineIndex<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let s = policy.settings;
    if !s.contributors_can_approve || s.dismiss_stale_approvals {
        return;
    }
    let Some(value) = doc
        .get("settings")
        .and_then(|v| v.get_ref().as_table())
        .and_then(|t| t.get("contributors_can_approve"))
    else {
        return;
    };
    out.push(at(
        index,
        value,
        "warning: `contributors_can_approve = true` with `dismiss_stale_approvals = false` lets an author approve their own code: \
         a reviewer can approve, then push commits of their own, and the approval still counts"
            .to_string(),
    ));
}
