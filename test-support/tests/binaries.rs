//! The test-support binaries as processes: `provider-simulator` serves the feeds it is given in
//! sequence and stops on SIGTERM; `feedgen` writes a feed of the asked size. Having these tests
//! here also makes `cargo nextest run --workspace` build both binaries, which the end-to-end
//! test of the root package spawns.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use test_support::{fixtures_dir, http_client};

#[tokio::test]
async fn the_provider_simulator_serves_its_feeds_in_sequence_and_stops_on_sigterm() {
    let feeds = fixtures_dir().join("feeds");
    let first = feeds.join("response_1.xml");
    let second = feeds.join("response_2.xml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_provider-simulator"))
        .arg(&first)
        .arg(&second)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    let client = http_client();
    for expected in [&first, &second] {
        let response = client.get(format!("{base}/feed.xml")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), std::fs::read(expected).unwrap().as_slice());
    }

    let pid = child.id().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the simulator did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
}

#[test]
fn feedgen_writes_a_feed_of_the_asked_size() {
    let output = Command::new(env!("CARGO_BIN_EXE_feedgen"))
        .args(["--events", "30", "--zones", "3", "--seed", "7"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let feed = String::from_utf8(output.stdout).unwrap();
    assert!(feed.starts_with("<?xml"), "{}", &feed[..feed.len().min(80)]);
    assert_eq!(feed.matches("<base_event ").count(), 3);
    assert_eq!(feed.matches("<event ").count(), 30);
    assert_eq!(feed.matches("<zone ").count(), 30 * 3);
}
