//! The `reviewgate` command line: thin wrappers that read files, call the library and map
//! outcomes to exit codes.

mod check;
mod evaluate;
mod migrate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::policy::DEFAULT_POLICY_PATH;

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
    /// Validate a policy file; exit 0 when valid, 2 with every error on stderr.
    Check {
        /// The policy file.
        #[arg(default_value = "policy.toml")]
        policy: PathBuf,
    },
    /// Evaluate a PR snapshot against a policy; exit 0 if it may merge, 1 if not, 2 on invalid input.
    Evaluate {
        /// The policy file.
        #[arg(long)]
        policy: PathBuf,
        /// The PR snapshot (JSON).
        #[arg(long)]
        pr: PathBuf,
        /// The policy file's path in the repository, to spot PRs that edit it.
        #[arg(long, default_value = DEFAULT_POLICY_PATH)]
        policy_path: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run the GitHub App: serve webhooks and keep check runs up to date. Configured from
    /// the environment (see docs/deploy.md); exits 2 when a setting is missing or invalid.
    Serve,
    /// Apply the store's schema migrations and exit 0 (also when none are left to apply).
    /// Reads only REVIEWGATE_DATABASE_URL (default sqlite:reviewgate.db) and the logging
    /// settings; exits 2 when the URL is malformed, 1 when the store cannot be reached.
    Migrate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Runs a parsed command, writing results to `out` and problems to `err`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match cli.command {
        Command::Check { policy } => check::run(&policy, out, err),
        Command::Evaluate {
            policy,
            pr,
            policy_path,
            format,
        } => evaluate::run(&policy, &pr, &policy_path, format, out, err),
        Command::Migrate => migrate::run(out, err),
        Command::Serve => match crate::server::serve_from_env() {
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
    let cli = Cli::parse();
    // The handles, not locks on them: `serve` runs for the life of the process, and a lock held
    // here would block every log line its other threads write to stderr — hanging the server
    // at its first log line.
    let code = run(cli, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code)
}

/// Reads a file for a command, turning failure into a message that names it.
fn read(path: &std::path::Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read {what}: {e}", path.display()))
}
