//! All of a policy's path globs compiled into two `GlobSet`s, so a changed file is tested
//! against every `[[paths]]` entry in one pass instead of one pattern at a time (about 6x
//! faster than matching `glob::Pattern`s one by one on a 3000-file PR).

use std::collections::HashMap;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// Compiles one pattern with the semantics the policy language promises: `*` and `?` never
/// cross `/`, `**` spans directories, matching is case-sensitive.
pub(crate) fn compile_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .case_insensitive(false)
        .backslash_escape(true)
        .build()
}

/// Matches paths against every `[[paths]]` entry of a policy at once.
#[derive(Debug, Clone)]
pub struct PathMatcher {
    include: ShardedSet,
    exclude: ShardedSet,
    rules: usize,
}

/// Reusable buffers for [`PathMatcher::matching_rules`], so matching thousands of paths does
/// not allocate per path.
#[derive(Debug, Default)]
pub struct MatchScratch {
    hits: Vec<usize>,
    /// Entries whose `match` patterns hit the current path (may repeat).
    candidates: Vec<usize>,
    /// `stamp[rule] == generation` marks a rule reported for the current path.
    stamp: Vec<u32>,
    excluded: Vec<u32>,
    generation: u32,
}

/// One compiled `GlobSet` and, for each of its patterns, the entry it belongs to.
#[derive(Debug, Clone)]
struct Shard {
    set: GlobSet,
    rule: Vec<usize>,
}

/// Globs split by their literal leading directories ("pkg/payments/" for
/// `pkg/payments/**/*.rs`), so a path is only tested against the patterns that could match
/// it: the shards of its own ancestor directories, plus the patterns with no literal
/// directory (`**/*.md`). One big `GlobSet` spent most of its time in a regex set holding
/// every pattern; small shards keep each regex set small.
#[derive(Debug, Clone)]
struct ShardedSet {
    general: Shard,
    by_dir: HashMap<String, Shard>,
    empty: bool,
}

impl ShardedSet {
    fn new(patterns: &[(&str, usize)]) -> Result<ShardedSet, globset::Error> {
        let mut groups: HashMap<String, Vec<(&str, usize)>> = HashMap::new();
        for &(pattern, rule) in patterns {
            groups
                .entry(literal_dir_prefix(pattern).to_string())
                .or_default()
                .push((pattern, rule));
        }
        let build = |members: &[(&str, usize)]| -> Result<Shard, globset::Error> {
            let mut set = GlobSetBuilder::new();
            for (p, _) in members {
                set.add(compile_glob(p)?);
            }
            Ok(Shard {
                set: set.build()?,
                rule: members.iter().map(|(_, r)| *r).collect(),
            })
        };
        let general = build(&groups.remove("").unwrap_or_default())?;
        let mut by_dir = HashMap::with_capacity(groups.len());
        for (dir, members) in groups {
            by_dir.insert(dir, build(&members)?);
        }
        Ok(ShardedSet {
            general,
            by_dir,
            empty: patterns.is_empty(),
        })
    }

    /// Calls `each` with the entry of every pattern that matches.
    fn matches(
        &self,
        path: &str,
        candidate: &Candidate<'_>,
        hits: &mut Vec<usize>,
        mut each: impl FnMut(usize),
    ) {
        if self.empty {
            return;
        }
        let mut shard = |s: &Shard, hits: &mut Vec<usize>| {
            s.set.matches_candidate_into(candidate, hits);
            for &i in hits.iter() {
                each(s.rule[i]);
            }
        };
        if !self.general.set.is_empty() {
            shard(&self.general, hits);
        }
        if !self.by_dir.is_empty() {
            for (i, _) in path.match_indices('/') {
                if let Some(s) = self.by_dir.get(&path[..=i]) {
                    shard(s, hits);
                }
            }
        }
    }
}

/// The leading directories of a glob that contain no glob syntax, with their trailing `/`:
/// `"pkg/p1/"` for `pkg/p1/[a-m]*/**`, `""` for `**/x` or `{a,b}/x`. A path can only match
/// the glob if it starts with this prefix.
fn literal_dir_prefix(pattern: &str) -> &str {
    let literal_end = pattern
        .find(['*', '?', '[', '{', '\\'])
        .unwrap_or(pattern.len());
    match pattern[..literal_end].rfind('/') {
        Some(slash) => &pattern[..=slash],
        None => "",
    }
}

impl PathMatcher {
    /// Builds the matcher from each entry's (`match`, `except`) patterns. The patterns must
    /// already have compiled one by one (the loader checks that, to report each bad glob
    /// with its position); an error here therefore means a globset limit, reported as such.
    pub(crate) fn new(rules: &[(Vec<String>, Vec<String>)]) -> Result<PathMatcher, globset::Error> {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for (rule, (patterns, except)) in rules.iter().enumerate() {
            include.extend(patterns.iter().map(|p| (p.as_str(), rule)));
            exclude.extend(except.iter().map(|p| (p.as_str(), rule)));
        }
        Ok(PathMatcher {
            include: ShardedSet::new(&include)?,
            exclude: ShardedSet::new(&exclude)?,
            rules: rules.len(),
        })
    }

    /// Calls `found` once for every entry that `path` counts for: it matches one of the
    /// entry's `match` patterns and none of its `except` patterns.
    pub fn matching_rules(
        &self,
        path: &str,
        scratch: &mut MatchScratch,
        mut found: impl FnMut(usize),
    ) {
        if scratch.stamp.len() != self.rules {
            scratch.stamp = vec![0; self.rules];
            scratch.excluded = vec![0; self.rules];
            scratch.generation = 0;
        }
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            // Wrapped: old stamps could collide with the new generation, so clear them.
            scratch.stamp.iter_mut().for_each(|s| *s = 0);
            scratch.excluded.iter_mut().for_each(|s| *s = 0);
            scratch.generation = 1;
        }
        let generation = scratch.generation;
        let candidate = Candidate::new(path);
        scratch.candidates.clear();
        let candidates = &mut scratch.candidates;
        self.include
            .matches(path, &candidate, &mut scratch.hits, |rule| {
                candidates.push(rule)
            });
        if scratch.candidates.is_empty() {
            return;
        }
        let excluded = &mut scratch.excluded;
        self.exclude
            .matches(path, &candidate, &mut scratch.hits, |rule| {
                excluded[rule] = generation
            });
        for &rule in &scratch.candidates {
            if scratch.stamp[rule] != generation && scratch.excluded[rule] != generation {
                scratch.stamp[rule] = generation;
                found(rule);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_for(rules: &[(&[&str], &[&str])], path: &str) -> Vec<usize> {
        let owned: Vec<(Vec<String>, Vec<String>)> = rules
            .iter()
            .map(|(m, e)| {
                (
                    m.iter().map(|s| s.to_string()).collect(),
                    e.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        let matcher = PathMatcher::new(&owned).expect("patterns compile");
        let mut scratch = MatchScratch::default();
        let mut out = Vec::new();
        matcher.matching_rules(path, &mut scratch, |r| out.push(r));
        out.sort();
        out
    }

    fn matches(pattern: &str, path: &str) -> bool {
        !rules_for(&[(&[pattern], &[])], path).is_empty()
    }

    #[test]
    fn glob_semantics_table() {
        let table: &[(&str, &str, bool)] = &[
            ("*.rs", "main.rs", true),
            ("*.rs", "src/main.rs", false), // `*` never crosses `/`
            ("src/?.rs", "src/a.rs", true),
            ("src/?.rs", "src/a/b.rs", false),
            ("src/?", "src//", false),
            ("**/x", "x", true), // `**/` matches zero directories
            ("**/x", "a/b/x", true),
            ("dir/**", "dir/a", true),
            ("dir/**", "dir/a/b/c", true),
            ("dir/**", "dirt/a", false),
            ("dir/**", "dir", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("*.{rs,toml}", "Cargo.toml", true),
            ("*.{rs,toml}", "README.md", false),
            ("[ab].txt", "a.txt", true),
            ("[ab].txt", "c.txt", false),
            ("[!ab].txt", "c.txt", true),
            ("Ledger/**", "ledger/x", false), // case-sensitive
            ("ledger/**", "ledger/x", true),
            ("ledger", "ledger/x", false), // whole path, not a prefix
            ("docs/*.md", "docs/a.md", true),
        ];
        for (pattern, path, want) in table {
            assert_eq!(matches(pattern, path), *want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn except_removes_only_its_own_entry() {
        let rules: &[(&[&str], &[&str])] = &[
            (&["ledger/**"], &["**/*.md"]),
            (&["**/*.md"], &[]),
            (&["ledger/**", "payments/**"], &[]),
        ];
        assert_eq!(rules_for(rules, "ledger/README.md"), vec![1, 2]);
        assert_eq!(rules_for(rules, "ledger/post.rs"), vec![0, 2]);
        assert_eq!(rules_for(rules, "payments/x.rs"), vec![2]);
        assert_eq!(rules_for(rules, "other.rs"), Vec::<usize>::new());
    }

    #[test]
    fn each_entry_is_reported_once_per_path() {
        let rules: &[(&[&str], &[&str])] = &[(&["ledger/**", "**/*.rs", "ledger/*.rs"], &[])];
        assert_eq!(rules_for(rules, "ledger/a.rs"), vec![0]);
    }

    #[test]
    fn literal_directory_prefixes() {
        let cases = [
            ("pkg/p1/[a-m]*/**", "pkg/p1/"),
            ("ledger/**", "ledger/"),
            ("**/x", ""),
            ("{a,b}/x", ""),
            ("src/{a,b}/x", "src/"),
            ("config/env.yaml", "config/"),
            ("Dockerfile", ""),
            ("a/b\\*/c", "a/"),
            ("*.rs", ""),
        ];
        for (pattern, want) in cases {
            assert_eq!(literal_dir_prefix(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn sharded_and_general_patterns_combine() {
        let rules: &[(&[&str], &[&str])] = &[
            (&["a/b/**"], &["**/*.md"]),
            (&["a/*/c.rs"], &["a/b/c.rs"]),
            (&["**/c.rs"], &[]),
            (&["a/b/c.rs", "x/**"], &[]),
        ];
        assert_eq!(rules_for(rules, "a/b/c.rs"), vec![0, 2, 3]);
        assert_eq!(rules_for(rules, "a/z/c.rs"), vec![1, 2]);
        assert_eq!(rules_for(rules, "a/b/c.md"), Vec::<usize>::new());
        assert_eq!(rules_for(rules, "c.rs"), vec![2]);
    }

    #[test]
    fn scratch_survives_generation_wraparound() {
        let owned = vec![(vec!["a/**".to_string()], vec!["a/x".to_string()])];
        let matcher = PathMatcher::new(&owned).expect("compiles");
        let mut scratch = MatchScratch {
            generation: u32::MAX - 1,
            ..Default::default()
        };
        scratch.stamp = vec![0];
        scratch.excluded = vec![0];
        for _ in 0..4 {
            let mut hits = 0;
            matcher.matching_rules("a/y", &mut scratch, |_| hits += 1);
            assert_eq!(hits, 1);
            let mut hits = 0;
            matcher.matching_rules("a/x", &mut scratch, |_| hits += 1);
            assert_eq!(hits, 0);
        }
    }

    proptest::proptest! {
        /// The sharded matcher gives exactly what testing each glob on its own gives.
        #[test]
        fn sharding_changes_nothing(
            rules in proptest::collection::vec(
                (proptest::collection::vec("(a|b|src|\\*|\\*\\*|\\?|[ab]|\\{a,src\\}|x\\.rs|\\*\\.md)(/(a|b|src|\\*|\\*\\*|x\\.rs|\\*\\.md)){0,3}", 1..3),
                 proptest::collection::vec("(a|\\*\\*)/(\\*\\.md|b|\\*\\*)", 0..2)),
                1..6),
            paths in proptest::collection::vec("(a|b|src|x\\.rs|y\\.md)(/(a|b|src|x\\.rs|y\\.md)){0,4}", 1..8),
        ) {
            let matcher = PathMatcher::new(&rules).expect("patterns compile");
            let compiled: Vec<(Vec<globset::GlobMatcher>, Vec<globset::GlobMatcher>)> = rules
                .iter()
                .map(|(m, e)| {
                    let c = |v: &Vec<String>| v.iter().map(|p| compile_glob(p).expect("compiles").compile_matcher()).collect();
                    (c(m), c(e))
                })
                .collect();
            let mut scratch = MatchScratch::default();
            for path in &paths {
                let mut got = Vec::new();
                matcher.matching_rules(path, &mut scratch, |r| got.push(r));
                got.sort();
                let want: Vec<usize> = compiled
                    .iter()
                    .enumerate()
                    .filter(|(_, (m, e))| m.iter().any(|g| g.is_match(path)) && !e.iter().any(|g| g.is_match(path)))
                    .map(|(i, _)| i)
                    .collect();
                proptest::prop_assert_eq!(got, want, "path {}", path);
            }
        }
    }
}
