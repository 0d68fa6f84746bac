//! `reviewgate migrate`, driven as an operator would: the real binary, its output, its exit
//! code, and never the database password on its output.

mod store_support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn migrate(url: Option<&str>, dir: &std::path::Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reviewgate"));
    c.arg("migrate")
        .current_dir(dir)
        .env_remove("REVIEWGATE_DATABASE_URL")
        .env_remove("REVIEWGATE_LOG_FORMAT");
    if let Some(url) = url {
        c.env("REVIEWGATE_DATABASE_URL", url);
    }
    c.output().expect("run reviewgate migrate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn default_store_is_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = migrate(None, dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let out = text(&first.stdout);
    assert!(
        out.contains(" applied, store sqlite:reviewgate.db is up to date"),
        "{out}"
    );
    assert!(dir.path().join("reviewgate.db").is_file());
    let again = migrate(None, dir.path());
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        text(&again.stdout),
        "migrations: none to apply, store sqlite:reviewgate.db is up to date\n"
    );
}

#[test]
fn unreachable_store_exits_1_with_one_line_and_no_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let o = migrate(Some("postgres://gate:hunter2@127.0.0.1:1/gate"), dir.path());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("REVIEWGATE_DATABASE_URL"), "{err}");
    assert!(err.contains("gate:***@127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2") && !text(&o.stdout).contains("hunter2"));
}

#[test]
fn malformed_url_or_missing_directory_is_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = migrate(Some("mysql://root:hunter2@db/gate"), dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("REVIEWGATE_DATABASE_URL") && !err.contains("hunter2"),
        "{err}"
    );
    let o = migrate(Some("sqlite:absent/r.db"), dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("REVIEWGATE_DATABASE_URL") && err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_store_is_migrated_once() {
    let Some(db) = store_support::postgres_unmigrated().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let first = migrate(Some(&db.url), dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains(" applied, store postgres://"));
    let again = migrate(Some(&db.url), dir.path());
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).starts_with("migrations: none to apply, store postgres://"));
    db.cleanup().await;
}
