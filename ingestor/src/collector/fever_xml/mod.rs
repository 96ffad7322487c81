//! The `fever_xml` collector's pure half: from a feed body to validated records. The
//! collector reads a feed as a stream ([`read_stream`]), so the body is never held whole; a
//! body in memory reads the same ([`read_feed`], on two threads when it is large).

pub mod parse;
pub mod validate;

use std::{collections::HashMap, io::BufRead};

use entity::record::EventRecord;

pub use parse::{Dialect, ParseError};
pub use validate::{RecordLimits, Rejection};

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
    /// The (base event id, event id) of every rejected record that had both: the feed still
    /// lists those events, so the store does not count them as stopped.
    pub rejected_ids: Vec<(String, String)>,
    /// Valid records that repeated an earlier triple and replaced it.
    pub duplicates: usize,
}

/// Feeds at least this large are read on two threads (see [`read_feed`]).
const PARALLEL_MIN_BYTES: usize = 512 * 1024;

/// Parses `body`, validates each record alone in the time zone `zone` and against `limits`,
/// and merges records that repeat a triple. Fails only when the feed as a whole cannot be
/// read.
///
/// A large feed is cut in two between two base events and the halves are read on two
/// threads, which nearly halves the time on a 2-core machine. The halves must fit together
/// (the elements the first leaves open are exactly those the second closes); if they do not,
/// or either half fails, the feed is read again on one thread, which gives the exact answer
/// or error.
pub fn read_feed(
    body: &[u8],
    zone: chrono_tz::Tz,
    limits: &RecordLimits,
) -> Result<ReadFeed, ParseError> {
    if body.len() < PARALLEL_MIN_BYTES {
        return read_feed_on_one_thread(body, zone, limits);
    }
    let text = parse::utf8(body)?;
    let Some((dialect, cut)) = parse::split_point(text) else {
        return read_feed_on_one_thread(body, zone, limits);
    };
    let max_zones = limits.max_zones_per_event;
    let (first, second) = text.split_at(cut);
    let expected = estimated_records(body);
    let halves = std::thread::scope(|scope| {
        let later = scope.spawn(move || {
            let mut merger = Merger::with_capacity(expected.div_ceil(2));
            let end = parse::parse_region(second, Some(dialect), max_zones, |base, event| {
                merger.add(validate::validate(base, event, zone, limits));
            });
            end.map(|end| (merger, end))
        });
        // The first half's list receives the second's: sized for the whole feed.
        let mut merger = Merger::with_capacity(expected);
        let end = parse::parse_region(first, None, max_zones, |base, event| {
            merger.add(validate::validate(base, event, zone, limits));
        });
        let later = later
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        end.ok()
            .zip(later.ok())
            .map(|(end, later)| ((merger, end), later))
    });
    match halves {
        Some(((mut merger, first_end), (later, second_end)))
            if first_end.dialect == dialect && fits(&first_end, &second_end) =>
        {
            merger.absorb(later);
            Ok(merger.finish(parse::ParseSummary {
                dialect,
                events: first_end.events + second_end.events,
            }))
        }
        _ => read_feed_on_one_thread(body, zone, limits),
    }
}

/// Whether the second region closes exactly what the first left open, and nothing follows.
fn fits(first: &parse::RegionEnd, second: &parse::RegionEnd) -> bool {
    second.open.is_empty()
        && !second.trailing_text
        && first.open.iter().rev().eq(second.closed_before.iter())
}

/// [`read_feed`] on the calling thread only.
pub fn read_feed_on_one_thread(
    body: &[u8],
    zone: chrono_tz::Tz,
    limits: &RecordLimits,
) -> Result<ReadFeed, ParseError> {
    let mut merger = Merger::with_capacity(estimated_records(body));
    let summary = parse::parse_feed(body, limits.max_zones_per_event, |base, event| {
        merger.add(validate::validate(base, event, zone, limits));
    })?;
    Ok(merger.finish(summary))
}

/// Reads a feed from `input` as it arrives, as [`read_feed_on_one_thread`] reads a body in
/// memory: only the event being read is held, besides the records. `size` is what the body
/// may weigh at most (its announced length, or the size cap), to size the record list once.
pub fn read_stream(
    input: impl BufRead,
    size: u64,
    zone: chrono_tz::Tz,
    limits: &RecordLimits,
) -> Result<ReadFeed, ParseError> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    // The list is reserved for as many records as the body could hold: address space, not
    // memory (pages are written, so resident, only as records arrive), and no outgrown list
    // left resident by growth. The index is probed at random, so every page of a table is soon
    // resident: it starts at a typical record size (~700 bytes) and grows if need be.
    let mut merger = Merger {
        records: Vec::with_capacity(size / MIN_RECORD_BYTES),
        index: HashMap::with_capacity(size / TYPICAL_RECORD_BYTES),
        ..Merger::default()
    };
    let summary = parse::parse_stream(input, limits.max_zones_per_event, |base, event| {
        merger.add(validate::validate(base, event, zone, limits));
    })?;
    Ok(merger.finish(summary))
}

/// No valid record is shorter in a feed.
const MIN_RECORD_BYTES: usize = 64;

/// A record with a few zones, as providers write them.
const TYPICAL_RECORD_BYTES: usize = 1024;

/// How many records `body` may hold, to size the record list once: each growth by doubling
/// would leave the outgrown list resident for a while (the allocator purges freed memory
/// lazily), and the list of a large feed is tens of megabytes. The count of event tags, but
/// never more than one per 64 bytes of body, as no valid record is shorter, so a body of bare
/// tags cannot make it reserve much more than the body itself.
fn estimated_records(body: &[u8]) -> usize {
    let count = |tag: &[u8]| memchr::memmem::find_iter(body, tag).count();
    (count(b"<event ") + count(b"<plan ")).min(body.len() / MIN_RECORD_BYTES)
}

/// Collects validated records in feed order, merging repeated triples (last wins).
#[derive(Default)]
struct Merger {
    records: Vec<EventRecord>,
    // Keyed by a 128-bit hash of the triple's two ids, so no key is allocated per record.
    index: HashMap<u128, usize>,
    rejections: Vec<Rejection>,
    rejected_ids: Vec<(String, String)>,
    rejected: usize,
    duplicates: usize,
}

impl Merger {
    fn with_capacity(records: usize) -> Self {
        Self {
            records: Vec::with_capacity(records),
            index: HashMap::with_capacity(records),
            ..Self::default()
        }
    }

    fn add(&mut self, validated: Result<EventRecord, Rejection>) {
        match validated {
            Ok(record) => {
                let key = triple_key(&record.base_event_id, &record.event_id);
                match self.index.get(&key) {
                    Some(&at) => {
                        self.duplicates += 1;
                        self.records[at] = record;
                    }
                    None => {
                        self.index.insert(key, self.records.len());
                        self.records.push(record);
                    }
                }
            }
            Err(rejection) => {
                self.rejected += 1;
                if let (Some(base), Some(event)) = (&rejection.base_event_id, &rejection.event_id) {
                    self.rejected_ids.push((base.clone(), event.clone()));
                }
                if self.rejections.len() < KEPT_REJECTIONS {
                    self.rejections.push(rejection);
                }
            }
        }
    }

    /// Adds what `later` collected from the rest of the same feed, as if read in one go.
    fn absorb(&mut self, later: Self) {
        self.duplicates += later.duplicates;
        for record in later.records {
            self.add(Ok(record));
        }
        self.rejected += later.rejected;
        self.rejected_ids.extend(later.rejected_ids);
        let room = KEPT_REJECTIONS.saturating_sub(self.rejections.len());
        self.rejections
            .extend(later.rejections.into_iter().take(room));
    }

    fn finish(self, summary: parse::ParseSummary) -> ReadFeed {
        ReadFeed {
            dialect: summary.dialect,
            records: self.records,
            seen: summary.events,
            rejected: self.rejected,
            rejections: self.rejections,
            rejected_ids: self.rejected_ids,
            duplicates: self.duplicates,
        }
    }
}

fn triple_key(base_event_id: &str, event_id: &str) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&(base_event_id.len() as u64).to_le_bytes());
    hasher.update(base_event_id.as_bytes());
    hasher.update(event_id.as_bytes());
    hasher.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: RecordLimits = RecordLimits {
        max_zones_per_event: 1_000,
        min_year: 1970,
        max_year: 2200,
        max_title_chars: 500,
        max_zone_name_chars: 200,
        max_zone_capacity: 1_000_000,
    };

    #[test]
    fn the_record_estimate_counts_event_tags_within_the_body_size() {
        let feed = read_feed(&fixture("response_1.xml"), chrono_tz::UTC, &L).unwrap();
        assert!(estimated_records(&fixture("response_1.xml")) >= feed.seen);
        assert_eq!(estimated_records(&fixture("plan_format/response_1.xml")), 4);
        let tags = b"<event ".repeat(1_000);
        assert_eq!(estimated_records(&tags), 7_000 / 64);
    }

    #[test]
    fn the_test_limits_are_the_defaults() {
        assert_eq!(L, RecordLimits::default());
    }

    #[test]
    fn an_event_with_too_many_zones_is_rejected_alone_without_holding_them() {
        let zones = "<zone zone_id=\"1\" capacity=\"1\" price=\"1.00\"/>".repeat(50_000);
        let body = format!(
            "<eventList><output>\
             <base_event base_event_id=\"1\" title=\"Zones\" sell_mode=\"online\">\
             <event event_id=\"1\" event_start_date=\"2021-01-01T10:00:00\" event_end_date=\"2021-01-01T11:00:00\">{zones}</event>\
             <event event_id=\"2\" event_start_date=\"2021-01-01T10:00:00\" event_end_date=\"2021-01-01T11:00:00\"><zone zone_id=\"1\" capacity=\"1\" price=\"1.00\"/></event>\
             </base_event></output></eventList>"
        );
        for feed in [
            read_feed(body.as_bytes(), chrono_tz::UTC, &L).unwrap(),
            read_feed_on_one_thread(body.as_bytes(), chrono_tz::UTC, &L).unwrap(),
        ] {
            assert_eq!((feed.seen, feed.rejected, feed.records.len()), (2, 1, 1));
            assert_eq!(feed.records[0].event_id, "2");
            assert_eq!(
                feed.rejections[0].reason,
                "it has 50000 zones, over the limit of 1000"
            );
        }
        // The parser keeps at most the limit, whatever the event holds.
        let mut kept = 0;
        parse::parse_feed(body.as_bytes(), 1_000, |_, event| {
            kept = kept.max(event.zones().len());
        })
        .unwrap();
        assert_eq!(kept, 1_000);
    }

    #[test]
    fn an_event_dated_year_zero_is_rejected_and_the_rest_stored() {
        let body = br#"<eventList><output>
            <base_event base_event_id="1" title="Old" sell_mode="online">
              <event event_id="1" event_start_date="0000-01-01T00:00:00" event_end_date="0000-01-01T01:00:00"/>
              <event event_id="2" event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00"/>
            </base_event>
        </output></eventList>"#;
        let feed = read_feed(body, chrono_tz::UTC, &L).unwrap();
        assert_eq!((feed.seen, feed.rejected, feed.records.len()), (2, 1, 1));
        assert!(
            feed.rejections[0]
                .reason
                .contains("outside the years 1970 to 2200")
        );
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../fixtures/feeds/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_second_sample_rejects_only_the_impossible_date() {
        let feed = read_feed(&fixture("response_2.xml"), chrono_tz::UTC, &L).unwrap();
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
        let events = read_feed(&fixture("response_1.xml"), chrono_tz::UTC, &L).unwrap();
        let plans = read_feed(&fixture("plan_format/response_1.xml"), chrono_tz::UTC, &L).unwrap();
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
    fn a_stream_reads_what_a_body_reads_in_both_dialects_and_fails_alike() {
        for name in [
            "response_1.xml",
            "response_2.xml",
            "plan_format/response_1.xml",
        ] {
            let body = fixture(name);
            let whole = read_feed(&body, chrono_tz::Europe::Madrid, &L).unwrap();
            let streamed = read_stream(&body[..], 0, chrono_tz::Europe::Madrid, &L).unwrap();
            assert_eq!(streamed, whole, "{name}");
        }
        let body = fixture("response_1.xml");
        let broken: [&[u8]; 4] = [
            &body[..body.len() / 2],
            b"",
            b"<eventList>\xff</eventList>",
            b"<eventList/> trailing",
        ];
        for bad in broken {
            assert!(
                read_feed(bad, chrono_tz::UTC, &L).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(
                read_stream(bad, 0, chrono_tz::UTC, &L).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn two_threads_read_exactly_what_one_thread_reads() {
        let spec = test_support::feedgen::FeedSpec {
            invalid_every: Some(97),
            ..test_support::feedgen::FeedSpec::sized(3_000, 4)
        };
        let body = test_support::feedgen::generate(&spec);
        assert!(body.len() > PARALLEL_MIN_BYTES);
        let two = read_feed(body.as_bytes(), chrono_tz::Europe::Madrid, &L).unwrap();
        let one = read_feed_on_one_thread(body.as_bytes(), chrono_tz::Europe::Madrid, &L).unwrap();
        assert_eq!(two, one);
        assert_eq!(two.seen, 3_000);
        assert!(two.rejected > 0 && two.duplicates == 0);
        let broken = &body.as_bytes()[..body.len() - 100];
        assert!(
            read_feed(broken, chrono_tz::UTC, &L).is_err(),
            "a truncated feed still fails whole"
        );
        // A repeated triple across the two halves merges as in one pass.
        let repeated = format!(
            "{}{}",
            &body[..body.rfind("</output>").unwrap()],
            "<base_event base_event_id=\"1000\" title=\"again\" sell_mode=\"online\"><event event_id=\"1\" event_start_date=\"2021-01-01T10:00:00\" event_end_date=\"2021-01-01T11:00:00\"/></base_event></output></eventList>"
        );
        let two = read_feed(repeated.as_bytes(), chrono_tz::UTC, &L).unwrap();
        let one = read_feed_on_one_thread(repeated.as_bytes(), chrono_tz::UTC, &L).unwrap();
        assert_eq!(two, one);
        assert_eq!(two.duplicates, 1);
        // Content after the root fails whole, in both ways of reading.
        let after = format!("{body}<eventList/>");
        assert!(read_feed(after.as_bytes(), chrono_tz::UTC, &L).is_err());
        let text_after = format!("{body} trailing");
        assert!(read_feed(text_after.as_bytes(), chrono_tz::UTC, &L).is_err());
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
        let feed = read_feed(body, chrono_tz::UTC, &L).unwrap();
        assert_eq!((feed.seen, feed.records.len(), feed.duplicates), (2, 1, 1));
        assert_eq!(feed.records[0].title, "A, again");
    }
}
