//! `graphql-api`: serves the GraphQL API and the REST `/search`. See `graphql-api --help`.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = graphql_api::config::Cli::parse();
    lifecycle::init_logging(cli.common.log_format);
    lifecycle::raise_open_files_limit();
    lifecycle::report(
        graphql_api::config::execute(cli)
            .await
            .map(|()| ExitCode::SUCCESS),
    )
}
