//! The query root: event search (public, from the in-memory index) and job monitoring (a
//! viewer token, from the database). Resolvers validate their arguments, call one query
//! function and convert to the output types.

use std::sync::Arc;

use async_graphql::{
    Context, ID, Object, SimpleObject,
    connection::{Connection, Edge},
};
use entity::{EventId, JobId, query, query::Window};
use sea_orm::ConnectionTrait;

use super::{
    ErrorGroup, Event, EventFilter, EventOrder, Instant, Job, JobChart, JobFilter, JobOrder,
    JobOutcome, Node, Provider, Totals, Worker, cursors, db,
    events::{self, EventsArgs},
    ids::GlobalId,
    job::{self, JobCounts},
    limits::Limits,
    paging::{PageArgs, Paging},
    provider_named,
    stats::{self, ProviderStats},
};
use crate::{
    access::{Access, Principal, Role, SearchGuard, ViewerGuard, require_search, require_viewer},
    error::ApiError,
    search::SearchIndex,
};

/// The longest range `errorGroups` reads: its rows grow with the hours in it.
const MAX_GROUP_RANGE: chrono::TimeDelta = chrono::TimeDelta::days(92);

/// The stored event with this id (online or not), as search lists it: `event(id:)` and
/// `node(id:)` both read it here.
async fn find_event(ctx: &Context<'_>, id: EventId) -> Result<Option<Event>, ApiError> {
    let db = db(ctx).await?;
    let Some(found) = query::event::find_summary(&*db, id).await? else {
        return Ok(None);
    };
    let provider = query::provider::find_by_id(&*db, found.provider_id)
        .await?
        .map_or_else(|| Arc::from(""), |p| Arc::from(p.name));
    Ok(Some(Event::new(Arc::new(found), provider)))
}

pub(super) async fn job_filter(
    db: &impl ConnectionTrait,
    filter: Option<JobFilter>,
) -> Result<query::job::JobFilter, ApiError> {
    let filter = filter.unwrap_or_default();
    let mut provider_id = match &filter.provider {
        Some(name) => Some(provider_named(db, name).await?.id),
        None => None,
    };
    let error_group = match &filter.error_group {
        Some(id) => {
            let GlobalId::ErrorGroup(provider, fingerprint) = GlobalId::parse(id)? else {
                return Err(ApiError::BadUserInput(format!(
                    "`{}` is not an error group id",
                    id.as_str()
                )));
            };
            if provider_id.is_some_and(|p| p != provider) {
                return Err(ApiError::BadUserInput(
                    "the error group is another provider's".to_owned(),
                ));
            }
            provider_id = Some(provider);
            Some(fingerprint)
        }
        None => None,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ApiError::BadUserInput(
            "`from` must not be after `to`".to_owned(),
        ));
    }
    Ok(query::job::JobFilter {
        provider_id,
        state: filter.state.map(Into::into),
        trigger: filter.trigger.map(Into::into),
        from: filter.from.map(|t| t.0),
        to: filter.to.map(|t| t.0),
        error_kind: filter.error_kind.map(Into::into),
        error_group,
    })
}

/// What a page of jobs (or of their outcomes) asks for; `C` is what its cursors name.
struct JobPage<C> {
    /// Its size.
    size: usize,
    /// Which jobs around its cursor.
    window: Window<C>,
    /// Which jobs.
    filter: query::job::JobFilter,
}

impl<C> JobPage<C> {
    /// Reads the arguments `jobs` and `jobOutcomes` share (`cursor` reads one of theirs).
    async fn read(
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        args: PageArgs,
        cursor: impl Fn(&str) -> Result<C, ApiError>,
    ) -> Result<Self, ApiError> {
        let (size, window) =
            match args.paging(ctx.data_unchecked::<Limits>().max_page_size, cursor)? {
                Paging::Forward { size, after } => (size, Window::After(after)),
                Paging::Backward { size, before } => (size, Window::Before(before)),
            };
        let filter = job_filter(&*db(ctx).await?, filter).await?;
        Ok(Self {
            size,
            window,
            filter,
        })
    }

    /// Rows to read: one more than the page, which says whether there is more beyond it.
    fn limit(&self) -> u64 {
        self.size as u64 + 1
    }

    /// The connection of `rows` (in the list's order, up to [`Self::limit`] of them); the
    /// total is counted only when the query asks for it. `node` gives each row's cursor and
    /// node.
    async fn connection<R, N: async_graphql::OutputType>(
        &self,
        ctx: &Context<'_>,
        mut rows: Vec<R>,
        total: impl Future<Output = Result<u64, ApiError>>,
        node: impl Fn(R) -> (String, N),
    ) -> Result<Connection<String, N, Totals>, ApiError> {
        let total_count = if ctx.look_ahead().field("totalCount").exists() {
            usize::try_from(total.await?).unwrap_or(usize::MAX)
        } else {
            0
        };
        let more = rows.len() > self.size;
        // The extra row is the one farthest from the cursor: the last going forward, the
        // first going backward. Past the cursor there is at least the cursor's own job.
        let (has_previous, has_next) = match &self.window {
            Window::After(cursor) => {
                rows.truncate(self.size);
                (cursor.is_some(), more)
            }
            Window::Before(cursor) => {
                if more {
                    rows.drain(..rows.len() - self.size);
                }
                (more, cursor.is_some())
            }
        };
        let mut connection =
            Connection::with_additional_fields(has_previous, has_next, Totals { total_count });
        connection.edges.extend(rows.into_iter().map(|row| {
            let (cursor, node) = node(row);
            Edge::new(cursor, node)
        }));
        Ok(connection)
    }
}

/// One action taken through an admin mutation.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct AuditEntry {
    /// When it ended.
    pub(super) at: Instant,
    /// The name of the token that took it (never the token).
    pub(super) actor: String,
    /// The mutation (`cancelJob`).
    pub(super) action: String,
    /// What it acted on (`provider acme`, `job 42`).
    pub(super) target: String,
    /// `ok`, or the error code the client got.
    pub(super) result: String,
    /// The job it created, or the message the client got.
    pub(super) detail: Option<String>,
}

impl From<entity::audit_log::Model> for AuditEntry {
    fn from(row: entity::audit_log::Model) -> Self {
        Self {
            at: Instant(row.at),
            actor: row.actor,
            action: row.action,
            target: row.target,
            result: row.result,
            detail: row.detail,
        }
    }
}

/// Who a token belongs to.
#[derive(Debug, Clone, SimpleObject)]
pub struct Viewer {
    /// The token's name, as configured.
    pub name: String,
    /// Its role: `VIEWER` reads providers, jobs and outcomes; `ADMIN` also acts.
    pub role: Role,
}

impl From<&Principal> for Viewer {
    fn from(principal: &Principal) -> Self {
        Self {
            name: principal.name.to_string(),
            role: principal.role,
        }
    }
}

/// What one request may ask for: the budget `extensions.cost` is counted against.
#[derive(Debug, Clone, SimpleObject)]
pub struct RequestLimits {
    /// Deepest selection accepted (introspection is limited apart).
    pub max_depth: i32,
    /// Highest cost accepted: a field costs 1, plus its children times the page size of a
    /// connection (or a realistic size for other lists); fragments are costed once.
    pub max_complexity: i32,
    /// Largest page a connection returns (`first`).
    pub max_page_size: i32,
    /// Largest answer sent, in bytes.
    pub max_response_bytes: i32,
    /// Longest a request may take, in milliseconds.
    pub request_timeout_ms: i32,
    /// Whether introspection is answered.
    pub introspection: bool,
}

impl From<&Limits> for RequestLimits {
    fn from(limits: &Limits) -> Self {
        let int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Self {
            max_depth: int(limits.max_depth),
            max_complexity: int(limits.max_complexity),
            max_page_size: int(limits.max_page_size),
            max_response_bytes: int(limits.max_response_bytes),
            request_timeout_ms: i32::try_from(limits.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            introspection: limits.introspection,
        }
    }
}

/// Entry points for reading.
pub struct QueryRoot;

/// Entry points for reading: event search (public) and job monitoring (viewer token).
#[Object(name = "Query")]
impl QueryRoot {
    /// Events that were ever online, with their latest values, kept by `filter` (each
    /// condition optional), in `orderBy` (by start, earliest first, without one). The dates
    /// are by containment: the event starts at or after `startsAt` and ends at or before
    /// `endsAt`.
    #[graphql(guard = "SearchGuard")]
    #[expect(
        clippy::too_many_arguments,
        reason = "each is an argument of the GraphQL field"
    )]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(deprecation = "use filter: { startsAt }")] starts_at: Option<Instant>,
        #[graphql(deprecation = "use filter: { endsAt }")] ends_at: Option<Instant>,
        filter: Option<EventFilter>,
        order_by: Option<EventOrder>,
        #[graphql(desc = "Page size going forward (default 20, at most the server's limit).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page size going backward (at most the server's limit).")] last: Option<
            i32,
        >,
        #[graphql(desc = "Continue backward, before this cursor.")] before: Option<String>,
    ) -> Result<Connection<String, Event, Totals>, ApiError> {
        let args = EventsArgs {
            starts_at,
            ends_at,
            filter,
            order_by,
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
        };
        let snapshot = ctx.data_unchecked::<Arc<SearchIndex>>().snapshot();
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        // Counting walks the whole range: only when asked.
        let count = ctx.look_ahead().field("totalCount").exists();
        let page = events::page(&snapshot, max, args, count)?;
        let mut connection = Connection::with_additional_fields(
            page.has_previous,
            page.has_next,
            Totals {
                total_count: page.total_count,
            },
        );
        connection.edges.extend(page.events.iter().map(|found| {
            let node = Event::new(Arc::clone(found), snapshot.provider_name(found.provider_id));
            Edge::new(page.cursor(found), node)
        }));
        Ok(connection)
    }

    /// The stored event with this id (online or not), or null.
    #[graphql(guard = "SearchGuard")]
    async fn event(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Event>, ApiError> {
        let Ok(uuid) = id.parse::<uuid::Uuid>() else {
            return Err(ApiError::BadUserInput(format!(
                "`{}` is not an event id",
                id.as_str()
            )));
        };
        find_event(ctx, EventId(uuid)).await
    }

    /// The object with this global id, or null. An event is as public as `events`; a job,
    /// an outcome or a provider needs a viewer token.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>, ApiError> {
        match GlobalId::parse(&id)? {
            GlobalId::Event(event) => {
                require_search(ctx)?;
                Ok(find_event(ctx, event).await?.map(Node::Event))
            }
            GlobalId::Job(job) => {
                require_viewer(ctx)?;
                let found = query::job::find(&*db(ctx).await?, job).await?;
                Ok(found.map(|j| Node::Job(Job(j))))
            }
            GlobalId::JobOutcome(job) => {
                require_viewer(ctx)?;
                let found = query::job_outcome::find(&*db(ctx).await?, job).await?;
                Ok(found.map(|o| Node::JobOutcome(JobOutcome(o))))
            }
            GlobalId::Provider(provider) => {
                require_viewer(ctx)?;
                let found = query::provider::find_by_id(&*db(ctx).await?, provider).await?;
                Ok(found.map(|p| Node::Provider(Provider::from(p))))
            }
            // A group is counted over a range: there is no one object to fetch again.
            GlobalId::ErrorGroup(..) => Err(ApiError::BadUserInput(
                "an error group is not a node: read it with `errorGroups`".to_owned(),
            )),
        }
    }

    /// What one request may ask for (public): the limits each response's `extensions.cost`
    /// is counted against.
    async fn limits(&self, ctx: &Context<'_>) -> RequestLimits {
        RequestLimits::from(ctx.data_unchecked::<Limits>())
    }

    /// Who the request's token belongs to and what its role allows; null without a valid
    /// token.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<Viewer> {
        let access = ctx.data_opt::<Access>()?;
        access.principal.as_ref().map(Viewer::from)
    }

    /// Every provider, by name; or, with `first`, a page of them: at thousands of providers
    /// their health is megabytes, so a monitoring view asks for a page and passes the last
    /// name it got as `after`. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn providers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to the server's page limit); all without it.")]
        first: Option<i32>,
        #[graphql(desc = "Only those whose name sorts after this one (the last of a page).")]
        after: Option<String>,
    ) -> Result<Vec<Provider>, ApiError> {
        let db = db(ctx).await?;
        let rows = if first.is_none() && after.is_none() {
            query::provider::list(&*db).await?
        } else {
            let max = ctx.data_unchecked::<Limits>().max_page_size;
            let (size, after) =
                PageArgs::forward(first, after.as_deref(), max, |name| Ok(name.to_owned()))?;
            query::provider::page(&*db, after.as_deref(), size as u64).await?
        };
        Ok(rows.into_iter().map(Provider::from).collect())
    }

    /// The provider called `name`, or null. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn provider(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> Result<Option<Provider>, ApiError> {
        Ok(query::provider::find_by_name(&*db(ctx).await?, &name)
            .await?
            .map(Provider::from))
    }

    /// Jobs, in `orderBy` (newest first without one). Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    #[expect(
        clippy::too_many_arguments,
        reason = "each is an argument of the GraphQL field"
    )]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        order_by: Option<JobOrder>,
        #[graphql(desc = "Page size going forward (default 20, at most the server's limit).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page size going backward (at most the server's limit).")] last: Option<
            i32,
        >,
        #[graphql(desc = "Continue backward, before this cursor.")] before: Option<String>,
    ) -> Result<Connection<String, Job, Totals>, ApiError> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let order = query::job::JobOrder::from(order_by.unwrap_or_default());
        let page = JobPage::read(ctx, filter, args, |c| {
            cursors::parse_job_position(order.field, c)
        })
        .await?;
        let rows = query::job::list(
            &*db(ctx).await?,
            &page.filter,
            order,
            page.window,
            page.limit(),
        )
        .await?;
        let total = async { Ok(query::job::count(&*db(ctx).await?, &page.filter).await?) };
        page.connection(ctx, rows, total, |(j, at)| {
            (cursors::job_position_cursor(&at), Job(j))
        })
        .await
    }

    /// The job with this id, or null. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Job>, ApiError> {
        let id = job::job_id(&id)?;
        Ok(query::job::find(&*db(ctx).await?, id).await?.map(Job))
    }

    /// What operators did through the admin mutations, newest first: when, which token, what,
    /// on what, and how it ended. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most the server's limit).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<Connection<String, AuditEntry>, ApiError> {
        let cursor = |c: &str| {
            c.parse::<i64>().map_err(|_| {
                ApiError::BadUserInput(format!("`{c}` is not a cursor of the audit log"))
            })
        };
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        let (size, after) = PageArgs::forward(first, after.as_deref(), max, cursor)?;
        let mut rows = query::audit_log::newest(&*db(ctx).await?, after, size as u64 + 1).await?;
        let more = rows.len() > size;
        rows.truncate(size);
        let mut connection = Connection::new(after.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(row.id.to_string(), AuditEntry::from(row))),
        );
        Ok(connection)
    }

    /// Failures grouped by provider, error kind and normalised message (numbers, ids and
    /// addresses replaced), the group that failed last first: how often each problem
    /// happened in the range, first and last seen, and its last job. Groups are counted by
    /// the hour as failures are recorded; failures recorded before the groups existed are in
    /// none. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn error_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this provider's (by name).")] provider: Option<String>,
        #[graphql(desc = "From this instant (default: 24 hours before `to`).")] from: Option<
            Instant,
        >,
        #[graphql(desc = "Up to this instant (default: now).")] to: Option<Instant>,
        #[graphql(desc = "Page size (default 20, at most the server's limit).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
    ) -> Result<Connection<String, ErrorGroup>, ApiError> {
        let cursor = |c: &str| {
            c.parse::<i64>().map(JobId).map_err(|_| {
                ApiError::BadUserInput(format!("`{c}` is not a cursor of error groups"))
            })
        };
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        let (size, after) = PageArgs::forward(first, after.as_deref(), max, cursor)?;
        let to = to.map_or_else(entity::time::now, |t| t.0);
        let from = from.map_or(to - chrono::TimeDelta::hours(24), |t| t.0);
        if from > to {
            return Err(ApiError::BadUserInput(
                "`from` must not be after `to`".to_owned(),
            ));
        }
        if to - from > MAX_GROUP_RANGE {
            return Err(ApiError::BadUserInput(format!(
                "the range is longer than {} days",
                MAX_GROUP_RANGE.num_days()
            )));
        }
        let db = db(ctx).await?;
        let provider = match &provider {
            Some(name) => Some(provider_named(&*db, name).await?.id),
            None => None,
        };
        let filter = query::error_group::GroupFilter { provider, from, to };
        let mut groups = query::error_group::list(&*db, &filter, after, size as u64 + 1).await?;
        let more = groups.len() > size;
        groups.truncate(size);
        let mut connection = Connection::new(after.is_some(), more);
        connection.edges.extend(groups.into_iter().map(|group| {
            let group = ErrorGroup::from(group);
            Edge::new(group.cursor(), group)
        }));
        Ok(connection)
    }

    /// A provider's finished jobs over a range (default: the last 24 hours, at most 7 days),
    /// in equal intervals (default 24, at most 336): how many finished, how many failed and
    /// their p95 duration in each. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn job_chart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider (by name).")] provider: String,
        #[graphql(desc = "From this instant (default: 24 hours before `to`).")] from: Option<
            Instant,
        >,
        #[graphql(desc = "Up to this instant (default: now).")] to: Option<Instant>,
        #[graphql(desc = "How many intervals (default 24).", default = 24)] intervals: i32,
    ) -> Result<JobChart, ApiError> {
        use entity::query::chart;
        let to = to.map_or_else(entity::time::now, |t| t.0);
        let from = from.map_or(to - chrono::TimeDelta::hours(24), |t| t.0);
        if from >= to || to - from > chart::MAX_RANGE + chart::RANGE_SLACK {
            return Err(ApiError::BadUserInput(format!(
                "`from` must be before `to`, at most {} days before",
                chart::MAX_RANGE.num_days()
            )));
        }
        let intervals = u32::try_from(intervals)
            .ok()
            .filter(|n| (1..=chart::MAX_INTERVALS).contains(n))
            .ok_or_else(|| {
                ApiError::BadUserInput(format!(
                    "`intervals` must be between 1 and {}",
                    chart::MAX_INTERVALS
                ))
            })?;
        let db = db(ctx).await?;
        let found = provider_named(&*db, &provider).await?;
        let points = chart::provider_chart(&*db, found.id, from, to, intervals).await?;
        Ok(JobChart {
            provider: found.name,
            from: Instant(from),
            to: Instant(to),
            points: points.into_iter().map(Into::into).collect(),
        })
    }

    /// The `ingestor run` processes: every live one, and those that stopped or were lost
    /// (their heartbeat three intervals late) since `since`, the newest started first; with
    /// the jobs each runs now. Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn workers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Also those gone since this instant (default: an hour ago).")]
        since: Option<Instant>,
    ) -> Result<Vec<Worker>, ApiError> {
        let now = entity::time::now();
        let since = since.map_or(now - chrono::TimeDelta::hours(1), |t| t.0);
        let db = db(ctx).await?;
        // A live worker beat within three of its intervals; reading ten minutes back keeps
        // every live one (intervals up to 200 s) whatever `since` says.
        let live_since = now - chrono::TimeDelta::minutes(10);
        let rows: Vec<_> = query::worker::recent(&*db, since.min(live_since))
            .await?
            .into_iter()
            .filter(|w| {
                w.heartbeat_at >= since
                    || query::worker::liveness(w, now) == query::worker::Liveness::Live
            })
            .collect();
        let running = query::worker::running_jobs(&*db, rows.iter().map(|w| w.id.clone())).await?;
        Ok(rows
            .into_iter()
            .map(|w| {
                let jobs = running.get(&w.id).copied().unwrap_or(0);
                Worker::new(w, now, jobs)
            })
            .collect())
    }

    /// How many jobs are in each state, of one provider or of all, from counts kept as jobs
    /// change (cheap at any size). Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn job_counts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this provider's jobs (by name).")] provider: Option<String>,
    ) -> Result<JobCounts, ApiError> {
        let db = db(ctx).await?;
        let provider_id = match provider {
            Some(name) => Some(provider_named(&*db, &name).await?.id),
            None => None,
        };
        let counts = query::job_count::by_state(&*db, provider_id).await?;
        Ok(JobCounts::new(&counts, chrono::Utc::now()))
    }

    /// Job outcomes, newest first (the filter applies to their jobs). Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn job_outcomes(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        #[graphql(desc = "Page size going forward (default 20, at most the server's limit).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page size going backward (at most the server's limit).")] last: Option<
            i32,
        >,
        #[graphql(desc = "Continue backward, before this cursor.")] before: Option<String>,
    ) -> Result<Connection<String, JobOutcome, Totals>, ApiError> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let page = JobPage::read(ctx, filter, args, |c| {
            cursors::parse_job_cursor(c).map(JobId)
        })
        .await?;
        let rows =
            query::job_outcome::list(&*db(ctx).await?, &page.filter, page.window, page.limit())
                .await?;
        let total = async { Ok(query::job_outcome::count(&*db(ctx).await?, &page.filter).await?) };
        page.connection(ctx, rows, total, |o| {
            (cursors::job_cursor(o.job_id.0), JobOutcome(o))
        })
        .await
    }

    /// Per-provider totals of the jobs that finished in the range (both bounds optional).
    /// Needs a viewer token.
    #[graphql(guard = "ViewerGuard")]
    async fn provider_stats(
        &self,
        ctx: &Context<'_>,
        from: Option<Instant>,
        to: Option<Instant>,
    ) -> Result<Vec<ProviderStats>, ApiError> {
        let db = db(ctx).await?;
        let totals =
            query::job_outcome::totals_by_provider(&*db, from.map(|t| t.0), to.map(|t| t.0))
                .await?;
        let providers = query::provider::list(&*db).await?;
        Ok(stats::per_provider(providers, &totals))
    }
}
