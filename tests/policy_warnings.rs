//! `reviewgate check` warnings (issue 13 §6): printed as `file:line:column: warning: …`, exit
//! 0, or 1 with `--deny-warnings`; a clean policy prints nothing.

use std::process::{Command, Output};

const WARNED: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[settings]
contributors_can_approve = true
dismiss_stale_approvals = false

[groups]
seniors = ["alice", "@acme/seniors"]
leads = ["lena"]
unused = ["bob"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 3 }

[[paths]]
name = "docs"
match = ["./docs/**", "a/../b"]
level = "standard"

[[paths]]
match = ["ledger/**"]
require = { seniors = 2 }
"#;

fn check(policy: &str, extra: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.toml");
    std::fs::write(&file, policy).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .arg("check")
        .arg(&file)
        .args(extra)
        .output()
        .expect("run");
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "p.toml");
    (out, stderr)
}

#[test]
fn each_warning_is_located_and_exit_is_0() {
    let (out, stderr) = check(WARNED, &[]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "p.toml:6:28: warning: `contributors_can_approve = true` with `dismiss_stale_approvals = false` lets an author approve their own code: a reviewer can approve, then push commits of their own, and the approval still counts",
            "p.toml:12:1: warning: group `unused` is never used: no level, [[paths]] entry or `policy_owners` names it",
            "p.toml:19:23: warning: level `critical` requires 3 approvals from `seniors` but `approvals = 2`: the level in effect needs 3 approvals",
            "p.toml:21:1: warning: [[paths]] entry 1 (\"docs\") changes nothing: it has no `require` of its own and its level `standard` needs no more than the default level `standard`",
            "p.toml:23:10: warning: glob `./docs/**` in `match` of [[paths]] entry 1 (\"docs\") can never match: GitHub reports paths without `.` or `..` segments (write `src/**`, not `./src/**`)",
            "p.toml:23:23: warning: glob `a/../b` in `match` of [[paths]] entry 1 (\"docs\") can never match: GitHub reports paths without `.` or `..` segments (write `src/**`, not `./src/**`)",
            "p.toml:28:23: warning: [[paths]] entry 2 requires 2 approvals from `seniors`, more than the 1 its level asks for in all: the pull request needs 2 approvals",
        ]
    );
}

#[test]
fn deny_warnings_exits_1() {
    let (out, stderr) = check(WARNED, &["--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.ends_with("p.toml: 7 warnings (--deny-warnings)\n"),
        "{stderr}"
    );
}

#[test]
fn a_clean_policy_prints_nothing() {
    for policy in [
        include_str!("../policy.toml").to_string(),
        WARNED
            .replace("contributors_can_approve = true\n", "")
            .replace("unused = [\"bob\"]\n", "")
            .replace("require = { seniors = 3 }", "require = { seniors = 1 }")
            .replace(
                "match = [\"./docs/**\", \"a/../b\"]\nlevel = \"standard\"",
                "match = [\"docs/**\"]\nlevel = \"critical\"",
            )
            .replace("require = { seniors = 2 }", "require = { seniors = 1 }"),
    ] {
        let (out, stderr) = check(&policy, &["--deny-warnings"]);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stderr, "", "{policy}");
    }
}
