//! A range's ragged ends: counters resolve to the quarter hour, so the (at most two) quarter hours
//! that `since` and `until` cut through are left out of the counters' response counts and their
//! responses read raw instead. A range then counts its responses to the second, for the cost of
//! reading at most two quarter hours of responses.

use std::collections::BTreeSet;

use crate::domain::Channel;
use crate::error::Result;
use crate::services::people::person::id_range;
use crate::services::results::counters::{Counted, Measure, SLOT_SECONDS};
use crate::services::results::response_record::ResponseRecord;
use crate::store::{Item, Query, TenantStore, keys};

#[derive(Debug, Default, PartialEq)]
pub struct Edges {
    /// The starts of the quarter hours cut (their response counts are not read from counters).
    slots: BTreeSet<i64>,
    /// The seconds of those quarter hours inside the range, first and last.
    windows: Vec<(i64, i64)>,
}

impl Edges {
    /// The edges of `since`..=`until`; an open end (`until` not given: now) cuts nothing.
    pub fn of(since: i64, until: Option<i64>) -> Edges {
        let slot = |t: i64| t - t.rem_euclid(SLOT_SECONDS);
        let mut edges = Edges::default();
        let mut cut = |start: i64, first: i64, last: i64| {
            if edges.slots.insert(start) {
                edges.windows.push((first, last));
            }
        };
        if since.rem_euclid(SLOT_SECONDS) != 0 {
            let start = slot(since);
            let last = until.map_or(start + SLOT_SECONDS - 1, |u| u.min(start + SLOT_SECONDS - 1));
            cut(start, since, last);
        }
        if let Some(until) = until.filter(|u| (u + 1).rem_euclid(SLOT_SECONDS) != 0) {
            let start = slot(until);
            cut(start, since.max(start), until);
        }
        edges
    }

    /// Whether the quarter hour starting at `at` is an edge, whose responses are read raw.
    pub fn cuts(&self, at: i64) -> bool {
        self.slots.contains(&at)
    }

    /// The responses inside the edges, as counted (their segments as they were counted), of
    /// `surveys` and on `channel` when given.
    pub async fn responses(
        &self,
        store: &TenantStore,
        surveys: &[&str],
        channel: Option<Channel>,
    ) -> Result<Vec<Counted>> {
        let mut counted = vec![];
        for (first, last) in &self.windows {
            let query = Query::new(keys::responses_partition(store.tenant()))
                .sort(id_range(Some(*first), Some(*last)))
                .limit(1000);
            let mut cursor = None;
            loop {
                let page = store.query(query.clone(), cursor.as_deref()).await?;
                for item in &page.items {
                    if let Some(c) = as_counted(store, item, (*first, *last), surveys, channel).await? {
                        counted.push(c);
                    }
                }
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(counted)
    }
}

/// A stored response as its survey's counters count it, when it lies in `window` and is one of
/// `surveys` on `channel`.
async fn as_counted(
    store: &TenantStore,
    item: &Item,
    (first, last): (i64, i64),
    surveys: &[&str],
    channel: Option<Channel>,
) -> Result<Option<Counted>> {
    let record = ResponseRecord::from_item(store, item).await?;
    let Some(segments) = &record.counted else {
        return Ok(None);
    };
    if !(first..=last).contains(&record.created_at)
        || !surveys.contains(&record.survey.as_str())
        || channel.is_some_and(|c| c != record.channel)
    {
        return Ok(None);
    }
    let measure = Measure::of_score(record.score);
    let properties = &record.person_properties;
    Counted::new(store, segments, measure, record.created_at, record.channel, properties)
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_off_the_quarter_hour_are_edges() {
        let q = SLOT_SECONDS;
        assert_eq!(Edges::of(0, None), Edges::default());
        assert_eq!(Edges::of(q, Some(3 * q - 1)), Edges::default(), "on the quarter hours");
        let both = Edges::of(q + 1, Some(3 * q + 10));
        assert_eq!(both.windows, [(q + 1, 2 * q - 1), (3 * q, 3 * q + 10)]);
        assert!(both.cuts(q) && both.cuts(3 * q) && !both.cuts(2 * q));
        let inside = Edges::of(q + 1, Some(q + 20));
        assert_eq!(inside.windows, [(q + 1, q + 20)], "one quarter hour, cut twice");
    }
}
