//! UTC calendar arithmetic for the `from`/`to` parameters and the dates in responses, without a
//! date-time dependency: days since the epoch ⇄ civil date (H. Hinnant's algorithms).

/// Seconds in a day.
pub const DAY: u32 = 86_400;
/// Seconds in an hour.
pub const HOUR: u32 = 3_600;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day number.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01, ClickHouse's `Date`).
pub fn format_day(day: u16) -> String {
    let (y, m, d) = civil_from_days(i64::from(day));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn format_timestamp(secs: u32) -> String {
    let (y, m, d) = civil_from_days(i64::from(secs / DAY));
    let rest = secs % DAY;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / HOUR,
        rest % HOUR / 60,
        rest % 60
    )
}

/// Reads `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM[:SS]Z` or Unix seconds. `None` for
/// anything else, including dates before 1970 or after 2105 (outside ClickHouse's `DateTime`).
pub fn parse_timestamp(text: &str) -> Option<u32> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = number(parts.next()?, 4)?;
    let month: u32 = number(parts.next()?, 2)?;
    let day: u32 = number(parts.next()?, 2)?;
    if parts.next().is_some()
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in(year, month)
    {
        return None;
    }
    let seconds_of_day = match time {
        None => 0,
        Some(time) => {
            let time = time
                .strip_suffix('Z')
                .or_else(|| time.strip_suffix("+00:00"))?;
            let mut parts = time.split(':');
            let h: u32 = number(parts.next()?, 2)?;
            let m: u32 = number(parts.next()?, 2)?;
            let s: u32 = match parts.next() {
                Some(s) => number(s, 2)?,
                None => 0,
            };
            if parts.next().is_some() || h > 23 || m > 59 || s > 59 {
                return None;
            }
            h * HOUR + m * 60 + s
        }
    };
    let secs = days_from_civil(year, month, day) * i64::from(DAY) + i64::from(seconds_of_day);
    u32::try_from(secs).ok()
}

fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_convert_both_ways() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(20_454), "2026-01-01");
        assert_eq!(format_timestamp(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(format_timestamp(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(parse_timestamp("2026-01-01"), Some(1_767_225_600));
        assert_eq!(parse_timestamp("2000-02-29T12:34:56Z"), Some(951_827_696));
        assert_eq!(parse_timestamp("2000-02-29T12:34Z"), Some(951_827_640));
        assert_eq!(parse_timestamp("1767225600"), Some(1_767_225_600));
    }

    #[test]
    fn every_day_datetime_can_hold_round_trips() {
        for day in 0..49_000u16 {
            let secs = u32::from(day) * DAY;
            assert_eq!(parse_timestamp(&format_day(day)), Some(secs), "day {day}");
            assert_eq!(
                parse_timestamp(&format_timestamp(secs + 3_723)),
                Some(secs + 3_723)
            );
        }
    }

    #[test]
    fn malformed_or_impossible_dates_are_refused() {
        for text in [
            "",
            "2026-1-01",
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-01-01T24:00Z",
            "2026-01-01T10:00",
            "1969-12-31",
            "2026-01-01-01",
            "yesterday",
            "99999999999",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text:?}");
        }
    }
}
