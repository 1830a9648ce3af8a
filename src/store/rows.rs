//! What every mailing store writes the same way, whatever its SQL: the
//! client reference of a recipient row and what a delivery report does to
//! it.

use super::{StoreError, StoreErrorKind};
use crate::mailing::{MailingId, RecipientState};
use crate::phone::PhoneNumber;
use crate::sms::DeliveryState;

/// A [`MailingId`] is stored as the `BIGINT`/`INTEGER` it wraps, in every
/// SQL backend.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod mailing_id_sql {
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::{Database, Decode, Encode, Type};

    use super::MailingId;

    impl<DB: Database> Type<DB> for MailingId
    where
        i64: Type<DB>,
    {
        fn type_info() -> DB::TypeInfo {
            <i64 as Type<DB>>::type_info()
        }

        fn compatible(ty: &DB::TypeInfo) -> bool {
            <i64 as Type<DB>>::compatible(ty)
        }
    }

    impl<'q, DB: Database> Encode<'q, DB> for MailingId
    where
        i64: Encode<'q, DB>,
    {
        fn encode_by_ref(
            &self,
            buf: &mut <DB as Database>::ArgumentBuffer<'q>,
        ) -> Result<IsNull, BoxDynError> {
            self.get().encode_by_ref(buf)
        }
    }

    impl<'r, DB: Database> Decode<'r, DB> for MailingId
    where
        i64: Decode<'r, DB>,
    {
        fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
            <i64 as Decode<'r, DB>>::decode(value).map(MailingId::new)
        }
    }
}

/// The client reference sent with recipient row `id` of mailing
/// `mailing`: unique in the store, the same on every attempt (so a
/// gateway's duplicate check and its delivery reports recognise it), and
/// short (Puzzel echoes it as `customermessagereference`).
pub(crate) fn client_reference(mailing: MailingId, id: i64) -> String {
    format!("crm{mailing}-{id}")
}

/// The number of a claimed row, read back from the store: E.164, as
/// preparation wrote it. A number that does not read is a store that was
/// changed behind the crate's back: an error naming the row (never a
/// message sent to digits nobody checked).
pub(crate) fn claimed_number(row: i64, stored: &str) -> Result<PhoneNumber, StoreError> {
    stored.parse().map_err(|e| {
        StoreError::new(
            StoreErrorKind::Other,
            format!("recipient row {row} holds a number that is not E.164 ({e}); cancel the row or fix it"),
        )
    })
}

/// The mailing and row a client reference of [`client_reference`]'s form
/// names; `None` for any other text (a report of another sender's).
pub(crate) use crate::mailing::parse_client_reference;

/// The forms a number is stored and pushed in, for erasure and access:
/// its digits without `+` (sent records keep either form), and its last
/// eight digits (the part of a dedup key that names it). Refuses anything
/// but E.164 (`+` and up to 15 digits), so a typo erases nothing else.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn number_forms(number: &str) -> Result<(&str, &str), StoreError> {
    let digits = number.strip_prefix('+').unwrap_or("");
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::new(
            StoreErrorKind::Invalid,
            format!("{number:?} is not a number in E.164 (`+4741000001`)"),
        ));
    }
    Ok((digits, &digits[digits.len().saturating_sub(8)..]))
}

/// A consent log entry from its stored columns (`at` in milliseconds).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn consent_entry(
    number: String,
    action: &str,
    via: String,
    message: Option<String>,
    at: i64,
) -> Result<crate::mailing::ConsentEntry, StoreError> {
    Ok(crate::mailing::ConsentEntry {
        number,
        action: crate::mailing::ConsentAction::from_name(action).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Schema,
                format!("consent action {action:?} is not one this build knows"),
            )
        })?,
        via,
        message,
        at: jiff::Timestamp::from_millisecond(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    })
}

/// A mailing's listing from its stored columns (`created_ms` in
/// milliseconds; times in RFC 3339).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn mailing_listing(
    id: i64,
    name: String,
    status: &str,
    created_ms: i64,
    send_at: Option<String>,
    expires_at: Option<String>,
) -> Result<crate::mailing::MailingListing, StoreError> {
    let time = |s: Option<String>| s.and_then(|s| s.parse().ok());
    Ok(crate::mailing::MailingListing {
        id: MailingId::new(id),
        name,
        status: crate::mailing::MailingStatus::from_name(status).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Schema,
                format!("mailing status {status:?} is not one this build knows"),
            )
        })?,
        created_at: jiff::Timestamp::from_millisecond(created_ms)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        send_at: time(send_at),
        expires_at: time(expires_at),
    })
}

/// Which recipient row a delivery report may change (issue 30, item 6):
/// the row its client reference names, and no other; by gateway reference
/// only when the report carries no client reference at all (`PSWinCom`'s),
/// among rows of mailings sent through the report's gateway, the newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportTarget<'a> {
    /// The row `id` of mailing `mailing` (a client reference of ours).
    Row { mailing: MailingId, id: i64 },
    /// The newest row with this gateway reference, sent through
    /// `provider`.
    GatewayRef {
        reference: &'a str,
        provider: &'a str,
    },
    /// No row of ours: a client reference another sender chose, or a
    /// report with no reference at all.
    Foreign,
}

/// A report's client reference as it is matched and kept (`None` for an
/// empty one: the gateway sends `""` for "none").
pub(crate) fn report_client_ref(receipt: &crate::sms::DeliveryReceipt) -> Option<&str> {
    receipt
        .client_reference
        .as_deref()
        .filter(|c| !c.is_empty())
}

impl<'a> ReportTarget<'a> {
    /// The target of `receipt`.
    pub(crate) fn of(receipt: &'a crate::sms::DeliveryReceipt) -> ReportTarget<'a> {
        match report_client_ref(receipt) {
            Some(c) => match parse_client_reference(c) {
                Some((mailing, id)) => ReportTarget::Row { mailing, id },
                None => ReportTarget::Foreign,
            },
            None if !receipt.reference.is_empty() => ReportTarget::GatewayRef {
                reference: &receipt.reference,
                provider: receipt.provider,
            },
            None => ReportTarget::Foreign,
        }
    }

    /// `(mailing, row)` when the target is a row of ours.
    pub(crate) fn row(self) -> (Option<MailingId>, Option<i64>) {
        match self {
            ReportTarget::Row { mailing, id } => (Some(mailing), Some(id)),
            _ => (None, None),
        }
    }

    /// The gateway reference to match by and the report's gateway, when
    /// that is the rule.
    #[cfg(feature = "postgres")]
    pub(crate) fn by_gateway(self) -> (Option<&'a str>, Option<&'a str>) {
        match self {
            ReportTarget::GatewayRef {
                reference,
                provider,
            } => (Some(reference), Some(provider)),
            _ => (None, None),
        }
    }
}

/// When a report says its message reached the phone (or failed): the
/// gateway's own time where the report has one (`yyyy-MM-dd HH:mm:ss`,
/// as the gateway gives it: Norwegian local time), else the time it
/// arrived here, in the same form and zone (Puzzel's delivery reports
/// carry no time).
pub(crate) fn delivery_time(receipt: &crate::sms::DeliveryReceipt) -> String {
    if let Some(t) = receipt.done_at.as_deref().filter(|t| !t.trim().is_empty()) {
        return t.to_owned();
    }
    let zone = jiff::tz::TimeZone::get("Europe/Oslo").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::now()
        .to_zoned_datetime(zone)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
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
        Settlement::Blocked { reason } => (RecipientState::Blocked, None, Some(reason), false),
        Settlement::Expired { reason } => (RecipientState::Expired, None, Some(reason), false),
    }
}

/// A stored mailing's columns, as both backends keep them.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) struct StoredMailing {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) template: String,
    pub(crate) sender: Option<String>,
    pub(crate) priority: i64,
    pub(crate) delivery_report: bool,
    pub(crate) send_at: Option<String>,
    pub(crate) send_window: Option<String>,
    pub(crate) expires_at: Option<String>,
    pub(crate) recipient_hours: Option<String>,
    pub(crate) frequency_cap: Option<String>,
    pub(crate) one_per_number: bool,
    pub(crate) default_country: Option<String>,
    pub(crate) max_parts: i64,
    pub(crate) status: String,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl StoredMailing {
    /// The spec and status, or a [`StoreErrorKind::Schema`] error naming
    /// the column that cannot be read.
    pub(crate) fn into_spec(
        self,
    ) -> Result<(crate::mailing::MailingSpec, crate::mailing::MailingStatus), StoreError> {
        use std::str::FromStr;

        use crate::mailing::{MailingSpec, MailingStatus, SendWindow, Template};
        let id = self.id;
        let corrupt = |what: &str| {
            StoreError::new(
                StoreErrorKind::Schema,
                format!("mailing {id}: the stored {what} cannot be read"),
            )
        };
        let template = Template::parse(&self.template).map_err(|_| corrupt("template"))?;
        let priority = u8::try_from(self.priority)
            .ok()
            .and_then(|p| crate::sms::Priority::try_from(p).ok())
            .ok_or_else(|| corrupt("priority"))?;
        let mut spec = MailingSpec::new(self.name, template)
            .with_priority(priority)
            .with_delivery_report(self.delivery_report)
            .with_one_per_number(self.one_per_number);
        spec.limits = crate::sms::encoding::Limits::standard(self.max_parts.max(1) as usize);
        if let Some(s) = self.sender {
            spec.sender = Some(crate::sms::Sender::parse(&s).map_err(|_| corrupt("sender"))?);
        }
        if let Some(s) = self.send_at {
            spec.send_at = Some(s.parse().map_err(|_| corrupt("send time"))?);
        }
        if let Some(s) = self.expires_at {
            spec.expires_at = Some(s.parse().map_err(|_| corrupt("expiry"))?);
        }
        if let Some(s) = self.recipient_hours {
            spec.recipient_hours = Some(s.parse().map_err(|_| corrupt("recipient hours"))?);
        }
        if let Some(s) = self.frequency_cap {
            spec.frequency_cap = Some(s.parse().map_err(|_| corrupt("frequency cap"))?);
        }
        if let Some(s) = self.send_window {
            spec.window = Some(SendWindow::from_str(&s).map_err(|_| corrupt("send window"))?);
        }
        if let Some(s) = self.default_country {
            spec.default_country = Some(
                crate::phone::DefaultCountry::from_str(&s)
                    .map_err(|_| corrupt("default country"))?,
            );
        }
        let status = MailingStatus::from_name(&self.status).ok_or_else(|| corrupt("status"))?;
        Ok((spec, status))
    }
}

/// A stored recipient state.
pub(crate) fn state_named(s: &str) -> Result<RecipientState, StoreError> {
    RecipientState::from_name(s).ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Schema,
            format!("recipient state {s:?} is not one this build knows"),
        )
    })
}

/// Statistics from the mailing's status, `(state, count, parts)` per
/// state, and the count of kept reports.
pub(crate) fn stats_from(
    status: &str,
    per_state: impl IntoIterator<Item = (String, i64, i64)>,
    unmatched_reports: i64,
) -> Result<crate::mailing::Stats, StoreError> {
    let mut counts = crate::mailing::Stats {
        status: crate::mailing::MailingStatus::from_name(status),
        states: RecipientState::ALL.iter().map(|s| (*s, 0)).collect(),
        unmatched_reports: unmatched_reports as u64,
        ..crate::mailing::Stats::default()
    };
    for (state, n, parts) in per_state {
        let row_state = state_named(&state)?;
        if let Some(slot) = counts.states.iter_mut().find(|(s, _)| *s == row_state) {
            slot.1 = n as u64;
        }
        if row_state != RecipientState::Blocked {
            counts.parts_total += parts as u64;
        }
        if matches!(
            row_state,
            RecipientState::Accepted | RecipientState::Delivered
        ) {
            counts.parts_sent += parts as u64;
        }
    }
    Ok(counts)
}

/// A kept sent-message record from its columns.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn sent_record(
    key: String,
    provider: String,
    reference: Option<String>,
    client_ref: Option<String>,
    recipient: &str,
) -> Result<crate::sms::tracking::SentRecord, StoreError> {
    let number = crate::phone::PhoneNumber::parse(recipient, None).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Schema,
            "a stored recipient is not a phone number",
        )
    })?;
    let mut r = crate::sms::tracking::SentRecord::new(key, provider, number);
    r.reference = reference;
    r.client_reference = client_ref;
    Ok(r)
}

/// Whether mailing `id`, now in stored status `current` (`None`: there is
/// no such mailing), may become `status`: a cancelled mailing stays
/// cancelled.
pub(crate) fn status_change(
    id: MailingId,
    current: Option<&str>,
    status: crate::mailing::MailingStatus,
) -> Result<(), StoreError> {
    match current {
        None => Err(StoreError::new(
            StoreErrorKind::Invalid,
            format!("there is no mailing {id}"),
        )),
        Some("cancelled") if status != crate::mailing::MailingStatus::Cancelled => {
            Err(StoreError::new(
                StoreErrorKind::Invalid,
                format!("mailing {id} is cancelled; it cannot be {status} again"),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_claimed_number_reads_back_or_names_its_row() {
        assert_eq!(
            super::claimed_number(7, "+4741000000").unwrap().e164(),
            "+4741000000"
        );
        let e = super::claimed_number(7, "41 00 00 00; DROP").unwrap_err();
        assert!(e.to_string().contains("row 7"), "{e}");
    }

    #[test]
    fn client_references_round_trip_and_others_are_not_ours() {
        let r = super::client_reference(super::MailingId::new(12), 3456);
        assert_eq!(r, "crm12-3456");
        assert_eq!(
            super::parse_client_reference(&r),
            Some((super::MailingId::new(12), 3456))
        );
        for other in [
            "", "crm", "crm1", "crm-1", "crm1-", "crm1-x", "abc1-2", "crm+1-2", "MyRef123",
        ] {
            assert_eq!(super::parse_client_reference(other), None, "{other}");
        }
    }
}
