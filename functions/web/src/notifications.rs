//! Your notifications (every role, for themselves): per survey, a mail for every new answer, for
//! detractors only or for answers with a comment, and the weekly digest. Thin over
//! `services::notifications::subscriptions`; the team page shows owners and admins who receives
//! what.

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::services::Caller;
use ovation::services::notifications::subscriptions::{self, Answers, Choice};
use ovation::services::surveys;
use ovation::{Context, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, root_of};

type Ctx = State<std::sync::Arc<Context>>;

const DONE: &[(&str, &str)] = &[(
    "saved",
    "Saved. New answers are mailed a few minutes after they arrive, at most one mail every five minutes a survey; digests go on Mondays.",
)];

/// The choices a page offers, as its select lists them.
fn options() -> Vec<minijinja::Value> {
    let mut out = vec![context! { value => "none", label => "No mail" }];
    out.extend(
        Answers::ALL
            .into_iter()
            .map(|a| context! { value => a.as_str(), label => a.describe() }),
    );
    out
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let pairs = filter::pairs(raw.as_deref())?;
        let store = caller.store(&ctx);
        let mine = subscriptions::mine(&store, &caller).await?;
        let rows: Vec<_> = surveys::list_visible(&store, &caller, false)
            .await?
            .into_iter()
            .map(|s| {
                let chosen = mine.get(&s.id);
                context! {
                    id => s.id, name => s.definition.name,
                    answers => chosen.and_then(|c| c.answers).map_or("none", Answers::as_str),
                    digest => chosen.is_some_and(|c| c.digest),
                }
            })
            .collect();
        Ok(context! { rows, options => options(), done => filter::said(DONE, &pairs) })
    };
    in_layout(
        &ctx,
        &caller,
        &headers,
        ("notifications", "notifications.html", ""),
        values,
    )
    .await
}

/// Saves the choices of every survey the form lists (`answers.{id}`, `digest.{id}`).
pub async fn save(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let done = async {
        let choices = choices(&form)?;
        subscriptions::choose(&ctx, &caller.store(&ctx), &caller, &choices).await
    };
    let to = done.await.map(|()| "notifications?done=saved".to_owned());
    after_form(&ctx, &caller, &headers, ("notifications", root), to).await
}

fn choices(form: &PageForm) -> Result<Vec<Choice>> {
    form.0
        .iter()
        .filter_map(|(name, value)| Some((name.strip_prefix("answers.")?, value)))
        .map(|(survey, value)| {
            Ok(Choice {
                survey: survey.to_owned(),
                answers: Answers::parse(value)?,
                digest: !form.get(&format!("digest.{survey}")).is_empty(),
            })
        })
        .collect()
}
