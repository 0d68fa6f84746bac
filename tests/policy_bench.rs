//! What a large policy costs the CLI, end to end: every `reviewgate` call (and every new
//! policy blob in the App) parses and compiles the whole policy before it can answer.
//!
//! Targets (issue 13, §7), each the median of 5 runs of the real binary minus the median of 5
//! runs of the same command on a 1-entry policy (process start-up, reading, printing):
//! - `reviewgate evaluate`, a 3000-file PR against 500 `[[paths]]` entries: < 50 ms more than
//!   a 1-file PR against a 1-entry policy;
//! - `reviewgate check` on 5,000 entries (15,000 globs): < 250 ms more than on 1 entry.
//!
//! Every entry has 2 `match` globs and 1 `except` glob, in the shapes real policies use.
//! Ignored by default; run with
//! `cargo test --release --test policy_bench -- --ignored --nocapture`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// A policy of `entries` path entries, each with 2 `match` globs and 1 `except` glob: trees,
/// extensions under a tree, single files, alternations and classes, and globs with no
/// literal directory (`**/module7/*.{rs,go}`), which cannot be narrowed down by directory.
fn policy(entries: usize) -> String {
    let mut t = String::from(
        "version = 1\ndefault_level = \"standard\"\npolicy_owners = \"leads\"\n\
         [groups]\nseniors = [\"alice\", \"@acme/seniors\"]\nleads = [\"@acme/leads\"]\nowners = [\"@acme/owners\"]\n\
         [levels.standard]\napprovals = 1\n[levels.critical]\napprovals = 2\nrequire = { seniors = 1 }\n",
    );
    for i in 0..entries {
        let (m1, m2, e) = match i % 5 {
            0 => (
                format!("services/svc{i}/**"),
                format!("libs/lib{i}/**"),
                "**/*.md".to_string(),
            ),
            1 => (
                format!("services/svc{i}/**/*.rs"),
                format!("services/svc{i}/Cargo.toml"),
                "**/testdata/**".to_string(),
            ),
            2 => (
                format!("config/env{i}.yaml"),
                format!("deploy/app{i}/*"),
                format!("deploy/app{i}/*.bak"),
            ),
            3 => (
                format!("**/module{i}/*.{{rs,go}}"),
                format!("tools/gen{i}/?*.py"),
                "**/*_test.go".to_string(),
            ),
            _ => (
                format!("pkg/p{i}/[a-m]*/**"),
                format!("pkg/p{i}/src/**"),
                "**/*.md".to_string(),
            ),
        };
        t += &format!(
            "[[paths]]\nname = \"entry{i}\"\nmatch = [\"{m1}\", \"{m2}\"]\nexcept = [\"{e}\"]\n"
        );
        t += if i % 3 == 0 {
            "level = \"critical\"\n"
        } else {
            "require = { owners = 1 }\n"
        };
    }
    t
}

/// A PR snapshot of `files` changed files spread over the directories the policy names.
fn snapshot(files: usize) -> String {
    let dirs = [
        "services",
        "libs",
        "pkg",
        "config",
        "deploy",
        "docs",
        "src/core",
        "tools/gen",
    ];
    let files: Vec<serde_json::Value> = (0..files)
        .map(|i| {
            let dir = dirs[i % dirs.len()];
            let path = match i % 4 {
                0 => format!("{dir}/svc{}/src/handler{i}.rs", i % 700),
                1 => format!("{dir}/p{}/src/module{}/file{i}.go", i % 600, i % 550),
                2 => format!("{dir}/lib{}/README{i}.md", i % 500),
                _ => format!("{dir}/env{}.yaml", i % 800),
            };
            if i % 50 == 0 {
                serde_json::json!({"path": path, "previous_path": format!("old/{path}"), "status": "renamed"})
            } else {
                serde_json::json!({"path": path, "status": "modified"})
            }
        })
        .collect();
    serde_json::json!({
        "author": "zed",
        "head_sha": "head",
        "changed_files": files.len(),
        "files": files,
        "commits": [{"sha": "head", "author": "zed", "committer": "zed"}],
        "reviews": [{"user": "alice", "state": "APPROVED", "commit": "head"}],
        "teams": {"acme/seniors": ["carol"], "acme/leads": ["lena"], "acme/owners": ["olga"]},
        "permissions": {"alice": "write"}
    })
    .to_string()
}

/// Median wall time of [`RUNS`] runs (after one untimed warm-up run), checking the exit code
/// each time so a rejected input cannot pass for a fast one.
fn median(args: &[&str], exit: i32) -> Duration {
    let run = || {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
            .args(args)
            .output()
            .expect("run reviewgate");
        let took = started.elapsed();
        assert_eq!(
            out.status.code(),
            Some(exit),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    run();
    let mut times: Vec<Duration> = (0..RUNS).map(|_| run()).collect();
    times.sort();
    times[RUNS / 2]
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn large_policies_cost_little_more_than_small_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let small = write(d, "small.toml", &policy(1));
    let p500 = write(d, "p500.toml", &policy(500));
    let big_text = policy(5_000);
    assert!(
        big_text.len() < reviewgate::policy::limits::MAX_POLICY_BYTES,
        "{} bytes",
        big_text.len()
    );
    let p5000 = write(d, "p5000.toml", &big_text);
    let pr1 = write(d, "pr1.json", &snapshot(1));
    let pr3000 = write(d, "pr3000.json", &snapshot(3000));

    let eval_small = median(&["evaluate", "--policy", &small, "--pr", &pr1], 1);
    let eval_large = median(&["evaluate", "--policy", &p500, "--pr", &pr3000], 1);
    let check_small = median(&["check", &small], 0);
    let check_500 = median(&["check", &p500], 0);
    let check_large = median(&["check", &p5000], 0);

    let eval_extra = eval_large.saturating_sub(eval_small);
    let check_extra = check_large.saturating_sub(check_small);
    eprintln!("median of {RUNS} runs of the release binary:");
    eprintln!(
        "  evaluate, 1 file x 1 entry:          {:7.1} ms",
        ms(eval_small)
    );
    eprintln!(
        "  evaluate, 3000 files x 500 entries:  {:7.1} ms  (+{:.1} ms; target < 50)",
        ms(eval_large),
        ms(eval_extra)
    );
    eprintln!(
        "  check, 1 entry:                      {:7.1} ms",
        ms(check_small)
    );
    eprintln!(
        "  check, 500 entries (1,500 globs):    {:7.1} ms  (+{:.1} ms)",
        ms(check_500),
        ms(check_500.saturating_sub(check_small))
    );
    eprintln!(
        "  check, 5,000 entries (15,000 globs): {:7.1} ms  (+{:.1} ms; target < 250)",
        ms(check_large),
        ms(check_extra)
    );
    assert!(ms(eval_extra) < 50.0, "evaluate: +{eval_extra:?}");
    assert!(ms(check_extra) < 250.0, "check: +{check_extra:?}");
}
