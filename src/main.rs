//! The `reviewgate` binary: see [`reviewgate::cli`].

fn main() -> std::process::ExitCode {
    reviewgate::cli::main()
}
