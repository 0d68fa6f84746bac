//! The review requests the App made on each PR, and the requests a person removed.

use super::postgres::Postgres;
use super::sqlite::Sqlite;
use super::types::to_i64;
use super::{Backend, OPERATION_TIMEOUT, Store, StoreError};

/// A request the App made.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredRequest {
    /// `user:login` or `team:org/slug`.
    pub reviewer: String,
    pub requirement: String,
    pub grp: String,
    /// Milliseconds since the epoch.
    pub requested_at: i64,
}

impl Store {
    /// Claims the request of `reviewer` on a PR: true for the one caller (of any replica)
    /// that may send it; false when it was made (or claimed) before.
    pub async fn claim_review_request(
        &self,
        repo_id: u64,
        pr: u64,
        request: &StoredRequest,
    ) -> Result<bool, StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        on_backend!(self, "claim_review_request", b => b.claim_review_request(repo_id, pr, request))
    }

    /// Gives back a claim whose request GitHub did not take.
    pub async fn unclaim_review_request(
        &self,
        repo_id: u64,
        pr: u64,
        reviewer: &str,
    ) -> Result<(), StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        on_backend!(self, "unclaim_review_request", b => b.unclaim_review_request(repo_id, pr, reviewer))
    }

    /// The requests the App made on a PR, oldest first.
    pub async fn review_requests(
        &self,
        repo_id: u64,
        pr: u64,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        on_backend!(self, "review_requests", b => b.review_requests(repo_id, pr))
    }

    /// Bars `reviewer` from being asked again on a PR (a person removed their request).
    pub async fn bar_review_request(
        &self,
        repo_id: u64,
        pr: u64,
        reviewer: &str,
    ) -> Result<(), StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        on_backend!(self, "bar_review_request", b => b.bar_review_request(repo_id, pr, reviewer))
    }

    /// The reviewers barred on a PR.
    pub async fn review_request_bars(
        &self,
        repo_id: u64,
        pr: u64,
    ) -> Result<Vec<String>, StoreError> {
        let (repo_id, pr) = (to_i64("repository id", repo_id)?, to_i64("PR number", pr)?);
        on_backend!(self, "review_request_bars", b => b.review_request_bars(repo_id, pr))
    }
}

macro_rules! queries {
    ($backend:ty, $pool:ident, $p1:literal, $p2:literal, $p3:literal, $p4:literal, $p5:literal, $p6:literal) => {
        impl $backend {
            async fn claim_review_request(
                &self,
                repo_id: i64,
                pr: i64,
                r: &StoredRequest,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(concat!(
                    "INSERT INTO review_requests (repo_id, pr, reviewer, requirement, grp, requested_at) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4, ", ", $p5, ", ", $p6,
                    ") ON CONFLICT DO NOTHING"
                ))
                .bind(repo_id)
                .bind(pr)
                .bind(&r.reviewer)
                .bind(&r.requirement)
                .bind(&r.grp)
                .bind(r.requested_at)
                .execute(&self.$pool)
                .await
                .map_err(StoreError::query("claim_review_request"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn unclaim_review_request(
                &self,
                repo_id: i64,
                pr: i64,
                reviewer: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "DELETE FROM review_requests WHERE repo_id = ",
                    $p1, " AND pr = ", $p2, " AND reviewer = ", $p3
                ))
                .bind(repo_id)
                .bind(pr)
                .bind(reviewer)
                .execute(&self.$pool)
                .await
                .map_err(StoreError::query("unclaim_review_request"))?;
                Ok(())
            }

            async fn review_requests(
                &self,
                repo_id: i64,
                pr: i64,
            ) -> Result<Vec<StoredRequest>, StoreError> {
                sqlx::query_as(concat!(
                    "SELECT reviewer, requirement, grp, requested_at FROM review_requests WHERE repo_id = ",
                    $p1, " AND pr = ", $p2, " ORDER BY requested_at, reviewer"
                ))
                .bind(repo_id)
                .bind(pr)
                .fetch_all(&self.$pool)
                .await
                .map_err(StoreError::query("review_requests"))
            }

            async fn bar_review_request(
                &self,
                repo_id: i64,
                pr: i64,
                reviewer: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO review_request_bars (repo_id, pr, reviewer) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ") ON CONFLICT DO NOTHING"
                ))
                .bind(repo_id)
                .bind(pr)
                .bind(reviewer)
                .execute(&self.$pool)
                .await
                .map_err(StoreError::query("bar_review_request"))?;
                Ok(())
            }

            async fn review_request_bars(
                &self,
                repo_id: i64,
                pr: i64,
            ) -> Result<Vec<String>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(concat!(
                    "SELECT reviewer FROM review_request_bars WHERE repo_id = ",
                    $p1, " AND pr = ", $p2, " ORDER BY reviewer"
                ))
                .bind(repo_id)
                .bind(pr)
                .fetch_all(&self.$pool)
                .await
                .map_err(StoreError::query("review_request_bars"))?;
                Ok(rows.into_iter().map(|(r,)| r).collect())
            }
        }
    };
}

queries!(Sqlite, write, "?1", "?2", "?3", "?4", "?5", "?6");
queries!(Postgres, pool, "$1", "$2", "$3", "$4", "$5", "$6");
