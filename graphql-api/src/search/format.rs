//! Formatting of the values both APIs return on the search path: local dates and times
//! (`2021-06-30`, `21:00:00`) and exact prices from cents (`15.05`). Written digit by digit
//! into a buffer: `chrono`'s `format` interprets its pattern on every call, which showed in
//! profiles of the search path.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// `n` in decimal, zero-padded to `width` digits.
pub(crate) fn write_number(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(len)));
    out.extend_from_slice(&digits[i..]);
}

/// `YYYY-MM-DD`; a year outside 0..=9999 gets a sign, as ISO 8601 (and `chrono`) write it.
pub(crate) fn write_date(out: &mut Vec<u8>, t: NaiveDateTime) {
    let year = t.year();
    if year < 0 {
        out.push(b'-');
    } else if year > 9999 {
        out.push(b'+');
    }
    write_number(out, u64::from(year.unsigned_abs()), 4);
    out.push(b'-');
    write_number(out, u64::from(t.month()), 2);
    out.push(b'-');
    write_number(out, u64::from(t.day()), 2);
}

/// `HH:MM:SS`.
pub(crate) fn write_time(out: &mut Vec<u8>, t: NaiveDateTime) {
    write_number(out, u64::from(t.hour()), 2);
    out.push(b':');
    write_number(out, u64::from(t.minute()), 2);
    out.push(b':');
    write_number(out, u64::from(t.second()), 2);
}

/// An exact decimal from cents: `2000` → `20.00`, `-150` → `-1.50`.
pub(crate) fn write_cents(out: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        out.push(b'-');
    }
    let cents = cents.unsigned_abs();
    write_number(out, cents / 100, 1);
    out.push(b'.');
    write_number(out, cents % 100, 2);
}

/// What `write` writes, as a `String`.
pub(crate) fn to_string<T>(value: T, write: fn(&mut Vec<u8>, T)) -> String {
    let mut out = Vec::with_capacity(12);
    write(&mut out, value);
    // Only ASCII digits and punctuation were written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
    }

    #[test]
    fn dates_and_times_match_chrono() {
        for t in [
            at(2021, 6, 30, 21, 0, 0),
            at(999, 1, 9, 0, 5, 9),
            at(2024, 2, 29, 23, 59, 59),
            at(12345, 12, 31, 10, 10, 10),
            at(-44, 3, 15, 12, 0, 0),
        ] {
            assert_eq!(to_string(t, write_date), t.format("%Y-%m-%d").to_string());
            assert_eq!(to_string(t, write_time), t.format("%H:%M:%S").to_string());
        }
    }

    #[test]
    fn cents_are_exact() {
        assert_eq!(to_string(2000, write_cents), "20.00");
        assert_eq!(to_string(5, write_cents), "0.05");
        assert_eq!(to_string(-150, write_cents), "-1.50");
        assert_eq!(to_string(0, write_cents), "0.00");
        assert_eq!(to_string(i64::MIN, write_cents), "-92233720368547758.08");
    }
}
