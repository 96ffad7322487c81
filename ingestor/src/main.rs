//! `ingestor`: the worker that collects provider feeds. See `ingestor --help`.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = ingestor::cli::Cli::parse();
    lifecycle::init_logging(cli.common.log_format);
    lifecycle::raise_open_files_limit();
    lifecycle::report(ingestor::cli::execute(cli).await)
}
