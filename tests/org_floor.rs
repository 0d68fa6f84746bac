//! An organisation-wide floor, offline (issue 13 §2): `reviewgate evaluate --org-policy FILE`
//! judges a PR by the union of the org policy's requirements and the repository's, each with
//! its own file's settings and groups.

use std::path::Path;
use std::process::{Command, Output};

const REPO_POLICY: &str = r#"version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors = ["carol"]
leads = ["lena"]

[levels.standard]
approvals = 1

[[paths]]
match = ["ledger/**"]
require = { seniors = 1 }
"#;

const ORG_POLICY: &str = r#"version = 1
default_level = "base"
policy_owners = "org-leads"

[groups]
dba = ["dora"]
org-leads = ["olga"]
seniors = ["sam"]

[levels.base]
approvals = 2

[[paths]]
name = "migrations"
match = ["**/migrations/**"]
require = { dba = 1 }
"#;

fn snapshot(approvers: &[&str]) -> String {
    let reviews: Vec<String> = approvers
        .iter()
        .map(|a| format!(r#"{{"user": "{a}", "state": "APPROVED", "commit": "h"}}"#))
        .collect();
    format!(
        r#"{{"author": "zed", "head_sha": "h", "files": [{{"path": "ledger/migrations/001.sql"}}],
            "reviews": [{}]}}"#,
        reviews.join(",")
    )
}

fn evaluate(dir: &Path, repo: &str, org: Option<&str>, approvers: &[&str], format: &str) -> Output {
    std::fs::write(dir.join("repo.toml"), repo).expect("write");
    std::fs::write(dir.join("pr.json"), snapshot(approvers)).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reviewgate"));
    cmd.current_dir(dir).args([
        "evaluate",
        "--policy",
        "repo.toml",
        "--pr",
        "pr.json",
        "--format",
        format,
    ]);
    if let Some(org) = org {
        std::fs::write(dir.join("org.toml"), org).expect("write");
        cmd.args(["--org-policy", "org.toml"]);
    }
    cmd.output().expect("run")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("json")
}

#[test]
fn the_floor_adds_requirements_the_repository_policy_lacks() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The repository alone: carol (a senior here) is enough.
    let alone = evaluate(dir.path(), REPO_POLICY, None, &["carol"], "json");
    assert_eq!(alone.status.code(), Some(0));
    // With the floor: two approvals and a DBA.
    let floored = evaluate(
        dir.path(),
        REPO_POLICY,
        Some(ORG_POLICY),
        &["carol"],
        "json",
    );
    assert_eq!(floored.status.code(), Some(1));
    let v = json(&floored);
    assert_eq!(
        v["title"],
        "Needs 1 more approval from dba (organisation policy)"
    );
    let origins: Vec<&str> = v["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .map(|r| r["origin"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        origins,
        vec!["repo.toml", "repo.toml", "org.toml", "org.toml"]
    );
    // `seniors` is scoped to its file: the floor's seniors (sam) are another group.
    assert_eq!(v["needs"]["groups"]["seniors"], 1);
    assert!(v["needs"]["groups"].get("seniors (org.toml)").is_none());
    let done = evaluate(
        dir.path(),
        REPO_POLICY,
        Some(ORG_POLICY),
        &["carol", "dora"],
        "text",
    );
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(
        text.contains("path rule \"migrations\" from org.toml"),
        "{text}"
    );
}

#[test]
fn a_repository_cannot_lower_the_floor_and_report_mode_needs_both_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lenient = REPO_POLICY.replace("require = { seniors = 1 }", "level = \"standard\"");
    let o = evaluate(
        dir.path(),
        &lenient,
        Some(ORG_POLICY),
        &["carol", "dora"],
        "json",
    );
    assert_eq!(o.status.code(), Some(0));
    let o = evaluate(dir.path(), &lenient, Some(ORG_POLICY), &["dora"], "json");
    assert_eq!(o.status.code(), Some(1), "the org's two approvals stand");
    assert_eq!(json(&o)["needs"]["approvals"], 2);

    let report = |p: &str| {
        p.replacen(
            "\n[groups]",
            "\n[settings]\nmode = \"report\"\n\n[groups]",
            1,
        )
    };
    let one = evaluate(
        dir.path(),
        &report(&lenient),
        Some(ORG_POLICY),
        &["dora"],
        "json",
    );
    assert!(
        json(&one).get("report_only").is_none(),
        "only the repository says report"
    );
    let both = evaluate(
        dir.path(),
        &report(&lenient),
        Some(&report(ORG_POLICY)),
        &["dora"],
        "json",
    );
    assert_eq!(json(&both)["report_only"], true);
    assert_eq!(
        both.status.code(),
        Some(1),
        "evaluate's exit code is unchanged"
    );
}
