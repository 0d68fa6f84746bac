//! Tests of [`super`] (`policy/glob.rs`), kept beside it so the module itself stays short.

use super::*;

fn part(any_dir: bool, prefix: &str, middle: Option<&str>, suffix: &str) -> Part {
    Part {
        any_dir,
        prefix: prefix.into(),
        suffix: suffix.into(),
        middle: middle.map(str::to_string),
    }
}

fn parts(pattern: &str) -> Vec<Part> {
    Glob::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .parts
}

#[test]
fn globs_are_cut_into_literal_prefix_middle_and_literal_suffix() {
    let cases = [
        (
            "config/env.yaml",
            vec![part(false, "config/env.yaml", None, "")],
        ),
        (
            "services/a/**",
            vec![part(false, "services/a/", Some(".+"), "")],
        ),
        (
            "src/**/*.rs",
            vec![part(false, "src/", Some("(?:.*/)?[^/]*"), ".rs")],
        ),
        (
            "**/*.md",
            vec![part(false, "", Some("(?:.*/)?[^/]*"), ".md")],
        ),
        (
            "**/module7/*.{rs,go}",
            vec![
                part(true, "module7/", Some("[^/]*"), ".rs"),
                part(true, "module7/", Some("[^/]*"), ".go"),
            ],
        ),
        ("**/Makefile", vec![part(true, "Makefile", None, "")]),
        (
            "**/testdata/**",
            vec![part(true, "testdata/", Some(".+"), "")],
        ),
        ("**", vec![part(false, "", Some(".+"), "")]),
        (
            "pkg/[a-m]*/x.rs",
            vec![part(false, "pkg/", Some("[a-m][^/]*\\x{2F}"), "x.rs")],
        ),
        (
            "{src/**,lib}/*.rs",
            vec![
                part(false, "src/", Some("(?:.*/)?[^/]*"), ".rs"),
                part(false, "lib/", Some("[^/]*"), ".rs"),
            ],
        ),
        (
            "a{,.b}",
            vec![part(false, "a", None, ""), part(false, "a.b", None, "")],
        ),
        ("é?", vec![part(false, "", Some("é[^/]"), "")]),
        ("[!a]", vec![part(false, "", Some("[^a/]"), "")]),
    ];
    for (pattern, want) in cases {
        assert_eq!(parts(pattern), want, "{pattern}");
    }
}

#[test]
fn many_alternatives_stay_one_regex_unless_a_globstar_needs_them_written_out() {
    let many = "{a,b}{c,d}{e,f}{g,h}{i,j}/x";
    assert_eq!(parts(many).len(), 1);
    assert_eq!(
        parts(many)[0].middle.as_deref(),
        Some("(?:a|b)(?:c|d)(?:e|f)(?:g|h)(?:i|j)\\x{2F}")
    );
    let e = Glob::parse("{a,b}/{c,d}/{e,f}/{g,h}/{i,j}/{**/x,y}").expect_err("too many");
    assert!(e.to_string().contains("more than 16"), "{e}");
}

#[test]
fn what_each_glob_is_rejected_for() {
    let cases = [
        ("a/[b", "unclosed character class; missing ']'"),
        ("a/{b,c", "unclosed alternate group"),
        ("a/b}", "unopened alternate group"),
        ("a\\", "dangling '\\'"),
        ("[z-a]", "invalid range; 'z' > 'a'"),
        ("a/", "ends with `/`"),
        ("a/**/", "ends with `/`"),
        ("{a/,b}", "an alternative ends with `/`"),
        ("a//b", "empty path component"),
        ("{a/,b}/c", "empty path component"),
        ("{/a,b}", "starts with `/`"),
        ("{,a}/b", "starts with `/`"),
        ("{}", "only match an empty path"),
        ("{,}", "only match an empty path"),
        ("a[/]b", "includes `/`"),
        ("a[.-0]b", "includes `/`"),
        ("{a**,b}", "must be a whole path component"),
        ("{**a,b}", "must be a whole path component"),
        ("x{**,y}", "must be a whole path component"),
        ("{a/,b}**", "must be a whole path component"),
        ("{***}", "must be a whole path component"),
        ("[!\u{0}-\u{10FFFF}]", "excludes every character"),
    ];
    for (pattern, want) in cases {
        let e = Glob::parse(pattern).expect_err(pattern);
        assert!(e.to_string().contains(want), "{pattern}: {e}");
    }
    let deep = format!("{}a{}", "{".repeat(40), "}".repeat(40));
    assert!(Glob::parse(&deep).is_err());
}

#[test]
fn stars_inside_a_component_are_one_star() {
    for pattern in ["a**", "**b", "a/**b/c", "a/***/b", "a**/b"] {
        let p = parts(pattern);
        assert!(
            p.iter()
                .all(|p| p.middle.as_deref().is_some_and(|m| !m.contains(".*"))),
            "{pattern}: {p:?}"
        );
    }
}
