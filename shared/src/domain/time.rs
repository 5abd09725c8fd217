//! Calendar arithmetic on unix seconds (UTC), for month partitions and dates in exports, and the
//! bounds of a time given as input.

use crate::error::{Error, Result};

/// The latest time taken as input (2100-01-01 UTC).
pub const LATEST: i64 = 4_102_444_800;

/// A Unix time given for `field`, within 1970 to 2100.
pub fn within_bounds(field: &'static str, unix_seconds: i64) -> Result<i64> {
    if (0..=LATEST).contains(&unix_seconds) {
        Ok(unix_seconds)
    } else {
        Err(Error::invalid(
            field,
            "must be a Unix time in seconds, from 1970 to 2100",
        ))
    }
}

/// The civil date (year, month, day) of a unix time, UTC (Howard Hinnant's algorithm).
pub fn civil_date(unix_seconds: i64) -> (i64, u32, u32) {
    let days = unix_seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM` of a unix time, UTC.
pub fn month_of(unix_seconds: i64) -> String {
    let (y, m, _) = civil_date(unix_seconds);
    format!("{y:04}-{m:02}")
}

/// The month before `month` (`2026-01` → `2025-12`).
pub fn previous_month(month: &str) -> String {
    let (y, m) = month.split_once('-').unwrap_or(("1970", "01"));
    let (y, m): (i64, u32) = (y.parse().unwrap_or(1970), m.parse().unwrap_or(1));
    if m == 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    }
}

/// The unix time of the first second of the month after `unix_seconds`' month, UTC.
pub fn start_of_next_month(unix_seconds: i64) -> i64 {
    let (y, m, _) = civil_date(unix_seconds);
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * 86_400
}

/// The unix time of the first second of `unix_seconds`' month, UTC.
pub fn start_of_month(unix_seconds: i64) -> i64 {
    let (y, m, _) = civil_date(unix_seconds);
    days_from_civil(y, m, 1) * 86_400
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(951_782_400), (2000, 2, 29));
        assert_eq!(month_of(1_795_305_600), "2026-11");
        assert_eq!(start_of_next_month(1_795_305_600), 1_796_083_200);
        assert_eq!(month_of(start_of_next_month(1_795_305_600)), "2026-12");
        assert_eq!(month_of(start_of_next_month(1_795_305_600) - 1), "2026-11");
        assert_eq!(month_of(start_of_month(1_795_305_600)), "2026-11");
        assert_eq!(month_of(start_of_month(1_795_305_600) - 1), "2026-10");
        // Every day for 400 years round-trips.
        for d in (0..146_097).step_by(7) {
            let (y, m, day) = civil_date(d * 86_400);
            assert_eq!(days_from_civil(y, m, day), d);
        }
    }
}
