//! `feedgen`: writes a generated feed to standard output (see `test_support::feedgen`).
//!
//! `cargo run -p test-support --bin feedgen -- --events 100000 --zones 5 [--seed 1]
//!  [--dialect plan] [--online-share 0.9]`

use std::io::Write;

use test_support::{
    cli_arg,
    feedgen::{FeedDialect, FeedSpec, generate},
};

fn main() -> std::io::Result<()> {
    let events: usize = cli_arg("--events", 1_000);
    let zones: usize = cli_arg("--zones", 5);
    let dialect = if cli_arg("--dialect", String::from("event")) == "plan" {
        FeedDialect::PlanList
    } else {
        FeedDialect::EventList
    };
    let spec = FeedSpec {
        seed: cli_arg("--seed", 1),
        online_share: cli_arg("--online-share", 0.9),
        dialect,
        ..FeedSpec::sized(events, zones)
    };
    std::io::stdout()
        .lock()
        .write_all(generate(&spec).as_bytes())
}
