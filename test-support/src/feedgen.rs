//! A feed generator: realistic Fever XML feeds of any size, in either dialect, the same for the
//! same seed (tests and benchmarks compare runs).
//!
//! Base events get titles from a small vocabulary, an organiser, and a sell mode (online for
//! the configured share); each has a number of events (sessions) over two years from the
//! start year, each with zones whose prices are exact cents. Event ids repeat across base
//! events, as in the real samples. Optionally every n-th event carries an impossible date, as
//! the real sample does.

use std::fmt::Write;

/// The two dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedDialect {
    /// `eventList/base_event/event/zone`.
    EventList,
    /// `planList/base_plan/plan/zone` with `plan_*` attributes.
    PlanList,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSpec {
    /// Base events.
    pub base_events: usize,
    /// Events per base event.
    pub events_per_base: usize,
    /// Zones per event.
    pub zones_per_event: usize,
    /// The dialect.
    pub dialect: FeedDialect,
    /// The seed; the same spec gives the same feed.
    pub seed: u64,
    /// Share of base events sold online, in `[0, 1]`.
    pub online_share: f64,
    /// Every n-th event gets the impossible date `2021-09-31` (none if `None`).
    pub invalid_every: Option<usize>,
    /// Events fall in this year and the next.
    pub start_year: i32,
}

impl Default for FeedSpec {
    fn default() -> Self {
        Self {
            base_events: 100,
            events_per_base: 5,
            zones_per_event: 5,
            dialect: FeedDialect::EventList,
            seed: 1,
            online_share: 0.8,
            invalid_every: None,
            start_year: 2021,
        }
    }
}

impl FeedSpec {
    /// A feed of `events` events (over `events / 10` base events) with `zones` zones each.
    pub fn sized(events: usize, zones_per_event: usize) -> Self {
        let events_per_base = 10.min(events.max(1));
        Self {
            base_events: events.div_ceil(events_per_base),
            events_per_base,
            zones_per_event,
            ..Self::default()
        }
    }

    /// Total events in the feed.
    pub fn events(&self) -> usize {
        self.base_events * self.events_per_base
    }
}

/// SplitMix64: tiny, fast, and stable forever, unlike a library RNG whose stream may change.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: [&str; 24] = [
    "Concierto",
    "Noche",
    "Flamenco",
    "Jazz",
    "Gran",
    "Teatro",
    "Sinfonía",
    "Tributo",
    "Comedia",
    "Ópera",
    "Ballet",
    "Festival",
    "Magia",
    "Rock",
    "Acústico",
    "Clásicos",
    "Musical",
    "Gala",
    "Monólogo",
    "Cine",
    "Tango",
    "Swing",
    "Coro",
    "Circo",
];
const ZONES: [&str; 8] = [
    "Platea",
    "Grada 1",
    "Grada 2",
    "Anfiteatro",
    "Palco",
    "Pista",
    "VIP",
    "General",
];

/// Generates the feed `spec` describes.
pub fn generate(spec: &FeedSpec) -> String {
    let mut rng = SplitMix64(spec.seed);
    let (root, base, event, base_id, event_id, start, end) = match spec.dialect {
        FeedDialect::EventList => (
            "eventList",
            "base_event",
            "event",
            "base_event_id",
            "event_id",
            "event_start_date",
            "event_end_date",
        ),
        FeedDialect::PlanList => (
            "planList",
            "base_plan",
            "plan",
            "base_plan_id",
            "plan_id",
            "plan_start_date",
            "plan_end_date",
        ),
    };
    let per_event = 260 + spec.zones_per_event * 110;
    let mut out = String::with_capacity(spec.events() * per_event + spec.base_events * 160 + 256);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" version=\"1.0\">\n   <output>\n"
    );
    let mut n = 0usize;
    for b in 0..spec.base_events {
        let title = format!(
            "{} {} {}",
            WORDS[rng.below(WORDS.len() as u64) as usize],
            WORDS[rng.below(WORDS.len() as u64) as usize],
            b + 1
        );
        let sell_mode = if rng.unit() < spec.online_share {
            "online"
        } else {
            "offline"
        };
        let _ = writeln!(
            out,
            "      <{base} {base_id}=\"{}\" sell_mode=\"{sell_mode}\" organizer_company_id=\"{}\" title=\"{}\">",
            1000 + b,
            1 + rng.below(50),
            escape(&title)
        );
        for e in 0..spec.events_per_base {
            n += 1;
            let day = rng.below(700);
            let hour = 17 + rng.below(6);
            let minutes = [0, 15, 30, 45][rng.below(4) as usize];
            let length_minutes = 60 + 30 * rng.below(5);
            let begins = date_time(spec.start_year, day, hour, minutes);
            let ends = date_time(spec.start_year, day, hour, minutes + length_minutes);
            let (begins, ends) = match spec.invalid_every {
                Some(every) if every > 0 && n.is_multiple_of(every) => (
                    "2021-09-31T20:00:00".to_owned(),
                    "2021-09-31T21:00:00".to_owned(),
                ),
                _ => (begins, ends),
            };
            // Event ids repeat across base events, as in the real feeds.
            let id = 1 + (b * 7 + e) % (spec.base_events * spec.events_per_base / 2 + 1);
            let _ = writeln!(
                out,
                "         <{event} {start}=\"{begins}\" {end}=\"{ends}\" {event_id}=\"{id}\" sell_from=\"{}\" sell_to=\"{}\" sold_out=\"{}\">",
                date_time(spec.start_year - 1, day, 0, 0),
                begins,
                rng.below(10) == 0
            );
            for z in 0..spec.zones_per_event {
                let price = 500 + rng.below(19_500);
                let _ = writeln!(
                    out,
                    "            <zone zone_id=\"{}\" capacity=\"{}\" price=\"{}.{:02}\" name=\"{}\" numbered=\"{}\" />",
                    10 + z,
                    rng.below(500),
                    price / 100,
                    price % 100,
                    ZONES[z % ZONES.len()],
                    rng.below(2) == 0
                );
            }
            let _ = writeln!(out, "         </{event}>");
        }
        let _ = writeln!(out, "      </{base}>");
    }
    let _ = write!(out, "   </output>\n</{root}>\n");
    out
}

/// `YYYY-MM-DDTHH:MM:00` for day `day` (0-based, from January 1st of `year`) at `hour` and
/// `minutes` (which may run past midnight).
fn date_time(year: i32, day: u64, hour: u64, minutes: u64) -> String {
    let total_minutes = day * 24 * 60 + hour * 60 + minutes;
    let start = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let t = start + chrono::TimeDelta::minutes(i64::try_from(total_minutes).unwrap_or(0));
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_feed() {
        let spec = FeedSpec::default();
        assert_eq!(generate(&spec), generate(&spec));
        let other = FeedSpec {
            seed: 2,
            ..FeedSpec::default()
        };
        assert_ne!(generate(&spec), generate(&other));
    }

    #[test]
    fn it_has_the_requested_shape_in_either_dialect() {
        let spec = FeedSpec {
            base_events: 3,
            events_per_base: 4,
            zones_per_event: 2,
            invalid_every: Some(5),
            ..FeedSpec::default()
        };
        let feed = generate(&spec);
        assert_eq!(feed.matches("<base_event ").count(), 3);
        assert_eq!(feed.matches("<event ").count(), 12);
        assert_eq!(feed.matches("<zone ").count(), 24);
        assert_eq!(
            feed.matches("event_start_date=\"2021-09-31T20:00:00")
                .count(),
            2
        );
        let plans = generate(&FeedSpec {
            dialect: FeedDialect::PlanList,
            ..spec
        });
        assert!(plans.contains("<planList") && plans.contains("plan_start_date="));
        assert_eq!(FeedSpec::sized(100_000, 5).events(), 100_000);
    }
}
