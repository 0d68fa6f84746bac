//! The App's durable state, and the only code that knows SQL.
//!
//! Several replicas must agree on what work is pending, who is doing it and which verdict is
//! the newest, and nothing accepted may be lost in a crash; so the state lives in a database
//! — a SQLite file for a one-replica install with nothing else to run, PostgreSQL for two or
//! more replicas — behind one interface, [`Store`]. Every operation is one transaction (prune
//! excepted: it deletes old deliveries in chunks); the SQL for each back end is in its own
//! file, `sqlite.rs` and `postgres.rs`, and the types and the semantics are here.
//!
//! Times are milliseconds since the Unix epoch taken from the App's clock ([`now_ms`]), not
//! the database's, so both back ends behave alike; replicas sharing PostgreSQL therefore need
//! synchronised clocks (NTP), as leases compare times written by different replicas.
//!
//! Sequence numbers ([`Claim::seq`]) come from one counter for the whole store, so for any
//! one key they only grow — also after the key's row was finished and deleted — and numbers
//! of different keys are comparable (a claim on `branch/main` and one on `pr/5` can both
//! gate writes for PR 5, and the one covering later work wins).
//!
//! The audit records (issue 12) live here too, in `audit/`: hash chains appended under a lock
//! on each chain's head row, so replicas never fork one; see that module.
//!
//! Migrations are embedded from `src/store/migrations/{sqlite,postgres}`; a new migration file
//! is picked up by the next build only once a file of this module changes (or `cargo clean`),
//! as `sqlx::migrate!` tracks the files it saw.

/// Runs `$call` on whichever back end `$self` has, bounded by `$timeout` (default
/// [`OPERATION_TIMEOUT`]); defined before the submodules so each can use it.
macro_rules! on_backend {
    ($self:ident, $op:literal, $timeout:expr, $b:ident => $call:expr) => {
        $self
            .bounded($op, $timeout, async {
                match &$self.backend {
                    Backend::Sqlite($b) => $call.await,
                    Backend::Postgres($b) => $call.await,
                }
            })
            .await
    };
    ($self:ident, $op:literal, $b:ident => $call:expr) => {
        on_backend!($self, $op, OPERATION_TIMEOUT, $b => $call)
    };
}

mod audit;
mod error;
mod heads;
mod postgres;
mod review_requests;
mod sqlite;
mod types;
mod url;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use audit::{
    AuditPruned, ChainPages, ChainReport, DecisionPages, ExportFilter, ExportPages, InboxItem,
    StoredRecord,
};
pub use error::StoreError;
pub use heads::PusherHead;
pub use review_requests::StoredRequest;
pub use types::{
    Accepted, Claim, Delivery, Fact, PrRecord, Pruned, Subject, Target, WorkItem, WriteGate,
};
pub use url::redact;

use types::Prepared;

/// The store used when none is configured: a SQLite file in the working directory, enough
/// for a one-replica install with nothing else to run.
pub const DEFAULT_URL: &str = "sqlite:reviewgate.db";
/// How long connecting, or waiting for a pooled connection, may take: an unreachable store
/// must surface as an error well inside GitHub's 10 s webhook window, never hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on one operation, connection wait included; below GitHub's 10 s webhook window.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);
/// Bound on [`Store::ping`], so a readiness probe answers in time.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on [`Store::prune`], which may delete a week of deliveries in chunks.
const PRUNE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a delivery ID is remembered: GitHub redelivers within days, not weeks.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// How long a closed PR's pushers are kept: a PR reopened within it still excludes them.
pub const CLOSED_PR_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// Milliseconds since the Unix epoch by the App's clock: the store's only time source.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration as milliseconds, saturating: a delay too long to store is "never" in effect.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether the store can hold `delivery` (every id fits SQL's signed 64-bit integers). One
/// that cannot fails the whole [`Store::accept`] batch it is in, so check each before
/// batching it with others.
pub fn storable(delivery: &Delivery) -> Result<(), StoreError> {
    Prepared::new(std::slice::from_ref(delivery), 0).map(|_| ())
}

/// How many of `migrator`'s migrations are not among `applied`: what a run will apply, when
/// counted under the same lock as the run.
fn pending_migrations(
    migrator: &sqlx::migrate::Migrator,
    applied: &[sqlx::migrate::AppliedMigration],
) -> usize {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .count()
}

/// The store: a pool of connections to one database, cheap to clone (clones share it).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The URL as [`redact`] gives it, for messages.
    shown: String,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.shown).finish()
    }
}

impl Store {
    /// Opens the store `url` names: `sqlite:PATH` or `sqlite://PATH` (relative to the working
    /// directory; the file is created if missing, its directory must exist), or
    /// `postgres://…` / `postgresql://…`. Fails within [`CONNECT_TIMEOUT`] when the store
    /// cannot be reached; errors name the URL with its password replaced by `***`.
    ///
    /// Connecting does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let shown = redact(url);
        let backend = match url::parse(url)? {
            url::Location::Sqlite(path) => {
                Backend::Sqlite(sqlite::Sqlite::connect(&path, url).await?)
            }
            url::Location::Postgres(options) => {
                Backend::Postgres(postgres::Postgres::connect(*options, url).await?)
            }
        };
        Ok(Store { backend, shown })
    }

    /// The SQLite file a store URL names (relative to the working directory unless
    /// absolute); `None` for PostgreSQL or a URL that is not a store's.
    pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
        match url::parse(url) {
            Ok(url::Location::Sqlite(path)) => Some(path),
            _ => None,
        }
    }

    /// Opens a store that must already exist: as [`Store::connect`], except that a SQLite
    /// file that does not exist is an error instead of being created. For commands that only
    /// read (`audit`, `replay`): run in the wrong directory, they must say there is no store
    /// rather than leave an empty `reviewgate.db` behind and report nothing.
    pub async fn open_existing(url: &str) -> Result<Store, StoreError> {
        if let url::Location::Sqlite(path) = url::parse(url)? {
            if !path.is_file() {
                return Err(StoreError::Unreachable {
                    url: redact(url),
                    detail: format!("no such file {}", path.display()),
                });
            }
        }
        Store::connect(url).await
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The store's URL with any password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Applies the embedded migrations not yet applied; returns how many it applied (0 when
    /// the schema is up to date). With PostgreSQL, replicas starting together serialise on an
    /// advisory lock, so each migration is applied once and the others return 0.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.migrate().await,
            Backend::Postgres(b) => b.migrate().await,
        }
    }

    /// A cheap query, answered within [`PING_TIMEOUT`] or an error: for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, "ping", PING_TIMEOUT, b => b.ping())
    }

    /// Records a batch of webhook deliveries and their work and facts, in ONE transaction:
    /// when this returns `Ok`, all of it is durable, and a webhook may be answered 2xx.
    ///
    /// For each delivery in order: if its non-empty `id` is already stored (earlier, by any
    /// replica, or earlier in this batch), it is [`Accepted::Duplicate`] and nothing of it is
    /// applied; otherwise the id is recorded with the current time, its work items are
    /// coalesced into the pending work (see [`WorkItem`]) and its facts applied, and it is
    /// [`Accepted::New`]. An empty id is never de-duplicated. Two replicas accepting one id at
    /// the same instant: exactly one gets `New` (a unique key decides). The results are in the
    /// order of `batch`. On error nothing of the batch is stored.
    pub async fn accept(&self, batch: &[Delivery]) -> Result<Vec<Accepted>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let prepared = Prepared::new(batch, now)?;
        on_backend!(self, "accept", b => b.accept(&prepared, now))
    }

    /// Takes one piece of pending work for `holder`, or `None` when nothing is due.
    ///
    /// Eligible: rows due (`due_at <= now`) that are unclaimed or whose lease has expired,
    /// oldest due first. The row is marked claimed by `holder` until `now + lease`, and the
    /// claim covers every work item stored so far ([`Claim::seq`]). Two holders never both
    /// hold a row with a valid lease. Taking over an expired lease sets
    /// [`Claim::took_over_expired`] and counts as a failed attempt (the previous holder died
    /// or hung; a piece of work that kills replicas must back off like any failure).
    pub async fn claim(&self, holder: &str, lease: Duration) -> Result<Option<Claim>, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(ms(lease));
        on_backend!(self, "claim", b => b.claim(holder, now, until))
    }

    /// Extends the claim's lease to `now + lease`; false when the claim was lost (taken over
    /// after expiry, or released), in which case the holder must stop and write nothing. A
    /// lease that expired but was not yet taken over is still held and is extended.
    pub async fn renew(&self, claim: &Claim, lease: Duration) -> Result<bool, StoreError> {
        let until = now_ms().saturating_add(ms(lease));
        on_backend!(self, "renew", b => b.renew(claim, until))
    }

    /// The evaluation the claim stands for is done.
    ///
    /// When no work arrived since the claim, the row and its merge groups are deleted and this
    /// returns `Ok(false)`. Otherwise the merge groups the claim included are deleted, the row
    /// is unclaimed, due at `now + again_in`, with `attempts` and `failing_since` cleared, and
    /// [`Claim::evaluate_pr`] true only if a PR evaluation was asked for after the claim; it
    /// returns `Ok(true)`: exactly one more evaluation follows, however many events arrived.
    ///
    /// A holder that lost the claim changes nothing and gets [`StoreError::ClaimLost`] (the
    /// new holder will evaluate again).
    pub async fn finish(&self, claim: &Claim, again_in: Duration) -> Result<bool, StoreError> {
        let now = now_ms();
        let due = now.saturating_add(ms(again_in));
        on_backend!(self, "finish", b => b.finish(claim, due))
    }

    /// Gives the work back unfinished, due in `retry_in` (the row keeps its merge groups and
    /// everything that arrived meanwhile). `failed` counts a failed attempt: `attempts` goes
    /// up by one and `failing_since` is set if unset, for the App's back-off; a release for
    /// other reasons (shutdown, rate limit) passes false. A lost claim changes nothing and
    /// gets [`StoreError::ClaimLost`].
    pub async fn release(
        &self,
        claim: &Claim,
        retry_in: Duration,
        failed: bool,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let due = now.saturating_add(ms(retry_in));
        on_backend!(self, "release", b => b.release(claim, now, due, failed))
    }

    /// Releases every claim `holder` has (a replica shutting down gives back the work it has
    /// not finished, so others take it at once rather than after the lease); returns how many.
    /// The rows stay due as they were; attempts are not counted.
    pub async fn release_holder(&self, holder: &str) -> Result<u64, StoreError> {
        on_backend!(self, "release_holder", b => b.release_claims(Some(holder)))
    }

    /// Releases every claim of every holder, and gives up every named lease (the commits a
    /// previous process was evaluating, its sweep): for SQLite, where one process owns the
    /// file, what a previous (crashed) process held is released at start-up, so the new one
    /// need not wait a lease for it. Returns how many claims. Never call this with replicas
    /// sharing the store.
    pub async fn release_all(&self) -> Result<u64, StoreError> {
        on_backend!(self, "release_all", b => b.release_claims(None))
    }

    /// Decides, just before a check-run write for `pr` goes to GitHub, whether it may: in
    /// one transaction, [`WriteGate::Lost`] if the claim is no longer held;
    /// [`WriteGate::LeaseTooShort`] if its lease ends within `min_lease_left` (the write could
    /// outlive it); [`WriteGate::Stale`] if a write covering a later sequence number was
    /// already made for the PR; otherwise it records that a write covering [`Claim::seq`] is
    /// made and returns [`WriteGate::Allowed`]. Equal sequence numbers are allowed (one
    /// evaluation may write several times).
    pub async fn gate_write(
        &self,
        claim: &Claim,
        pr: u64,
        min_lease_left: Duration,
    ) -> Result<WriteGate, StoreError> {
        let pr = types::to_i64("PR number", pr)?;
        let now = now_ms();
        on_backend!(self, "gate_write", b => b.gate_write(claim, pr, now, ms(min_lease_left)))
    }

    /// Deletes what is kept only for a while: delivery IDs older than [`DELIVERY_RETENTION`],
    /// and the pushers, team organisations and write marks of PRs closed more than
    /// [`CLOSED_PR_RETENTION`] ago; write marks older than that are dropped too (any later
    /// claim has a higher sequence number anyway).
    pub async fn prune(&self) -> Result<Pruned, StoreError> {
        self.prune_at(now_ms()).await
    }

    /// [`Store::prune`] as if the time were `now` (milliseconds since the epoch): for tests
    /// and tools that must not wait a month.
    pub async fn prune_at(&self, now: i64) -> Result<Pruned, StoreError> {
        let deliveries_before = now.saturating_sub(ms(DELIVERY_RETENTION));
        let closed_before = now.saturating_sub(ms(CLOSED_PR_RETENTION));
        on_backend!(self, "prune", PRUNE_TIMEOUT, b => b.prune(deliveries_before, closed_before))
    }

    /// The logins that pushed to the PR (from `opened`/`synchronize` deliveries), sorted.
    pub async fn pushers(&self, repo_id: u64, pr: u64) -> Result<Vec<String>, StoreError> {
        let (repo_id, pr) = (
            types::to_i64("repository id", repo_id)?,
            types::to_i64("PR number", pr)?,
        );
        on_backend!(self, "pushers", b => b.pushers(repo_id, pr))
    }

    /// Replaces the set of organisations whose teams the PR's policy names, so that a
    /// `membership` or `team` event on any replica finds the PRs to re-evaluate. Organisation
    /// names are kept in lower case (GitHub's are case-insensitive); an empty set forgets.
    pub async fn record_team_orgs(
        &self,
        repo_id: u64,
        pr: u64,
        installation: u64,
        repo: &str,
        orgs: &[String],
    ) -> Result<(), StoreError> {
        let record = types::to_record(repo_id, pr, installation)?;
        let mut orgs: Vec<String> = orgs.iter().map(|o| o.trim().to_lowercase()).collect();
        orgs.retain(|o| !o.is_empty());
        orgs.sort();
        orgs.dedup();
        on_backend!(self, "record_team_orgs", b => b.record_team_orgs(record, repo, &orgs))
    }

    /// The PRs whose recorded organisations include `org` (compared in lower case), ordered by
    /// repository id and number.
    pub async fn prs_naming_org(&self, org: &str) -> Result<Vec<PrRecord>, StoreError> {
        let org = org.trim().to_lowercase();
        on_backend!(self, "prs_naming_org", b => b.prs_naming_org(&org))
    }

    /// Forgets the PR's recorded organisations (the PR was closed or its policy names none).
    pub async fn forget_pr_team_orgs(&self, repo_id: u64, pr: u64) -> Result<(), StoreError> {
        let record = types::to_record(repo_id, pr, 0)?;
        on_backend!(self, "forget_pr_team_orgs", b => b.record_team_orgs(record, "", &[]))
    }

    /// Takes the named lease for `holder` until `now + ttl` if it is free or expired, or
    /// extends it if `holder` already has it; false when another holder has it. For work one
    /// replica at a time must do (the reconciliation sweep).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(ms(ttl));
        on_backend!(self, "try_lease", b => b.try_lease(name, holder, now, until))
    }

    /// Gives up the named lease if `holder` has it; returns whether it had.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        on_backend!(self, "release_lease", b => b.release_lease(name, holder))
    }

    /// Rows of pending work, claimed or not, across all replicas: what back-pressure bounds.
    pub async fn pending(&self) -> Result<u64, StoreError> {
        on_backend!(self, "pending", b => b.pending())
    }

    /// Runs `fut`, or fails with [`StoreError::Timeout`] after `after`.
    async fn bounded<T>(
        &self,
        op: &'static str,
        after: Duration,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(after, fut)
            .await
            .map_err(|_| StoreError::Timeout { op, after })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The App runs store calls in spawned tasks: every operation's future must be `Send`.
    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: T) {}
        #[allow(clippy::diverging_sub_expression, unreachable_code, unused_variables)]
        fn check(s: Store, c: Claim) {
            send(Store::connect(""));
            send(s.migrate());
            send(s.ping());
            send(s.accept(&[]));
            send(s.claim("", Duration::ZERO));
            send(s.renew(&c, Duration::ZERO));
            send(s.finish(&c, Duration::ZERO));
            send(s.release(&c, Duration::ZERO, false));
            send(s.release_holder(""));
            send(s.release_all());
            send(s.gate_write(&c, 1, Duration::ZERO));
            send(s.prune());
            send(s.pushers(1, 1));
            send(s.record_team_orgs(1, 1, 1, "", &[]));
            send(s.prs_naming_org(""));
            send(s.forget_pr_team_orgs(1, 1));
            send(s.try_lease("", "", Duration::ZERO));
            send(s.release_lease("", ""));
            send(s.pending());
            let mut r: Vec<crate::audit::Record> = Vec::new();
            send(s.append_records(&mut r));
            send(s.record(""));
            send(s.latest_decision("", "", "", 0));
            send(s.merged_commits("", &[]));
            send(s.repositories());
            send(s.verify_chain(""));
            send(s.prune_records(0));
            send(s.chain("").next_page());
            send(s.export_rows(ExportFilter::default()).next_page());
            send(s.decisions(ExportFilter::default()).next_page());
        }
        let _ = check;
    }
}
