//! Building records from what the App knows, so that the App only gathers facts and every
//! rule about what a record says lives here, tested without GitHub or a database.
//!
//! Records come out unchained: `recorded_at`, `prev_hash` and `hash` are empty until the
//! store appends them ([`super::chain::seal`]). Each gets a fresh id here, before it is
//! stored, so that records written together can name each other (a decision's `other_prs`).

use crate::evaluate::Verdict;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

use super::approvers::{approvers, merge_approvers};
use super::record::{
    CheckpointRecord, Conclusion, DecisionRecord, IgnoredReviewer, Kind, MergeRecord,
    OrgPolicyRecord, OtherPr, PushRecord, RequirementNeeds, RequirementRecord,
};
use super::time::{format_ms, format_ms_auto, normalise_rfc3339, parse_rfc3339_ms};
use super::{AuditError, new_id};

/// Where and when a decision was reached, besides the policy and the facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionContext {
    /// `owner/repo`.
    pub repository: String,
    /// Null for a merge group.
    pub pr: Option<u64>,
    pub base: Option<String>,
    pub head_sha: String,
    /// The policy file's path in the repository.
    pub policy_path: String,
    /// When the verdict was reached (ms since the epoch, the App's clock).
    pub evaluated_at_ms: i64,
    /// Other open PRs with this head whose verdicts the same check run aggregates.
    pub other_prs: Vec<OtherPr>,
    /// The PR's `updated_at`, when trusted to the second (see [`DecisionRecord::pr_updated_at`]).
    pub pr_updated_at: Option<String>,
}

/// The policy file as read from the base branch: its git blob SHA and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySource<'a> {
    pub blob_sha: &'a str,
    pub text: &'a str,
}

/// The organisation's floor as read: how reports name it, its blob SHA and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorSource<'a> {
    /// `acme/.github:.github/review-policy.toml`.
    pub file: &'a str,
    pub blob_sha: &'a str,
    pub text: Option<&'a str>,
}

/// A verdict and what it was reached from: the repository's own policy and the organisation's
/// floor (at least one of them), and the snapshot.
#[derive(Clone, Copy)]
pub struct Judged<'a> {
    pub own: Option<(PolicySource<'a>, &'a Policy)>,
    pub floor: Option<(FloorSource<'a>, &'a Policy)>,
    pub snapshot: &'a Snapshot,
    pub verdict: &'a Verdict,
}

impl DecisionRecord {
    /// The record of a check run that says what the evaluator said: `success` exactly when
    /// `verdict` approves, with the verdict's title.
    pub fn from_verdict(
        context: DecisionContext,
        source: PolicySource<'_>,
        policy: &Policy,
        snapshot: &Snapshot,
        verdict: &Verdict,
    ) -> DecisionRecord {
        let outcome = (Conclusion::of_verdict(verdict), verdict.check_title());
        DecisionRecord::from_check(context, source, policy, snapshot, verdict, outcome)
    }

    /// The record of a check run whose conclusion or title differ from the verdict's (the App
    /// overrode it: an incomplete file list, a PR that moved while judged). `replay` of it
    /// will report the difference, which is the point: the evaluator alone did not decide.
    pub fn from_check(
        context: DecisionContext,
        source: PolicySource<'_>,
        policy: &Policy,
        snapshot: &Snapshot,
        verdict: &Verdict,
        written: (Conclusion, String),
    ) -> DecisionRecord {
        let judged = Judged {
            own: Some((source, policy)),
            floor: None,
            snapshot,
            verdict,
        };
        DecisionRecord::from_judged(context, judged, written)
    }

    /// The record of a check run judged under the repository's policy, the organisation's
    /// floor, or both. Each requirement's approvers are qualified by the groups of the file it
    /// came from.
    pub fn from_judged(
        context: DecisionContext,
        judged: Judged<'_>,
        (conclusion, title): (Conclusion, String),
    ) -> DecisionRecord {
        let Judged {
            own,
            floor,
            snapshot,
            verdict,
        } = judged;
        let policy_of = |r: &crate::evaluate::Requirement| -> Option<&Policy> {
            match (&own, &floor) {
                (_, Some((f, p))) if r.origin.as_deref() == Some(f.file) => Some(*p),
                (Some((_, p)), _) => Some(*p),
                (None, Some((_, p))) => Some(*p),
                (None, None) => None,
            }
        };
        let requirements = verdict
            .requirements
            .iter()
            .map(|r| RequirementRecord {
                source: serde_json::to_value(&r.source).unwrap_or(serde_json::Value::Null),
                origin: r.origin.clone(),
                reason: r.reason.clone(),
                satisfied: r.satisfied,
                needs: RequirementNeeds {
                    approvals: r.approvals.as_ref().map(|a| a.needed),
                    groups: r
                        .groups
                        .iter()
                        .map(|g| (g.group.clone(), g.needed))
                        .collect(),
                },
                approvers: policy_of(r)
                    .map(|p| approvers(p, snapshot, r))
                    .unwrap_or_default(),
            })
            .collect();
        let ignored = verdict
            .reviewers
            .iter()
            .filter_map(|r| {
                r.ignored.map(|why| IgnoredReviewer {
                    login: r.login.clone(),
                    state: r.state,
                    reason: why.as_str().to_string(),
                })
            })
            .collect();
        let mut record = DecisionRecord::unevaluated(context, own.map(|o| o.0), conclusion, title)
            .with_floor(floor.map(|f| f.0));
        record.requirements = requirements;
        record.ignored = ignored;
        record.snapshot = Some(snapshot.clone());
        record
    }

    /// The record of a check run written without a verdict: GitHub could not be read, the
    /// base has no policy, or its policy is invalid (`source` given, nothing evaluated).
    /// Such a record cannot be replayed.
    pub fn unevaluated(
        context: DecisionContext,
        source: Option<PolicySource<'_>>,
        conclusion: Conclusion,
        title: String,
    ) -> DecisionRecord {
        DecisionRecord {
            kind: Default::default(),
            id: new_id(Kind::Decision),
            repository: context.repository,
            recorded_at: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
            pr: context.pr,
            base: context.base,
            head_sha: context.head_sha,
            policy_path: context.policy_path,
            policy_blob_sha: source.map(|s| s.blob_sha.to_ascii_lowercase()),
            policy: source.map(|s| s.text.to_string()),
            evaluated_at: format_ms(context.evaluated_at_ms),
            conclusion,
            title,
            requirements: Vec::new(),
            ignored: Vec::new(),
            snapshot: None,
            other_prs: context.other_prs,
            pr_updated_at: context.pr_updated_at,
            org_policy: None,
        }
    }

    /// The record, naming the organisation's floor it was also reached under.
    pub fn with_floor(mut self, floor: Option<FloorSource<'_>>) -> DecisionRecord {
        self.org_policy = floor.map(|f| OrgPolicyRecord {
            file: f.file.to_string(),
            blob_sha: f.blob_sha.to_ascii_lowercase(),
            text: f.text.map(str::to_string),
        });
        self
    }

    /// This decision's approvers across its requirements, merged per login.
    pub fn all_approvers(&self) -> Vec<super::record::Approver> {
        merge_approvers(self.requirements.iter().map(|r| r.approvers.as_slice()))
    }
}

/// A merge as the `pull_request` `closed` webhook reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeFacts {
    pub repository: String,
    pub pr: u64,
    pub base: String,
    pub head_sha: String,
    pub merge_sha: String,
    pub merged_by: Option<String>,
    /// GitHub's `merged_at` (RFC 3339).
    pub merged_at: String,
    pub author: String,
    pub commits: Vec<String>,
}

impl MergeRecord {
    /// The merge record, judged against `decision`: the latest decision for its head and
    /// base written before the merge event was received (see `Store::latest_decision`).
    /// The gate passed only if that decision passed and was reached, to the second, no
    /// later than GitHub's `merged_at`. Fails only on a `merged_at` that is not RFC 3339.
    pub fn new(
        facts: MergeFacts,
        decision: Option<&DecisionRecord>,
    ) -> Result<MergeRecord, AuditError> {
        let bad_time = || AuditError::Time {
            field: "merged_at",
            value: facts.merged_at.clone(),
        };
        let merged_at = normalise_rfc3339(&facts.merged_at).ok_or_else(bad_time)?;
        let merged_ms = parse_rfc3339_ms(&merged_at).ok_or_else(bad_time)?;
        let gate_passed = decision.is_some_and(|d| {
            d.conclusion == Conclusion::Success
                && parse_rfc3339_ms(&d.evaluated_at)
                    .is_some_and(|at| at.div_euclid(1000) * 1000 <= merged_ms)
        });
        Ok(MergeRecord {
            kind: Default::default(),
            id: new_id(Kind::Merge),
            repository: facts.repository,
            recorded_at: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
            pr: facts.pr,
            base: facts.base,
            head_sha: facts.head_sha,
            merge_sha: facts.merge_sha,
            merged_by: facts.merged_by,
            merged_at,
            author: facts.author,
            decision_id: decision.map(|d| d.id.clone()),
            gate_passed,
            policy_blob_sha: decision.and_then(|d| d.policy_blob_sha.clone()),
            approvers: decision
                .map(DecisionRecord::all_approvers)
                .unwrap_or_default(),
            commits: facts.commits,
        })
    }
}

/// A push as the `push` webhook (and the compare API) report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushFacts {
    pub repository: String,
    /// The branch name, without `refs/heads/`.
    pub branch: String,
    pub pusher: String,
    pub after: String,
    /// When the push happened (ms since the epoch).
    pub pushed_at_ms: i64,
    pub commits: Vec<String>,
    pub deleted: bool,
}

impl PushRecord {
    pub fn new(facts: PushFacts) -> PushRecord {
        PushRecord {
            kind: Default::default(),
            id: new_id(Kind::Push),
            repository: facts.repository,
            recorded_at: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
            branch: facts.branch,
            pusher: facts.pusher,
            after: facts.after,
            pushed_at: format_ms_auto(facts.pushed_at_ms),
            commits: if facts.deleted {
                Vec::new()
            } else {
                facts.commits
            },
            deleted: facts.deleted,
        }
    }
}

impl CheckpointRecord {
    /// The checkpoint left after pruning `pruned` records of `repository`'s chain, the last
    /// of which hashed to `pruned_through`.
    pub fn new(
        repository: &str,
        pruned_through: &str,
        pruned: u64,
        oldest_kept: Option<String>,
    ) -> CheckpointRecord {
        CheckpointRecord {
            kind: Default::default(),
            id: new_id(Kind::Checkpoint),
            repository: repository.to_string(),
            recorded_at: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
            pruned_through: pruned_through.to_string(),
            pruned,
            oldest_kept,
        }
    }
}
