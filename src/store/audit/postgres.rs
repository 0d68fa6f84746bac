//! The audit records' SQL on PostgreSQL, shared by replicas. Appenders serialise per chain on
//! the head row (`SELECT … FOR UPDATE`, inserted first if missing), taken for every chain of a
//! batch in one global order (by repository name), so two batches cannot deadlock and a chain
//! cannot fork: the second appender reads the head the first one wrote.

use std::collections::BTreeMap;

use sqlx::postgres::PgConnection;

use crate::audit::{CheckpointRecord, Record, ZERO_HASH};

use super::super::StoreError;
use super::super::postgres::{Postgres, is_conflict};
use super::rows::{NewRow, RecordRow, SELECT, seal_row};
use super::{Page, StoredRecord, bounds, stored};

/// A decision's policy text joined to its record.
const WITH_POLICY: &str = "p.text AS policy FROM audit_records r LEFT JOIN audit_policies p \
     ON r.kind = 'decision' AND p.blob_sha = r.policy_blob_sha";

/// Times an append is retried after PostgreSQL aborted it to break a deadlock or a
/// serialisation conflict (the lock order avoids both; this is the safety net).
const APPEND_RETRIES: usize = 3;

impl Postgres {
    pub(crate) async fn append_records(
        &self,
        records: &mut [Record],
        at: Option<i64>,
        consume: Option<(i64, i64)>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let mut tries = 0;
        loop {
            match self.append_once(records, at, consume).await {
                Err(StoreError::Query { source, .. })
                    if tries < APPEND_RETRIES && is_conflict(&source) =>
                {
                    tries += 1
                }
                other => return other,
            }
        }
    }

    async fn append_once(
        &self,
        records: &mut [Record],
        at: Option<i64>,
        consume: Option<(i64, i64)>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let q = StoreError::query("append_record");
        let mut tx = self.pool.begin().await.map_err(q)?;
        if let Some((repo_id, id)) = consume {
            let gone = sqlx::query("DELETE FROM audit_inbox WHERE repo_id = $1 AND id = $2")
                .bind(repo_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(q)?;
            if gone.rows_affected() == 0 {
                return Ok(Vec::new());
            }
        }
        let mut heads: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for record in records.iter() {
            heads.insert(record.repository().to_string(), (0, String::new()));
        }
        for (repository, head) in heads.iter_mut() {
            *head = lock_head(&mut tx, repository).await.map_err(q)?;
        }
        // Read after the locks: a chain's `recorded_at` follows its order (clocks allowing).
        let now = at.unwrap_or_else(super::super::now_ms);
        let mut out = Vec::with_capacity(records.len());
        for record in records.iter_mut() {
            let repository = record.repository().to_string();
            let (seq, prev) = heads.get(&repository).cloned().unwrap_or_default();
            let row = seal_row(record, seq + 1, now, &prev)?;
            insert_row(&mut tx, &row, now).await?;
            heads.insert(repository, (row.seq, row.hash.clone()));
            out.push(stored(&row, record.recorded_at())?);
        }
        for (repository, (seq, hash)) in &heads {
            set_head(&mut tx, repository, *seq, hash).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(out)
    }

    pub(crate) async fn inbox(
        &self,
        repo_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String)>, StoreError> {
        sqlx::query_as(
            "SELECT id, received_at, body FROM audit_inbox WHERE repo_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(repo_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("audit inbox"))
    }

    pub(crate) async fn drop_inbox_item(&self, repo_id: i64, id: i64) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM audit_inbox WHERE repo_id = $1 AND id = $2")
            .bind(repo_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("audit inbox"))?;
        Ok(gone.rows_affected() == 1)
    }

    pub(crate) async fn record_row(&self, id: &str) -> Result<Option<RecordRow>, StoreError> {
        sqlx::query_as(&format!("SELECT {SELECT}, {WITH_POLICY} WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("record"))
    }

    pub(crate) async fn latest_decision_row(
        &self,
        repository: &str,
        head_sha: &str,
        base: &str,
        before: i64,
    ) -> Result<Option<RecordRow>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {SELECT}, {WITH_POLICY}
             WHERE r.kind = 'decision' AND r.repository = $1 AND r.head_sha = $2 AND r.base = $3
                 AND r.recorded_at <= $4
             ORDER BY r.seq DESC LIMIT 1"
        ))
        .bind(repository)
        .bind(head_sha)
        .bind(base)
        .bind(before)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("latest_decision"))
    }

    pub(crate) async fn merged_commits(
        &self,
        repository: &str,
        shas: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT sha FROM audit_merge_commits
             WHERE repository = $1 AND sha = ANY($2) ORDER BY sha",
        )
        .bind(repository)
        .bind(shas)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("merged_commits"))?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    pub(crate) async fn repositories(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT repository FROM audit_heads ORDER BY repository")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("repositories"))?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    pub(crate) async fn head(&self, repository: &str) -> Result<Option<(i64, String)>, StoreError> {
        sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE repository = $1")
            .bind(repository)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("head"))
    }

    pub(crate) async fn newest_checkpoint(
        &self,
        repository: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT body FROM audit_records WHERE repository = $1 AND kind = 'checkpoint'
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(repository)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("newest_checkpoint"))?;
        Ok(row.map(|(b,)| b))
    }

    pub(crate) async fn page(
        &self,
        page: &Page<'_>,
        limit: i64,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let q = StoreError::query("audit page");
        match page {
            Page::Chain {
                repository,
                after_seq,
            } => sqlx::query_as(&format!(
                "SELECT {SELECT}, {WITH_POLICY}
                 WHERE r.repository = $1 AND r.seq > $2 ORDER BY r.seq LIMIT $3"
            ))
            .bind(*repository)
            .bind(*after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(q),
            Page::Export { filter, after } => {
                let (since, until) = bounds(filter);
                sqlx::query_as(&format!(
                    "SELECT {SELECT}, NULL::TEXT AS policy FROM audit_records r
                     WHERE r.kind IN ('merge', 'push') AND r.event_at >= $1 AND r.event_at < $2
                         AND ($3::TEXT IS NULL OR r.repository = $3)
                         AND (NOT $4 OR r.kind = 'push' OR NOT r.passed)
                         AND (r.event_at, r.id) > ($5, $6)
                     ORDER BY r.event_at, r.id LIMIT $7"
                ))
                .bind(since)
                .bind(until)
                .bind(filter.repository.as_deref())
                .bind(filter.unapproved_only)
                .bind(after.0)
                .bind(&after.1)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(q)
            }
            Page::Decisions { filter, after } => {
                let (since, until) = bounds(filter);
                sqlx::query_as(&format!(
                    "SELECT {SELECT}, {WITH_POLICY}
                     WHERE r.kind = 'decision' AND r.event_at >= $1 AND r.event_at < $2
                         AND ($3::TEXT IS NULL OR r.repository = $3)
                         AND (r.event_at, r.id) > ($4, $5)
                     ORDER BY r.event_at, r.id LIMIT $6"
                ))
                .bind(since)
                .bind(until)
                .bind(filter.repository.as_deref())
                .bind(after.0)
                .bind(&after.1)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(q)
            }
        }
    }

    pub(crate) async fn prune_chain(
        &self,
        repository: &str,
        before: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let q = StoreError::query("prune_records");
        let mut tx = self.pool.begin().await.map_err(q)?;
        let (head_seq, head_hash) = lock_head(&mut tx, repository).await.map_err(q)?;
        // Only a prefix of the chain can go, or it would have holes: up to the first record
        // written at or after the cutoff, and never the newest.
        let (first_kept,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(seq) FROM audit_records WHERE repository = $1 AND recorded_at >= $2",
        )
        .bind(repository)
        .bind(before)
        .fetch_one(&mut *tx)
        .await
        .map_err(q)?;
        let cut = first_kept.unwrap_or(head_seq).min(head_seq);
        let last: Option<(String, i64)> = sqlx::query_as(
            "SELECT hash, (SELECT COUNT(*) FROM audit_records WHERE repository = $1 AND seq < $2)
             FROM audit_records WHERE repository = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(repository)
        .bind(cut)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((pruned_through, count)) = last else {
            return Ok(0);
        };
        let oldest_kept: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM audit_records WHERE repository = $1 AND seq >= $2 ORDER BY seq LIMIT 1",
        )
        .bind(repository)
        .bind(cut)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        sqlx::query("DELETE FROM audit_records WHERE repository = $1 AND seq < $2")
            .bind(repository)
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        let count = super::super::types::to_u64("pruned count", count)?;
        let mut checkpoint: Record = CheckpointRecord::new(
            repository,
            &pruned_through,
            count,
            oldest_kept.map(|(id,)| id),
        )
        .into();
        let row = seal_row(&mut checkpoint, head_seq + 1, now, &head_hash)?;
        insert_row(&mut tx, &row, now).await?;
        set_head(&mut tx, repository, row.seq, &row.hash)
            .await
            .map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(count)
    }

    pub(crate) async fn prune_policies(&self, before: i64) -> Result<u64, StoreError> {
        // A record being appended right now bumps its policy's `last_used_at` under a row
        // lock; this DELETE waits for that lock and then re-checks the row, so it cannot take
        // a text from under a decision being stored.
        let done = sqlx::query(
            "DELETE FROM audit_policies WHERE last_used_at < $1 AND NOT EXISTS
                 (SELECT 1 FROM audit_records r
                  WHERE r.kind = 'decision' AND r.policy_blob_sha = audit_policies.blob_sha)",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("prune_records"))?;
        Ok(done.rows_affected())
    }
}

/// Locks the chain's head row, inserting an empty head first if the chain is new; returns
/// its position and hash (0 and [`ZERO_HASH`] for a new chain).
async fn lock_head(
    conn: &mut PgConnection,
    repository: &str,
) -> Result<(i64, String), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_heads (repository, seq, hash) VALUES ($1, 0, $2)
         ON CONFLICT (repository) DO NOTHING",
    )
    .bind(repository)
    .bind(ZERO_HASH)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE repository = $1 FOR UPDATE")
        .bind(repository)
        .fetch_one(&mut *conn)
        .await
}

async fn set_head(
    conn: &mut PgConnection,
    repository: &str,
    seq: i64,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE repository = $1")
        .bind(repository)
        .bind(seq)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts a sealed record: its policy text (once per blob SHA, refusing another text under a
/// stored SHA), the record, and a merge's commits.
async fn insert_row(conn: &mut PgConnection, row: &NewRow, now: i64) -> Result<(), StoreError> {
    let q = StoreError::query("append_record");
    if let Some((sha, text)) = &row.policy {
        let (stored,): (String,) = sqlx::query_as(
            "INSERT INTO audit_policies (blob_sha, text, last_used_at) VALUES ($1, $2, $3)
             ON CONFLICT (blob_sha) DO UPDATE
                 SET last_used_at = GREATEST(audit_policies.last_used_at, EXCLUDED.last_used_at)
             RETURNING text",
        )
        .bind(sha)
        .bind(text)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(q)?;
        if stored != *text {
            return Err(super::different_policy(&row.id, sha));
        }
    }
    let c = &row.columns;
    sqlx::query(
        "INSERT INTO audit_records (id, repository, seq, kind, recorded_at, body, prev_hash, hash,
             pr, base, head_sha, event_at, policy_blob_sha, passed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&row.id)
    .bind(&row.repository)
    .bind(row.seq)
    .bind(row.kind)
    .bind(c.recorded_at)
    .bind(&row.body)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .bind(c.pr)
    .bind(&c.base)
    .bind(&c.head_sha)
    .bind(c.event_at)
    .bind(&c.policy_blob_sha)
    .bind(c.passed)
    .execute(&mut *conn)
    .await
    .map_err(q)?;
    if !row.merge_commits.is_empty() {
        sqlx::query(
            "INSERT INTO audit_merge_commits (repository, sha, record_id)
             SELECT $1, sha, $3 FROM UNNEST($2::TEXT[]) AS t(sha) ON CONFLICT DO NOTHING",
        )
        .bind(&row.repository)
        .bind(&row.merge_commits)
        .bind(&row.id)
        .execute(&mut *conn)
        .await
        .map_err(q)?;
    }
    Ok(())
}
