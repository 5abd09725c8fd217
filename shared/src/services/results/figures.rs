//! The figures a metrics read answers: counts of one selection, the NPS and percentages as
//! Delighted shows them, and the views of totals, periods and segments.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Channel;
use crate::services::results::counters::Measure;

/// Counts of one selection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    pub sent: i64,
    pub answered: i64,
}

impl Counts {
    pub fn add(&mut self, measure: Measure, n: i64) {
        match measure {
            Measure::Promoter => self.promoters += n,
            Measure::Passive => self.passives += n,
            Measure::Detractor => self.detractors += n,
            Measure::Sent => self.sent += n,
            Measure::Answered => self.answered += n,
        }
    }

    pub(super) fn merge(&mut self, other: &Counts) {
        for (m, n) in [
            (Measure::Promoter, other.promoters),
            (Measure::Passive, other.passives),
            (Measure::Detractor, other.detractors),
            (Measure::Sent, other.sent),
            (Measure::Answered, other.answered),
        ] {
            self.add(m, n);
        }
    }

    pub fn responses(&self) -> i64 {
        self.promoters + self.passives + self.detractors
    }

    pub fn view(&self) -> MetricsView {
        let total = self.responses();
        MetricsView {
            nps: nps(self.promoters, self.detractors, total),
            promoter_count: self.promoters,
            promoter_percent: percent(self.promoters, total),
            passive_count: self.passives,
            passive_percent: percent(self.passives, total),
            detractor_count: self.detractors,
            detractor_percent: percent(self.detractors, total),
            response_count: total,
            sent_count: self.sent,
            answered_count: self.answered,
            response_rate: (self.sent > 0).then(|| percent(self.answered, self.sent)),
        }
    }
}

/// The Net Promoter Score: % promoters − % detractors, rounded half away from zero to a whole
/// number as Delighted shows it; none without responses.
pub fn nps(promoters: i64, detractors: i64, total: i64) -> Option<i64> {
    if total <= 0 {
        return None;
    }
    // Whole-number arithmetic: round(100 × (p − d) / total), halves away from zero.
    let scaled = 200 * (promoters - detractors);
    let q = (scaled.abs() + total) / (2 * total);
    Some(if scaled < 0 { -q } else { q })
}

/// `part` of `whole` in percent, rounded half up to one decimal.
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    let tenths = (2000 * part + whole) / (2 * whole);
    tenths as f64 / 10.0
}

/// Delighted's metrics and Ovation's counts beside them.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct MetricsView {
    /// −100 to 100; null without responses.
    pub nps: Option<i64>,
    pub promoter_count: i64,
    /// One decimal.
    pub promoter_percent: f64,
    pub passive_count: i64,
    pub passive_percent: f64,
    pub detractor_count: i64,
    pub detractor_percent: f64,
    pub response_count: i64,
    /// Invitations sent in the range (email and SMS).
    pub sent_count: i64,
    /// Of those, the ones answered (so far).
    pub answered_count: i64,
    /// `answered_count` of `sent_count` in percent; null when nothing was sent.
    pub response_rate: Option<f64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodMetrics {
    /// `2026-11-02` (a day, or a week's Monday) or `2026-11` (a month).
    pub period: String,
    /// Unix seconds of the period's start and end (exclusive) in the time zone.
    pub start: i64,
    pub end: i64,
    #[serde(flatten)]
    pub metrics: MetricsView,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SegmentMetrics {
    /// The property's value; null for responses without it.
    pub value: Option<String>,
    #[serde(flatten)]
    pub metrics: MetricsView,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChannelMetrics {
    pub channel: Channel,
    #[serde(flatten)]
    pub metrics: MetricsView,
}

/// The answer of `GET /v1/metrics`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Metrics {
    #[serde(flatten)]
    pub totals: MetricsView,
    /// With `group_by`: one entry per period from `since` to `until`, empty ones included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<PeriodMetrics>>,
    /// With `segment`: one entry per value, most responses first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<SegmentMetrics>>,
    /// With `by_channel`: one entry per channel that counted something (email, sms, web, api).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelMetrics>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nps_rounds_as_delighted_shows_it() {
        assert_eq!(nps(32, 6, 51), Some(51));
        assert_eq!(nps(1, 0, 8), Some(13), "12.5 rounds away from zero");
        assert_eq!(nps(0, 1, 8), Some(-13));
        assert_eq!(nps(0, 0, 0), None);
        assert_eq!(percent(32, 51), 62.7);
        assert_eq!(percent(1, 8), 12.5);
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
    }

    proptest! {
        #[test]
        fn nps_is_the_rounded_exact_difference(p in 0i64..5000, n in 0i64..5000, d in 0i64..5000) {
            let total = p + n + d;
            prop_assume!(total > 0);
            let exact = 100.0 * (p - d) as f64 / total as f64;
            let got = nps(p, d, total).unwrap();
            prop_assert!((-100..=100).contains(&got));
            prop_assert!((got as f64 - exact).abs() <= 0.5 + 1e-9);
            let sum = percent(p, total) + percent(n, total) + percent(d, total);
            prop_assert!((sum - 100.0).abs() <= 0.15 + 1e-9);
        }
    }
}
