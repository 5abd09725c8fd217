//! The overview: NPS of a period and its change against the period before, the trend by day,
//! week or month in the viewer's time zone, the promoter / passive / detractor split, responses
//! and response rate, and each channel; for one survey or all, over the last 7, 30, 90 or 365
//! days or a custom range. Every figure is `metrics::read`'s (the counters behind
//! `GET /v1/metrics`), never a scan of responses.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use minijinja::context;
use ovation::domain::Channel;
use ovation::http::extract::form_to_pairs;
use ovation::services::Caller;
use ovation::services::results::figures::MetricsView;
use ovation::services::results::metrics::{self, MetricsQuery, Period};
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Context, Error, Result};
use serde::Serialize;

use crate::chart;
use crate::page::{Shell, error, render};

type Ctx = State<std::sync::Arc<Context>>;

const DAY: i64 = 86_400;
/// The periods offered, in days.
const PERIODS: [i64; 4] = [7, 30, 90, 365];
const CHANNELS: [Channel; 4] = [Channel::Email, Channel::Sms, Channel::Web, Channel::Api];

/// What the pickers chose (defaults where the query says nothing valid).
#[derive(Serialize)]
struct Filter {
    survey: String,
    /// `7`, `30`, `90`, `365` or `custom`.
    period: String,
    /// The custom range's first and last days (`YYYY-MM-DD`), shown in the form.
    from: String,
    to: String,
    by: &'static str,
    zone: String,
    #[serde(skip)]
    since: i64,
    #[serde(skip)]
    until: i64,
    #[serde(skip)]
    tz: TimeZone,
}

impl Filter {
    /// The filter a query asks for; a custom range that cannot be read is an error to show.
    fn parse(raw: Option<&str>, now: i64) -> Result<Filter> {
        let pairs = form_to_pairs(raw.unwrap_or_default().as_bytes())?;
        let get = |name: &str| pairs.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
        let (zone, tz) = match metrics::zone(get("zone")) {
            Ok(tz) => (get("zone").to_owned(), tz),
            Err(_) => ("UTC".to_owned(), TimeZone::UTC),
        };
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

    fn query(&self, since: i64, until: i64, channel: Option<Channel>) -> MetricsQuery {
        MetricsQuery {
            survey: Some(self.survey.clone()).filter(|s| !s.is_empty()),
            since: Some(since),
            until: Some(until),
            channel,
            segment: None,
            group_by: None,
            zone: self.tz.clone(),
        }
    }
}

/// One channel's row.
#[derive(Serialize)]
struct ChannelRow {
    name: &'static str,
    figures: MetricsView,
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Web => "Web link",
        Channel::Api => "API",
    }
}

/// One period of the trend's table.
#[derive(Serialize)]
struct TrendRow {
    label: String,
    nps: Option<i64>,
    responses: i64,
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let shell = match Shell::of(&ctx, &caller, &headers, "overview").await {
        Ok(shell) => shell,
        Err(e) => return error(None, e).into_response(),
    };
    let now = now_unix();
    let filter = match Filter::parse(raw.as_deref(), now) {
        Ok(filter) => filter,
        Err(e) => return error(Some(&shell), e).into_response(),
    };
    match figures(&ctx, &caller, &filter).await {
        Ok(values) => render(StatusCode::OK, "overview.html", context! { shell, filter, ..values }).into_response(),
        Err(e) => error(Some(&shell), e).into_response(),
    }
}

async fn figures(ctx: &Context, caller: &Caller, filter: &Filter) -> Result<minijinja::Value> {
    let store = caller.store(ctx);
    let surveys: Vec<(String, String)> = surveys::list(&store, false)
        .await?
        .into_iter()
        .map(|s| (s.id, s.definition.name))
        .collect();
    let by = match filter.by {
        "week" => Period::Week,
        "month" => Period::Month,
        _ => Period::Day,
    };
    let grouped = MetricsQuery {
        group_by: Some(by),
        ..filter.query(filter.since, filter.until, None)
    };
    let read = metrics::read(&store, &grouped).await?;
    let length = filter.until - filter.since + 1;
    let before = metrics::read(&store, &filter.query(filter.since - length, filter.since - 1, None)).await?;
    let change = read.totals.nps.zip(before.totals.nps).map(|(now, then)| now - then);
    let mut channels = Vec::with_capacity(CHANNELS.len());
    for channel in CHANNELS {
        let one = metrics::read(&store, &filter.query(filter.since, filter.until, Some(channel))).await?;
        if one.totals.response_count > 0 || one.totals.sent_count > 0 {
            channels.push(ChannelRow {
                name: channel_name(channel),
                figures: one.totals,
            });
        }
    }
    let trend: Vec<TrendRow> = read
        .series
        .unwrap_or_default()
        .into_iter()
        .map(|p| TrendRow {
            label: p.period,
            nps: p.metrics.nps,
            responses: p.metrics.response_count,
        })
        .collect();
    let points: Vec<chart::Point> = trend
        .iter()
        .map(|row| chart::Point {
            label: row.label.clone(),
            nps: row.nps,
        })
        .collect();
    let totals = &read.totals;
    let split = chart::split_bar(
        totals.promoter_percent,
        totals.passive_percent,
        totals.detractor_percent,
    );
    Ok(context! {
        surveys,
        totals => &read.totals,
        change,
        previous => before.totals.nps,
        channels,
        trend,
        trend_svg => minijinja::Value::from_safe_string(chart::nps_trend(&points)),
        split_svg => minijinja::Value::from_safe_string(split),
    })
}
