//! Results: Delighted's `GET /v1/metrics` (NPS and its breakdown) with Ovation's extensions (a
//! series by day, week or month in any time zone, a channel filter, a breakdown by a segment
//! property, the response rate), read from the pre-aggregated counters: a year costs a few reads
//! per shard whatever the number of responses.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::Date};

use crate::domain::Channel;
use crate::error::{Error, Result};
use crate::services::results::counters::{self, Cell, DAY_SECONDS, Level, Measure, RangeKind, SLOT_SECONDS};
use crate::services::results::edges::{EdgeResponse, Edges};
use crate::services::surveys::{self, Survey};
use crate::store::{Item, TenantStore, Value, now_unix};

/// An hour: the cut of a day at a whole hour is read from its day items' hour cells.
const HOUR_SECONDS: i64 = 3_600;

pub use super::figures::{Counts, Metrics, MetricsView, PeriodMetrics, SegmentMetrics, nps, percent};

/// The most periods a series has (ten years of days).
pub const MAX_PERIODS: usize = 3_660;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl std::str::FromStr for Period {
    type Err = Error;

    fn from_str(text: &str) -> Result<Period> {
        match text {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            _ => Err(Error::invalid("group_by", "must be day, week or month")),
        }
    }
}

impl Period {
    /// The first day of the period holding `date` (weeks start on Monday).
    fn start(self, date: Date) -> Date {
        match self {
            Period::Day => date,
            Period::Week => date
                .checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
                .unwrap_or(date),
            Period::Month => date.first_of_month(),
        }
    }

    fn next(self, start: Date) -> Option<Date> {
        match self {
            Period::Day => start.tomorrow().ok(),
            Period::Week => start.checked_add(jiff::Span::new().days(7)).ok(),
            Period::Month => start.checked_add(jiff::Span::new().months(1)).ok(),
        }
    }

    fn label(self, start: Date) -> String {
        match self {
            Period::Month => start.strftime("%Y-%m").to_string(),
            _ => start.to_string(),
        }
    }
}

/// What is asked: Delighted's `since`, `until` and `trend`, and Ovation's extensions.
#[derive(Clone, Debug)]
pub struct MetricsQuery {
    pub survey: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub channel: Option<Channel>,
    pub segment: Option<String>,
    pub group_by: Option<Period>,
    pub zone: TimeZone,
}

impl Default for MetricsQuery {
    fn default() -> Self {
        MetricsQuery {
            survey: None,
            since: None,
            until: None,
            channel: None,
            segment: None,
            group_by: None,
            zone: TimeZone::UTC,
        }
    }
}

/// Parses an IANA time zone name (`time_zone`).
pub fn zone(name: &str) -> Result<TimeZone> {
    TimeZone::get(name).map_err(|_| Error::invalid("time_zone", "must be an IANA time zone such as Europe/Paris"))
}

/// How the range is cut: period starts (instants) and the UTC days whose counts need their
/// quarter-hour detail because a cut falls inside them.
struct Plan {
    since: i64,
    until: i64,
    periods: Vec<(Date, i64)>,
    detail_days: BTreeSet<i64>,
    /// Of those, the days cut only at whole hours: their day items' hours can cut them.
    hour_days: BTreeSet<i64>,
    /// UTC months (by their first day) wholly in the range and in one period: read whole.
    months: BTreeSet<i64>,
    /// The runs of days outside those months, read day by day.
    day_runs: Vec<(i64, i64)>,
    /// The quarter hours `since` and `until` cut through, whose responses are read raw.
    edges: Edges,
}

impl Plan {
    /// The hour days whose every day item (of `items`, read for the range) counted its hours.
    fn days_by_hours(&self, items: &[Item]) -> BTreeSet<i64> {
        let mut days = self.hour_days.clone();
        for item in items {
            if let Some((Level::Day, day, ..)) = counters::parse_sort_key(&item.key.sk)
                && !counters::hours_complete(item)
            {
                days.remove(&day);
            }
        }
        days
    }

    fn new(query: &MetricsQuery, first_day: Option<i64>) -> Result<Plan> {
        let now = now_unix();
        let until = query.until.unwrap_or(now);
        if query.since.is_some_and(|since| since > until) {
            return Err(Error::invalid(
                "since",
                "must not be after until (which is now when not given)",
            ));
        }
        // Without `since`: all time, or for a series from its first counted day.
        let since = match (query.since, query.group_by, first_day) {
            (Some(since), ..) => since,
            (None, Some(_), Some(day)) => (day * DAY_SECONDS).min(until),
            (None, Some(_), None) => until,
            (None, None, _) => 0,
        };
        let mut cuts = vec![since, until + 1];
        let mut periods = vec![];
        if let Some(period) = query.group_by {
            let local = |t: i64| Timestamp::from_second(t).map(|ts| ts.to_zoned(query.zone.clone()).date());
            let mut start = period.start(local(since).map_err(Error::internal)?);
            let last = local(until).map_err(Error::internal)?;
            while start <= last {
                if periods.len() >= MAX_PERIODS {
                    return Err(Error::invalid(
                        "group_by",
                        format!("at most {MAX_PERIODS} periods: narrow since/until or group by a longer period"),
                    ));
                }
                let at = start
                    .to_zoned(query.zone.clone())
                    .map_err(Error::internal)?
                    .timestamp()
                    .as_second();
                periods.push((start, at));
                cuts.push(at);
                let Some(next) = period.next(start) else { break };
                start = next;
            }
        }
        let detail_days: BTreeSet<i64> = cuts
            .iter()
            .filter(|t| t.rem_euclid(DAY_SECONDS) != 0)
            .map(|t| t.div_euclid(DAY_SECONDS))
            .collect();
        let off_the_hour: BTreeSet<i64> = cuts
            .iter()
            .filter(|t| t.rem_euclid(HOUR_SECONDS) != 0)
            .map(|t| t.div_euclid(DAY_SECONDS))
            .collect();
        let hour_days = detail_days.difference(&off_the_hour).copied().collect();
        let (first, last) = (since.div_euclid(DAY_SECONDS), until.div_euclid(DAY_SECONDS));
        let mut months = BTreeSet::new();
        let mut day_runs: Vec<(i64, i64)> = vec![];
        let mut day = first;
        while day <= last {
            let month = counters::month_start(day);
            let next = counters::month_start(month + 31);
            let (start, end) = (month * DAY_SECONDS, next * DAY_SECONDS);
            let whole = start >= since && end - 1 <= until && !cuts.iter().any(|c| *c > start && *c < end);
            if whole {
                months.insert(month);
            } else {
                let run_end = (next - 1).min(last);
                match day_runs.last_mut() {
                    Some((_, end)) if *end + 1 == day => *end = run_end,
                    _ => day_runs.push((day, run_end)),
                }
            }
            day = next;
        }
        Ok(Plan {
            since,
            until,
            periods,
            detail_days,
            hour_days,
            months,
            day_runs,
            edges: Edges::of(since, query.until),
        })
    }

    /// The period a quarter hour starting at `at` belongs to (the index of its start), none when
    /// it starts outside the range.
    fn period_of(&self, at: i64) -> Option<usize> {
        if at < self.since || at > self.until {
            return None;
        }
        match self.periods.partition_point(|(_, start)| *start <= at) {
            0 if self.periods.is_empty() => Some(0),
            0 => None,
            n => Some(n - 1),
        }
    }
}

/// Counts from counter items, by period (0 without `group_by`) and by segment value key.
#[derive(Default)]
struct Sums {
    by: BTreeMap<(usize, Option<String>), Counts>,
}

impl Sums {
    fn merge(&mut self, other: Sums) {
        for (key, counts) in other.by {
            self.by.entry(key).or_default().merge(&counts);
        }
    }

    /// One survey's counters of `kind` in the plan, read again when a fold moved counts between
    /// shards while they were read.
    async fn of_survey(
        store: &TenantStore,
        survey: &str,
        kind: RangeKind<'_>,
        plan: &Plan,
        channel: Option<Channel>,
    ) -> Result<Sums> {
        for _ in 0..3 {
            let folds = counters::folds(store, survey).await?;
            let mut sums = Sums::default();
            let mut items = vec![];
            if let (Some(first), Some(last)) = (plan.months.first(), plan.months.last()) {
                items.extend(counters::read(store, survey, counters::range(kind, Level::Month, *first, *last)).await?);
            }
            for (first, last) in &plan.day_runs {
                items.extend(counters::read(store, survey, counters::range(kind, Level::Day, *first, *last)).await?);
            }
            // Days cut at whole hours are read from their day items' hours when every count of
            // them has its hour (and no channel is asked for: hours count all channels); the
            // other cut days from their quarter-hour detail.
            let by_hours = match channel {
                Some(_) => BTreeSet::new(),
                None => plan.days_by_hours(&items),
            };
            let detail_days: BTreeSet<i64> = plan.detail_days.difference(&by_hours).copied().collect();
            items.extend(read_detail(store, survey, kind, &detail_days).await?);
            sums.add_items(plan, &items, channel, &by_hours);
            if counters::folds(store, survey).await? == folds {
                return Ok(sums);
            }
        }
        Err(Error::Throttled {
            service: "metrics",
            retry_after: std::time::Duration::from_secs(1),
        })
    }

    fn add_items(&mut self, plan: &Plan, items: &[Item], channel: Option<Channel>, by_hours: &BTreeSet<i64>) {
        for item in items {
            let Some((level, day, item_channel, value)) = counters::parse_sort_key(&item.key.sk) else {
                continue;
            };
            let in_month = plan.months.contains(&counters::month_start(day));
            let hours = by_hours.contains(&day);
            let wanted = match level {
                Level::Month => in_month,
                Level::Day => !in_month && (hours || !plan.detail_days.contains(&day)),
                Level::Detail => plan.detail_days.contains(&day) && !hours,
            };
            if !wanted {
                continue;
            }
            for (name, n) in &item.attrs {
                let (Some((measure, cell)), Value::N(n)) = (counters::parse_attr(name), n) else {
                    continue;
                };
                // A day item counts each answer twice: by channel, and by hour.
                let (counted_channel, at) = match cell {
                    Cell::Day(_) | Cell::Slot(_) if hours && level == Level::Day => continue,
                    Cell::Hour(_) if !hours => continue,
                    Cell::Day(c) => (Some(c), day * DAY_SECONDS),
                    Cell::Slot(slot) => (item_channel, day * DAY_SECONDS + slot * SLOT_SECONDS),
                    Cell::Hour(hour) => (None, day * DAY_SECONDS + hour * HOUR_SECONDS),
                };
                if channel.is_some() && counted_channel != channel {
                    continue;
                }
                // An edge's responses are counted from the responses themselves (`add_edges`).
                let response = !matches!(measure, Measure::Sent | Measure::Answered);
                if response && matches!(cell, Cell::Slot(_)) && plan.edges.cuts(at) {
                    continue;
                }
                if let Some(period) = plan.period_of(at) {
                    self.by
                        .entry((period, value.map(str::to_owned)))
                        .or_default()
                        .add(measure, *n);
                }
            }
        }
    }
}

impl Sums {
    /// The responses of the range's edges, each at its own second.
    fn add_edges(&mut self, plan: &Plan, responses: &[EdgeResponse]) {
        for r in responses {
            if let Some(period) = plan.period_of(r.at) {
                self.by.entry((period, r.value.clone())).or_default().add(r.measure, 1);
            }
        }
    }
}

/// The metrics `query` asks for.
pub async fn read(store: &TenantStore, query: &MetricsQuery) -> Result<Metrics> {
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(Error::invalid("since", "must not be after until"));
    }
    for (field, value) in [("since", query.since), ("until", query.until)] {
        value
            .map(|t| crate::domain::time::within_bounds(field, t))
            .transpose()?;
    }
    let surveys = match &query.survey {
        Some(id) => vec![surveys::get(store, id).await?.ok_or(Error::NotFound("survey"))?],
        None => surveys::list(store, true).await?,
    };
    let segment = match &query.segment {
        None => None,
        Some(property) => Some(segment_of(store, &surveys, query.survey.is_some(), property).await?),
    };
    // Without `since`, a series starts at the first counted day.
    let first_day = match (query.since, query.group_by) {
        (None, Some(_)) => first_counted_day(store, &surveys).await?,
        _ => None,
    };
    let plan = Plan::new(query, first_day)?;
    let mut overall = Sums::default();
    for survey in &surveys {
        overall.merge(Sums::of_survey(store, &survey.id, RangeKind::Overall, &plan, query.channel).await?);
    }
    let ids: Vec<&str> = surveys.iter().map(|s| s.id.as_str()).collect();
    overall.add_edges(&plan, &plan.edges.responses(store, &ids, query.channel, None).await?);
    let mut totals = Counts::default();
    let mut per_period = vec![Counts::default(); plan.periods.len()];
    for ((period, _), counts) in &overall.by {
        totals.merge(counts);
        if let Some(p) = per_period.get_mut(*period) {
            p.merge(counts);
        }
    }
    let series = query.group_by.map(|period| {
        plan.periods
            .iter()
            .enumerate()
            .map(|(i, (start, at))| PeriodMetrics {
                period: period.label(*start),
                start: *at,
                end: plan.periods.get(i + 1).map_or_else(
                    || period_end(period, *start, &query.zone).unwrap_or(plan.until + 1),
                    |(_, next)| *next,
                ),
                metrics: per_period[i].view(),
            })
            .collect()
    });
    let segments = match segment {
        None => None,
        Some((survey, property_key)) => {
            let kind = RangeKind::Segment(&property_key);
            let mut sums = Sums::of_survey(store, &survey.id, kind, &plan, query.channel).await?;
            let property = query.segment.as_deref();
            sums.add_edges(
                &plan,
                &plan.edges.responses(store, &ids, query.channel, property).await?,
            );
            let names = counters::segment_values(store, &survey.id, &property_key).await?;
            let mut by_value: BTreeMap<Option<String>, Counts> = BTreeMap::new();
            for ((_, value), counts) in sums.by {
                by_value.entry(value).or_default().merge(&counts);
            }
            let mut list: Vec<SegmentMetrics> = by_value
                .into_iter()
                .filter(|(_, c)| *c != Counts::default())
                .map(|(value, counts)| SegmentMetrics {
                    value: value.and_then(|v| names.get(&v).cloned()),
                    metrics: counts.view(),
                })
                .collect();
            list.sort_by(|a, b| {
                b.metrics
                    .response_count
                    .cmp(&a.metrics.response_count)
                    .then_with(|| a.value.cmp(&b.value))
            });
            Some(list)
        }
    };
    Ok(Metrics {
        totals: totals.view(),
        series,
        segments,
    })
}

fn period_end(period: Period, start: Date, zone: &TimeZone) -> Option<i64> {
    let next = period.next(start)?;
    Some(next.to_zoned(zone.clone()).ok()?.timestamp().as_second())
}

/// The survey and property key a `segment` names; refused unless it is one of the survey's
/// segment properties.
async fn segment_of(
    store: &TenantStore,
    surveys: &[Survey],
    survey_named: bool,
    property: &str,
) -> Result<(Survey, String)> {
    let Some(survey) = surveys.first().filter(|_| survey_named) else {
        return Err(Error::invalid(
            "segment",
            "needs a survey: pass trend (the survey's id)",
        ));
    };
    if !survey.definition.segments.iter().any(|s| s == property) {
        let known = survey.definition.segments.join(", ");
        return Err(Error::invalid(
            "segment",
            if known.is_empty() {
                "this survey has no segment properties (set the survey's segments)".to_owned()
            } else {
                format!("is not a segment property of this survey (it has: {known})")
            },
        ));
    }
    Ok((survey.clone(), counters::property_key(store, property).await?))
}

/// The quarter-hour detail of `days` (days a cut falls inside): read run by run (a few runs),
/// else the whole span at once.
async fn read_detail(
    store: &TenantStore,
    survey: &str,
    kind: RangeKind<'_>,
    days: &BTreeSet<i64>,
) -> Result<Vec<Item>> {
    let days: Vec<i64> = days.iter().copied().collect();
    let mut runs: Vec<(i64, i64)> = vec![];
    for day in days {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == day => *end = day,
            _ => runs.push((day, day)),
        }
    }
    if runs.len() > 16 {
        let span = (runs[0].0, runs[runs.len() - 1].1);
        runs = vec![span];
    }
    let mut items = vec![];
    for (first, last) in runs {
        items.extend(counters::read(store, survey, counters::range(kind, Level::Detail, first, last)).await?);
    }
    Ok(items)
}

/// The first day any of `surveys` counted something.
async fn first_counted_day(store: &TenantStore, surveys: &[Survey]) -> Result<Option<i64>> {
    let mut first: Option<i64> = None;
    for survey in surveys {
        for shard in 0..counters::SHARDS {
            let pk = crate::store::keys::counters_partition(store.tenant(), &survey.id, shard)?;
            let page = store
                .query(crate::store::Query::new(pk).prefix("D#").limit(1), None)
                .await?;
            if let Some((_, day, ..)) = page.items.first().and_then(|i| counters::parse_sort_key(&i.key.sk)) {
                first = Some(first.map_or(day, |f| f.min(day)));
            }
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_cut_inside_a_utc_day_asks_for_its_detail() {
        let query = MetricsQuery {
            since: Some(1_767_225_600 - 3_600), // 2026-01-01 00:00 in Paris
            until: Some(1_767_225_600 + 3 * DAY_SECONDS - 3_601),
            group_by: Some(Period::Day),
            zone: zone("Europe/Paris").unwrap(),
            ..MetricsQuery::default()
        };
        let plan = Plan::new(&query, None).unwrap();
        assert_eq!(plan.periods.len(), 3);
        assert_eq!(plan.detail_days.len(), 4, "each Paris midnight cuts a UTC day");
        assert_eq!(
            plan.hour_days, plan.detail_days,
            "at whole hours: read from the day items' hours"
        );
        // A cut off the hour (Kolkata's midnight, or a range's end at any second) needs the detail.
        let kolkata = MetricsQuery {
            zone: zone("Asia/Kolkata").unwrap(),
            ..query.clone()
        };
        assert!(Plan::new(&kolkata, None).unwrap().hour_days.is_empty());
        let ragged = MetricsQuery {
            since: Some(1_767_225_600 - 3_600 + 7),
            ..query.clone()
        };
        let plan = Plan::new(&ragged, None).unwrap();
        assert_eq!(plan.detail_days.len() - plan.hour_days.len(), 1, "{:?}", plan.hour_days);
        let utc = MetricsQuery {
            zone: TimeZone::UTC,
            since: Some(1_767_225_600),
            until: Some(1_767_225_600 + 3 * DAY_SECONDS - 1),
            ..query
        };
        assert!(Plan::new(&utc, None).unwrap().detail_days.is_empty());
    }

    #[test]
    fn whole_utc_months_are_read_whole() {
        let year = MetricsQuery {
            since: Some(1_767_225_600), // 2026-01-01
            until: Some(1_798_761_599), // 2026-12-31 23:59:59
            ..MetricsQuery::default()
        };
        let plan = Plan::new(&year, None).unwrap();
        assert_eq!((plan.months.len(), plan.day_runs.len()), (12, 0));
        let from_mid_january = Plan::new(
            &MetricsQuery {
                since: Some(1_767_225_600 + 14 * DAY_SECONDS),
                ..year.clone()
            },
            None,
        )
        .unwrap();
        assert_eq!(from_mid_january.months.len(), 11);
        let start = 1_767_225_600 / DAY_SECONDS;
        assert_eq!(from_mid_january.day_runs, vec![(start + 14, start + 30)]);
        let weekly = Plan::new(
            &MetricsQuery {
                group_by: Some(Period::Week),
                ..year
            },
            None,
        )
        .unwrap();
        assert!(weekly.months.is_empty(), "a week starts inside every month");
    }

    #[test]
    fn adjacent_ranges_share_no_quarter_hour() {
        let day = 20_000 * DAY_SECONDS;
        let first = Plan::new(
            &MetricsQuery {
                since: Some(day),
                until: Some(day + 12 * 3_600 + 300),
                ..MetricsQuery::default()
            },
            None,
        )
        .unwrap();
        let second = Plan::new(
            &MetricsQuery {
                since: Some(day + 12 * 3_600 + 301),
                until: Some(day + DAY_SECONDS - 1),
                ..MetricsQuery::default()
            },
            None,
        )
        .unwrap();
        let noon = day + 12 * 3_600;
        assert_eq!((first.period_of(noon), second.period_of(noon)), (Some(0), None));
        assert_eq!(second.period_of(noon + SLOT_SECONDS), Some(0));
        assert!(
            Plan::new(
                &MetricsQuery {
                    since: Some(now_unix() + 3_600),
                    ..MetricsQuery::default()
                },
                None
            )
            .is_err()
        );
    }
}
