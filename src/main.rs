//! `imglake`: the command-line face of the image pipeline and its Parquet lake.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

/// `println!` for command output: when stdout is closed early (`imglake … | head`) the
/// process ends quietly with success instead of panicking, as a pipe consumer expects.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same handling of a closed stdout as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

mod cli;
mod cmd;
mod conn;
mod engine;
mod local;
mod sql;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// Writes command output to stdout; a closed stdout ends the process (see [`outln!`]).
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {err}");
        std::process::exit(1);
    }
}

/// Whether an error only says that stdout was closed by its reader.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains("Broken pipe (os error 32)")
    })
}

/// An error and its causes joined by ": ", leaving out a cause whose text the message before
/// it already contains (DataFusion and TOML errors repeat their source in their own text).
fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(text.trim()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            cli::Command::Export(args) => cmd::export::run(args).await,
            cli::Command::Query(args) => cmd::query::run(args).await,
            cli::Command::Schema(args) => cmd::schema::run(args),
            cli::Command::Sql(args) => cmd::sql::run(args),
            cli::Command::Compact(args) => cmd::compact::run(args).await,
            cli::Command::Check(args) => cmd::check::run(args).await,
            cli::Command::Process(args) => cmd::process::run(args),
            cli::Command::Demo(args) => cmd::demo::run(args).await,
            cli::Command::Serve(args) => cmd::serve::run(args).await,
        }
    })
}

/// Human-readable logs on stderr; `RUST_LOG` refines, `-v` shows per-file detail.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
