//! The policy's globs: parsed, checked against what docs/policy.md promises in words, and
//! cut into the pieces the [`super::matcher`] indexes.
//!
//! The syntax is globset's (which the policy language has always documented), but the meaning
//! is ours, because globset's is not what the docs say: it compiles to a byte-oriented regex,
//! so `?` and `[...]` match one *byte* (`secrets/?.key` misses `secrets/é.key`, `[éè]` never
//! matches), a negated class matches `/`, an empty alternative is dropped unless asked for, and
//! `**` next to a brace silently becomes `*`. None of its options changes the byte semantics.
//! So this module parses the syntax itself (a page of code) and hands only small regular
//! expressions over Unicode scalar values to `regex-automata`, which keeps matching linear in
//! the path's length.
//!
//! What a glob means, as the docs say it:
//! - a character matches itself; `\c` is a literal `c`;
//! - `?` matches one character (a Unicode scalar value), never `/`; `*` any number of them;
//! - `[...]` matches one character in the class (`[!...]`/`[^...]`: not in it), never `/`;
//! - `**` as a whole path component matches zero or more directories (`a/**` one or more
//!   components below `a`); `**` inside a component is `*`;
//! - `{a,b,}` matches any one alternative, the empty one included.
//!
//! And what would make a glob silently protect less than it says is an error here: a glob that
//! cannot match any file path (it, or one of its alternatives, ends with `/`, starts with `/`,
//! has an empty component `//` or is empty), a class that lists `/`, and a `**` next to `{`,
//! `,` or `}` that is not a whole component in every alternative.

use std::fmt;

/// A glob with at most this many alternatives has them written out, one [`Part`] each: that
/// lets the index see each one's literal prefix and suffix (`{api,web}/**`), and it is how a
/// `**` next to a brace (`{src/**,lib}/*.rs`) is matched. Past the cap a glob stays one part
/// (its braces become a regex alternation), unless such a `**` needs writing out: then it is
/// rejected, as documented.
const MAX_EXPANSIONS: usize = 16;
/// Deepest nesting of `{...}` accepted: every later pass recurses on it, and no real glob
/// nests more than two or three deep.
const MAX_DEPTH: usize = 32;

/// Why a glob was rejected; shown after `invalid glob `...` in `match` of ...: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobError(String);

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, GlobError> {
    Err(GlobError(message.into()))
}

/// One element of a parsed glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Lit(char),
    /// `?`
    Any,
    /// `[...]`: the listed ranges (never including `/` unless negated), and whether negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A run of `*` before it is known what it means.
    Stars(usize),
    /// `*`, or a `**` that is not a whole component.
    Star,
    /// `**` as a whole path component.
    Globstar,
    Alt(Box<Alt>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Alt {
    branches: Vec<Vec<Node>>,
    /// What can come first and last in some alternative, and whether one can be empty.
    first: Edge,
    last: Edge,
    nullable: bool,
}

/// What can stand next to a position: the start or end of the glob, a literal `/`, or
/// anything else. A bit set.
type Edge = u8;
const BOUNDARY: Edge = 1;
const SLASH: Edge = 2;
const OTHER: Edge = 4;

/// A validated glob, cut for the index: one [`Part`] per alternative when its braces were
/// expanded, otherwise one part holding the braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    pub(crate) parts: Vec<Part>,
}

/// How a path can match one alternative of a glob: a literal prefix, a literal suffix of its
/// last component, and a middle matched by a regular expression.
///
/// `any_dir` false: the path starts with `prefix`. `any_dir` true (the glob started with
/// `**/`): the path has a component boundary (its start, or just after a `/`) followed by
/// `prefix`. Either way the path then ends with `suffix`, and what lies between must match
/// `middle`, a regular expression over Unicode scalar values with `.` matching any of them,
/// to be anchored at both ends (`None`: what lies between must be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) any_dir: bool,
    pub(crate) prefix: String,
    pub(crate) suffix: String,
    pub(crate) middle: Option<String>,
}

impl Glob {
    /// Parses and checks a glob; the error says what is wrong in a policy author's words.
    pub(crate) fn parse(pattern: &str) -> Result<Glob, GlobError> {
        let mut seq = parse(pattern)?;
        if let Some(dir) = pattern.strip_suffix('/').filter(|d| !d.is_empty()) {
            let meant = if dir.ends_with("**") {
                dir.to_string()
            } else {
                format!("{dir}/**")
            };
            return err(format!(
                "it ends with `/`, but a file path never does, so it can never match; \
                 did you mean `{meant}`?"
            ));
        }
        summarise(&mut seq);
        if seq_first(&seq).1 {
            return err(
                "it can only match an empty path; every alternative must name at least one file",
            );
        }
        let mut needs_expansion = false;
        resolve(&mut seq, BOUNDARY, BOUNDARY, false, &mut needs_expansion)?;
        let count = expansions(&seq);
        let sequences = if count <= MAX_EXPANSIONS {
            let mut out = Vec::new();
            expand(&seq, &mut vec![Vec::new()], &mut out);
            out
        } else if needs_expansion {
            return err(format!(
                "a `**` next to `{{`, `,` or `}}` is matched by writing out the glob's \
                 alternatives, and this one has more than {MAX_EXPANSIONS}; split it into \
                 several globs"
            ));
        } else {
            vec![seq]
        };
        let mut parts: Vec<Part> = Vec::with_capacity(sequences.len());
        for s in &sequences {
            let part = decompose(s);
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        Ok(Glob { parts })
    }
}

/// The syntax: globset's, with `\` escaping outside classes.
fn parse(pattern: &str) -> Result<Vec<Node>, GlobError> {
    struct Frame {
        outer: Vec<Node>,
        branches: Vec<Vec<Node>>,
    }
    let mut frames: Vec<Frame> = Vec::new();
    let mut cur: Vec<Node> = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '?' => cur.push(Node::Any),
            '*' => {
                let mut run = 1;
                while chars.next_if_eq(&'*').is_some() {
                    run += 1;
                }
                cur.push(Node::Stars(run));
            }
            '[' => cur.push(parse_class(&mut chars)?),
            '{' => {
                if frames.len() >= MAX_DEPTH {
                    return err(format!("`{{...}}` nested more than {MAX_DEPTH} deep"));
                }
                frames.push(Frame {
                    outer: std::mem::take(&mut cur),
                    branches: Vec::new(),
                });
            }
            ',' => match frames.last_mut() {
                Some(frame) => frame.branches.push(std::mem::take(&mut cur)),
                None => cur.push(Node::Lit(',')),
            },
            '}' => {
                let Some(mut frame) = frames.pop() else {
                    return err(
                        "unopened alternate group; missing '{' (write `\\}` for a literal `}`)",
                    );
                };
                frame.branches.push(std::mem::take(&mut cur));
                cur = frame.outer;
                cur.push(Node::Alt(Box::new(Alt {
                    branches: frame.branches,
                    first: 0,
                    last: 0,
                    nullable: false,
                })));
            }
            '\\' => match chars.next() {
                Some(escaped) => cur.push(Node::Lit(escaped)),
                None => return err("dangling '\\'"),
            },
            c => cur.push(Node::Lit(c)),
        }
    }
    if !frames.is_empty() {
        return err("unclosed alternate group; missing '}' (write `\\{` for a literal `{`)");
    }
    Ok(cur)
}

/// `[...]` after its `[`, as globset reads it: `!` or `^` first negates, `]` first and `-`
/// first or last are literal, `\` is an ordinary character.
fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Node, GlobError> {
    let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    let mut in_range = false;
    loop {
        let Some(c) = chars.next() else {
            return err("unclosed character class; missing ']'");
        };
        match c {
            ']' if !first => break,
            '-' if !first && !in_range => in_range = true,
            c => match (in_range, ranges.last_mut()) {
                (true, Some(last)) => {
                    if c < last.0 {
                        return err(format!("invalid range; '{}' > '{c}'", last.0));
                    }
                    last.1 = c;
                    in_range = false;
                }
                _ => ranges.push((c, c)),
            },
        }
        first = false;
    }
    if in_range {
        ranges.push(('-', '-'));
    }
    let covers_slash = ranges.iter().any(|&(lo, hi)| lo <= '/' && '/' <= hi);
    if !negated && covers_slash {
        return err(
            "the class `[...]` includes `/`, but a class matches one character within a path \
             component, never `/`; write the `/` outside the class",
        );
    }
    if negated && excludes_everything(&ranges) {
        return err("the class `[!...]` excludes every character, so it can never match");
    }
    Ok(Node::Class { negated, ranges })
}

/// Whether `ranges` together with `/` cover every Unicode scalar value.
fn excludes_everything(ranges: &[(char, char)]) -> bool {
    let mut all: Vec<(u32, u32)> = ranges
        .iter()
        .map(|&(lo, hi)| (lo as u32, hi as u32))
        .chain([(0x2F, 0x2F), (0xD800, 0xDFFF)])
        .collect();
    all.sort_unstable();
    let mut next = 0u32;
    for (lo, hi) in all {
        if lo > next {
            return false;
        }
        next = next.max(hi.saturating_add(1));
    }
    next > 0x10FFFF
}

/// Fills in each alternation's first/last/nullable summary, innermost first, so the checks in
/// [`resolve`] take linear time however deeply braces nest.
fn summarise(seq: &mut [Node]) {
    for node in seq.iter_mut() {
        if let Node::Alt(alt) = node {
            let mut first = 0;
            let mut last = 0;
            let mut nullable = false;
            for branch in &mut alt.branches {
                summarise(branch);
                let (f, n) = seq_first(branch);
                let (l, _) = seq_last(branch);
                first |= f;
                last |= l;
                nullable |= n;
            }
            alt.first = first;
            alt.last = last;
            alt.nullable = nullable;
        }
    }
}

/// What a node can start with, and whether it can stand for nothing at all.
fn node_first(node: &Node) -> (Edge, bool) {
    match node {
        Node::Lit('/') => (SLASH, false),
        Node::Alt(alt) => (alt.first, alt.nullable),
        _ => (OTHER, false),
    }
}

fn node_last(node: &Node) -> (Edge, bool) {
    match node {
        Node::Lit('/') => (SLASH, false),
        Node::Alt(alt) => (alt.last, alt.nullable),
        _ => (OTHER, false),
    }
}

fn seq_first(seq: &[Node]) -> (Edge, bool) {
    let mut edge = 0;
    for node in seq {
        let (f, nullable) = node_first(node);
        edge |= f;
        if !nullable {
            return (edge, false);
        }
    }
    (edge, true)
}

fn seq_last(seq: &[Node]) -> (Edge, bool) {
    let mut edge = 0;
    for node in seq.iter().rev() {
        let (l, nullable) = node_last(node);
        edge |= l;
        if !nullable {
            return (edge, false);
        }
    }
    (edge, true)
}

/// Decides what each run of stars means and rejects what can never match a file path, given
/// what can stand before (`before`) and after (`after`) this sequence in some alternative.
fn resolve(
    seq: &mut [Node],
    before: Edge,
    after: Edge,
    in_braces: bool,
    needs_expansion: &mut bool,
) -> Result<(), GlobError> {
    let n = seq.len();
    let mut prevs = Vec::with_capacity(n);
    let mut edge = before;
    for node in seq.iter() {
        prevs.push(edge);
        let (l, nullable) = node_last(node);
        edge = if nullable { edge | l } else { l };
    }
    let mut nexts = vec![0; n];
    let mut edge = after;
    for (k, node) in seq.iter().enumerate().rev() {
        nexts[k] = edge;
        let (f, nullable) = node_first(node);
        edge = if nullable { edge | f } else { f };
    }
    let alt_at: Vec<bool> = seq.iter().map(|n| matches!(n, Node::Alt(_))).collect();
    let is_alt = |k: usize| alt_at.get(k).copied().unwrap_or(false);
    for k in 0..n {
        let (prev, next) = (prevs[k], nexts[k]);
        let touches_brace =
            (in_braces && (k == 0 || k + 1 == n)) || (k > 0 && is_alt(k - 1)) || is_alt(k + 1);
        if let Node::Stars(run) = seq[k] {
            let whole = prev & OTHER == 0 && next & OTHER == 0;
            seq[k] = if run == 2 && whole {
                *needs_expansion |= touches_brace;
                Node::Globstar
            } else if touches_brace && run >= 2 {
                return err(
                    "a `**` next to `{`, `,` or `}` must be a whole path component in every \
                     alternative, as in `{src/**,lib}/*.rs`; write `*` to match within one \
                     component",
                );
            } else {
                Node::Star
            };
            continue;
        }
        match &mut seq[k] {
            Node::Lit('/') => {
                if prev & BOUNDARY != 0 {
                    return err(
                        "an alternative starts with `/`, but paths are matched relative to the \
                         repository root; drop the leading `/`",
                    );
                }
                if next & BOUNDARY != 0 {
                    return err(
                        "an alternative ends with `/`, but a file path never does, so it can \
                         never match; write `dir/**` for every file under `dir/`",
                    );
                }
                if next & SLASH != 0 {
                    return err(
                        "it has an empty path component (`//`), which no file path has, so it \
                         can never match",
                    );
                }
            }
            Node::Alt(alt) => {
                for branch in &mut alt.branches {
                    resolve(branch, prev, next, true, needs_expansion)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// How many alternatives writing out every brace would give (saturating).
fn expansions(seq: &[Node]) -> usize {
    seq.iter().fold(1usize, |acc, node| match node {
        Node::Alt(alt) => acc.saturating_mul(
            alt.branches
                .iter()
                .fold(0usize, |sum, b| sum.saturating_add(expansions(b))),
        ),
        _ => acc,
    })
}

/// Writes out every alternative: `a{b,c}d` gives `abd` and `acd`. `prefixes` holds the
/// alternatives built so far; the caller bounds their number with [`expansions`].
fn expand(seq: &[Node], prefixes: &mut Vec<Vec<Node>>, out: &mut Vec<Vec<Node>>) {
    let mut current = std::mem::take(prefixes);
    for node in seq {
        match node {
            Node::Alt(alt) => {
                let mut next = Vec::new();
                for branch in &alt.branches {
                    let mut these = current.clone();
                    let mut done = Vec::new();
                    expand(branch, &mut these, &mut done);
                    next.extend(done);
                }
                current = next;
            }
            other => current.iter_mut().for_each(|p| p.push(other.clone())),
        }
    }
    out.extend(current);
}

/// Cuts one alternative into literal prefix, literal suffix and middle; see [`Part`].
fn decompose(seq: &[Node]) -> Part {
    let lit = |k: usize| match seq.get(k) {
        Some(Node::Lit(c)) => Some(*c),
        _ => None,
    };
    let mut start = 0;
    let mut any_dir = false;
    // `**/` then a literal directory: index by that directory wherever it appears.
    if matches!(seq.first(), Some(Node::Globstar)) && lit(1) == Some('/') {
        let run = (2..seq.len()).take_while(|&k| lit(k).is_some()).count();
        let all_literal = 2 + run == seq.len();
        let has_dir = (2..2 + run).any(|k| lit(k) == Some('/'));
        if run > 0 && (all_literal || has_dir) {
            any_dir = true;
            start = 2;
        }
    }
    let run = (start..seq.len()).take_while(|&k| lit(k).is_some()).count();
    if start + run == seq.len() {
        return Part {
            any_dir,
            prefix: (start..seq.len()).filter_map(lit).collect(),
            suffix: String::new(),
            middle: None,
        };
    }
    // The prefix ends at the last `/` of the leading literals.
    let prefix_len = (start..start + run)
        .rev()
        .find(|&k| lit(k) == Some('/'))
        .map_or(0, |k| k + 1 - start);
    let prefix: String = (start..start + prefix_len).filter_map(lit).collect();
    // The suffix: the trailing literals after their last `/`.
    let mut suffix_start = seq.len();
    while suffix_start > start + prefix_len {
        match lit(suffix_start - 1) {
            Some(c) if c != '/' => suffix_start -= 1,
            _ => break,
        }
    }
    let suffix: String = (suffix_start..seq.len()).filter_map(lit).collect();
    let mut re = String::new();
    to_regex(&seq[start + prefix_len..suffix_start], &mut re);
    Part {
        any_dir,
        prefix,
        suffix,
        middle: Some(re),
    }
}

/// A regular expression over Unicode scalar values for a resolved sequence.
fn to_regex(seq: &[Node], re: &mut String) {
    let mut k = 0;
    while k < seq.len() {
        match &seq[k] {
            Node::Lit(c) => push_char(*c, re),
            Node::Any => re.push_str("[^/]"),
            Node::Star | Node::Stars(_) => re.push_str("[^/]*"),
            Node::Class { negated, ranges } => {
                re.push('[');
                if *negated {
                    re.push('^');
                }
                for &(lo, hi) in ranges {
                    push_char(lo, re);
                    if hi != lo {
                        re.push('-');
                        push_char(hi, re);
                    }
                }
                if *negated {
                    re.push('/');
                }
                re.push(']');
            }
            Node::Globstar => {
                if matches!(seq.get(k + 1), Some(Node::Lit('/'))) {
                    // Zero or more directories, the `/` after `**` included.
                    re.push_str("(?:.*/)?");
                    k += 1;
                } else {
                    // At the end: one or more components.
                    re.push_str(".+");
                }
            }
            Node::Alt(alt) => {
                re.push_str("(?:");
                for (i, branch) in alt.branches.iter().enumerate() {
                    if i > 0 {
                        re.push('|');
                    }
                    to_regex(branch, re);
                }
                re.push(')');
            }
        }
        k += 1;
    }
}

/// A character as a regex literal, valid both inside and outside a class.
fn push_char(c: char, re: &mut String) {
    if c.is_alphanumeric() {
        re.push(c);
    } else {
        re.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}

#[cfg(test)]
#[path = "glob_tests.rs"]
mod tests;
