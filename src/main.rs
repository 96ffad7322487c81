//! `fever`: the whole system in one process (`cargo run --release`). See `fever --help`.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = fever::SystemConfig::parse();
    service::init_logging(config.common.log_format);
    let shutdown = service::shutdown_on_signal();
    let result = fever::run(config, shutdown, |addr| {
        println!("Fever is running on the embedded database.");
        println!("  GraphiQL:  http://{addr}/graphql");
        println!("  Health:    http://{addr}/readyz");
        println!("Press Ctrl-C to stop.");
    })
    .await;
    service::report(result.map(|()| ExitCode::SUCCESS))
}
