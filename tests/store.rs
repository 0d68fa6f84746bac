//! The storage interface, black-box: one suite, run against SQLite and against PostgreSQL
//! (each behaviour is a test `<behaviour>::sqlite` and `<behaviour>::postgres`; the PostgreSQL
//! ones print that they were skipped when `REVIEWGATE_TEST_DATABASE_URL` is not set).

#[macro_use]
mod store_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reviewgate::store::{
    Accepted, Delivery, Fact, PrRecord, Store, StoreError, Subject, Target, WriteGate, now_ms,
};
use store_support::{DAY_MS, Db, facts, pr_delivery, pr_item};

const LONG: Duration = Duration::from_secs(60);

on_both!(
    accept_records_each_delivery_once,
    same_delivery_at_two_replicas_is_new_once,
    work_coalesces_per_key_and_seq_grows,
    merge_groups_share_the_pr_key,
    every_row_is_claimed_once_under_concurrency,
    expired_lease_is_taken_over_and_the_loser_is_refused,
    finish_deletes_or_leaves_exactly_one_more_evaluation,
    release_counts_failures,
    release_holder_and_release_all,
    gate_write_refuses_stale_short_and_lost,
    pushers_are_kept_until_thirty_days_after_close,
    heads_fingerprints_and_pushes_are_kept_per_pr_until_thirty_days_after_close,
    deliveries_are_forgotten_after_seven_days,
    team_orgs_find_prs,
    named_leases_have_one_holder,
    migrate_again_applies_nothing,
    out_of_range_ids_are_refused,
);

async fn accept_records_each_delivery_once(db: &Db) {
    let s = &db.store;
    let batch = vec![
        pr_delivery("d1", 1),
        // A copy of d1 whose work, if applied, would add a row.
        pr_delivery("d1", 2),
        pr_delivery("d2", 3),
        pr_delivery("", 4),
        pr_delivery("", 4),
    ];
    let got = s.accept(&batch).await.expect("accept");
    use Accepted::{Duplicate, New};
    assert_eq!(got, vec![New, Duplicate, New, New, New]);
    assert_eq!(s.pending().await.expect("pending"), 3, "pr 1, 3, 4; not 2");
    let again = s
        .accept(&[pr_delivery("d2", 5), pr_delivery("d3", 6)])
        .await
        .expect("accept");
    assert_eq!(again, vec![Duplicate, New]);
    assert_eq!(s.pending().await.expect("pending"), 4);
}

async fn same_delivery_at_two_replicas_is_new_once(db: &Db) {
    let (a, b) = (db.store.clone(), db.replica().await);
    for round in 0..20 {
        let id = format!("race-{round}");
        let (da, db) = ([pr_delivery(&id, round)], [pr_delivery(&id, round)]);
        let (ra, rb) = tokio::join!(a.accept(&da), b.accept(&db));
        let news = [ra.expect("a"), rb.expect("b")]
            .iter()
            .filter(|r| r[0] == Accepted::New)
            .count();
        assert_eq!(news, 1, "round {round}");
    }
}

async fn work_coalesces_per_key_and_seq_grows(db: &Db) {
    let s = &db.store;
    let mut first = pr_item(1, 9, None, Duration::from_secs(3600));
    first.head_sha = Some("aaa".into());
    let mut second = pr_item(1, 9, None, Duration::ZERO);
    second.installation = 8;
    let third = pr_item(1, 9, None, Duration::from_secs(3600));
    s.accept(&[Delivery {
        id: "c1".into(),
        work: vec![first],
        facts: vec![],
    }])
    .await
    .expect("accept");
    assert!(
        s.claim("h", LONG).await.expect("claim").is_none(),
        "not due yet"
    );
    s.accept(&[Delivery {
        id: "c2".into(),
        work: vec![second, third],
        facts: vec![],
    }])
    .await
    .expect("accept");
    assert_eq!(s.pending().await.expect("pending"), 1, "one row per key");
    let c = s.claim("h", LONG).await.expect("claim").expect("due now");
    assert_eq!((c.target.clone(), c.key.as_str()), (Target::Pr(9), "pr/9"));
    assert_eq!(c.head_sha.as_deref(), Some("aaa"), "newest non-null");
    assert_eq!((c.installation, c.repo.as_str()), (7, "acme/ledger"));
    assert!(c.evaluate_pr && c.merge_groups.is_empty());
    assert!(s.claim("h2", LONG).await.expect("claim").is_none());
    assert!(!s.finish(&c, Duration::ZERO).await.expect("finish"));
    assert_eq!(s.pending().await.expect("pending"), 0);
    // The key's sequence keeps growing after its row was deleted.
    s.accept(&[pr_delivery("c3", 9)]).await.expect("accept");
    let c2 = s.claim("h", LONG).await.expect("claim").expect("due");
    assert!(c2.seq > c.seq, "{} > {}", c2.seq, c.seq);
    // Branch and repo keys are their own rows.
    let mut branch = pr_item(1, 0, None, Duration::ZERO);
    branch.subject = Subject::Branch("main".into());
    let mut repo = branch.clone();
    repo.subject = Subject::Repo;
    s.accept(&[Delivery {
        id: "c4".into(),
        work: vec![branch, repo],
        facts: vec![],
    }])
    .await
    .expect("accept");
    let mut targets = Vec::new();
    while let Some(c) = s.claim("h", LONG).await.expect("claim") {
        assert!(!c.evaluate_pr);
        targets.push(c.target);
    }
    assert!(targets.contains(&Target::Branch("main".into())) && targets.contains(&Target::Repo));
}

async fn merge_groups_share_the_pr_key(db: &Db) {
    let s = &db.store;
    let items = vec![
        pr_item(1, 5, Some("mg1"), Duration::ZERO),
        pr_item(1, 5, None, Duration::ZERO),
        pr_item(1, 5, Some("mg2"), Duration::ZERO),
    ];
    s.accept(&[Delivery {
        id: "m1".into(),
        work: items,
        facts: vec![],
    }])
    .await
    .expect("accept");
    assert_eq!(s.pending().await.expect("pending"), 1);
    let c = s.claim("h", LONG).await.expect("claim").expect("due");
    assert!(c.evaluate_pr);
    assert_eq!(c.merge_groups, vec!["mg1".to_string(), "mg2".to_string()]);
    // While it runs, a merge group arrives (and mg1 again): exactly those remain afterwards.
    s.accept(&[Delivery {
        id: "m2".into(),
        work: vec![
            pr_item(1, 5, Some("mg3"), Duration::ZERO),
            pr_item(1, 5, Some("mg1"), Duration::ZERO),
        ],
        facts: vec![],
    }])
    .await
    .expect("accept");
    assert!(s.finish(&c, Duration::ZERO).await.expect("finish"));
    let c = s.claim("h", LONG).await.expect("claim").expect("one more");
    assert!(!c.evaluate_pr, "only merge groups arrived after the claim");
    assert_eq!(c.merge_groups, vec!["mg3".to_string(), "mg1".to_string()]);
    assert!(!s.finish(&c, Duration::ZERO).await.expect("finish"));
    assert_eq!(s.pending().await.expect("pending"), 0);
}

async fn every_row_is_claimed_once_under_concurrency(db: &Db) {
    let work = (1..=200u64)
        .map(|pr| pr_item(pr % 3 + 1, pr, None, Duration::ZERO))
        .collect();
    db.store
        .accept(&[Delivery {
            id: "many".into(),
            work,
            facts: vec![],
        }])
        .await
        .expect("accept");
    let replica = db.replica().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = if t % 2 == 0 {
            db.store.clone()
        } else {
            replica.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = s.claim(&format!("w{t}"), LONG).await.expect("claim") {
                got.push((c.repo_id, c.key));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let distinct: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 200, "every row handed out");
    assert_eq!(distinct.len(), 200, "none handed out twice");
}

async fn expired_lease_is_taken_over_and_the_loser_is_refused(db: &Db) {
    let s = &db.store;
    s.accept(&[pr_delivery("e1", 1)]).await.expect("accept");
    // Long enough that claim, refusal and renewal fit in it on a loaded machine (each a
    // commit, an fsync on SQLite); the sleep below only has to outlast it.
    let lease = Duration::from_secs(5);
    let a = s.claim("a", lease).await.expect("claim").expect("due");
    assert!(!a.took_over_expired && a.attempts == 0);
    assert!(
        s.claim("b", lease).await.expect("claim").is_none(),
        "lease valid"
    );
    assert!(s.renew(&a, lease).await.expect("renew"), "still held");
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    let b = s.claim("b", LONG).await.expect("claim").expect("expired");
    assert!(b.took_over_expired, "a lost claim");
    assert_eq!(b.attempts, 1, "an expired lease counts as a failed attempt");
    assert!(b.failing_since.is_some());
    assert!(!s.renew(&a, LONG).await.expect("renew"), "renew after loss");
    let e = s
        .finish(&a, Duration::ZERO)
        .await
        .expect_err("finish by loser");
    assert!(matches!(e, StoreError::ClaimLost { .. }), "{e}");
    let e = s
        .release(&a, Duration::ZERO, true)
        .await
        .expect_err("release");
    assert!(matches!(e, StoreError::ClaimLost { .. }), "{e}");
    assert_eq!(
        s.gate_write(&a, 1, Duration::ZERO).await.expect("gate"),
        WriteGate::Lost
    );
    // The same holder re-claiming does not revive its old claim.
    assert!(!s.finish(&b, Duration::ZERO).await.expect("finish"));
    s.accept(&[pr_delivery("e2", 1)]).await.expect("accept");
    let a2 = s.claim("a", LONG).await.expect("claim").expect("due");
    assert!(!s.renew(&a, LONG).await.expect("renew"), "stale claim of a");
    assert!(s.renew(&a2, LONG).await.expect("renew"));
}

async fn finish_deletes_or_leaves_exactly_one_more_evaluation(db: &Db) {
    let s = &db.store;
    s.accept(&[pr_delivery("f1", 1)]).await.expect("accept");
    let c = s.claim("h", LONG).await.expect("claim").expect("due");
    for i in 0..3 {
        s.accept(&[pr_delivery(&format!("f-during-{i}"), 1)])
            .await
            .expect("accept");
    }
    assert!(
        s.finish(&c, Duration::ZERO).await.expect("finish"),
        "remains"
    );
    let again = s.claim("h", LONG).await.expect("claim").expect("one more");
    assert!(again.evaluate_pr && again.seq > c.seq);
    assert!(s.claim("h", LONG).await.expect("claim").is_none());
    assert!(!s.finish(&again, Duration::ZERO).await.expect("finish"));
    assert!(
        s.claim("h", LONG).await.expect("claim").is_none(),
        "exactly one"
    );
    assert_eq!(s.pending().await.expect("pending"), 0);
    // `again_in` delays the extra evaluation.
    s.accept(&[pr_delivery("f2", 1)]).await.expect("accept");
    let c = s.claim("h", LONG).await.expect("claim").expect("due");
    s.accept(&[pr_delivery("f3", 1)]).await.expect("accept");
    assert!(
        s.finish(&c, Duration::from_secs(3600))
            .await
            .expect("finish")
    );
    assert!(
        s.claim("h", LONG).await.expect("claim").is_none(),
        "not yet"
    );
    assert_eq!(s.pending().await.expect("pending"), 1);
}

async fn release_counts_failures(db: &Db) {
    let s = &db.store;
    s.accept(&[pr_delivery("r1", 1)]).await.expect("accept");
    let c = s.claim("h", LONG).await.expect("claim").expect("due");
    assert_eq!((c.attempts, c.failing_since), (0, None));
    s.release(&c, Duration::ZERO, true).await.expect("release");
    let c = s.claim("h", LONG).await.expect("claim").expect("released");
    let since = c.failing_since.expect("set on first failure");
    assert_eq!(c.attempts, 1);
    s.release(&c, Duration::ZERO, true).await.expect("release");
    let c = s.claim("h", LONG).await.expect("claim").expect("released");
    assert_eq!((c.attempts, c.failing_since), (2, Some(since)));
    s.release(&c, Duration::ZERO, false).await.expect("release");
    let c = s.claim("h", LONG).await.expect("claim").expect("released");
    assert_eq!(c.attempts, 2, "a release that is not a failure");
    s.release(&c, Duration::from_secs(3600), true)
        .await
        .expect("release");
    assert!(
        s.claim("h", LONG).await.expect("claim").is_none(),
        "backing off"
    );
    assert!(
        s.release(&c, Duration::ZERO, true).await.is_err(),
        "released"
    );
    // A finish that leaves work clears the failure count.
    s.accept(&[pr_delivery("r2", 2)]).await.expect("accept");
    let c = s.claim("h", LONG).await.expect("claim").expect("due");
    s.release(&c, Duration::ZERO, true).await.expect("release");
    let c = s.claim("h", LONG).await.expect("claim").expect("due");
    s.accept(&[pr_delivery("r3", 2)]).await.expect("accept");
    assert!(s.finish(&c, Duration::ZERO).await.expect("finish"));
    let c = s.claim("h", LONG).await.expect("claim").expect("one more");
    assert_eq!((c.attempts, c.failing_since), (0, None));
}

async fn release_holder_and_release_all(db: &Db) {
    let s = &db.store;
    let batch: Vec<Delivery> = (1..=4)
        .map(|pr| pr_delivery(&format!("h{pr}"), pr))
        .collect();
    s.accept(&batch).await.expect("accept");
    for holder in ["a", "a", "b"] {
        s.claim(holder, LONG).await.expect("claim").expect("due");
    }
    assert_eq!(s.release_holder("a").await.expect("release a"), 2);
    assert_eq!(s.release_holder("a").await.expect("again"), 0);
    let mut c_got = 0;
    while s.claim("c", LONG).await.expect("claim").is_some() {
        c_got += 1;
    }
    assert_eq!(c_got, 3, "a's two and the unclaimed one");
    // A dead process's named leases (the commit it was evaluating, the sweep) go too: else a
    // restarted SQLite process waits each one out (a lease) before it may evaluate the commit.
    assert!(
        s.try_lease("commit/1/abc", "c#1", LONG)
            .await
            .expect("take")
    );
    assert!(s.try_lease("sweep", "c", LONG).await.expect("take"));
    assert_eq!(s.release_all().await.expect("release all"), 4);
    assert!(s.claim("d", LONG).await.expect("claim").is_some());
    assert!(
        s.try_lease("commit/1/abc", "d#1", LONG)
            .await
            .expect("free")
    );
    assert!(s.try_lease("sweep", "d", LONG).await.expect("free"));
}

async fn gate_write_refuses_stale_short_and_lost(db: &Db) {
    let s = &db.store;
    let mut branch = pr_item(1, 0, None, Duration::ZERO);
    branch.subject = Subject::Branch("main".into());
    // The branch item is stored first, so its sequence number is lower.
    s.accept(&[Delivery {
        id: "g1".into(),
        work: vec![branch],
        facts: vec![],
    }])
    .await
    .expect("accept");
    s.accept(&[pr_delivery("g2", 5)]).await.expect("accept");
    let older = s.claim("a", LONG).await.expect("claim").expect("branch");
    let newer = s.claim("b", LONG).await.expect("claim").expect("pr");
    assert_eq!(older.target, Target::Branch("main".into()));
    assert!(newer.seq > older.seq);
    let min = Duration::from_secs(10);
    assert_eq!(
        s.gate_write(&newer, 5, min).await.expect("gate"),
        WriteGate::Allowed
    );
    assert_eq!(
        s.gate_write(&newer, 5, min).await.expect("gate"),
        WriteGate::Allowed,
        "same seq"
    );
    assert_eq!(
        s.gate_write(&older, 5, min).await.expect("gate"),
        WriteGate::Stale
    );
    assert_eq!(
        s.gate_write(&older, 6, min).await.expect("gate"),
        WriteGate::Allowed,
        "other PR"
    );
    assert_eq!(
        s.gate_write(&newer, 5, LONG + Duration::from_secs(1))
            .await
            .expect("gate"),
        WriteGate::LeaseTooShort
    );
    s.release(&newer, Duration::ZERO, false)
        .await
        .expect("release");
    assert_eq!(
        s.gate_write(&newer, 5, min).await.expect("gate"),
        WriteGate::Lost
    );
}

async fn pushers_are_kept_until_thirty_days_after_close(db: &Db) {
    let s = &db.store;
    let push = |pr, login: &str| Fact::Pusher {
        repo_id: 1,
        pr,
        login: login.to_string(),
        head_sha: None,
    };
    s.accept(&[facts(
        "p1",
        vec![
            push(1, "zed"),
            push(1, "amy"),
            push(1, "zed"),
            push(2, "bob"),
        ],
    )])
    .await
    .expect("accept");
    assert_eq!(s.pushers(1, 1).await.expect("pushers"), vec!["amy", "zed"]);
    let now = now_ms();
    let closed = |pr| Fact::PrClosed { repo_id: 1, pr };
    s.accept(&[facts("p2", vec![closed(1), closed(2)])])
        .await
        .expect("accept");
    s.accept(&[facts("p3", vec![Fact::PrReopened { repo_id: 1, pr: 2 }])])
        .await
        .expect("accept");
    let early = s.prune_at(now + 29 * DAY_MS).await.expect("prune");
    assert_eq!(early.pushers, 0);
    assert_eq!(
        s.pushers(1, 1).await.expect("pushers").len(),
        2,
        "closed 29 days"
    );
    let late = s.prune_at(now + 31 * DAY_MS).await.expect("prune");
    assert_eq!((late.pushers, late.closed_prs), (2, 1));
    assert!(s.pushers(1, 1).await.expect("pushers").is_empty());
    assert_eq!(
        s.pushers(1, 2).await.expect("pushers"),
        vec!["bob"],
        "reopened"
    );
}

async fn heads_fingerprints_and_pushes_are_kept_per_pr_until_thirty_days_after_close(db: &Db) {
    let s = &db.store;
    s.record_fingerprint(1, 1, "ABC123", "F00D")
        .await
        .expect("record");
    s.record_fingerprint(1, 1, "def456", "beef")
        .await
        .expect("record");
    // A head evaluated again keeps the latest; another PR's heads are its own.
    s.record_fingerprint(1, 1, "abc123", "cafe")
        .await
        .expect("record");
    s.record_fingerprint(1, 2, "abc123", "0000")
        .await
        .expect("record");
    assert_eq!(
        s.fingerprints(1, 1).await.expect("read"),
        vec![
            ("abc123".to_string(), "cafe".to_string()),
            ("def456".to_string(), "beef".to_string())
        ]
    );
    let push = |login: &str, head: Option<&str>| Fact::Pusher {
        repo_id: 1,
        pr: 1,
        login: login.to_string(),
        head_sha: head.map(str::to_string),
    };
    s.accept(&[facts(
        "h1",
        vec![
            push("erin", Some("M3RGE")),
            push("erin", Some("m3rge")),
            push("zed", Some("abc123")),
            push("old", None),
        ],
    )])
    .await
    .expect("accept");
    assert_eq!(
        s.pushers(1, 1).await.expect("pushers"),
        vec!["erin", "old", "zed"]
    );
    let heads: Vec<(String, String)> = s
        .pusher_heads(1, 1)
        .await
        .expect("heads")
        .into_iter()
        .map(|h| (h.login, h.head_sha))
        .collect();
    assert_eq!(
        heads,
        vec![
            ("erin".to_string(), "m3rge".to_string()),
            // A push whose head the delivery did not give: kept as unknown.
            ("old".to_string(), String::new()),
            ("zed".to_string(), "abc123".to_string())
        ]
    );
    let now = now_ms();
    s.accept(&[facts("h2", vec![Fact::PrClosed { repo_id: 1, pr: 1 }])])
        .await
        .expect("accept");
    let late = s.prune_at(now + 31 * DAY_MS).await.expect("prune");
    assert_eq!((late.fingerprints, late.pusher_heads), (2, 3));
    assert!(s.fingerprints(1, 1).await.expect("read").is_empty());
    assert!(s.pusher_heads(1, 1).await.expect("read").is_empty());
    assert_eq!(s.fingerprints(1, 2).await.expect("read").len(), 1, "open");
}

async fn deliveries_are_forgotten_after_seven_days(db: &Db) {
    let s = &db.store;
    s.accept(&[pr_delivery("old", 1)]).await.expect("accept");
    let kept = s.prune_at(now_ms() + 6 * DAY_MS).await.expect("prune");
    assert_eq!(kept.deliveries, 0);
    let pruned = s.prune_at(now_ms() + 8 * DAY_MS).await.expect("prune");
    assert_eq!(pruned.deliveries, 1);
    let again = s.accept(&[pr_delivery("old", 1)]).await.expect("accept");
    assert_eq!(again, vec![Accepted::New], "forgotten, so accepted again");
}

async fn team_orgs_find_prs(db: &Db) {
    let s = &db.store;
    let orgs = |v: &[&str]| v.iter().map(|o| o.to_string()).collect::<Vec<_>>();
    s.record_team_orgs(1, 10, 7, "acme/ledger", &orgs(&["Acme", "acme", "Other"]))
        .await
        .expect("record");
    s.record_team_orgs(2, 11, 8, "acme/web", &orgs(&["ACME"]))
        .await
        .expect("record");
    let rec = |repo_id, pr, installation, repo: &str| PrRecord {
        repo_id,
        pr,
        installation,
        repo: repo.to_string(),
    };
    assert_eq!(
        s.prs_naming_org("aCmE").await.expect("query"),
        vec![rec(1, 10, 7, "acme/ledger"), rec(2, 11, 8, "acme/web")]
    );
    s.record_team_orgs(1, 10, 7, "acme/ledger", &orgs(&["other"]))
        .await
        .expect("replace");
    assert_eq!(
        s.prs_naming_org("acme").await.expect("query"),
        vec![rec(2, 11, 8, "acme/web")]
    );
    s.forget_pr_team_orgs(2, 11).await.expect("forget");
    assert!(s.prs_naming_org("acme").await.expect("query").is_empty());
    assert_eq!(s.prs_naming_org("other").await.expect("query").len(), 1);
}

async fn named_leases_have_one_holder(db: &Db) {
    let s = &db.store;
    let ttl = Duration::from_secs(4);
    assert!(s.try_lease("sweep", "a", ttl).await.expect("a takes"));
    assert!(!s.try_lease("sweep", "b", ttl).await.expect("b refused"));
    assert!(s.try_lease("sweep", "a", ttl).await.expect("a extends"));
    assert!(s.try_lease("other", "b", ttl).await.expect("another name"));
    assert!(!s.release_lease("sweep", "b").await.expect("not b's"));
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert!(
        s.try_lease("sweep", "b", LONG)
            .await
            .expect("expired, b takes")
    );
    assert!(!s.try_lease("sweep", "a", LONG).await.expect("a refused"));
    assert!(s.release_lease("sweep", "b").await.expect("b releases"));
    assert!(s.try_lease("sweep", "a", LONG).await.expect("free again"));
}

async fn migrate_again_applies_nothing(db: &Db) {
    assert_eq!(db.store.migrate().await.expect("migrate"), 0);
    assert_eq!(db.replica().await.migrate().await.expect("migrate"), 0);
}

async fn out_of_range_ids_are_refused(db: &Db) {
    let mut item = pr_item(1, 1, None, Duration::ZERO);
    item.repo_id = u64::MAX;
    let e = db
        .store
        .accept(&[Delivery {
            id: "big".into(),
            work: vec![item],
            facts: vec![],
        }])
        .await
        .expect_err("refused");
    assert!(matches!(e, StoreError::OutOfRange { .. }), "{e}");
    assert_eq!(db.store.pending().await.expect("pending"), 0);
    assert!(db.store.pushers(u64::MAX, 1).await.is_err());
    // Nothing of the refused batch was stored, not even its delivery ID.
    let ok = db
        .store
        .accept(&[pr_delivery("big", 1)])
        .await
        .expect("accept");
    assert_eq!(ok, vec![Accepted::New]);
}

// ---- back-end specific ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrate_counts_what_it_applied() {
    let db = store_support::sqlite_unmigrated().await;
    assert!(db.store.migrate().await.expect("first") >= 1);
    assert_eq!(db.store.migrate().await.expect("second"), 0);
    assert_eq!(db.store.backend(), "sqlite");
    db.store.ping().await.expect("ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_migrate_applies_once() {
    let Some(db) = store_support::postgres_unmigrated().await else {
        return;
    };
    let mut replicas = vec![db.store.clone()];
    for _ in 0..3 {
        replicas.push(db.replica().await);
    }
    let runs = replicas
        .into_iter()
        .map(|s| async move { s.migrate().await });
    let applied: Vec<usize> = futures_join_all(runs).await;
    assert_eq!(applied.iter().filter(|n| **n > 0).count(), 1, "{applied:?}");
    assert_eq!(db.store.migrate().await.expect("again"), 0);
    assert_eq!(db.store.backend(), "postgres");
    db.store.ping().await.expect("ping");
    db.cleanup().await;
}

/// Runs the migrations side by side (no extra crate for `join_all`).
async fn futures_join_all(
    runs: impl Iterator<Item = impl Future<Output = Result<usize, StoreError>> + Send + 'static>,
) -> Vec<usize> {
    let handles: Vec<_> = runs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task").expect("migrate"));
    }
    out
}

#[tokio::test]
async fn connect_refuses_other_schemes_naming_the_accepted_forms() {
    let e = Store::connect("mysql://root:hunter2@db/gate")
        .await
        .expect_err("mysql");
    let msg = e.to_string();
    assert!(matches!(e, StoreError::BadUrl { .. }), "{msg}");
    assert!(
        msg.contains("sqlite:PATH") && msg.contains("postgres://"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[tokio::test]
async fn connect_to_a_missing_directory_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}/absent/store.db", dir.path().display());
    let msg = Store::connect(&url).await.expect_err("missing").to_string();
    assert!(
        msg.contains("does not exist") && msg.contains("absent"),
        "{msg}"
    );
}

#[tokio::test]
async fn unreachable_postgres_fails_fast_without_the_password() {
    let started = Instant::now();
    let e = Store::connect("postgres://gate:hunter2@127.0.0.1:1/gate")
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let msg = e.to_string();
    assert!(e.is_unavailable(), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("gate:***@127.0.0.1:1"), "{msg}");
}

#[test]
fn redact_hides_the_password() {
    assert_eq!(
        reviewgate::store::redact("postgresql://u:p4ss@h:5432/d?sslmode=require"),
        "postgresql://u:***@h:5432/d?sslmode=require"
    );
}

/// A store whose schema was never made is told apart from one that cannot be reached, on
/// both back ends (PostgreSQL says so by code, SQLite in words).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_store_is_missing_its_tables() {
    let lite = store_support::sqlite_unmigrated().await;
    let e = lite.store.pending().await.expect_err("no tables yet");
    assert!(e.is_missing_table(), "{e}");
    lite.store.migrate().await.expect("migrate");
    lite.store.pending().await.expect("tables now");
    lite.cleanup().await;
    if let Some(pg) = store_support::postgres_unmigrated().await {
        let e = pg.store.pending().await.expect_err("no tables yet");
        assert!(e.is_missing_table(), "{e}");
        pg.cleanup().await;
    }
}
