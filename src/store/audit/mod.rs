//! The audit records' storage: append to a repository's hash chain, read records back, page
//! through chains and exports, prune by age.
//!
//! Records (see [`crate::audit`]) are appended in one transaction that reads the chain's
//! head, links and hashes the record, inserts it and advances the head. The head row is the
//! one point appenders serialise on — `SELECT … FOR UPDATE` on PostgreSQL, SQLite's single
//! writer — so two replicas appending to one repository at once take turns and a chain never
//! forks. Long reads (a chain to verify, an export) go page by page, each page one bounded
//! query, so neither memory nor a single statement grows with the store.

mod postgres;
mod rows;
mod sqlite;

use crate::audit::{
    ChainBreak, ChainVerifier, DecisionRecord, ExportRow, Fault, Record, ZERO_HASH,
};

use super::types::to_i64;
use super::{Backend, OPERATION_TIMEOUT, Store, StoreError, now_ms};
use rows::RecordRow;

/// Records per page of a chain being verified: decisions carry a snapshot each, so a page
/// stays within a few megabytes.
const CHAIN_PAGE: i64 = 500;
/// Rows per page of an export: merge and push rows are small.
const EXPORT_PAGE: i64 = 2_000;
/// Decisions per page of `--decisions`.
const DECISION_PAGE: i64 = 200;
/// Bound on pruning one repository's chain, which may delete a year of records at once.
const PRUNE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// An event waiting in a repository's audit inbox (see `Fact::AuditEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub repo_id: u64,
    /// Its place in the inbox (arrival order).
    pub id: i64,
    /// When the delivery that carried it was stored (ms since the epoch).
    pub received_at_ms: i64,
    /// The App's JSON, as it was stored.
    pub body: String,
}

/// A record as appended: its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub id: String,
    pub repository: String,
    /// Its position in the repository's chain (1 for the first record ever).
    pub seq: u64,
    pub recorded_at: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Which rows an export reads: merges and pushes (or decisions) whose time — `merged_at`,
/// `pushed_at`, or `evaluated_at` — is in `[since, until)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// `owner/repo`; all repositories when `None`.
    pub repository: Option<String>,
    /// Inclusive, ms since the epoch.
    pub since_ms: Option<i64>,
    /// Exclusive, ms since the epoch.
    pub until_ms: Option<i64>,
    /// Only merges whose gate had not passed, and every push (decisions: ignored).
    pub unapproved_only: bool,
}

/// What [`Store::prune_records`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditPruned {
    /// Chains that lost records (each got a checkpoint).
    pub chains: u64,
    pub records: u64,
    /// Policy texts no remaining decision names.
    pub policies: u64,
}

/// The outcome of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub repository: String,
    /// Records that verified before the first break (all of them when intact).
    pub records: u64,
    /// The first record that failed, if one did.
    pub broken: Option<ChainBreak>,
}

/// Which page of records a query asks for.
pub(crate) enum Page<'a> {
    Chain {
        repository: &'a str,
        after_seq: i64,
    },
    Export {
        filter: &'a ExportFilter,
        after: &'a (i64, String),
    },
    Decisions {
        filter: &'a ExportFilter,
        after: &'a (i64, String),
    },
}

impl Store {
    /// Appends `record` to its repository's chain in one transaction: links it to the chain's
    /// newest record, sets its `recorded_at` (now), `prev_hash` and `hash` in place, stores
    /// it (a decision's policy text once per blob SHA) and advances the chain's head.
    ///
    /// Refused with [`StoreError::InvalidRecord`] before anything is written when the record
    /// breaks a rule of [`crate::audit::check_record`], or names a policy blob SHA already
    /// stored with another text. On any error nothing is stored (the record's chain fields
    /// are then meaningless; append it again).
    pub async fn append_record(&self, record: &mut Record) -> Result<StoredRecord, StoreError> {
        let mut stored = self.append_records(std::slice::from_mut(record)).await?;
        stored.pop().ok_or(StoreError::Corrupt {
            what: "append result",
            value: "no record".into(),
        })
    }

    /// [`Store::append_record`] for several records in one transaction, in order (records of
    /// one repository are chained in the order given): all are stored, or none.
    pub async fn append_records(
        &self,
        records: &mut [Record],
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.append_records_maybe_at(records, None).await
    }

    /// [`Store::append_records`] with `recorded_at` set to `at` (ms since the epoch) instead of
    /// now: for tests and tools that must not wait a year for retention.
    pub async fn append_records_at(
        &self,
        records: &mut [Record],
        at: i64,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.append_records_maybe_at(records, Some(at)).await
    }

    async fn append_records_maybe_at(
        &self,
        records: &mut [Record],
        at: Option<i64>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        for record in records.iter() {
            crate::audit::check_record(record).map_err(|e| StoreError::InvalidRecord {
                id: record.id().to_string(),
                problem: e.to_string(),
            })?;
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, "append_record", b => b.append_records(records, at, None))
    }

    /// The oldest `limit` events waiting in the audit inbox of repository `repo_id`, in the
    /// order they were received.
    pub async fn inbox(&self, repo_id: u64, limit: u32) -> Result<Vec<InboxItem>, StoreError> {
        let repo = to_i64("repository id", repo_id)?;
        let rows = on_backend!(self, "audit inbox", b => b.inbox(repo, i64::from(limit)))?;
        Ok(rows
            .into_iter()
            .map(|(id, received_at_ms, body)| InboxItem {
                repo_id,
                id,
                received_at_ms,
                body,
            })
            .collect())
    }

    /// Appends `records` (as [`Store::append_records`]) and removes `item` from the inbox, in
    /// one transaction: an event is recorded exactly once, even when the replica doing it
    /// dies in between. `None` when the item was already gone (nothing is appended).
    pub async fn append_consuming(
        &self,
        records: &mut [Record],
        item: &InboxItem,
    ) -> Result<Option<Vec<StoredRecord>>, StoreError> {
        for record in records.iter() {
            crate::audit::check_record(record).map_err(|e| StoreError::InvalidRecord {
                id: record.id().to_string(),
                problem: e.to_string(),
            })?;
        }
        let consume = Some((to_i64("repository id", item.repo_id)?, item.id));
        let stored =
            on_backend!(self, "append_record", b => b.append_records(records, None, consume))?;
        Ok((!stored.is_empty()).then_some(stored))
    }

    /// Removes an inbox event that needs no record (a merge into a branch without a policy, a
    /// push of reviewed commits). False when it was already gone.
    pub async fn drop_inbox_item(&self, item: &InboxItem) -> Result<bool, StoreError> {
        let repo = to_i64("repository id", item.repo_id)?;
        on_backend!(self, "audit inbox", b => b.drop_inbox_item(repo, item.id))
    }

    /// The record with this id, with a decision's policy text inline; `None` when no record
    /// has it (or it was pruned).
    pub async fn record(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let row = on_backend!(self, "record", b => b.record_row(id))?;
        row.map(|r| r.to_record()).transpose()
    }

    /// The latest decision (highest in the chain) for `head_sha` on `base` in `repository`
    /// written at or before `received_before_ms`: the decision a merge is judged against,
    /// given when the merge event was received.
    pub async fn latest_decision(
        &self,
        repository: &str,
        head_sha: &str,
        base: &str,
        received_before_ms: i64,
    ) -> Result<Option<DecisionRecord>, StoreError> {
        let row = on_backend!(self, "latest_decision", b =>
            b.latest_decision_row(repository, head_sha, base, received_before_ms))?;
        match row.map(|r| r.to_record()).transpose()? {
            Some(Record::Decision(d)) => Ok(Some(*d)),
            _ => Ok(None),
        }
    }

    /// Which of `shas` a stored merge of `repository` brought in (as its merge commit or one
    /// of its PR's commits): a push of only such commits is not an unreviewed push.
    pub async fn merged_commits(
        &self,
        repository: &str,
        shas: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, "merged_commits", b => b.merged_commits(repository, shas))
    }

    /// Every repository with a chain, sorted.
    pub async fn repositories(&self) -> Result<Vec<String>, StoreError> {
        on_backend!(self, "repositories", b => b.repositories())
    }

    /// Reads `repository`'s chain in order, a page at a time.
    pub fn chain(&self, repository: &str) -> ChainPages {
        ChainPages {
            store: self.clone(),
            repository: repository.to_string(),
            after_seq: 0,
            done: false,
        }
    }

    /// Merges and pushes for an export, ordered by time (then id), a page at a time.
    pub fn export_rows(&self, filter: ExportFilter) -> ExportPages {
        ExportPages {
            store: self.clone(),
            filter,
            after: (i64::MIN, String::new()),
            done: false,
        }
    }

    /// Decision records (policy inline) whose `evaluated_at` is in the filter's range,
    /// ordered by it, a page at a time.
    pub fn decisions(&self, filter: ExportFilter) -> DecisionPages {
        DecisionPages {
            store: self.clone(),
            filter,
            after: (i64::MIN, String::new()),
            done: false,
        }
    }

    /// Recomputes `repository`'s chain: every record's hash, every link, that every record's
    /// indexed columns agree with its content, and that the chain ends at its recorded head.
    /// Starts from the newest checkpoint's `pruned_through` when the chain was pruned. Reads
    /// a page at a time, so memory does not grow with the chain.
    pub async fn verify_chain(&self, repository: &str) -> Result<ChainReport, StoreError> {
        let anchor = on_backend!(self, "verify_chain", b => b.newest_checkpoint(repository))?
            .and_then(|body| {
                let value: serde_json::Value = serde_json::from_str(&body).ok()?;
                value
                    .get("pruned_through")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| ZERO_HASH.to_string());
        let mut verifier = ChainVerifier::new(&anchor);
        let mut last: Option<(String, i64)> = None;
        let report = |verifier: &ChainVerifier, broken| ChainReport {
            repository: repository.to_string(),
            records: verifier.checked(),
            broken,
        };
        let mut pages = self.chain(repository);
        while let Some(rows) = pages.next_rows().await? {
            for row in rows {
                let broken = check_row(&mut verifier, &row)?;
                if broken.is_some() {
                    return Ok(report(&verifier, broken));
                }
                last = Some((row.id.clone(), row.seq));
            }
        }
        let head = on_backend!(self, "verify_chain", b => b.head(repository))?;
        let broken = match (head, last) {
            (None, None) => None,
            (Some((seq, hash)), Some((_, last_seq)))
                if seq == last_seq && hash == verifier.last_hash() =>
            {
                None
            }
            (head, last) => Some(ChainBreak {
                id: last.map_or_else(|| "(none)".to_string(), |(id, _)| id),
                what: Fault::Link,
                detail: match head {
                    Some((seq, hash)) => format!(
                        "the chain ends here, but its head is record #{seq} with hash {hash}: later records are missing"
                    ),
                    None => "the chain has records but no head".to_string(),
                },
            }),
        };
        Ok(report(&verifier, broken))
    }

    /// Removes, from every chain, the records written before `before_ms` — whole records,
    /// the oldest first and never a chain's newest — and appends to each chain that lost any
    /// a checkpoint holding the last removed record's hash, so the rest still verifies. One
    /// transaction per chain. Policy texts that no remaining decision names, and that no
    /// record named since `before_ms`, go too. A merge whose decision was removed keeps its
    /// own fields (approvers, policy blob SHA, gate_passed).
    pub async fn prune_records(&self, before_ms: i64) -> Result<AuditPruned, StoreError> {
        let mut pruned = AuditPruned::default();
        for repository in self.repositories().await? {
            let now = now_ms();
            let removed = on_backend!(self, "prune_records", PRUNE_TIMEOUT, b =>
                b.prune_chain(&repository, before_ms, now))?;
            if removed > 0 {
                pruned.chains += 1;
                pruned.records += removed;
            }
        }
        pruned.policies = on_backend!(self, "prune_records", PRUNE_TIMEOUT, b =>
            b.prune_policies(before_ms))?;
        Ok(pruned)
    }

    async fn page(&self, page: Page<'_>, limit: i64) -> Result<Vec<RecordRow>, StoreError> {
        on_backend!(self, "audit page", b => b.page(&page, limit))
    }
}

/// Checks one stored record: its hash and link (the pure verifier), then its columns.
fn check_row(
    verifier: &mut ChainVerifier,
    row: &RecordRow,
) -> Result<Option<ChainBreak>, StoreError> {
    let value = match row.to_value() {
        Ok(v) => v,
        Err(_) => {
            return Ok(Some(ChainBreak {
                id: row.id.clone(),
                what: Fault::Hash,
                detail: "its stored content is not a JSON object".into(),
            }));
        }
    };
    if let Err(broken) = verifier.check(&value) {
        return Ok(Some(ChainBreak {
            id: row.id.clone(),
            ..broken
        }));
    }
    let problem = match crate::audit::Record::from_value(value) {
        Ok(record) => row.column_mismatch(&record),
        Err(e) => Some(format!("its content is not a valid record: {e}")),
    };
    Ok(problem.map(|detail| ChainBreak {
        id: row.id.clone(),
        what: Fault::Hash,
        detail,
    }))
}

/// A chain, page by page, in order.
pub struct ChainPages {
    store: Store,
    repository: String,
    after_seq: i64,
    done: bool,
}

impl ChainPages {
    /// The next page of records as their JSON exactly as hashed, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<serde_json::Value>>, StoreError> {
        match self.next_rows().await? {
            Some(rows) => rows
                .iter()
                .map(RecordRow::to_value)
                .collect::<Result<_, _>>()
                .map(Some),
            None => Ok(None),
        }
    }

    async fn next_rows(&mut self) -> Result<Option<Vec<RecordRow>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = Page::Chain {
            repository: &self.repository,
            after_seq: self.after_seq,
        };
        let rows = self.store.page(page, CHAIN_PAGE).await?;
        self.done = (rows.len() as i64) < CHAIN_PAGE;
        match rows.last() {
            Some(last) => self.after_seq = last.seq,
            None => return Ok(None),
        }
        Ok(Some(rows))
    }
}

/// Export rows, page by page, in time order.
pub struct ExportPages {
    store: Store,
    filter: ExportFilter,
    after: (i64, String),
    done: bool,
}

impl ExportPages {
    /// The next page of rows, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ExportRow>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = Page::Export {
            filter: &self.filter,
            after: &self.after,
        };
        let rows = self.store.page(page, EXPORT_PAGE).await?;
        self.done = (rows.len() as i64) < EXPORT_PAGE;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = (last.event_at, last.id.clone());
        rows.iter()
            .map(|row| match row.to_record()? {
                Record::Merge(m) => Ok(ExportRow::from(&m)),
                Record::Push(p) => Ok(ExportRow::from(&p)),
                _ => Err(StoreError::Corrupt {
                    what: "export row (neither a merge nor a push)",
                    value: row.id.clone(),
                }),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// Decision records, page by page, in `evaluated_at` order.
pub struct DecisionPages {
    store: Store,
    filter: ExportFilter,
    after: (i64, String),
    done: bool,
}

impl DecisionPages {
    /// The next page of decisions (policy text inline), or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<DecisionRecord>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = Page::Decisions {
            filter: &self.filter,
            after: &self.after,
        };
        let rows = self.store.page(page, DECISION_PAGE).await?;
        self.done = (rows.len() as i64) < DECISION_PAGE;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = (last.event_at, last.id.clone());
        rows.iter()
            .map(|row| match row.to_record()? {
                Record::Decision(d) => Ok(*d),
                _ => Err(StoreError::Corrupt {
                    what: "decision row (not a decision)",
                    value: row.id.clone(),
                }),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// The filter's bounds as SQL values: all of time when unset.
pub(crate) fn bounds(filter: &ExportFilter) -> (i64, i64) {
    (
        filter.since_ms.unwrap_or(i64::MIN),
        filter.until_ms.unwrap_or(i64::MAX),
    )
}

/// A stored row's place in its chain, for the caller.
pub(crate) fn stored(row: &rows::NewRow, recorded_at: &str) -> Result<StoredRecord, StoreError> {
    Ok(StoredRecord {
        id: row.id.clone(),
        repository: row.repository.clone(),
        seq: super::types::to_u64("chain position", row.seq)?,
        recorded_at: recorded_at.to_string(),
        prev_hash: row.prev_hash.clone(),
        hash: row.hash.clone(),
    })
}

/// The refusal of a policy text under a blob SHA already stored with another: a git blob SHA
/// names exactly one text, so one of the two is not what it claims to be.
pub(crate) fn different_policy(id: &str, sha: &str) -> StoreError {
    StoreError::InvalidRecord {
        id: id.to_string(),
        problem: format!(
            "policy blob {sha} is already stored with another text; a blob SHA names one text"
        ),
    }
}
