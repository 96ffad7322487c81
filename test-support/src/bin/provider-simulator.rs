//! `provider-simulator`: the provider simulator as its own process, for end-to-end tests and
//! load tests. Serves the given feed files in sequence at `/feed.xml`; controlled over HTTP
//! (`PUT /_sim/fault`, `PUT /_sim/feeds`, see `test_support::simulator`). Prints
//! `listening on http://ADDR` once ready; stops on SIGTERM or SIGINT.
//!
//! `provider-simulator [--listen 127.0.0.1:0] FEED.xml [FEED.xml ...]`

use test_support::{ProviderSimulator, cli_arg};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen: String = cli_arg("--listen", "127.0.0.1:0".to_owned());
    let mut feeds = Vec::new();
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            args.next();
            continue;
        }
        feeds.push(std::fs::read(&arg)?.into());
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let simulator = ProviderSimulator::serve(listener, feeds);
    println!("listening on http://{}", simulator.addr());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(simulator);
    Ok(())
}
