//! The one error type of Ovation. Every layer returns it; `http::error` maps it to a response in
//! one place, so a caller always gets a status, a machine-readable code and the offending field.

use std::borrow::Cow;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why one operation of a cancelled transaction failed, by its index in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFailure {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input that does not parse or breaks a rule; names the field.
    #[error("{field}: {reason}")]
    Invalid {
        field: Cow<'static, str>,
        reason: Cow<'static, str>,
    },
    /// A pagination cursor that was forged, altered, or belongs to another query.
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Something that exists already and may exist once (a user with this email).
    #[error("{0}")]
    Conflict(&'static str),
    /// A conditional write whose condition did not hold; nothing was written.
    #[error("the condition of the write did not hold")]
    ConditionFailed,
    /// A transaction that was cancelled as a whole; nothing was written.
    #[error("the transaction was cancelled: {}", describe_failures(.0))]
    TransactionCanceled(Vec<TxFailure>),
    /// An item over DynamoDB's 400 KB limit (enforced on both engines alike).
    #[error("the item is {size} bytes; at most {limit} are allowed")]
    ItemTooLarge { size: usize, limit: usize },
    /// No credential, or one that is malformed, unknown, expired or revoked.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A tenant slug, email and password that do not match (the same answer whichever was wrong).
    #[error("the tenant, email or password is wrong")]
    InvalidCredentials,
    /// An authenticated caller that may not do this; `code` says why (`permission_denied`,
    /// `ip_not_allowed`, `password_change_required`, ...).
    #[error("{reason}")]
    Forbidden { code: &'static str, reason: &'static str },
    /// Too many failed sign-in or code attempts; a temporary lock.
    #[error("too many failed attempts; try again in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    /// A client credentials grant refused (answered in RFC 6749 §5.2's shape).
    #[error("{0}")]
    GrantRefused(GrantRefusal),
    /// A key that lies outside the tenant of the handle used: refused before any I/O.
    #[error("the key lies outside this tenant")]
    OutsideTenant,
    /// A client over its request rate; it may try again after `retry_after`.
    #[error("too many requests; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// An AWS service (or the embedded engine) that throttled us after the SDK's own retries.
    #[error("{service} is throttling requests")]
    Throttled {
        service: &'static str,
        retry_after: Duration,
    },
    /// A dependency that could not be reached or failed; the caller may retry.
    #[error("{service} is unavailable: {reason}")]
    Unavailable { service: &'static str, reason: String },
    /// Ciphertext that cannot be decrypted: tampered with, moved to another item or tenant, or
    /// its tenant's keys were deleted (crypto-shredding).
    #[error("the data cannot be decrypted")]
    Undecryptable,
    /// A setting that is missing or malformed; names the environment variable.
    #[error("setting {name}: {reason}")]
    Config { name: &'static str, reason: String },
    /// A fault of ours, with its cause kept whole (a dependency's error, or what rule broke); its
    /// message is the whole chain of causes. Logged, never sent to the client.
    #[error("internal error: {}", chain(.0.as_ref()))]
    Internal(#[source] Cause),
}

/// Why a client credentials grant is refused: RFC 6749 §5.2's cases, each with what to mend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    /// A request without what the grant needs, or sent two ways.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// A client that is unknown, revoked, or whose secret is wrong.
    #[error("invalid_client: {0}")]
    InvalidClient(&'static str),
    /// A known client that may not have a token here (its tenant's address rules).
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(&'static str),
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
}

/// An error and every cause beneath it, outermost first: `a: b: c`.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// What caused a fault: any error, or a description of what went wrong.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A fault while doing `what`, over the error that caused it.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct Fault {
    what: Cow<'static, str>,
    #[source]
    cause: Cause,
}

impl Error {
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn permission_denied() -> Self {
        Error::Forbidden {
            code: "permission_denied",
            reason: "your role does not allow this",
        }
    }

    /// A fault of ours: `cause` is the error that caused it (kept as the source), or text that
    /// says what went wrong.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Error::Internal(cause.into())
    }

    /// A fault while doing `what`, caused by `cause` (kept as the source).
    pub fn fault(what: impl Into<Cow<'static, str>>, cause: impl Into<Cause>) -> Self {
        Error::Internal(Box::new(Fault {
            what: what.into(),
            cause: cause.into(),
        }))
    }
}

fn describe_failures(failures: &[TxFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("operation {} {}", f.index, f.reason))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_keeps_its_cause_for_the_log() {
        let cause = std::io::Error::other("the disk is full");
        let fault = Error::fault("writing the outbox", cause);
        assert_eq!(
            fault.to_string(),
            "internal error: writing the outbox: the disk is full"
        );
        let source = std::error::Error::source(&fault).expect("the fault");
        assert!(source.source().is_some(), "the cause itself is kept, not its text");
        assert_eq!(
            Error::internal("a rule broke").to_string(),
            "internal error: a rule broke"
        );
    }
}
