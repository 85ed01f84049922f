//! HTTP dates (RFC 9110 section 5.6.7, formerly RFC 7231 section 7.1.1.1): the preferred
//! IMF-fixdate, and the two obsolete forms that recipients must still accept.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// UNIX seconds of an HTTP date: `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate),
/// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850; two-digit years are taken in the 50 years up to
/// 2049) or `Sun Nov  6 08:49:37 1994` (asctime). The weekday is not checked. `None` for
/// anything else.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let (weekday, rest) = text.split_once([',', ' '])?;
    if weekday.len() < 3 || !weekday.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
    let (year, month, day, time) = match parts.as_slice() {
        // IMF-fixdate: ", 06 Nov 1994 08:49:37 GMT".
        [day, month, year, time, "GMT"] if text.as_bytes()[weekday.len()] == b',' => (
            year.parse().ok()?,
            month_number(month)?,
            day.parse().ok()?,
            *time,
        ),
        // RFC 850: ", 06-Nov-94 08:49:37 GMT".
        [date, time, "GMT"] if text.as_bytes()[weekday.len()] == b',' => {
            let mut fields = date.split('-');
            let day = fields.next()?.parse().ok()?;
            let month = month_number(fields.next()?)?;
            let short: i64 = fields.next()?.parse().ok()?;
            if fields.next().is_some() || !(0..100).contains(&short) {
                return None;
            }
            let year = if short < 50 {
                2000 + short
            } else {
                1900 + short
            };
            (year, month, day, *time)
        }
        // asctime: " Nov  6 08:49:37 1994".
        [month, day, time, year] => (
            year.parse().ok()?,
            month_number(month)?,
            day.parse().ok()?,
            *time,
        ),
        _ => return None,
    };
    let mut clock = time.split(':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next()?.parse().ok()?;
    if clock.next().is_some()
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !(1000..=9999).contains(&year)
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn month_number(name: &str) -> Option<i64> {
    MONTHS
        .iter()
        .position(|month| *month == name)
        .map(|index| index as i64 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_of_rfc_9110() {
        let expected = Some(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 01:01:01 GMT"),
            Some(951_782_400 + 3_661)
        );
        assert_eq!(
            parse_http_date("Fri, 01 Jan 2021 00:00:00 GMT"),
            Some(1_609_459_200)
        );
        assert_eq!(
            parse_http_date("Wednesday, 01-Jan-31 00:00:00 GMT"),
            Some(1_924_992_000)
        );
    }

    #[test]
    fn anything_else_is_none() {
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
