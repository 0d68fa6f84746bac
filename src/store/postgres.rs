//! The store on PostgreSQL, shared by replicas: the SQL, and how it is reached.
//!
//! Replicas meet only in the database, so every decision that two of them could race on is
//! made by a row lock or a unique key inside one transaction: a delivery ID's insert, a claim
//! (`FOR UPDATE SKIP LOCKED`, so claimers never wait on each other), a key's upsert, the
//! write mark of a PR.

use std::collections::HashSet;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, QueryBuilder};

use super::types::{ClaimRow, FactRow, PrKey, Prepared, Upsert, pr_records, to_i64, to_u64};
use super::url::{redact, scrub};
use super::{Accepted, CONNECT_TIMEOUT, Claim, PrRecord, Pruned, StoreError, WriteGate};

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// Connections per replica: evaluations hold one only for a short transaction at a time.
const MAX_CONNECTIONS: u32 = 10;
/// Our advisory lock around migrations ("reviewga" in ASCII), distinct from sqlx's own.
const MIGRATION_LOCK: i64 = 0x7265_7669_6577_6761;
/// Rows per multi-row insert (well under PostgreSQL's 65,535 bind parameters).
const ROWS_PER_INSERT: usize = 500;
/// Rows deleted per statement when pruning, so no transaction holds locks for long.
const PRUNE_CHUNK: i64 = 5_000;
/// Times `accept` is retried after PostgreSQL aborted it to break a deadlock or a
/// serialisation conflict; the batch is sorted to avoid both, this is the safety net.
const ACCEPT_RETRIES: usize = 3;

/// A pool of connections to one database.
#[derive(Clone)]
pub(crate) struct Postgres {
    pub(super) pool: PgPool,
    /// The URL with its password redacted, for messages.
    shown: String,
}

impl Postgres {
    /// Connects once to prove the server can be reached (and to report why not, which a
    /// pool's "timed out" would hide), then keeps a lazily filled pool.
    pub(crate) async fn connect(
        options: PgConnectOptions,
        url: &str,
    ) -> Result<Postgres, StoreError> {
        let shown = redact(url);
        // A replica frozen (or cut off) in the middle of a transaction must not hold its row
        // locks for ever: the server ends such a session after a few seconds, and every
        // operation here is one short transaction.
        let options = options
            .application_name("reviewgate")
            .options([("idle_in_transaction_session_timeout", "10s")]);
        let probe = probe(&options)
            .await
            .map_err(|detail| StoreError::Unreachable {
                url: shown.clone(),
                detail: scrub(&detail, url),
            })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Postgres { pool, shown })
    }

    /// Applies pending migrations once across replicas.
    ///
    /// sqlx's migrator already takes a session-level `pg_advisory_lock` (keyed by the database
    /// name) around its run; we take our own, on the same dedicated connection, so that
    /// counting what is pending and applying it happen under one lock (otherwise two
    /// replicas could both count the same migration as theirs). Both locks are on one
    /// session, so they cannot deadlock each other, and a second replica simply waits for
    /// the first. The connection is not from the pool: if anything fails, closing it releases
    /// both locks, whereas a pooled connection would keep them (sqlx returns early on error
    /// without unlocking).
    pub(crate) async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = probe(&self.pool.connect_options())
            .await
            .map_err(|detail| StoreError::Unreachable {
                url: self.shown.clone(),
                detail,
            })?;
        let q = StoreError::query("migrate");
        let migrate = |source| StoreError::Migrate { source };
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut conn)
            .await
            .map_err(q)?;
        conn.ensure_migrations_table().await.map_err(migrate)?;
        let applied = conn.list_applied_migrations().await.map_err(migrate)?;
        let pending = super::pending_migrations(&MIGRATOR, &applied);
        // `run_direct`, not `run`: `run`'s future is not `Send` (sqlx's "Acquire is not general
        // enough"), and the App migrates from a spawned task.
        MIGRATOR.run_direct(&mut conn).await.map_err(migrate)?;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut conn)
            .await
            .map_err(q)?;
        let _ = conn.close().await;
        Ok(pending)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("ping"))?;
        Ok(())
    }

    pub(crate) async fn accept(
        &self,
        batch: &Prepared<'_>,
        now: i64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut tries = 0;
        loop {
            match self.accept_once(batch, now).await {
                Err(e) if tries < ACCEPT_RETRIES && is_conflict(&e) => tries += 1,
                other => return other.map_err(StoreError::query("accept")),
            }
        }
    }

    async fn accept_once(
        &self,
        batch: &Prepared<'_>,
        now: i64,
    ) -> Result<Vec<Accepted>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let ids = batch.ids();
        let mut inserted = HashSet::new();
        if !ids.is_empty() {
            let new: Vec<(String,)> = sqlx::query_as(
                "INSERT INTO deliveries (id, received_at)
                 SELECT id, $2 FROM UNNEST($1::TEXT[]) AS t(id) ORDER BY id
                 ON CONFLICT (id) DO NOTHING RETURNING id",
            )
            .bind(&ids)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            inserted.extend(new.into_iter().map(|(id,)| id));
        }
        let outcomes = batch.outcomes(&inserted);
        for item in batch.work(&outcomes) {
            upsert(&mut tx, item).await?;
        }
        let pushers = batch.pushers(&outcomes);
        if !pushers.is_empty() {
            let repo_ids: Vec<i64> = pushers.iter().map(|p| p.0).collect();
            let prs: Vec<i64> = pushers.iter().map(|p| p.1).collect();
            let logins: Vec<&str> = pushers.iter().map(|p| p.2).collect();
            sqlx::query(
                "INSERT INTO pushers (repo_id, pr, login)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[]) ORDER BY 1, 2, 3
                 ON CONFLICT DO NOTHING",
            )
            .bind(&repo_ids)
            .bind(&prs)
            .bind(&logins)
            .execute(&mut *tx)
            .await?;
        }
        let heads = batch.pusher_heads(&outcomes);
        if !heads.is_empty() {
            sqlx::query(
                "INSERT INTO pusher_heads (repo_id, pr, login, head_sha)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[])
                 ORDER BY 1, 2, 3, 4 ON CONFLICT DO NOTHING",
            )
            .bind(heads.iter().map(|h| h.0).collect::<Vec<i64>>())
            .bind(heads.iter().map(|h| h.1).collect::<Vec<i64>>())
            .bind(heads.iter().map(|h| h.2).collect::<Vec<&str>>())
            .bind(heads.iter().map(|h| h.3.as_str()).collect::<Vec<&str>>())
            .execute(&mut *tx)
            .await?;
        }
        for fact in batch.pr_states(&outcomes) {
            apply_pr_state(&mut tx, fact, now).await?;
        }
        for events in batch.audit_events(&outcomes).chunks(ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::new("INSERT INTO audit_inbox (repo_id, received_at, body) ");
            insert.push_values(events, |mut row, (repo_id, body)| {
                row.push_bind(*repo_id).push_bind(now).push_bind(*body);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    pub(crate) async fn claim(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Claim>, StoreError> {
        let q = StoreError::query("claim");
        let mut tx = self.pool.begin().await.map_err(q)?;
        // SKIP LOCKED: a row another replica is claiming (or a delivery is updating) is
        // passed over, not waited for; the row lock keeps two claimers off one row.
        let row: Option<ClaimRow> = sqlx::query_as(
            "WITH picked AS (
                 SELECT repo_id, key, claimed_by IS NOT NULL AS took_over FROM work
                 WHERE due_at <= $1 AND (claimed_by IS NULL OR lease_until <= $1)
                 ORDER BY due_at, repo_id, key
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE work SET claimed_by = $2, claim_token = nextval('store_seq'),
                 claimed_seq = work.seq, lease_until = $3, evaluate_pr_again = FALSE,
                 attempts = work.attempts + CASE WHEN picked.took_over THEN 1 ELSE 0 END,
                 first_failed_at = CASE WHEN picked.took_over AND work.first_failed_at IS NULL
                                        THEN $1 ELSE work.first_failed_at END
             FROM picked
             WHERE work.repo_id = picked.repo_id AND work.key = picked.key
             RETURNING work.repo_id, work.key, work.installation, work.repo, work.head_sha,
                 work.seq, work.evaluate_pr, work.attempts, work.first_failed_at,
                 work.lease_until, work.claim_token AS token, picked.took_over",
        )
        .bind(now)
        .bind(holder)
        .bind(until)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let groups: Vec<(String,)> = sqlx::query_as(
            "SELECT sha FROM work_merge_groups WHERE repo_id = $1 AND key = $2 AND seq <= $3
             ORDER BY seq, sha",
        )
        .bind(row.repo_id)
        .bind(&row.key)
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
            "UPDATE work SET lease_until = $1
             WHERE repo_id = $2 AND key = $3 AND claimed_by = $4 AND claim_token = $5",
        )
        .bind(until)
        .bind(k.repo_id)
        .bind(k.key)
        .bind(k.holder)
        .bind(k.token)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("renew"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn finish(&self, claim: &Claim, due: i64) -> Result<bool, StoreError> {
        let q = StoreError::query("finish");
        let k = claim.sql_key()?;
        let mut tx = self.pool.begin().await.map_err(q)?;
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, claimed_seq FROM work
             WHERE repo_id = $1 AND key = $2 AND claimed_by = $3 AND claim_token = $4
             FOR UPDATE",
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
        sqlx::query("DELETE FROM work_merge_groups WHERE repo_id = $1 AND key = $2 AND seq <= $3")
            .bind(k.repo_id)
            .bind(k.key)
            .bind(claimed_seq)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        let done = if remains {
            sqlx::query(
                "UPDATE work SET claimed_by = NULL, claim_token = NULL, claimed_seq = NULL,
                     lease_until = NULL, due_at = $3, attempts = 0, first_failed_at = NULL,
                     evaluate_pr = evaluate_pr_again, evaluate_pr_again = FALSE
                 WHERE repo_id = $1 AND key = $2",
            )
            .bind(k.repo_id)
            .bind(k.key)
            .bind(due)
        } else {
            sqlx::query("DELETE FROM work WHERE repo_id = $1 AND key = $2")
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
                 lease_until = NULL, evaluate_pr_again = FALSE, due_at = $1,
                 attempts = attempts + CASE WHEN $2 THEN 1 ELSE 0 END,
                 first_failed_at = CASE WHEN $2 AND first_failed_at IS NULL THEN $3
                                        ELSE first_failed_at END
             WHERE repo_id = $4 AND key = $5 AND claimed_by = $6 AND claim_token = $7",
        )
        .bind(due)
        .bind(failed)
        .bind(now)
        .bind(k.repo_id)
        .bind(k.key)
        .bind(k.holder)
        .bind(k.token)
        .execute(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(q)?;
        let done = sqlx::query(
            "UPDATE work SET claimed_by = NULL, claim_token = NULL, claimed_seq = NULL,
                 lease_until = NULL, evaluate_pr_again = FALSE
             WHERE claimed_by IS NOT NULL AND ($1::TEXT IS NULL OR claimed_by = $1)",
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
        let mut tx = self.pool.begin().await.map_err(q)?;
        // FOR SHARE: the claim cannot be finished or taken over while the write is decided.
        let lease: Option<(i64,)> = sqlx::query_as(
            "SELECT lease_until FROM work
             WHERE repo_id = $1 AND key = $2 AND claimed_by = $3 AND claim_token = $4
             FOR SHARE",
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
            "INSERT INTO pr_writes (repo_id, pr, written_seq, written_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (repo_id, pr) DO UPDATE
                 SET written_seq = EXCLUDED.written_seq, written_at = EXCLUDED.written_at
                 WHERE pr_writes.written_seq <= EXCLUDED.written_seq",
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
                     (SELECT id FROM deliveries WHERE received_at < $1 LIMIT $2)",
            )
            .bind(deliveries_before)
            .bind(PRUNE_CHUNK)
            .execute(&self.pool)
            .await
            .map_err(q)?;
            pruned.deliveries += done.rows_affected();
            if done.rows_affected() < PRUNE_CHUNK.unsigned_abs() {
                break;
            }
        }
        let mut tx = self.pool.begin().await.map_err(q)?;
        let closed = "(repo_id, pr) IN (SELECT repo_id, pr FROM closed_prs WHERE closed_at < $1)";
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
                format!("DELETE FROM pr_writes WHERE {closed} OR written_at < $1"),
                &mut pruned.write_marks,
            ),
            (
                "DELETE FROM closed_prs WHERE closed_at < $1".to_string(),
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
            "SELECT login FROM pushers WHERE repo_id = $1 AND pr = $2 ORDER BY login",
        )
        .bind(repo_id)
        .bind(pr)
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(q)?;
        sqlx::query("DELETE FROM pr_team_orgs WHERE repo_id = $1 AND pr = $2")
            .bind(pr.repo_id)
            .bind(pr.pr)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        for org in orgs {
            sqlx::query(
                "INSERT INTO pr_team_orgs (repo_id, pr, org, installation, repo)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
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
            "SELECT DISTINCT repo_id, pr, installation, repo FROM pr_team_orgs WHERE org = $1
             ORDER BY repo_id, pr",
        )
        .bind(org)
        .fetch_all(&self.pool)
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
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE
                 SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                 WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("try_lease"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("release_lease"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn pending(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM work")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("pending"))?;
        to_u64("pending count", n)
    }
}

/// One connection outside the pool, within [`CONNECT_TIMEOUT`]; the error is the reason.
async fn probe(options: &PgConnectOptions) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// PostgreSQL aborted the transaction to resolve a deadlock or serialisation conflict.
pub(super) fn is_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

/// Coalesces one work item into its key's row (see [`super::WorkItem`]).
///
/// The sequence number is drawn in the `DO UPDATE` branch, after the row lock is held, so
/// a key's numbers grow in the order its items commit; the value drawn for a conflicting
/// insert is simply skipped.
async fn upsert(conn: &mut PgConnection, w: &Upsert<'_>) -> Result<(), sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO work (repo_id, key, installation, repo, head_sha, seq, due_at, evaluate_pr)
         VALUES ($1, $2, $3, $4, $5, nextval('store_seq'), $6, $7)
         ON CONFLICT (repo_id, key) DO UPDATE SET
             installation = EXCLUDED.installation,
             repo = EXCLUDED.repo,
             head_sha = COALESCE(EXCLUDED.head_sha, work.head_sha),
             seq = nextval('store_seq'),
             due_at = LEAST(work.due_at, EXCLUDED.due_at),
             evaluate_pr = work.evaluate_pr OR EXCLUDED.evaluate_pr,
             evaluate_pr_again = CASE WHEN work.claimed_by IS NULL THEN FALSE
                                      ELSE work.evaluate_pr_again OR EXCLUDED.evaluate_pr END
         RETURNING seq",
    )
    .bind(w.repo_id)
    .bind(&w.key)
    .bind(w.installation)
    .bind(w.repo)
    .bind(w.head_sha)
    .bind(w.due_at)
    .bind(w.evaluate_pr)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(sha) = w.merge_group {
        sqlx::query(
            "INSERT INTO work_merge_groups (repo_id, key, sha, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT (repo_id, key, sha) DO UPDATE SET seq = EXCLUDED.seq",
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
    conn: &mut PgConnection,
    fact: &FactRow<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let query = match fact {
        FactRow::Pusher { .. } | FactRow::Audit { .. } => return Ok(()),
        FactRow::Closed { repo_id, pr } => sqlx::query(
            "INSERT INTO closed_prs (repo_id, pr, closed_at) VALUES ($1, $2, $3)
             ON CONFLICT (repo_id, pr) DO UPDATE SET closed_at = EXCLUDED.closed_at",
        )
        .bind(*repo_id)
        .bind(*pr)
        .bind(now),
        FactRow::Reopened { repo_id, pr } => {
            sqlx::query("DELETE FROM closed_prs WHERE repo_id = $1 AND pr = $2")
                .bind(*repo_id)
                .bind(*pr)
        }
    };
    query.execute(conn).await?;
    Ok(())
}
