//! The `fever_xml` collector's pure half: from a feed body to validated records.

pub mod parse;
pub mod validate;

use std::collections::HashMap;

use entity::query::event::EventRecord;

pub use parse::{Dialect, ParseError};
pub use validate::Rejection;

/// How many rejection reasons an outcome keeps (the count covers them all).
pub const KEPT_REJECTIONS: usize = 20;

/// A feed read and validated, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFeed {
    /// Its dialect.
    pub dialect: Dialect,
    /// Valid records, one per identity triple (a triple repeated in the feed keeps its last
    /// occurrence), in feed order.
    pub records: Vec<EventRecord>,
    /// Event records in the feed, valid or not.
    pub seen: usize,
    /// Records rejected by validation.
    pub rejected: usize,
    /// The first [`KEPT_REJECTIONS`] rejections.
    pub rejections: Vec<Rejection>,
    /// Valid records that repeated an earlier triple and replaced it.
    pub duplicates: usize,
}

/// Parses `body`, validates each record alone in the time zone `zone`, and merges records
/// that repeat a triple. Fails only when the feed as a whole cannot be read.
pub fn read_feed(body: &[u8], zone: chrono_tz::Tz) -> Result<ReadFeed, ParseError> {
    let mut records: Vec<EventRecord> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut rejections = Vec::new();
    let mut rejected = 0;
    let mut duplicates = 0;
    let summary = parse::parse_feed(body, |base, event| {
        match validate::validate(base, event, zone) {
            Ok(record) => {
                let key = (record.base_event_id.clone(), record.event_id.clone());
                match index.get(&key) {
                    Some(&at) => {
                        duplicates += 1;
                        records[at] = record;
                    }
                    None => {
                        index.insert(key, records.len());
                        records.push(record);
                    }
                }
            }
            Err(rejection) => {
                rejected += 1;
                if rejections.len() < KEPT_REJECTIONS {
                    rejections.push(rejection);
                }
            }
        }
    })?;
    Ok(ReadFeed {
        dialect: summary.dialect,
        records,
        seen: summary.events,
        rejected,
        rejections,
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../fixtures/feeds/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_second_sample_rejects_only_the_impossible_date() {
        let feed = read_feed(&fixture("response_2.xml"), chrono_tz::UTC).unwrap();
        assert_eq!(feed.seen, 3);
        assert_eq!(feed.rejected, 1);
        assert_eq!(feed.records.len(), 2);
        assert_eq!(feed.rejections[0].base_event_id.as_deref(), Some("444"));
        assert!(
            feed.rejections[0].reason.contains("2021-09-31"),
            "{}",
            feed.rejections[0].reason
        );
    }

    #[test]
    fn both_dialects_read_to_the_same_records() {
        let events = read_feed(&fixture("response_1.xml"), chrono_tz::UTC).unwrap();
        let plans = read_feed(&fixture("plan_format/response_1.xml"), chrono_tz::UTC).unwrap();
        assert_eq!(plans.dialect, Dialect::PlanList);
        // The plan sample has one more plan (1643) and is otherwise the same catalogue.
        let without_extra: Vec<_> = plans
            .records
            .iter()
            .filter(|r| r.event_id != "1643")
            .cloned()
            .collect();
        assert_eq!(without_extra, events.records);
    }

    #[test]
    fn a_repeated_triple_keeps_its_last_values() {
        let body = br#"<eventList><output>
            <base_event base_event_id="1" title="A" sell_mode="online">
              <event event_id="2" event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00"/>
            </base_event>
            <base_event base_event_id="1" title="A, again" sell_mode="online">
              <event event_id="2" event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T12:00:00"/>
            </base_event>
        </output></eventList>"#;
        let feed = read_feed(body, chrono_tz::UTC).unwrap();
        assert_eq!((feed.seen, feed.records.len(), feed.duplicates), (2, 1, 1));
        assert_eq!(feed.records[0].title, "A, again");
    }
}
