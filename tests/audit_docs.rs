//! docs/audit.md is true: every `console` block's commands are run, in order, by a shell with
//! the real `reviewgate` first on its PATH and `REVIEWGATE_DATABASE_URL` naming a store that
//! holds exactly the page's worked example; each command's output must be what the page shows.

mod audit_support;

use std::process::Command;

use audit_support::{BLOB, HOUR, JULY_1};
use reviewgate::audit::{DecisionRecord, MergeFacts, MergeRecord, PushFacts, PushRecord, Record};
use reviewgate::store::Store;

const PR7_HEAD: &str = "7a1f0c2e9d8b6a5c4e3f2d1c0b9a8f7e6d5c4b3a";
const PR7_MERGE: &str = "9f2c7d54a1e0b3c6d8f4a2e1c0b9d8e7f6a5b4c3";
const PR8_HEAD: &str = "8b2e1d3f0c9a7b6d5e4f3a2b1c0d9e8f7a6b5c4d";
const PR8_MERGE: &str = "5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c";
const HOTFIX: &str = "e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5";

fn decision(pr: u64, head: &str, approvers: &[&str], at: i64) -> DecisionRecord {
    let mut d = audit_support::decision("acme/ledger", pr, head, approvers, at);
    d.id = format!("d-01J1EXAMPLE0000000000PR{pr}");
    d
}

fn merge(pr: u64, head: &str, sha: &str, at: &str, d: &DecisionRecord) -> MergeRecord {
    let mut m = MergeRecord::new(
        MergeFacts {
            repository: "acme/ledger".into(),
            pr,
            base: "main".into(),
            head_sha: head.into(),
            merge_sha: sha.into(),
            merged_by: Some("lena".into()),
            merged_at: at.into(),
            author: "zed".into(),
            commits: vec![head.into(), sha.into()],
        },
        Some(d),
    )
    .expect("merge");
    m.id = format!("m-01J1EXAMPLE0000000000PR{pr}");
    m
}

/// The worked example of docs/audit.md.
fn example() -> Vec<Record> {
    let approved = decision(7, PR7_HEAD, &["carol", "dave"], JULY_1 + 9 * HOUR);
    let blocked = decision(8, PR8_HEAD, &["dave"], JULY_1 + 34 * HOUR + HOUR / 2);
    let mut push = PushRecord::new(PushFacts {
        repository: "acme/ledger".into(),
        branch: "main".into(),
        pusher: "eve".into(),
        after: HOTFIX.into(),
        pushed_at_ms: JULY_1 + 56 * HOUR + HOUR / 2,
        commits: vec![HOTFIX.into()],
        deleted: false,
    });
    push.id = "p-01J1EXAMPLE000000000HOTFIX".into();
    let merged = merge(7, PR7_HEAD, PR7_MERGE, "2026-07-01T10:00:00Z", &approved);
    let bypassed = merge(8, PR8_HEAD, PR8_MERGE, "2026-07-02T11:00:00Z", &blocked);
    // In the order the App would append them.
    vec![
        Record::Decision(Box::new(approved)),
        Record::Merge(merged),
        Record::Decision(Box::new(blocked)),
        Record::Merge(bypassed),
        Record::Push(push),
    ]
}

/// `console` blocks as (line, [(command, shown output)]).
fn console_blocks(markdown: &str) -> Vec<(usize, Vec<(String, String)>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<(String, String)>)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some("console")) => open = Some((n + 1, Vec::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, commands)), None) => match line.strip_prefix("$ ") {
                Some(command) => commands.push((command.to_string(), String::new())),
                None => {
                    let (_, shown) = commands.last_mut().expect("output after a command");
                    shown.push_str(line);
                    shown.push('\n');
                }
            },
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_command_of_the_audit_page_prints_what_the_page_shows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store = Store::connect(&url).await.expect("open");
            store.migrate().await.expect("migrate");
            let mut records = example();
            store.append_records(&mut records).await.expect("append");
        });
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/audit.md"))
        .expect("docs/audit.md");
    // The page's policy and blob are the ones the example was decided under.
    assert!(
        page.contains(audit_support::POLICY),
        "the page shows another policy"
    );
    assert!(page.contains(BLOB));
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_reviewgate"));
    let path = format!(
        "{}:{}",
        binary.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for (line, commands) in console_blocks(&page) {
        for (command, shown) in commands {
            let out = Command::new("sh")
                .arg("-c")
                .arg(&command)
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("REVIEWGATE_DATABASE_URL", &url)
                .output()
                .expect("sh");
            let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
            assert!(
                out.status.success(),
                "docs/audit.md:{line}: `{command}` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(stdout, shown, "docs/audit.md:{line}: `{command}`");
            ran += 1;
        }
    }
    assert!(ran >= 5, "only {ran} commands found");
}
