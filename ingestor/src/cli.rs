//! The ingestor's command line: one typed configuration, validated before anything runs.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use entity::{
    ProviderKind,
    settings::{CronSchedule, FeedUrl, ProviderName, TimeZone},
};
use service::CommonArgs;

use crate::{IngestorError, providers};

/// Collects providers' event feeds into the database.
#[derive(Debug, Parser)]
#[command(name = "ingestor", version, about)]
pub struct Cli {
    /// Database and logging settings.
    #[command(flatten)]
    pub common: CommonArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The ingestor's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations: the deploy step before new binaries start.
    Migrate {
        /// List the migrations and whether each is applied; change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Run one collection of a provider now, in the foreground, through the same job path as
    /// scheduled jobs; print the outcome as one JSON object; exit 0 if the job completed, 1 if
    /// it failed.
    Collect {
        /// The provider's name.
        name: String,
    },
    /// Create, update or list providers.
    Provider {
        /// What to do with providers.
        #[command(subcommand)]
        command: ProviderCommand,
    },
}

/// `ingestor provider ...`
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Create a provider, or update the settings given of an existing one.
    Add(Box<ProviderAddArgs>),
    /// Print every provider.
    List {
        /// One JSON object per provider instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `ingestor provider add NAME --url URL ...`; settings not given keep their current value
/// (or the default, for a new provider).
#[derive(Debug, Args)]
pub struct ProviderAddArgs {
    /// Unique name: letters, digits, `-`, `_`, `.`; part of every event id, so keep it.
    pub name: ProviderName,
    /// Address of the feed (http or https); required to create a provider.
    #[arg(long)]
    pub url: Option<FeedUrl>,
    /// The collector that reads the feed.
    #[arg(long)]
    pub kind: Option<ProviderKind>,
    /// Cron schedule, with seconds (`0 */5 * * * *`) or in the classic 5-field form; read in
    /// the provider's time zone. Default for a new provider: every five minutes.
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<CronSchedule>,
    /// IANA time zone of the feed's naive timestamps and of the schedule. Default: UTC.
    #[arg(long = "time-zone", value_name = "TZ")]
    pub time_zone: Option<TimeZone>,
    /// Stop scheduling jobs for it.
    #[arg(long, conflicts_with = "enable")]
    pub disable: bool,
    /// Schedule jobs for it again.
    #[arg(long)]
    pub enable: bool,
    /// Limit for establishing the connection to the provider, in milliseconds.
    #[arg(long)]
    pub connect_timeout_ms: Option<i32>,
    /// Limit between two reads of the body, in milliseconds.
    #[arg(long)]
    pub read_timeout_ms: Option<i32>,
    /// Limit for the whole fetch, in milliseconds.
    #[arg(long)]
    pub total_timeout_ms: Option<i32>,
    /// Largest feed accepted, compressed or decompressed, in bytes.
    #[arg(long)]
    pub max_body_bytes: Option<i64>,
    /// Attempts per tick, the first one included.
    #[arg(long)]
    pub max_attempts: Option<i32>,
    /// Backoff before the first retry, in milliseconds; doubled for each further one.
    #[arg(long)]
    pub retry_base_delay_ms: Option<i32>,
}

/// Runs the subcommand and says how the process should exit.
pub async fn execute(cli: Cli) -> Result<ExitCode, IngestorError> {
    let database = cli.common.database.validate()?;
    match cli.command {
        Command::Migrate { status } => {
            let db = database.connect().await?;
            if status {
                for m in migration::status(&db).await? {
                    let state = if m.applied { "applied" } else { "pending" };
                    println!("{state:8} {}", m.name);
                }
            } else {
                let applied = migration::apply_pending(&db).await?;
                if applied.is_empty() {
                    println!("schema is up to date");
                }
                for name in applied {
                    println!("applied  {name}");
                }
            }
        }
        Command::Collect { name } => {
            let db = database.open().await?;
            let shutdown = service::shutdown_on_signal();
            let report = crate::collect::collect_now(&db, &name, &shutdown).await?;
            // Serialising plain data cannot fail; an empty line would still be honest.
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            if report.status != entity::JobState::Completed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Provider { command } => {
            let db = database.open().await?;
            match command {
                ProviderCommand::Add(args) => {
                    let upserted = providers::add(&db, *args).await?;
                    println!("{}", providers::describe_upsert(&upserted));
                }
                ProviderCommand::List { json } => {
                    let all = entity::query::provider::list(&db).await?;
                    print!("{}", providers::render_list(&all, json));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
