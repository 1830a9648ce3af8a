//! Delivery reports and incoming SMS, in provider-neutral form.

use crate::phone::PhoneNumber;

/// The final state a delivery report gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Delivered to the handset.
    Delivered,
    /// Not delivered and it will not be; `permanent` when sending to the
    /// number again will fail too (unknown or barred number).
    Failed {
        /// Whether the number itself is the problem.
        permanent: bool,
    },
    /// Not delivered within the validity period.
    Expired,
    /// A state this crate does not know; the raw code is kept.
    Unknown,
}

/// One delivery report (DR) from a gateway.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DeliveryReceipt {
    /// The gateway that sent it.
    pub provider: &'static str,
    /// The gateway's reference of the message (as in the send report).
    pub reference: String,
    /// The client reference sent with the message, if echoed.
    pub client_reference: Option<String>,
    /// The batch reference sent with the message, if echoed.
    pub batch_reference: Option<String>,
    /// The recipient, when the report names it.
    pub recipient: Option<PhoneNumber>,
    /// The state.
    pub state: DeliveryState,
    /// The gateway's own status code, as text.
    pub status_code: String,
    /// The gateway's description.
    pub description: Option<String>,
    /// The operator's code and description, if given.
    pub operator_status: Option<String>,
    /// When it was delivered or failed, as the gateway wrote it.
    pub done_at: Option<String>,
}

impl DeliveryReceipt {
    /// A report from `provider` on the message with the gateway's
    /// `reference`, in `state`, with the gateway's own status code; set the
    /// other fields as the gateway gives them.
    #[must_use]
    pub fn new(
        provider: &'static str,
        reference: &str,
        state: DeliveryState,
        status_code: &str,
    ) -> Self {
        DeliveryReceipt {
            provider,
            reference: reference.to_owned(),
            client_reference: None,
            batch_reference: None,
            recipient: None,
            state,
            status_code: status_code.to_owned(),
            description: None,
            operator_status: None,
            done_at: None,
        }
    }
}

/// One incoming SMS (MO) from a gateway.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IncomingMessage {
    /// The gateway that sent it.
    pub provider: &'static str,
    /// The gateway's id of the message; the same on redelivery.
    pub id: String,
    /// Whether `id` tells this message from every other (true for
    /// Intelecom's `messageid` and `PSWinCom`'s `REF`). False when the
    /// gateway gave only a number within the push (`PSWinCom`'s `ID` without
    /// a `REF`): then a second, identical message from the same sender is
    /// indistinguishable from a redelivery, and the receiver dedups it
    /// only within its short window.
    pub unique_id: bool,
    /// The sender's number as the gateway wrote it.
    pub from_raw: String,
    /// The sender, when it is a valid international number.
    pub from: Option<PhoneNumber>,
    /// The number it was sent to (a short number such as `1960`).
    pub to: Option<String>,
    /// The full text.
    pub text: String,
    /// The keyword the gateway routed it by, if it says.
    pub keyword: Option<String>,
    /// The text without the keyword, if the gateway gives it.
    pub stripped_text: Option<String>,
    /// The session id, for replies within a session.
    pub session_id: Option<String>,
    /// When it was received, as the gateway wrote it.
    pub received_at: Option<String>,
    /// The sender's network as `mcc:mnc`.
    pub network: Option<String>,
    /// Other fields the gateway sent, by name (`PSWinCom`'s `ADDRESS`,
    /// `POSITION/POS/LATITUDE`, `METADATA/…`; Intelecom's `serviceid`,
    /// `sctimestamp`, …).
    pub extras: Vec<(String, String)>,
}

impl IncomingMessage {
    /// A message from `provider` with the gateway's `id`, the sender as
    /// written (`from` is parsed from it when it is a valid international
    /// number) and the text; set the other fields as the gateway gives them.
    ///
    /// ```
    /// use crm_comms::sms::IncomingMessage;
    /// let mut m = IncomingMessage::new("mygateway", "m-1", "+4741000001", "STOPP");
    /// m.to = Some("26112".into());
    /// assert_eq!(m.from.unwrap().e164(), "+4741000001");
    /// ```
    #[must_use]
    pub fn new(provider: &'static str, id: &str, from_raw: &str, text: &str) -> Self {
        let international = if from_raw.starts_with('+') {
            from_raw.to_owned()
        } else {
            format!("+{from_raw}")
        };
        IncomingMessage {
            provider,
            id: id.to_owned(),
            unique_id: true,
            from_raw: from_raw.to_owned(),
            from: PhoneNumber::parse(&international, None).ok(),
            to: None,
            text: text.to_owned(),
            keyword: None,
            stripped_text: None,
            session_id: None,
            received_at: None,
            network: None,
            extras: Vec::new(),
        }
    }
}

/// The most of an unreadable entry's raw text a [`CallbackError`] keeps.
pub const MAX_RAW_ENTRY: usize = 4096;

/// A callback body (or one entry of it) that cannot be read.
///
/// Its `Display` never includes the entry's text (personal data); the raw
/// entry is in [`raw`](Self::raw) for whoever must keep a trace of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{reason}", entry.map(|e| format!("entry {e}: ")).unwrap_or_default(), if field == "content-type" { String::new() } else { format!("{field}: ") })]
#[non_exhaustive]
pub struct CallbackError {
    /// The 0-based entry of a batch, or `None` for the whole body.
    pub entry: Option<usize>,
    /// The field (or `body`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// The entry as it arrived (at most [`MAX_RAW_ENTRY`] bytes, cut at a
    /// character boundary), when the parser could tell where it starts and
    /// ends.
    pub raw: Option<String>,
}

impl CallbackError {
    /// An error about the whole body.
    pub fn body(reason: impl Into<String>) -> Self {
        CallbackError {
            entry: None,
            field: "body".into(),
            reason: reason.into(),
            raw: None,
        }
    }

    /// A push whose content type the gateway's format does not take (its
    /// `field` is `content-type`).
    pub fn unsupported_content_type(reason: impl Into<String>) -> Self {
        CallbackError {
            entry: None,
            field: "content-type".into(),
            reason: reason.into(),
            raw: None,
        }
    }

    /// An error about one field of one entry.
    pub fn field(entry: usize, field: &str, reason: impl Into<String>) -> Self {
        CallbackError {
            entry: Some(entry),
            field: field.into(),
            reason: reason.into(),
            raw: None,
        }
    }

    /// With the entry's raw text (cut to [`MAX_RAW_ENTRY`] bytes).
    #[must_use]
    pub fn with_raw(mut self, raw: &str) -> Self {
        let mut end = raw.len().min(MAX_RAW_ENTRY);
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        self.raw = Some(raw[..end].to_owned());
        self
    }
}

/// A gateway's time stamp as `yyyy-MM-dd HH:mm:ss`, from the forms the
/// gateways write (`PSWinCom`'s `yyyy.MM.dd HH:mm:ss` and `yyyyMMddHHmm`,
/// Puzzel's `yyyyMMdd HH:mm:ss`); the text as given when it is in none.
/// The zone is the gateway's (Norwegian local time).
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
pub(crate) fn gateway_time(raw: &str) -> String {
    let t = raw.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let b = t.as_bytes();
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if b.len() == 19
        && at(4, b'.')
        && at(7, b'.')
        && at(10, b' ')
        && at(13, b':')
        && at(16, b':')
        && [
            &t[..4],
            &t[5..7],
            &t[8..10],
            &t[11..13],
            &t[14..16],
            &t[17..],
        ]
        .iter()
        .all(|p| digits(p))
    {
        return format!("{}-{}-{} {}", &t[..4], &t[5..7], &t[8..10], &t[11..]);
    }
    if b.len() == 17
        && at(8, b' ')
        && at(11, b':')
        && at(14, b':')
        && [&t[..8], &t[9..11], &t[12..14], &t[15..]]
            .iter()
            .all(|p| digits(p))
    {
        return format!("{}-{}-{} {}", &t[..4], &t[4..6], &t[6..8], &t[9..]);
    }
    if b.len() == 12 && digits(t) {
        return format!(
            "{}-{}-{} {}:{}:00",
            &t[..4],
            &t[4..6],
            &t[6..8],
            &t[8..10],
            &t[10..12]
        );
    }
    t.to_owned()
}

#[cfg(all(test, any(feature = "intelecom", feature = "pswincom")))]
mod gateway_time_tests {
    #[test]
    fn every_gateway_form_reads_the_same() {
        for raw in [
            "2026.12.04 18:01:02",
            "20261204 18:01:02",
            " 2026-12-04 18:01:02 ",
        ] {
            assert_eq!(super::gateway_time(raw), "2026-12-04 18:01:02", "{raw}");
        }
        assert_eq!(super::gateway_time("202612041801"), "2026-12-04 18:01:00");
        assert_eq!(super::gateway_time("yesterday"), "yesterday");
        assert_eq!(
            super::gateway_time("2026120x 18:01:02"),
            "2026120x 18:01:02"
        );
    }
}
