//! What every Fever binary does at start and at stop, written once:
//!
//! - [`CommonArgs`]: the flags every command takes (the database, the log format), under
//!   their own heading in `--help`;
//! - [`init_logging`]: log lines on standard error, text or JSON;
//! - [`database`]: connecting to the database and bringing its schema to what the binary needs
//!   (the one place a pool is opened);
//! - [`shutdown_on_signal`]: a cancellation token that SIGINT or SIGTERM cancels;
//! - [`raise_open_files_limit`]: as many sockets as the system lets the process have;
//! - [`report`]: how a binary ends, with its error on one line and an exit code.

pub mod database;

use std::io::IsTerminal as _;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// The log filter when `RUST_LOG` is not set.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// The options every binary takes: where the database is, and how to log. `--help` lists them
/// under their own heading, after the command's own options.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Database and logging (every command)")]
pub struct CommonArgs {
    /// Database settings.
    #[command(flatten)]
    pub database: database::DatabaseArgs,

    /// How log lines are written (to standard error).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global tracing subscriber, writing to standard error; `RUST_LOG` overrides the
/// default filter. Calling it twice keeps the first subscriber.
pub fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    // Colours only for a person at a terminal, not in a file or a collector.
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // Already installed (tests start several apps in one process): keep the first.
    drop(result);
}

/// Raises the process's soft limit of open files to its hard limit, and logs both.
///
/// A worker keeps a socket per provider it fetched from recently and an API replica one per
/// client; 5,000 providers on a one-minute schedule need thousands at once, far past the soft
/// limit of 1,024 that many service managers start a process with (the hard limit is usually
/// 512 Ki or more). Call it once at start, after [`init_logging`]. Returns the soft limit now in
/// force, when the system tells it.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        if before.current.is_some() && before.current != before.maximum {
            let raised = Rlimit {
                current: before.maximum,
                maximum: before.maximum,
            };
            if let Err(err) = setrlimit(Resource::Nofile, raised) {
                tracing::warn!(%err, soft = before.current, hard = before.maximum,
                    "cannot raise the open-files limit");
            }
        }
        let now = getrlimit(Resource::Nofile);
        tracing::debug!(soft = now.current, hard = now.maximum, "open-files limit");
        now.current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C). Pass it, or a child of it, to
/// every task. A second signal during the graceful shutdown ends the process at once.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested; a second signal stops at once");
        trigger.cancel();
        let signal = wait_for_signal().await;
        tracing::warn!(
            signal,
            "second signal: exiting without finishing in-flight work"
        );
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// The exit code for a command's result: an error is printed as one line on standard error
/// (`error: ...`) and exits with 1.
pub fn report<E: std::fmt::Display>(
    result: Result<std::process::ExitCode, E>,
) -> std::process::ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            #[expect(clippy::print_stderr, reason = "the one line an operator reads")]
            {
                eprintln!("error: {err}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
