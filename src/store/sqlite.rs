//! The store on a SQLite file: the SQL, and how the file is opened.
//!
//! SQLite allows one writer at a time. Writes go through a pool of exactly one connection, so
//! within the process they queue for it instead of failing with `SQLITE_BUSY`; every write
//! transaction starts with `BEGIN IMMEDIATE`, taking the write lock before reading, so even a
//! second process on the file (a test, an operator's `reviewgate migrate`) waits for the busy
//! timeout rather than failing part-way. Reads (`pushers`, `pending`, `ping`, …) use a separate
//! pool and, thanks to WAL, never wait for a writer.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite as Db, Transaction};

use super::types::{ClaimRow, FactRow, PrKey, Prepared, Upsert, pr_records, to_i64, to_u64};
use super::url::{redact, scrub};
use super::{Accepted, CONNECT_TIMEOUT, Claim, PrRecord, Pruned, StoreError, WriteGate};

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections for reads; SQLite in WAL mode serves them alongside the one writer.
const READERS: u32 = 4;
/// Rows per multi-row INSERT, well below SQLite's limit of 32,766 bound values.
const ROWS_PER_INSERT: usize = 500;
/// Rows deleted per statement when pruning, so the writer is never held for long.
const PRUNE_CHUNK: i64 = 5_000;

/// The two pools over one file.
#[derive(Clone)]
pub(crate) struct Sqlite {
    pub(super) write: SqlitePool,
    pub(super) read: SqlitePool,
}

impl Sqlite {
    /// Opens (creating if missing) the file at `path`; `url` is for messages.
    pub(crate) async fn connect(path: &Path, url: &str) -> Result<Sqlite, StoreError> {
        let unreachable = |detail: String| StoreError::Unreachable {
            url: redact(url),
            detail: scrub(&detail, url),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(unreachable(format!(
                    "directory {} does not exist; create it (the database file is created, its directory is not)",
                    dir.display()
                )));
            }
        }
        // synchronous=FULL: a webhook is answered 2xx once its work is committed, so a commit
        // must survive power loss, not only a crash of the process (NORMAL in WAL mode may
        // lose the last commits on power loss). Measured (tests/store_bench.rs, release build,
        // this project's 2-core machine): FULL costs one fsync per commit, 1.2 ms against
        // 0.6 ms per single-delivery commit (~780 against ~1,500 deliveries/s), and 8,600
        // against 12,300 deliveries/s in batches of 32. Batching deliveries into one commit
        // pays for durability; NORMAL would not be needed for the 2,000/s.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let open = |max: u32| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_with(options.clone())
        };
        let bounded = |r: Result<Result<SqlitePool, sqlx::Error>, _>| match r {
            Ok(Ok(pool)) => Ok(pool),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        };
        // The writer first: it creates the file and switches it to WAL.
        let write = bounded(tokio::time::timeout(CONNECT_TIMEOUT, open(1)).await)?;
        let read = bounded(tokio::time::timeout(CONNECT_TIMEOUT, open(READERS)).await)?;
        Ok(Sqlite { write, read })
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Db>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    /// Applies pending migrations on the writer, so nothing writes meanwhile. sqlx's SQLite
    /// migrator takes no lock of its own; one process owns a SQLite file.
    pub(crate) async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self
            .write
            .acquire()
            .await
            .map_err(StoreError::query("migrate"))?;
        let migrate = |source| StoreError::Migrate { source };
        conn.ensure_migrations_table().await.map_err(migrate)?;
        let applied = conn.list_applied_migrations().await.map_err(migrate)?;
        let pending = super::pending_migrations(&MIGRATOR, &applied);
        // `run_direct`, not `run`: `run`'s future is not `Send` (sqlx's "Acquire is not general
        // enough"), and the App migrates from a spawned task.
        MIGRATOR.run_direct(&mut *conn).await.map_err(migrate)?;
        Ok(pending)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(StoreError::query("ping"))?;
        Ok(())
    }

    pub(crate) async fn accept(
        &self,
        batch: &Prepared<'_>,
        now: i64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let q = StoreError::query("accept");
        let mut tx = self.begin().await.map_err(q)?;
        let mut inserted = HashSet::new();
        for ids in batch.ids().chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::new("INSERT INTO deliveries (id, received_at) ");
            insert.push_values(ids, |mut row, id| {
                row.push_bind(*id).push_bind(now);
            });
            insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let new: Vec<(String,)> = insert
                .build_query_as()
                .fetch_all(&mut *tx)
                .await
                .map_err(q)?;
            inserted.extend(new.into_iter().map(|(id,)| id));
        }
        let outcomes = batch.outcomes(&inserted);
        let work = batch.work(&outcomes);
        if !work.is_empty() {
            // The write lock is held from BEGIN IMMEDIATE to COMMIT, so the counter can be
            // read once, advanced here, and written back once.
            let (mut seq,): (i64,) =
                sqlx::query_as("SELECT value FROM counters WHERE name = 'seq'")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(q)?;
            for item in work {
                seq += 1;
                upsert(&mut tx, item, seq).await.map_err(q)?;
            }
            sqlx::query("UPDATE counters SET value = ?1 WHERE name = 'seq'")
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(q)?;
        }
        for pushers in batch.pushers(&outcomes).chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::new("INSERT INTO pushers (repo_id, pr, login) ");
            insert.push_values(pushers, |mut row, (repo_id, pr, login)| {
                row.push_bind(*repo_id).push_bind(*pr).push_bind(*login);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut *tx).await.map_err(q)?;
        }
        for heads in batch.pusher_heads(&outcomes).chunks(ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::new("INSERT INTO pusher_heads (repo_id, pr, login, head_sha) ");
            insert.push_values(heads, |mut row, (repo_id, pr, login, sha)| {
                row.push_bind(*repo_id)
                    .push_bind(*pr)
                    .push_bind(*login)
                    .push_bind(sha.as_str());
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut *tx).await.map_err(q)?;
        }
        for fact in batch.pr_states(&outcomes) {
            apply_pr_state(&mut tx, fact, now).await.map_err(q)?;
        }
        for events in batch.audit_events(&outcomes).chunks(ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::new("INSERT INTO audit_inbox (repo_id, received_at, body) ");
            insert.push_values(events, |mut row, (repo_id, body)| {
                row.push_bind(*repo_id).push_bind(now).push_bind(*body);
            });
            insert.build().execute(&mut *tx).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(outcomes)
    }

    pub(crate) async fn claim(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Claim>, StoreError> {
        let q = StoreError::query("claim");
        let mut tx = self.begin().await.map_err(q)?;
        let picked: Option<(i64, String, bool)> = sqlx::query_as(
            "SELECT repo_id, key, claimed_by IS NOT NULL FROM work
             WHERE due_at <= ?1 AND (claimed_by IS NULL OR lease_until <= ?1)
             ORDER BY due_at, repo_id, key LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((repo_id, key, took_over)) = picked else {
            return Ok(None);
        };
        let token = next_seq(&mut tx).await.map_err(q)?;
        let row: ClaimRow = sqlx::query_as(
            "UPDATE work SET claimed_by = ?1, claim_token = ?2, claimed_seq = seq,
                 lease_until = ?3, evaluate_pr_again = 0,
                 attempts = attempts + ?4,
                 first_failed_at = CASE WHEN ?4 = 1 AND first_failed_at IS NULL THEN ?5
                                        ELSE first_failed_at END
             WHERE repo_id = ?6 AND key = ?7
             RETURNING repo_id, key, installation, repo, head_sha, seq, evaluate_pr, attempts,
                 first_failed_at, lease_until, claim_token AS token, ?4 AS took_over",
        )
        .bind(holder)
        .bind(token)
        .bind(until)
        .bind(i64::from(took_over))
        .bind(now)
        .bind(repo_id)
        .bind(&key)
        .fetch_one(&mut *tx)
        .await
        .map_err(q)?;
        let groups: Vec<(String,)> = sqlx::query_as(
            "SELECT sha FROM work_merge_groups WHERE repo_id = ?1 AND key = ?2 AND seq <= ?3
             ORDER BY seq, sha",
        )
        .bind(repo_id)
        .bind(&key)
        .bind(row.seq)
        .fetch_all(&mut *tx)
        .await
        .map_err(q)?;
        tx.commit().await.map_err(q)?;
        let groups = groups.into_iter().map(|(sha,)| sha).collect();
        row.into_claim(holder, groups).map(Some)
    }

    pub(crate) async fn renew(&self, claim: &Claim, until: i64) -> Result<bool, StoreError> {
        let k = claim.sql_key()?;
        let done = sqlx::query(
            "UPDATE work SET lease_until = ?1
             WHERE repo_id = ?2 AND key = ?3 AND claimed_by = ?4 AND claim_token = ?5",
        )
        .bind(until)
        .bind(k.repo_id)
        .bind(k.key)
        .bind(k.holder)
        .bind(k.token)
        .execute(&self.write)
        .await
        .map_err(StoreError::query("renew"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn finish(&self, claim: &Claim, due: i64) -> Result<bool, StoreError> {
        let q = StoreError::query("finish");
        let k = claim.sql_key()?;
        let mut tx = self.begin().await.map_err(q)?;
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, claimed_seq FROM work
             WHERE repo_id = ?1 AND key = ?2 AND claimed_by = ?3 AND claim_token = ?4",
        )
        .bind(k.repo_id)
        .bind(k.key)
        .bind(k.holder)
        .bind(k.token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((seq, claimed_seq)) = row else {
            return Err(claim.lost());
        };
        let remains = seq != claimed_seq;
        sqlx::query("DELETE FROM work_merge_groups WHERE repo_id = ?1 AND key = ?2 AND seq <= ?3")
            .bind(k.repo_id)
            .bind(k.key)
            .bind(claimed_seq)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        let done = if remains {
            sqlx::query(
                "UPDATE work SET claimed_by = NULL, claim_token = NULL, claimed_seq = NULL,
                     lease_until = NULL, due_at = ?3, attempts = 0, first_failed_at = NULL,
                     evaluate_pr = evaluate_pr_again, evaluate_pr_again = 0
                 WHERE repo_id = ?1 AND key = ?2",
            )
            .bind(k.repo_id)
            .bind(k.key)
            .bind(due)
        } else {
            sqlx::query("DELETE FROM work WHERE repo_id = ?1 AND key = ?2")
                .bind(k.repo_id)
                .bind(k.key)
        };
        done.execute(&mut *tx).await.map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(remains)
    }

    pub(crate) async fn release(
        &self,
        claim: &Claim,
        now: i64,
        due: i64,
        failed: bool,
    ) -> Result<(), StoreError> {
        let k = claim.sql_key()?;
        let done = sqlx::query(
            "UPDATE work SET claimed_by = NULL, claim_token = NULL, claimed_seq = NULL,
                 lease_until = NULL, evaluate_pr_again = 0, due_at = ?1,
                 attempts = attempts + ?2,
                 first_failed_at = CASE WHEN ?2 = 1 AND first_failed_at IS NULL THEN ?3
                                        ELSE first_failed_at END
             WHERE repo_id = ?4 AND key = ?5 AND claimed_by = ?6 AND claim_token = ?7",
        )
        .bind(due)
        .bind(i64::from(failed))
        .bind(now)
        .bind(k.repo_id)
        .bind(k.key)
        .bind(k.holder)
        .bind(k.token)
        .execute(&self.write)
        .await
        .map_err(StoreError::query("release"))?;
        if done.rows_affected() == 0 {
            return Err(claim.lost());
        }
        Ok(())
    }

    /// Releases the claims of `holder`, or of everyone.
    pub(crate) async fn release_claims(&self, holder: Option<&str>) -> Result<u64, StoreError> {
        let q = StoreError::query("release claims");
        let mut tx = self.begin().await.map_err(q)?;
        let done = sqlx::query(
            "UPDATE work SET claimed_by = NULL, claim_token = NULL, claimed_seq = NULL,
                 lease_until = NULL, evaluate_pr_again = 0
             WHERE claimed_by IS NOT NULL AND (?1 IS NULL OR claimed_by = ?1)",
        )
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        if holder.is_none() {
            sqlx::query("DELETE FROM leases")
                .execute(&mut *tx)
                .await
                .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn gate_write(
        &self,
        claim: &Claim,
        pr: i64,
        now: i64,
        min_left: i64,
    ) -> Result<WriteGate, StoreError> {
        let q = StoreError::query("gate_write");
        let k = claim.sql_key()?;
        let seq = to_i64("sequence number", claim.seq)?;
        let mut tx = self.begin().await.map_err(q)?;
        let lease: Option<(i64,)> = sqlx::query_as(
            "SELECT lease_until FROM work
             WHERE repo_id = ?1 AND key = ?2 AND claimed_by = ?3 AND claim_token = ?4",
        )
        .bind(k.repo_id)
        .bind(k.key)
        .bind(k.holder)
        .bind(k.token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((lease_until,)) = lease else {
            return Ok(WriteGate::Lost);
        };
        if lease_until.saturating_sub(now) <= min_left {
            return Ok(WriteGate::LeaseTooShort);
        }
        let done = sqlx::query(
            "INSERT INTO pr_writes (repo_id, pr, written_seq, written_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (repo_id, pr) DO UPDATE
                 SET written_seq = excluded.written_seq, written_at = excluded.written_at
                 WHERE pr_writes.written_seq <= excluded.written_seq",
        )
        .bind(k.repo_id)
        .bind(pr)
        .bind(seq)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        if done.rows_affected() == 0 {
            return Ok(WriteGate::Stale);
        }
        tx.commit().await.map_err(q)?;
        Ok(WriteGate::Allowed)
    }

    pub(crate) async fn prune(
        &self,
        deliveries_before: i64,
        closed_before: i64,
    ) -> Result<Pruned, StoreError> {
        let q = StoreError::query("prune");
        let mut pruned = Pruned::default();
        loop {
            let done = sqlx::query(
                "DELETE FROM deliveries WHERE id IN
                     (SELECT id FROM deliveries WHERE received_at < ?1 LIMIT ?2)",
            )
            .bind(deliveries_before)
            .bind(PRUNE_CHUNK)
            .execute(&self.write)
            .await
            .map_err(q)?;
            pruned.deliveries += done.rows_affected();
            if done.rows_affected() < PRUNE_CHUNK.unsigned_abs() {
                break;
            }
        }
        let mut tx = self.begin().await.map_err(q)?;
        let closed = "(repo_id, pr) IN (SELECT repo_id, pr FROM closed_prs WHERE closed_at < ?1)";
        for (sql, count) in [
            (
                format!("DELETE FROM pushers WHERE {closed}"),
                &mut pruned.pushers,
            ),
            (
                format!("DELETE FROM pusher_heads WHERE {closed}"),
                &mut pruned.pusher_heads,
            ),
            (
                format!("DELETE FROM head_fingerprints WHERE {closed}"),
                &mut pruned.fingerprints,
            ),
            (
                format!("DELETE FROM review_requests WHERE {closed}"),
                &mut pruned.review_requests,
            ),
            (
                format!("DELETE FROM review_request_bars WHERE {closed}"),
                &mut pruned.review_request_bars,
            ),
            (
                format!("DELETE FROM pr_team_orgs WHERE {closed}"),
                &mut pruned.team_orgs,
            ),
            (
                format!("DELETE FROM pr_writes WHERE {closed} OR written_at < ?1"),
                &mut pruned.write_marks,
            ),
            (
                "DELETE FROM closed_prs WHERE closed_at < ?1".to_string(),
                &mut pruned.closed_prs,
            ),
        ] {
            let done = sqlx::query(&sql)
                .bind(closed_before)
                .execute(&mut *tx)
                .await
                .map_err(q)?;
            *count = done.rows_affected();
        }
        tx.commit().await.map_err(q)?;
        Ok(pruned)
    }

    pub(crate) async fn pushers(&self, repo_id: i64, pr: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT login FROM pushers WHERE repo_id = ?1 AND pr = ?2 ORDER BY login",
        )
        .bind(repo_id)
        .bind(pr)
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::query("pushers"))?;
        Ok(rows.into_iter().map(|(l,)| l).collect())
    }

    /// Replaces the PR's organisations with `orgs` (already lower case, distinct).
    pub(crate) async fn record_team_orgs(
        &self,
        pr: PrKey,
        repo: &str,
        orgs: &[String],
    ) -> Result<(), StoreError> {
        let q = StoreError::query("record_team_orgs");
        let mut tx = self.begin().await.map_err(q)?;
        sqlx::query("DELETE FROM pr_team_orgs WHERE repo_id = ?1 AND pr = ?2")
            .bind(pr.repo_id)
            .bind(pr.pr)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        for org in orgs {
            sqlx::query(
                "INSERT INTO pr_team_orgs (repo_id, pr, org, installation, repo)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(pr.repo_id)
            .bind(pr.pr)
            .bind(org)
            .bind(pr.installation)
            .bind(repo)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(())
    }

    pub(crate) async fn prs_naming_org(&self, org: &str) -> Result<Vec<PrRecord>, StoreError> {
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT DISTINCT repo_id, pr, installation, repo FROM pr_team_orgs WHERE org = ?1
             ORDER BY repo_id, pr",
        )
        .bind(org)
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::query("prs_naming_org"))?;
        pr_records(rows)
    }

    pub(crate) async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE
                 SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(StoreError::query("try_lease"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.write)
            .await
            .map_err(StoreError::query("release_lease"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn pending(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM work")
            .fetch_one(&self.read)
            .await
            .map_err(StoreError::query("pending"))?;
        to_u64("pending count", n)
    }
}

/// The next value of the store's one counter.
async fn next_seq(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    let (v,): (i64,) =
        sqlx::query_as("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value")
            .fetch_one(conn)
            .await?;
    Ok(v)
}

/// Coalesces one work item into its key's row (see [`super::WorkItem`]) with sequence
/// number `seq`.
async fn upsert(conn: &mut SqliteConnection, w: &Upsert<'_>, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO work (repo_id, key, installation, repo, head_sha, seq, due_at, evaluate_pr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (repo_id, key) DO UPDATE SET
             installation = excluded.installation,
             repo = excluded.repo,
             head_sha = COALESCE(excluded.head_sha, work.head_sha),
             seq = excluded.seq,
             due_at = MIN(work.due_at, excluded.due_at),
             evaluate_pr = work.evaluate_pr OR excluded.evaluate_pr,
             evaluate_pr_again = CASE WHEN work.claimed_by IS NULL THEN 0
                                      ELSE work.evaluate_pr_again OR excluded.evaluate_pr END",
    )
    .bind(w.repo_id)
    .bind(&w.key)
    .bind(w.installation)
    .bind(w.repo)
    .bind(w.head_sha)
    .bind(seq)
    .bind(w.due_at)
    .bind(w.evaluate_pr)
    .execute(&mut *conn)
    .await?;
    if let Some(sha) = w.merge_group {
        sqlx::query(
            "INSERT INTO work_merge_groups (repo_id, key, sha, seq) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (repo_id, key, sha) DO UPDATE SET seq = excluded.seq",
        )
        .bind(w.repo_id)
        .bind(&w.key)
        .bind(sha)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records a PR's close or reopen.
async fn apply_pr_state(
    conn: &mut SqliteConnection,
    fact: &FactRow<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let query = match fact {
        FactRow::Pusher { .. } | FactRow::Audit { .. } => return Ok(()),
        FactRow::Closed { repo_id, pr } => sqlx::query(
            "INSERT INTO closed_prs (repo_id, pr, closed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (repo_id, pr) DO UPDATE SET closed_at = excluded.closed_at",
        )
        .bind(*repo_id)
        .bind(*pr)
        .bind(now),
        FactRow::Reopened { repo_id, pr } => {
            sqlx::query("DELETE FROM closed_prs WHERE repo_id = ?1 AND pr = ?2")
                .bind(*repo_id)
                .bind(*pr)
        }
    };
    query.execute(conn).await?;
    Ok(())
}
