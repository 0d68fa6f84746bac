//! Tests of [`super`] (`policy/matcher.rs`), kept beside it so the module itself stays short.

use super::*;
use regex_automata::meta;

fn owned(rules: &[(&[&str], &[&str])]) -> Vec<(Vec<String>, Vec<String>)> {
    rules
        .iter()
        .map(|(m, e)| {
            (
                m.iter().map(|s| s.to_string()).collect(),
                e.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect()
}

fn rules_for(rules: &[(&[&str], &[&str])], path: &str) -> Vec<usize> {
    let matcher = PathMatcher::new(&owned(rules)).expect("globs are valid");
    let mut scratch = MatchScratch::default();
    let mut out = Vec::new();
    matcher.matching_rules(path, &mut scratch, |r| out.push(r));
    out.sort();
    out
}

fn matches(pattern: &str, path: &str) -> bool {
    !rules_for(&[(&[pattern], &[])], path).is_empty()
}

#[test]
fn glob_semantics_table() {
    let table: &[(&str, &str, bool)] = &[
        ("*.rs", "main.rs", true),
        ("*.rs", "src/main.rs", false), // `*` never crosses `/`
        ("src/?.rs", "src/a.rs", true),
        ("src/?.rs", "src/a/b.rs", false),
        ("src/?", "src//", false),
        ("**/x", "x", true), // `**/` matches zero directories
        ("**/x", "a/b/x", true),
        ("**/x", "ax", false),
        ("dir/**", "dir/a", true),
        ("dir/**", "dir/a/b/c", true),
        ("dir/**", "dirt/a", false),
        ("dir/**", "dir", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/bc", false),
        ("*.{rs,toml}", "Cargo.toml", true),
        ("*.{rs,toml}", "README.md", false),
        ("[ab].txt", "a.txt", true),
        ("[ab].txt", "c.txt", false),
        ("[!ab].txt", "c.txt", true),
        ("[!ab].txt", "a.txt", false),
        ("Ledger/**", "ledger/x", false), // case-sensitive
        ("ledger/**", "ledger/x", true),
        ("ledger", "ledger/x", false), // whole path, not a prefix
        ("docs/*.md", "docs/a.md", true),
        ("\\*.md", "*.md", true),
        ("\\*.md", "a.md", false),
        ("**", "a/b/c", true),
        ("a**", "abc", true), // `**` inside a component is `*`
        ("a**", "a/b", false),
        ("**/Makefile", "x/Makefile", true),
        ("**/Makefile", "xMakefile", false),
        ("**/a/*.rs", "a/x.rs", true),
        ("**/a/*.rs", "b/a/x.rs", true),
        ("**/a/*.rs", "ba/x.rs", false),
        ("**/a/b/*.rs", "x/a/b/y.rs", true),
        ("a,b", "a,b", true), // a comma outside braces is literal
        // The rest of docs/policy.md's table.
        ("src/?.rs", "src/é.rs", true),
        ("src/?.rs", "src/ab.rs", false),
        ("config/app{,.local}.yaml", "config/app.dev.yaml", false),
        ("{src/**,lib}/*.rs", "src/a/b.rs", true),
        ("[!ab].txt", "é.txt", true),
        ("docs[!_]*", "docs-v2.md", true),
    ];
    for (pattern, path, want) in table {
        assert_eq!(matches(pattern, path), *want, "{pattern} vs {path}");
    }
}

/// Checks every row, then fails listing each row that disagrees.
fn assert_table(table: &[(&str, &str, bool)]) {
    let wrong: Vec<String> = table
        .iter()
        .filter(|(pattern, path, want)| matches(pattern, path) != *want)
        .map(|(pattern, path, want)| format!("{pattern} vs {path}: want {want}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// The cases of issue 13 §0, where globset's meaning differed from the docs' words.

#[test]
fn question_marks_and_classes_match_one_character_not_one_byte() {
    assert_table(&[
        ("secrets/?.key", "secrets/é.key", true),
        ("secrets/?.key", "secrets/ab.key", false),
        ("i18n/[éè]/**", "i18n/é/x", true),
        ("i18n/[éè]/**", "i18n/è/a/b", true),
        ("i18n/[éè]/**", "i18n/e/x", false),
        ("[à-ÿ].txt", "ü.txt", true),
        ("[!a].txt", "é.txt", true),
        ("??.txt", "日本.txt", true),
        ("?.txt", "😀.txt", true),
    ]);
}

#[test]
fn an_empty_alternative_matches() {
    assert_table(&[
        ("config/app{,.local}.yaml", "config/app.yaml", true),
        ("config/app{,.local}.yaml", "config/app.local.yaml", true),
        ("config/app{,.local}.yaml", "config/app.x.yaml", false),
        ("a/{b/,}c", "a/c", true),
    ]);
}

#[test]
fn a_globstar_inside_braces_is_a_whole_component() {
    assert_table(&[
        ("{src/**,lib}/*.rs", "src/main.rs", true),
        ("{src/**,lib}/*.rs", "src/a/b/main.rs", true),
        ("{src/**,lib}/*.rs", "lib/x.rs", true),
        ("{src/**,lib}/*.rs", "lib/a/x.rs", false),
        ("a/{**/,}b", "a/b", true),
        ("a/{**/,}b", "a/x/b", true),
        ("{**/,}x", "x", true),
    ]);
}

#[test]
fn classes_never_match_a_slash() {
    assert_table(&[
        ("docs[!_]*", "docs/x.md", false),
        ("docs[!_]*", "docsx.md", true),
        ("docs[!_]*", "docs_x.md", false),
        ("a[!x]b", "a/b", false),
        ("a[^x]b", "a/b", false),
    ]);
}

#[test]
fn except_removes_only_its_own_entry() {
    let rules: &[(&[&str], &[&str])] = &[
        (&["ledger/**"], &["**/*.md"]),
        (&["**/*.md"], &[]),
        (&["ledger/**", "payments/**"], &[]),
    ];
    assert_eq!(rules_for(rules, "ledger/README.md"), vec![1, 2]);
    assert_eq!(rules_for(rules, "ledger/post.rs"), vec![0, 2]);
    assert_eq!(rules_for(rules, "payments/x.rs"), vec![2]);
    assert_eq!(rules_for(rules, "other.rs"), Vec::<usize>::new());
}

#[test]
fn a_glob_in_both_lists_of_an_entry_excludes() {
    let rules: &[(&[&str], &[&str])] = &[(&["a/**", "b/**"], &["a/**"]), (&["a/**"], &[])];
    assert_eq!(rules_for(rules, "a/x"), vec![1]);
    assert_eq!(rules_for(rules, "b/x"), vec![0]);
}

#[test]
fn each_entry_is_reported_once_per_path() {
    let rules: &[(&[&str], &[&str])] = &[(&["ledger/**", "**/*.rs", "ledger/*.rs"], &[])];
    assert_eq!(rules_for(rules, "ledger/a.rs"), vec![0]);
}

#[test]
fn prefixes_suffixes_and_middles_combine() {
    let rules: &[(&[&str], &[&str])] = &[
        (&["a/b/**"], &["**/*.md"]),
        (&["a/*/c.rs"], &["a/b/c.rs"]),
        (&["**/c.rs"], &[]),
        (&["a/b/c.rs", "x/**"], &[]),
    ];
    assert_eq!(rules_for(rules, "a/b/c.rs"), vec![0, 2, 3]);
    assert_eq!(rules_for(rules, "a/z/c.rs"), vec![1, 2]);
    assert_eq!(rules_for(rules, "a/b/c.md"), Vec::<usize>::new());
    assert_eq!(rules_for(rules, "c.rs"), vec![2]);
}

#[test]
fn scratch_survives_generation_wraparound_and_other_matchers() {
    let matcher = PathMatcher::new(&owned(&[(&["a/**"], &["a/x"])])).expect("valid");
    let mut scratch = MatchScratch {
        generation: u32::MAX - 1,
        glob_stamp: vec![0, 0],
        glob_doubt: vec![0, 0],
        rule_stamp: vec![0],
        ..Default::default()
    };
    for _ in 0..4 {
        let mut hits = 0;
        matcher.matching_rules("a/y", &mut scratch, |_| hits += 1);
        assert_eq!(hits, 1);
        let mut hits = 0;
        matcher.matching_rules("a/x", &mut scratch, |_| hits += 1);
        assert_eq!(hits, 0);
    }
    let other =
        PathMatcher::new(&owned(&[(&["b/*", "c/?"], &[]), (&["**/*.rs"], &[])])).expect("valid");
    let mut hits = Vec::new();
    other.matching_rules("b/x.rs", &mut scratch, |r| hits.push(r));
    hits.sort();
    assert_eq!(hits, vec![0, 1]);
}

#[test]
fn a_failed_search_counts_for_match_and_never_for_except() {
    let mut matcher = PathMatcher::new(&owned(&[(&["a/*"], &["a/*.md"])])).expect("valid");
    // Both globs share the one middle `[^/]*`; a DFA that quits on `x` makes every
    // search through an `x` fail.
    let quitting = DFA::builder()
        .configure(DFA::config().match_kind(MatchKind::All).quit(b'x', true))
        .build("(?s:[^/]*)$")
        .expect("builds");
    matcher.middles = Some(quitting);
    let mut scratch = MatchScratch::default();
    let mut hits = Vec::new();
    matcher.matching_rules("a/y.md", &mut scratch, |r| hits.push(r));
    assert_eq!(hits, Vec::<usize>::new(), "a sure `except` match excludes");
    matcher.matching_rules("a/x.md", &mut scratch, |r| hits.push(r));
    assert_eq!(hits, vec![0], "an unsure `except` match does not exclude");
}

/// The whole glob as one regular expression, built from its parts: what the index must
/// agree with.
fn whole_regex(pattern: &str) -> meta::Regex {
    let parts = Glob::parse(pattern).expect("valid").parts;
    let escape = |s: &str| -> String {
        s.chars()
            .map(|c| format!("\\x{{{:X}}}", c as u32))
            .collect()
    };
    let alternatives: Vec<String> = parts
        .iter()
        .map(|p| {
            format!(
                "{}{}{}{}",
                if p.any_dir { "(?:.*/)?" } else { "" },
                escape(&p.prefix),
                p.middle.as_deref().unwrap_or(""),
                escape(&p.suffix)
            )
        })
        .collect();
    meta::Regex::new(&format!("(?s)^(?:{})$", alternatives.join("|"))).expect("compiles")
}

proptest::proptest! {
    /// Indexing by prefix and suffix changes nothing: the matcher agrees with testing
    /// each glob on its own as one regular expression.
    #[test]
    fn the_index_changes_nothing(
        rules in proptest::collection::vec(
            (proptest::collection::vec("(a|b|src|é|\\*|\\*\\*|\\?|[ab]|\\{a,src\\}|\\{a,\\}|x\\.rs|\\*\\.md)(/(a|b|é|src|\\*|\\*\\*|x\\.rs|\\*\\.md|\\{x.rs,b\\}|\\{\\*\\*/a,b\\})){0,3}", 1..3),
             proptest::collection::vec("(a|\\*\\*)/(\\*\\.md|b|\\*\\*)", 0..2)),
            1..6),
        paths in proptest::collection::vec("(a|b|src|é|x\\.rs|y\\.md)(/(a|b|src|é|x\\.rs|y\\.md)){0,4}", 1..8),
    ) {
        let valid: Vec<(Vec<String>, Vec<String>)> = rules
            .into_iter()
            .map(|(m, e)| {
                let ok = |v: Vec<String>| v.into_iter().filter(|p| Glob::parse(p).is_ok()).collect::<Vec<_>>();
                (ok(m), ok(e))
            })
            .collect();
        let matcher = PathMatcher::new(&valid).expect("valid globs build");
        let compiled: Vec<(Vec<meta::Regex>, Vec<meta::Regex>)> = valid
            .iter()
            .map(|(m, e)| (m.iter().map(|p| whole_regex(p)).collect(), e.iter().map(|p| whole_regex(p)).collect()))
            .collect();
        let mut scratch = MatchScratch::default();
        for path in &paths {
            let mut got = Vec::new();
            matcher.matching_rules(path, &mut scratch, |r| got.push(r));
            got.sort();
            let want: Vec<usize> = compiled
                .iter()
                .enumerate()
                .filter(|(_, (m, e))| m.iter().any(|g| g.is_match(path)) && !e.iter().any(|g| g.is_match(path)))
                .map(|(i, _)| i)
                .collect();
            proptest::prop_assert_eq!(got, want, "path {}", path);
        }
    }
}
