//! The audit trail end to end (issue 12): the real binary (`reviewgate serve`) behind the fake
//! GitHub, on SQLite and on PostgreSQL, then the real `audit export`, `audit verify` and
//! `replay` commands on the store it wrote.
//!
//! One story per back end: PR #1 is blocked, approved by a senior and another writer, and
//! merged; PR #2 is blocked and merged anyway by an admin; someone pushes straight to `main`;
//! the merge commit of PR #1 is pushed too (which is not an unreviewed push). Then a record is
//! edited by hand in SQL, and `audit verify` must name it.

mod audit_support;
mod store_support;
mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

use support::fake_github::{CheckRun, FakeGitHub, FileSpec, PrSpec, sha_like};
use support::harness::{CHECK, INSTALLATION, POLICY, POLICY_PATH, REPO, fake_world};
use support::process::ServerProcess;
use support::webhooks;

fn cli(args: &[&str], url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(args)
        .args(["--database", url])
        .env_remove("REVIEWGATE_DATABASE_URL")
        .output()
        .expect("run reviewgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The export as JSON rows (one object per line).
fn export(url: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "export", "--format", "json"];
    args.extend_from_slice(extra);
    let out = cli(&args, url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

async fn settled_check(fake: &FakeGitHub, sha: &str, conclusion: &str) -> CheckRun {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(run) = fake.latest_check_run(REPO, sha, CHECK) {
            if run.status == "completed" && run.conclusion.as_deref() == Some(conclusion) {
                return run;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {conclusion} check on {sha}: {:?}",
            fake.latest_check_run(REPO, sha, CHECK)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn open_ledger_pr(fake: &FakeGitHub, tag: &str) -> u64 {
    fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            head_ref: format!("change-{tag}"),
            head_sha: sha_like(&format!("head {tag}")),
            files: vec![FileSpec::modified(&format!("ledger/{tag}.rs"))],
            ..PrSpec::default()
        },
    )
}

async fn deliver(server: &ServerProcess, event: &str, payload: &Value) {
    let status = server.deliver(event, payload).await;
    assert!((200..300).contains(&status), "{event} answered {status}");
}

async fn review(server: &ServerProcess, fake: &FakeGitHub, n: u64, user: &str) {
    fake.review(REPO, n, user, "APPROVED", None);
    let payload = webhooks::pull_request_review_event(
        "submitted",
        fake,
        REPO,
        n,
        INSTALLATION,
        user,
        "APPROVED",
    );
    deliver(server, "pull_request_review", &payload).await;
}

/// Waits until the export has `n` rows (merges and pushes are recorded in the background).
async fn rows_appear(server: &ServerProcess, url: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = export(url, &[]);
        if rows.len() >= n {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "export has {rows:?}, not {n} rows; log: {:#?}",
            server
                .log_at("WARN")
                .into_iter()
                .chain(server.log_at("ERROR"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the server is ready: its store connected and migrated.
async fn ready(server: &ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = reqwest::get(format!("{}/readyz", server.url))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "not ready: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn story(url: &str) {
    let fake = fake_world().await;
    let server = ServerProcess::start_logged(
        &fake,
        &[
            ("REVIEWGATE_DATABASE_URL", url),
            ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
            ("REVIEWGATE_DEBOUNCE_MS", "50"),
        ],
    )
    .await;
    ready(&server).await;

    // PR #1: blocked, then approved by a senior in payments (carol, through
    // @acme/senior-engineers and @acme/payments) and a second writer (dan), then merged by lena.
    let one = open_ledger_pr(&fake, "one");
    let head_one = sha_like("head one");
    let opened = webhooks::pull_request_event("opened", &fake, REPO, one, INSTALLATION);
    deliver(&server, "pull_request", &opened).await;
    let blocked = settled_check(&fake, &head_one, "failure").await;
    review(&server, &fake, one, "carol").await;
    review(&server, &fake, one, "dan").await;
    let passed = settled_check(&fake, &head_one, "success").await;
    assert_ne!(
        blocked.external_id, passed.external_id,
        "each write has its record"
    );
    let record_id = passed
        .external_id
        .clone()
        .expect("the run names its record");
    let summary = passed.summary.clone().unwrap_or_default();
    let last = summary.lines().last().unwrap_or_default();
    let blob = support::fake_github::blob_sha(POLICY);
    assert!(
        last.starts_with(&format!("Decision record {record_id} (sha256 "))
            && last.ends_with(&format!(") under policy {POLICY_PATH}@{blob}")),
        "summary ends with {last:?}"
    );
    let merge_one = fake.merge_pr(REPO, one, "lena");
    let closed = webhooks::pull_request_event("closed", &fake, REPO, one, INSTALLATION);
    assert_eq!(closed["pull_request"]["merged"], true);
    deliver(&server, "pull_request", &closed).await;

    // PR #2: blocked, merged anyway by an admin.
    let two = open_ledger_pr(&fake, "two");
    let head_two = sha_like("head two");
    let opened = webhooks::pull_request_event("opened", &fake, REPO, two, INSTALLATION);
    deliver(&server, "pull_request", &opened).await;
    settled_check(&fake, &head_two, "failure").await;
    let merge_two = fake.merge_pr(REPO, two, "root");
    let closed = webhooks::pull_request_event("closed", &fake, REPO, two, INSTALLATION);
    deliver(&server, "pull_request", &closed).await;

    // The push of PR #1's merge commit is reviewed; a commit pushed straight to main is not.
    let merged_push = webhooks::push_event(
        &fake,
        REPO,
        "refs/heads/main",
        &merge_one,
        &["ledger/one.rs"],
        INSTALLATION,
    );
    deliver(&server, "push", &merged_push).await;
    let direct = sha_like("direct push");
    let mut push = webhooks::push_event(
        &fake,
        REPO,
        "refs/heads/main",
        &direct,
        &["ledger/hotfix.rs"],
        INSTALLATION,
    );
    push["sender"]["login"] = "mallory".into();
    deliver(&server, "push", &push).await;

    // 25 commits pushed at once: the payload lists 20, the compare API has them all. The
    // first is PR #1's (reviewed); the other 24 are not.
    let bulk: Vec<String> = std::iter::once(head_one.clone())
        .chain((1..25).map(|i| sha_like(&format!("bulk {i}"))))
        .collect();
    let bulk_head = bulk.last().expect("commits").clone();
    let mut many = webhooks::push_event(
        &fake,
        REPO,
        "refs/heads/main",
        &bulk_head,
        &["ledger/bulk.rs"],
        INSTALLATION,
    );
    let template = many["commits"][0].clone();
    many["commits"] = bulk[..20]
        .iter()
        .map(|sha| {
            let mut c = template.clone();
            c["id"] = sha.as_str().into();
            c
        })
        .collect();
    let before = many["before"].as_str().expect("before").to_string();
    fake.set_compare(REPO, &before, &bulk_head, &bulk);
    deliver(&server, "push", &many).await;

    // Every merge and the unreviewed push, in time order; nothing for the reviewed push.
    let rows = rows_appear(&server, url, 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows_later = export(url, &[]);
    assert_eq!(rows_later.len(), 4, "{rows_later:#?}");
    let merge_row = |pr: u64| {
        rows.iter()
            .find(|r| r["kind"] == "merge" && r["pr"] == pr)
            .unwrap_or_else(|| panic!("no merge row for #{pr} in {rows:#?}"))
            .clone()
    };
    let approved = merge_row(one);
    assert_eq!(approved["gate_passed"], true);
    assert_eq!(approved["merge_sha"], merge_one);
    assert_eq!(approved["merged_by"], "lena");
    assert_eq!(approved["author"], "zed");
    assert_eq!(approved["base"], "main");
    assert_eq!(approved["policy_blob_sha"], blob);
    assert_eq!(approved["decision_id"], record_id.as_str());
    assert_eq!(
        approved["approvers"],
        serde_json::json!([
            {"login": "carol", "groups": {"payments": "@acme/payments", "seniors": "@acme/senior-engineers"}},
            {"login": "dan", "groups": {}},
        ])
    );
    let bypassed = merge_row(two);
    assert_eq!(bypassed["gate_passed"], false);
    assert_eq!(bypassed["merge_sha"], merge_two);
    assert_eq!(bypassed["merged_by"], "root");
    let pushes: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "push").collect();
    assert_eq!(pushes.len(), 2, "{rows:#?}");
    let pushed = pushes
        .iter()
        .find(|r| r["merge_sha"] == direct.as_str())
        .expect("the direct push");
    assert_eq!(pushed["merged_by"], "mallory");
    assert_eq!(pushed["commits"], serde_json::json!([direct]));
    let pushed = pushes
        .iter()
        .find(|r| r["merge_sha"] == bulk_head.as_str())
        .expect("the 25-commit push");
    assert_eq!(pushed["commits"], serde_json::json!(bulk[1..]));

    // The CSV carries the same row, approvers written out.
    let csv = cli(&["audit", "export"], url);
    assert_eq!(csv.status.code(), Some(0));
    let csv = text(&csv.stdout);
    assert!(csv.starts_with("kind,repository,pr,merge_sha,merged_at,merged_by,author,base,policy_blob_sha,gate_passed,approvers,decision_id,commits\r\n"), "{csv}");
    assert!(
        csv.contains(&format!(
            "merge,{REPO},{one},{merge_one},{},lena,zed,main,{blob},true,\"carol (payments: @acme/payments, seniors: @acme/senior-engineers); dan\",{record_id},",
            approved["merged_at"].as_str().expect("merged_at")
        )),
        "{csv}"
    );

    // What bypassed the gate: the admin merge and the push, not the approved merge.
    let unapproved = export(url, &["--unapproved-only"]);
    let kinds: Vec<(String, Value)> = unapproved
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_string(),
                r["pr"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("merge".to_string(), two.into()),
            ("push".to_string(), Value::Null),
            ("push".to_string(), Value::Null)
        ],
        "{unapproved:#?}"
    );

    // Counted, and said once at ERROR with what an operator needs.
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "reviewgate_unapproved_merges_total{repository=\"acme/ledger\"}"
        ),
        1,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "reviewgate_unreviewed_pushes_total{repository=\"acme/ledger\"}"
        ),
        2
    );
    let errors: Vec<Value> = server
        .log_at("ERROR")
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("unapproved merge"))
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let line = errors[0].to_string();
    let pr_field = format!("\"pr\":{two}");
    for needle in [REPO, merge_two.as_str(), "root", pr_field.as_str()] {
        assert!(line.contains(needle), "{needle} missing from {line}");
    }
    server.stop();

    // Every chain intact; every decision replays to the verdict it recorded.
    let verify = cli(&["audit", "verify"], url);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    let decisions = cli(&["audit", "export", "--decisions"], url);
    let decisions: Vec<Value> = text(&decisions.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("decision"))
        .collect();
    // PR #1 blocked and approved (reviews close together may share an evaluation), PR #2 blocked.
    assert!(decisions.len() >= 3, "{} decisions", decisions.len());
    for d in &decisions {
        let id = d["id"].as_str().expect("id");
        let replay = cli(&["replay", id], url);
        assert_eq!(
            replay.status.code(),
            Some(0),
            "replay {id}: {}{}",
            text(&replay.stdout),
            text(&replay.stderr)
        );
    }

    // A decision's snapshot is exactly what `evaluate --pr` reads: with the recorded policy
    // it gives the recorded verdict.
    let approved_decision = decisions
        .iter()
        .find(|d| d["id"] == record_id.as_str())
        .expect("the approving decision is exported");
    let files = tempfile::tempdir().expect("temp dir");
    let policy_file = files.path().join("policy.toml");
    let snapshot_file = files.path().join("pr.json");
    std::fs::write(
        &policy_file,
        approved_decision["policy"].as_str().expect("policy"),
    )
    .expect("write policy");
    std::fs::write(
        &snapshot_file,
        serde_json::to_vec(&approved_decision["snapshot"]).expect("snapshot"),
    )
    .expect("write snapshot");
    let evaluated = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["evaluate", "--policy-path", POLICY_PATH, "--policy"])
        .arg(&policy_file)
        .arg("--pr")
        .arg(&snapshot_file)
        .output()
        .expect("evaluate");
    assert_eq!(
        evaluated.status.code(),
        Some(0),
        "{}{}",
        text(&evaluated.stdout),
        text(&evaluated.stderr)
    );

    // One record edited by hand: verify names it and says its hash failed.
    let merge_id = approved_merge_id(url, one as i64).await;
    tamper(
        url,
        &format!(
            "UPDATE audit_records SET body = replace(body, 'lena', 'eve') WHERE id = '{merge_id}'"
        ),
    )
    .await;
    let verify = cli(&["audit", "verify"], url);
    assert_eq!(verify.status.code(), Some(1));
    let stderr = text(&verify.stderr);
    assert!(
        stderr.contains(REPO) && stderr.contains(&merge_id) && stderr.contains("hash"),
        "{stderr}"
    );
}

/// The id of PR `pr`'s merge record, read from the store.
async fn approved_merge_id(url: &str, pr: i64) -> String {
    let query = format!("SELECT id FROM audit_records WHERE kind = 'merge' AND pr = {pr}");
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let (id,): (String,) = sqlx::query_as(&query)
            .fetch_one(&mut conn)
            .await
            .expect("merge id");
        id
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let (id,): (String,) = sqlx::query_as(&query)
            .fetch_one(&mut conn)
            .await
            .expect("merge id");
        id
    }
}

async fn tamper(url: &str, statement: &str) {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("tamper");
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("tamper");
    }
}

/// A fresh SQLite store URL in `dir`.
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("reviewgate.db").display())
}

async fn serve(fake: &FakeGitHub, url: &str, extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![
        ("REVIEWGATE_DATABASE_URL", url),
        ("REVIEWGATE_RECONCILE_INTERVAL", "0"),
        ("REVIEWGATE_DEBOUNCE_MS", "50"),
    ];
    env.extend_from_slice(extra);
    let server = ServerProcess::start_logged(fake, &env).await;
    ready(&server).await;
    server
}

/// What is not gated leaves no merge or push record; a gated branch's deletion does, with no
/// commits; a merge group's decision has `pr` null and the group's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_gated_branches_are_recorded_and_merge_groups_have_no_pr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    let fake = fake_world().await;
    fake.remove_file(REPO, "scratch", POLICY_PATH);
    fake.set_file(REPO, "release", POLICY_PATH, POLICY);
    let server = serve(&fake, &url, &[]).await;

    // A PR into the branch without a policy, merged; a push straight to that branch.
    let n = fake.open_pr(
        REPO,
        PrSpec {
            author: "zed".into(),
            base: "scratch".into(),
            head_ref: "into-scratch".into(),
            head_sha: sha_like("into scratch"),
            files: vec![FileSpec::modified("ledger/x.rs")],
            ..PrSpec::default()
        },
    );
    fake.merge_pr(REPO, n, "lena");
    let closed = webhooks::pull_request_event("closed", &fake, REPO, n, INSTALLATION);
    deliver(&server, "pull_request", &closed).await;
    let push = webhooks::push_event(
        &fake,
        REPO,
        "refs/heads/scratch",
        &sha_like("scratch push"),
        &["ledger/x.rs"],
        INSTALLATION,
    );
    deliver(&server, "push", &push).await;

    // A merge group for a PR into main.
    let queued = open_ledger_pr(&fake, "queued");
    let group_sha = sha_like("merge group");
    let group = webhooks::merge_group_checks_requested(
        &fake,
        REPO,
        "main",
        queued,
        &group_sha,
        INSTALLATION,
    );
    deliver(&server, "merge_group", &group).await;
    let run = settled_check(&fake, &group_sha, "failure").await;

    // 20 commits listed, and GitHub's compare answers 404 (the `before` commit is gone): the
    // push is recorded with the commits the payload lists, and nothing after it waits.
    let listed: Vec<String> = (0..20).map(|i| sha_like(&format!("listed {i}"))).collect();
    let mut truncated = webhooks::push_event(
        &fake,
        REPO,
        "refs/heads/main",
        listed.last().expect("commits"),
        &["ledger/y.rs"],
        INSTALLATION,
    );
    let template = truncated["commits"][0].clone();
    truncated["commits"] = listed
        .iter()
        .map(|sha| {
            let mut c = template.clone();
            c["id"] = sha.as_str().into();
            c
        })
        .collect();
    deliver(&server, "push", &truncated).await;

    // The gated branch `release` deleted.
    let release_head = fake.branch_head(REPO, "release").expect("release");
    let mut deletion = webhooks::push_event(
        &fake,
        REPO,
        "refs/heads/release",
        &"0".repeat(40),
        &[],
        INSTALLATION,
    );
    deletion["before"] = release_head.as_str().into();
    deletion["deleted"] = true.into();
    deletion["commits"] = serde_json::json!([]);
    deletion["head_commit"] = Value::Null;
    deliver(&server, "push", &deletion).await;

    // Events are recorded in arrival order: once the deletion is there, the rest was decided.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows = export(&url, &[]);
        if rows.iter().any(|r| r["base"] == "release") {
            break rows;
        }
        assert!(Instant::now() < deadline, "no deletion recorded: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.stop();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r["kind"] == "push"), "{rows:#?}");
    let on_main = rows.iter().find(|r| r["base"] == "main").expect("main");
    assert_eq!(on_main["commits"], serde_json::json!(listed));
    let deleted = rows
        .iter()
        .find(|r| r["base"] == "release")
        .expect("release");
    assert_eq!(deleted["commits"], serde_json::json!([]));

    let decisions = cli(&["audit", "export", "--decisions"], &url);
    let decisions: Vec<Value> = text(&decisions.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("decision"))
        .collect();
    let group_decision = decisions
        .iter()
        .find(|d| d["head_sha"] == group_sha.as_str())
        .expect("the merge group's decision");
    assert_eq!(group_decision["pr"], Value::Null);
    assert_eq!(
        run.external_id.as_deref(),
        group_decision["id"].as_str(),
        "the group's run names its record"
    );
    let verify = cli(&["audit", "verify"], &url);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
}

/// Records past `REVIEWGATE_AUDIT_RETENTION_DAYS` are pruned when the server starts; the
/// chain keeps a checkpoint and still verifies; newer records stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_records_are_pruned_at_start_up_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    let day = audit_support::DAY;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    {
        let store = reviewgate::store::Store::connect(&url).await.expect("open");
        store.migrate().await.expect("migrate");
        let old = audit_support::decision(REPO, 1, "old", &["carol", "dave"], now - 30 * day);
        let mut records = vec![
            reviewgate::audit::Record::Merge(audit_support::merge(
                REPO,
                1,
                "old",
                &reviewgate::audit::time::format_ms(now - 30 * day),
                Some(&old),
            )),
            reviewgate::audit::Record::Decision(Box::new(old)),
        ];
        store
            .append_records_at(&mut records, now - 30 * day)
            .await
            .expect("append old");
        let mut recent = vec![reviewgate::audit::Record::Push(audit_support::push(
            REPO,
            "recent",
            now - day,
        ))];
        store
            .append_records_at(&mut recent, now - day)
            .await
            .expect("append recent");
    }
    let fake = fake_world().await;
    let server = serve(&fake, &url, &[("REVIEWGATE_AUDIT_RETENTION_DAYS", "7")]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = export(&url, &[]);
        if rows.len() == 1 {
            assert_eq!(rows[0]["kind"], "push", "{rows:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "not pruned: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop();
    let verify = cli(&["audit", "verify"], &url);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    let checkpoints = {
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_records WHERE kind = 'checkpoint'")
                .fetch_one(&mut conn)
                .await
                .expect("count");
        n
    };
    assert_eq!(checkpoints, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_pushes_export_verify_and_replay_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("reviewgate.db").display());
    story(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_pushes_export_verify_and_replay_on_postgres() {
    let Some(db) = store_support::postgres_unmigrated().await else {
        return;
    };
    story(&db.url).await;
    db.cleanup().await;
}
