//! The rule from a gateway's outcome to what is written for a recipient,
//! and what a batch's outcomes say about the gateway: pure, so it is
//! unit-tested apart from the run loop.

use std::time::Duration;

use super::outbox::{Claimed, Settlement};
use crate::sms::{Outcome, SmsError, SmsErrorKind};

/// What one batch's answers were, and what they say about the gateway.
#[derive(Default)]
pub(super) struct BatchResult {
    pub(super) settlements: Vec<(Claimed, Settlement)>,
    /// The gateway refused the credentials: the run stops.
    pub(super) auth: Option<SmsError>,
    /// Unreachable (certainly not sent): back off and probe.
    pub(super) passing: bool,
    /// Rate-limited (certainly not sent): back off.
    pub(super) rate_limited: bool,
    /// The longest `Retry-After` the gateway asked for.
    pub(super) retry_after: Option<Duration>,
    /// Some outcome is unknown (5xx, a reset, a timeout after the request
    /// was written): stop claiming, back off, probe.
    pub(super) unsure: bool,
}

/// The rule from a gateway's outcome to what is written for the
/// recipient (and noted about the gateway in `about`): accepted (a
/// duplicate refusal is the gateway saying it has it), a retry for what
/// certainly was not sent for a passing reason, failed for good, or
/// unknown — resent only when the gateway refuses duplicates.
pub(super) fn settlement_of(
    outcome: Outcome,
    retries_left: bool,
    resend_safe: bool,
    about: &mut BatchResult,
) -> Settlement {
    match outcome {
        Outcome::Accepted { reference } => Settlement::Accepted {
            reference,
            note: None,
        },
        Outcome::Rejected(e) if e.kind() == SmsErrorKind::Duplicate => Settlement::Accepted {
            reference: None,
            note: Some(format!(
                "the gateway already had it (refused as a duplicate: {e})"
            )),
        },
        Outcome::Rejected(e) if e.kind() == SmsErrorKind::Unauthenticated => {
            let reason = e.to_string();
            about.auth.get_or_insert(e);
            Settlement::Retry { reason }
        }
        // A rate limit never fails a recipient: "not now" is all it says.
        Outcome::Rejected(e) if e.kind() == SmsErrorKind::RateLimited => {
            about.rate_limited = true;
            about.retry_after = about.retry_after.max(e.retry_after());
            Settlement::Retry {
                reason: e.to_string(),
            }
        }
        Outcome::Rejected(e)
            if retries_left
                && matches!(
                    e.kind(),
                    SmsErrorKind::Unavailable | SmsErrorKind::Tls | SmsErrorKind::Timeout
                ) =>
        {
            about.passing = true;
            Settlement::Retry {
                reason: e.to_string(),
            }
        }
        Outcome::Rejected(e) => Settlement::Failed {
            reason: e.to_string(),
        },
        Outcome::Unknown(e) if resend_safe => {
            about.passing = true;
            about.retry_after = about.retry_after.max(e.retry_after());
            Settlement::Retry {
                reason: format!("{e} (resent: the gateway refuses duplicates)"),
            }
        }
        Outcome::Unknown(e) => {
            about.unsure = true;
            about.retry_after = about.retry_after.max(e.retry_after());
            Settlement::Unknown {
                reason: e.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: SmsErrorKind) -> SmsError {
        SmsError::new(kind, "t", format!("{kind:?}"))
    }

    fn settle(
        outcome: Outcome,
        retries_left: bool,
        resend_safe: bool,
    ) -> (Settlement, BatchResult) {
        let mut about = BatchResult::default();
        let s = settlement_of(outcome, retries_left, resend_safe, &mut about);
        (s, about)
    }

    #[test]
    fn accepted_and_duplicates_are_accepted() {
        let (s, _) = settle(
            Outcome::Accepted {
                reference: Some("r1".into()),
            },
            true,
            false,
        );
        assert!(matches!(s, Settlement::Accepted { reference: Some(r), note: None } if r == "r1"));
        let (s, _) = settle(Outcome::Rejected(err(SmsErrorKind::Duplicate)), true, true);
        assert!(matches!(
            s,
            Settlement::Accepted {
                reference: None,
                note: Some(_)
            }
        ));
    }

    #[test]
    fn credentials_and_rate_limits_never_fail_a_recipient() {
        let (s, about) = settle(
            Outcome::Rejected(err(SmsErrorKind::Unauthenticated)),
            false,
            false,
        );
        assert!(matches!(s, Settlement::Retry { .. }) && about.auth.is_some());
        let limited = err(SmsErrorKind::RateLimited).with_retry_after(Duration::from_secs(7));
        let (s, about) = settle(Outcome::Rejected(limited), false, false);
        assert!(matches!(s, Settlement::Retry { .. }) && about.rate_limited);
        assert_eq!(about.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn passing_failures_retry_while_retries_last_then_fail() {
        for kind in [
            SmsErrorKind::Unavailable,
            SmsErrorKind::Tls,
            SmsErrorKind::Timeout,
        ] {
            let (s, about) = settle(Outcome::Rejected(err(kind)), true, false);
            assert!(
                matches!(s, Settlement::Retry { .. }) && about.passing,
                "{kind:?}"
            );
            let (s, _) = settle(Outcome::Rejected(err(kind)), false, false);
            assert!(matches!(s, Settlement::Failed { .. }), "{kind:?}");
        }
        let (s, about) = settle(
            Outcome::Rejected(err(SmsErrorKind::InvalidRecipient)),
            true,
            false,
        );
        assert!(matches!(s, Settlement::Failed { .. }) && !about.passing);
    }

    #[test]
    fn unknown_is_resent_only_where_the_gateway_refuses_duplicates() {
        let (s, about) = settle(Outcome::Unknown(err(SmsErrorKind::Timeout)), true, false);
        assert!(matches!(s, Settlement::Unknown { .. }) && about.unsure);
        let (s, about) = settle(Outcome::Unknown(err(SmsErrorKind::Timeout)), true, true);
        assert!(matches!(s, Settlement::Retry { .. }) && about.passing && !about.unsure);
    }
}
