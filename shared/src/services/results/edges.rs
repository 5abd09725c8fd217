//! A range's ragged ends: counters resolve to the quarter hour, so the (at most two) quarter hours
//! that `since` and `until` cut through are left out of the counters' response counts and their
//! responses read raw instead. A range then counts its responses to the second, for the cost of
//! reading at most two quarter hours of responses.

use std::collections::BTreeSet;

use crate::domain::{Channel, Score};
use crate::error::Result;
use crate::services::people::person::id_range;
use crate::services::results::counters::{Counted, Measure, SLOT_SECONDS};
use crate::services::results::response_record::{COUNTED, ResponseRecord};
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

    /// The responses inside the edges of `surveys` (on `channel` when given): when each was
    /// given, its measure and, for a read by the segment property `segment`, its value's key as
    /// the counters name it. Only a segment read opens a response's sealed properties.
    pub async fn responses(
        &self,
        store: &TenantStore,
        surveys: &[&str],
        channel: Option<Channel>,
        segment: Option<&str>,
    ) -> Result<Vec<EdgeResponse>> {
        let mut found = vec![];
        for (first, last) in &self.windows {
            let query = Query::new(keys::responses_partition(store.tenant()))
                // An answer's id may be a second past its time (made just after): one more second.
                .sort(id_range(Some(*first), Some(*last + 1)))
                .limit(1000);
            let mut cursor = None;
            loop {
                let page = store.query(query.clone(), cursor.as_deref()).await?;
                for item in &page.items {
                    if let Some(r) = counted_at_edge(store, item, (*first, *last), surveys, channel, segment).await? {
                        found.push(r);
                    }
                }
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(found)
    }
}

/// A response of an edge, as the counters would count it.
pub struct EdgeResponse {
    pub at: i64,
    pub measure: Measure,
    pub channel: Channel,
    /// The segment value's key (none for a person without it, or a read by no segment).
    pub value: Option<String>,
}

/// A stored response in `window`, of one of `surveys`, on `channel`, that its survey counts.
async fn counted_at_edge(
    store: &TenantStore,
    item: &Item,
    (first, last): (i64, i64),
    surveys: &[&str],
    channel: Option<Channel>,
    segment: Option<&str>,
) -> Result<Option<EdgeResponse>> {
    let at = item.num("created_at").unwrap_or_default();
    let Ok(answered_on) = Channel::parse(item.str("channel").unwrap_or_default()) else {
        tracing::error!("a response names no channel; not counted");
        return Ok(None);
    };
    let counted = item.get(COUNTED).is_some();
    if !counted
        || !(first..=last).contains(&at)
        || !surveys.contains(&item.str("survey").unwrap_or_default())
        || channel.is_some_and(|c| c != answered_on)
    {
        return Ok(None);
    }
    let measure = Measure::of_score(Score::new(item.num("score").unwrap_or_default())?);
    let value = match segment {
        None => None,
        // Counted under the segments it was counted by: none other.
        Some(property) if !item.strings(COUNTED).iter().any(|p| p == property) => return Ok(None),
        Some(property) => {
            let properties = ResponseRecord::from_item(store, item).await?.person_properties;
            let segments = [property.to_owned()];
            let counted = Counted::new(store, &segments, measure, at, answered_on, &properties).await?;
            counted
                .segments
                .into_iter()
                .next()
                .and_then(|s| s.value)
                .map(|(key, _)| key)
        }
    };
    Ok(Some(EdgeResponse {
        at,
        measure,
        channel: answered_on,
        value,
    }))
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
