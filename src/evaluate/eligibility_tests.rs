//! Who may approve and who may block: write access, bots, pushers, unlinked commits, and the
//! order in which the reason for ignoring a review is given.

use std::collections::BTreeMap;

use super::*;
use crate::snapshot::{Commit, Permission, Review, ReviewState};

const POLICY: &str = r#"
version = 1
default_level = "standard"
policy_owners = "leads"

[groups]
seniors = ["alice", "@acme/seniors"]
leads   = ["lena"]

[levels.standard]
approvals = 1

[levels.critical]
approvals = 2
require = { seniors = 1 }

[[paths]]
match = ["ledger/**"]
level = "critical"
"#;

const HEAD: &str = "abc1234def5678";
const OLD: &str = "0ld0ld0ld";

fn policy_with(settings: &str) -> Policy {
    let text = POLICY.replacen(
        "[groups]",
        &format!("[settings]\n{settings}\n\n[groups]"),
        1,
    );
    Policy::parse(&text, "p.toml").expect("valid policy")
}

fn policy() -> Policy {
    policy_with("")
}

fn review(user: &str, state: ReviewState, commit: &str) -> Review {
    Review {
        user: user.into(),
        state,
        commit: commit.into(),
        submitted_at: None,
    }
}

fn approve(user: &str) -> Review {
    review(user, ReviewState::Approved, HEAD)
}

fn commit(sha: &str, author: Option<&str>, committer: Option<&str>) -> Commit {
    Commit {
        sha: Some(sha.into()),
        author: author.map(Into::into),
        committer: committer.map(Into::into),
        parents: Vec::new(),
    }
}

fn writers(logins: &[&str]) -> Option<BTreeMap<String, Permission>> {
    Some(
        logins
            .iter()
            .map(|l| (l.to_string(), Permission::Write))
            .collect(),
    )
}

fn pr(path: &str, reviews: Vec<Review>) -> Snapshot {
    Snapshot {
        author: "zed".into(),
        base: Some("main".into()),
        head_sha: HEAD.into(),
        changed_files: Some(1),
        files: vec![crate::snapshot::ChangedFile {
            path: path.into(),
            previous_path: None,
            status: None,
        }],
        commits: vec![commit(HEAD, Some("zed"), Some("zed"))],
        reviews,
        teams: BTreeMap::from([(
            "acme/seniors".to_string(),
            vec!["carol".to_string(), "deploy[BOT]".to_string()],
        )]),
        permissions: writers(&["alice", "bob", "carol", "dan", "deploy[BOT]", "zed"]),
        pushers: Vec::new(),
        fingerprints: Default::default(),
    }
}

fn ignored(v: &Verdict, login: &str) -> Option<Ignored> {
    v.reviewers
        .iter()
        .find(|r| r.login.eq_ignore_ascii_case(login))
        .and_then(|r| r.ignored)
}

#[test]
fn approvals_count_only_from_write_access_or_better() {
    let cases: &[(Option<Permission>, bool)] = &[
        (Some(Permission::Admin), true),
        (Some(Permission::Maintain), true),
        (Some(Permission::Write), true),
        (Some(Permission::Triage), false),
        (Some(Permission::Read), false),
        (Some(Permission::None), false),
        (None, false),
    ];
    for (permission, counts) in cases {
        let mut s = pr("src/a.rs", vec![approve("Mallory")]);
        if let (Some(map), Some(p)) = (s.permissions.as_mut(), permission) {
            // Keys compare case-insensitively.
            map.insert("MALLORY".into(), *p);
        }
        let v = evaluate(&policy(), &s, "policy.toml");
        assert_eq!(v.approved, *counts, "{permission:?}");
        let want = (!counts).then_some(Ignored::NoWriteAccess);
        assert_eq!(ignored(&v, "mallory"), want, "{permission:?}");
    }
}

#[test]
fn without_permissions_the_verdict_says_they_were_not_checked() {
    let mut s = pr("src/a.rs", vec![approve("mallory")]);
    s.permissions = None;
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(v.approved);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("permissions were not checked")),
        "{:?}",
        v.notes
    );
    let s = pr("src/a.rs", vec![approve("dan")]);
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(!v.notes.iter().any(|n| n.contains("not checked")));
}

#[test]
fn only_reviewers_who_could_approve_can_block() {
    use ReviewState::ChangesRequested;
    let s = pr(
        "src/a.rs",
        vec![
            approve("dan"),
            review("stranger", ChangesRequested, HEAD),
            review("renovate[bot]", ChangesRequested, HEAD),
            review("zed", ChangesRequested, HEAD),
        ],
    );
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(v.approved, "{}", crate::report::text(&v));
    assert_eq!(ignored(&v, "stranger"), Some(Ignored::NoWriteAccess));
    assert_eq!(ignored(&v, "renovate[bot]"), Some(Ignored::Bot));
    assert_eq!(ignored(&v, "zed"), Some(Ignored::Author));

    let s = pr(
        "src/a.rs",
        vec![approve("dan"), review("bob", ChangesRequested, OLD)],
    );
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(!v.approved);
    assert_eq!(v.blocked_by.len(), 1);
    assert_eq!(ignored(&v, "bob"), None);
}

#[test]
fn bots_never_count_even_through_a_team_nor_appear_as_candidates() {
    let s = pr(
        "ledger/a.rs",
        vec![approve("deploy[bot]"), approve("dan"), approve("bob")],
    );
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(!v.approved);
    assert_eq!(ignored(&v, "deploy[bot]"), Some(Ignored::Bot));
    assert_eq!(v.title, "Needs 1 more approval from seniors");
    let seniors = &v.requirements[1].groups[0];
    assert_eq!(seniors.could_approve, vec!["alice", "carol"]);
}

#[test]
fn pushers_are_contributors() {
    let mut s = pr("src/a.rs", vec![approve("dan")]);
    s.pushers = vec!["DAN".into()];
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(!v.approved);
    assert_eq!(ignored(&v, "dan"), Some(Ignored::Pusher));

    // A pusher who also committed is a contributor first.
    s.commits.push(commit("ffff", Some("dan"), Some("dan")));
    let v = evaluate(&policy(), &s, "policy.toml");
    assert_eq!(ignored(&v, "dan"), Some(Ignored::Contributor));

    let v = evaluate(
        &policy_with("contributors_can_approve = true"),
        &s,
        "policy.toml",
    );
    assert!(v.approved);
}

#[test]
fn the_first_applicable_reason_is_given() {
    // Each reviewer approved an older commit; what else applies decides the reason.
    let stale = |u: &str| review(u, ReviewState::Approved, OLD);
    let mut s = pr(
        "src/a.rs",
        vec![
            stale("zed"),
            stale("helper[bot]"),
            stale("reader"),
            stale("carol"),
            stale("pusher"),
            stale("dan"),
        ],
    );
    let map = s.permissions.as_mut().expect("permissions");
    map.insert("reader".into(), Permission::Read);
    map.insert("helper[bot]".into(), Permission::Write);
    map.insert("pusher".into(), Permission::Write);
    s.commits.push(commit("c2", Some("carol"), Some("reader")));
    s.pushers = vec!["pusher".into(), "carol".into(), "reader".into()];
    let v = evaluate(&policy(), &s, "policy.toml");
    let reasons: Vec<(&str, &str)> = v
        .reviewers
        .iter()
        .map(|r| (r.login.as_str(), r.ignored.map_or("-", Ignored::as_str)))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("zed", "author"),
            ("helper[bot]", "bot"),
            ("reader", "no write access"),
            ("carol", "contributor"),
            ("pusher", "pusher"),
            ("dan", "stale"),
        ]
    );
    let json = serde_json::to_value(&v).expect("json");
    let strings: Vec<&str> = json["reviewers"]
        .as_array()
        .expect("reviewers")
        .iter()
        .map(|r| r["ignored"].as_str().expect("ignored"))
        .collect();
    assert_eq!(
        strings,
        vec![
            "author",
            "bot",
            "no write access",
            "contributor",
            "pusher",
            "stale"
        ]
    );
    let text = crate::report::text(&v);
    for reason in strings {
        assert!(text.contains(&format!("ignored: {reason} (")), "{text}");
    }
}

#[test]
fn a_commit_nobody_can_attribute_blocks_and_no_approval_lifts_it() {
    let mut s = pr("src/a.rs", vec![approve("dan"), approve("alice")]);
    s.commits.push(commit("1111111aaaa", None, Some("zed")));
    s.commits.push(commit("2222222bbbb", Some("zed"), None));
    s.commits.push(commit("3333333cccc", None, None));
    let v = evaluate(&policy(), &s, "policy.toml");
    assert!(!v.approved);
    let text = crate::report::text(&v);
    for want in [
        "[ ] commit 1111111 has an author GitHub cannot link to an account",
        "[ ] commit 2222222 has a committer GitHub cannot link to an account",
        "[ ] commit 3333333 has an author and a committer GitHub cannot link to an account",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(
        v.title,
        "3 commits have an author or committer GitHub cannot link to an account"
    );
    s.commits.truncate(2);
    let v = evaluate(&policy(), &s, "policy.toml");
    assert_eq!(
        v.title,
        "Commit 1111111 has an author GitHub cannot link to an account"
    );
    let json = serde_json::to_value(&v).expect("json");
    let unlinked = json["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .find(|r| r["source"]["kind"] == "unlinked_commit")
        .expect("an unlinked_commit requirement");
    assert_eq!(unlinked["source"]["sha"], "1111111aaaa");
    assert_eq!(unlinked["satisfied"], false);

    for settings in [
        "allow_unlinked_commits = true",
        "contributors_can_approve = true",
    ] {
        let v = evaluate(&policy_with(settings), &s, "policy.toml");
        assert!(v.approved, "{settings}: {}", crate::report::text(&v));
    }
}

#[test]
fn teams_of_another_organisation_are_located() {
    let text = POLICY.replace(
        "leads   = [\"lena\"]",
        "leads   = [\"lena\", \"@Other/leads\"]",
    );
    let p = Policy::parse(&text, "p.toml").expect("valid");
    assert!(p.foreign_teams("ACME").len() == 1);
    let d = &p.foreign_teams("acme")[0];
    assert_eq!((d.line, d.column), (8, 20), "where the team is named");
    assert!(d.message.contains("`@Other/leads`"), "{}", d.message);
    assert!(d.message.contains("`acme`"), "{}", d.message);
    assert!(
        p.foreign_teams("other").len() == 1,
        "@acme/seniors is foreign to other"
    );
}
