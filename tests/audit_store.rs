//! The audit records' storage, black-box, on SQLite and on PostgreSQL (each behaviour is a
//! test `<behaviour>::sqlite` and `<behaviour>::postgres`; the PostgreSQL ones say they were
//! skipped when `REVIEWGATE_TEST_DATABASE_URL` is not set).

#[macro_use]
mod store_support;
mod audit_support;

use audit_support::{BLOB, DAY, HOUR, JULY_1, POLICY, decision, decision_with_policy, merge, push};
use reviewgate::audit::{Fault, Record, ZERO_HASH, record_hash, verify_chain};
use reviewgate::store::{ExportFilter, Store, StoreError};
use sqlx::Connection;
use store_support::Db;

on_both!(
    appends_link_records_into_one_chain_per_repository,
    concurrent_appenders_on_two_replicas_never_fork_a_chain,
    latest_decision_is_the_newest_written_before_the_merge,
    export_filters_on_time_repository_and_approval,
    decisions_are_exported_by_evaluation_time_with_their_policy,
    pruning_leaves_a_checkpoint_and_the_rest_verifies,
    a_record_edited_by_sql_fails_its_hash,
    a_removed_record_breaks_the_link,
    one_blob_sha_names_one_policy_text,
    merged_commits_are_found,
);

const REPO: &str = "acme/ledger";

/// Runs SQL on the store's database directly, as someone tampering with it would.
async fn tamper(db: &Db, sql: &str) {
    match db.store.backend() {
        "sqlite" => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect sqlite");
            sqlx::query(sql).execute(&mut conn).await.expect("tamper");
        }
        _ => {
            let mut conn = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("connect postgres");
            sqlx::query(sql).execute(&mut conn).await.expect("tamper");
        }
    }
}

/// The whole chain as JSON, through the paging API.
async fn chain(store: &Store, repo: &str) -> Vec<serde_json::Value> {
    let mut pages = store.chain(repo);
    let mut all = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        all.extend(page);
    }
    all
}

async fn export(store: &Store, filter: ExportFilter) -> Vec<(String, String)> {
    let mut pages = store.export_rows(filter);
    let mut rows = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        rows.extend(page.into_iter().map(|r| (r.kind.to_string(), r.merge_sha)));
    }
    rows
}

async fn appends_link_records_into_one_chain_per_repository(db: &Db) {
    let s = &db.store;
    let d = decision(REPO, 7, "h7", &["carol", "dave"], JULY_1);
    let mut records: Vec<Record> = vec![
        d.clone().into(),
        merge(REPO, 7, "h7", "2026-07-01T00:00:01Z", Some(&d)).into(),
        push(REPO, "p1", JULY_1 + HOUR).into(),
    ];
    let stored = s.append_records(&mut records).await.expect("append");
    let mut other: Record = decision("acme/web", 1, "w1", &["dave"], JULY_1).into();
    let lone = s.append_record(&mut other).await.expect("append");
    assert_eq!((lone.seq, lone.prev_hash.as_str()), (1, ZERO_HASH));

    assert_eq!(stored.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(stored[0].prev_hash, ZERO_HASH);
    assert_eq!(stored[1].prev_hash, stored[0].hash);
    assert_eq!(stored[2].prev_hash, stored[1].hash);
    assert_eq!(records[2].hash(), stored[2].hash, "sealed in place");
    // Read back exactly, the decision with its policy text inline.
    let back = s.record(&stored[0].id).await.expect("read").expect("found");
    assert_eq!(back, records[0]);
    let Record::Decision(back) = back else {
        panic!("a decision")
    };
    assert_eq!(back.policy.as_deref(), Some(POLICY));
    assert!(s.record("d-nothing").await.expect("read").is_none());

    let values = chain(s, REPO).await;
    assert_eq!(verify_chain(&values, ZERO_HASH), Ok(3));
    assert_eq!(
        s.repositories().await.expect("repos"),
        vec!["acme/ledger", "acme/web"]
    );
    let report = s.verify_chain(REPO).await.expect("verify");
    assert_eq!((report.records, report.broken), (3, None));
}

async fn concurrent_appenders_on_two_replicas_never_fork_a_chain(db: &Db) {
    let replicas = [db.store.clone(), db.replica().await];
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = replicas[t % 2].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let mut r: Record = push(REPO, &format!("t{t}-{i}"), JULY_1 + i).into();
                store.append_record(&mut r).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let values = chain(&db.store, REPO).await;
    assert_eq!(values.len(), 400);
    assert_eq!(
        verify_chain(&values, ZERO_HASH),
        Ok(400),
        "one chain, no fork"
    );
    let report = db.store.verify_chain(REPO).await.expect("verify");
    assert_eq!((report.records, report.broken), (400, None));
}

async fn latest_decision_is_the_newest_written_before_the_merge(db: &Db) {
    let s = &db.store;
    let first = decision(REPO, 7, "h7", &["dave"], JULY_1);
    let second = decision(REPO, 7, "h7", &["carol", "dave"], JULY_1 + 10);
    let other_head = decision(REPO, 7, "h8", &["carol", "dave"], JULY_1 + 20);
    s.append_records_at(&mut [first.clone().into()], JULY_1)
        .await
        .expect("append");
    s.append_records_at(&mut [second.clone().into(), other_head.into()], JULY_1 + 10)
        .await
        .expect("append");
    let at = |ms| s.latest_decision(REPO, "h7", "main", ms);
    assert_eq!(at(JULY_1 - 1).await.expect("q"), None);
    assert_eq!(
        at(JULY_1 + 9).await.expect("q").map(|d| d.id),
        Some(first.id)
    );
    let latest = at(JULY_1 + 10).await.expect("q").expect("found");
    assert_eq!(latest.id, second.id);
    assert_eq!(latest.policy.as_deref(), Some(POLICY), "policy inline");
    assert!(
        s.latest_decision(REPO, "h7", "dev", JULY_1 + 99)
            .await
            .expect("q")
            .is_none()
    );
    assert!(
        s.latest_decision("acme/web", "h7", "main", JULY_1 + 99)
            .await
            .expect("q")
            .is_none()
    );
}

async fn export_filters_on_time_repository_and_approval(db: &Db) {
    let s = &db.store;
    let passed = decision(REPO, 1, "a1", &["carol", "dave"], JULY_1 - DAY);
    let mut records: Vec<Record> = vec![
        passed.clone().into(),
        // Merged at midnight on July 1st, gate passed.
        merge(REPO, 1, "a1", "2026-07-01T00:00:00Z", Some(&passed)).into(),
        // An admin merge with no decision, an hour later.
        merge(REPO, 2, "a2", "2026-07-01T01:00:00Z", None).into(),
        // A direct push on July 2nd.
        push(REPO, "a3", JULY_1 + DAY).into(),
        // Another repository, and a merge in June.
        merge("acme/web", 3, "a4", "2026-07-01T00:30:00+00:00", None).into(),
        merge(REPO, 4, "a5", "2026-06-30T23:59:59Z", Some(&passed)).into(),
    ];
    s.append_records(&mut records).await.expect("append");
    let shas = |v: &[&str]| -> Vec<(String, String)> {
        v.iter()
            .map(|s| {
                let kind = if s.starts_with('m') { "merge" } else { "push" };
                (kind.to_string(), s.to_string())
            })
            .collect()
    };
    let all = export(s, ExportFilter::default()).await;
    assert_eq!(
        all,
        shas(&["ma5", "ma1", "ma4", "ma2", "a3"]),
        "by time, decisions left out"
    );
    let july = ExportFilter {
        since_ms: Some(JULY_1),
        until_ms: Some(JULY_1 + DAY),
        ..Default::default()
    };
    assert_eq!(
        export(s, july.clone()).await,
        shas(&["ma1", "ma4", "ma2"]),
        "[since, until)"
    );
    let one_repo = ExportFilter {
        repository: Some(REPO.into()),
        ..july.clone()
    };
    assert_eq!(export(s, one_repo).await, shas(&["ma1", "ma2"]));
    let unapproved = ExportFilter {
        unapproved_only: true,
        ..Default::default()
    };
    assert_eq!(export(s, unapproved).await, shas(&["ma4", "ma2", "a3"]));
    let none = ExportFilter {
        since_ms: Some(JULY_1 + 2 * DAY),
        ..Default::default()
    };
    assert!(export(s, none).await.is_empty());
}

async fn decisions_are_exported_by_evaluation_time_with_their_policy(db: &Db) {
    let s = &db.store;
    let late = decision(REPO, 1, "b1", &["carol"], JULY_1 + HOUR);
    let early = decision("acme/web", 2, "b2", &["carol"], JULY_1);
    let before = decision(REPO, 3, "b3", &["carol"], JULY_1 - 1);
    s.append_records(&mut [late.clone().into(), early.clone().into(), before.into()])
        .await
        .expect("append");
    let mut pages = s.decisions(ExportFilter {
        since_ms: Some(JULY_1),
        ..Default::default()
    });
    let mut got = Vec::new();
    while let Some(page) = pages.next_page().await.expect("page") {
        got.extend(page);
    }
    assert_eq!(
        got.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [early.id.as_str(), late.id.as_str()]
    );
    assert!(got.iter().all(|d| d.policy.as_deref() == Some(POLICY)));
    // Exactly what was hashed.
    let value = serde_json::to_value(&got[0]).expect("json");
    assert_eq!(record_hash(&value).expect("hash"), got[0].hash);
}

async fn pruning_leaves_a_checkpoint_and_the_rest_verifies(db: &Db) {
    let s = &db.store;
    let old = decision(REPO, 1, "c1", &["carol", "dave"], JULY_1);
    let mut old_records: Vec<Record> = vec![
        old.clone().into(),
        push(REPO, "c2", JULY_1).into(),
        push(REPO, "c3", JULY_1).into(),
    ];
    s.append_records_at(&mut old_records, JULY_1)
        .await
        .expect("append");
    let mut kept: Vec<Record> = vec![
        merge(REPO, 1, "c1", "2026-07-01T00:00:01Z", Some(&old)).into(),
        push(REPO, "c4", JULY_1 + 40 * DAY).into(),
    ];
    s.append_records_at(&mut kept, JULY_1 + 40 * DAY)
        .await
        .expect("append");

    let pruned = s.prune_records(JULY_1 + 30 * DAY).await.expect("prune");
    assert_eq!((pruned.chains, pruned.records, pruned.policies), (1, 3, 1));
    let values = chain(s, REPO).await;
    assert_eq!(values.len(), 3, "two kept and a checkpoint");
    let checkpoint = &values[2];
    assert_eq!(checkpoint["kind"], "checkpoint");
    assert_eq!(checkpoint["pruned"], 3);
    assert_eq!(checkpoint["pruned_through"], old_records[2].hash());
    assert_eq!(checkpoint["oldest_kept"], kept[0].id());
    let report = s.verify_chain(REPO).await.expect("verify");
    assert_eq!((report.records, report.broken), (3, None));
    // The merge keeps its own evidence after its decision went.
    assert!(s.record(old.id.as_str()).await.expect("read").is_none());
    let Some(Record::Merge(m)) = s.record(kept[0].id()).await.expect("read") else {
        panic!("the merge is kept")
    };
    assert!(m.gate_passed && m.approvers.len() == 2 && m.policy_blob_sha.as_deref() == Some(BLOB));

    // Pruning everything keeps the newest record and still verifies; nothing left to prune
    // changes nothing.
    let far = JULY_1 + 1000 * DAY;
    let pruned = s.prune_records(far).await.expect("prune");
    assert_eq!((pruned.chains, pruned.records), (1, 2));
    let report = s.verify_chain(REPO).await.expect("verify");
    assert_eq!((report.records, report.broken), (2, None));
    let again = s.prune_records(JULY_1).await.expect("prune");
    assert_eq!(again.records, 0);
}

async fn a_record_edited_by_sql_fails_its_hash(db: &Db) {
    let s = &db.store;
    let d = decision(REPO, 1, "e1", &["carol", "dave"], JULY_1);
    let mut records: Vec<Record> = vec![
        d.clone().into(),
        merge(REPO, 1, "e1", "2026-07-01T00:00:01Z", Some(&d)).into(),
        merge(REPO, 2, "e2", "2026-07-01T00:00:02Z", None).into(),
        push(REPO, "e3", JULY_1).into(),
    ];
    s.append_records(&mut records).await.expect("append");
    let expect_hash_break = |id: String| async move {
        let report = s.verify_chain(REPO).await.expect("verify");
        let broken = report.broken.expect("broken");
        assert_eq!(
            (broken.id, broken.what),
            (id, Fault::Hash),
            "{}",
            broken.detail
        );
    };

    // An approver swapped in the body.
    let id = records[1].id().to_string();
    tamper(
        db,
        &format!(
            "UPDATE audit_records SET body = REPLACE(body, 'carol', 'alice') WHERE id = '{id}'"
        ),
    )
    .await;
    expect_hash_break(id.clone()).await;
    // Put back, it verifies again.
    tamper(
        db,
        &format!(
            "UPDATE audit_records SET body = REPLACE(body, 'alice', 'carol') WHERE id = '{id}'"
        ),
    )
    .await;
    assert_eq!(s.verify_chain(REPO).await.expect("verify").broken, None);

    // A hash rewritten to match an edit is still caught: by its own hash here.
    let id = records[3].id().to_string();
    tamper(
        db,
        &format!(
            "UPDATE audit_records SET hash = '{}' WHERE id = '{id}'",
            "f".repeat(64)
        ),
    )
    .await;
    expect_hash_break(id).await;
    tamper(
        db,
        &format!(
            "UPDATE audit_records SET hash = '{}' WHERE id = '{}'",
            records[3].hash(),
            records[3].id()
        ),
    )
    .await;

    // An unapproved merge marked approved in the column export filters on.
    let id = records[2].id().to_string();
    let truthy = if s.backend() == "sqlite" { "1" } else { "TRUE" };
    tamper(
        db,
        &format!("UPDATE audit_records SET passed = {truthy} WHERE id = '{id}'"),
    )
    .await;
    expect_hash_break(id).await;

    // The policy text changed under its blob SHA.
    tamper(
        db,
        "UPDATE audit_policies SET text = REPLACE(text, 'approvals = 2', 'approvals = 1')",
    )
    .await;
    expect_hash_break(records[0].id().to_string()).await;
}

async fn a_removed_record_breaks_the_link(db: &Db) {
    let s = &db.store;
    let mut records: Vec<Record> = (0..4)
        .map(|i| push(REPO, &format!("r{i}"), JULY_1).into())
        .collect();
    s.append_records(&mut records).await.expect("append");
    tamper(
        db,
        &format!("DELETE FROM audit_records WHERE id = '{}'", records[3].id()),
    )
    .await;
    let broken = s
        .verify_chain(REPO)
        .await
        .expect("verify")
        .broken
        .expect("broken");
    assert_eq!(
        (broken.id.as_str(), broken.what),
        (records[2].id(), Fault::Link),
        "newest gone: {}",
        broken.detail
    );
    tamper(
        db,
        &format!("DELETE FROM audit_records WHERE id = '{}'", records[1].id()),
    )
    .await;
    let broken = s
        .verify_chain(REPO)
        .await
        .expect("verify")
        .broken
        .expect("broken");
    assert_eq!(
        (broken.id.as_str(), broken.what),
        (records[2].id(), Fault::Link),
        "{}",
        broken.detail
    );
}

async fn one_blob_sha_names_one_policy_text(db: &Db) {
    let s = &db.store;
    let mut first: Record = decision(REPO, 1, "f1", &["carol"], JULY_1).into();
    s.append_record(&mut first).await.expect("append");
    let edited = POLICY.replace("approvals = 2", "approvals = 1");
    let mut liar: Record =
        decision_with_policy(REPO, 2, "f2", &["carol"], JULY_1, &edited, BLOB).into();
    let e = s.append_record(&mut liar).await.expect_err("refused");
    assert!(matches!(e, StoreError::InvalidRecord { .. }), "{e}");
    let mut malformed: Record = decision("no-slash", 3, "f3", &[], JULY_1).into();
    assert!(matches!(
        s.append_record(&mut malformed).await,
        Err(StoreError::InvalidRecord { .. })
    ));
    assert_eq!(
        s.verify_chain(REPO).await.expect("verify").records,
        1,
        "nothing else stored"
    );
}

async fn merged_commits_are_found(db: &Db) {
    let s = &db.store;
    let mut m: Record = merge(REPO, 1, "g1", "2026-07-01T00:00:00Z", None).into();
    s.append_record(&mut m).await.expect("append");
    let asked: Vec<String> = ["g1", "mg1", "zz"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        s.merged_commits(REPO, &asked).await.expect("q"),
        vec!["g1", "mg1"]
    );
    assert!(
        s.merged_commits("acme/web", &asked)
            .await
            .expect("q")
            .is_empty()
    );
}
