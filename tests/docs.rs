//! Every example in the documentation is real: policies load (or fail exactly as shown),
//! snapshots parse, and shown output is what the evaluator prints.

use std::collections::BTreeSet;
use std::time::Duration;

use reviewgate::evaluate::evaluate;
use reviewgate::metrics::Metrics;
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

/// The metrics table in docs/operations.md names exactly the metrics `/metrics` exposes.
#[test]
fn operations_metrics_table_lists_every_metric() {
    let m = Metrics::new();
    // Touch every metric, so each family has samples as well as its header.
    m.delivery("pull_request", "accepted");
    m.evaluation("approved", Duration::from_millis(5));
    m.store_call("claim", Duration::from_millis(1));
    m.set_store_up(true);
    m.set_pending_work(1);
    m.claim_lost();
    m.stale_result();
    m.github_request("GET /repos/{owner}/{repo}/pulls/{number}", 200);
    m.github_retry("timeout");
    m.rate_limit_remaining(1, 4999);
    m.set_queue_depth(1);
    m.evaluation_started();
    m.cache("policy", true);
    m.reconcile_sweep(true, 1);
    m.check_write_failure();
    m.set_unverified_body_bytes(1);
    m.unapproved_merge("acme/ledger");
    m.unreviewed_push("acme/ledger");
    let text = m.render();

    // OpenMetrics names a counter's family without `_total`; its samples carry it.
    let exposed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| match l.split_once(' ') {
            Some((name, "counter")) => format!("{name}_total"),
            Some((name, _)) => name.to_string(),
            None => panic!("malformed TYPE line {l:?}"),
        })
        .collect();
    assert!(exposed.len() >= 20, "{text}");
    for name in &exposed {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name.as_str()) && !l.starts_with('#')),
            "{name} has no sample in\n{text}"
        );
    }

    let path = format!("{}/docs/operations.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter(|l| l.starts_with("reviewgate_"))
        .map(|l| {
            let cell = l.split('`').next().expect("a closing backtick");
            cell.split('{').next().expect("a name").to_string()
        })
        .collect();
    let documented: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(
        documented.len(),
        rows.len(),
        "a metric listed twice: {rows:?}"
    );

    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    let unexposed: Vec<_> = documented.difference(&exposed).collect();
    assert!(
        undocumented.is_empty() && unexposed.is_empty(),
        "exposed but not in docs/operations.md: {undocumented:?}; \
         in docs/operations.md but not exposed: {unexposed:?}"
    );
}

/// Every test docs/security.md names as a defence's proof exists, so the threat model cannot
/// point at a test that was renamed or deleted.
#[test]
fn every_test_the_threat_model_names_exists() {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = std::fs::read_to_string(format!("{root}/docs/security.md")).expect("security.md");
    let mut sources = String::new();
    let mut dirs = vec![
        std::path::PathBuf::from(format!("{root}/src")),
        std::path::PathBuf::from(format!("{root}/tests")),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).expect("source"));
            }
        }
    }
    let mut named = 0;
    let mut missing = Vec::new();
    for row in model
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---"))
    {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        if cells.len() < 3 || cells[0].trim() == "attack" || cells[0].trim() == "attack / mistake" {
            continue;
        }
        let last = cells[cells.len() - 1];
        for (i, token) in last.split('`').enumerate() {
            let is_name = i % 2 == 1
                && token.contains('_')
                && token
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                named += 1;
                if !sources.contains(&format!("fn {token}(")) {
                    missing.push(token.to_string());
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/security.md names tests that do not exist: {missing:?}"
    );
    assert!(named > 50, "only {named} tests named");
}
