//! `reviewgate audit export`, `audit verify` and `replay` through the real binary, on a SQLite
//! store filled through the store API with records built as the App builds them.

mod audit_support;

use std::path::Path;
use std::process::{Command, Output};

use audit_support::{BLOB, JULY_1, decision, merge, push};
use reviewgate::audit::{
    Conclusion, DecisionContext, DecisionRecord, PushFacts, PushRecord, Record,
};
use reviewgate::store::Store;
use sqlx::Connection;

/// A migrated SQLite store holding `records` (appended in order), in its own directory.
struct Filled {
    _dir: tempfile::TempDir,
    url: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn fill(records: &mut [Record]) -> Filled {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    runtime().block_on(async {
        let store = Store::connect(&url).await.expect("open");
        store.migrate().await.expect("migrate");
        store.append_records(records).await.expect("append");
    });
    Filled { _dir: dir, url }
}

fn sql(url: &str, statement: &str) {
    runtime().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("sql");
    });
}

fn run(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(args)
        .args(["--database", url])
        .env_remove("REVIEWGATE_DATABASE_URL")
        .output()
        .expect("run reviewgate")
}

fn run_bare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(args)
        .env_remove("REVIEWGATE_DATABASE_URL")
        .output()
        .expect("run reviewgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An approved PR merged, an admin merge of a blocked one, and a direct push to a branch
/// whose name needs quoting in CSV.
fn scenario() -> Vec<Record> {
    let approved = decision("acme/ledger", 7, "h7", &["carol", "dave"], JULY_1);
    let blocked = decision("acme/ledger", 8, "h8", &["dave"], JULY_1);
    vec![
        approved.clone().into(),
        blocked.clone().into(),
        merge(
            "acme/ledger",
            7,
            "h7",
            "2026-07-01T00:00:01Z",
            Some(&approved),
        )
        .into(),
        merge(
            "acme/ledger",
            8,
            "h8",
            "2026-07-01T02:00:00+02:00",
            Some(&blocked),
        )
        .into(),
        PushRecord::new(PushFacts {
            repository: "acme/ledger".into(),
            branch: "hotfix,\"q3\"".into(),
            pusher: "eve".into(),
            after: "e1".into(),
            pushed_at_ms: JULY_1 + 3_600_000,
            commits: vec!["e0".into(), "e1".into()],
            deleted: false,
        })
        .into(),
    ]
}

#[test]
fn export_csv_is_exact_rfc4180_with_empty_cells_for_null() {
    let mut records = scenario();
    let store = fill(&mut records);
    let out = run(
        &[
            "audit",
            "export",
            "--since",
            "2026-07-01",
            "--until",
            "2026-10-01",
        ],
        &store.url,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (d7, d8) = (records[0].id(), records[1].id());
    let expected = format!(
        "kind,repository,pr,merge_sha,merged_at,merged_by,author,base,policy_blob_sha,gate_passed,approvers,decision_id,commits\r\n\
         merge,acme/ledger,8,mh8,2026-07-01T00:00:00Z,lena,zed,main,{BLOB},false,dave,{d8},h8\r\n\
         merge,acme/ledger,7,mh7,2026-07-01T00:00:01Z,lena,zed,main,{BLOB},true,carol (seniors: @acme/senior-engineers); dave,{d7},h7\r\n\
         push,acme/ledger,,e1,2026-07-01T01:00:00Z,eve,,\"hotfix,\"\"q3\"\"\",,false,,,e0 e1\r\n"
    );
    assert_eq!(stdout(&out), expected);
    assert!(
        !out.stdout.starts_with(&[0xEF, 0xBB, 0xBF]),
        "no byte-order mark"
    );

    let unapproved = run(
        &[
            "audit",
            "export",
            "--unapproved-only",
            "--repo",
            "acme/ledger",
        ],
        &store.url,
    );
    let lines: Vec<String> = stdout(&unapproved)
        .split("\r\n")
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "header, the admin merge, the push, and the final empty split"
    );
    assert!(lines[1].starts_with("merge,acme/ledger,8,") && lines[2].starts_with("push,"));
}

#[test]
fn export_json_lines_have_the_same_keys_in_order() {
    let mut records = scenario();
    let store = fill(&mut records);
    let out = run(&["audit", "export", "--format", "json"], &store.url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let merge: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(merge["gate_passed"], true);
    assert_eq!(
        merge["approvers"],
        serde_json::json!([
            {"login": "carol", "groups": {"seniors": "@acme/senior-engineers"}},
            {"login": "dave", "groups": {}}
        ])
    );
    assert_eq!(merge["commits"], serde_json::json!(["h7"]));
    let push: serde_json::Value = serde_json::from_str(lines[2]).expect("json");
    assert_eq!(
        (&push["pr"], &push["author"], &push["decision_id"]),
        (
            &serde_json::Value::Null,
            &serde_json::Value::Null,
            &serde_json::Value::Null
        )
    );
    let keys = reviewgate::audit::COLUMNS;
    let at: Vec<usize> = keys
        .iter()
        .map(|k| lines[0].find(&format!("\"{k}\":")).expect("key"))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{}", lines[0]);
}

#[test]
fn no_rows_is_the_header_alone_or_nothing() {
    let store = fill(&mut scenario());
    let csv = run(&["audit", "export", "--since", "2027-01-01"], &store.url);
    assert_eq!(csv.status.code(), Some(0));
    assert_eq!(
        stdout(&csv),
        "kind,repository,pr,merge_sha,merged_at,merged_by,author,base,policy_blob_sha,gate_passed,approvers,decision_id,commits\r\n"
    );
    let json = run(
        &[
            "audit",
            "export",
            "--format",
            "json",
            "--repo",
            "acme/other",
        ],
        &store.url,
    );
    assert_eq!((json.status.code(), stdout(&json).as_str()), (Some(0), ""));
}

#[test]
fn bad_flags_exit_2_with_one_line_naming_the_flag() {
    let store = fill(&mut scenario());
    for (args, flag) in [
        (vec!["audit", "export", "--since", "July"], "--since"),
        (vec!["audit", "export", "--until", "2026-02-30"], "--until"),
        (vec!["audit", "export", "--format", "xml"], "--format"),
        (vec!["audit", "export", "--repo", "ledger"], "--repo"),
    ] {
        let out = run(&args, &store.url);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(flag), "{err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn exported_decisions_replay_from_their_files() {
    let mut records = scenario();
    let store = fill(&mut records);
    let out = run(
        &["audit", "export", "--decisions", "--since", "2026-07-01"],
        &store.url,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let dir = tempfile::tempdir().expect("dir");
    for (i, line) in lines.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(value["policy"], audit_support::POLICY, "policy inline");
        let hash = reviewgate::audit::record_hash(&value).expect("hash");
        assert_eq!(value["hash"], hash.as_str(), "exactly what was hashed");
        let file = dir.path().join(format!("d{i}.json"));
        std::fs::write(&file, line).expect("write");
        let replayed = run_bare(&["replay", "--record", &file.display().to_string()]);
        assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
        assert!(
            stdout(&replayed).contains(": same verdict: "),
            "{}",
            stdout(&replayed)
        );
    }
}

#[test]
fn verify_exits_0_intact_1_broken_2_unreadable() {
    let mut records = scenario();
    let store = fill(&mut records);
    let ok = run(&["audit", "verify"], &store.url);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(stdout(&ok), "1 chain, 5 records: intact\n");

    let edited = records[2].id();
    sql(
        &store.url,
        &format!(
            "UPDATE audit_records SET body = REPLACE(body, '\"lena\"', '\"mallory\"') WHERE id = '{edited}'"
        ),
    );
    let broken = run(&["audit", "verify"], &store.url);
    assert_eq!(broken.status.code(), Some(1));
    let err = stderr(&broken);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("acme/ledger: record {edited}: hash check failed")),
        "{err}"
    );

    let missing = run(&["audit", "verify"], "sqlite:/nonexistent/dir/store.db");
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(stderr(&missing).lines().count(), 1);
    let unknown_repo = run(&["audit", "verify", "--repo", "acme/none"], &store.url);
    assert_eq!(unknown_repo.status.code(), Some(2));
}

#[test]
fn verify_reports_a_removed_record_as_a_broken_link() {
    let mut records = scenario();
    let store = fill(&mut records);
    sql(
        &store.url,
        &format!("DELETE FROM audit_records WHERE id = '{}'", records[1].id()),
    );
    let out = run(&["audit", "verify", "--repo", "acme/ledger"], &store.url);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("acme/ledger: record {}: link check failed", records[2].id());
    assert!(stderr(&out).starts_with(&expected), "{}", stderr(&out));
}

#[test]
fn replay_by_id_exits_0_same_1_different_2_unreplayable() {
    let approved = decision("acme/ledger", 7, "h7", &["carol", "dave"], JULY_1);
    // A decision whose recorded conclusion today's evaluator does not reach.
    let mut forged = decision("acme/ledger", 9, "h9", &["dave"], JULY_1);
    forged.conclusion = Conclusion::Success;
    forged.title = "Approved by dave".into();
    let blind = DecisionRecord::unevaluated(
        DecisionContext {
            repository: "acme/ledger".into(),
            pr: Some(10),
            base: Some("main".into()),
            head_sha: "h10".into(),
            policy_path: audit_support::POLICY_PATH.into(),
            evaluated_at_ms: JULY_1,
            other_prs: vec![],
            pr_updated_at: None,
        },
        None,
        Conclusion::Failure,
        "Could not read the review policy from GitHub; will retry".into(),
    );
    let mut records: Vec<Record> = vec![
        approved.into(),
        forged.into(),
        blind.into(),
        push("acme/ledger", "x1", JULY_1).into(),
    ];
    let store = fill(&mut records);

    let same = run(&["replay", records[0].id()], &store.url);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(
        stdout(&same),
        format!(
            "{}: same verdict: success: Approved by carol, dave\n",
            records[0].id()
        )
    );
    let different = run(&["replay", records[1].id()], &store.url);
    assert_eq!(different.status.code(), Some(1), "{}", stderr(&different));
    let text = stdout(&different);
    assert!(
        text.contains("  recorded: success: Approved by dave\n"),
        "{text}"
    );
    assert!(
        text.contains("  today:    failure: Needs 1 more approval from seniors\n"),
        "{text}"
    );

    for (id, says) in [
        (records[2].id(), "not replayable"),
        (records[3].id(), "is a push record, not a decision record"),
        ("d-01UNKNOWN", "no record"),
    ] {
        let out = run(&["replay", id], &store.url);
        assert_eq!(out.status.code(), Some(2), "{id}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
}

#[test]
fn replay_of_a_malformed_file_names_line_and_column() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("r.json");
    std::fs::write(&file, "{\n  \"kind\": \"decision\",\n  \"id\": d-1\n}\n").expect("write");
    let out = run_bare(&["replay", "--record", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3:9: ", file.display())), "{err}");
    let merge_file = dir.path().join("m.json");
    std::fs::write(&merge_file, r#"{"kind": "merge"}"#).expect("write");
    let out = run_bare(&["replay", "--record", &merge_file.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a decision record"),
        "{}",
        stderr(&out)
    );
    let nowhere = run_bare(&[
        "replay",
        "--record",
        &Path::new("/nonexistent/r.json").display().to_string(),
    ]);
    assert_eq!(nowhere.status.code(), Some(2));
}

#[test]
fn a_missing_sqlite_store_is_reported_not_created() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("absent.db");
    let out = run(&["audit", "export"], &format!("sqlite:{}", path.display()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no such file"), "{}", stderr(&out));
    assert!(!path.exists(), "not created");
}

/// A store without the audit tables (never migrated) is named as such, with what to run.
#[test]
fn a_store_without_the_audit_tables_says_to_migrate() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("empty.db");
    std::fs::write(&file, b"").expect("an empty SQLite file");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args([
            "audit",
            "verify",
            "--database",
            &format!("sqlite:{}", file.display()),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run `reviewgate migrate` to add the tables"),
        "{err}"
    );
}
