//! The values that go into and come out of the store, and their checked conversion to the
//! signed 64-bit integers SQL stores (GitHub's ids are unsigned; a value that does not fit is
//! refused with [`StoreError::OutOfRange`], never wrapped).

use std::collections::HashSet;
use std::time::Duration;

use super::StoreError;

/// One webhook delivery to record, with what it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// `X-GitHub-Delivery`; empty means "do not de-duplicate" (internal work, tests).
    pub id: String,
    pub work: Vec<WorkItem>,
    pub facts: Vec<Fact>,
}

/// A request to (re-)evaluate something, coalesced by key with the work already pending.
///
/// Work is keyed by `(repo_id, key)`: `pr/<n>` for a PR and for merge groups of that PR (so at
/// most one evaluation of a PR, merge groups included, runs at a time), `branch/<name>`, or
/// `repo`. Applying an item to its key: one row per key; the row's sequence number advances;
/// `due_at` becomes the earlier of the row's and `now + delay`; `installation` and `repo`
/// take the item's values and `head_sha` the item's when it has one; a PR item without a
/// merge group marks the PR for evaluation; a merge-group item adds its SHA to the PR's
/// pending merge groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub repo_id: u64,
    pub subject: Subject,
    pub installation: u64,
    /// `owner/name`.
    pub repo: String,
    pub head_sha: Option<String>,
    /// How long to gather further events before the work is due (the debounce).
    pub delay: Duration,
}

/// What a work item is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A PR; with `merge_group`, the head SHA of a merge group containing it.
    Pr {
        number: u64,
        merge_group: Option<String>,
    },
    /// The policy on this branch may have changed.
    Branch(String),
    /// Who may approve in the repository changed.
    Repo,
    /// Merges and pushes are waiting in the repository's audit inbox (see
    /// [`Fact::AuditEvent`]): one key per repository, so one replica at a time records them,
    /// in the order they came.
    Audit,
    /// The organisation's floor policy (held in this repository) may have changed: sweep the
    /// installation's open PRs.
    Floor,
}

/// A fact only webhooks carry, kept per PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// `login` pushed to the PR (kept while it is open and 30 days after it closes), making
    /// `head_sha` its head, when the delivery said.
    Pusher {
        repo_id: u64,
        pr: u64,
        login: String,
        head_sha: Option<String>,
    },
    /// The PR was closed now: its facts are dropped 30 days from now unless it reopens.
    PrClosed {
        repo_id: u64,
        pr: u64,
    },
    PrReopened {
        repo_id: u64,
        pr: u64,
    },
    /// A merge or push to record in the repository's audit trail: `body` is opaque to the
    /// store (the App's JSON), kept in the audit inbox, in arrival order, until the App
    /// consumes it with [`super::Store::append_consuming`] or [`super::Store::drop_inbox_item`].
    AuditEvent {
        repo_id: u64,
        body: String,
    },
}

/// What became of one delivery of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded now, with its work and facts.
    New,
    /// Its ID was already recorded; nothing of it was applied.
    Duplicate,
}

/// What a claimed key is about, read back from the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pr(u64),
    Branch(String),
    Repo,
    Audit,
    Floor,
}

impl Target {
    /// The key text: `pr/<n>`, `branch/<name>`, `repo`, `audit`, `floor`.
    pub fn key(&self) -> String {
        match self {
            Target::Pr(n) => format!("pr/{n}"),
            Target::Branch(b) => format!("branch/{b}"),
            Target::Repo => "repo".to_string(),
            Target::Audit => "audit".to_string(),
            Target::Floor => "floor".to_string(),
        }
    }

    pub(crate) fn parse(key: &str) -> Result<Target, StoreError> {
        let corrupt = || StoreError::Corrupt {
            what: "work key",
            value: key.to_string(),
        };
        if key == "repo" {
            Ok(Target::Repo)
        } else if key == "audit" {
            Ok(Target::Audit)
        } else if key == "floor" {
            Ok(Target::Floor)
        } else if let Some(n) = key.strip_prefix("pr/") {
            n.parse().map(Target::Pr).map_err(|_| corrupt())
        } else if let Some(b) = key.strip_prefix("branch/") {
            Ok(Target::Branch(b.to_string()))
        } else {
            Err(corrupt())
        }
    }
}

/// A claimed piece of work: what to evaluate, and the proof of holding it that every later
/// call about it ([`super::Store::renew`], `finish`, `release`, `gate_write`) presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub repo_id: u64,
    /// The key text, `pr/<n>`, `branch/<name>` or `repo`.
    pub key: String,
    pub target: Target,
    /// A PR evaluation was asked for (not only merge groups).
    pub evaluate_pr: bool,
    /// Head SHAs of the PR's merge groups to evaluate, oldest first.
    pub merge_groups: Vec<String>,
    pub installation: u64,
    pub repo: String,
    pub head_sha: Option<String>,
    /// The sequence number of the newest work item this claim covers.
    pub seq: u64,
    /// Failed attempts so far (released with `failed`, or leases that expired).
    pub attempts: u32,
    /// When the first of those failures happened (ms since the epoch).
    pub failing_since: Option<i64>,
    /// The work was claimed by a holder whose lease expired: a lost claim, for the metric.
    pub took_over_expired: bool,
    pub holder: String,
    /// When the lease ends unless renewed (ms since the epoch).
    pub lease_until: i64,
    /// Unique per claim, so a holder's stale claim cannot pass for its newer one.
    pub(crate) token: i64,
}

/// The answer of [`super::Store::gate_write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteGate {
    /// Write: the store recorded that a write covering the claim's sequence is made.
    Allowed,
    /// Do not write: a write covering later events was already made for the PR.
    Stale,
    /// Do not write: the lease could end before the write does; renew, then ask again.
    LeaseTooShort,
    /// Do not write: the claim is no longer held.
    Lost,
}

/// What [`super::Store::prune`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub deliveries: u64,
    pub pushers: u64,
    /// The heads pushes made.
    pub pusher_heads: u64,
    /// Heads' content fingerprints.
    pub fingerprints: u64,
    /// Review requests the App made, and requests people removed.
    pub review_requests: u64,
    pub review_request_bars: u64,
    pub team_orgs: u64,
    pub closed_prs: u64,
    pub write_marks: u64,
}

/// A PR, with what is needed to queue work for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrRecord {
    pub repo_id: u64,
    pub pr: u64,
    pub installation: u64,
    pub repo: String,
}

/// A `u64` as SQL's `BIGINT`.
pub(crate) fn to_i64(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        what,
        value: value.to_string(),
    })
}

/// A stored `BIGINT` as the API's `u64`.
pub(crate) fn to_u64(what: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::OutOfRange {
        what,
        value: value.to_string(),
    })
}

/// Rows of `(repo_id, pr, installation, repo)` as [`PrRecord`]s.
pub(crate) fn pr_records(rows: Vec<(i64, i64, i64, String)>) -> Result<Vec<PrRecord>, StoreError> {
    rows.into_iter()
        .map(|(repo_id, pr, installation, repo)| {
            Ok(PrRecord {
                repo_id: to_u64("repository id", repo_id)?,
                pr: to_u64("PR number", pr)?,
                installation: to_u64("installation id", installation)?,
                repo,
            })
        })
        .collect()
}

/// `(repo_id, pr, installation)` checked for SQL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrKey {
    pub repo_id: i64,
    pub pr: i64,
    pub installation: i64,
}

pub(crate) fn to_record(repo_id: u64, pr: u64, installation: u64) -> Result<PrKey, StoreError> {
    Ok(PrKey {
        repo_id: to_i64("repository id", repo_id)?,
        pr: to_i64("PR number", pr)?,
        installation: to_i64("installation id", installation)?,
    })
}

/// A batch converted and checked before any transaction starts, so a bad value fails the
/// whole batch without touching the database.
///
/// Both back ends apply it in the same plan: first the delivery IDs, sorted, in one statement;
/// then the work of the deliveries that are new, sorted by `(repo_id, key)`; then their
/// pushers, sorted, in one statement; then their PR closes and reopens, sorted by
/// `(repo_id, pr)`. Two PostgreSQL transactions that lock rows in one global order cannot
/// deadlock, however their batches overlap; the sorts are stable, so items for one key (or
/// closes and reopens of one PR) keep the order of the batch. Few statements per batch, as
/// each costs a round trip (PostgreSQL) or a hop to the driver's thread (SQLite).
pub(crate) struct Prepared<'a> {
    deliveries: Vec<PreparedDelivery<'a>>,
}

struct PreparedDelivery<'a> {
    id: &'a str,
    work: Vec<Upsert<'a>>,
    facts: Vec<FactRow<'a>>,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(batch: &'a [Delivery], now: i64) -> Result<Prepared<'a>, StoreError> {
        let deliveries = batch
            .iter()
            .map(|d| {
                Ok(PreparedDelivery {
                    id: d.id.as_str(),
                    work: d
                        .work
                        .iter()
                        .map(|w| Upsert::new(w, now))
                        .collect::<Result<_, _>>()?,
                    facts: d.facts.iter().map(FactRow::new).collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Prepared { deliveries })
    }

    /// The distinct non-empty delivery IDs, sorted: what to insert first.
    pub(crate) fn ids(&self) -> Vec<&'a str> {
        let mut ids: Vec<&str> = self
            .deliveries
            .iter()
            .map(|d| d.id)
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Each delivery's outcome, given the IDs whose insert succeeded: the first delivery with
    /// a newly inserted ID is new, any later copy in the batch a duplicate.
    pub(crate) fn outcomes(&self, inserted: &HashSet<String>) -> Vec<Accepted> {
        let mut taken = HashSet::new();
        self.deliveries
            .iter()
            .map(|d| {
                if d.id.is_empty() || (inserted.contains(d.id) && taken.insert(d.id)) {
                    Accepted::New
                } else {
                    Accepted::Duplicate
                }
            })
            .collect()
    }

    /// The work of the new deliveries, in lock order.
    pub(crate) fn work(&self, outcomes: &[Accepted]) -> Vec<&Upsert<'a>> {
        let mut work: Vec<&Upsert> = self
            .new_ones(outcomes)
            .into_iter()
            .flat_map(|d| d.work.iter())
            .collect();
        work.sort_by(|a, b| (a.repo_id, &a.key).cmp(&(b.repo_id, &b.key)));
        work
    }

    /// The pushers of the new deliveries as `(repo_id, pr, login)`, sorted and distinct:
    /// inserted in one statement.
    pub(crate) fn pushers(&self, outcomes: &[Accepted]) -> Vec<(i64, i64, &'a str)> {
        let mut pushers: Vec<(i64, i64, &str)> = self
            .new_facts(outcomes)
            .filter_map(|f| match f {
                FactRow::Pusher {
                    repo_id, pr, login, ..
                } => Some((*repo_id, *pr, *login)),
                _ => None,
            })
            .collect();
        pushers.sort_unstable();
        pushers.dedup();
        pushers
    }

    /// The heads the new deliveries' pushes made, as `(repo_id, pr, login, head_sha)`, sorted
    /// and distinct (head SHAs lower-cased; empty when the delivery did not say, which no
    /// commit matches, so such a push always makes a pusher): inserted in one statement.
    pub(crate) fn pusher_heads(&self, outcomes: &[Accepted]) -> Vec<(i64, i64, &'a str, String)> {
        let mut heads: Vec<(i64, i64, &str, String)> = self
            .new_facts(outcomes)
            .filter_map(|f| match f {
                FactRow::Pusher {
                    repo_id,
                    pr,
                    login,
                    head_sha,
                } => Some((
                    *repo_id,
                    *pr,
                    *login,
                    head_sha.unwrap_or_default().to_ascii_lowercase(),
                )),
                _ => None,
            })
            .collect();
        heads.sort_unstable();
        heads.dedup();
        heads
    }

    /// The PR closes and reopens of the new deliveries, in lock order (per PR, in the order
    /// they came: a close then a reopen leaves the PR open).
    pub(crate) fn pr_states(&self, outcomes: &[Accepted]) -> Vec<&FactRow<'a>> {
        let mut states: Vec<&FactRow> = self
            .new_facts(outcomes)
            .filter(|f| matches!(f, FactRow::Closed { .. } | FactRow::Reopened { .. }))
            .collect();
        states.sort_by_key(|f| f.pr());
        states
    }

    /// The audit events of the new deliveries as `(repo_id, body)`, in the order they came
    /// (the inbox keeps that order; its inserts lock no existing row).
    pub(crate) fn audit_events(&self, outcomes: &[Accepted]) -> Vec<(i64, &'a str)> {
        self.new_facts(outcomes)
            .filter_map(|f| match f {
                FactRow::Audit { repo_id, body } => Some((*repo_id, *body)),
                _ => None,
            })
            .collect()
    }

    fn new_facts(&self, outcomes: &[Accepted]) -> impl Iterator<Item = &FactRow<'a>> {
        self.new_ones(outcomes)
            .into_iter()
            .flat_map(|d| d.facts.iter())
    }

    fn new_ones(&self, outcomes: &[Accepted]) -> Vec<&PreparedDelivery<'a>> {
        self.deliveries
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| **o == Accepted::New)
            .map(|(d, _)| d)
            .collect()
    }
}

/// One work item, ready for the upsert.
pub(crate) struct Upsert<'a> {
    pub repo_id: i64,
    pub key: String,
    pub installation: i64,
    pub repo: &'a str,
    pub head_sha: Option<&'a str>,
    pub due_at: i64,
    /// A PR item without a merge group.
    pub evaluate_pr: bool,
    pub merge_group: Option<&'a str>,
}

pub(crate) enum FactRow<'a> {
    Pusher {
        repo_id: i64,
        pr: i64,
        login: &'a str,
        head_sha: Option<&'a str>,
    },
    Closed {
        repo_id: i64,
        pr: i64,
    },
    Reopened {
        repo_id: i64,
        pr: i64,
    },
    Audit {
        repo_id: i64,
        body: &'a str,
    },
}

impl<'a> Upsert<'a> {
    fn new(w: &'a WorkItem, now: i64) -> Result<Upsert<'a>, StoreError> {
        let (target, evaluate_pr, merge_group) = match &w.subject {
            Subject::Pr {
                number,
                merge_group,
            } => (
                Target::Pr(to_u64("PR number", to_i64("PR number", *number)?)?),
                merge_group.is_none(),
                merge_group.as_deref(),
            ),
            Subject::Branch(b) => (Target::Branch(b.clone()), false, None),
            Subject::Repo => (Target::Repo, false, None),
            Subject::Audit => (Target::Audit, false, None),
            Subject::Floor => (Target::Floor, false, None),
        };
        Ok(Upsert {
            repo_id: to_i64("repository id", w.repo_id)?,
            key: target.key(),
            installation: to_i64("installation id", w.installation)?,
            repo: &w.repo,
            head_sha: w.head_sha.as_deref(),
            due_at: now.saturating_add(super::ms(w.delay)),
            evaluate_pr,
            merge_group,
        })
    }
}

impl<'a> FactRow<'a> {
    /// The PR the fact is about (`0` for an audit event, which is about none).
    fn pr(&self) -> (i64, i64) {
        match self {
            FactRow::Pusher { repo_id, pr, .. }
            | FactRow::Closed { repo_id, pr }
            | FactRow::Reopened { repo_id, pr } => (*repo_id, *pr),
            FactRow::Audit { repo_id, .. } => (*repo_id, 0),
        }
    }

    fn new(f: &'a Fact) -> Result<FactRow<'a>, StoreError> {
        let pair = |repo_id: u64, pr: u64| -> Result<(i64, i64), StoreError> {
            Ok((to_i64("repository id", repo_id)?, to_i64("PR number", pr)?))
        };
        Ok(match f {
            Fact::Pusher {
                repo_id,
                pr,
                login,
                head_sha,
            } => {
                let (repo_id, pr) = pair(*repo_id, *pr)?;
                FactRow::Pusher {
                    repo_id,
                    pr,
                    login,
                    head_sha: head_sha.as_deref(),
                }
            }
            Fact::PrClosed { repo_id, pr } => {
                let (repo_id, pr) = pair(*repo_id, *pr)?;
                FactRow::Closed { repo_id, pr }
            }
            Fact::PrReopened { repo_id, pr } => {
                let (repo_id, pr) = pair(*repo_id, *pr)?;
                FactRow::Reopened { repo_id, pr }
            }
            Fact::AuditEvent { repo_id, body } => FactRow::Audit {
                repo_id: to_i64("repository id", *repo_id)?,
                body,
            },
        })
    }
}

/// A claimed row as both back ends read it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimRow {
    pub repo_id: i64,
    pub key: String,
    pub installation: i64,
    pub repo: String,
    pub head_sha: Option<String>,
    pub seq: i64,
    pub evaluate_pr: bool,
    pub attempts: i64,
    pub first_failed_at: Option<i64>,
    pub lease_until: i64,
    pub token: i64,
    pub took_over: bool,
}

impl ClaimRow {
    pub(crate) fn into_claim(
        self,
        holder: &str,
        merge_groups: Vec<String>,
    ) -> Result<Claim, StoreError> {
        Ok(Claim {
            repo_id: to_u64("repository id", self.repo_id)?,
            target: Target::parse(&self.key)?,
            key: self.key,
            evaluate_pr: self.evaluate_pr,
            merge_groups,
            installation: to_u64("installation id", self.installation)?,
            repo: self.repo,
            head_sha: self.head_sha,
            seq: to_u64("sequence number", self.seq)?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            failing_since: self.first_failed_at,
            took_over_expired: self.took_over,
            holder: holder.to_string(),
            lease_until: self.lease_until,
            token: self.token,
        })
    }
}

/// The claim's identity in SQL terms.
pub(crate) struct ClaimKey<'a> {
    pub repo_id: i64,
    pub key: &'a str,
    pub holder: &'a str,
    pub token: i64,
}

impl Claim {
    pub(crate) fn sql_key(&self) -> Result<ClaimKey<'_>, StoreError> {
        Ok(ClaimKey {
            repo_id: to_i64("repository id", self.repo_id)?,
            key: &self.key,
            holder: &self.holder,
            token: self.token,
        })
    }

    pub(crate) fn lost(&self) -> StoreError {
        StoreError::ClaimLost {
            repo_id: self.repo_id,
            key: self.key.clone(),
            holder: self.holder.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for t in [
            Target::Pr(7),
            Target::Branch("release/2.x".into()),
            Target::Repo,
            Target::Audit,
            Target::Floor,
        ] {
            assert_eq!(Target::parse(&t.key()).expect("parse"), t);
        }
        assert!(Target::parse("pr/x").is_err());
        assert!(Target::parse("other").is_err());
    }

    #[test]
    fn the_plan_keeps_first_copies_and_the_order_within_a_pr() {
        let d = |id: &str, facts: Vec<Fact>| Delivery {
            id: id.into(),
            work: vec![],
            facts,
        };
        let push = |login: &str| Fact::Pusher {
            repo_id: 1,
            pr: 2,
            login: login.into(),
            head_sha: None,
        };
        let batch = vec![
            d("b", vec![push("zed"), Fact::PrClosed { repo_id: 1, pr: 2 }]),
            d("a", vec![push("amy"), push("zed")]),
            d("b", vec![push("eve")]),
            d("", vec![Fact::PrReopened { repo_id: 1, pr: 2 }]),
        ];
        let plan = Prepared::new(&batch, 0).expect("plan");
        assert_eq!(plan.ids(), vec!["a", "b"]);
        let inserted: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        let outcomes = plan.outcomes(&inserted);
        use Accepted::{Duplicate, New};
        assert_eq!(outcomes, vec![New, New, Duplicate, New]);
        assert_eq!(plan.pushers(&outcomes), vec![(1, 2, "amy"), (1, 2, "zed")]);
        let states = plan.pr_states(&outcomes);
        assert!(matches!(
            states[..],
            [FactRow::Closed { .. }, FactRow::Reopened { .. }]
        ));
        let none = plan.outcomes(&HashSet::new());
        assert_eq!(
            none,
            vec![Duplicate, Duplicate, Duplicate, New],
            "seen before"
        );
    }

    #[test]
    fn out_of_range_ids_are_refused_not_wrapped() {
        let d = Delivery {
            id: "d".into(),
            work: vec![WorkItem {
                repo_id: u64::MAX,
                subject: Subject::Repo,
                installation: 1,
                repo: "o/r".into(),
                head_sha: None,
                delay: Duration::ZERO,
            }],
            facts: vec![],
        };
        let e = Prepared::new(std::slice::from_ref(&d), 0)
            .err()
            .expect("refused");
        assert!(matches!(e, StoreError::OutOfRange { .. }), "{e}");
        assert!(to_u64("x", -1).is_err());
    }
}
