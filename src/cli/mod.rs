//! The `reviewgate` command line: thin wrappers that read files, call the library and map
//! outcomes to exit codes.

mod audit;
mod check;
mod doctor;
mod evaluate;
mod migrate;
mod replay;
mod snapshot;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::policy::DEFAULT_POLICY_PATH;
use crate::server::config::Settings;

/// Exit code: the policy is valid / the PR may merge.
pub const EXIT_OK: u8 = 0;
/// Exit code: the PR may not merge (yet).
pub const EXIT_NOT_APPROVED: u8 = 1;
/// Exit code: invalid input (policy, snapshot, or command line).
pub const EXIT_INVALID: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "reviewgate",
    version,
    about = "Gate merges on a code-review policy kept in the repository"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a policy file, then run its [[test]] tables; exit 0 when valid and every test
    /// passes (warnings are printed on stderr), 1 when a test fails (one line each on stderr)
    /// or, with --deny-warnings, when there are warnings, 2 with every error on stderr.
    Check {
        /// The policy file.
        #[arg(default_value = "policy.toml")]
        policy: PathBuf,
        /// The policy file's path in the repository: a test's files that include it edit the
        /// policy (and need its owners).
        #[arg(long, default_value = DEFAULT_POLICY_PATH)]
        policy_path: String,
        /// Exit 1 when the policy has warnings (they are printed either way).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Evaluate a PR snapshot against a policy; exit 0 if it may merge, 1 if not, 2 on invalid input.
    Evaluate {
        /// The policy file.
        #[arg(long)]
        policy: PathBuf,
        /// The PR snapshot (JSON); `-` reads it from standard input.
        #[arg(long)]
        pr: PathBuf,
        /// The policy file's path in the repository, to spot PRs that edit it.
        #[arg(long, default_value = DEFAULT_POLICY_PATH)]
        policy_path: String,
        /// An organisation-wide floor: the PR needs the union of this policy's requirements
        /// and --policy's, each judged with its own file's settings and groups.
        #[arg(long, value_name = "FILE")]
        org_policy: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the snapshot the App would evaluate for a pull request, read live from GitHub
    /// with the App's settings (REVIEWGATE_APP_ID, the private key, REVIEWGATE_GITHUB_API_URL,
    /// as variables or flags like `serve`'s; no webhook secret needed). Exit 0; 2 when a
    /// setting is missing or GitHub cannot be read.
    Snapshot {
        /// OWNER/REPO#NUMBER, e.g. acme/ledger#123.
        target: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Run the GitHub App: serve webhooks and keep check runs up to date. Each setting is a
    /// REVIEWGATE_* environment variable or its flag (a flag wins); exits 2 when one is
    /// missing or invalid, with one line naming it.
    Serve(Settings),
    /// Check a deployment before it serves, with the same settings as `serve`: the settings,
    /// the private key, GitHub's answer to the App's JWT, each installation's token, the
    /// policy on each installed repository's default branch (and each organisation's floor),
    /// the webhook secret and GitHub's webhook configuration. One line per check, saying what
    /// to fix; exit 0 when every check passes, 1 when one fails or could not run, 2 when a
    /// setting is missing or invalid.
    Doctor(Settings),
    /// Apply the store's schema migrations and exit 0 (also when none are left to apply).
    /// Reads only REVIEWGATE_DATABASE_URL (default sqlite:reviewgate.db) and the logging
    /// settings; exits 2 when the URL is malformed, 1 when the store cannot be reached.
    Migrate,
    /// Audit evidence from the store: export merges, pushes and decisions; verify the
    /// records' hash chains. Needs no GitHub settings.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Decide a recorded decision again with this binary's evaluator, from the record's own
    /// policy text and PR snapshot. Exit 0: same verdict; 1: different (both shown); 2: the
    /// decision cannot be replayed (unknown id, not a decision record, malformed JSON, no
    /// verdict recorded, store unreadable).
    Replay {
        /// The decision record's id, as in the check run's summary and the export's
        /// `decision_id`.
        #[arg(required_unless_present = "record", conflicts_with = "record")]
        id: Option<String>,
        /// Read the decision record from this JSON file (a line of `audit export
        /// --decisions`) instead of the store.
        #[arg(long, value_name = "FILE.json")]
        record: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
}

/// Where the records are.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArg {
    /// The store: sqlite:PATH or postgres://… (default: REVIEWGATE_DATABASE_URL, else
    /// sqlite:reviewgate.db). A password in it is never printed.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// One row per merge and per unreviewed push (CSV, or JSON lines), in time order; with
    /// --decisions, the decision records themselves as JSON lines, each readable by `replay
    /// --record`. Exit 0 (also with no rows: the CSV header alone); 2 for a bad flag (one
    /// line naming it) or a store that cannot be read.
    Export {
        /// Only this repository.
        #[arg(long, value_name = "OWNER/REPO")]
        repo: Option<String>,
        /// From this time on (inclusive): YYYY-MM-DD (midnight UTC) or RFC 3339. Filters on
        /// merged_at (a push: when it was pushed; a decision: evaluated_at).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Before this time (exclusive): YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// csv (RFC 4180, the default) or json (one object per line).
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Only merges whose gate had not passed, and every push.
        #[arg(long)]
        unapproved_only: bool,
        /// Export decision records instead of merges and pushes.
        #[arg(long)]
        decisions: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Recompute every record's hash and link. Exit 0 when every chain is intact (one summary
    /// line on stdout); 1 with one line on stderr per broken chain, naming the repository,
    /// the first record that fails and whether its hash or its link failed; 2 when the store
    /// cannot be read.
    Verify {
        /// Only this repository's chain.
        #[arg(long, value_name = "OWNER/REPO")]
        repo: Option<String>,
        #[command(flatten)]
        store: StoreArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// The check run's title, a blank line, then its summary, as the App writes them for
    /// this verdict.
    Markdown,
}

/// Runs a parsed command, writing results to `out` and problems to `err`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match cli.command {
        Command::Check {
            policy,
            policy_path,
            deny_warnings,
        } => check::run(&policy, &policy_path, deny_warnings, out, err),
        Command::Evaluate {
            policy,
            pr,
            policy_path,
            org_policy,
            format,
        } => evaluate::run(
            evaluate::Inputs {
                policy_file: &policy,
                org_policy_file: org_policy.as_deref(),
                pr_file: &pr,
                policy_path: &policy_path,
            },
            format,
            out,
            err,
        ),
        Command::Migrate => migrate::run(out, err),
        Command::Audit {
            command:
                AuditCommand::Export {
                    repo,
                    since,
                    until,
                    format,
                    unapproved_only,
                    decisions,
                    store,
                },
        } => audit::export(
            audit::ExportArgs {
                repo,
                since,
                until,
                format,
                unapproved_only,
                decisions,
                database: store.database,
            },
            out,
            err,
        ),
        Command::Audit {
            command: AuditCommand::Verify { repo, store },
        } => audit::verify(repo, store.database, out, err),
        Command::Replay { id, record, store } => {
            replay::run(id, record.as_deref(), store.database, out, err)
        }
        Command::Snapshot { target, settings } => snapshot::run(&target, &settings, out, err),
        Command::Doctor(settings) => doctor::run(&settings, out, err),
        Command::Serve(settings) => match crate::server::serve(&settings) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                let _ = writeln!(err, "reviewgate: {e}");
                EXIT_INVALID
            }
        },
    }
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(command_line_error(e, &args)),
    };
    // The handles, not locks on them: `serve` runs for the life of the process, and a lock held
    // here would block every log line its other threads write to stderr — hanging the server
    // at its first log line.
    let code = run(cli, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code)
}

/// Prints clap's answer to a command line it did not accept (help and version included) and
/// returns the exit code. A secret must not reach the terminal or a CI log because it was
/// mistyped: the value after a secret's flag, and any argument that looks like key material
/// or a URL with a password, are replaced by `***` in the message.
fn command_line_error(e: clap::Error, args: &[std::ffi::OsString]) -> u8 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            EXIT_INVALID
        } else {
            EXIT_OK
        };
    }
    let mut text = e.render().to_string();
    for secret in secrets_in(args) {
        text = text.replace(&secret, "***");
    }
    let _ = write!(std::io::stderr(), "{text}");
    EXIT_INVALID
}

/// The arguments that are, or may be, secrets.
fn secrets_in(args: &[std::ffi::OsString]) -> Vec<String> {
    let secret_flags: Vec<String> = crate::server::config::SETTINGS
        .iter()
        .filter(|s| s.secret)
        .map(|s| format!("--{}", crate::server::config::settings::flag_of(s.env)))
        .collect();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let after_flag = i > 0 && secret_flags.contains(&args[i - 1]);
        let inline = secret_flags
            .iter()
            .find_map(|f| arg.strip_prefix(&format!("{f}=")));
        let looks_secret = arg.contains("PRIVATE KEY")
            || arg.chars().any(char::is_whitespace)
            || arg.len() > 64
            || (arg.contains("://") && arg.contains('@'));
        if let Some(value) = inline {
            out.push(value.to_string());
        } else if (after_flag || looks_secret) && !arg.is_empty() {
            out.push(arg.clone());
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Reads a file for a command, turning failure into a message that names it.
fn read(path: &std::path::Path, what: &str) -> Result<String, String> {
    if path == std::path::Path::new("-") {
        let mut text = String::new();
        return std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map(|_| text)
            .map_err(|e| format!("-: cannot read {what} from standard input: {e}"));
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read {what}: {e}", path.display()))
}
