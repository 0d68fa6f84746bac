//! Property tests of the evaluator's monotonicity: more approval never hurts, and more
//! changed files never need less.

use std::collections::BTreeMap;

use proptest::prelude::*;
use reviewgate::evaluate::{Needs, Source, evaluate};
use reviewgate::policy::Policy;
use reviewgate::snapshot::{ChangedFile, Commit, Permission, Review, ReviewState, Snapshot};

const PEOPLE: &[&str] = &[
    "ann", "bob", "cat", "dan", "eve", "fay", "gus", "Ann", "BOB",
];
const SEGMENTS: &[&str] = &["src", "ledger", "docs", "a", "b", "x.rs", "y.md", "z.toml"];
const PATTERNS: &[&str] = &[
    "src/**",
    "ledger/**",
    "**/*.md",
    "*.toml",
    "docs/*",
    "**/a/**",
    "{a,b}/**",
    "?/x.rs",
    "ledger/[ab]/**",
];
const POLICY_PATH: &str = ".github/review-policy.toml";

/// A random but always-valid policy: 1–3 levels, 3 groups (one with a team, so any count is
/// possible), 0–5 path entries.
fn policy_strategy() -> impl Strategy<Value = Policy> {
    let level = (1u32..4, proptest::option::of((0usize..3, 1u32..3)));
    let path = (
        proptest::collection::vec(0..PATTERNS.len(), 1..3),
        proptest::collection::vec(0..PATTERNS.len(), 0..2),
        proptest::option::of(0usize..3),
        proptest::option::of((0usize..3, 1u32..3)),
    );
    (
        proptest::collection::vec(level, 1..4),
        proptest::collection::vec(path, 0..6),
        any::<(bool, bool, bool)>(),
    )
        .prop_map(|(levels, paths, (stale, contributors, blocks))| {
            let groups = ["g0", "g1", "g2"];
            let mut t = format!(
                "version = 1\ndefault_level = \"l0\"\npolicy_owners = \"g2\"\n\
                 [settings]\ndismiss_stale_approvals = {stale}\ncontributors_can_approve = {contributors}\n\
                 changes_requested_blocks = {blocks}\n\
                 [groups]\ng0 = [\"ann\", \"bob\", \"cat\"]\ng1 = [\"dan\", \"@org/team\"]\ng2 = [\"eve\", \"fay\"]\n"
            );
            for (i, (approvals, require)) in levels.iter().enumerate() {
                t += &format!("[levels.l{i}]\napprovals = {approvals}\n");
                if let Some((g, n)) = require {
                    t += &format!("require = {{ {} = {n} }}\n", groups[*g]);
                }
            }
            for (matches, except, level, require) in &paths {
                let quote = |v: &Vec<usize>| v.iter().map(|i| format!("\"{}\"", PATTERNS[*i])).collect::<Vec<_>>().join(", ");
                t += &format!("[[paths]]\nmatch = [{}]\nexcept = [{}]\n", quote(matches), quote(except));
                let level = level.map(|l| l % levels.len());
                let require = require.or(if level.is_none() { Some((1, 1)) } else { None });
                if let Some(l) = level {
                    t += &format!("level = \"l{l}\"\n");
                }
                if let Some((g, n)) = require {
                    t += &format!("require = {{ {} = {n} }}\n", groups[g]);
                }
            }
            Policy::parse(&t, "generated.toml").unwrap_or_else(|e| panic!("generator bug: {e}\n{t}"))
        })
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => proptest::collection::vec(0..SEGMENTS.len(), 1..4)
            .prop_map(|v| v.iter().map(|i| SEGMENTS[*i]).collect::<Vec<_>>().join("/")),
        1 => Just(POLICY_PATH.to_string()),
    ]
}

fn file_strategy() -> impl Strategy<Value = ChangedFile> {
    (
        path_strategy(),
        proptest::option::weighted(0.2, path_strategy()),
    )
        .prop_map(|(path, previous_path)| ChangedFile {
            path,
            previous_path,
            status: None,
        })
}

fn review_strategy() -> impl Strategy<Value = Review> {
    let state = prop_oneof![
        4 => Just(ReviewState::Approved),
        1 => Just(ReviewState::ChangesRequested),
        1 => Just(ReviewState::Commented),
        1 => Just(ReviewState::Dismissed),
        1 => Just(ReviewState::Pending),
    ];
    (0..PEOPLE.len(), state, any::<bool>()).prop_map(|(p, state, on_head)| Review {
        user: PEOPLE[p].to_string(),
        state,
        commit: if on_head { "head".into() } else { "old".into() },
        submitted_at: None,
    })
}

fn snapshot_strategy() -> impl Strategy<Value = Snapshot> {
    (
        proptest::collection::vec(file_strategy(), 0..6),
        proptest::collection::vec(review_strategy(), 0..10),
        proptest::option::of(0..PEOPLE.len()),
        0usize..3,
        any::<bool>(),
        permissions_strategy(),
        proptest::collection::vec(0..PEOPLE.len(), 0..3),
    )
        .prop_map(
            |(files, reviews, committer, truncated_by, with_team, permissions, pushers)| Snapshot {
                author: "gus".into(),
                base: None,
                head_sha: "head".into(),
                changed_files: Some((files.len() + truncated_by) as u64),
                files,
                commits: vec![Commit {
                    sha: None,
                    author: Some("gus".into()),
                    committer: committer.map(|c| PEOPLE[c].to_string()),
                }],
                reviews,
                teams: if with_team {
                    BTreeMap::from([(
                        "org/team".to_string(),
                        vec!["cat".to_string(), "fay".to_string()],
                    )])
                } else {
                    BTreeMap::new()
                },
                permissions,
                pushers: pushers.into_iter().map(|p| PEOPLE[p].to_string()).collect(),
            },
        )
}

/// No permissions at all (a hand-written snapshot), or a random role for each person.
fn permissions_strategy() -> impl Strategy<Value = Option<BTreeMap<String, Permission>>> {
    let role = prop_oneof![
        Just(Permission::None),
        Just(Permission::Read),
        Just(Permission::Triage),
        Just(Permission::Write),
        Just(Permission::Maintain),
        Just(Permission::Admin),
    ];
    proptest::option::of(proptest::collection::vec(role, PEOPLE.len())).prop_map(|roles| {
        roles.map(|roles| {
            PEOPLE
                .iter()
                .zip(roles)
                .map(|(p, r)| (p.to_string(), r))
                .collect()
        })
    })
}

/// `a` needs at least as much as `b`, in every dimension.
fn at_least(a: &Needs, b: &Needs) -> bool {
    a.approvals >= b.approvals
        && b.groups
            .iter()
            .all(|(g, n)| a.groups.get(g).is_some_and(|m| m >= n))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn taking_write_access_away_or_adding_a_pusher_never_approves_a_pr(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
        who in 0..PEOPLE.len(),
    ) {
        // By design (issue 10) only someone who could approve can block: a reviewer whose
        // outstanding "changes requested" stops counting when they lose write access or
        // turn out to be a pusher. Those cases unblock on purpose; every other must not.
        let requests_changes = snapshot
            .reviews
            .iter()
            .rev()
            .find(|r| r.user.eq_ignore_ascii_case(PEOPLE[who]))
            .is_some_and(|r| r.state == ReviewState::ChangesRequested);
        prop_assume!(!requests_changes);
        let before = evaluate(&policy, &snapshot, POLICY_PATH);
        let mut less = snapshot.clone();
        less.permissions.get_or_insert_with(|| {
            PEOPLE.iter().map(|p| (p.to_string(), Permission::Write)).collect()
        }).insert(PEOPLE[who].to_string(), Permission::Read);
        let after = evaluate(&policy, &less, POLICY_PATH);
        prop_assert!(before.approved || !after.approved, "read access approved: {:#?}", after);
        let mut pushed = snapshot.clone();
        pushed.pushers.push(PEOPLE[who].to_uppercase());
        let after = evaluate(&policy, &pushed, POLICY_PATH);
        prop_assert!(before.approved || !after.approved, "a pusher approved: {:#?}", after);
    }

    #[test]
    fn adding_an_approval_never_blocks_an_approved_pr(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
        who in 0..PEOPLE.len(),
    ) {
        // A new approval is given on the PR's current head: that is what approving means.
        // (A later approval of an *older* commit replaces the reviewer's standing with a
        // stale one, by design: it is their latest review.)
        let before = evaluate(&policy, &snapshot, POLICY_PATH);
        let mut more = snapshot.clone();
        more.reviews.push(Review {
            user: PEOPLE[who].to_string(),
            state: ReviewState::Approved,
            commit: "head".into(),
            submitted_at: None,
        });
        let after = evaluate(&policy, &more, POLICY_PATH);
        prop_assert!(!before.approved || after.approved, "before: {:#?}\nafter: {:#?}", before, after);
        prop_assert!(after.approvals >= before.approvals);
    }

    #[test]
    fn adding_a_changed_file_never_lowers_what_a_pr_needs(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
        extra in file_strategy(),
    ) {
        let before = evaluate(&policy, &snapshot, POLICY_PATH);
        let mut more = snapshot.clone();
        more.files.push(extra);
        more.changed_files = more.changed_files.map(|n| n + 1);
        let after = evaluate(&policy, &more, POLICY_PATH);
        prop_assert!(at_least(&after.needs, &before.needs), "before: {:?}\nafter: {:?}", before.needs, after.needs);
        prop_assert!(before.approved || !after.approved);
    }

    #[test]
    fn approved_means_every_requirement_is_met_and_nothing_blocks(
        policy in policy_strategy(),
        snapshot in snapshot_strategy(),
    ) {
        let v = evaluate(&policy, &snapshot, POLICY_PATH);
        let met = v.approvals >= v.needs.approvals
            && v.needs.groups.iter().all(|(g, n)| {
                v.requirements.iter().flat_map(|r| &r.groups).find(|c| &c.group == g).is_some_and(|c| c.have >= *n)
            });
        let unlinked = v.requirements.iter().any(|r| matches!(r.source, Source::UnlinkedCommit { .. }));
        prop_assert_eq!(v.approved, met && v.blocked_by.is_empty() && !unlinked);
        prop_assert_eq!(v.approved, v.requirements.iter().all(|r| r.satisfied) && v.blocked_by.is_empty());
        prop_assert!(!v.title.is_empty() && !v.title.contains('\n'));
    }
}
