//! The export an auditor opens: one row per merge and per unreviewed push, as CSV for a
//! spreadsheet or as JSON lines for a script. Both have the same keys in the same order.

use std::io::Write;

use serde::Serialize;

use super::record::{Approver, MergeRecord, PushRecord};

/// The keys of a row, in order: the CSV header and the JSON object's keys.
pub const COLUMNS: [&str; 13] = [
    "kind",
    "repository",
    "pr",
    "merge_sha",
    "merged_at",
    "merged_by",
    "author",
    "base",
    "policy_blob_sha",
    "gate_passed",
    "approvers",
    "decision_id",
    "commits",
];

/// One change that reached a branch: a merge, or a push that bypassed pull requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    /// `merge` or `push`.
    pub kind: &'static str,
    pub repository: String,
    /// Null for a push.
    pub pr: Option<u64>,
    /// A push's `after`.
    pub merge_sha: String,
    /// A push's `pushed_at`.
    pub merged_at: String,
    /// The pusher, for a push.
    pub merged_by: Option<String>,
    /// Null for a push.
    pub author: Option<String>,
    pub base: String,
    pub policy_blob_sha: Option<String>,
    /// False for every push.
    pub gate_passed: bool,
    pub approvers: Vec<Approver>,
    pub decision_id: Option<String>,
    pub commits: Vec<String>,
}

impl From<&MergeRecord> for ExportRow {
    fn from(m: &MergeRecord) -> ExportRow {
        ExportRow {
            kind: "merge",
            repository: m.repository.clone(),
            pr: Some(m.pr),
            merge_sha: m.merge_sha.clone(),
            merged_at: m.merged_at.clone(),
            merged_by: m.merged_by.clone(),
            author: Some(m.author.clone()),
            base: m.base.clone(),
            policy_blob_sha: m.policy_blob_sha.clone(),
            gate_passed: m.gate_passed,
            approvers: m.approvers.clone(),
            decision_id: m.decision_id.clone(),
            commits: m.commits.clone(),
        }
    }
}

impl From<&PushRecord> for ExportRow {
    fn from(p: &PushRecord) -> ExportRow {
        ExportRow {
            kind: "push",
            repository: p.repository.clone(),
            pr: None,
            merge_sha: p.after.clone(),
            merged_at: p.pushed_at.clone(),
            merged_by: Some(p.pusher.clone()),
            author: None,
            base: p.branch.clone(),
            policy_blob_sha: None,
            gate_passed: false,
            approvers: Vec::new(),
            decision_id: None,
            commits: p.commits.clone(),
        }
    }
}

/// Approvers in one cell: `carol (leads: @acme/leads, seniors: @acme/seniors); dave` —
/// groups in name order; a login alone when they counted toward no group.
pub fn approvers_cell(approvers: &[Approver]) -> String {
    approvers
        .iter()
        .map(|a| {
            if a.groups.is_empty() {
                a.login.clone()
            } else {
                let groups: Vec<String> =
                    a.groups.iter().map(|(g, e)| format!("{g}: {e}")).collect();
                format!("{} ({})", a.login, groups.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl ExportRow {
    /// The row's CSV cells, in [`COLUMNS`] order: `true`/`false`, empty for null.
    pub fn cells(&self) -> [String; 13] {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.kind.to_string(),
            self.repository.clone(),
            self.pr.map(|n| n.to_string()).unwrap_or_default(),
            self.merge_sha.clone(),
            self.merged_at.clone(),
            opt(&self.merged_by),
            opt(&self.author),
            self.base.clone(),
            opt(&self.policy_blob_sha),
            self.gate_passed.to_string(),
            approvers_cell(&self.approvers),
            opt(&self.decision_id),
            self.commits.join(" "),
        ]
    }
}

/// Writes rows as RFC 4180 CSV: CRLF line ends, a header row, fields quoted only when they
/// hold a comma, a quote or a line break (quotes doubled), UTF-8 without a byte-order mark.
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Starts the output with the header row.
    pub fn new(out: W) -> Result<CsvWriter<W>, csv::Error> {
        let mut inner = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(out);
        inner.write_record(COLUMNS)?;
        Ok(CsvWriter { inner })
    }

    pub fn write(&mut self, row: &ExportRow) -> Result<(), csv::Error> {
        self.inner.write_record(row.cells())
    }

    /// Flushes what is buffered and gives the output back.
    pub fn finish(self) -> Result<W, std::io::Error> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// Writes one row as a JSON object on its own line.
pub fn write_json_line(out: &mut impl Write, row: &ExportRow) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, row)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn row() -> ExportRow {
        ExportRow {
            kind: "merge",
            repository: "acme/ledger".into(),
            pr: Some(7),
            merge_sha: "m1".into(),
            merged_at: "2026-07-01T10:00:00Z".into(),
            merged_by: Some("lena".into()),
            author: Some("zed".into()),
            base: "release, \"q3\"".into(),
            policy_blob_sha: None,
            gate_passed: true,
            approvers: vec![
                Approver {
                    login: "carol".into(),
                    groups: BTreeMap::from([
                        ("seniors".to_string(), "@acme/seniors".to_string()),
                        ("leads".to_string(), "@acme/leads".to_string()),
                    ]),
                },
                Approver {
                    login: "dave".into(),
                    groups: BTreeMap::new(),
                },
            ],
            decision_id: None,
            commits: vec!["c1".into(), "c2".into()],
        }
    }

    #[test]
    fn csv_is_rfc4180_with_crlf_and_empty_cells_for_null() {
        let mut w = CsvWriter::new(Vec::new()).expect("header");
        w.write(&row()).expect("row");
        let out = String::from_utf8(w.finish().expect("finish")).expect("utf-8");
        assert_eq!(
            out,
            "kind,repository,pr,merge_sha,merged_at,merged_by,author,base,policy_blob_sha,gate_passed,approvers,decision_id,commits\r\n\
             merge,acme/ledger,7,m1,2026-07-01T10:00:00Z,lena,zed,\"release, \"\"q3\"\"\",,true,\
             \"carol (leads: @acme/leads, seniors: @acme/seniors); dave\",,c1 c2\r\n"
        );
    }

    #[test]
    fn json_lines_keep_the_column_order() {
        let mut out = Vec::new();
        write_json_line(&mut out, &row()).expect("write");
        let line = String::from_utf8(out).expect("utf-8");
        let positions: Vec<usize> = COLUMNS
            .iter()
            .map(|c| line.find(&format!("\"{c}\":")).expect("key"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert!(line.ends_with("}\n") && line.contains(r#""pr":7"#));
        assert!(line.contains(r#""approvers":[{"login":"carol","groups":{"leads":"@acme/leads","seniors":"@acme/seniors"}},{"login":"dave","groups":{}}]"#), "{line}");
    }
}
