//! Delivery reports and incoming SMS pushed by `PSWinCom`, and the
//! acknowledgements it expects, for the webhook receiver
//! ([`PswincomPushes`]).
//!
//! - XML: `<MSGLST><MSG>…</MSG>…</MSGLST>`, usually ISO-8859-1 and possibly
//!   with a `<!DOCTYPE … SYSTEM "….dtd">`, which is skipped: no DTD or
//!   external entity is ever fetched or expanded (an entity reference other
//!   than the five predefined ones and character references is an error in
//!   that entry's field). Acknowledged with one `MSG/ID` + `STATUS` per
//!   received `ID`.
//! - Form (`application/x-www-form-urlencoded`): one entry per request,
//!   percent-encoded **ISO-8859-1** (`Hei+p%e5+deg`) unless the content
//!   type names another charset. Acknowledged with HTTP 200 and
//!   [`FORM_ACK`].
//!
//! A batch gives one entry per `MSG`, so one bad entry never loses the
//! others, and each keeps its `ID` for the acknowledgement. The readers
//! themselves (`xml.rs`, `form.rs`) are reachable for fuzz targets, benches
//! and tests through `crm_comms::testing::wire::pswincom` (not API), as
//! Intelecom's are.

use super::PROVIDER;
use crate::phone::PhoneNumber;
use crate::sms::push::{Fields, PushEntry};
use crate::sms::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage};

mod form;
mod xml;

/// The readers behind [`PswincomPushes`] (see the module docs).
#[allow(unreachable_pub)]
#[cfg_attr(not(feature = "testing"), allow(dead_code, unused_imports))]
pub(crate) mod entries {
    pub use super::form::{charset_of, parse_dr_form, parse_mo_form};
    pub use super::xml::{MAX_DEPTH, ack_xml, parse_ack, parse_dr_xml, parse_mo_xml};

    /// `DELIVERYTIME` as `yyyy-MM-dd HH:mm:ss` from either documented form
    /// (`yyyy.MM.dd HH:mm:ss`, `yyyyMMddHHmm`); the text as given when it
    /// is in neither.
    #[must_use]
    pub fn normalize_delivery_time(raw: &str) -> String {
        crate::sms::gateway_time(raw)
    }
}
use form::{charset_of, parse_dr_form, parse_mo_form};
use xml::{ack_xml, parse_dr_xml, parse_mo_xml};

/// Largest callback body read, in bytes.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// The body of the acknowledgement of a form push (with HTTP 200,
/// `text/plain`).
pub const FORM_ACK: &str = "OK";

/// What a DR `STATE` means. `DELIVRD` is the only success; states this
/// crate does not know are [`DeliveryState::Unknown`].
#[must_use]
pub fn dr_state(state: &str) -> DeliveryState {
    match state.trim().to_ascii_uppercase().as_str() {
        "DELIVRD" => DeliveryState::Delivered,
        "EXPIRED" => DeliveryState::Expired,
        "UNDELIV" | "REJECTD" | "BARRED" | "BARREDC" | "BARREDA" | "BARREDP" | "INV_NET" => {
            DeliveryState::Failed { permanent: true }
        }
        "DELETED" | "FAILED" | "BARREDT" | "ZEROBAL" | "ZERO_BAL" => {
            DeliveryState::Failed { permanent: false }
        }
        _ => DeliveryState::Unknown,
    }
}

fn number(raw: &str) -> Option<PhoneNumber> {
    let digits = raw.trim().trim_start_matches('+');
    PhoneNumber::parse(&format!("+{digits}"), None).ok()
}

pub(super) fn dr_from_fields(i: usize, f: &Fields) -> Result<DeliveryReceipt, CallbackError> {
    let reference = f
        .non_empty("REF")
        .ok_or_else(|| CallbackError::field(i, "REF", "is missing"))?
        .trim()
        .to_owned();
    let state = f
        .non_empty("STATE")
        .ok_or_else(|| CallbackError::field(i, "STATE", "is missing"))?
        .trim()
        .to_owned();
    let rcv = f
        .non_empty("RCV")
        .ok_or_else(|| CallbackError::field(i, "RCV", "is missing"))?;
    Ok(DeliveryReceipt {
        provider: PROVIDER,
        reference,
        client_reference: None,
        batch_reference: None,
        recipient: number(rcv),
        state: dr_state(&state),
        status_code: state,
        description: None,
        operator_status: None,
        done_at: f
            .non_empty("DELIVERYTIME")
            .map(entries::normalize_delivery_time),
    })
}

pub(super) fn mo_from_fields(i: usize, f: &Fields) -> Result<IncomingMessage, CallbackError> {
    let from_raw = f
        .non_empty("SND")
        .ok_or_else(|| CallbackError::field(i, "SND", "is missing"))?
        .trim()
        .to_owned();
    let text = f
        .get("TEXT")
        .or_else(|| f.get("TXT"))
        .ok_or_else(|| CallbackError::field(i, "TEXT", "is missing"))?
        .to_owned();
    // The push ID counts 1..n within a push, so it is no identity; the
    // gateway's reference is, when it sends one.
    let reference = f
        .non_empty("REF")
        .or_else(|| f.non_empty("METADATA/REFERENCE"));
    let unique_id = reference.is_some();
    let id = reference
        .or_else(|| f.non_empty("ID"))
        .ok_or_else(|| CallbackError::field(i, "ID", "is missing"))?
        .trim()
        .to_owned();
    let known = ["ID", "TEXT", "TXT", "SND", "RCV", "NET", "REF"];
    Ok(IncomingMessage {
        provider: PROVIDER,
        id,
        unique_id,
        from: number(&from_raw),
        from_raw,
        to: f.non_empty("RCV").map(|s| s.trim().to_owned()),
        text,
        keyword: None,
        stripped_text: None,
        session_id: None,
        received_at: f.non_empty("METADATA/TIMESTAMP").map(str::to_owned),
        network: f.non_empty("NET").map(|s| s.trim().to_owned()),
        extras: f
            .iter()
            .filter(|(k, _)| !known.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    })
}

/// `PSWinCom`'s pushes for the webhook receiver, on `/pswincom/mo` and
/// `/pswincom/dr`: an XML `MSGLST` is answered 200 with an ack listing
/// each `ID` as `OK` or `FAIL` (the gateway redelivers the `FAIL`ed ones
/// alone); a form push (one entry) is answered 200 [`FORM_ACK`], or 500 to
/// have it redelivered.
#[derive(Clone, Copy, Debug, Default)]
pub struct PswincomPushes;

impl crate::sms::push::PushFormat for PswincomPushes {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn parse(
        &self,
        kind: crate::sms::push::PushKind,
        request: &crate::sms::push::PushRequest<'_>,
    ) -> Result<Vec<PushEntry<crate::sms::push::Pushed>>, CallbackError> {
        use crate::sms::push::{PushKind, Pushed};
        let delivery = kind == PushKind::Delivery;
        match request.media_type().as_str() {
            "application/x-www-form-urlencoded" => {
                let charset = charset_of(request.content_type);
                let result = if delivery {
                    parse_dr_form(request.body, charset).map(Pushed::Delivery)
                } else {
                    parse_mo_form(request.body, charset).map(Pushed::Incoming)
                };
                // One entry per request: unreadable means the whole push is.
                Ok(vec![PushEntry::without_id(Ok(result?))])
            }
            "application/xml" | "text/xml" => Ok(if delivery {
                parse_dr_xml(request.body)?
                    .into_iter()
                    .map(|e| e.map(Pushed::Delivery))
                    .collect()
            } else {
                parse_mo_xml(request.body)?
                    .into_iter()
                    .map(|e| e.map(Pushed::Incoming))
                    .collect()
            }),
            other => Err(CallbackError::unsupported_content_type(format!(
                "content type {other:?} is not XML or a form"
            ))),
        }
    }

    fn answer(
        &self,
        _: crate::sms::push::PushKind,
        request: &crate::sms::push::PushRequest<'_>,
        entries: &[(String, crate::sms::push::EntryFate)],
    ) -> crate::sms::push::PushAnswer {
        use crate::sms::push::{EntryFate, PushAnswer};
        if request.media_type() == "application/x-www-form-urlencoded" {
            return if entries.iter().all(|(_, f)| *f == EntryFate::Acknowledged) {
                PushAnswer::with_body(200, "text/plain; charset=utf-8", FORM_ACK)
            } else {
                PushAnswer::all_or_redeliver(&[EntryFate::Redeliver])
            };
        }
        let body = ack_xml(
            entries
                .iter()
                .map(|(id, f)| (id.as_str(), *f == EntryFate::Acknowledged)),
        );
        PushAnswer::with_body(200, "text/xml; charset=iso-8859-1", body)
    }
}
