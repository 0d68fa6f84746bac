//! A pull request judged under two policies: its repository's and its organisation's floor
//! (the policy file at the same path in the organisation's `.github` repository). It needs the
//! union of both files' requirements; each file's requirements are judged with that file's own
//! settings and groups (group names are scoped to their file), so a repository can add to the
//! floor but never lower it.

use super::verdict::lower_first;
use super::{Verdict, evaluate};
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// The organisation's policy and how reports name it (`acme/.github:.github/review-policy.toml`).
pub struct Floor<'a> {
    pub policy: &'a Policy,
    pub origin: &'a str,
}

/// How reports name a repository's own policy file beside a floor: `owner/repo:path`, or,
/// for a PR of the organisation's policy repository into a branch whose policy differs from
/// the floor (the same name), `owner/repo:path (base branch)`.
pub fn repository_origin(repository: &str, policy_path: &str, floor: Option<&str>) -> String {
    let origin = format!("{repository}:{policy_path}");
    if floor == Some(origin.as_str()) {
        format!("{origin} (base branch)")
    } else {
        origin
    }
}

/// Evaluates `snapshot` under the repository's policy (`own`, with how reports name it), if it
/// has one, and under `floor`. Without a floor this is [`evaluate`].
pub fn evaluate_with_floor(
    own: Option<(&Policy, &str)>,
    floor: Option<Floor<'_>>,
    snapshot: &Snapshot,
    policy_path: &str,
) -> Option<Verdict> {
    match (own, floor) {
        (None, None) => None,
        (Some((policy, _)), None) => Some(evaluate(policy, snapshot, policy_path)),
        (None, Some(floor)) => {
            let mut v = evaluate(floor.policy, snapshot, policy_path);
            tag(&mut v, floor.origin);
            Some(v)
        }
        (Some((policy, origin)), Some(floor)) => {
            let mut own = evaluate(policy, snapshot, policy_path);
            let mut org = evaluate(floor.policy, snapshot, policy_path);
            tag(&mut own, origin);
            tag(&mut org, floor.origin);
            Some(union(own, org, floor.origin))
        }
    }
}

fn tag(v: &mut Verdict, origin: &str) {
    for r in &mut v.requirements {
        r.origin = Some(origin.to_string());
    }
}

/// Both verdicts' requirements; approved only when both are; the maximum of what each needs.
fn union(own: Verdict, org: Verdict, org_origin: &str) -> Verdict {
    let approved = own.approved && org.approved;
    let title = match (own.approved, org.approved) {
        (true, true) => own.title.clone(),
        (false, true) => own.title.clone(),
        (true, false) => format!("{} (organisation policy)", org.title),
        (false, false) => format!(
            "{}; organisation policy: {}",
            own.title,
            lower_first(&org.title)
        ),
    };
    let mut needs = own.needs.clone();
    needs.approvals = needs.approvals.max(org.needs.approvals);
    for (group, n) in &org.needs.groups {
        // Group names are scoped to their file: the floor's are named with it.
        let key = if own.needs.groups.contains_key(group) {
            format!("{group} ({org_origin})")
        } else {
            group.clone()
        };
        let slot = needs.groups.entry(key).or_insert(0);
        *slot = (*slot).max(*n);
    }
    let mut blocked_by = own.blocked_by.clone();
    for b in org.blocked_by {
        if !blocked_by
            .iter()
            .any(|x| x.login.eq_ignore_ascii_case(&b.login))
        {
            blocked_by.push(b);
        }
    }
    let mut notes = own.notes.clone();
    notes.extend(org.notes.into_iter().map(|n| format!("{org_origin}: {n}")));
    let mut requirements = own.requirements;
    requirements.extend(org.requirements);
    Verdict {
        approved,
        title,
        head_sha: own.head_sha,
        needs,
        approvals: own.approvals.max(org.approvals),
        file_list_complete: own.file_list_complete && org.file_list_complete,
        requirements,
        reviewers: own.reviewers,
        blocked_by,
        notes,
        // Report mode only when both files say so.
        report_only: own.report_only && org.report_only,
    }
}
