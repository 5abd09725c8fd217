//! Segments: NPS by the values of one of a survey's segment properties (a table with bars,
//! counts, sorted by NPS), for the period chosen; read from the counters like the overview.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::domain::survey::SurveyStatus;
use ovation::services::Caller;
use ovation::services::results::metrics::{self, MetricsQuery};
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Context, Error, Result};

use crate::chart;
use crate::filter::{self, Filter, value};
use crate::page::in_layout;

type Ctx = State<std::sync::Arc<Context>>;

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = figures(&ctx, &caller, raw.as_deref());
    in_layout(&ctx, &caller, &headers, ("segments", "segments.html", ""), values).await
}

async fn figures(ctx: &Context, caller: &Caller, raw: Option<&str>) -> Result<minijinja::Value> {
    let pairs = filter::pairs(raw)?;
    let mut filter = Filter::parse(&pairs, now_unix())?;
    let store = caller.store(ctx);
    let mut all = surveys::list_visible(&store, caller, true).await?;
    // The survey chosen (archived too; one not seen is not found), else the first that counts
    // a segment property.
    let survey = match filter.survey.as_str() {
        "" => None,
        chosen => Some(
            all.iter()
                .find(|s| s.id == chosen)
                .cloned()
                .ok_or(Error::NotFound("survey"))?,
        ),
    };
    all.retain(|s| s.definition.status != SurveyStatus::Archived);
    let survey = survey.or_else(|| all.iter().find(|s| !s.definition.segments.is_empty()).cloned());
    let surveys: Vec<(String, String)> = all.iter().map(|s| (s.id.clone(), s.definition.name.clone())).collect();
    let Some(survey) = survey else {
        return Ok(context! { filter, surveys, properties => Vec::<String>::new() });
    };
    filter.survey = survey.id.clone();
    let properties = survey.definition.segments.clone();
    let chosen = value(&pairs, "property");
    let Some(property) = properties.iter().find(|p| *p == chosen).or(properties.first()).cloned() else {
        return Ok(context! { filter, surveys, properties });
    };
    let query = MetricsQuery {
        segment: Some(property.clone()),
        ..filter.query(filter.since, filter.until, None)
    };
    let mut segments = metrics::read(&store, caller, &query)
        .await?
        .segments
        .unwrap_or_default();
    segments.sort_by_key(|s| {
        (
            std::cmp::Reverse(s.metrics.nps.map_or(i64::MIN, |n| n)),
            s.value.clone(),
        )
    });
    let bars: Vec<(String, Option<i64>)> = segments
        .iter()
        .map(|s| (s.value.clone().unwrap_or_else(|| "(none)".into()), s.metrics.nps))
        .collect();
    Ok(context! {
        filter,
        surveys,
        properties,
        property,
        segments,
        bars_svg => minijinja::Value::from_safe_string(chart::nps_bars(&bars)),
    })
}
