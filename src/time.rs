//! Wall-clock time as an input: UNIX timestamps, RFC 3339 formatting and parsing, and short
//! human durations for evidence.
//!
//! Nothing in the checks reads the system clock; the plan carries "now", taken once at start-up
//! (or from `TRTC_PREFLIGHT_NOW`, so tests and reproductions are deterministic).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the UNIX epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The system clock, read once.
    pub fn system_now() -> UnixTime {
        let seconds = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => elapsed.as_secs() as i64,
            Err(before) => -(before.duration().as_secs() as i64),
        };
        UnixTime(seconds)
    }

    /// Parses `1793000000` (UNIX seconds) or `2026-11-28T10:00:00Z` (RFC 3339, UTC or an offset).
    pub fn parse(text: &str) -> Option<UnixTime> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<i64>() {
            return Some(UnixTime(seconds));
        }
        parse_rfc3339(text).map(UnixTime)
    }

    /// RFC 3339 in UTC, to the second: `2026-11-28T10:00:00Z`.
    pub fn rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let second_of_day = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60
        )
    }
}

/// A span of seconds for a person: `3 d 4 h`, `2 h 5 min`, `45 s`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.unsigned_abs();
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, _) if secs == 0 => format!("{minutes} min"),
        (0, 0, _) => format!("{minutes} min {secs} s"),
        (0, _, 0) => format!("{hours} h"),
        (0, _, _) => format!("{hours} h {minutes} min"),
        (_, 0, _) => format!("{days} d"),
        _ => format!("{days} d {hours} h"),
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm, "chrono-Compatible Low-Level Date Algorithms".
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, or a date alone (`YYYY-MM-DD`, midnight UTC).
fn parse_rfc3339(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = number(0..4)?;
    let month = number(5..7)? as u32;
    let day = number(8..10)? as u32;
    if text.get(4..5)? != "-"
        || text.get(7..8)? != "-"
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let date = days_from_civil(year, month, day) * 86_400;
    if text.len() == 10 {
        return Some(date);
    }
    if !matches!(text.get(10..11)?, "T" | "t" | " ")
        || text.get(13..14)? != ":"
        || text.get(16..17)? != ":"
    {
        return None;
    }
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.get(3..4)? == ":" => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    Some(date + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(UnixTime(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime(1_700_086_400).rfc3339(), "2023-11-15T22:13:20Z");
        assert_eq!(UnixTime(2_108_360_000).rfc3339(), "2036-10-23T07:33:20Z");
        assert_eq!(UnixTime(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(UnixTime(-1).rfc3339(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for seconds in [
            0,
            1,
            951_782_400,
            1_700_000_000,
            1_793_000_000,
            4_102_444_800,
            -86_401,
        ] {
            let text = UnixTime(seconds).rfc3339();
            assert_eq!(UnixTime::parse(&text), Some(UnixTime(seconds)), "{text}");
        }
    }

    #[test]
    fn parses_offsets_fractions_dates_and_seconds() {
        assert_eq!(UnixTime::parse("1793000000"), Some(UnixTime(1_793_000_000)));
        assert_eq!(
            UnixTime::parse("2026-11-28"),
            UnixTime::parse("2026-11-28T00:00:00Z")
        );
        assert_eq!(
            UnixTime::parse("2026-11-28T10:00:00.250+02:00"),
            UnixTime::parse("2026-11-28T08:00:00Z")
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-28T25:00:00Z",
            "2026-11-28T10:00:00",
            "2026-11-28T10:00:00+2",
        ] {
            assert_eq!(UnixTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(120), "2 min");
        assert_eq!(human_duration(125), "2 min 5 s");
        assert_eq!(human_duration(7_500), "2 h 5 min");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
        assert_eq!(human_duration(-3600), "1 h");
    }
}
