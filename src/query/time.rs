//! The times of `from=` and `until=`: an RFC 3339 time with its offset, or an
//! age before the time of the request.
//!
//! Both become µs since 1970, the unit of a message's receive time. The
//! current time is an argument: this module reads no clock.

use std::fmt;

/// Why a time was refused; the caller names the parameter and the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// A date and time without `Z` or `±hh:mm`: it could be any of 26 hours.
    NoOffset,
    /// Digits without a unit (`30`).
    NoUnit,
    /// Digits and a unit that is not `s`, `m`, `h` or `d`.
    UnknownUnit,
    /// An age so long that the time it names does not fit in µs since 1970.
    TooLong,
    /// Neither a time nor an age.
    Unrecognised,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeError::NoOffset => {
                "a time needs its offset: Z for UTC or the zone's like +01:00 \
                 (2026-12-01T05:00:00Z)"
            }
            TimeError::NoUnit => "an age needs a unit: s, m, h or d (30s, 10m, 2h, 1d)",
            TimeError::UnknownUnit => "unknown unit: an age is in s, m, h or d (30s, 10m, 2h, 1d)",
            TimeError::TooLong => "an age too long to count back from now",
            TimeError::Unrecognised => {
                "expected an RFC 3339 time with its offset (2026-12-01T05:00:00Z) \
                 or an age (30s, 10m, 2h, 1d)"
            }
        })
    }
}

/// The µs since 1970 that `text` names, ages counted back from `now_us`.
///
/// An age is digits and one unit: `s`, `m`, `h` or `d` (a day is 24 hours).
/// A time is RFC 3339 as jiff reads a timestamp (`T` or a space between date
/// and time, any fraction of a second) and must carry its offset.
pub fn parse_time(text: &[u8], now_us: i64) -> Result<i64, TimeError> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, unit) = text.split_at(digits);
    if digits > 0 && unit.iter().all(u8::is_ascii_alphabetic) {
        return parse_age(number, unit, now_us);
    }
    let text = std::str::from_utf8(text).map_err(|_| TimeError::Unrecognised)?;
    match text.parse::<jiff::Timestamp>() {
        Ok(t) => Ok(t.as_microsecond()),
        // Tell a time without offset apart from noise: it is the mistake a
        // person makes, and the fix is one character.
        Err(_) if text.parse::<jiff::civil::DateTime>().is_ok() => Err(TimeError::NoOffset),
        Err(_) => Err(TimeError::Unrecognised),
    }
}

/// `now_us` less `number` `unit`s; `number` is ASCII digits, at least one.
fn parse_age(number: &[u8], unit: &[u8], now_us: i64) -> Result<i64, TimeError> {
    let unit_us: i64 = match unit {
        b"s" => 1_000_000,
        b"m" => 60_000_000,
        b"h" => 3_600_000_000,
        b"d" => 86_400_000_000,
        b"" => return Err(TimeError::NoUnit),
        _ => return Err(TimeError::UnknownUnit),
    };
    // Digits only, so the one failure left is a number past i64.
    let n: i64 = std::str::from_utf8(number)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(TimeError::TooLong)?;
    n.checked_mul(unit_us)
        .and_then(|age| now_us.checked_sub(age))
        .ok_or(TimeError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_101_200_000_000; // 2026-12-01T05:00:00Z

    fn at(text: &str) -> Result<i64, TimeError> {
        parse_time(text.as_bytes(), NOW)
    }

    #[test]
    fn ages_count_back_from_now() {
        assert_eq!(at("0s"), Ok(NOW));
        assert_eq!(at("30s"), Ok(NOW - 30_000_000));
        assert_eq!(at("10m"), Ok(NOW - 600_000_000));
        assert_eq!(at("2h"), Ok(NOW - 7_200_000_000));
        assert_eq!(at("1d"), Ok(NOW - 86_400_000_000));
        assert_eq!(at("007m"), Ok(NOW - 420_000_000));
        // Older than 1970 is still a time; messages are just all after it.
        assert_eq!(at("30000d"), Ok(NOW - 30_000 * 86_400_000_000));
    }

    #[test]
    fn bad_ages() {
        assert_eq!(at("30"), Err(TimeError::NoUnit));
        assert_eq!(at("10x"), Err(TimeError::UnknownUnit));
        assert_eq!(at("10ms"), Err(TimeError::UnknownUnit));
        assert_eq!(at("1H"), Err(TimeError::UnknownUnit));
        assert_eq!(at("1w"), Err(TimeError::UnknownUnit));
        assert_eq!(at("99999999999999999999s"), Err(TimeError::TooLong));
        assert_eq!(at("9223372036854775807d"), Err(TimeError::TooLong));
        assert_eq!(
            parse_time(b"9223372036854775s", i64::MIN),
            Err(TimeError::TooLong)
        );
        for junk in ["", "s", "-5m", "5 m", "1h30m", "1.5h", "\u{ff}"] {
            assert_eq!(at(junk), Err(TimeError::Unrecognised), "{junk:?}");
        }
    }

    #[test]
    fn rfc3339_times_with_their_offset() {
        assert_eq!(at("2026-12-01T05:00:00Z"), Ok(NOW));
        assert_eq!(at("2026-12-01T06:00:00+01:00"), Ok(NOW));
        assert_eq!(at("2026-12-01T00:30:00-04:30"), Ok(NOW));
        assert_eq!(at("2026-12-01 05:00:00z"), Ok(NOW));
        assert_eq!(at("2026-12-01T05:00:00.000001Z"), Ok(NOW + 1));
        // Nanoseconds are cut to the µs of receive times.
        assert_eq!(at("2026-12-01T05:00:00.000001999Z"), Ok(NOW + 1));
        assert_eq!(at("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(at("1969-12-31T23:59:59Z"), Ok(-1_000_000));
    }

    #[test]
    fn a_time_without_offset_is_refused() {
        assert_eq!(at("2026-12-01T05:00:00"), Err(TimeError::NoOffset));
        assert_eq!(at("2026-12-01T05:00"), Err(TimeError::NoOffset));
        assert_eq!(at("2026-12-01"), Err(TimeError::NoOffset));
        assert_eq!(at("2026-13-01T05:00:00Z"), Err(TimeError::Unrecognised));
        assert_eq!(at("yesterday"), Err(TimeError::Unrecognised));
    }

    #[test]
    fn reasons_are_one_line() {
        for e in [
            TimeError::NoOffset,
            TimeError::NoUnit,
            TimeError::UnknownUnit,
            TimeError::TooLong,
            TimeError::Unrecognised,
        ] {
            assert!(!e.to_string().contains('\n'));
        }
    }
}
