//! `reviewgate audit export` and `reviewgate audit verify`: the evidence, read from the store.
//!
//! They need no GitHub settings, only the store (`--database`, else
//! `REVIEWGATE_DATABASE_URL`, else the default SQLite file), and they go through the same
//! store interface as the server. Exit codes: 0 done (verify: every chain intact), 1 verify
//! found a broken chain, 2 bad input or a store that cannot be read. Output is streamed a page
//! at a time, so an export of years of merges needs no more memory than one page.

use std::io::{BufWriter, Write};

use crate::audit::time::parse_date_arg;
use crate::audit::{CsvWriter, write_json_line};
use crate::store::{DEFAULT_URL, ExportFilter, Store, StoreError, redact};

use super::{EXIT_INVALID, EXIT_NOT_APPROVED, EXIT_OK};

/// The setting naming the store when `--database` is not given.
const DATABASE_URL: &str = "REVIEWGATE_DATABASE_URL";

/// What `audit export` was asked for, as typed.
#[derive(Debug, Clone, Default)]
pub(super) struct ExportArgs {
    pub repo: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub format: Option<String>,
    pub unapproved_only: bool,
    pub decisions: bool,
    pub database: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// The store URL: the flag, else the environment, else the default file.
pub(super) fn database_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var(DATABASE_URL).ok())
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// Runs `work` on a runtime of its own; the commands are short-lived and single-threaded.
pub(super) fn block_on<T>(work: impl Future<Output = T>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(work))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// A store error as one line naming the store (password redacted), with a hint when the store
/// predates the audit tables.
pub(super) fn store_problem(url: &str, e: &StoreError) -> String {
    let message = e.to_string().replace(['\n', '\r'], " ");
    let hint = if e.is_missing_table() {
        "; the store has no audit records yet (run `reviewgate migrate` to add the tables)"
    } else {
        ""
    };
    format!("store {}: {message}{hint}", redact(url))
}

fn check_repo(repo: &Option<String>) -> Result<(), String> {
    match repo {
        Some(r)
            if r.split_once('/')
                .is_none_or(|(o, n)| o.is_empty() || n.is_empty() || n.contains('/')) =>
        {
            Err(format!("--repo: {r:?} is not OWNER/REPO"))
        }
        _ => Ok(()),
    }
}

fn date(flag: &str, value: &Option<String>) -> Result<Option<i64>, String> {
    value
        .as_deref()
        .map(|v| {
            parse_date_arg(v).ok_or_else(|| {
                format!("{flag}: {v:?} is not a date; give YYYY-MM-DD (midnight UTC) or RFC 3339 (2026-07-01T00:00:00Z)")
            })
        })
        .transpose()
}

/// Checks the flags and turns them into a filter and a format, or one line naming the flag.
fn parse_export(args: &ExportArgs) -> Result<(ExportFilter, Format), String> {
    let format = match args.format.as_deref() {
        None | Some("csv") if !args.decisions => Format::Csv,
        None | Some("json") => Format::Json,
        Some("csv") => {
            return Err(
                "--format: --decisions writes JSON lines (one record per line); csv does not apply"
                    .into(),
            );
        }
        Some(other) => return Err(format!("--format: must be csv or json, not {other:?}")),
    };
    if args.decisions && args.unapproved_only {
        return Err("--unapproved-only: applies to merges and pushes, not to --decisions".into());
    }
    check_repo(&args.repo)?;
    let filter = ExportFilter {
        repository: args.repo.clone(),
        since_ms: date("--since", &args.since)?,
        until_ms: date("--until", &args.until)?,
        unapproved_only: args.unapproved_only,
    };
    Ok((filter, format))
}

pub(super) fn export(args: ExportArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (filter, format) = match parse_export(&args) {
        Ok(parsed) => parsed,
        Err(line) => {
            let _ = writeln!(err, "reviewgate: {line}");
            return EXIT_INVALID;
        }
    };
    let url = database_url(args.database);
    let result = block_on(async {
        let store = Store::open_existing(&url)
            .await
            .map_err(|e| store_problem(&url, &e))?;
        let mut out = BufWriter::new(out);
        if args.decisions {
            write_decisions(&store, filter, &mut out, &url).await?;
        } else {
            write_rows(&store, filter, format, &mut out, &url).await?;
        }
        out.flush()
            .map_err(|e| format!("cannot write the export: {e}"))
    });
    match result.and_then(|r| r) {
        Ok(()) => EXIT_OK,
        Err(line) => {
            let _ = writeln!(err, "reviewgate: {line}");
            EXIT_INVALID
        }
    }
}

/// Where export rows go: a CSV writer (which wrote the header) or JSON lines.
enum Sink<'w, W: Write> {
    Csv(Box<CsvWriter<&'w mut W>>),
    Json(&'w mut W),
}

async fn write_rows<W: Write>(
    store: &Store,
    filter: ExportFilter,
    format: Format,
    out: &mut W,
    url: &str,
) -> Result<(), String> {
    let write_failed = |e: &dyn std::fmt::Display| format!("cannot write the export: {e}");
    let mut pages = store.export_rows(filter);
    let mut sink = match format {
        Format::Csv => Sink::Csv(Box::new(CsvWriter::new(out).map_err(|e| write_failed(&e))?)),
        Format::Json => Sink::Json(out),
    };
    while let Some(page) = pages
        .next_page()
        .await
        .map_err(|e| store_problem(url, &e))?
    {
        for row in &page {
            match &mut sink {
                Sink::Csv(w) => w.write(row).map_err(|e| write_failed(&e))?,
                Sink::Json(w) => write_json_line(w, row).map_err(|e| write_failed(&e))?,
            }
        }
    }
    if let Sink::Csv(w) = sink {
        w.finish().map_err(|e| write_failed(&e))?;
    }
    Ok(())
}

async fn write_decisions(
    store: &Store,
    filter: ExportFilter,
    out: &mut impl Write,
    url: &str,
) -> Result<(), String> {
    let mut pages = store.decisions(filter);
    while let Some(page) = pages
        .next_page()
        .await
        .map_err(|e| store_problem(url, &e))?
    {
        for decision in &page {
            serde_json::to_writer(&mut *out, decision)
                .map_err(|e| format!("cannot write the export: {e}"))?;
            out.write_all(b"\n")
                .map_err(|e| format!("cannot write the export: {e}"))?;
        }
    }
    Ok(())
}

pub(super) fn verify(
    repo: Option<String>,
    database: Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    if let Err(line) = check_repo(&repo) {
        let _ = writeln!(err, "reviewgate: {line}");
        return EXIT_INVALID;
    }
    let url = database_url(database);
    let result = block_on(async {
        let store = Store::open_existing(&url).await?;
        let repositories = match &repo {
            Some(r) => vec![r.clone()],
            None => store.repositories().await?,
        };
        let mut reports = Vec::new();
        for repository in repositories {
            reports.push(store.verify_chain(&repository).await?);
        }
        Ok::<_, StoreError>(reports)
    });
    let reports = match result {
        Ok(Ok(reports)) => reports,
        Ok(Err(e)) => {
            let _ = writeln!(err, "reviewgate: {}", store_problem(&url, &e));
            return EXIT_INVALID;
        }
        Err(line) => {
            let _ = writeln!(err, "reviewgate: {line}");
            return EXIT_INVALID;
        }
    };
    if let (Some(r), [only]) = (&repo, reports.as_slice()) {
        if only.records == 0 && only.broken.is_none() {
            let _ = writeln!(
                err,
                "reviewgate: --repo: no audit records for {r} in store {}",
                redact(&url)
            );
            return EXIT_INVALID;
        }
    }
    let records: u64 = reports.iter().map(|r| r.records).sum();
    let mut broken = 0;
    for report in &reports {
        if let Some(b) = &report.broken {
            broken += 1;
            let _ = writeln!(
                err,
                "{}: record {}: {} check failed: {}",
                report.repository,
                b.id,
                b.what.as_str(),
                b.detail
            );
        }
    }
    let chains = reports.len();
    let state = if broken == 0 {
        "intact".to_string()
    } else {
        format!("{broken} broken")
    };
    let _ = writeln!(
        out,
        "{} {}, {} {}: {state}",
        thousands(chains as u64),
        if chains == 1 { "chain" } else { "chains" },
        thousands(records),
        if records == 1 { "record" } else { "records" },
    );
    if broken == 0 {
        EXIT_OK
    } else {
        EXIT_NOT_APPROVED
    }
}

/// `1204` as `1,204`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn bad_flags_are_one_line_naming_the_flag() {
        let bad = |args: ExportArgs, flag: &str| {
            let e = parse_export(&args).expect_err("refused");
            assert!(e.starts_with(flag) && !e.contains('\n'), "{e}");
        };
        let since = ExportArgs {
            since: Some("2026-13-01".into()),
            ..Default::default()
        };
        bad(since, "--since");
        let format = ExportArgs {
            format: Some("xml".into()),
            ..Default::default()
        };
        bad(format, "--format");
        let repo = ExportArgs {
            repo: Some("acme".into()),
            ..Default::default()
        };
        bad(repo, "--repo");
        let (filter, format) = parse_export(&ExportArgs {
            since: Some("2026-07-01".into()),
            until: Some("2026-10-01".into()),
            ..Default::default()
        })
        .expect("Q3");
        assert_eq!(format, Format::Csv);
        assert!(filter.since_ms < filter.until_ms);
    }
}
