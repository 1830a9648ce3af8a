//! Delivery reports and incoming SMS pushed by Intelecom/Puzzel: JSON
//! (`{"dr":[…]}`, `{"mo":[…]}`), XML (`<dr><message>…`, `<mo><message>…`)
//! and GET templates, into [`DeliveryReceipt`] and [`IncomingMessage`].
//!
//! A batch gives one result per entry, so one bad entry never loses the
//! others. Field names are compared case-insensitively (GET templates name
//! them as the customer chose, e.g. `customerMessageReference`), and a
//! repeated name keeps its first value ([`Fields`]).
//!
//! The readers (`json.rs`, `xml.rs`, and `entries.rs` that picks one) are
//! reachable for fuzz targets, benches and tests through
//! `crm_comms::testing::wire::intelecom` (not API), as `PSWinCom`'s are.

use super::wire::PROVIDER;
use crate::phone::PhoneNumber;
use crate::sms::push::Fields;
use crate::sms::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage};

pub(crate) mod entries;
mod json;
mod xml;

/// Largest callback body read, in bytes.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// What a DR `statuscode` means.
#[must_use]
pub fn dr_state(code: i64) -> DeliveryState {
    match code {
        // 390: sent but not billed — delivered as far as the sender cares.
        0 | 390 => DeliveryState::Delivered,
        361 | 362 => DeliveryState::Expired,
        350 | 351 | 357 | 358 | 359 | 654 | 655 => DeliveryState::Failed { permanent: true },
        354 | 355 | 356 | 360 | 363 | 364 | 368 | 369 | 370 | 371 | 380 | 385 | 386 | 650 | 651
        | 652 | 653 => DeliveryState::Failed { permanent: false },
        _ => DeliveryState::Unknown,
    }
}

pub(super) fn dr_from_fields(i: usize, mut f: Fields) -> Result<DeliveryReceipt, CallbackError> {
    let reference = f
        .take("messageid")
        .ok_or_else(|| CallbackError::field(i, "messageid", "is missing"))?;
    let code_text = f
        .take("statuscode")
        .ok_or_else(|| CallbackError::field(i, "statuscode", "is missing"))?;
    let code: i64 = code_text.trim().parse().map_err(|_| {
        CallbackError::field(i, "statuscode", format!("{code_text:?} is not a number"))
    })?;
    let operator = match (f.take("extstatuscode"), f.take("extstatusdescription")) {
        (Some(c), Some(d)) => Some(format!("{c} {d}")),
        (c, d) => c.or(d),
    };
    Ok(DeliveryReceipt {
        provider: PROVIDER,
        reference,
        client_reference: f.take("customermessagereference"),
        batch_reference: f.take("customerbatchreference"),
        recipient: f
            .take("recipient")
            .or_else(|| f.take("msisdn"))
            .and_then(|r| PhoneNumber::parse(&r, None).ok()),
        state: dr_state(code),
        status_code: code.to_string(),
        description: f.take("statusdescription"),
        operator_status: operator,
        done_at: f
            .take("timestamp")
            .or_else(|| f.take("deliverytime"))
            .map(|t| crate::sms::gateway_time(&t)),
    })
}

pub(super) fn mo_from_fields(i: usize, mut f: Fields) -> Result<IncomingMessage, CallbackError> {
    let id = f
        .take("messageid")
        .ok_or_else(|| CallbackError::field(i, "messageid", "is missing"))?;
    let from_raw = f
        .take("originator")
        .ok_or_else(|| CallbackError::field(i, "originator", "is missing"))?;
    let text = f
        .remove("content")
        .ok_or_else(|| CallbackError::field(i, "content", "is missing"))?;
    let network = match (f.take("mcc"), f.take("mnc")) {
        (Some(mcc), Some(mnc)) => Some(format!("{mcc}:{mnc}")),
        _ => None,
    };
    Ok(IncomingMessage {
        provider: PROVIDER,
        id,
        unique_id: true,
        from: PhoneNumber::parse(&from_raw, None).ok(),
        from_raw,
        to: f.take("sno"),
        text,
        keyword: f.take("command"),
        stripped_text: f.remove("strippedcontent"),
        session_id: f.take("sessionid"),
        received_at: f.take("timestamp"),
        network,
        extras: {
            let mut rest: Vec<(String, String)> = f.into_iter().collect();
            rest.sort();
            rest
        },
    })
}

/// A push's entries: each one's place in `text` and its fields.
pub(super) struct Parsed<'a> {
    pub(super) text: std::borrow::Cow<'a, str>,
    pub(super) entries: Vec<(std::ops::Range<usize>, Result<Fields, CallbackError>)>,
}

impl Parsed<'_> {
    /// Each entry built with `build`; an entry that fails carries its raw
    /// text.
    pub(super) fn build<T>(
        self,
        build: fn(usize, Fields) -> Result<T, CallbackError>,
    ) -> Vec<Result<T, CallbackError>> {
        let text = self.text;
        self.entries
            .into_iter()
            .enumerate()
            .map(|(i, (span, f))| {
                f.and_then(|f| build(i, f))
                    .map_err(|e| match text.get(span) {
                        Some(raw) => e.with_raw(raw),
                        None => e,
                    })
            })
            .collect()
    }
}

pub(super) fn query_fields(query: &[u8]) -> Fields {
    form_urlencoded::parse(query.strip_prefix(b"?").unwrap_or(query))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}
/// Intelecom's pushes for the webhook receiver: JSON and XML `POST`s and
/// `GET` templates on `/intelecom/mo` and `/intelecom/dr`, answered 200
/// (empty) once every entry is handled and 500 to have the batch
/// redelivered (the gateway repeats the whole push).
#[derive(Clone, Copy, Debug, Default)]
pub struct IntelecomPushes;

impl crate::sms::push::PushFormat for IntelecomPushes {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn accepts_get(&self) -> bool {
        true
    }

    fn parse(
        &self,
        kind: crate::sms::push::PushKind,
        request: &crate::sms::push::PushRequest<'_>,
    ) -> Result<Vec<crate::sms::push::PushEntry<crate::sms::push::Pushed>>, CallbackError> {
        use crate::sms::push::{PushEntry, PushKind, Pushed};
        use entries::{PushBody, read};
        let (encoding, input) = if request.method.eq_ignore_ascii_case("GET") {
            (PushBody::Query, request.query.as_bytes())
        } else {
            let encoding = match request.media_type().as_str() {
                "application/json" => PushBody::Json,
                "application/xml" | "text/xml" => PushBody::Xml,
                other => {
                    return Err(CallbackError::unsupported_content_type(format!(
                        "content type {other:?} is not JSON or XML"
                    )));
                }
            };
            (encoding, request.body)
        };
        Ok(match kind {
            PushKind::Delivery => read::<DeliveryReceipt>(encoding, input)?
                .into_iter()
                .map(|r| PushEntry::without_id(r).map(Pushed::Delivery))
                .collect(),
            _ => read::<IncomingMessage>(encoding, input)?
                .into_iter()
                .map(|r| PushEntry::without_id(r).map(Pushed::Incoming))
                .collect(),
        })
    }

    fn answer(
        &self,
        _: crate::sms::push::PushKind,
        _: &crate::sms::push::PushRequest<'_>,
        entries: &[(String, crate::sms::push::EntryFate)],
    ) -> crate::sms::push::PushAnswer {
        let fates: Vec<_> = entries.iter().map(|(_, f)| *f).collect();
        crate::sms::push::PushAnswer::all_or_redeliver(&fates)
    }
}
