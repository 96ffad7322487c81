//! The ingestor's command line: one typed configuration, validated before anything runs.

use std::{process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use entity::{
    ProviderKind,
    destination::DestinationPolicy,
    feed_snapshot::Directory,
    settings::{
        CronSchedule, FailurePolicy, FeedUrl, FetchLimits, ProviderName, ProviderPatch,
        RetryPolicy, TimeZone,
    },
};
use lifecycle::CommonArgs;

use crate::{
    IngestorError,
    collector::{CollectSettings, RecordLimits},
    jobs::RunnerSettings,
    providers,
    worker::WorkerSettings,
};

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
        /// Where feeds may be fetched from.
        #[command(flatten)]
        destinations: DestinationArgs,
        /// What one record may carry.
        #[command(flatten)]
        records: RecordLimitArgs,
        /// Where the body is kept.
        #[command(flatten)]
        snapshots: SnapshotDirArgs,
    },
    /// Parse, validate and store again the feed body an earlier job kept, as a new job
    /// (trigger `replay`), without contacting the provider; print the outcome as one JSON
    /// object; exit 0 if the job completed, 1 if it failed.
    Replay {
        /// The job whose body to replay (its number, as `jobs` and the page show it).
        job_id: i64,
        /// What one record may carry.
        #[command(flatten)]
        records: RecordLimitArgs,
        /// Where the body was kept.
        #[command(flatten)]
        snapshots: SnapshotDirArgs,
    },
    /// Run the scheduler and the job processor until SIGTERM or SIGINT.
    Run(RunArgs),
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

/// Which provider addresses may be fetched (shared by `provider add`, `collect` and `run`).
#[derive(Debug, Clone, Copy, Args)]
pub struct DestinationArgs {
    /// Allow provider URLs at private and loopback addresses (and names like `localhost`);
    /// by default only public addresses are fetched. Link-local and cloud metadata addresses
    /// stay refused.
    #[arg(long, env = "ALLOW_PRIVATE_PROVIDERS")]
    pub allow_private_providers: bool,
}

impl DestinationArgs {
    /// The policy these flags select.
    pub fn policy(self) -> DestinationPolicy {
        DestinationPolicy {
            allow_private: self.allow_private_providers,
        }
    }
}

/// Where the feed bodies jobs keep (for replays and downloads) are written and read.
#[derive(Debug, Clone, Args)]
pub struct SnapshotDirArgs {
    /// Keep feed bodies as files in this directory (created if missing) instead of the
    /// database. The API serves their downloads when given the same directory
    /// (`graphql-api serve --snapshot-dir`).
    #[arg(long, env = "FEED_SNAPSHOT_DIR", value_name = "PATH")]
    pub snapshot_dir: Option<std::path::PathBuf>,
}

impl SnapshotDirArgs {
    /// The directory, created if needed; none keeps bodies in the database.
    pub fn open(&self) -> Result<Option<Directory>, String> {
        self.snapshot_dir
            .as_ref()
            .map(|path| {
                Directory::open(path).map_err(|e| {
                    format!("--snapshot-dir {}: cannot create it: {e}", path.display())
                })
            })
            .transpose()
    }
}

/// What one feed record may carry; a record past any bound is rejected alone, with its
/// reason, and counted on the job outcome.
#[derive(Debug, Clone, Copy, Args)]
pub struct RecordLimitArgs {
    /// Most zones one event may have.
    #[arg(long, env = "MAX_ZONES_PER_EVENT", default_value_t = RecordLimits::default().max_zones_per_event)]
    pub max_zones_per_event: usize,
    /// Earliest year an event's dates may fall in (start, end, sell from/to, as written).
    #[arg(long, env = "MIN_EVENT_YEAR", default_value_t = RecordLimits::default().min_year)]
    pub min_event_year: i32,
    /// Latest year an event's dates may fall in.
    #[arg(long, env = "MAX_EVENT_YEAR", default_value_t = RecordLimits::default().max_year)]
    pub max_event_year: i32,
    /// Longest event title, in characters.
    #[arg(long, env = "MAX_TITLE_CHARS", default_value_t = RecordLimits::default().max_title_chars)]
    pub max_title_chars: usize,
    /// Longest zone name, in characters.
    #[arg(long, env = "MAX_ZONE_NAME_CHARS", default_value_t = RecordLimits::default().max_zone_name_chars)]
    pub max_zone_name_chars: usize,
    /// Largest capacity of one zone, in seats.
    #[arg(long, env = "MAX_ZONE_CAPACITY", default_value_t = RecordLimits::default().max_zone_capacity)]
    pub max_zone_capacity: i32,
}

impl RecordLimitArgs {
    /// Checks the limits.
    pub fn validate(self) -> Result<RecordLimits, String> {
        RecordLimits {
            max_zones_per_event: self.max_zones_per_event,
            min_year: self.min_event_year,
            max_year: self.max_event_year,
            max_title_chars: self.max_title_chars,
            max_zone_name_chars: self.max_zone_name_chars,
            max_zone_capacity: self.max_zone_capacity,
        }
        .validate()
    }
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
    /// The collector that reads the feed. Default for a new provider: fever_xml.
    #[arg(long, value_parser = kind_parser())]
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
    #[arg(long, help = new_provider_default("Limit for establishing the connection to the provider, in milliseconds.", FetchLimits::default().connect_timeout_ms))]
    pub connect_timeout_ms: Option<i32>,
    /// Limit between two reads of the body, in milliseconds.
    #[arg(long, help = new_provider_default("Limit between two reads of the body, in milliseconds.", FetchLimits::default().read_timeout_ms))]
    pub read_timeout_ms: Option<i32>,
    /// Limit for the whole fetch, in milliseconds.
    #[arg(long, help = new_provider_default("Limit for the whole fetch, in milliseconds.", FetchLimits::default().total_timeout_ms))]
    pub total_timeout_ms: Option<i32>,
    /// Largest feed accepted, compressed or decompressed, in bytes.
    #[arg(long, help = new_provider_default("Largest feed accepted, compressed or decompressed, in bytes.", FetchLimits::default().max_body_bytes))]
    pub max_body_bytes: Option<i64>,
    /// Attempts per tick, the first one included.
    #[arg(long, help = new_provider_default("Attempts per tick, the first one included.", RetryPolicy::default().max_attempts))]
    pub max_attempts: Option<i32>,
    /// Backoff before the first retry, in milliseconds; doubled for each further one.
    #[arg(long, help = new_provider_default("Backoff before the first retry, in milliseconds; doubled for each further one.", RetryPolicy::default().base_delay_ms))]
    pub retry_base_delay_ms: Option<i32>,
    /// How old its last successful collection may get before it is overdue, in milliseconds
    /// (1000 to 30 days); 0 returns to the default.
    #[arg(long, help = new_provider_default("How old its last successful collection may get before it is overdue (Health.overdue, the provider_overdue metric), in milliseconds, 1000 to 30 days; 0 returns to the default.", "three intervals of its schedule"))]
    pub freshness_ms: Option<i64>,
    /// Consecutive failed collections after which its schedule is stretched, doubling with
    /// each further failure (0: never).
    #[arg(long, help = new_provider_default("Consecutive failed collections after which its schedule is stretched (x2 with each further failure, up to 64 intervals or 1 h) and its retries stop; 0: never.", FailurePolicy::default().backoff_after))]
    pub backoff_after: Option<i32>,
    /// Consecutive failed collections after which it is paused (0: never).
    #[arg(long, help = new_provider_default("Consecutive failed collections after which it is paused until enabled again; 0: never.", FailurePolicy::default().pause_after))]
    pub pause_after: Option<i32>,
    /// Where feeds may be fetched from (checked on `--url`).
    #[command(flatten)]
    pub destinations: DestinationArgs,
}

/// A per-provider setting's help, with the value a new provider gets when the flag is left out
/// (taken from the settings' own defaults, so it is written once).
fn new_provider_default(help: &str, default: impl std::fmt::Display) -> String {
    format!("{help} [default for a new provider: {default}]")
}

/// `--kind`: one of the collectors, listed in `--help`.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = ProviderKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new([ProviderKind::FeverXml.as_str()])
        .try_map(|kind| kind.parse::<ProviderKind>())
}

impl ProviderAddArgs {
    /// The change these flags ask for.
    pub fn patch(&self) -> ProviderPatch {
        let enabled = match (self.enable, self.disable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        ProviderPatch {
            kind: self.kind,
            url: self.url.clone(),
            schedule: self.schedule.clone(),
            time_zone: self.time_zone,
            enabled,
            connect_timeout_ms: self.connect_timeout_ms,
            read_timeout_ms: self.read_timeout_ms,
            total_timeout_ms: self.total_timeout_ms,
            max_body_bytes: self.max_body_bytes,
            max_attempts: self.max_attempts,
            retry_base_delay_ms: self.retry_base_delay_ms,
            freshness_ms: self.freshness_ms,
            backoff_after: self.backoff_after,
            pause_after: self.pause_after,
        }
    }
}

/// `ingestor run` settings.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Jobs this process runs at once.
    #[arg(long, env = "JOB_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// How often to look for due jobs when nothing signals one, in milliseconds.
    #[arg(long, env = "JOB_POLL_INTERVAL_MS", default_value_t = 500)]
    pub poll_interval_ms: u64,
    /// How often to look for due cron ticks, in milliseconds.
    #[arg(long, env = "SCHEDULER_INTERVAL_MS", default_value_t = 250)]
    pub scheduler_interval_ms: u64,
    /// Only process jobs; leave scheduling to other processes.
    #[arg(long, env = "NO_SCHEDULER")]
    pub no_scheduler: bool,
    /// How long a claimed job's lease lasts without a heartbeat, in milliseconds.
    #[arg(long, env = "JOB_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// How often a running job renews its lease, in milliseconds.
    #[arg(long, env = "JOB_HEARTBEAT_MS", default_value_t = 10_000)]
    pub heartbeat_ms: u64,
    /// How often to look for jobs whose lease expired, in milliseconds.
    #[arg(long, env = "RESCUE_INTERVAL_MS", default_value_t = 5_000)]
    pub rescue_interval_ms: u64,
    /// How long jobs in flight may finish after SIGTERM, in milliseconds.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 30_000)]
    pub shutdown_grace_ms: u64,
    /// Finished jobs older than this are pruned, with their outcomes, in days.
    #[arg(long, env = "JOB_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// Keep no feed bodies (no replays, no downloads of what a provider sent).
    #[arg(long, env = "NO_FEED_SNAPSHOTS")]
    pub no_feed_snapshots: bool,
    /// Feed bodies kept (compressed, for `ingestor replay` and downloads) are dropped after
    /// this many days.
    #[arg(long, env = "FEED_SNAPSHOT_RETENTION_DAYS", default_value_t = 7)]
    pub snapshot_retention_days: u32,
    /// The most the feed bodies kept may weigh together, compressed, in MiB; the oldest are
    /// dropped first.
    #[arg(long, env = "FEED_SNAPSHOT_MAX_MIB", default_value_t = 1024)]
    pub snapshot_max_mib: u64,
    /// Name of this worker in job records; default `host-pid-random`.
    #[arg(long, env = "WORKER_ID")]
    pub worker_id: Option<String>,
    /// Where feeds may be fetched from.
    #[command(flatten)]
    pub destinations: DestinationArgs,
    /// What one record may carry.
    #[command(flatten)]
    pub records: RecordLimitArgs,
    /// Where feed bodies are kept.
    #[command(flatten)]
    pub snapshots: SnapshotDirArgs,
}

impl RunArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<WorkerSettings, String> {
        let ms = Duration::from_millis;
        if !(1..=256).contains(&self.concurrency) {
            return Err("--concurrency must be between 1 and 256".to_owned());
        }
        if self.lease_ms < 1_000 || self.heartbeat_ms == 0 || self.heartbeat_ms * 2 > self.lease_ms
        {
            return Err(
                "--lease-ms must be at least 1000, and --heartbeat-ms at most half of it"
                    .to_owned(),
            );
        }
        for (name, value) in [
            ("--poll-interval-ms", self.poll_interval_ms),
            ("--scheduler-interval-ms", self.scheduler_interval_ms),
            ("--rescue-interval-ms", self.rescue_interval_ms),
        ] {
            if !(10..=600_000).contains(&value) {
                return Err(format!("{name} must be between 10 and 600000"));
            }
        }
        if self.retention_days == 0 {
            return Err("--retention-days must be at least 1".to_owned());
        }
        let records = self.records.validate()?;
        if self.snapshot_retention_days == 0 || self.snapshot_max_mib > 1024 * 1024 {
            return Err("--snapshot-retention-days must be at least 1, and --snapshot-max-mib at most 1048576 (1 TiB)".to_owned());
        }
        Ok(WorkerSettings {
            worker_id: self
                .worker_id
                .clone()
                .unwrap_or_else(crate::worker::default_worker_id),
            concurrency: self.concurrency,
            poll_interval: ms(self.poll_interval_ms),
            scheduler_interval: ms(self.scheduler_interval_ms),
            schedule: !self.no_scheduler,
            runner: RunnerSettings {
                lease: ms(self.lease_ms),
                heartbeat: ms(self.heartbeat_ms),
                retries: true,
                collect: CollectSettings {
                    destinations: self.destinations.policy(),
                    records,
                    keep_bodies: !self.no_feed_snapshots,
                    snapshot_dir: self.snapshots.open()?,
                },
            },
            rescue_interval: ms(self.rescue_interval_ms),
            shutdown_grace: ms(self.shutdown_grace_ms),
            retention: chrono::TimeDelta::days(self.retention_days.into()),
            retention_interval: Duration::from_secs(3600),
            snapshots: crate::maintenance::SnapshotRetention {
                keep: chrono::TimeDelta::days(self.snapshot_retention_days.into()),
                max_total_bytes: self.snapshot_max_mib * 1024 * 1024,
                ..Default::default()
            },
        })
    }
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
        Command::Run(args) => {
            let settings = args.validate().map_err(IngestorError::Invalid)?;
            let db = database.open().await?;
            let shutdown = lifecycle::shutdown_on_signal();
            crate::worker::run(db, settings, shutdown).await;
        }
        Command::Collect {
            name,
            destinations,
            records,
            snapshots,
        } => {
            let settings = CollectSettings {
                destinations: destinations.policy(),
                records: records.validate().map_err(IngestorError::Invalid)?,
                keep_bodies: true,
                snapshot_dir: snapshots.open().map_err(IngestorError::Invalid)?,
            };
            let db = database.open().await?;
            let shutdown = lifecycle::shutdown_on_signal();
            let report = crate::collect::collect_now(&db, &name, settings, &shutdown).await?;
            return Ok(print_outcome(&report));
        }
        Command::Replay {
            job_id,
            records,
            snapshots,
        } => {
            let settings = CollectSettings {
                records: records.validate().map_err(IngestorError::Invalid)?,
                keep_bodies: false,
                snapshot_dir: snapshots.open().map_err(IngestorError::Invalid)?,
                ..CollectSettings::default()
            };
            let db = database.open().await?;
            let shutdown = lifecycle::shutdown_on_signal();
            let report = crate::collect::replay_now(&db, job_id, settings, &shutdown).await?;
            return Ok(print_outcome(&report));
        }
        Command::Provider { command } => {
            let db = database.open().await?;
            match command {
                ProviderCommand::Add(args) => {
                    let upserted =
                        providers::add(&db, &args.name, args.patch(), args.destinations.policy())
                            .await?;
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

/// Prints a job's outcome as one JSON object: the exit code says whether it completed.
fn print_outcome(report: &crate::jobs::OutcomeReport) -> ExitCode {
    // Serialising plain data cannot fail; an empty line would still be honest.
    println!("{}", serde_json::to_string(report).unwrap_or_default());
    if report.outcome.status == entity::JobState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
