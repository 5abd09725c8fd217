//! The overview: NPS of a period and its change against the period before, the trend by day,
//! week or month in the viewer's time zone, the promoter / passive / detractor split, responses
//! and response rate, and each channel; for one survey or all, over the last 7, 30, 90 or 365
//! days or a custom range. Every figure is `metrics::read`'s (the counters behind
//! `GET /v1/metrics`), never a scan of responses.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::services::Caller;
use ovation::services::results::figures::MetricsView;
use ovation::services::results::metrics::{self, MetricsQuery, Period};
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Context, Result};
use serde::Serialize;

use crate::chart;
use crate::filter::{self, Filter};
use crate::page::in_layout;

type Ctx = State<std::sync::Arc<Context>>;

/// One channel's row.
#[derive(Serialize)]
struct ChannelRow {
    name: &'static str,
    figures: MetricsView,
}

/// One period of the trend's table.
#[derive(Serialize)]
struct TrendRow {
    label: String,
    nps: Option<i64>,
    responses: i64,
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let filter = Filter::parse(&filter::pairs(raw.as_deref())?, now_unix())?;
        let values = figures(&ctx, &caller, &filter).await?;
        Ok(context! { filter, ..values })
    };
    in_layout(&ctx, &caller, &headers, ("overview", "overview.html", ""), values).await
}

async fn figures(ctx: &Context, caller: &Caller, filter: &Filter) -> Result<minijinja::Value> {
    let store = caller.store(ctx);
    let surveys: Vec<(String, String)> = surveys::list_visible(&store, caller, false)
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
    let read = metrics::read(&store, caller, &grouped).await?;
    let length = filter.until - filter.since + 1;
    let before = metrics::read(
        &store,
        caller,
        &filter.query(filter.since - length, filter.since - 1, None),
    )
    .await?;
    let change = read.totals.nps.zip(before.totals.nps).map(|(now, then)| now - then);
    let by_channel = MetricsQuery {
        by_channel: true,
        ..filter.query(filter.since, filter.until, None)
    };
    let channels: Vec<ChannelRow> = metrics::read(&store, caller, &by_channel)
        .await?
        .channels
        .unwrap_or_default()
        .into_iter()
        .map(|c| ChannelRow {
            name: crate::responses::channel_name(c.channel),
            figures: c.metrics,
        })
        .collect();
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
