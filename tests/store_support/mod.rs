//! A fresh store per test, on either back end, so one suite can prove both behave alike.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a schema of its own, named at random,
//! in the database `REVIEWGATE_TEST_DATABASE_URL` names (reached through `search_path`), so
//! tests run in parallel without seeing each other's rows; the schema is dropped at the end
//! (and `.ci/run` drops the whole database after the run, should a failing test leave one).
// Each test binary uses only part of the harness.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reviewgate::store::{Delivery, Fact, Store, Subject, WorkItem};
use sqlx::Connection;

/// The variable naming the PostgreSQL database tests may create schemas in.
pub const PG_ENV: &str = "REVIEWGATE_TEST_DATABASE_URL";

/// A migrated store and what is needed to open more connections to it and clean it up.
pub struct Db {
    pub store: Store,
    /// The URL of this store, for opening a second "replica" on it.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the schema to drop.
    schema: Option<(String, String)>,
}

impl Db {
    /// Another store on the same database: another replica, another pool.
    pub async fn replica(&self) -> Store {
        Store::connect(&self.url).await.expect("connect replica")
    }

    /// Drops the PostgreSQL schema; SQLite's directory goes with the value.
    pub async fn cleanup(self) {
        if let Some((server, schema)) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(server)
                .await
                .expect("connect for cleanup");
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .expect("drop schema");
        }
    }
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh SQLite store, not yet migrated.
pub async fn sqlite_unmigrated() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let store = Store::connect(&url).await.expect("open sqlite");
    Db {
        store,
        url,
        _dir: Some(dir),
        schema: None,
    }
}

/// A fresh SQLite store, migrated.
pub async fn sqlite() -> Db {
    let db = sqlite_unmigrated().await;
    db.store.migrate().await.expect("migrate sqlite");
    db
}

/// A fresh PostgreSQL schema, not yet migrated; None (and a line saying so) when
/// `REVIEWGATE_TEST_DATABASE_URL` is not set.
pub async fn postgres_unmigrated() -> Option<Db> {
    let Ok(server) = std::env::var(PG_ENV) else {
        println!("skipped: {PG_ENV} is not set");
        return None;
    };
    let schema = unique("t");
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but cannot be reached: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{sep}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url).await.expect("connect postgres");
    Some(Db {
        store,
        url,
        _dir: None,
        schema: Some((server, schema)),
    })
}

/// A fresh PostgreSQL schema, migrated; None when not configured.
pub async fn postgres() -> Option<Db> {
    let db = postgres_unmigrated().await?;
    db.store.migrate().await.expect("migrate postgres");
    Some(db)
}

/// Runs each named `async fn(&Db)` against SQLite and against PostgreSQL, as tests
/// `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::store_support::sqlite().await;
                super::$name(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::store_support::postgres().await else {
                    return;
                };
                super::$name(&db).await;
                db.cleanup().await;
            }
        }
    )* };
}

/// A delivery with one work item for PR `pr` of repository 1.
pub fn pr_delivery(id: &str, pr: u64) -> Delivery {
    Delivery {
        id: id.to_string(),
        work: vec![pr_item(1, pr, None, Duration::ZERO)],
        facts: vec![],
    }
}

/// A PR work item, optionally for a merge group.
pub fn pr_item(repo_id: u64, pr: u64, merge_group: Option<&str>, delay: Duration) -> WorkItem {
    WorkItem {
        repo_id,
        subject: Subject::Pr {
            number: pr,
            merge_group: merge_group.map(str::to_string),
        },
        installation: 7,
        repo: "acme/ledger".to_string(),
        head_sha: None,
        delay,
    }
}

/// A delivery carrying only facts.
pub fn facts(id: &str, facts: Vec<Fact>) -> Delivery {
    Delivery {
        id: id.to_string(),
        work: vec![],
        facts,
    }
}

pub const DAY_MS: i64 = 86_400_000;
