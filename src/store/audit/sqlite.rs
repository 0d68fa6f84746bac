//! The audit records' SQL on SQLite. Appends and pruning run on the one writer connection
//! inside `BEGIN IMMEDIATE`, which is what serialises appenders (also a second process on the
//! file); reads use the reader pool.

use std::collections::HashMap;

use sqlx::sqlite::SqliteConnection;

use crate::audit::{CheckpointRecord, Record, ZERO_HASH};

use super::super::StoreError;
use super::super::sqlite::Sqlite;
use super::rows::{NewRow, RecordRow, SELECT, seal_row};
use super::{Page, StoredRecord, bounds, stored};

/// A decision's policy text joined to its record.
const WITH_POLICY: &str = "p.text AS policy FROM audit_records r LEFT JOIN audit_policies p \
     ON r.kind = 'decision' AND p.blob_sha = r.policy_blob_sha";

impl Sqlite {
    pub(crate) async fn append_records(
        &self,
        records: &mut [Record],
        at: Option<i64>,
        consume: Option<(i64, i64)>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let q = StoreError::query("append_record");
        let mut tx = self.begin().await.map_err(q)?;
        if let Some((repo_id, id)) = consume {
            let gone = sqlx::query("DELETE FROM audit_inbox WHERE repo_id = ?1 AND id = ?2")
                .bind(repo_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(q)?;
            if gone.rows_affected() == 0 {
                return Ok(Vec::new());
            }
        }
        // The write lock is held from here: the clock is read after it, so within one file
        // `recorded_at` follows the chain's order.
        let now = at.unwrap_or_else(super::super::now_ms);
        let mut heads: HashMap<String, (i64, String)> = HashMap::new();
        let mut out = Vec::with_capacity(records.len());
        for record in records.iter_mut() {
            let repository = record.repository().to_string();
            let (seq, prev) = match heads.get(&repository) {
                Some(head) => head.clone(),
                None => head(&mut tx, &repository)
                    .await
                    .map_err(q)?
                    .unwrap_or((0, ZERO_HASH.to_string())),
            };
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
            "SELECT id, received_at, body FROM audit_inbox WHERE repo_id = ?1 ORDER BY id LIMIT ?2",
        )
        .bind(repo_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(StoreError::query("audit inbox"))
    }

    pub(crate) async fn drop_inbox_item(&self, repo_id: i64, id: i64) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM audit_inbox WHERE repo_id = ?1 AND id = ?2")
            .bind(repo_id)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(StoreError::query("audit inbox"))?;
        Ok(gone.rows_affected() == 1)
    }

    pub(crate) async fn record_row(&self, id: &str) -> Result<Option<RecordRow>, StoreError> {
        sqlx::query_as(&format!("SELECT {SELECT}, {WITH_POLICY} WHERE r.id = ?1"))
            .bind(id)
            .fetch_optional(&self.read)
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
             WHERE r.kind = 'decision' AND r.repository = ?1 AND r.head_sha = ?2 AND r.base = ?3
                 AND r.recorded_at <= ?4
             ORDER BY r.seq DESC LIMIT 1"
        ))
        .bind(repository)
        .bind(head_sha)
        .bind(base)
        .bind(before)
        .fetch_optional(&self.read)
        .await
        .map_err(StoreError::query("latest_decision"))
    }

    pub(crate) async fn merged_commits(
        &self,
        repository: &str,
        shas: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in shas.chunks(500) {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT DISTINCT sha FROM audit_merge_commits WHERE repository = ",
            );
            query.push_bind(repository).push(" AND sha IN (");
            let mut list = query.separated(", ");
            for sha in chunk {
                list.push_bind(sha);
            }
            query.push(") ORDER BY sha");
            let rows: Vec<(String,)> = query
                .build_query_as()
                .fetch_all(&self.read)
                .await
                .map_err(StoreError::query("merged_commits"))?;
            found.extend(rows.into_iter().map(|(s,)| s));
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    pub(crate) async fn repositories(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT repository FROM audit_heads ORDER BY repository")
                .fetch_all(&self.read)
                .await
                .map_err(StoreError::query("repositories"))?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    pub(crate) async fn head(&self, repository: &str) -> Result<Option<(i64, String)>, StoreError> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(StoreError::query("head"))?;
        head(&mut conn, repository)
            .await
            .map_err(StoreError::query("head"))
    }

    pub(crate) async fn newest_checkpoint(
        &self,
        repository: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT body FROM audit_records WHERE repository = ?1 AND kind = 'checkpoint'
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(repository)
        .fetch_optional(&self.read)
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
                 WHERE r.repository = ?1 AND r.seq > ?2 ORDER BY r.seq LIMIT ?3"
            ))
            .bind(*repository)
            .bind(*after_seq)
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(q),
            Page::Export { filter, after } => {
                let (since, until) = bounds(filter);
                // `kind IN ('merge', 'push')` spelled as in the partial index, so SQLite uses it.
                sqlx::query_as(&format!(
                    "SELECT {SELECT}, NULL AS policy FROM audit_records r
                     WHERE r.kind IN ('merge', 'push') AND r.event_at >= ?1 AND r.event_at < ?2
                         AND (?3 IS NULL OR r.repository = ?3)
                         AND (?4 = 0 OR r.kind = 'push' OR r.passed = 0)
                         AND (r.event_at, r.id) > (?5, ?6)
                     ORDER BY r.event_at, r.id LIMIT ?7"
                ))
                .bind(since)
                .bind(until)
                .bind(filter.repository.as_deref())
                .bind(filter.unapproved_only)
                .bind(after.0)
                .bind(&after.1)
                .bind(limit)
                .fetch_all(&self.read)
                .await
                .map_err(q)
            }
            Page::Decisions { filter, after } => {
                let (since, until) = bounds(filter);
                sqlx::query_as(&format!(
                    "SELECT {SELECT}, {WITH_POLICY}
                     WHERE r.kind = 'decision' AND r.event_at >= ?1 AND r.event_at < ?2
                         AND (?3 IS NULL OR r.repository = ?3)
                         AND (r.event_at, r.id) > (?4, ?5)
                     ORDER BY r.event_at, r.id LIMIT ?6"
                ))
                .bind(since)
                .bind(until)
                .bind(filter.repository.as_deref())
                .bind(after.0)
                .bind(&after.1)
                .bind(limit)
                .fetch_all(&self.read)
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
        let mut tx = self.begin().await.map_err(q)?;
        let Some((head_seq, head_hash)) = head(&mut tx, repository).await.map_err(q)? else {
            return Ok(0);
        };
        // Only a prefix of the chain can go, or it would have holes: up to the first record
        // written at or after the cutoff, and never the newest.
        let (first_kept,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(seq) FROM audit_records WHERE repository = ?1 AND recorded_at >= ?2",
        )
        .bind(repository)
        .bind(before)
        .fetch_one(&mut *tx)
        .await
        .map_err(q)?;
        let cut = first_kept.unwrap_or(head_seq).min(head_seq);
        let last: Option<(String, i64)> = sqlx::query_as(
            "SELECT hash, (SELECT COUNT(*) FROM audit_records WHERE repository = ?1 AND seq < ?2)
             FROM audit_records WHERE repository = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
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
            "SELECT id FROM audit_records WHERE repository = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1",
        )
        .bind(repository)
        .bind(cut)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        sqlx::query("DELETE FROM audit_records WHERE repository = ?1 AND seq < ?2")
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
        let done = sqlx::query(
            "DELETE FROM audit_policies WHERE last_used_at < ?1 AND NOT EXISTS
                 (SELECT 1 FROM audit_records r
                  WHERE r.kind = 'decision' AND r.policy_blob_sha = audit_policies.blob_sha)",
        )
        .bind(before)
        .execute(&self.write)
        .await
        .map_err(StoreError::query("prune_records"))?;
        Ok(done.rows_affected())
    }
}

/// The chain's newest record: its position and hash.
async fn head(
    conn: &mut SqliteConnection,
    repository: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE repository = ?1")
        .bind(repository)
        .fetch_optional(conn)
        .await
}

async fn set_head(
    conn: &mut SqliteConnection,
    repository: &str,
    seq: i64,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_heads (repository, seq, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (repository) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )
    .bind(repository)
    .bind(seq)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts a sealed record: its policy text (once per blob SHA, refusing another text under a
/// stored SHA), the record, and a merge's commits.
async fn insert_row(conn: &mut SqliteConnection, row: &NewRow, now: i64) -> Result<(), StoreError> {
    let q = StoreError::query("append_record");
    if let Some((sha, text)) = &row.policy {
        let (stored,): (String,) = sqlx::query_as(
            "INSERT INTO audit_policies (blob_sha, text, last_used_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (blob_sha) DO UPDATE
                 SET last_used_at = MAX(audit_policies.last_used_at, excluded.last_used_at)
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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
    for sha in &row.merge_commits {
        sqlx::query(
            "INSERT INTO audit_merge_commits (repository, sha, record_id) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&row.repository)
        .bind(sha)
        .bind(&row.id)
        .execute(&mut *conn)
        .await
        .map_err(q)?;
    }
    Ok(())
}
