//! When a scheduled survey goes: after a delay, at a moment, or at a time of day in the person's
//! time zone ("10:00 local": the next 10:00 where they are, from their `time_zone` property, an
//! IANA name; UTC when they have none). The time zone database is compiled in.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::error::{Error, Result};

/// The longest a send may be scheduled ahead (Delighted allows about a year).
pub const MAX_AHEAD_SECONDS: i64 = 366 * 86_400;
/// The person property naming their time zone.
pub const TIME_ZONE_PROPERTY: &str = "time_zone";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendAt {
    /// Seconds from now (Delighted's `delay`).
    After(i64),
    /// A Unix time.
    At(i64),
    /// The next time this time of day comes in the person's time zone.
    LocalTime(Time),
}

impl SendAt {
    /// Delighted's `delay`, checked: 0 to 366 days.
    pub fn after(delay: i64) -> Result<SendAt> {
        if (0..=MAX_AHEAD_SECONDS).contains(&delay) {
            Ok(SendAt::After(delay))
        } else {
            Err(Error::invalid("delay", "must be 0 to 31622400 seconds (366 days)"))
        }
    }

    /// Ovation's `send_at`: a Unix time, or `HH:MM` in the person's time zone.
    pub fn parse(field: &'static str, value: &serde_json::Value) -> Result<SendAt> {
        let text = match value {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.trim().to_owned(),
            _ => return Err(Error::invalid(field, "must be a Unix time or a time of day (HH:MM)")),
        };
        if let Ok(at) = text.parse::<i64>() {
            return Ok(SendAt::At(at));
        }
        let time = text
            .split_once(':')
            .filter(|(h, m)| h.len() <= 2 && m.len() == 2)
            .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
            .and_then(|(h, m)| Time::new(h, m, 0, 0).ok())
            .ok_or_else(|| Error::invalid(field, "must be a Unix time or a time of day (HH:MM, 00:00 to 23:59)"))?;
        Ok(SendAt::LocalTime(time))
    }

    /// The Unix time it is due, seen at `now`, for a person in `time_zone` (an IANA name).
    pub fn due(self, now: i64, time_zone: Option<&str>) -> Result<i64> {
        let due = match self {
            SendAt::After(delay) => now + delay,
            SendAt::At(at) => at.max(now),
            SendAt::LocalTime(time) => {
                let zone = match time_zone {
                    Some(name) => TimeZone::get(name).map_err(|_| {
                        Error::invalid("properties.time_zone", format!("`{name}` is not an IANA time zone"))
                    })?,
                    None => TimeZone::UTC,
                };
                next_local(now, time, zone)?
            }
        };
        if due > now + MAX_AHEAD_SECONDS {
            return Err(Error::invalid("send_at", "must be within 366 days"));
        }
        Ok(due)
    }
}

/// The first moment at or after `now` whose local time in `zone` is `time` (a time skipped by a
/// daylight-saving change moves forward by the gap: 02:30 becomes 03:30).
fn next_local(now: i64, time: Time, zone: TimeZone) -> Result<i64> {
    let bad = |e: jiff::Error| Error::fault("time zone arithmetic", e);
    let here: Zoned = Timestamp::from_second(now).map_err(bad)?.to_zoned(zone.clone());
    let mut date = here.date();
    loop {
        let at = date
            .to_datetime(time)
            .to_zoned(zone.clone())
            .map_err(bad)?
            .timestamp()
            .as_second();
        if at >= now {
            return Ok(at);
        }
        date = date.tomorrow().map_err(bad)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-29 08:00 UTC: in Copenhagen summer time began at 02:00 that night (UTC+2).
    const MORNING: i64 = 1_774_771_200;

    #[test]
    fn ten_local_is_the_next_ten_where_the_person_is() {
        let ten = SendAt::parse("send_at", &"10:00".into()).unwrap();
        // 10:00 in Copenhagen (UTC+2) is 08:00 UTC: now exactly.
        assert_eq!(ten.due(MORNING, Some("Europe/Copenhagen")).unwrap(), MORNING);
        // In New York it is 04:00: 10:00 comes six hours later.
        assert_eq!(ten.due(MORNING, Some("America/New_York")).unwrap(), MORNING + 6 * 3600);
        // Without a time zone: UTC, two hours later.
        assert_eq!(ten.due(MORNING, None).unwrap(), MORNING + 2 * 3600);
        // In Tokyo (UTC+9) it is 17:00: tomorrow's 10:00, 17 hours later.
        assert_eq!(ten.due(MORNING, Some("Asia/Tokyo")).unwrap(), MORNING + 17 * 3600);
        // 02:30 did not exist in Copenhagen that night: it goes at 03:30 summer time (01:30 UTC).
        let skipped = SendAt::parse("send_at", &"02:30".into()).unwrap();
        let night = MORNING - 8 * 3600;
        assert_eq!(
            skipped.due(night, Some("Europe/Copenhagen")).unwrap(),
            night + 3600 + 1800
        );
    }

    #[test]
    fn bad_times_and_zones_are_refused_with_their_field() {
        for bad in ["25:00", "10:7", "ten", "10:00:00", ""] {
            assert!(SendAt::parse("send_at", &bad.into()).is_err(), "{bad}");
        }
        assert!(SendAt::parse("send_at", &serde_json::json!(true)).is_err());
        assert_eq!(
            SendAt::parse("send_at", &serde_json::json!(MORNING)).unwrap(),
            SendAt::At(MORNING)
        );
        let ten = SendAt::LocalTime(Time::new(10, 0, 0, 0).unwrap());
        let refused = ten.due(MORNING, Some("Mars/Olympus")).unwrap_err().to_string();
        assert!(refused.contains("time_zone"), "{refused}");
        assert!(SendAt::At(MORNING + MAX_AHEAD_SECONDS + 10).due(MORNING, None).is_err());
        assert_eq!(
            SendAt::At(MORNING - 60).due(MORNING, None).unwrap(),
            MORNING,
            "the past is now"
        );
        assert!(SendAt::after(-1).is_err() && SendAt::after(MAX_AHEAD_SECONDS + 1).is_err());
    }
}
