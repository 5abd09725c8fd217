//! The period and survey a results page shows (its pickers, shared by the overview and the
//! responses feed): the last 7, 30, 90 or 365 days or a custom range of days in the viewer's
//! time zone, and how a trend is cut.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use ovation::domain::Channel;
use ovation::services::results::metrics::{self, MetricsQuery};
use ovation::{Error, Result};
use serde::Serialize;

const DAY: i64 = 86_400;
/// The periods offered, in days.
const PERIODS: [i64; 4] = [7, 30, 90, 365];

/// The pairs of a page's query string.
pub fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>> {
    ovation::http::extract::form_to_pairs(raw.unwrap_or_default().as_bytes())
}

/// The value of `name` in a query's pairs ("" when absent).
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

/// The zone `name` names, with its name; UTC when it names none (absent or unknown).
pub fn zone(name: &str) -> (String, TimeZone) {
    match metrics::zone(name) {
        Ok(tz) => (name.to_owned(), tz),
        Err(_) => ("UTC".to_owned(), TimeZone::UTC),
    }
}

/// What a page says after a change: the text of its `done=` in `said`, if any.
pub fn said(said: &[(&str, &'static str)], pairs: &[(String, String)]) -> Option<&'static str> {
    let done = value(pairs, "done");
    said.iter().find(|(key, _)| *key == done).map(|(_, text)| *text)
}

/// What the pickers chose (defaults where the query says nothing valid).
#[derive(Serialize)]
pub struct Filter {
    pub survey: String,
    /// `7`, `30`, `90`, `365` or `custom`.
    period: String,
    /// The custom range's first and last days (`YYYY-MM-DD`), shown in the form.
    from: String,
    to: String,
    pub by: &'static str,
    pub zone: String,
    #[serde(skip)]
    pub since: i64,
    #[serde(skip)]
    pub until: i64,
    #[serde(skip)]
    pub tz: TimeZone,
}

impl Filter {
    /// The filter a query asks for; a custom range that cannot be read is an error to show.
    pub fn parse(pairs: &[(String, String)], now: i64) -> Result<Filter> {
        let get = |name: &str| value(pairs, name);
        let (zone, tz) = zone(get("zone"));
        let by = match get("by") {
            "week" => "week",
            "month" => "month",
            _ => "day",
        };
        let mut filter = Filter {
            survey: get("survey").to_owned(),
            period: "30".to_owned(),
            from: String::new(),
            to: String::new(),
            by,
            zone,
            since: now - 30 * DAY + 1,
            until: now,
            tz,
        };
        match get("period") {
            "custom" => {
                let day = |name: &str| -> Result<Date> {
                    get(name)
                        .parse::<Date>()
                        .map_err(|_| Error::invalid(name.to_owned(), "must be a date such as 2026-11-30"))
                };
                let (from, to) = (day("from")?, day("to")?);
                if from > to {
                    return Err(Error::invalid("from", "must not be after the last day"));
                }
                let start = |d: Date| {
                    d.to_zoned(filter.tz.clone())
                        .map(|z| z.timestamp().as_second())
                        .map_err(|_| Error::invalid("from", "is out of range"))
                };
                filter.since = start(from)?;
                filter.until = start(to.tomorrow().map_err(|_| Error::invalid("to", "is out of range"))?)? - 1;
                filter.period = "custom".to_owned();
                filter.from = from.to_string();
                filter.to = to.to_string();
            }
            days => {
                if let Some(days) = PERIODS.iter().find(|d| d.to_string() == days) {
                    filter.period = days.to_string();
                    filter.since = now - days * DAY + 1;
                }
            }
        }
        Ok(filter)
    }

    pub fn query(&self, since: i64, until: i64, channel: Option<Channel>) -> MetricsQuery {
        MetricsQuery {
            survey: Some(self.survey.clone()).filter(|s| !s.is_empty()),
            since: Some(since),
            until: Some(until),
            channel,
            segment: None,
            group_by: None,
            by_channel: false,
            zone: self.tz.clone(),
        }
    }
}
