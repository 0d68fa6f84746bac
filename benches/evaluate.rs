//! Evaluation cost on the largest PR GitHub will list (3000 files) against a large policy
//! (500 `[[paths]]` entries). Target: under 5 ms on one core.
//!
//! Run: `cargo bench --bench evaluate`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use reviewgate::evaluate::evaluate;
use reviewgate::policy::Policy;
use reviewgate::snapshot::{
    ChangedFile, Commit, FileStatus, Permission, Review, ReviewState, Snapshot,
};

/// A policy with `entries` path entries in the shapes real policies use: directory trees,
/// extensions under a tree, single files, alternations, and an `except` on most.
fn large_policy(entries: usize) -> String {
    let mut t = String::from(
        "version = 1\ndefault_level = \"standard\"\npolicy_owners = \"leads\"\n\
         [groups]\nseniors = [\"alice\", \"@acme/seniors\"]\nleads = [\"@acme/leads\"]\nowners = [\"@acme/owners\"]\n\
         [levels.standard]\napprovals = 1\n[levels.critical]\napprovals = 2\nrequire = { seniors = 1 }\n",
    );
    for i in 0..entries {
        let (m, e) = match i % 5 {
            0 => (
                format!("\"services/svc{i}/**\", \"libs/lib{i}/**\""),
                "\"**/*.md\"",
            ),
            1 => (
                format!("\"services/svc{i}/**/*.rs\", \"services/svc{i}/Cargo.toml\""),
                "\"**/testdata/**\"",
            ),
            2 => (format!("\"config/env{i}.yaml\", \"deploy/app{i}/*\""), ""),
            3 => (format!("\"**/module{i}/*.{{rs,go}}\""), "\"**/*_test.go\""),
            _ => (
                format!("\"pkg/p{i}/[a-m]*/**\", \"pkg/p{i}/src/**\""),
                "\"**/*.md\"",
            ),
        };
        t += &format!("[[paths]]\nname = \"entry{i}\"\nmatch = [{m}]\nexcept = [{e}]\n");
        t += if i % 3 == 0 {
            "level = \"critical\"\n"
        } else {
            "require = { owners = 1 }\n"
        };
    }
    t
}

fn large_snapshot(files: usize) -> Snapshot {
    let dirs = [
        "services",
        "libs",
        "pkg",
        "config",
        "deploy",
        "docs",
        "src/core",
        "tools/gen",
    ];
    let files = (0..files)
        .map(|i| {
            let dir = dirs[i % dirs.len()];
            let path = match i % 4 {
                0 => format!("{dir}/svc{}/src/handler{i}.rs", i % 700),
                1 => format!("{dir}/p{}/src/module{}/file{i}.go", i % 600, i % 550),
                2 => format!("{dir}/lib{}/README{i}.md", i % 500),
                _ => format!("{dir}/env{}.yaml", i % 800),
            };
            let renamed = i % 50 == 0;
            ChangedFile {
                previous_path: renamed.then(|| format!("old/{path}")),
                path,
                status: Some(if renamed {
                    FileStatus::Renamed
                } else {
                    FileStatus::Modified
                }),
            }
        })
        .collect::<Vec<_>>();
    Snapshot {
        author: "zed".into(),
        base: Some("main".into()),
        head_sha: "head".into(),
        changed_files: Some(files.len() as u64),
        files,
        commits: (0..250)
            .map(|i| Commit {
                sha: Some(format!("c{i}")),
                author: Some(format!("dev{}", i % 7)),
                committer: Some("web-flow".into()),
                parents: Vec::new(),
            })
            .collect(),
        reviews: (0..40)
            .map(|i| Review {
                user: format!("reviewer{}", i % 12),
                state: if i % 9 == 0 {
                    ReviewState::Commented
                } else {
                    ReviewState::Approved
                },
                commit: if i % 4 == 0 {
                    "old".into()
                } else {
                    "head".into()
                },
                submitted_at: None,
            })
            .collect(),
        teams: BTreeMap::from([
            (
                "acme/seniors".to_string(),
                (0..60).map(|i| format!("reviewer{i}")).collect(),
            ),
            ("acme/leads".to_string(), vec!["lena".to_string()]),
            (
                "acme/owners".to_string(),
                (0..200).map(|i| format!("owner{i}")).collect(),
            ),
        ]),
        // Every reviewer has write access but one; two people pushed.
        permissions: Some(
            (0..12)
                .map(|i| {
                    let p = if i == 11 {
                        Permission::Read
                    } else {
                        Permission::Write
                    };
                    (format!("reviewer{i}"), p)
                })
                .collect(),
        ),
        pushers: vec!["dev1".into(), "reviewer3".into()],
        fingerprints: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let text = large_policy(500);
    let policy = Policy::parse(&text, "bench.toml").expect("bench policy is valid");
    let snapshot = large_snapshot(3000);
    let verdict = evaluate(&policy, &snapshot, ".github/review-policy.toml");
    assert!(
        verdict.requirements.len() > 100,
        "the bench must exercise many entries: {}",
        verdict.requirements.len()
    );

    c.bench_function("evaluate 3000 files x 500 entries", |b| {
        b.iter(|| {
            evaluate(
                black_box(&policy),
                black_box(&snapshot),
                ".github/review-policy.toml",
            )
        })
    });
    c.bench_function("match only", |b| {
        b.iter(|| {
            let mut scratch = reviewgate::policy::MatchScratch::default();
            let mut n = 0usize;
            for f in &snapshot.files {
                policy
                    .matcher()
                    .matching_rules(&f.path, &mut scratch, |_| n += 1);
            }
            n
        })
    });
    c.bench_function("parse+compile 500-entry policy", |b| {
        b.iter(|| Policy::parse(black_box(&text), "bench.toml"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
