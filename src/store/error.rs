//! What can go wrong in the store, each error saying which operation failed and on which
//! store. A store URL appears in messages only as [`super::redact`] returns it, so no error,
//! and no log line made from one, ever carries the database password.

use std::time::Duration;

/// A store operation that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one of the accepted forms, or cannot be parsed.
    #[error("store URL {url}: {problem}")]
    BadUrl { url: String, problem: String },

    /// The store could not be opened or reached. `detail` is the driver's message with any
    /// password scrubbed from it: the driver error itself is not kept, so that no chain of
    /// sources printed later can reveal one.
    #[error("cannot reach store {url}: {detail}")]
    Unreachable { url: String, detail: String },

    /// An operation took longer than its bound; the store is too slow or unreachable.
    #[error("store {op}: no answer within {}s", after.as_secs_f64())]
    Timeout { op: &'static str, after: Duration },

    /// A query failed.
    #[error("store {op}: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// Applying the embedded schema migrations failed.
    #[error("store migrations: {source}")]
    Migrate {
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A number does not fit the store's columns (SQL has only signed 64-bit integers) or a
    /// stored number does not fit the API's type; refused rather than wrapped.
    #[error("store: {what} {value} is out of range")]
    OutOfRange { what: &'static str, value: String },

    /// The claim is no longer held by its holder: its lease expired and another holder took
    /// the work, or it was released. Nothing was changed.
    #[error("store: claim of {key} in repository {repo_id} by {holder} is no longer held")]
    ClaimLost {
        repo_id: u64,
        key: String,
        holder: String,
    },

    /// An audit record that may not enter a chain (malformed, or naming a policy blob SHA
    /// already stored with another text); nothing was stored.
    #[error("store: audit record {id} refused: {problem}")]
    InvalidRecord { id: String, problem: String },

    /// A stored value the code cannot read back (written by a newer or broken version).
    #[error("store: unreadable {what}: {value:?}")]
    Corrupt { what: &'static str, value: String },
}

impl StoreError {
    /// A query failed because the schema has no such table: the store was never migrated, or
    /// predates the table (SQLite says so in words; PostgreSQL with code 42P01).
    pub fn is_missing_table(&self) -> bool {
        match self {
            StoreError::Query {
                source: sqlx::Error::Database(db),
                ..
            } => db.code().as_deref() == Some("42P01") || db.message().contains("no such table"),
            _ => false,
        }
    }

    /// An error for operation `op`, from the driver.
    pub(crate) fn query(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
        move |source| StoreError::Query { op, source }
    }

    /// True when the store could not be reached or answered too slowly: worth retrying later,
    /// and what `/readyz` should report as unavailable.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } | StoreError::Timeout { .. } => true,
            StoreError::Query { source, .. } => matches!(
                source,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Tls(_)
            ),
            _ => false,
        }
    }
}
