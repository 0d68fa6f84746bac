//! Validation of the policy language, case by case.

use super::*;

const VALID: &str = r#"
version = 1
default_level = "standard"
policy_owners = "leads"

[settings]
dismiss_stale_approvals = false

[groups]
seniors  = ["alice", "@acme/senior-engineers"]
leads    = ["@acme/tech-leads"]
payments = ["@acme/payments"]
pair     = ["bo", "Cy"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 1 }

[[paths]]
name = "ledger"
match = ["ledger/**", "payments/**"]
except = ["**/*.md", "**/testdata/**"]
level = "critical"
require = { payments = 1 }

[[paths]]
match = ["infra/**"]
require = { pair = 2 }
"#;

fn errors(text: &str) -> Vec<String> {
    match Policy::parse(text, "p.toml") {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

/// Replaces the first occurrence of `from` in the valid policy.
fn edit(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "test bug: {from:?} not in VALID");
    VALID.replacen(from, to, 1)
}

#[test]
fn the_reference_example_loads() {
    let p = Policy::parse(VALID, "p.toml").expect("valid");
    assert_eq!(p.default_level, "standard");
    assert_eq!(p.policy_owners, "leads");
    assert!(!p.settings.dismiss_stale_approvals);
    assert!(p.settings.changes_requested_blocks && !p.settings.contributors_can_approve);
    assert_eq!(p.levels["critical"].approvals, 2);
    assert_eq!(p.levels["critical"].require["seniors"], 1);
    assert_eq!(p.paths.len(), 2);
    assert_eq!(p.paths[0].label(), "ledger");
    assert_eq!(p.paths[1].label(), "infra/**");
    assert_eq!(p.paths[1].level, None);
    assert_eq!(
        p.groups["seniors"].members,
        vec![
            Member::User("alice".into()),
            Member::Team(TeamRef {
                org: "acme".into(),
                slug: "senior-engineers".into()
            })
        ]
    );
    let keys: Vec<String> = p.teams().iter().map(TeamRef::key).collect();
    assert_eq!(
        keys,
        ["acme/payments", "acme/senior-engineers", "acme/tech-leads"]
    );
}

#[test]
fn the_repositorys_own_policy_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml"))
        .expect("policy.toml");
    Policy::parse(&text, "policy.toml").expect("the shipped policy.toml must be valid");
}

#[test]
fn settings_default_to_the_strict_choices() {
    let p = Policy::parse(&edit("dismiss_stale_approvals = false\n", ""), "p").expect("valid");
    assert_eq!(p.settings, Settings::default());
    assert!(p.settings.dismiss_stale_approvals);
}

/// Each case: a change to the valid policy, and the `line:column: message` fragment expected.
#[test]
fn each_problem_is_reported_with_line_and_column() {
    let cases: &[(&str, &str, &str)] = &[
        // (from, to, expected fragment)
        (
            "version = 1\n",
            "",
            "p.toml:1:1: missing required key `version`",
        ),
        (
            "version = 1",
            "version = 2",
            "p.toml:2:11: unsupported policy version 2",
        ),
        (
            "version = 1",
            "version = \"1\"",
            "p.toml:2:11: `version` must be the integer 1",
        ),
        (
            "default_level = \"standard\"\n",
            "",
            "p.toml:1:1: missing required key `default_level`",
        ),
        (
            "policy_owners = \"leads\"\n",
            "",
            "p.toml:1:1: missing required key `policy_owners`",
        ),
        (
            "default_level = \"standard\"",
            "default_level = \"high\"",
            "p.toml:3:17: `default_level` names level `high`, which is not defined; defined levels: `critical`, `standard`",
        ),
        (
            "policy_owners = \"leads\"",
            "policy_owners = \"bosses\"",
            "p.toml:4:17: `policy_owners` names group `bosses`, which is not defined",
        ),
        (
            "level = \"critical\"",
            "level = \"urgent\"",
            "p.toml:26:9: [[paths]] entry 1 (\"ledger\") names level `urgent`, which is not defined",
        ),
        (
            "require = { seniors = 1 }",
            "require = { elders = 1 }",
            "p.toml:20:13: level `critical` requires approvals from group `elders`, which is not defined",
        ),
        (
            "require = { payments = 1 }",
            "require = { payment = 1 }",
            "p.toml:27:13: [[paths]] entry 1 (\"ledger\") requires approvals from group `payment`",
        ),
        (
            "dismiss_stale_approvals = false",
            "dismiss_stale_approval = false",
            "p.toml:7:1: unknown key `dismiss_stale_approval` in [settings]; did you mean `dismiss_stale_approvals`?",
        ),
        (
            "dismiss_stale_approvals = false",
            "dismiss_stale_approvals = \"no\"",
            "p.toml:7:27: `dismiss_stale_approvals` must be true or false",
        ),
        (
            "approvals = 1\n",
            "approvals = 1\nreviewers = 2\n",
            "p.toml:17:1: unknown key `reviewers` in [levels.standard]",
        ),
        (
            "approvals = 1\n",
            "",
            "p.toml:15:9: level `standard` is missing `approvals`",
        ),
        (
            "approvals = 2",
            "approvals = 0",
            "p.toml:19:13: `approvals` in [levels.critical] must be at least 1, not 0",
        ),
        (
            "approvals = 2",
            "approvals = -3",
            "must be at least 1, not -3",
        ),
        (
            "approvals = 2",
            "approvals = 2.5",
            "`approvals` in [levels.critical] must be a whole number, not the number 2.5",
        ),
        (
            "require = { seniors = 1 }",
            "require = { seniors = 0 }",
            "p.toml:20:23: the count for group `seniors` in [levels.critical] must be at least 1",
        ),
        (
            "leads    = [\"@acme/tech-leads\"]",
            "leads    = []",
            "p.toml:11:12: group `leads` is empty",
        ),
        (
            "\"@acme/tech-leads\"",
            "\"\"",
            "p.toml:11:13: group `leads`: empty member",
        ),
        (
            "\"@acme/tech-leads\"",
            "\"@acme\"",
            "group `leads`: `@acme` names an organisation but no team",
        ),
        (
            "\"@acme/tech-leads\"",
            "\"@acme/\"",
            "`@acme/` names an organisation but no team",
        ),
        (
            "\"@acme/tech-leads\"",
            "\"@/tech-leads\"",
            "`@/tech-leads` has no organisation",
        ),
        (
            "\"@acme/tech-leads\"",
            "\"two words\"",
            "`two words` is not a GitHub login",
        ),
        (
            "\"@acme/tech-leads\"",
            "\"@acme/a/b\"",
            "`@acme/a/b` is not a valid \"@org/team-slug\"",
        ),
        (
            "\"@acme/tech-leads\"",
            "7",
            "members of group `leads` must be strings, not the number 7",
        ),
        (
            "match = [\"ledger/**\", \"payments/**\"]",
            "match = []",
            "p.toml:24:9: `match` in [[paths]] entry 1 (\"ledger\") is empty",
        ),
        (
            "match = [\"ledger/**\", \"payments/**\"]\n",
            "",
            "p.toml:22:1: [[paths]] entry 1 (\"ledger\") is missing `match`",
        ),
        (
            "\"payments/**\"",
            "\"payments/[**\"",
            "p.toml:24:23: invalid glob `payments/[**` in `match` of [[paths]] entry 1 (\"ledger\"): unclosed character class",
        ),
        (
            "\"**/testdata/**\"",
            "\"{a,b\"",
            "p.toml:25:22: invalid glob `{a,b` in `except`",
        ),
        (
            "\"payments/**\"",
            "\"/payments/**\"",
            "glob `/payments/**` starts with `/`",
        ),
        (
            "match = [\"infra/**\"]\nrequire = { pair = 2 }",
            "match = [\"infra/**\"]",
            "p.toml:29:1: [[paths]] entry 2 needs a `level`, a `require`, or both",
        ),
        (
            "require = { pair = 2 }",
            "require = {}",
            "[[paths]] entry 2 has an empty `require` and no `level`",
        ),
        (
            "require = { pair = 2 }",
            "require = { pair = 3 }",
            "p.toml:31:13: [[paths]] entry 2 requires 3 approvals from group `pair`, which can never happen: the group lists only 2 people and no team",
        ),
        (
            "name = \"ledger\"",
            "name = \"ledger\"\nowner = \"x\"",
            "unknown key `owner` in [[paths]] entry 1 (\"ledger\")",
        ),
        (
            "[settings]",
            "[setings]",
            "p.toml:6:2: unknown key `setings` at the top level; did you mean `settings`?",
        ),
        (
            "version = 1",
            "version = 1\nname = 3",
            "p.toml:3:1: unknown key `name` at the top level",
        ),
        (
            "[levels.standard]\napprovals = 1",
            "[levels]\nstandard = 1",
            "level `standard` must be a table, not the number 1",
        ),
        (
            "version = 1",
            "version = 1 +",
            "p.toml:2:11: TOML syntax error",
        ),
        (
            "[levels.critical]",
            "[levels.standard]",
            "TOML syntax error",
        ),
    ];
    for (from, to, want) in cases {
        let got = errors(&edit(from, to));
        assert!(
            got.iter().any(|line| line.contains(want)),
            "changing {from:?} to {to:?}: want {want:?}, got {got:#?}"
        );
    }
}

#[test]
fn top_level_tables_must_have_the_right_shape() {
    let base = "version = 1\ndefault_level = \"s\"\npolicy_owners = \"g\"\n";
    let cases = [
        (
            "groups = 5\n[levels.s]\napprovals = 1\n",
            "p.toml:4:10: `groups` must be a table, not the number 5",
        ),
        (
            "settings = [true]\n",
            "p.toml:4:12: `settings` must be a table, not a list",
        ),
        (
            "paths = { match = [\"x\"] }\n",
            "p.toml:4:9: `paths` must be a list of tables written as [[paths]], not a table",
        ),
        (
            "paths = [5]\n",
            "p.toml:4:10: [[paths]] entry 1 must be a table, not the number 5",
        ),
    ];
    for (extra, want) in cases {
        let got = errors(&format!("{base}{extra}"));
        assert!(
            got.iter().any(|l| l.starts_with(want)),
            "{extra:?}: want {want:?}, got {got:#?}"
        );
    }
}

#[test]
fn an_empty_group_is_reported_once() {
    let got = errors(&edit("leads    = [\"@acme/tech-leads\"]", "leads    = []"));
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("p.toml:11:12: group `leads` is empty"));
}

#[test]
fn a_count_a_group_of_named_people_can_meet_is_accepted() {
    // Two distinct people ("bo" and "Cy"), so 2 is possible; teams make any count possible.
    assert!(errors(VALID).is_empty());
    assert!(
        errors(&edit(
            "payments = [\"@acme/payments\"]",
            "payments = [\"@acme/payments\"]\nbig = [\"@acme/x\"]"
        ))
        .is_empty()
    );
    // Logins compare case-insensitively, so "bo" and "BO" are one person.
    let got = errors(&edit(
        "pair     = [\"bo\", \"Cy\"]",
        "pair     = [\"bo\", \"BO\"]",
    ));
    assert!(
        got.iter().any(|l| l.contains("lists only 1 person")),
        "{got:?}"
    );
}

#[test]
fn several_errors_are_reported_at_once_in_file_order() {
    let text = edit("version = 1", "version = 9")
        .replacen("approvals = 2", "approvals = 0", 1)
        .replacen("level = \"critical\"", "level = \"nope\"", 1)
        .replacen("\"@acme/payments\"", "\"@acme\"", 1);
    let got = errors(&text);
    assert_eq!(got.len(), 4, "{got:#?}");
    let positions: Vec<(usize, usize)> = got
        .iter()
        .map(|l| {
            let mut parts = l.split(':');
            parts.next();
            (
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
}

#[test]
fn hostile_policies_fail_with_a_message_and_never_panic() {
    let huge = format!("version = 1\n# {}\n", "x".repeat(limits::MAX_POLICY_BYTES));
    assert!(errors(&huge)[0].contains("policies are limited to 1048576 bytes"));

    let long_glob = edit(
        "\"payments/**\"",
        &format!("\"{}\"", "a".repeat(limits::MAX_GLOB_LEN + 1)),
    );
    assert!(
        errors(&long_glob)
            .iter()
            .any(|l| l.contains("the limit is 1024"))
    );

    let deep = format!(
        "version = 1\nx = {}1{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(!errors(&deep).is_empty());

    let many: String = (0..limits::MAX_PATTERNS + 1)
        .map(|i| format!("\"p{i}\","))
        .collect();
    let many = edit("match = [\"infra/**\"]", &format!("match = [{many}]"));
    assert!(
        errors(&many)
            .iter()
            .any(|l| l.contains("policies are limited to 20000"))
    );

    for garbage in [
        "",
        "\u{0}",
        "[[",
        "= =",
        "version = 1\n[levels.a]\napprovals = 99999999999999999999",
    ] {
        assert!(!errors(garbage).is_empty(), "{garbage:?}");
    }
}

fn assert_glob_errors(cases: &[(&str, &str, &str)]) {
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(from, to, want)| {
            let errs = errors(&edit(from, to));
            (errs.len() != 1 || !errs[0].starts_with(want))
                .then(|| format!("{to}: want {want:?}, got {errs:#?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// Globs that could never match what their author wrote (issue 13 §0) are errors, each
// reported at the glob as `file:line:column`, like any other invalid glob.

#[test]
fn a_glob_ending_in_a_slash_is_rejected_where_it_stands() {
    assert_glob_errors(&[
        (
            "\"payments/**\"",
            "\"payments/\"",
            "p.toml:24:23: invalid glob `payments/` in `match` of [[paths]] entry 1 (\"ledger\"): it ends with `/`, but a file path never does, so it can never match; did you mean `payments/**`?",
        ),
        (
            "\"payments/**\"",
            "\"payments/**/\"",
            "p.toml:24:23: invalid glob `payments/**/` in `match` of [[paths]] entry 1 (\"ledger\"): it ends with `/`, but a file path never does, so it can never match; did you mean `payments/**`?",
        ),
        (
            "\"**/testdata/**\"",
            "\"{a/,b}\"",
            "p.toml:25:22: invalid glob `{a/,b}` in `except` of [[paths]] entry 1 (\"ledger\"): an alternative ends with `/`",
        ),
    ]);
}

#[test]
fn a_glob_no_file_path_can_match_is_rejected_where_it_stands() {
    assert_glob_errors(&[
        (
            "\"payments/**\"",
            "\"pay[/]ments\"",
            "p.toml:24:23: invalid glob `pay[/]ments` in `match` of [[paths]] entry 1 (\"ledger\"): the class `[...]` includes `/`",
        ),
        (
            "\"**/testdata/**\"",
            "\"a//b\"",
            "p.toml:25:22: invalid glob `a//b` in `except` of [[paths]] entry 1 (\"ledger\"): it has an empty path component",
        ),
        (
            "\"**/testdata/**\"",
            "\"{/a,b}\"",
            "p.toml:25:22: invalid glob `{/a,b}` in `except` of [[paths]] entry 1 (\"ledger\"): an alternative starts with `/`",
        ),
    ]);
}

#[test]
fn a_globstar_next_to_a_brace_that_is_not_a_whole_component_is_rejected() {
    assert_glob_errors(&[
        (
            "\"payments/**\"",
            "\"{src**,lib}/*.rs\"",
            "p.toml:24:23: invalid glob `{src**,lib}/*.rs` in `match` of [[paths]] entry 1 (\"ledger\"): a `**` next to `{`, `,` or `}` must be a whole path component",
        ),
        (
            "\"payments/**\"",
            "\"src/{**.rs,x}\"",
            "p.toml:24:23: invalid glob `src/{**.rs,x}` in `match` of [[paths]] entry 1 (\"ledger\"): a `**` next to `{`, `,` or `}` must be a whole path component",
        ),
    ]);
}

#[test]
fn globs_the_docs_allow_stay_valid() {
    for ok in [
        "\"config/app{,.local}.yaml\"",
        "\"{src/**,lib}/*.rs\"",
        "\"i18n/[éè]/**\"",
        "\"docs[!_]*\"",
        "\"a**b\"",
        "\"**\"",
        "\"*.{rs,toml}\"",
        "\"[!/]x\"",
        "\"x{,}\"",
    ] {
        let errs = errors(&edit("\"payments/**\"", ok));
        assert!(errs.is_empty(), "{ok}: {errs:#?}");
    }
}
