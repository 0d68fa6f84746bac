//! Hash chains: each record's `hash` covers everything in it, `prev_hash` included, so
//! changing, removing or reordering any record breaks the chain at that point.
//!
//! `hash` is the SHA-256 (lower-case hex) of the record's RFC 8785 canonical JSON without its
//! `hash` field. RFC 8785 (JSON Canonicalization Scheme) fixes key order, whitespace, string
//! escapes and number formatting, so anyone can recompute a hash from an exported record with
//! any conforming implementation, in any language, without reviewgate. One caveat it brings:
//! numbers are hashed as IEEE doubles, so integers above 2^53 would hash as their nearest
//! double; records hold no such numbers (PR numbers, counts).

use std::borrow::Borrow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AuditError;
use super::record::Record;
use super::time::format_ms;

/// The `prev_hash` of a chain's first record.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of a record given as JSON: SHA-256 of its canonical form without `hash`.
pub fn record_hash(record: &Value) -> Result<String, serde_json::Error> {
    let digest = match record {
        Value::Object(fields) if fields.contains_key("hash") => {
            let mut without = fields.clone();
            without.remove("hash");
            canonical_digest(&Value::Object(without))?
        }
        other => canonical_digest(other)?,
    };
    Ok(hex::encode(digest))
}

fn canonical_digest(value: &Value) -> Result<[u8; 32], serde_json::Error> {
    let bytes = serde_json_canonicalizer::to_vec(value)?;
    Ok(Sha256::digest(&bytes).into())
}

/// Links `record` to its chain: sets `recorded_at`, `prev_hash` and then `hash` over both.
/// Returns the record as JSON, exactly as hashed (with its `hash`).
pub fn seal(
    record: &mut Record,
    recorded_at_ms: i64,
    prev_hash: &str,
) -> Result<Value, AuditError> {
    record.set_chain(
        format_ms(recorded_at_ms),
        prev_hash.to_string(),
        String::new(),
    );
    let encode = |source| AuditError::Encode {
        id: record.id().to_string(),
        source,
    };
    let mut value = record.to_value().map_err(encode)?;
    let hash = record_hash(&value).map_err(encode)?;
    if let Value::Object(fields) = &mut value {
        fields.insert("hash".into(), Value::String(hash.clone()));
    }
    let (recorded_at, prev) = (record.recorded_at().to_string(), prev_hash.to_string());
    record.set_chain(recorded_at, prev, hash);
    Ok(value)
}

/// Which check a record failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The record is not what was hashed: it, or its stored `hash`, was changed.
    Hash,
    /// Its `prev_hash` is not the previous record's `hash`: a record before it was removed,
    /// inserted or changed along with its own hash.
    Link,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Hash => "hash",
            Fault::Link => "link",
        }
    }
}

/// The first record at which a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {id}: {} check failed: {detail}", what.as_str())]
pub struct ChainBreak {
    pub id: String,
    pub what: Fault,
    pub detail: String,
}

/// Checks a chain one record at a time, so a chain of any length verifies in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_prev: String,
    checked: u64,
}

impl ChainVerifier {
    /// `anchor` is what the first record's `prev_hash` must be: [`ZERO_HASH`], or after a
    /// pruning the newest checkpoint's `pruned_through`.
    pub fn new(anchor: &str) -> ChainVerifier {
        ChainVerifier {
            expected_prev: anchor.to_string(),
            checked: 0,
        }
    }

    /// Checks the next record (as JSON, with its `hash`, `prev_hash` and any policy text):
    /// first that it hashes to its `hash`, then that it links to the record before.
    pub fn check(&mut self, record: &Value) -> Result<(), ChainBreak> {
        let text = |field: &str| record.get(field).and_then(Value::as_str);
        let id = text("id").unwrap_or("(no id)").to_string();
        let fail = |what, detail: String| ChainBreak {
            id: id.clone(),
            what,
            detail,
        };
        let stored = text("hash").ok_or_else(|| fail(Fault::Hash, "it has no `hash`".into()))?;
        let computed = record_hash(record)
            .map_err(|e| fail(Fault::Hash, format!("it cannot be canonicalised: {e}")))?;
        if computed != stored {
            return Err(fail(
                Fault::Hash,
                format!("its content hashes to {computed}, not to its recorded hash {stored}"),
            ));
        }
        let prev = text("prev_hash").unwrap_or_default();
        if prev != self.expected_prev {
            return Err(fail(
                Fault::Link,
                format!(
                    "its prev_hash is {prev}, but the record before it hashes to {}",
                    self.expected_prev
                ),
            ));
        }
        self.expected_prev = computed;
        self.checked += 1;
        Ok(())
    }

    /// Records checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last record checked (the anchor before any).
    pub fn last_hash(&self) -> &str {
        &self.expected_prev
    }
}

/// Verifies records given in chain order from `anchor`; returns how many were checked.
pub fn verify_chain<I>(records: I, anchor: &str) -> Result<u64, ChainBreak>
where
    I: IntoIterator,
    I::Item: Borrow<Value>,
{
    let mut verifier = ChainVerifier::new(anchor);
    for record in records {
        verifier.check(record.borrow())?;
    }
    Ok(verifier.checked())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: usize) -> Vec<Value> {
        let mut prev = ZERO_HASH.to_string();
        (0..n)
            .map(|i| {
                let mut v =
                    json!({"kind": "push", "id": format!("p-{i}"), "prev_hash": prev, "n": i});
                let h = record_hash(&v).expect("hash");
                v["hash"] = Value::String(h.clone());
                prev = h;
                v
            })
            .collect()
    }

    #[test]
    fn the_hash_is_sha256_of_rfc8785_without_the_hash_field() {
        // Key order and whitespace do not matter; the `hash` field is left out.
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": "é", "hash": "x"}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":"é","b":1.0}"#).expect("json");
        assert_eq!(record_hash(&a).expect("a"), record_hash(&b).expect("b"));
        // Canonical form `{"a":"é","b":1}`, hashed by hand.
        let canonical = "{\"a\":\"é\",\"b\":1}";
        assert_eq!(
            record_hash(&a).expect("a"),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let records = chain(5);
        assert_eq!(verify_chain(&records, ZERO_HASH), Ok(5));
        // After pruning the first two, the rest verifies from the last pruned hash.
        let anchor = records[1]["hash"].as_str().expect("hash").to_string();
        assert_eq!(verify_chain(&records[2..], &anchor), Ok(3));
    }

    #[test]
    fn an_edit_breaks_the_hash_and_a_removal_breaks_the_link() {
        let mut records = chain(5);
        records[2]["n"] = json!(99);
        let e = verify_chain(&records, ZERO_HASH).expect_err("edited");
        assert_eq!((e.id.as_str(), e.what), ("p-2", Fault::Hash));

        let mut records = chain(5);
        records.remove(2);
        let e = verify_chain(&records, ZERO_HASH).expect_err("removed");
        assert_eq!((e.id.as_str(), e.what), ("p-3", Fault::Link));

        let records = chain(3);
        let e = verify_chain(&records[1..], ZERO_HASH).expect_err("wrong anchor");
        assert_eq!((e.id.as_str(), e.what), ("p-1", Fault::Link));
    }
}
