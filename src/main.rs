//! `imglake`: the command-line face of the image pipeline and its Parquet lake.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

/// `println!` for command output: when stdout is closed early (`imglake … | head`) the
/// process ends quietly, with the status a SIGPIPE death gives (141), instead of panicking.
/// It does not claim success: the command did not finish (`set -o pipefail` sees it).
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
mod console;
mod diagnose;
mod engine;
mod kafka;
mod local;
mod sql;
mod upkeep;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// Exit status of a process whose stdout reader went away: 128 + SIGPIPE.
const BROKEN_PIPE_EXIT: i32 = 141;

/// Writes command output to stdout; a closed stdout ends the process (see [`outln!`]).
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    if let Err(err) = Stdout.write_fmt(args) {
        eprintln!("error: writing to stdout: {err}");
        std::process::exit(1);
    }
}

/// Stdout for writers (CSV, JSON, tables): a closed stdout ends the process as in
/// [`write_stdout`]; other errors are returned.
pub(crate) struct Stdout;

impl Stdout {
    fn check<T>(result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(err) = &result {
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(BROKEN_PIPE_EXIT);
            }
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::check(std::io::stdout().lock().write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        Self::check(std::io::stdout().lock().write_all(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Self::check(std::io::stdout().lock().flush())
    }
}

/// An error and its causes joined by ": ", leaving out a cause whose text is already part of
/// what is printed before it (DataFusion and TOML errors repeat their source in their own
/// text).
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
            cli::Command::Serve(args) => cmd::serve::run(*args).await,
            cli::Command::KafkaSend(args) => cmd::kafka_send::run(*args).await,
            cli::Command::Backfill(args) => cmd::backfill::run(args).await,
            cli::Command::Reconcile(args) => cmd::reconcile::run(args).await,
            cli::Command::Redrive(args) => cmd::redrive::run(args).await,
            cli::Command::ExportTable(args) => cmd::export_table::run(args).await,
        }
    })
}

/// Human-readable logs on stderr; `RUST_LOG` refines, `-v` shows per-file detail.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        // The Kafka client warns at every reconnection attempt; imglake reports what persists.
        0 => "warn,rskafka=error",
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
