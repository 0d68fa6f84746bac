//! Every `[[paths]]` glob of a policy in one matcher, so a changed file is tested against all
//! entries at once and each match is mapped back to the entries it counts for.
//!
//! Compiling a regular expression costs 6–40 µs per pattern however it is done (one set or
//! many), which made a 500-entry policy cost about 80 ms per CLI call and 15,000 globs close
//! to a second. Real globs, though, are mostly literal text around a few wildcard shapes
//! that repeat from entry to entry: `services/svc12/**`, `**/module7/*.rs`, `**/*.md`. So each
//! glob (see [`Part`](super::glob::Part)) is cut into a literal prefix, a literal suffix of the
//! last component, and a wildcard middle; prefixes and suffixes go into hash maps, and only
//! the *distinct* middles (`.+`, `[^/]*`, `(?:.*/)?[^/]*`, …: usually a handful) are compiled,
//! into one multi-pattern lazy DFA. A path is then looked up by its directories and its last
//! component's suffixes, and the DFA runs only on the few windows those lookups leave.
//!
//! The lazy DFA (`regex-automata`'s `hybrid`) is used directly rather than through its `meta`
//! regex: with thousands of distinct middles the meta regex gives up on the lazy DFA and falls
//! back to a PikeVM whose per-search memory grows with patterns × states (a 4,000-glob policy
//! took 55 s and 18 GB to evaluate). The lazy DFA never gives up and its cache is bounded;
//! matching stays linear in the window's length.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::hybrid::dfa::{Cache, DFA, OverlappingState};
use regex_automata::nfa::thompson;
use regex_automata::{Anchored, Input, MatchKind, PatternID, PatternSet};

use super::glob::{Glob, GlobError};
use super::limits::MAX_WILDCARD_PARTS;

/// Largest compiled form of the distinct wildcard middles, in bytes.
const MIDDLE_NFA_LIMIT: usize = 32 << 20;
/// Most bytes of distinct wildcard middles (as regular expressions) compiled together. Real
/// policies need a few kilobytes; this stops a hostile one before the regex parser spends
/// memory on it (1 MiB of `?` would otherwise take half a gigabyte to reject).
const MIDDLE_TEXT_LIMIT: usize = 512 << 10;
/// The lazy DFA's cache per evaluation (raised automatically if the middles need more).
const DFA_CACHE: usize = 4 << 20;

/// Tells matchers apart, so a [`MatchScratch`] never uses one matcher's DFA cache with
/// another.
static NEXT_MATCHER_ID: AtomicU64 = AtomicU64::new(1);

/// Why the matcher could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MatcherError {
    /// A glob is invalid (the loader reports these one by one, where they stand).
    Glob { pattern: String, error: String },
    /// The distinct wildcard parts together exceed what we are willing to compile.
    TooComplex(String),
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatcherError::Glob { pattern, error } => write!(f, "invalid glob `{pattern}`: {error}"),
            MatcherError::TooComplex(why) => f.write_str(why),
        }
    }
}

/// Matches paths against every `[[paths]]` entry of a policy at once.
#[derive(Debug, Clone)]
pub struct PathMatcher {
    rules: usize,
    /// For each distinct glob, the entries whose `match` lists it.
    includes: Vec<Vec<u32>>,
    /// For each entry, the distinct globs its `except` lists.
    excepts: Vec<Vec<u32>>,
    /// Parts anchored at the path's start, by literal prefix (`""` included).
    start: HashMap<Box<str>, Bucket>,
    /// Parts that follow a leading `**/`, by literal prefix: a directory (`module7/`) or a
    /// whole literal tail (`Makefile`), looked up at every component boundary.
    any_dir: HashMap<Box<str>, Bucket>,
    /// Most `/` in an `any_dir` directory prefix, so lookups stop there.
    any_dir_depth: usize,
    /// Whether some `any_dir` prefix is a whole literal tail.
    any_dir_tails: bool,
    /// The distinct wildcard middles, pattern `i` being middle `i`, anchored at both ends.
    middles: Option<DFA>,
    /// Identifies this matcher's DFA for the caches kept in [`MatchScratch`].
    id: u64,
}

/// Parts sharing a literal prefix, by literal suffix.
#[derive(Debug, Clone, Default)]
struct Bucket {
    /// The distinct suffix lengths in bytes, ascending.
    suffix_lens: Vec<usize>,
    by_suffix: HashMap<Box<str>, Vec<Entry>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The wildcard middle, or `None` when the part is all literal.
    middle: Option<u32>,
    glob: u32,
}

/// Reusable buffers for [`PathMatcher::matching_rules`], so matching thousands of paths does
/// not allocate per path.
#[derive(Debug, Default)]
pub struct MatchScratch {
    /// `glob_stamp[glob] == generation`: the glob matched the current path.
    glob_stamp: Vec<u32>,
    /// `glob_doubt[glob] == generation`: the DFA failed, so whether the glob matched is not
    /// known. It then counts as matching for `match` and as not matching for `except`, so a
    /// failure can only make a PR need more.
    glob_doubt: Vec<u32>,
    /// The globs that matched the current path.
    matched: Vec<u32>,
    /// `rule_stamp[rule] == generation`: the rule was already decided for the current path.
    rule_stamp: Vec<u32>,
    generation: u32,
    /// Byte offsets of the current path's `/`.
    slashes: Vec<usize>,
    /// The middles matching each window (start, end) of the current path searched so far;
    /// the first `windows_used` are current, the rest kept for their allocations. `None`:
    /// the search failed.
    windows: Vec<(usize, usize, Option<PatternSet>)>,
    windows_used: usize,
    /// The lazy DFA's cache, and the id of the matcher it belongs to.
    cache: Option<(u64, Cache)>,
}

/// Whether a middle matched a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Yes,
    No,
    Unknown,
}

impl PathMatcher {
    /// Builds the matcher from each entry's (`match`, `except`) globs. The globs are expected
    /// to have been checked one by one already (the loader does, to report each bad glob where
    /// it stands); an error here for a glob is therefore a bug in the caller.
    pub(crate) fn new(rules: &[(Vec<String>, Vec<String>)]) -> Result<PathMatcher, MatcherError> {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        fn intern<'a>(
            ids: &mut HashMap<&'a str, u32>,
            distinct: &mut Vec<&'a str>,
            p: &'a str,
        ) -> u32 {
            *ids.entry(p).or_insert_with(|| {
                distinct.push(p);
                (distinct.len() - 1) as u32
            })
        }
        let mut includes: Vec<Vec<u32>> = Vec::new();
        let mut excepts: Vec<Vec<u32>> = Vec::with_capacity(rules.len());
        for (rule, (patterns, except)) in rules.iter().enumerate() {
            for p in patterns {
                let id = intern(&mut ids, &mut distinct, p) as usize;
                if includes.len() <= id {
                    includes.resize(id + 1, Vec::new());
                }
                includes[id].push(rule as u32);
            }
            let mut ex: Vec<u32> = except
                .iter()
                .map(|p| intern(&mut ids, &mut distinct, p))
                .collect();
            ex.sort_unstable();
            ex.dedup();
            excepts.push(ex);
        }
        includes.resize(distinct.len(), Vec::new());

        let mut start: HashMap<Box<str>, Bucket> = HashMap::new();
        let mut any_dir: HashMap<Box<str>, Bucket> = HashMap::new();
        let mut any_dir_depth = 0;
        let mut any_dir_tails = false;
        let mut middle_ids: HashMap<String, u32> = HashMap::new();
        let mut middles: Vec<String> = Vec::new();
        for (id, pattern) in distinct.iter().enumerate() {
            let glob = Glob::parse(pattern).map_err(|e: GlobError| MatcherError::Glob {
                pattern: pattern.to_string(),
                error: e.to_string(),
            })?;
            for part in glob.parts {
                let middle = part.middle.map(|m| {
                    let next = middles.len() as u32;
                    *middle_ids.entry(m).or_insert_with_key(|m| {
                        middles.push(m.clone());
                        next
                    })
                });
                let map = if part.any_dir {
                    if part.prefix.ends_with('/') {
                        any_dir_depth = any_dir_depth.max(part.prefix.matches('/').count());
                    } else {
                        any_dir_tails = true;
                    }
                    &mut any_dir
                } else {
                    &mut start
                };
                let bucket = map.entry(part.prefix.into_boxed_str()).or_default();
                let len = part.suffix.len();
                if let Err(at) = bucket.suffix_lens.binary_search(&len) {
                    bucket.suffix_lens.insert(at, len);
                }
                let entries = bucket
                    .by_suffix
                    .entry(part.suffix.into_boxed_str())
                    .or_default();
                let entry = Entry {
                    middle,
                    glob: id as u32,
                };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
        }
        let middles = if middles.is_empty() {
            None
        } else {
            Some(compile_middles(&middles)?)
        };
        Ok(PathMatcher {
            rules: rules.len(),
            includes,
            excepts,
            start,
            any_dir,
            any_dir_depth,
            any_dir_tails,
            middles,
            id: NEXT_MATCHER_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Calls `found` once for every entry that `path` counts for: it matches one of the
    /// entry's `match` globs and none of its `except` globs.
    pub fn matching_rules(
        &self,
        path: &str,
        scratch: &mut MatchScratch,
        mut found: impl FnMut(usize),
    ) {
        if scratch.glob_stamp.len() != self.includes.len()
            || scratch.glob_doubt.len() != self.includes.len()
            || scratch.rule_stamp.len() != self.rules
        {
            scratch.glob_stamp = vec![0; self.includes.len()];
            scratch.glob_doubt = vec![0; self.includes.len()];
            scratch.rule_stamp = vec![0; self.rules];
            scratch.generation = 0;
        }
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            // Wrapped: old stamps could collide with the new generation, so clear them.
            scratch.glob_stamp.iter_mut().for_each(|s| *s = 0);
            scratch.glob_doubt.iter_mut().for_each(|s| *s = 0);
            scratch.rule_stamp.iter_mut().for_each(|s| *s = 0);
            scratch.generation = 1;
        }
        scratch.matched.clear();
        scratch.windows_used = 0;
        scratch.slashes.clear();
        scratch
            .slashes
            .extend(path.match_indices('/').map(|(i, _)| i));
        self.find_globs(path, scratch);

        let generation = scratch.generation;
        // `matched` lists the globs stamped in `glob_stamp` or `glob_doubt`.
        for &glob in &scratch.matched {
            let Some(rules) = self.includes.get(glob as usize) else {
                continue;
            };
            for &rule in rules {
                let rule = rule as usize;
                if scratch.rule_stamp[rule] == generation {
                    continue;
                }
                scratch.rule_stamp[rule] = generation;
                // Only a certain match excludes; a doubtful one counts for `match` above.
                let excluded = self.excepts[rule]
                    .iter()
                    .any(|&g| scratch.glob_stamp[g as usize] == generation);
                if !excluded {
                    found(rule);
                }
            }
        }
    }

    /// Stamps every glob that `path` matches.
    fn find_globs(&self, path: &str, scratch: &mut MatchScratch) {
        if let Some(bucket) = self.start.get("") {
            self.visit(bucket, path, 0, scratch);
        }
        for k in 0..scratch.slashes.len() {
            let slash = scratch.slashes[k];
            if let Some(bucket) = self.start.get(&path[..=slash]) {
                self.visit(bucket, path, slash + 1, scratch);
            }
        }
        if let Some(bucket) = self.start.get(path) {
            self.visit(bucket, path, path.len(), scratch);
        }
        if self.any_dir.is_empty() {
            return;
        }
        // Every component boundary: the start, and just after each `/`.
        for b in 0..=scratch.slashes.len() {
            let at = if b == 0 {
                0
            } else {
                scratch.slashes[b - 1] + 1
            };
            let deepest = (b + self.any_dir_depth).min(scratch.slashes.len());
            for k in b..deepest {
                let slash = scratch.slashes[k];
                if let Some(bucket) = self.any_dir.get(&path[at..=slash]) {
                    self.visit(bucket, path, slash + 1, scratch);
                }
            }
            if self.any_dir_tails {
                if let Some(bucket) = self.any_dir.get(&path[at..]) {
                    self.visit(bucket, path, path.len(), scratch);
                }
            }
        }
    }

    /// Stamps the globs of `bucket` whose suffix ends `path` and whose middle matches what
    /// lies between `from` and that suffix.
    fn visit(&self, bucket: &Bucket, path: &str, from: usize, scratch: &mut MatchScratch) {
        for &len in &bucket.suffix_lens {
            let Some(to) = path.len().checked_sub(len).filter(|to| *to >= from) else {
                break;
            };
            let Some(entries) = path.get(to..).and_then(|s| bucket.by_suffix.get(s)) else {
                continue;
            };
            for entry in entries {
                let found = match entry.middle {
                    None if from == to => Found::Yes,
                    None => Found::No,
                    Some(middle) => self.middle_matches(path, from, to, middle, scratch),
                };
                let glob = entry.glob as usize;
                let generation = scratch.generation;
                let seen = scratch.glob_stamp[glob] == generation
                    || scratch.glob_doubt[glob] == generation;
                match found {
                    Found::No => continue,
                    Found::Yes => scratch.glob_stamp[glob] = generation,
                    Found::Unknown => scratch.glob_doubt[glob] = generation,
                }
                if !seen {
                    scratch.matched.push(entry.glob);
                }
            }
        }
    }

    /// Whether `path[from..to]` matches middle `middle`, searching each window once.
    fn middle_matches(
        &self,
        path: &str,
        from: usize,
        to: usize,
        middle: u32,
        scratch: &mut MatchScratch,
    ) -> Found {
        let Some(dfa) = &self.middles else {
            return Found::No;
        };
        let Ok(pattern) = PatternID::new(middle as usize) else {
            return Found::Unknown;
        };
        let used = scratch.windows_used;
        if let Some((_, _, found)) = scratch.windows[..used]
            .iter()
            .find(|(a, b, _)| *a == from && *b == to)
        {
            return match found {
                Some(set) if set.contains(pattern) => Found::Yes,
                Some(_) => Found::No,
                None => Found::Unknown,
            };
        }
        if used == scratch.windows.len() {
            scratch.windows.push((from, to, None));
        }
        let cache = match &mut scratch.cache {
            Some((owner, cache)) if *owner == self.id => cache,
            slot => &mut slot.insert((self.id, dfa.create_cache())).1,
        };
        let (_, _, found) = &mut scratch.windows[used];
        let mut set = match found.take() {
            Some(mut set) if set.capacity() == dfa.pattern_len() => {
                set.clear();
                set
            }
            _ => PatternSet::new(dfa.pattern_len()),
        };
        let searched = path
            .get(from..to)
            .is_some_and(|window| all_matches(dfa, cache, window, &mut set));
        scratch.windows[used] = (from, to, searched.then_some(set));
        scratch.windows_used += 1;
        match &scratch.windows[used].2 {
            Some(set) if set.contains(pattern) => Found::Yes,
            Some(_) => Found::No,
            None => Found::Unknown,
        }
    }
}

/// Compiles the distinct middles into one lazy DFA, pattern `i` being `middles[i]`.
fn compile_middles(middles: &[String]) -> Result<DFA, MatcherError> {
    if middles.len() > MAX_WILDCARD_PARTS {
        return Err(MatcherError::TooComplex(format!(
            "they have {} distinct wildcard parts (what is left of a glob without its literal \
             leading directories and the literal end of its file name: `**` in `ledger/**`, \
             `*` in `docs/*.md`), and at most {MAX_WILDCARD_PARTS} are allowed",
            middles.len()
        )));
    }
    let text: usize = middles.iter().map(String::len).sum();
    if text > MIDDLE_TEXT_LIMIT {
        return Err(MatcherError::TooComplex(format!(
            "their {} distinct wildcard parts come to {text} bytes as regular expressions, \
             and at most {MIDDLE_TEXT_LIMIT} are compiled together",
            middles.len()
        )));
    }
    let anchored: Vec<String> = middles.iter().map(|m| format!("(?s:{m})$")).collect();
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(MIDDLE_NFA_LIMIT)),
        )
        .build_many(&anchored)
        .map_err(|e| MatcherError::TooComplex(e.to_string()))?;
    DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                .cache_capacity(DFA_CACHE)
                .skip_cache_capacity_check(true),
        )
        .build_from_nfa(nfa)
        .map_err(|e| MatcherError::TooComplex(e.to_string()))
}

/// Adds to `set` every middle that matches the whole of `window`; false if the search failed
/// (it cannot with this configuration: the lazy DFA never gives up and has no quit bytes).
fn all_matches(dfa: &DFA, cache: &mut Cache, window: &str, set: &mut PatternSet) -> bool {
    let input = Input::new(window).anchored(Anchored::Yes);
    let mut state = OverlappingState::start();
    loop {
        if dfa
            .try_search_overlapping_fwd(cache, &input, &mut state)
            .is_err()
        {
            return false;
        }
        match state.get_match() {
            Some(found) => {
                // The set has room for every pattern of the DFA.
                let _ = set.try_insert(found.pattern());
            }
            None => return true,
        }
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
