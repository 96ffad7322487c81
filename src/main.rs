//! `fever`: the whole system in one process (`cargo run --release`). See `fever --help`.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = fever::SystemConfig::parse();
    lifecycle::init_logging(config.common.log_format);
    lifecycle::raise_open_files_limit();
    let shutdown = lifecycle::shutdown_on_signal();
    let token = if config.admin_token == fever::DEMO_ADMIN_TOKEN {
        format!(
            "{} (the demo default; set ADMIN_TOKEN to change it)",
            fever::DEMO_ADMIN_TOKEN
        )
    } else {
        "from ADMIN_TOKEN".to_owned()
    };
    let result = fever::run(config, shutdown, |addresses| {
        let api = addresses.api;
        println!("Fever is running on the embedded database (./data/fever.db).");
        println!("  Monitoring:  http://{api}/");
        println!("  GraphiQL:    http://{api}/graphql");
        println!("  Search:      http://{api}/search?starts_at=2021-01-01T00:00:00Z");
        println!("  Health:      http://{api}/readyz");
        println!("  Admin token: {token}");
        if let Some(demo) = &addresses.demo {
            println!("  Demo feeds:  {demo}/events.xml, {demo}/plans.xml (collected every 10 s)");
        }
        println!("Press Ctrl-C to stop.");
    })
    .await;
    lifecycle::report(result.map(|()| ExitCode::SUCCESS))
}
