//! reviewgate: a GitHub App that gates merges on a review policy kept in the repository.
//!
//! The crate is layered so that the decision is pure and the I/O is thin:
//! - [`policy`]: the `policy.toml` language, loaded, validated and compiled;
//! - [`snapshot`]: the facts about one pull request the decision needs;
//! - [`evaluate`]: policy + snapshot → [`evaluate::Verdict`], with no I/O;
//! - [`report`]: verdicts rendered for a terminal, as JSON, and as check-run Markdown;
//! - [`audit`]: the tamper-evident records of decisions, merges and pushes (pure);
//! - [`store`]: the durable state replicas share (SQLite or PostgreSQL), the only SQL;
//! - [`cli`]: the `reviewgate` commands.

pub mod app;
pub mod audit;
pub mod cli;
pub mod evaluate;
pub mod github;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod server;
pub mod snapshot;
pub mod store;
