//! The content fingerprint of a PR head: a SHA-256 digest of the PR's own changes as GitHub
//! lists them at that head — every changed file's status, previous path, path, head blob SHA
//! and patch text. Two heads with equal fingerprints change the same files in the same way,
//! so an approval given on one may count on the other (`keep_approvals_when_unchanged`): a
//! rebase or an "Update branch" merge that touches none of the PR's files keeps approvals;
//! any change to a changed file's content — the base's edits to it included, since they move
//! its blob and its patch — does not.
//!
//! A fingerprint exists only when it can speak for every change: the file list must be
//! complete and every file must have a patch. GitHub leaves `patch` out for binary files,
//! very large diffs and empty files; those heads have none, and an approval on one never
//! carries over. (A pure rename, `renamed` with no changed lines, has an empty patch.)
//!
//! The serialization is opaque to users: each field is written as its byte length and its
//! bytes, so no file's fields can run into another's.

use sha2::{Digest, Sha256};

/// One changed file as GitHub lists it in a PR's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDiff<'a> {
    pub status: &'a str,
    pub previous_path: Option<&'a str>,
    pub path: &'a str,
    /// The file's blob SHA at the head (GitHub's `sha`).
    pub blob_sha: &'a str,
    pub patch: Option<&'a str>,
    /// Lines added plus removed (GitHub's `changes`).
    pub changes: u64,
}

/// The fingerprint (64 lower-case hex digits) of a head whose changed files are `files`, or
/// `None` when `complete` is false or a file has no patch.
pub fn fingerprint(files: &[FileDiff<'_>], complete: bool) -> Option<String> {
    if !complete {
        return None;
    }
    let mut sorted: Vec<&FileDiff<'_>> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut hash = Sha256::new();
    hash.update(b"reviewgate content fingerprint v1\n");
    for f in sorted {
        let patch = match f.patch {
            Some(p) => p,
            None if f.status == "renamed" && f.changes == 0 => "",
            None => return None,
        };
        for field in [
            f.status,
            f.previous_path.unwrap_or(""),
            f.path,
            &f.blob_sha.to_ascii_lowercase(),
            patch,
        ] {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field.as_bytes());
        }
        hash.update([u8::from(f.previous_path.is_some())]);
    }
    Some(hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(path: &'a str, blob: &'a str, patch: Option<&'a str>) -> FileDiff<'a> {
        FileDiff {
            status: "modified",
            previous_path: None,
            path,
            blob_sha: blob,
            patch,
            changes: 1,
        }
    }

    #[test]
    fn the_same_changes_in_any_order_give_the_same_fingerprint() {
        let a = file("src/a.rs", "aa", Some("@@ -1 +1 @@\n-x\n+y"));
        let b = file("src/b.rs", "bb", Some("@@ -1 +1 @@\n-p\n+q"));
        let one = fingerprint(&[a, b], true).expect("fingerprint");
        assert_eq!(one.len(), 64);
        assert_eq!(fingerprint(&[b, a], true), Some(one.clone()));
        // Blob SHAs compare case-insensitively, as GitHub's hex does.
        let upper = file("src/a.rs", "AA", a.patch);
        assert_eq!(fingerprint(&[b, upper], true), Some(one));
    }

    #[test]
    fn any_difference_in_a_field_changes_it() {
        let base = file("src/a.rs", "aa", Some("+y"));
        let fp = fingerprint(&[base], true);
        let variants = [
            file("src/a.rs", "ab", Some("+y")),
            file("src/a.rs", "aa", Some("+z")),
            file("src/b.rs", "aa", Some("+y")),
            FileDiff {
                status: "added",
                ..base
            },
            FileDiff {
                previous_path: Some("src/old.rs"),
                ..base
            },
            // Fields cannot run into each other: path "src/a.rs" + blob "aa" is not path
            // "src/a.rsa" + blob "a".
            file("src/a.rsa", "a", Some("+y")),
        ];
        for v in variants {
            assert_ne!(fingerprint(&[v], true), fp, "{v:?}");
        }
        // A file more or less changes it too.
        let other = file("src/c.rs", "cc", Some("+c"));
        assert_ne!(fingerprint(&[base, other], true), fp);
    }

    #[test]
    fn no_fingerprint_without_every_patch_or_the_whole_list() {
        let text = file("src/a.rs", "aa", Some("+y"));
        let binary = file("logo.png", "bb", None);
        assert_eq!(fingerprint(&[text, binary], true), None);
        assert_eq!(fingerprint(&[text], false), None);
        // A pure rename has no patch and no changed lines: its patch is empty.
        let rename = FileDiff {
            status: "renamed",
            previous_path: Some("src/old.rs"),
            path: "src/new.rs",
            blob_sha: "cc",
            patch: None,
            changes: 0,
        };
        assert!(fingerprint(&[text, rename], true).is_some());
        // A rename with edits but no patch (too large) has none.
        let edited = FileDiff {
            changes: 3,
            ..rename
        };
        assert_eq!(fingerprint(&[edited], true), None);
    }
}
