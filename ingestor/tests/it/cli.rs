//! The operator interface, run as the real binary.

use std::process::Output;

use test_support::{Backend, TestDb};

async fn ingestor(database_url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ingestor"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The single line of error an operator sees, checked to be one line with no panic.
fn one_error_line(output: &Output) -> String {
    assert!(!output.status.success(), "the command should fail");
    let text = stderr(output);
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains("stack backtrace"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{text}");
    errors[0].to_owned()
}

#[tokio::test]
async fn migrate_then_add_update_and_list_providers_on_postgres() {
    let test_db = TestDb::empty(Backend::Postgres).await;
    let url = test_db.url.expose();

    // Before the deploy step, PostgreSQL binaries refuse to start.
    let refused = ingestor(url, &["provider", "list"]).await;
    assert!(one_error_line(&refused).contains("run `ingestor migrate` first"));

    let status = ingestor(url, &["migrate", "--status"]).await;
    assert!(
        stdout(&status).starts_with("pending"),
        "{}",
        stdout(&status)
    );
    let migrated = ingestor(url, &["migrate"]).await;
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(stdout(&migrated).contains("applied"));
    let again = ingestor(url, &["migrate"]).await;
    assert_eq!(stdout(&again).trim(), "schema is up to date");

    let added = ingestor(
        url,
        &[
            "provider",
            "add",
            "acme",
            "--url",
            "https://feeds.example/acme.xml",
            "--schedule",
            "*/10 * * * * *",
            "--time-zone",
            "Europe/Madrid",
        ],
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(
        stdout(&added).trim(),
        "created provider acme (id 1) at https://feeds.example/acme.xml"
    );

    let updated = ingestor(url, &["provider", "add", "acme", "--disable"]).await;
    assert_eq!(
        stdout(&updated).trim(),
        "updated provider acme (id 1) at https://feeds.example/acme.xml"
    );

    let listed = ingestor(url, &["provider", "list", "--json"]).await;
    let provider: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(provider["name"], "acme");
    assert_eq!(provider["schedule"], "*/10 * * * * *");
    assert_eq!(provider["time_zone"], "Europe/Madrid");
    assert_eq!(provider["url"], "https://feeds.example/acme.xml");
    assert_eq!(provider["enabled"], false);

    let table = ingestor(url, &["provider", "list"]).await;
    assert!(stdout(&table).starts_with("NAME"), "{}", stdout(&table));
}

#[tokio::test]
async fn the_embedded_default_migrates_itself() {
    let test_db = TestDb::empty(Backend::Sqlite).await;
    let listed = ingestor(test_db.url.expose(), &["provider", "list"]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains("no providers yet"));
}

#[tokio::test]
async fn bad_settings_get_one_line_and_a_failure_exit() {
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let url = test_db.url.expose();
    let cases: [(&[&str], &str); 7] = [
        (
            &["replay", "999"],
            "job 999 has no feed body kept to replay",
        ),
        (
            &[
                "provider",
                "add",
                "p",
                "--url",
                "http://x/f.xml",
                "--pause-after=-1",
            ],
            "pause_after must be between",
        ),
        (
            &[
                "provider",
                "add",
                "p",
                "--url",
                "http://x/f.xml",
                "--schedule",
                "every minute",
            ],
            "invalid cron schedule",
        ),
        (
            &["provider", "add", "p", "--url", "ftp://x/f.xml"],
            "invalid feed URL",
        ),
        (
            &[
                "provider",
                "add",
                "p",
                "--url",
                "http://x/f.xml",
                "--time-zone",
                "Mars/Base",
            ],
            "unknown time zone",
        ),
        (&["provider", "add", "p"], "a feed URL is required"),
        (
            &[
                "provider",
                "add",
                "p",
                "--url",
                "http://x/f.xml",
                "--max-attempts",
                "0",
            ],
            "max_attempts must be between",
        ),
    ];
    for (args, expected) in cases {
        let output = ingestor(url, args).await;
        let line = one_error_line(&output);
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    let listed = ingestor(url, &["provider", "list"]).await;
    assert!(
        stdout(&listed).contains("no providers yet"),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_bad_or_unreachable_database_gets_one_line() {
    let unsupported = ingestor("mysql://root:hunter2@db/x", &["provider", "list"]).await;
    let line = one_error_line(&unsupported);
    assert!(line.contains("unsupported database URL"), "{line}");
    assert!(!line.contains("hunter2"), "the password is masked: {line}");

    // Port 9 (discard) has no PostgreSQL on this machine.
    let unreachable = ingestor(
        "postgres://postgres:pw@127.0.0.1:9/x?sslmode=disable",
        &["provider", "list"],
    )
    .await;
    let line = one_error_line(&unreachable);
    assert!(line.contains("cannot connect to the database"), "{line}");
    assert!(!line.contains(":pw@"), "the password is masked: {line}");

    for database_url in [
        "postgres://postgres@127.0.0.1:9/x?password=hunter2",
        "postgres://postgres:hunter2@127.0.0.1:99999/x",
        "postgres://postgres:hun/ter2@127.0.0.1:9/x",
    ] {
        let output = ingestor(database_url, &["provider", "list"]).await;
        let line = one_error_line(&output);
        assert!(
            !line.contains("hunter2") && !line.contains("hun/ter2"),
            "the password is masked: {line}"
        );
    }
}

#[tokio::test]
async fn private_provider_urls_are_refused_unless_allowed() {
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let url = test_db.url.expose();
    for private in [
        "http://10.0.0.1/feed.xml",
        "http://192.168.1.20/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://0x7f000001/feed.xml",
        "http://localhost:5432/",
        "http://db.localhost/feed.xml",
    ] {
        let output = ingestor(url, &["provider", "add", "p", "--url", private]).await;
        let line = one_error_line(&output);
        assert!(line.contains("refused destination"), "{private}: {line}");
    }
    let listed = ingestor(url, &["provider", "list"]).await;
    assert!(
        stdout(&listed).contains("no providers yet"),
        "nothing was created"
    );

    // The flag (or the environment) allows private and loopback addresses, not metadata.
    let flagged = ingestor(
        url,
        &[
            "provider",
            "add",
            "loop",
            "--url",
            "http://127.0.0.1:8080/feed.xml",
            "--allow-private-providers",
        ],
    )
    .await;
    assert!(flagged.status.success(), "{}", stderr(&flagged));
    let from_env = tokio::process::Command::new(env!("CARGO_BIN_EXE_ingestor"))
        .args([
            "provider",
            "add",
            "lan",
            "--url",
            "http://10.1.2.3/feed.xml",
        ])
        .env("DATABASE_URL", url)
        .env("ALLOW_PRIVATE_PROVIDERS", "true")
        .output()
        .await
        .unwrap();
    assert!(from_env.status.success(), "{}", stderr(&from_env));
    let metadata = ingestor(
        url,
        &[
            "provider",
            "add",
            "meta",
            "--url",
            "http://169.254.169.254/",
            "--allow-private-providers",
        ],
    )
    .await;
    assert!(one_error_line(&metadata).contains("refused even with ALLOW_PRIVATE_PROVIDERS"));
}

#[tokio::test]
async fn provider_urls_are_shown_without_userinfo_or_query_values() {
    let test_db = TestDb::migrated(Backend::Sqlite).await;
    let url = test_db.url.expose();
    let added = ingestor(
        url,
        &[
            "provider",
            "add",
            "acme",
            "--url",
            "https://user:hunter2@feeds.example/acme.xml?key=s3cret&lang=es",
        ],
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    let redacted = "https://***@feeds.example/acme.xml?key=***&lang=***";
    assert_eq!(
        stdout(&added).trim(),
        format!("created provider acme (id 1) at {redacted}")
    );
    let listed = ingestor(url, &["provider", "list", "--json"]).await;
    let provider: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(provider["url"], redacted);
    let table = stdout(&ingestor(url, &["provider", "list"]).await);
    assert!(table.contains(redacted), "{table}");
    assert!(
        !table.contains("hunter2") && !table.contains("s3cret"),
        "{table}"
    );
}

#[tokio::test]
async fn every_bound_is_shown_in_help_with_its_default_and_variable() {
    for command in [["collect", "--help"], ["run", "--help"]] {
        let output = ingestor("sqlite::memory:", &command).await;
        let help = stdout(&output);
        for expected in [
            "--allow-private-providers",
            "ALLOW_PRIVATE_PROVIDERS",
            "--max-zones-per-event <MAX_ZONES_PER_EVENT>",
            "[env: MAX_ZONES_PER_EVENT=]",
            "[default: 1000]",
            "--min-event-year",
            "[default: 1970]",
            "--max-event-year",
            "[default: 2200]",
            "--max-title-chars",
            "--max-zone-name-chars",
            "--max-zone-capacity",
        ] {
            assert!(
                help.contains(expected),
                "{command:?} lacks {expected}:\n{help}"
            );
        }
    }
    let help = stdout(&ingestor("sqlite::memory:", &["run", "--help"]).await);
    for expected in [
        "--snapshot-retention-days <SNAPSHOT_RETENTION_DAYS>",
        "[env: FEED_SNAPSHOT_RETENTION_DAYS=]",
        "[default: 7]",
        "[env: FEED_SNAPSHOT_MAX_MIB=]",
        "[default: 1024]",
        "--no-feed-snapshots",
    ] {
        assert!(help.contains(expected), "run lacks {expected}:\n{help}");
    }
    let help = stdout(&ingestor("sqlite::memory:", &["provider", "add", "--help"]).await);
    assert!(help.contains("--allow-private-providers"), "{help}");
    for expected in [
        "--backoff-after <BACKOFF_AFTER>",
        "[default for a new provider: 3]",
        "--pause-after <PAUSE_AFTER>",
        "[default for a new provider: 30]",
    ] {
        assert!(
            help.contains(expected),
            "provider add lacks {expected}:\n{help}"
        );
    }
}
