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
    assert_eq!(stdout(&added).trim(), "created provider acme (id 1)");

    let updated = ingestor(url, &["provider", "add", "acme", "--disable"]).await;
    assert_eq!(stdout(&updated).trim(), "updated provider acme (id 1)");

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
    let cases: [(&[&str], &str); 5] = [
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
}
