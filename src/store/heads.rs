//! What the store keeps about a PR's heads: the content fingerprint of every head the App
//! evaluated, and which head each recorded push made. Both go with the PR's other facts 30
//! days after it closes.

use super::postgres::Postgres;
use super::sqlite::Sqlite;
use super::types::to_i64;
use super::{Backend, OPERATION_TIMEOUT, Store, StoreError};

/// A push to a PR: who, and the head it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PusherHead {
    pub login: String,
    /// Lower case.
    pub head_sha: String,
}

impl Store {
    /// Remembers the content fingerprint of a head of a PR (head SHA and fingerprint are
    /// stored lower-cased; a head evaluated again keeps the latest).
    pub async fn record_fingerprint(
        &self,
        repo_id: u64,
        pr: u64,
        head_sha: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        let (sha, fp) = (
            head_sha.to_ascii_lowercase(),
            fingerprint.to_ascii_lowercase(),
        );
        on_backend!(self, "record_fingerprint", b => b.record_fingerprint(repo_id, pr, &sha, &fp))
    }

    /// Every fingerprint kept for the PR, as `(head SHA, fingerprint)`.
    pub async fn fingerprints(
        &self,
        repo_id: u64,
        pr: u64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        on_backend!(self, "fingerprints", b => b.fingerprints(repo_id, pr))
    }

    /// The heads the PR's recorded pushes made.
    pub async fn pusher_heads(&self, repo_id: u64, pr: u64) -> Result<Vec<PusherHead>, StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        let rows = on_backend!(self, "pusher_heads", b => b.pusher_heads(repo_id, pr))?;
        Ok(rows
            .into_iter()
            .map(|(login, head_sha)| PusherHead { login, head_sha })
            .collect())
    }
}

/// The same queries on both back ends, with their placeholders and pools.
macro_rules! queries {
    ($backend:ty, $read:ident, $write:ident, $p1:literal, $p2:literal, $p3:literal, $p4:literal) => {
        impl $backend {
            async fn record_fingerprint(
                &self,
                repo_id: i64,
                pr: i64,
                sha: &str,
                fp: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO head_fingerprints (repo_id, pr, head_sha, fingerprint) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4,
                    ") ON CONFLICT (repo_id, pr, head_sha) DO UPDATE SET fingerprint = excluded.fingerprint"
                ))
                .bind(repo_id)
                .bind(pr)
                .bind(sha)
                .bind(fp)
                .execute(&self.$write)
                .await
                .map_err(StoreError::query("record_fingerprint"))?;
                Ok(())
            }

            async fn fingerprints(
                &self,
                repo_id: i64,
                pr: i64,
            ) -> Result<Vec<(String, String)>, StoreError> {
                sqlx::query_as(concat!(
                    "SELECT head_sha, fingerprint FROM head_fingerprints WHERE repo_id = ",
                    $p1, " AND pr = ", $p2, " ORDER BY head_sha"
                ))
                .bind(repo_id)
                .bind(pr)
                .fetch_all(&self.$read)
                .await
                .map_err(StoreError::query("fingerprints"))
            }

            async fn pusher_heads(
                &self,
                repo_id: i64,
                pr: i64,
            ) -> Result<Vec<(String, String)>, StoreError> {
                sqlx::query_as(concat!(
                    "SELECT login, head_sha FROM pusher_heads WHERE repo_id = ",
                    $p1, " AND pr = ", $p2, " ORDER BY login, head_sha"
                ))
                .bind(repo_id)
                .bind(pr)
                .fetch_all(&self.$read)
                .await
                .map_err(StoreError::query("pusher_heads"))
            }
        }
    };
}

queries!(Sqlite, read, write, "?1", "?2", "?3", "?4");
queries!(Postgres, pool, pool, "$1", "$2", "$3", "$4");
