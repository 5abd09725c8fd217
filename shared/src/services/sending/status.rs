//! Where an invitation's steps stand and why one was not sent: stored, shown and counted by
//! these names.

/// Where a step stands: stored, and shown on invitations, as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepStatus {
    /// Waiting for its time.
    Pending,
    /// Handed to the deliverer's queue.
    Queued,
    /// Claimed by a deliverer (under a lease).
    Sending,
    Sent,
    /// Not sent, for a `SkipReason`.
    Skipped,
    /// Given up, with the failure recorded.
    Failed,
    /// Canceled before it went (an invitation's first step only).
    Canceled,
    /// Made for a web-link answer: never sent (an invitation's first step only).
    Web,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Queued => "queued",
            StepStatus::Sending => "sending",
            StepStatus::Sent => "sent",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::Canceled => "canceled",
            StepStatus::Web => "web",
        }
    }

    /// The status stored as `text`; none for text that is no status (an older item's).
    pub fn parse(text: &str) -> Option<StepStatus> {
        [
            StepStatus::Pending,
            StepStatus::Queued,
            StepStatus::Sending,
            StepStatus::Sent,
            StepStatus::Skipped,
            StepStatus::Failed,
            StepStatus::Canceled,
            StepStatus::Web,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// Why a step was not sent: stored beside it (`{step}_skip_reason`) and counted by the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    TenantDeleted,
    SurveyDeleted,
    SurveyClosed,
    PersonDeleted,
    Unsubscribed,
    Bounced,
    /// Surveyed within the survey's re-survey window (first sends only).
    Throttled,
    /// Answered before the reminder was due.
    Answered,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TenantDeleted => "tenant_deleted",
            SkipReason::SurveyDeleted => "survey_deleted",
            SkipReason::SurveyClosed => "survey_closed",
            SkipReason::PersonDeleted => "person_deleted",
            SkipReason::Unsubscribed => "unsubscribed",
            SkipReason::Bounced => "bounced",
            SkipReason::Throttled => "throttled",
            SkipReason::Answered => "answered",
        }
    }
}
