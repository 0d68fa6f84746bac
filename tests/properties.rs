//! Property tests of the evaluator's monotonicity: more approval never hurts, and more
//! changed files never need less; and of the glob matcher against a reference matcher written
//! from docs/policy.md's words.

use std::collections::BTreeMap;

use proptest::prelude::*;
use reviewgate::evaluate::{Needs, Source, evaluate};
use reviewgate::policy::Policy;
use reviewgate::snapshot::{ChangedFile, Commit, Permission, Review, ReviewState, Snapshot};

const PEOPLE: &[&str] = &[
    "ann", "bob", "cat", "dan", "eve", "fay", "gus", "Ann", "BOB",
];
const SEGMENTS: &[&str] = &["src", "ledger", "docs", "a", "b", "x.rs", "y.md", "z.toml"];
const PATTERNS: &[&str] = &[
    "src/**",
    "ledger/**",
    "**/*.md",
    "*.toml",
    "docs/*",
    "**/a/**",
    "{a,b}/**",
    "?/x.rs",
    "ledger/[ab]/**",
];
const POLICY_PATH: &str = ".github/review-policy.toml";

/// A random but always-valid policy: 1–3 levels, 3 groups (one with a team, so any count is
/// possible), 0–5 path entries.
fn policy_strategy() -> impl Strategy<Value = Policy> {
    let level = (1u32..4, proptest::option::of((0usize..3, 1u32..3)));
    let path = (
        proptest::collection::vec(0..PATTERNS.len(), 1..3),
        proptest::collection::vec(0..PATTERNS.len(), 0..2),
        proptest::option::of(0usize..3),
        proptest::option::of((0usize..3, 1u32..3)),
    );
    (
        proptest::collection::vec(level, 1..4),
        proptest::collection::vec(path, 0..6),
        any::<(bool, bool, bool)>(),
    )
        .prop_map(|(levels, paths, (stale, contributors, blocks))| {
            let groups = ["g0", "g1", "g2"];
            let mut t = format!(
                "version = 1\ndefault_level = \"l0\"\npolicy_owners = \"g2\"\n\
                 [settings]\ndismiss_stale_approvals = {stale}\ncontributors_can_approve = {contributors}\n\
                 changes_requested_blocks = {blocks}\n\
                 [groups]\ng0 = [\"ann\", \"bob\", \"cat\"]\ng1 = [\"dan\", \"@org/team\"]\ng2 = [\"eve\", \"fay\"]\n"
            );
            for (i, (approvals, require)) in levels.iter().enumerate() {
                t += &format!("[levels.l{i}]\napprovals = {approvals}\n");
                if let Some((g, n)) = require {
                    t += &format!("require = {{ {} = {n} }}\n", groups[*g]);
                }
            }
            for (matches, except, level, require) in &paths {
                let quote = |v: &Vec<usize>| v.iter().map(|i| format!("\"{}\"", PATTERNS[*i])).collect::<Vec<_>>().join(", ");
                t += &format!("[[paths]]\nmatch = [{}]\nexcept = [{}]\n", quote(matches), quote(except));
                let level = level.map(|l| l % levels.len());
                let require = require.or(if level.is_none() { Some((1, 1)) } else { None });
                if let Some(l) = level {
                    t += &format!("level = \"l{l}\"\n");
                }
                if let Some((g, n)) = require {
                    t += &format!("require = {{ {} = {n} }}\n", groups[g]);
                }
            }
            Policy::parse(&t, "generated.toml").unwrap_or_else(|e| panic!("generator bug: {e}\n{t}"))
        })
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => proptest::collection::vec(0..SEGMENTS.len(), 1..4)
            .prop_map(|v| v.iter().map(|i| SEGMENTS[*i]).collect::<Vec<_>>().join("/")),
        1 => Just(POLICY_PATH.to_string()),
    ]
}

fn file_strategy() -> impl Strategy<Value = ChangedFile> {
    (
        path_strategy(),
        proptest::option::weighted(0.2, path_strategy()),
    )
        .prop_map(|(path, previous_path)| ChangedFile {
            path,
            previous_path,
            status: None,
        })
}

fn review_strategy() -> impl Strategy<Value = Review> {
    let state = prop_oneof![
        4 => Just(ReviewState::Approved),
        1 => Just(ReviewState::ChangesRequested),
        1 => Just(ReviewState::Commented),
        1 => Just(ReviewState::Dismissed),
        1 => Just(ReviewState::Pending),
    ];
    (0..PEOPLE.len(), state, any::<bool>()).prop_map(|(p, state, on_head)| Review {
        user: PEOPLE[p].to_string(),
        state,
        commit: if on_head { "head".into() } else { "old".into() },
        submitted_at: None,
    })
}

fn snapshot_strategy() -> impl Strategy<Value = Snapshot> {
    (
        proptest::collection::vec(file_strategy(), 0..6),
        proptest::collection::vec(review_strategy(), 0..10),
        proptest::option::of(0..PEOPLE.len()),
        0usize..3,
        any::<bool>(),
        permissions_strategy(),
        proptest::collection::vec(0..PEOPLE.len(), 0..3),
    )
        .prop_map(
            |(files, reviews, committer, truncated_by, with_team, permissions, pushers)| Snapshot {
                author: "gus".into(),
                base: None,
                head_sha: "head".into(),
                changed_files: Some((files.len() + truncated_by) as u64),
                files,
                commits: vec![Commit {
                    sha: None,
                    author: Some("gus".into()),
                    committer: committer.map(|c| PEOPLE[c].to_string()),
                    parents: Vec::new(),
                }],
                reviews,
                teams: if with_team {
                    BTreeMap::from([(
                        "org/team".to_string(),
                        vec!["cat".to_string(), "fay".to_string()],
                    )])
                } else {
                    BTreeMap::new()
                },
                permissions,
                pushers: pushers.into_iter().map(|p| PEOPLE[p].to_string()).collect(),
                fingerprints: Default::default(),
            },
        )
}

/// No permissions at all (a hand-written snapshot), or a random role for each person.
fn permissions_strategy() -> impl Strategy<Value = Option<BTreeMap<String, Permission>>> {
    let role = prop_oneof![
        Just(Permission::None),
        Just(Permission::Read),
        Just(Permission::Triage),
        Just(Permission::Write),
        Just(Permission::Maintain),
        Just(Permission::Admin),
    ];
    proptest::option::of(proptest::collection::vec(role, PEOPLE.len())).prop_map(|roles| {
        roles.map(|roles| {
            PEOPLE
                .iter()
                .zip(roles)
                .map(|(p, r)| (p.to_string(), r))
                .collect()
        })
    })
}

/// `a` needs at least as much as `b`, in every dimension.
fn at_least(a: &Needs, b: &Needs) -> bool {
    a.approvals >= b.approvals
        && b.groups
            .iter()
            .all(|(g, n)| a.groups.get(g).is_some_and(|m| m >= n))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn taking_write_access_away_or_adding_a_pusher_never_approves_a_pr(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
        who in 0..PEOPLE.len(),
    ) {
        // By design (issue 10) only someone who could approve can block: a reviewer whose
        // outstanding "changes requested" stops counting when they lose write access or
        // turn out to be a pusher. Those cases unblock on purpose; every other must not.
        // (Any change request of theirs: a later comment does not withdraw one.)
        let requests_changes = snapshot.reviews.iter().any(|r| {
            r.user.eq_ignore_ascii_case(PEOPLE[who]) && r.state == ReviewState::ChangesRequested
        });
        prop_assume!(!requests_changes);
        let before = evaluate(&policy, &snapshot, POLICY_PATH);
        let mut less = snapshot.clone();
        less.permissions.get_or_insert_with(|| {
            PEOPLE.iter().map(|p| (p.to_string(), Permission::Write)).collect()
        }).insert(PEOPLE[who].to_string(), Permission::Read);
        let after = evaluate(&policy, &less, POLICY_PATH);
        prop_assert!(before.approved || !after.approved, "read access approved: {:#?}", after);
        let mut pushed = snapshot.clone();
        pushed.pushers.push(PEOPLE[who].to_uppercase());
        let after = evaluate(&policy, &pushed, POLICY_PATH);
        prop_assert!(before.approved || !after.approved, "a pusher approved: {:#?}", after);
    }

    #[test]
    fn adding_an_approval_never_blocks_an_approved_pr(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
        who in 0..PEOPLE.len(),
    ) {
        // A new approval is given on the PR's current head: that is what approving means.
        // (A later approval of an *older* commit replaces the reviewer's standing with a
        // stale one, by design: it is their latest review.)
        let before = evaluate(&policy, &snapshot, POLICY_PATH);
        let mut more = snapshot.clone();
        more.reviews.push(Review {
            user: PEOPLE[who].to_string(),
            state: ReviewState::Approved,
            commit: "head".into(),
            submitted_at: None,
        });
        let after = evaluate(&policy, &more, POLICY_PATH);
        prop_assert!(!before.approved || after.approved, "before: {:#?}\nafter: {:#?}", before, after);
        prop_assert!(after.approvals >= before.approvals);
    }

    #[test]
    fn adding_a_changed_file_never_lowers_what_a_pr_needs(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
        extra in file_strategy(),
    ) {
        let before = evaluate(&policy, &snapshot, POLICY_PATH);
        let mut more = snapshot.clone();
        more.files.push(extra);
        more.changed_files = more.changed_files.map(|n| n + 1);
        let after = evaluate(&policy, &more, POLICY_PATH);
        prop_assert!(at_least(&after.needs, &before.needs), "before: {:?}\nafter: {:?}", before.needs, after.needs);
        prop_assert!(before.approved || !after.approved);
    }

    #[test]
    fn approved_means_every_requirement_is_met_and_nothing_blocks(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
    ) {
        let v = evaluate(&policy, &snapshot, POLICY_PATH);
        let met = v.approvals >= v.needs.approvals
            && v.needs.groups.iter().all(|(g, n)| {
                v.requirements.iter().flat_map(|r| &r.groups).find(|c| &c.group == g).is_some_and(|c| c.have >= *n)
            });
        let unlinked = v.requirements.iter().any(|r| matches!(r.source, Source::UnlinkedCommit { .. }));
        prop_assert_eq!(v.approved, met && v.blocked_by.is_empty() && !unlinked);
        prop_assert_eq!(v.approved, v.requirements.iter().all(|r| r.satisfied) && v.blocked_by.is_empty());
        prop_assert!(!v.title.is_empty() && !v.title.contains('\n'));
    }
}

// --------------------------------------------------------------------------------------------
// Globs: the matcher against a reference written from docs/policy.md's words
// --------------------------------------------------------------------------------------------

/// A deliberately naive glob matcher, written from the words of docs/policy.md rather than
/// from the implementation: write out every alternative of the braces, split each at its
/// `/`, and match component by component, backtracking over characters. Exponential in the
/// worst case, which does not matter for the small globs the test generates.
mod reference {
    /// One element of a glob whose braces have been written out.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Atom {
        Lit(char),
        /// `?`
        Any,
        /// `[...]`: negated, and the characters or ranges listed.
        Class(bool, Vec<(char, char)>),
        /// A run of `n` stars, and whether a `{`, `,` or `}` stands right before or after it.
        Stars(usize, bool),
    }

    /// Every alternative of `glob`, or `None` if the glob is malformed (an unbalanced brace,
    /// an unclosed class, a reversed range, a dangling `\`).
    pub fn alternatives(glob: &str) -> Option<Vec<Vec<Atom>>> {
        let chars: Vec<char> = glob.chars().collect();
        let mut at = 0;
        let out = sequence(&chars, &mut at, false)?;
        (at == chars.len()).then_some(out)
    }

    /// Reads until the end, or (inside braces) a `,` or `}` it does not consume.
    fn sequence(c: &[char], at: &mut usize, in_braces: bool) -> Option<Vec<Vec<Atom>>> {
        let mut alts: Vec<Vec<Atom>> = vec![Vec::new()];
        // Whether a `{`, `,` or `}` stands just before the current position.
        let mut after_brace = in_braces;
        while *at < c.len() {
            let ch = c[*at];
            let atom = match ch {
                ',' | '}' if in_braces => return Some(alts),
                '}' => return None,
                '{' => {
                    *at += 1;
                    let mut branches = Vec::new();
                    loop {
                        branches.extend(sequence(c, at, true)?);
                        match c.get(*at) {
                            Some(',') => *at += 1,
                            Some('}') => {
                                *at += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                    alts = alts
                        .iter()
                        .flat_map(|a| {
                            branches.iter().map(move |b| {
                                let mut x = a.clone();
                                x.extend(b.iter().cloned());
                                x
                            })
                        })
                        .collect();
                    after_brace = true;
                    continue;
                }
                '*' => {
                    let mut n = 0;
                    while c.get(*at) == Some(&'*') {
                        n += 1;
                        *at += 1;
                    }
                    let next = c.get(*at).copied();
                    let before_brace =
                        next == Some('{') || (in_braces && matches!(next, Some(',' | '}')));
                    let atom = Atom::Stars(n, after_brace || before_brace);
                    after_brace = false;
                    alts.iter_mut().for_each(|a| a.push(atom.clone()));
                    continue;
                }
                '?' => Atom::Any,
                '\\' => {
                    *at += 1;
                    Atom::Lit(*c.get(*at)?)
                }
                '[' => {
                    // `!` or `^` first negates; `]` first is a member; `a-b` is a range; a
                    // `-` first or last is a member; a backslash is an ordinary character.
                    *at += 1;
                    let negated = matches!(c.get(*at), Some('!' | '^'));
                    if negated {
                        *at += 1;
                    }
                    let start = *at;
                    let mut end = start + 1;
                    while *c.get(end)? != ']' {
                        end += 1;
                    }
                    let members = &c[start..end];
                    let mut ranges = Vec::new();
                    let mut i = 0;
                    while i < members.len() {
                        if i + 2 < members.len() && members[i + 1] == '-' {
                            if members[i + 2] < members[i] {
                                return None;
                            }
                            ranges.push((members[i], members[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((members[i], members[i]));
                            i += 1;
                        }
                    }
                    *at = end;
                    Atom::Class(negated, ranges)
                }
                other => Atom::Lit(other),
            };
            *at += 1;
            after_brace = false;
            alts.iter_mut().for_each(|a| a.push(atom.clone()));
        }
        if in_braces { None } else { Some(alts) }
    }

    /// The alternative's components, split at each literal `/`.
    fn components(alt: &[Atom]) -> Vec<&[Atom]> {
        alt.split(|a| *a == Atom::Lit('/')).collect()
    }

    fn is_globstar(component: &[Atom]) -> bool {
        matches!(component, [Atom::Stars(2, _)])
    }

    /// Whether the docs allow the glob: well-formed; no class that lists `/`; and every
    /// alternative can match a file path (not empty, no leading or trailing `/`, no `//`),
    /// with every run of two or more stars next to a brace being a whole-component `**`; and
    /// a glob with such a `**` has at most 16 alternatives.
    pub fn valid(glob: &str) -> bool {
        let Some(alts) = alternatives(glob) else {
            return false;
        };
        let brace_globstar = alts
            .iter()
            .flatten()
            .any(|a| matches!(a, Atom::Stars(n, true) if *n >= 2));
        if brace_globstar && alts.len() > 16 {
            return false;
        }
        alts.iter().all(|alt| {
            let comps = components(alt);
            let classes_ok = alt.iter().all(|a| match a {
                Atom::Class(false, ranges) => {
                    !ranges.iter().any(|&(lo, hi)| lo <= '/' && '/' <= hi)
                }
                _ => true,
            });
            let stars_ok = comps.iter().all(|comp| {
                comp.iter().all(|a| match a {
                    Atom::Stars(n, true) if *n >= 2 => is_globstar(comp),
                    _ => true,
                })
            });
            !alt.is_empty() && comps.iter().all(|comp| !comp.is_empty()) && classes_ok && stars_ok
        })
    }

    /// Whether `path` matches `glob` (a valid one).
    pub fn matches(glob: &str, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        alternatives(glob)
            .unwrap_or_default()
            .iter()
            .any(|alt| components_match(&components(alt), &parts))
    }

    /// `**` as a whole component matches zero or more directories; as the last component,
    /// one or more components. Any other component matches exactly one path component.
    fn components_match(glob: &[&[Atom]], path: &[&str]) -> bool {
        match glob.split_first() {
            None => path.is_empty(),
            Some((comp, rest)) if is_globstar(comp) => {
                let least = if rest.is_empty() { 1 } else { 0 };
                (least..=path.len()).any(|k| components_match(rest, &path[k..]))
            }
            Some((comp, rest)) => {
                !path.is_empty()
                    && component_matches(comp, &path[0].chars().collect::<Vec<_>>())
                    && components_match(rest, &path[1..])
            }
        }
    }

    /// One component, character by character: a character matches itself, `?` any one
    /// character, a class one character in it (or, negated, not in it), a run of stars any
    /// number of characters.
    fn component_matches(glob: &[Atom], text: &[char]) -> bool {
        match glob.split_first() {
            None => text.is_empty(),
            Some((Atom::Stars(..), rest)) => {
                (0..=text.len()).any(|k| component_matches(rest, &text[k..]))
            }
            Some((atom, rest)) => {
                let Some((&ch, more)) = text.split_first() else {
                    return false;
                };
                let ok = match atom {
                    Atom::Lit(l) => *l == ch,
                    Atom::Any => true,
                    Atom::Class(negated, ranges) => {
                        ranges.iter().any(|&(lo, hi)| lo <= ch && ch <= hi) != *negated
                    }
                    Atom::Stars(..) => false,
                };
                ok && component_matches(rest, more)
            }
        }
    }

    /// A path that the alternative `alt` matches, the wildcards filled from `choices`.
    pub fn sample(alt: &[Atom], choices: &mut impl Iterator<Item = usize>) -> String {
        const FILL: &[&str] = &["a", "é", "x.rs", "日本", "b"];
        let mut pick = |n: usize| choices.next().unwrap_or(0) % n;
        let comps = components(alt);
        let mut out: Vec<String> = Vec::new();
        for (i, comp) in comps.iter().enumerate() {
            if is_globstar(comp) {
                let least = usize::from(i + 1 == comps.len());
                for _ in 0..least + pick(3) {
                    out.push(FILL[pick(FILL.len())].to_string());
                }
                continue;
            }
            let mut s = String::new();
            for atom in comp.iter() {
                match atom {
                    Atom::Lit(c) => s.push(*c),
                    Atom::Any => s.push(['a', 'é', '日', '.'][pick(4)]),
                    Atom::Stars(..) => {
                        for _ in 0..pick(3) {
                            s.push(['a', 'é', 'z'][pick(3)]);
                        }
                    }
                    Atom::Class(false, ranges) => s.push(ranges[pick(ranges.len())].0),
                    Atom::Class(true, ranges) => {
                        let outside = ['a', 'b', 'é', 'z', 'ü', '日']
                            .into_iter()
                            .filter(|c| !ranges.iter().any(|&(lo, hi)| lo <= *c && *c <= hi))
                            .collect::<Vec<_>>();
                        s.push(
                            outside
                                .get(pick(outside.len().max(1)))
                                .copied()
                                .unwrap_or('q'),
                        );
                    }
                }
            }
            out.push(s);
        }
        out.join("/")
    }
}

/// Random globs from pieces that exercise every rule of the docs: non-ASCII characters,
/// `?`, classes (one that lists `/`), runs of stars, escapes, and braces with empty and
/// nested alternatives — valid and invalid.
fn glob_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => Just("a"),
        2 => Just("b"),
        3 => Just("é"),
        1 => Just("日"),
        4 => Just("/"),
        3 => Just("*"),
        3 => Just("**"),
        2 => Just("?"),
        1 => Just("[éa]"),
        1 => Just("[!a]"),
        1 => Just("[^é]"),
        1 => Just("[a-c]"),
        1 => Just("[/]"),
        1 => Just("[!/]"),
        1 => Just("\\*"),
        1 => Just("."),
        1 => Just("**/"),
        1 => Just("/**"),
    ]
    .prop_map(String::from);
    let sequence = piece.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            proptest::collection::vec(
                proptest::collection::vec(inner, 0..3).prop_map(|v| v.concat()),
                1..4
            )
            .prop_map(|branches| format!("{{{}}}", branches.join(","))),
        ]
    });
    proptest::collection::vec(sequence, 1..4).prop_map(|v| v.concat())
}

fn glob_path_strategy() -> impl Strategy<Value = String> {
    let component = prop_oneof![
        Just("a"),
        Just("b"),
        Just("é"),
        Just("ab"),
        Just("aé"),
        Just("日"),
        Just("x.rs"),
        Just("*"),
        Just("."),
        Just("c"),
    ];
    proptest::collection::vec(component, 1..5).prop_map(|v| v.join("/"))
}

#[test]
fn globs_match_exactly_what_the_docs_say() {
    use proptest::test_runner::{Config, TestRunner};
    // GLOB_CASES=60000 for a longer hunt.
    let cases: u32 = std::env::var("GLOB_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let valid = std::cell::Cell::new(0usize);
    let hits = std::cell::Cell::new(0usize);
    let strategy = (
        glob_strategy(),
        proptest::collection::vec(glob_path_strategy(), 1..6),
        proptest::collection::vec(0usize..1000, 0..40),
    );
    let result = runner.run(&strategy, |(glob, mut paths, choices)| {
        let policy = format!(
            "version = 1\ndefault_level = \"s\"\npolicy_owners = \"o\"\n[groups]\no = [\"ann\"]\n\
             [levels.s]\napprovals = 1\n[[paths]]\nmatch = ['{glob}']\nlevel = \"s\"\n"
        );
        let parsed = Policy::parse(&policy, "p.toml");
        prop_assert_eq!(
            parsed.is_ok(),
            reference::valid(&glob),
            "glob {:?}: {:?}",
            glob,
            parsed.as_ref().err().map(ToString::to_string)
        );
        let Ok(policy) = parsed else {
            return Ok(());
        };
        valid.set(valid.get() + 1);
        // Paths the glob should match, built from its own alternatives.
        let mut choices = choices.into_iter().cycle();
        for alt in reference::alternatives(&glob)
            .unwrap_or_default()
            .iter()
            .take(4)
        {
            paths.push(reference::sample(alt, &mut choices));
        }
        let mut scratch = reviewgate::policy::MatchScratch::default();
        for path in &paths {
            let mut got = false;
            policy
                .matcher()
                .matching_rules(path, &mut scratch, |_| got = true);
            let want = reference::matches(&glob, path);
            hits.set(hits.get() + usize::from(want));
            prop_assert_eq!(got, want, "glob {:?} vs path {:?}", glob, path);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "{} of {cases} random globs valid; {} glob-path pairs matched",
        valid.get(),
        hits.get()
    );
    // The generator must exercise both sides of each question.
    assert!(
        valid.get() > cases as usize / 5,
        "only {} valid globs",
        valid.get()
    );
    assert!(
        hits.get() > cases as usize / 3,
        "only {} matches",
        hits.get()
    );
}
