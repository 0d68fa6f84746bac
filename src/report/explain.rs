//! Renders a [`Verdict`] as the explanation a blocked engineer reads: each requirement,
//! the files behind it, who counted, who was ignored and why, and who could unblock it.

use std::fmt::Write;

use crate::evaluate::{Ignored, Requirement, Source, Verdict, describe_needs};

/// GitHub rejects a check run's `summary` or `text` longer than this many **bytes** of UTF-8
/// (its documentation says characters; the API answers 422 "exceeds a maximum bytesize").
pub const MAX_CHECK_OUTPUT_BYTES: usize = 65_535;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Text,
    Markdown,
}

impl Style {
    fn code(self, s: &str) -> String {
        match self {
            Style::Text => s.to_string(),
            Style::Markdown => format!("`{}`", s.replace('`', "'")),
        }
    }

    /// A name from the policy (level, entry, group).
    fn name(self, s: &str) -> String {
        match self {
            Style::Text => format!("\"{s}\""),
            Style::Markdown => self.code(s),
        }
    }

    fn heading(self, out: &mut String, title: &str) {
        match self {
            Style::Text => {
                let _ = writeln!(out, "\n{title}:");
            }
            Style::Markdown => {
                let _ = writeln!(out, "\n### {title}\n");
            }
        }
    }

    /// A list item at `depth` (0 = top level).
    fn item(self, out: &mut String, depth: usize, line: &str) {
        let _ = match self {
            Style::Text => writeln!(out, "{}{line}", "  ".repeat(depth + 1)),
            Style::Markdown => writeln!(out, "{}- {line}", "  ".repeat(depth)),
        };
    }
}

/// The terminal explanation printed by `reviewgate evaluate`.
pub fn text(verdict: &Verdict) -> String {
    render(verdict, Style::Text)
}

/// The check run's Markdown summary, cut to GitHub's limit on a character boundary.
pub fn markdown(verdict: &Verdict) -> String {
    let full = render(verdict, Style::Markdown);
    truncate(full, MAX_CHECK_OUTPUT_BYTES)
}

/// Cuts `s` to at most `max` bytes of UTF-8, on a character boundary, saying so at the end.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    const NOTE: &str = "\n\n… (cut to fit GitHub's size limit; run `reviewgate evaluate` for the whole explanation)";
    let mut keep = max.saturating_sub(NOTE.len());
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    s.truncate(keep);
    s.push_str(NOTE);
    s
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn render(v: &Verdict, style: Style) -> String {
    let mut out = String::new();
    match style {
        Style::Text => {
            let status = if v.approved {
                "APPROVED"
            } else {
                "NOT APPROVED"
            };
            let _ = writeln!(out, "{status}: {}", v.title);
        }
        Style::Markdown => {
            let status = if v.approved {
                "✅ **Approved**"
            } else {
                "⛔ **Not approved**"
            };
            let _ = writeln!(out, "{status}: {}", v.title);
        }
    }
    let approvers: Vec<String> = v
        .reviewers
        .iter()
        .filter(|r| r.counted)
        .map(|r| r.login.clone())
        .collect();
    let _ = writeln!(
        out,
        "{}Head {}; {} eligible approval{}{}; needs {}.",
        if style == Style::Markdown { "\n" } else { "" },
        style.code(short(&v.head_sha)),
        v.approvals,
        if v.approvals == 1 { "" } else { "s" },
        if approvers.is_empty() {
            String::new()
        } else {
            format!(" ({})", approvers.join(", "))
        },
        needs_line(v),
    );

    if !v.blocked_by.is_empty() {
        style.heading(&mut out, "Blocking");
        for b in &v.blocked_by {
            style.item(
                &mut out,
                0,
                &format!(
                    "{} requested changes (on {}); this blocks until {} approves or the review is dismissed",
                    b.login,
                    style.code(short(&b.commit)),
                    b.login
                ),
            );
        }
    }

    style.heading(&mut out, "Requirements");
    // Unmet requirements first: they are what the reader came for.
    let mut order: Vec<&Requirement> = v.requirements.iter().collect();
    order.sort_by_key(|r| r.satisfied);
    for r in order {
        requirement(&mut out, style, r);
    }

    if !v.reviewers.is_empty() {
        style.heading(&mut out, "Reviewers");
        for r in &v.reviewers {
            let mut line = format!(
                "{}: {} on {}",
                r.login,
                r.state.as_str(),
                style.code(short(&r.commit))
            );
            if r.counted && r.same_changes {
                line.push_str(&format!(
                    " — counts (approved on {}, same changes)",
                    short(&r.commit)
                ));
            } else if r.counted {
                line.push_str(" — counts");
            } else if r.ignored == Some(Ignored::Stale) && r.content_changed {
                line.push_str(&format!(
                    " — ignored: stale (content changed since approved); {}",
                    Ignored::Stale.explain()
                ));
            } else if let Some(why) = r.ignored {
                line.push_str(&format!(" — ignored: {} ({})", why.as_str(), why.explain()));
            }
            if !r.groups.is_empty() {
                line.push_str(&format!(" (groups: {})", r.groups.join(", ")));
            }
            style.item(&mut out, 0, &line);
        }
    }

    if !v.notes.is_empty() {
        style.heading(&mut out, "Notes");
        for n in &v.notes {
            style.item(&mut out, 0, n);
        }
    }
    out
}

fn needs_line(v: &Verdict) -> String {
    let mut parts = vec![format!(
        "{} approval{}",
        v.needs.approvals,
        if v.needs.approvals == 1 { "" } else { "s" }
    )];
    for (g, n) in &v.needs.groups {
        parts.push(format!("{n} from {g}"));
    }
    parts.join(", ")
}

fn requirement(out: &mut String, style: Style, r: &Requirement) {
    let mark = match (style, r.satisfied) {
        (Style::Text, true) => "[x]",
        (Style::Text, false) => "[ ]",
        (Style::Markdown, true) => "✅",
        (Style::Markdown, false) => "❌",
    };
    if let Source::UnlinkedCommit { .. } = &r.source {
        style.item(out, 0, &format!("{mark} {}", r.reason));
        style.item(
            out,
            1,
            "no approval lifts this: nobody can tell who wrote the commit, so nobody can be shown not to have; \
             re-commit it under an e-mail address linked to a GitHub account, or a lead sets `allow_unlinked_commits = true`",
        );
        return;
    }
    let what = match &r.source {
        Source::DefaultLevel { level } => format!("default level {}", style.name(level)),
        Source::Path {
            name,
            level: Some(level),
            ..
        } => {
            format!(
                "path rule {} (level {})",
                style.name(name),
                style.name(level)
            )
        }
        Source::Path {
            name, level: None, ..
        } => format!("path rule {}", style.name(name)),
        Source::PolicyOwners { group, .. } => {
            format!("policy change (owners: {})", style.name(group))
        }
        Source::UnlinkedCommit { .. } => r.reason.clone(),
    };
    let what = match &r.origin {
        Some(origin) => format!("{what} from {}", style.code(origin)),
        None => what,
    };
    style.item(out, 0, &format!("{mark} {what}: {}", describe_needs(r)));
    style.item(out, 1, &format!("applies because {}", r.reason));
    for f in &r.files {
        style.item(out, 2, &style.code(f));
    }
    if r.matched_files > r.files.len() {
        style.item(
            out,
            2,
            &format!("… and {} more", r.matched_files - r.files.len()),
        );
    }
    if let Some(a) = &r.approvals {
        let mut line = format!("approvals: {} of {}", a.have, a.needed);
        if !a.approvers.is_empty() {
            line.push_str(&format!(" ({})", a.approvers.join(", ")));
        }
        if a.have < a.needed {
            line.push_str(" — any eligible reviewer can help");
        }
        style.item(out, 1, &line);
    }
    for g in &r.groups {
        let mut line = format!("{}: {} of {}", g.group, g.have, g.needed);
        if !g.approvers.is_empty() {
            line.push_str(&format!(" ({})", g.approvers.join(", ")));
        }
        style.item(out, 1, &line);
        if !g.satisfied {
            if !g.not_in_group.is_empty() {
                style.item(
                    out,
                    2,
                    &format!(
                        "approved but not in {}: {}",
                        g.group,
                        g.not_in_group.join(", ")
                    ),
                );
            }
            let mut who = Vec::new();
            if !g.could_approve.is_empty() {
                who.push(g.could_approve.join(", "));
            }
            if !g.teams.is_empty() {
                who.push(format!("members of {}", g.teams.join(", ")));
            }
            if who.is_empty() {
                style.item(out, 2, "no one who could approve is known in this group");
            } else {
                style.item(out, 2, &format!("could unblock: {}", who.join("; ")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_bytes_and_respects_character_boundaries() {
        // 2-byte and 3-byte characters: 40,000 of them are well under 65,535 characters but
        // over 65,535 bytes, which GitHub refuses.
        for unit in ["é", "€", "🔒"] {
            let s = unit.repeat(40_000);
            let cut = truncate(s, MAX_CHECK_OUTPUT_BYTES);
            assert!(
                cut.len() <= MAX_CHECK_OUTPUT_BYTES,
                "{unit}: {} bytes",
                cut.len()
            );
            assert!(
                cut.len() > MAX_CHECK_OUTPUT_BYTES - 200,
                "{unit}: kept as much as fits"
            );
            assert!(cut.ends_with("whole explanation)"));
        }
        let exact = "a".repeat(MAX_CHECK_OUTPUT_BYTES);
        assert_eq!(truncate(exact.clone(), MAX_CHECK_OUTPUT_BYTES), exact);
        assert_eq!(truncate("short".into(), 10), "short");
    }
}
