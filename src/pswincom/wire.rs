//! The `PSWin` XML API on the wire, as pure functions: the `SESSION` request
//! for a batch, the body bytes in ISO-8859-1, and the response mapped back
//! to one outcome per message **by `ID`**.
//!
//! What this module decides, and why (`gateways.md` §2.2–2.3):
//!
//! - The body is ISO-8859-1 with `encoding="iso-8859-1"` declared and
//!   `Content-Type: text/xml; charset=iso-8859-1` — the documented
//!   reading. Any character outside Latin-1 in an element's text (a
//!   password with `€`) is written as a character reference (`&#8364;`),
//!   so nothing is lost or mis-declared. ISO-8859-1 is encoded here rather
//!   than with `encoding_rs`, which by the WHATWG standard treats the
//!   `iso-8859-1` label as windows-1252 — a different mapping.
//! - A text goes as plain `TEXT` (type 1) only when every character is in
//!   the GSM-7 repertoire *and* in Latin-1 *and* allowed in XML 1.0;
//!   anything else (emoji, Cyrillic, `€`, Greek capitals, a form feed) goes
//!   as Unicode, `OP` 9 with the UTF-16BE code units in lowercase hex.
//!   Carriage returns are written as `&#13;` so XML line-end
//!   normalisation cannot drop them.
//! - Receivers are digits without `+`; `ID`s are 1..n per request.
//! - `RCPREQ` `Y` when a delivery report is asked for; `TTL` in whole
//!   minutes, rounded up; `DELIVERYTIME` `yyyyMMddHHmm` in Norwegian time
//!   (CET/CEST, the documentation says "CET"; **unknown** whether it means
//!   a fixed UTC+1 — local time is taken, see [`delivery_time`]), rounded
//!   up to the minute, at most 7 days ahead.

// Why one file above 500 lines: one idea (the `SESSION` request and its
// answer on the wire), and most of it is the encoding decisions below, kept
// beside the code that makes them.

use std::time::{Duration, SystemTime};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

pub use super::PROVIDER;
use crate::sms::encoding::{Encoding, Limits, gsm_cost};
use crate::sms::{Message, Outcome, Secret, Sender, SmsError, SmsErrorKind};

/// The content type of requests.
pub const CONTENT_TYPE: &str = "text/xml; charset=iso-8859-1";

/// How far ahead a message may be scheduled.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// How a text is carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireText {
    /// Plain text (type 1), every character Latin-1 and GSM-7.
    Plain(String),
    /// Unicode (`OP` 9): lowercase hex of the UTF-16BE code units.
    UnicodeHex(String),
}

/// Whether a character may appear in XML 1.0 text.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// How `text` is carried: plain when it can be, Unicode otherwise.
#[must_use]
pub fn wire_text(text: &str) -> WireText {
    let plain = text
        .chars()
        .all(|c| (c as u32) <= 0xFF && gsm_cost(c) > 0 && xml_char(c));
    if plain {
        WireText::Plain(text.to_owned())
    } else {
        let mut hex = String::with_capacity(text.len() * 4);
        for unit in text.encode_utf16() {
            hex.push_str(&format!("{unit:04x}"));
        }
        WireText::UnicodeHex(hex)
    }
}

/// Checks the length of `text` as it will be carried; the plain/Unicode
/// decision here can differ from the generic GSM-7 detection (a `€` is
/// GSM-7 but not Latin-1, so it goes as Unicode).
///
/// # Errors
///
/// [`SmsErrorKind::TextTooLong`] when it needs more parts than `limits` allow.
pub fn check_length(text: &str, wire: &WireText, limits: &Limits) -> Result<(), SmsError> {
    let (units, encoding) = match wire {
        WireText::Plain(t) => (
            t.chars().map(|c| usize::from(gsm_cost(c))).sum(),
            Encoding::Gsm7,
        ),
        WireText::UnicodeHex(_) => (text.encode_utf16().count(), Encoding::Ucs2),
    };
    let max = limits.max_units(encoding);
    if units > max {
        return Err(SmsError::new(
            SmsErrorKind::TextTooLong,
            PROVIDER,
            format!(
                "the text is {units} {encoding} units as sent to PSWinCom; at most {max} fit in {} parts",
                limits.max_parts
            ),
        ));
    }
    Ok(())
}

/// The fewest digits a receiver may have (country code included).
pub const MIN_RECEIVER_DIGITS: usize = 9;

/// Whether `PSWinCom` takes `number` as a receiver (`RCV`: international
/// digits without `+`, at least [`MIN_RECEIVER_DIGITS`]).
#[must_use]
pub fn receiver_allowed(number: &crate::PhoneNumber) -> bool {
    number.digits().len() >= MIN_RECEIVER_DIGITS
}

/// `SND` for a sender: a name as is, numbers as digits without `+`.
#[must_use]
pub fn sender_text(sender: &Sender) -> String {
    match sender {
        Sender::International(n) => n.digits().to_owned(),
        other => other.as_text(),
    }
}

/// `TTL`: whole minutes, rounded up, at least 1 (0 would mean "the
/// default").
#[must_use]
pub fn ttl_minutes(validity: Duration) -> u64 {
    validity.as_secs().div_ceil(60).max(1)
}

/// `DELIVERYTIME` for `at`, seen from `now`: `None` when `at` is not in the
/// future (send now), the `yyyyMMddHHmm` text in Norwegian local time
/// (rounded up to the minute) otherwise.
///
/// # Errors
///
/// [`SmsErrorKind::NotSupported`] when `at` is more than
/// [`MAX_SCHEDULE_AHEAD`] after `now`.
pub fn delivery_time(at: SystemTime, now: SystemTime) -> Result<Option<String>, SmsError> {
    let Ok(ahead) = at.duration_since(now) else {
        return Ok(None);
    };
    if ahead.is_zero() {
        return Ok(None);
    }
    if ahead > MAX_SCHEDULE_AHEAD {
        return Err(SmsError::new(
            SmsErrorKind::NotSupported,
            PROVIDER,
            "PSWinCom schedules messages at most 7 days ahead",
        ));
    }
    oslo_minute(at).map(Some).ok_or_else(|| {
        SmsError::new(
            SmsErrorKind::InvalidMessage,
            PROVIDER,
            "the delivery time cannot be written in Norwegian local time",
        )
    })
}

/// `at` rounded up to the minute, as `yyyyMMddHHmm` on the wall clock in
/// Europe/Oslo (CET/CEST, from jiff's bundled time-zone database).
fn oslo_minute(at: SystemTime) -> Option<String> {
    use jiff::{RoundMode, TimestampRound, Unit};
    let ts = jiff::Timestamp::try_from(at).ok()?.round(
        TimestampRound::new()
            .smallest(Unit::Minute)
            .mode(RoundMode::Ceil),
    );
    let oslo = jiff::tz::TimeZone::get("Europe/Oslo").ok()?;
    Some(
        ts.ok()?
            .to_zoned_datetime(oslo)
            .strftime("%Y%m%d%H%M")
            .to_string(),
    )
}

/// One `MSG` as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMsg {
    /// `ID`, 1..n in the request.
    pub id: u32,
    /// `RCV`: digits without `+`.
    pub receiver: String,
    /// `TEXT` (and `OP` 9 for Unicode).
    pub text: WireText,
    /// `SND`.
    pub sender: Option<String>,
    /// `RCPREQ` `Y`.
    pub receipt: bool,
    /// `TTL` in minutes.
    pub ttl: Option<u64>,
    /// `DELIVERYTIME`.
    pub delivery_time: Option<String>,
}

/// The `MSG`s for one batch: one per recipient, `ID` 1..n.
///
/// # Errors
///
/// The message's length or schedule cannot be sent to `PSWinCom`.
pub fn wire_messages(
    message: &Message,
    limits: &Limits,
    now: SystemTime,
) -> Result<Vec<SessionMsg>, SmsError> {
    let text = wire_text(message.text());
    check_length(message.text(), &text, limits)?;
    let delivery_time = match message.send_at() {
        Some(at) => delivery_time(at, now)?,
        None => None,
    };
    let sender = message.sender().map(sender_text);
    Ok(message
        .recipients()
        .iter()
        .enumerate()
        .map(|(i, r)| SessionMsg {
            id: i as u32 + 1,
            receiver: r.digits().to_owned(),
            text: text.clone(),
            sender: sender.clone(),
            receipt: message.delivery_report(),
            ttl: message.validity().map(ttl_minutes),
            delivery_time: delivery_time.clone(),
        })
        .collect())
}

/// Escapes `text` for XML element content, keeping `\r` as `&#13;`.
fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    let e = quick_xml::escape::escape(text);
    if e.contains('\r') {
        e.replace('\r', "&#13;").into()
    } else {
        e
    }
}

/// The request document (UTF-8, before [`to_latin1`]).
#[must_use]
pub fn request_xml(user: &str, password: &Secret, messages: &[SessionMsg]) -> String {
    let mut w = Writer::new(Vec::new());
    // Writing to a Vec cannot fail; the results are ignored on purpose.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("iso-8859-1"), None)));
    let _ = w.create_element("SESSION").write_inner_content(|w| {
        let field = |w: &mut Writer<Vec<u8>>, name: &str, value: &str| {
            w.create_element(name)
                .write_text_content(BytesText::from_escaped(escaped(value)))
                .map(|_| ())
        };
        field(w, "CLIENT", user)?;
        field(w, "PW", password.expose())?;
        w.create_element("MSGLST").write_inner_content(|w| {
            for m in messages {
                w.create_element("MSG").write_inner_content(|w| {
                    field(w, "ID", &m.id.to_string())?;
                    match &m.text {
                        WireText::Plain(t) => field(w, "TEXT", t)?,
                        WireText::UnicodeHex(h) => {
                            field(w, "TEXT", h)?;
                            field(w, "OP", "9")?;
                        }
                    }
                    if m.receipt {
                        field(w, "RCPREQ", "Y")?;
                    }
                    if let Some(s) = &m.sender {
                        field(w, "SND", s)?;
                    }
                    field(w, "RCV", &m.receiver)?;
                    if let Some(ttl) = m.ttl {
                        field(w, "TTL", &ttl.to_string())?;
                    }
                    if let Some(t) = &m.delivery_time {
                        field(w, "DELIVERYTIME", t)?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        Ok(())
    });
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// ISO-8859-1 bytes of an XML document whose markup is ASCII: characters
/// above U+00FF (only ever in text) become character references.
#[must_use]
pub fn to_latin1(xml: &str) -> Vec<u8> {
    if xml.is_ascii() {
        return xml.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(xml.len());
    for c in xml.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
        }
    }
    out
}

pub use crate::xml_text::{declared_encoding, decode_document, from_latin1};

/// One `MSG` of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseMessage {
    /// `ID`.
    pub id: String,
    /// `STATUS`.
    pub status: String,
    /// `INFO`.
    pub info: String,
    /// `REF`.
    pub reference: String,
}

/// A parsed response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// `LOGON` (`OK` / `FAIL`).
    pub logon: String,
    /// `REASON`.
    pub reason: String,
    /// The `MSG`s, in document order.
    pub messages: Vec<ResponseMessage>,
}

/// Parses a response body. DOCTYPEs are skipped, never fetched or expanded.
///
/// # Errors
///
/// What is wrong with it, when it is not a well-formed `SESSION`.
pub fn parse_response(body: &[u8]) -> Result<Response, String> {
    use quick_xml::events::Event as E;
    let text = decode_document(body)?;
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut path: Vec<Tag> = Vec::new();
    let mut response = Response::default();
    let mut saw_session = false;
    loop {
        match reader.read_event() {
            Ok(E::Start(e)) => {
                let tag = Tag::of(e.name().as_ref());
                if path.is_empty() {
                    if tag != Tag::Session {
                        return Err(format!(
                            "the root element is {}, not SESSION",
                            String::from_utf8_lossy(e.name().as_ref())
                        ));
                    }
                    saw_session = true;
                }
                if tag == Tag::Msg && path.last() == Some(&Tag::MsgLst) {
                    response.messages.push(ResponseMessage::default());
                }
                path.push(tag);
            }
            Ok(E::Empty(e)) => {
                if path.is_empty() {
                    return Err(format!(
                        "the root element is an empty {}",
                        String::from_utf8_lossy(e.name().as_ref())
                    ));
                }
            }
            Ok(E::End(_)) => {
                path.pop();
            }
            Ok(E::Text(t)) => {
                if let Some(field) = response_field(&mut response, &path) {
                    let value = t
                        .unescape()
                        .map_err(|e| format!("bad text in the answer: {e}"))?;
                    field.push_str(value.trim());
                }
            }
            Ok(E::CData(t)) => {
                if let Some(field) = response_field(&mut response, &path) {
                    field.push_str(String::from_utf8_lossy(&t).trim());
                }
            }
            Ok(E::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("the answer is not well-formed XML: {e}")),
        }
    }
    if !saw_session {
        return Err("the answer has no SESSION element".into());
    }
    if !path.is_empty() {
        return Err("the answer is cut off".into());
    }
    Ok(response)
}

/// The elements of a response this crate reads (names case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Session,
    Logon,
    Reason,
    MsgLst,
    Msg,
    Id,
    Status,
    Info,
    Ref,
    Other,
}

impl Tag {
    fn of(name: &[u8]) -> Tag {
        const TAGS: [(&[u8], Tag); 9] = [
            (b"SESSION", Tag::Session),
            (b"LOGON", Tag::Logon),
            (b"REASON", Tag::Reason),
            (b"MSGLST", Tag::MsgLst),
            (b"MSG", Tag::Msg),
            (b"ID", Tag::Id),
            (b"STATUS", Tag::Status),
            (b"INFO", Tag::Info),
            (b"REF", Tag::Ref),
        ];
        TAGS.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Tag::Other, |(_, t)| *t)
    }
}

/// The field the text at `path` belongs to, if it is one this crate reads.
fn response_field<'a>(r: &'a mut Response, path: &[Tag]) -> Option<&'a mut String> {
    match path {
        [Tag::Session, Tag::Logon] => Some(&mut r.logon),
        [Tag::Session, Tag::Reason] => Some(&mut r.reason),
        [Tag::Session, Tag::MsgLst, Tag::Msg, field] => {
            let m = r.messages.last_mut()?;
            match field {
                Tag::Id => Some(&mut m.id),
                Tag::Status => Some(&mut m.status),
                Tag::Info => Some(&mut m.info),
                Tag::Ref => Some(&mut m.reference),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What a `STATUS FAIL` means, from its `INFO` text.
fn fail_kind(info: &str) -> SmsErrorKind {
    let info = info.to_ascii_lowercase();
    if ["receiver", "rcv", "recipient", "number"]
        .iter()
        .any(|w| info.contains(w))
    {
        SmsErrorKind::InvalidRecipient
    } else if ["sender", "snd", "originator"]
        .iter()
        .any(|w| info.contains(w))
    {
        SmsErrorKind::InvalidSender
    } else {
        SmsErrorKind::Rejected
    }
}

/// Maps a response body to one outcome per sent message, in request order,
/// matched **by `ID`**: a message whose `ID` is missing gets an unknown
/// outcome, and so does one whose `ID` appears twice with different
/// answers; `LOGON FAIL` is an auth failure for all with the gateway's
/// reason; a body that is not a readable `SESSION` is unknown for all.
#[must_use]
pub fn outcomes(body: &[u8], sent: &[SessionMsg]) -> Vec<Outcome> {
    let err = |kind, m: String| SmsError::new(kind, PROVIDER, m);
    let response = match parse_response(body) {
        Ok(r) => r,
        Err(e) => {
            let o = Outcome::Unknown(err(
                SmsErrorKind::Protocol,
                format!(
                    "the gateway's answer could not be read ({e}); the messages may have been accepted"
                ),
            ));
            return vec![o; sent.len()];
        }
    };
    if response.logon.eq_ignore_ascii_case("FAIL") {
        let reason = if response.reason.is_empty() {
            "LOGON FAIL".to_owned()
        } else {
            format!("LOGON FAIL: {}", response.reason)
        };
        return vec![Outcome::Rejected(err(SmsErrorKind::Unauthenticated, reason)); sent.len()];
    }
    if !response.logon.eq_ignore_ascii_case("OK") {
        let o = Outcome::Unknown(err(
            SmsErrorKind::Protocol,
            format!(
                "the gateway's LOGON is {:?}, neither OK nor FAIL; the messages may have been accepted",
                response.logon
            ),
        ));
        return vec![o; sent.len()];
    }
    // The answers for each ID, found in one pass (IDs are the numbers the
    // request used; anything else answers nothing that was sent).
    let mut by_id: std::collections::HashMap<&str, Vec<&ResponseMessage>> =
        std::collections::HashMap::with_capacity(response.messages.len());
    for r in &response.messages {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    sent.iter()
        .map(|m| {
            let id = m.id.to_string();
            let answers = by_id.get(id.as_str()).map(Vec::as_slice).unwrap_or_default();
            let Some((first, others)) = answers.split_first() else {
                return Outcome::Unknown(err(
                    SmsErrorKind::Protocol,
                    format!("the gateway's answer has no result for message {id}; it may have been accepted"),
                ));
            };
            if others.iter().any(|other| other != first) {
                return Outcome::Unknown(err(
                    SmsErrorKind::Protocol,
                    format!("the gateway answered message {id} twice, differently"),
                ));
            }
            if first.status.eq_ignore_ascii_case("OK") {
                Outcome::Accepted {
                    reference: Some(first.reference.clone()).filter(|r| !r.is_empty()),
                }
            } else {
                // FAIL, and any status the documentation does not list (the
                // official client treats those as FAIL too).
                let info = if first.info.is_empty() {
                    format!("STATUS {}", first.status)
                } else {
                    first.info.clone()
                };
                Outcome::Rejected(err(fail_kind(&first.info), info))
            }
        })
        .collect()
}
