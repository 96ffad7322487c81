//! `/livez`, `/readyz` and `/metrics`.

use reqwest::StatusCode;
use test_support::Backend;

use crate::app::{spawn_app, spawn_app_with_samples};

#[tokio::test]
async fn live_and_ready_when_the_database_answers() {
    let app = spawn_app(Backend::Postgres).await;
    let live = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.headers().contains_key("x-request-id"));
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
}

#[tokio::test]
async fn search_stays_ready_when_the_database_is_gone() {
    let app = spawn_app_with_samples(Backend::Sqlite).await;
    let (_, before) = app.search("").await;
    app.test_db.db.close_by_ref().await.unwrap();

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "search can still serve");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "down");
    let (status, during) = app.search("").await;
    assert_eq!(status, 200);
    assert_eq!(during, before, "the last snapshot keeps serving");
    // What needs the database says so with a code, and no database text.
    let jobs = app
        .graphql("{ jobs { edges { node { id } } } }", serde_json::json!({}))
        .await;
    let code = jobs["errors"][0]["extensions"]["code"].as_str().unwrap();
    assert!(matches!(code, "UNAVAILABLE" | "INTERNAL"), "{jobs}");
    assert!(
        !jobs.to_string().to_lowercase().contains("sqlite"),
        "{jobs}"
    );
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_jobs_and_providers() {
    let app = spawn_app_with_samples(Backend::Postgres).await;
    app.search("?starts_at=2021-01-01T00:00:00Z").await;
    app.search("?starts_at=nope").await;
    app.graphql("{ nope }", serde_json::json!({})).await;
    let (_, text) = app.get("/metrics").await;
    for expected in [
        r#"http_requests_total{route="/search",status="200"} 1"#,
        r#"http_requests_total{route="/search",status="400"} 1"#,
        r#"http_request_duration_seconds_count{route="/search"} 2"#,
        r#"graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1"#,
        r#"jobs{state="completed"} 3"#,
        r#"provider_last_success_timestamp_seconds{provider="acme"}"#,
        "search_index_events 3",
        "database_up 1",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains("starts_at"),
        "labels are route templates, not raw URLs"
    );
}

/// One parsed scrape: each sample's value by metric name and labels, and its text.
struct Scrape(prometheus_parse::Scrape, String);

impl Scrape {
    async fn of(app: &crate::app::TestApp) -> Self {
        let (status, text) = app.get("/metrics").await;
        assert_eq!(status, 200);
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus can read /metrics");
        Self(parsed, text)
    }

    /// The names of the series in the text, and of those its `# TYPE` lines declare (with a
    /// histogram's `_bucket`, `_sum` and `_count`).
    fn series_names(&self) -> std::collections::HashSet<String> {
        let mut names = std::collections::HashSet::new();
        for line in self.1.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let mut parts = declared.split(' ');
                let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if kind == "histogram" {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                names.insert(name.to_owned());
            } else if !line.starts_with('#')
                && let Some(name) = line.split(['{', ' ']).next().filter(|n| !n.is_empty())
            {
                names.insert(name.to_owned());
            }
        }
        names
    }

    /// The samples of `metric` whose labels include `labels`.
    fn samples(&self, metric: &str, labels: &[(&str, &str)]) -> Vec<&prometheus_parse::Sample> {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect()
    }

    /// The one value of `metric` with `labels`.
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        match self.samples(metric, labels).as_slice() {
            [one] => match &one.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{metric} {labels:?} is {other:?}"),
            },
            many => panic!("{metric} {labels:?}: {} samples", many.len()),
        }
    }

    /// The buckets of histogram `metric` with `labels`: (upper bound, cumulative count).
    fn buckets(&self, metric: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        match self.samples(metric, labels).as_slice() {
            [one] => match &one.value {
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().map(|b| (b.less_than, b.count)).collect()
                }
                other => panic!("{metric} {labels:?} is {other:?}"),
            },
            many => panic!("{metric} {labels:?}: {} samples", many.len()),
        }
    }
}

/// `/metrics` read by a Prometheus text parser: finished jobs by provider, status and error
/// kind and a duration histogram by provider that retention does not lower, every state and
/// every provider's last success present at 0, the process's own figures and the build.
#[tokio::test]
async fn metrics_count_finished_jobs_for_good_and_describe_the_process() {
    use test_support::{Fault, ProviderSimulator, TestDb, sample_feed};
    let test_db = TestDb::migrated(Backend::Postgres).await;
    let db = test_db.db.clone();
    crate::app::ingest_samples(&db).await;
    let sim = ProviderSimulator::start(vec![sample_feed("response_1.xml")]).await;
    sim.set_fault(Fault::Status { status: 503 });
    for (name, url) in [("down", sim.url()), ("idle", sim.url())] {
        let changes = entity::query::provider::ProviderChanges {
            url: Some(url.parse().unwrap()),
            ..Default::default()
        };
        entity::query::provider::upsert(&db, &name.parse().unwrap(), changes)
            .await
            .unwrap();
    }
    let report = ingestor::collect::collect_now(
        &db,
        "down",
        ingestor::collector::CollectSettings::allowing_private(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome.status, entity::JobState::Failed);
    let app = crate::app::spawn_app_on(test_db).await;

    let scrape = Scrape::of(&app).await;
    let finished = |s: &Scrape, provider, status, kind| {
        s.value(
            "jobs_finished_total",
            &[
                ("provider", provider),
                ("status", status),
                ("error_kind", kind),
            ],
        )
    };
    assert_eq!(finished(&scrape, "acme", "completed", "none"), 3.0);
    assert_eq!(finished(&scrape, "down", "failed", "http_status"), 1.0);
    assert!(
        scrape
            .samples("jobs_finished_total", &[("provider", "idle")])
            .is_empty()
    );
    let acme = scrape.buckets("job_duration_seconds", &[("provider", "acme")]);
    assert_eq!(acme.len(), 13, "12 bounds and +Inf: {acme:?}");
    assert!(
        acme.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {acme:?}"
    );
    assert_eq!(acme.last().copied(), Some((f64::INFINITY, 3.0)));
    let idle = scrape.buckets("job_duration_seconds", &[("provider", "idle")]);
    assert!(
        idle.iter().all(|(_, n)| *n == 0.0),
        "present at 0: {idle:?}"
    );
    assert_eq!(
        scrape.value("job_duration_seconds_count", &[("provider", "acme")]),
        3.0
    );
    for state in ["pending", "running", "completed", "failed"] {
        scrape.value("jobs", &[("state", state)]);
    }
    assert_eq!(
        scrape.value(
            "provider_last_success_timestamp_seconds",
            &[("provider", "idle")]
        ),
        0.0
    );
    assert!(
        scrape.value(
            "provider_last_success_timestamp_seconds",
            &[("provider", "acme")]
        ) > 0.0
    );
    assert_eq!(
        scrape.value(
            "fever_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    let now = chrono::Utc::now().timestamp() as f64;
    let started = scrape.value("process_start_time_seconds", &[]);
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "{started} vs {now}"
    );
    assert!(scrape.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(scrape.value("process_open_fds", &[]) >= 3.0);
    assert!(scrape.value("process_max_fds", &[]) >= scrape.value("process_open_fds", &[]));
    assert!(scrape.value("process_cpu_seconds_total", &[]) > 0.0);

    the_dashboard_reads_only_series_the_api_serves(&scrape);

    // Retention prunes acme's jobs: the counts by state drop, the totals do not.
    use sea_orm::ConnectionTrait as _;
    app.test_db
        .db
        .execute_unprepared(
            "DELETE FROM job WHERE provider_id = (SELECT id FROM provider WHERE name = 'acme')",
        )
        .await
        .unwrap();
    let after = Scrape::of(&app).await;
    assert_eq!(after.value("jobs", &[("state", "completed")]), 0.0);
    assert_eq!(finished(&after, "acme", "completed", "none"), 3.0);
    assert_eq!(
        after.value("job_duration_seconds_count", &[("provider", "acme")]),
        3.0
    );
}

/// Every metric named in `deploy/grafana-dashboard.json`'s queries is a series of `scrape`.
fn the_dashboard_reads_only_series_the_api_serves(scrape: &Scrape) {
    const PROMQL: &[&str] = &[
        "sum",
        "max",
        "count",
        "topk",
        "rate",
        "histogram_quantile",
        "time",
        "vector",
        "by",
        "without",
        "or",
        "le",
        "status",
        "error_kind",
        "provider",
        "route",
        "code",
        "instance",
        "version",
        "state",
    ];
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let served = scrape.series_names();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            // Drop label matchers and ranges, then read the identifiers left.
            let mut bare = String::new();
            let mut depth = 0;
            for c in expr.chars() {
                match c {
                    '{' | '[' => depth += 1,
                    '}' | ']' => depth -= 1,
                    _ if depth == 0 => bare.push(c),
                    _ => {}
                }
            }
            for word in bare.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.is_empty() || word.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    continue;
                }
                if PROMQL.contains(&word) {
                    continue;
                }
                assert!(
                    served.contains(word),
                    "panel {} reads `{word}`, which /metrics does not serve",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 16, "every panel reads a metric ({checked})");
}

/// The monitoring page is served at `/` and at a job's own address, under the same policy.
#[tokio::test]
async fn a_jobs_page_is_the_monitoring_page_under_its_policy() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/", "/jobs/42", "/jobs/Sm9iOjQy"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        let body = response.text().await.unwrap();
        assert!(body.contains("id=\"job-detail\""), "{path}");
    }
    let nested = app.client.get(app.url("/jobs/1/2")).send().await.unwrap();
    assert_eq!(nested.status(), StatusCode::NOT_FOUND);
}
