//! How long an auditor waits for a year of merges: 100,000 merge records, each with its
//! decision, exported as CSV from SQLite by the real binary (target: under 5 s on 2 cores).
//! Ignored by default; run with
//! `cargo test --release --test audit_bench -- --ignored --nocapture`.

mod audit_support;

use std::process::Command;
use std::time::Instant;

use audit_support::{JULY_1, decision};
use reviewgate::audit::{MergeFacts, MergeRecord, Record};
use reviewgate::store::Store;

const MERGES: usize = 100_000;
/// Records per append transaction while filling.
const BATCH: usize = 1_000;

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn exporting_100k_merges_as_csv_from_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    // AUDIT_BENCH_DB=PATH keeps the filled store there, to time other commands on it.
    let file = std::env::var("AUDIT_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("bench.db"));
    let url = format!("sqlite:{}", file.display());
    let filled = Instant::now();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store = Store::connect(&url).await.expect("open");
            store.migrate().await.expect("migrate");
            let template = decision("acme/ledger", 1, "h", &["carol", "dave"], JULY_1);
            let mut batch = Vec::with_capacity(BATCH);
            for i in 0..MERGES {
                let at = JULY_1 + (i as i64) * 60_000;
                let head = format!("{i:040x}");
                let mut d = template.clone();
                d.id = reviewgate::audit::new_id(reviewgate::audit::Kind::Decision);
                d.pr = Some(i as u64 + 1);
                d.head_sha = head.clone();
                d.evaluated_at = reviewgate::audit::time::format_ms(at);
                let m = MergeRecord::new(
                    MergeFacts {
                        repository: "acme/ledger".into(),
                        pr: i as u64 + 1,
                        base: "main".into(),
                        head_sha: head.clone(),
                        merge_sha: format!("{:040x}", i + MERGES),
                        merged_by: Some("lena".into()),
                        merged_at: reviewgate::audit::time::format_ms(at + 60_000),
                        author: "zed".into(),
                        commits: vec![head],
                    },
                    Some(&d),
                )
                .expect("merge");
                batch.push(Record::Decision(Box::new(d)));
                batch.push(Record::Merge(m));
                if batch.len() >= BATCH {
                    store.append_records(&mut batch).await.expect("append");
                    batch.clear();
                }
            }
            store.append_records(&mut batch).await.expect("append");
        });
    println!(
        "filled {MERGES} merges and {MERGES} decisions in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["audit", "export", "--database", &url])
        .env_remove("REVIEWGATE_DATABASE_URL")
        .output()
        .expect("export");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - 1;
    assert_eq!(rows, MERGES);
    println!(
        "exported {rows} merge rows as CSV ({} bytes) in {:.2} s (target < 5 s)",
        out.stdout.len(),
        took.as_secs_f64()
    );
    // Peak memory of a second export, where GNU time is installed.
    if std::path::Path::new("/usr/bin/time").exists() {
        let rss = dir.path().join("rss.txt");
        let started = Instant::now();
        let status = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss)
            .arg(env!("CARGO_BIN_EXE_reviewgate"))
            .args(["audit", "export", "--database", &url])
            .env_remove("REVIEWGATE_DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("export under time");
        assert!(status.success());
        println!(
            "again: {:.2} s, peak RSS {} KiB",
            started.elapsed().as_secs_f64(),
            std::fs::read_to_string(&rss).unwrap_or_default().trim()
        );
    }
}
