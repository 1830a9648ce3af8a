//! What every mailing store writes the same way, whatever its SQL: the
//! client reference of a recipient row and what a delivery report does to
//! it.

use crate::mailing::RecipientState;
use crate::sms::DeliveryState;

/// The client reference sent with recipient row `id` of mailing
/// `mailing`: unique in the store, the same on every attempt (so a
/// gateway's duplicate check and its delivery reports recognise it), and
/// short (Puzzel echoes it as `customermessagereference`).
pub(crate) fn client_reference(mailing: i64, id: i64) -> String {
    format!("crm{mailing}-{id}")
}

/// The mailing and row a client reference of [`client_reference`]'s form
/// names; `None` for any other text (a report of another sender's).
pub(crate) fn parse_client_reference(text: &str) -> Option<(i64, i64)> {
    let (mailing, id) = text.strip_prefix("crm")?.split_once('-')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(mailing) || !ok(id) {
        return None;
    }
    Some((mailing.parse().ok()?, id.parse().ok()?))
}

/// A report's state as stored (`delivered`, `failed`, `expired`,
/// `unknown`).
pub(crate) fn receipt_state(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed { .. } => "failed",
        DeliveryState::Expired => "expired",
        _ => "unknown",
    }
}

/// What a report in stored `state` does to its recipient: the new state
/// and the reason to keep.
pub(crate) fn report_effect(
    state: &str,
    code: &str,
    description: Option<&str>,
) -> (RecipientState, Option<String>) {
    let why = || match description {
        Some(d) if !d.is_empty() => format!("{code} {d}"),
        _ => code.to_owned(),
    };
    match state {
        "delivered" => (RecipientState::Delivered, None),
        "failed" | "expired" => (
            RecipientState::Failed,
            Some(format!("delivery report: {state} ({})", why())),
        ),
        // A report in a state this crate does not know: the recipient stays
        // accepted, the code is kept as its reason.
        _ => (
            RecipientState::Accepted,
            Some(format!("delivery report: unknown state ({})", why())),
        ),
    }
}

/// A recipient's settled state and what to write with it:
/// `(state, gateway reference, reason, whether it is a retry)`.
pub(crate) fn settlement_row(
    s: &crate::mailing::Settlement,
) -> (RecipientState, Option<&str>, Option<&str>, bool) {
    use crate::mailing::Settlement;
    match s {
        Settlement::Accepted { reference, note } => (
            RecipientState::Accepted,
            reference.as_deref(),
            note.as_deref(),
            false,
        ),
        Settlement::Failed { reason } => (RecipientState::Failed, None, Some(reason), false),
        Settlement::Unknown { reason } => (RecipientState::Unknown, None, Some(reason), false),
        Settlement::Retry { reason } => (RecipientState::Pending, None, Some(reason), true),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_references_round_trip_and_others_are_not_ours() {
        let r = super::client_reference(12, 3456);
        assert_eq!(r, "crm12-3456");
        assert_eq!(super::parse_client_reference(&r), Some((12, 3456)));
        for other in [
            "", "crm", "crm1", "crm-1", "crm1-", "crm1-x", "abc1-2", "crm+1-2", "MyRef123",
        ] {
            assert_eq!(super::parse_client_reference(other), None, "{other}");
        }
    }
}
