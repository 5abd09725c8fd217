//! Results: Delighted's `GET /v1/metrics` (NPS and its breakdown) with Ovation's extensions (a
//! series by day, week or month in any time zone, a channel filter, a breakdown by a segment
//! property, the response rate), read from the pre-aggregated counters: a year costs a few reads
//! per shard whatever the number of responses.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::Date};

use crate::domain::Channel;
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::results::counters::{self, Cell, DAY_SECONDS, Level, Measure, RangeKind, SLOT_SECONDS};
use crate::services::results::edges::{EdgeResponse, Edges};
use crate::services::surveys::{self, Survey};
use crate::store::{Item, TenantStore, Value, now_unix};

/// An hour: the cut of a day at a whole hour is read from its day items' hour cells.
const HOUR_SECONDS: i64 = 3_600;
/// Half an hour: a cut at one also needs the first halves of the hours.
const HALF_HOUR_SECONDS: i64 = 1_800;

pub use super::figures::{ChannelMetrics, Counts, Metrics, MetricsView, PeriodMetrics, SegmentMetrics, nps, percent};

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
    /// Break the totals down by channel too (one read instead of one per channel).
    pub by_channel: bool,
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
            by_channel: false,
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
    /// The days cut at half hours too (and nowhere else): their hours and their first halves.
    half_hour_days: BTreeSet<i64>,
    /// Of the hour and half-hour days, each one's widest stretch of whole hours without a cut
    /// (first hour, end hour): its count is the day's total less the hours read.
    stretches: BTreeMap<i64, (i64, i64)>,
    /// UTC months (by their first day) wholly in the range and in one period: read whole.
    months: BTreeSet<i64>,
    /// The runs of days outside those months, read day by day.
    day_runs: Vec<(i64, i64)>,
    /// The quarter hours `since` and `until` cut through, whose responses are read raw.
    edges: Edges,
    /// Counts are wanted by channel: no day is read from its hours.
    by_channel: bool,
}

impl Plan {
    /// The cut days that can be read from their hours (the hour days whose every day item, of
    /// `items` read for the range, counted its hours), and of those the ones that also need the
    /// first halves of their hours (half-hour days whose day items counted those too).
    fn days_by_hours(&self, items: &[Item]) -> DaysByHours {
        let mut hours: BTreeSet<i64> = self.hour_days.union(&self.half_hour_days).copied().collect();
        for item in items {
            if let Some((Level::Day, day, ..)) = counters::parse_sort_key(&item.key.sk) {
                let complete = match self.half_hour_days.contains(&day) {
                    true => counters::half_hours_complete(item),
                    false => counters::hours_complete(item),
                };
                if !complete {
                    hours.remove(&day);
                }
            }
        }
        let halves = hours.intersection(&self.half_hour_days).copied().collect();
        DaysByHours { hours, halves }
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
        // The cuts inside the range's days (a first period may start before `since`'s day).
        let (first, last) = (since.div_euclid(DAY_SECONDS), until.div_euclid(DAY_SECONDS));
        let mut day_cuts: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        let inside = |t: &&i64| t.rem_euclid(DAY_SECONDS) != 0 && (first..=last).contains(&t.div_euclid(DAY_SECONDS));
        for t in cuts.iter().filter(inside) {
            day_cuts
                .entry(t.div_euclid(DAY_SECONDS))
                .or_default()
                .insert(t.rem_euclid(DAY_SECONDS));
        }
        let detail_days: BTreeSet<i64> = day_cuts.keys().copied().collect();
        // The days whose every cut falls on a multiple of `step`.
        let cut_on = |step: i64| -> BTreeSet<i64> {
            day_cuts
                .iter()
                .filter(|(_, offsets)| offsets.iter().all(|t| t % step == 0))
                .map(|(day, _)| *day)
                .collect()
        };
        let hour_days = cut_on(HOUR_SECONDS);
        let half_hour_days: BTreeSet<i64> = cut_on(HALF_HOUR_SECONDS).difference(&hour_days).copied().collect();
        let stretches = hour_days
            .iter()
            .chain(&half_hour_days)
            .map(|day| (*day, widest_stretch(&day_cuts[day])))
            .collect();
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
            half_hour_days,
            stretches,
            months,
            day_runs,
            edges: Edges::of(since, query.until),
            by_channel: query.by_channel,
        })
    }

    /// The widest stretch of an hour or half-hour day (none read: `(0, 0)` for any other).
    fn widest_stretch(&self, day: i64) -> (i64, i64) {
        self.stretches.get(&day).copied().unwrap_or((0, 0))
    }

    /// The attributes read of the day items from `first` to `last`: counts by channel, and the
    /// hours that the days which may be read by hours need (none when `hours` is false).
    fn day_cells(&self, first: i64, last: i64, hours: bool) -> Vec<String> {
        let mut needed = BTreeSet::new();
        if hours {
            for (from, to) in self.stretches.range(first..=last).map(|(_, stretch)| *stretch) {
                needed.extend((0..24).filter(|h| !(from..to).contains(h)));
            }
        }
        counters::day_cells(needed)
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

/// The longest stretch of whole hours that none of a day's cuts (`offsets`, seconds from its
/// start) falls inside (first hour, end hour): its count is the day's total less the hours read
/// (its other hours, and those other days of its run need). An hour cut at its half is never in
/// it (its halves are read).
fn widest_stretch(offsets: &BTreeSet<i64>) -> (i64, i64) {
    let mut bounds = BTreeSet::from([0, 24]);
    let mut halved = BTreeSet::new();
    for t in offsets {
        let hour = t / HOUR_SECONDS;
        bounds.insert(hour);
        if t % HOUR_SECONDS != 0 {
            bounds.insert(hour + 1);
            halved.insert(hour);
        }
    }
    let bounds: Vec<i64> = bounds.into_iter().collect();
    bounds
        .windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|(from, _)| !halved.contains(from))
        .max_by_key(|(from, to)| to - from)
        .unwrap_or((0, 0))
}

/// What a count is counted under: its period (0 without `group_by`), its segment value key, its
/// channel (none when read from a day's hours, which count all channels).
type SumKey = (usize, Option<String>, Option<Channel>);

/// The cut days read from their day items' hours, and of those the ones cut at half hours (read
/// with the first halves of their hours too).
#[derive(Default)]
struct DaysByHours {
    hours: BTreeSet<i64>,
    halves: BTreeSet<i64>,
}

/// Counts from counter items.
#[derive(Default)]
struct Sums {
    by: BTreeMap<SumKey, Counts>,
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
                let range = counters::range(kind, Level::Month, *first, *last);
                items.extend(counters::read(store, survey, range, None).await?);
            }
            let hours = channel.is_none() && !plan.by_channel;
            for (first, last) in &plan.day_runs {
                let range = counters::range(kind, Level::Day, *first, *last);
                let cells = plan.day_cells(*first, *last, hours);
                items.extend(counters::read(store, survey, range, Some(cells)).await?);
            }
            // Days cut at whole hours are read from their day items' hours when every count of
            // them has its hour, days cut at half hours with the first halves of their hours too
            // (when no channel is asked for, nor a breakdown by channel: hours count all
            // channels); the other cut days, and those a write reached between the reads of
            // their two items, from their quarter-hour detail.
            let mut by_hours = match hours {
                true => plan.days_by_hours(&items),
                false => DaysByHours::default(),
            };
            let halves = read_days(store, survey, kind, Level::FirstHalves, &by_hours.halves).await?;
            for day in counters::split_writes(&items, &halves, &by_hours.halves) {
                by_hours.hours.remove(&day);
                by_hours.halves.remove(&day);
            }
            items.extend(halves);
            let detail_days: BTreeSet<i64> = plan.detail_days.difference(&by_hours.hours).copied().collect();
            items.extend(read_days(store, survey, kind, Level::Detail, &detail_days).await?);
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

    fn add_items(&mut self, plan: &Plan, items: &[Item], channel: Option<Channel>, by_hours: &DaysByHours) {
        for item in items {
            let Some((level, day, item_channel, value)) = counters::parse_sort_key(&item.key.sk) else {
                continue;
            };
            let in_month = plan.months.contains(&counters::month_start(day));
            let hours = by_hours.hours.contains(&day);
            let halves = by_hours.halves.contains(&day);
            let wanted = match level {
                Level::Month => in_month,
                Level::Day => !in_month && (hours || !plan.detail_days.contains(&day)),
                Level::FirstHalves => halves,
                Level::Detail => plan.detail_days.contains(&day) && !hours,
            };
            if !wanted {
                continue;
            }
            let start = day * DAY_SECONDS;
            // A day read by hours: its widest stretch is its total less the hours read.
            let stretch = (level == Level::Day && hours).then(|| plan.widest_stretch(day));
            let mut rest: BTreeMap<Measure, i64> = BTreeMap::new();
            // Read by half hours, an hour counts at its second half, and its first half (its own
            // item) moves from there to the hour's start.
            let half = if halves { HALF_HOUR_SECONDS } else { 0 };
            for (name, stored) in &item.attrs {
                let (Some((measure, cell)), Value::N(n)) = (counters::parse_attr(name), stored) else {
                    continue;
                };
                let n = *n;
                // A day item counts each answer twice: by channel, and by hour.
                let (counted_channel, at, moved_to) = match cell {
                    Cell::Day(_) if hours && level == Level::Day => {
                        *rest.entry(measure).or_default() += n;
                        continue;
                    }
                    Cell::Hour(_) if !hours => continue,
                    Cell::Day(c) => (Some(c), start, None),
                    Cell::Slot(slot) => (item_channel, start + slot * SLOT_SECONDS, None),
                    Cell::Hour(hour) => {
                        *rest.entry(measure).or_default() -= n;
                        (None, start + hour * HOUR_SECONDS + half, None)
                    }
                    Cell::FirstHalf(hour) => {
                        let at = start + hour * HOUR_SECONDS;
                        (None, at, Some(at + HALF_HOUR_SECONDS))
                    }
                };
                if channel.is_some() && counted_channel != channel {
                    continue;
                }
                // An edge's responses are counted from the responses themselves (`add_edges`).
                let response = !matches!(measure, Measure::Sent | Measure::Answered);
                if response && matches!(cell, Cell::Slot(_)) && plan.edges.cuts(at) {
                    continue;
                }
                self.add(plan.period_of(at), value, counted_channel, measure, n);
                if let Some(second_half) = moved_to {
                    self.add(plan.period_of(second_half), value, counted_channel, measure, -n);
                }
            }
            if let Some((from, _)) = stretch {
                let period = plan.period_of(start + from * HOUR_SECONDS);
                for (measure, n) in rest.into_iter().filter(|(_, n)| *n != 0) {
                    self.add(period, value, None, measure, n);
                }
            }
        }
    }

    fn add(&mut self, period: Option<usize>, value: Option<&str>, channel: Option<Channel>, measure: Measure, n: i64) {
        if let Some(period) = period {
            self.by
                .entry((period, value.map(str::to_owned), channel))
                .or_default()
                .add(measure, n);
        }
    }
}

impl Sums {
    /// The responses of the range's edges, each at its own second.
    fn add_edges(&mut self, plan: &Plan, responses: &[EdgeResponse]) {
        for r in responses {
            if let Some(period) = plan.period_of(r.at) {
                self.by
                    .entry((period, r.value.clone(), Some(r.channel)))
                    .or_default()
                    .add(r.measure, 1);
            }
        }
    }
}

/// The metrics `query` asks for, of the surveys `caller` sees.
pub async fn read(store: &TenantStore, caller: &Caller, query: &MetricsQuery) -> Result<Metrics> {
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
        Some(id) => vec![surveys::visible(store, caller, id).await?],
        None => surveys::list_visible(store, caller, true).await?,
    };
    of_surveys(store, &surveys, query).await
}

/// The metrics `query` asks for, of `surveys` (the one it names, or those a caller sees).
pub(crate) async fn of_surveys(store: &TenantStore, surveys: &[Survey], query: &MetricsQuery) -> Result<Metrics> {
    let segment = match &query.segment {
        None => None,
        Some(property) => Some(segment_of(store, surveys, query.survey.is_some(), property).await?),
    };
    // Without `since`, a series starts at the first counted day.
    let first_day = match (query.since, query.group_by) {
        (None, Some(_)) => first_counted_day(store, surveys).await?,
        _ => None,
    };
    let plan = Plan::new(query, first_day)?;
    let mut overall = Sums::default();
    for survey in surveys {
        overall.merge(Sums::of_survey(store, &survey.id, RangeKind::Overall, &plan, query.channel).await?);
    }
    let ids: Vec<&str> = surveys.iter().map(|s| s.id.as_str()).collect();
    overall.add_edges(&plan, &plan.edges.responses(store, &ids, query.channel, None).await?);
    let mut totals = Counts::default();
    let mut per_period = vec![Counts::default(); plan.periods.len()];
    let mut per_channel: BTreeMap<Channel, Counts> = BTreeMap::new();
    for ((period, _, channel), counts) in &overall.by {
        totals.merge(counts);
        if let Some(p) = per_period.get_mut(*period) {
            p.merge(counts);
        }
        if let Some(c) = channel {
            per_channel.entry(*c).or_default().merge(counts);
        }
    }
    let channels = query.by_channel.then(|| {
        per_channel
            .into_iter()
            .filter(|(_, c)| *c != Counts::default())
            .map(|(channel, counts)| ChannelMetrics {
                channel,
                metrics: counts.view(),
            })
            .collect()
    });
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
            for ((_, value, _), counts) in sums.by {
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
        channels,
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

/// The items of `level` (quarter-hour detail, or first halves of hours) of `days` (days a cut
/// falls inside): read run by run (a few runs), else the whole span at once.
async fn read_days(
    store: &TenantStore,
    survey: &str,
    kind: RangeKind<'_>,
    level: Level,
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
        items.extend(counters::read(store, survey, counters::range(kind, level, first, last), None).await?);
    }
    Ok(items)
}

/// The first day any of `surveys` counted something.
async fn first_counted_day(store: &TenantStore, surveys: &[Survey]) -> Result<Option<i64>> {
    let mut first: Option<i64> = None;
    for survey in surveys {
        let shards = (0..counters::shards(store.spread().await?)).map(|shard| async move {
            let pk = crate::store::keys::counters_partition(store.tenant(), &survey.id, shard)?;
            store
                .query(crate::store::Query::new(pk).prefix("D#").limit(1), None)
                .await
        });
        for page in futures_util::future::try_join_all(shards).await? {
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
        // Paris's midnight is 23:00 UTC in winter: the day's first 23 hours are its total less
        // its last hour, the one hour read.
        let first = *plan.hour_days.first().unwrap();
        assert_eq!(plan.widest_stretch(first), (0, 23));
        let cells = plan.day_cells(first, first + 3, true);
        let hours: Vec<&String> = cells.iter().filter(|c| c.contains('H')).collect();
        assert_eq!(hours, ["pH23", "nH23", "dH23", "sH23", "aH23"]);
        assert_eq!(cells.len(), 4 + 5 * 4 + 5, "write counts, channels, hour 23");
        assert_eq!(plan.day_cells(first, first + 3, false).len(), 4 + 5 * 4, "no hours");
        // A cut off the hour (Kolkata's midnight, or a range's end at any second) needs the detail.
        let kolkata = MetricsQuery {
            zone: zone("Asia/Kolkata").unwrap(),
            ..query.clone()
        };
        let plan = Plan::new(&kolkata, None).unwrap();
        assert!(plan.hour_days.is_empty());
        assert_eq!(plan.half_hour_days, plan.detail_days, "Kolkata's midnights: half hours");
        // Kolkata's midnight is 18:30 UTC: hours 18 (read with its first half) to 23 are read.
        let first = *plan.half_hour_days.first().unwrap();
        assert_eq!(plan.widest_stretch(first), (0, 18));
        let cells = plan.day_cells(first, first + 3, true);
        assert_eq!(cells.iter().filter(|c| c.starts_with("pH")).count(), 6, "{cells:?}");
        let kathmandu = Plan::new(
            &MetricsQuery {
                zone: zone("Asia/Kathmandu").unwrap(),
                ..query.clone()
            },
            None,
        )
        .unwrap();
        assert!(kathmandu.hour_days.is_empty() && kathmandu.half_hour_days.is_empty());
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
