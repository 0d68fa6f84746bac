//! Every example in the documentation is real: policies load (or fail exactly as shown),
//! snapshots parse, and shown output is what the evaluator prints.

use reviewgate::evaluate::evaluate;
use reviewgate::policy::selftest::run_all;
use reviewgate::policy::{DEFAULT_POLICY_PATH, Policy};
use reviewgate::report;
use reviewgate::snapshot::Snapshot;

/// Fenced code blocks of a Markdown file: (info string, body, line of the opening fence).
fn fences(markdown: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new(), n + 1)),
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some((_, body, _)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "unclosed code fence");
    out
}

fn check_file(name: &str) -> usize {
    let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut policy: Option<Policy> = None;
    let mut snapshot: Option<Snapshot> = None;
    let mut checked = 0;
    for (info, body, line) in fences(&text) {
        let at = format!("{name}:{line} ({info})");
        match info.as_str() {
            "toml" => {
                let p = Policy::parse(&body, "p.toml").unwrap_or_else(|e| panic!("{at}: {e}"));
                // A policy's own [[test]] tables pass, as `reviewgate check` would require.
                let failures = run_all(&p, DEFAULT_POLICY_PATH);
                assert!(failures.is_empty(), "{at}: {failures:?}");
                // Examples show clean policies: no warnings either.
                let warnings = reviewgate::policy::warnings(&body, &p);
                assert!(warnings.is_empty(), "{at}: {warnings:?}");
                policy = Some(p);
            }
            "toml failing" => {
                // A policy whose tests fail exactly as the `# expect:` lines say.
                let p = Policy::parse(&body, "p.toml").unwrap_or_else(|e| panic!("{at}: {e}"));
                let got: Vec<String> = run_all(&p, DEFAULT_POLICY_PATH)
                    .iter()
                    .map(|f| format!("p.toml:{}:1: {}", f.line, f.message))
                    .collect();
                let expected: Vec<String> = body
                    .lines()
                    .filter_map(|l| l.strip_prefix("# expect: "))
                    .map(str::to_string)
                    .collect();
                assert!(!expected.is_empty(), "{at}: say what fails");
                assert_eq!(got, expected, "{at}");
            }
            "toml invalid" => {
                let errors = Policy::parse(&body, "p.toml").expect_err(&at).to_string();
                let expected: Vec<&str> = body
                    .lines()
                    .filter_map(|l| l.strip_prefix("# expect: "))
                    .collect();
                assert!(
                    !expected.is_empty(),
                    "{at}: an invalid example must say what it expects"
                );
                for want in &expected {
                    assert!(
                        errors.lines().any(|l| l.starts_with(want)),
                        "{at}: want {want:?} in\n{errors}"
                    );
                }
                assert_eq!(
                    errors.lines().count(),
                    expected.len(),
                    "{at}: every error is shown:\n{errors}"
                );
            }
            "json snapshot" => {
                snapshot = Some(
                    Snapshot::from_json(&body, "pr.json").unwrap_or_else(|e| panic!("{at}: {e}")),
                );
            }
            "text output" | "json output" => {
                let p = policy
                    .as_ref()
                    .unwrap_or_else(|| panic!("{at}: no policy before this output"));
                let s = snapshot
                    .as_ref()
                    .unwrap_or_else(|| panic!("{at}: no snapshot before this output"));
                let verdict = evaluate(p, s, DEFAULT_POLICY_PATH);
                if info == "text output" {
                    assert_eq!(report::text(&verdict), body, "{at}");
                } else {
                    let shown: serde_json::Value =
                        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(
                        serde_json::to_value(&verdict).expect("serialise"),
                        shown,
                        "{at}"
                    );
                }
            }
            _ => continue,
        }
        checked += 1;
    }
    checked
}

#[test]
fn policy_reference_examples_are_true() {
    assert!(check_file("docs/policy.md") >= 5);
}

#[test]
fn readme_examples_are_true() {
    check_file("README.md");
}
