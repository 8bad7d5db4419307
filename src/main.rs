//! `imglake`: the command-line face of the image pipeline and its Parquet lake.

use std::process::ExitCode;

use clap::Parser;

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
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
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
        .init();
}
