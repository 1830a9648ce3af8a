//! Delivery reports and incoming SMS pushed by `PSWinCom`, and the
//! acknowledgements it expects.
//!
//! - XML: `<MSGLST><MSG>…</MSG>…</MSGLST>`, usually ISO-8859-1 and possibly
//!   with a `<!DOCTYPE … SYSTEM "….dtd">`, which is skipped: no DTD or
//!   external entity is ever fetched or expanded (an entity reference other
//!   than the five predefined ones and character references is an error in
//!   that entry's field). Acknowledge with [`ack_xml`]: one `MSG/ID` +
//!   `STATUS` per received `ID`.
//! - Form (`application/x-www-form-urlencoded`): one entry per request,
//!   percent-encoded **ISO-8859-1** (`Hei+p%e5+deg`) unless the content
//!   type names another charset. Acknowledge with HTTP 200 and
//!   [`FORM_ACK`].
//!
//! A batch gives one [`PushEntry`] per `MSG`, so one bad entry never loses
//! the others, and each keeps its `ID` for the acknowledgement.

use quick_xml::events::{BytesText, Event};

use super::PROVIDER;
use super::wire::{decode_document, from_latin1};
use crate::phone::PhoneNumber;
use crate::sms::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage};

/// Largest callback body read, in bytes.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// The body of the acknowledgement of a form push (with HTTP 200,
/// `text/plain`).
pub const FORM_ACK: &str = "OK";

pub use crate::sms::push::PushEntry;

// An entry's fields ([`Fields`]: case-insensitive names, the first value
// of a repeated name wins) in document order: element paths below `MSG`
// (`TEXT`, `POSITION/POS/LATITUDE`, `METADATA/TIMESTAMP`) and values.
use crate::sms::push::{Fields, MAX_FIELDS};

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

/// `DELIVERYTIME` as `yyyy-MM-dd HH:mm:ss` from either documented form
/// (`yyyy.MM.dd HH:mm:ss`, `yyyyMMddHHmm`); the text as given when it is in
/// neither.
#[must_use]
pub fn normalize_delivery_time(raw: &str) -> String {
    crate::sms::gateway_time(raw)
}

fn number(raw: &str) -> Option<PhoneNumber> {
    let digits = raw.trim().trim_start_matches('+');
    PhoneNumber::parse(&format!("+{digits}"), None).ok()
}

fn dr_from_fields(i: usize, f: &Fields) -> Result<DeliveryReceipt, CallbackError> {
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
        done_at: f.non_empty("DELIVERYTIME").map(normalize_delivery_time),
    })
}

fn mo_from_fields(i: usize, f: &Fields) -> Result<IncomingMessage, CallbackError> {
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

/// The deepest element nesting read (`MSGLST/MSG/POSITION/POS/LATITUDE` is
/// 5); deeper elements make their entry fail and are skipped unread.
pub const MAX_DEPTH: usize = 8;

/// One `MSG` as read: its fields (kept after an error, so its `ID` is
/// still acknowledged), the first error, and where it is in the document.
struct RawEntry {
    fields: Fields,
    error: Option<CallbackError>,
    span: std::ops::Range<usize>,
}

impl RawEntry {
    fn fail(&mut self, e: impl FnOnce() -> CallbackError) {
        if self.error.is_none() {
            self.error = Some(e());
        }
    }

    /// Adds text to a field (text may come in several events).
    fn append(&mut self, i: usize, key: String, value: &str) {
        if !self.fields.extend_last(&key, value) && !self.fields.insert(key.as_str(), value) {
            self.fail(|| {
                CallbackError::field(i, &key, format!("is past the {MAX_FIELDS}-field limit"))
            });
        }
    }
}

/// Reads the `MSG` entries of a `MSGLST` document, in time and memory
/// linear in the body: a field that cannot be read, nesting deeper than
/// [`MAX_DEPTH`] or more than [`MAX_FIELDS`] fields make only their entry
/// fail. Returns the decoded document (the entries' spans index it).
fn msglst_entries(body: &[u8]) -> Result<(String, Vec<RawEntry>), CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let text = decode_document(body).map_err(CallbackError::body)?;
    let mut reader = quick_xml::Reader::from_str(&text);
    // Element names below `MSG`, and the field key they make (`A/B/C`).
    let mut path: Vec<String> = Vec::new();
    let mut key = String::new();
    // Elements open beyond MAX_DEPTH (not in `path`).
    let mut too_deep = 0usize;
    let mut entries: Vec<RawEntry> = Vec::new();
    let mut root = false;
    let key_of = |path: &[String]| path.get(2..).map(|p| p.join("/")).unwrap_or_default();
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| CallbackError::body(format!("is not well-formed XML: {e}")))?;
        let i = entries.len().saturating_sub(1);
        match event {
            Event::Start(_) if too_deep > 0 || path.len() >= MAX_DEPTH => {
                too_deep += 1;
                if let Some(entry) = entries.last_mut() {
                    entry.fail(|| {
                        CallbackError::field(
                            i,
                            &key,
                            format!("nests deeper than {MAX_DEPTH} elements"),
                        )
                    });
                }
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_ascii_uppercase();
                if path.is_empty() {
                    if name != "MSGLST" {
                        return Err(CallbackError::body(format!(
                            "has root element {name}, not MSGLST"
                        )));
                    }
                    root = true;
                } else if path.len() == 1 && name == "MSG" {
                    entries.push(RawEntry {
                        fields: Fields::new(),
                        error: None,
                        span: before..before,
                    });
                }
                path.push(name);
                key = key_of(&path);
            }
            Event::Empty(_) if too_deep > 0 => {}
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_ascii_uppercase();
                if path.is_empty() && name == "MSGLST" {
                    root = true;
                } else if path.len() == 1 && name == "MSG" {
                    let end = usize::try_from(reader.buffer_position()).unwrap_or(before);
                    entries.push(RawEntry {
                        fields: Fields::new(),
                        error: None,
                        span: before..end,
                    });
                } else if path.len() >= 2 && name == "DATA" {
                    // <METADATA><DATA KEY="TIMESTAMP" VALUE="…"/></METADATA>
                    let attr = |n: &str| {
                        e.attributes()
                            .flatten()
                            .find(|a| a.key.as_ref().eq_ignore_ascii_case(n.as_bytes()))
                            .and_then(|a| a.unescape_value().ok().map(std::borrow::Cow::into_owned))
                    };
                    if let (Some(k), Some(v), Some(entry)) =
                        (attr("KEY"), attr("VALUE"), entries.last_mut())
                    {
                        let k = k.to_ascii_uppercase();
                        let field = if key.is_empty() {
                            k
                        } else {
                            format!("{key}/{k}")
                        };
                        entry.append(i, field, &v);
                    }
                } else if path.len() >= 2
                    && let Some(entry) = entries.last_mut()
                {
                    let field = if key.is_empty() {
                        name
                    } else {
                        format!("{key}/{name}")
                    };
                    entry.append(i, field, "");
                }
            }
            Event::End(_) if too_deep > 0 => too_deep -= 1,
            Event::End(_) => {
                if path.len() == 2
                    && let Some(entry) = entries.last_mut()
                {
                    entry.span.end = usize::try_from(reader.buffer_position()).unwrap_or(before);
                }
                path.pop();
                key = key_of(&path);
            }
            Event::Text(_) | Event::CData(_) if too_deep > 0 => {}
            Event::Text(t) if path.len() >= 3 => {
                if let Some(entry) = entries.last_mut() {
                    match unescape(&t) {
                        Ok(v) => entry.append(i, key.clone(), &v),
                        Err(reason) => entry.fail(|| CallbackError::field(i, &key, reason)),
                    }
                }
            }
            Event::CData(t) if path.len() >= 3 => {
                if let Some(entry) = entries.last_mut() {
                    entry.append(i, key.clone(), &String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            // Declarations, DOCTYPEs, comments, processing instructions:
            // skipped, never acted on.
            _ => {}
        }
    }
    if !root {
        return Err(CallbackError::body("has no MSGLST element"));
    }
    if !path.is_empty() || too_deep > 0 {
        return Err(CallbackError::body("is cut off"));
    }
    Ok((text, entries))
}

fn unescape(t: &BytesText<'_>) -> Result<String, String> {
    t.unescape()
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| format!("cannot be read: {e}"))
}

/// One [`PushEntry`] per entry: acknowledged by its `ID` whenever that can
/// be read, even when another field cannot; errors carry the raw entry.
fn entries_with<T>(
    (text, entries): (String, Vec<RawEntry>),
    build: fn(usize, &Fields) -> Result<T, CallbackError>,
) -> Vec<PushEntry<T>> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let result = match e.error {
                Some(err) => Err(err),
                None => build(i, &e.fields),
            };
            PushEntry {
                id: e.fields.get("ID").unwrap_or("").trim().to_owned(),
                result: result.map_err(|err| match text.get(e.span.clone()) {
                    Some(raw) => err.with_raw(raw),
                    None => err,
                }),
            }
        })
        .collect()
}

/// Parses an XML DR push (`MSGLST` of `MSG(ID, REF, RCV, STATE,
/// DELIVERYTIME?)`).
///
/// # Errors
///
/// A [`CallbackError`] about the whole body when it is not a readable
/// `MSGLST` (then nothing may be acknowledged).
pub fn parse_dr_xml(body: &[u8]) -> Result<Vec<PushEntry<DeliveryReceipt>>, CallbackError> {
    Ok(entries_with(msglst_entries(body)?, dr_from_fields))
}

/// Parses an XML MO push (`MSGLST` of `MSG(ID, TEXT, SND, RCV, NET?,
/// ADDRESS?, POSITION?)`; `ADDRESS`, `POSITION/…` and `METADATA/…` go to
/// [`IncomingMessage::extras`]).
///
/// # Errors
///
/// As [`parse_dr_xml`].
pub fn parse_mo_xml(body: &[u8]) -> Result<Vec<PushEntry<IncomingMessage>>, CallbackError> {
    Ok(entries_with(msglst_entries(body)?, mo_from_fields))
}

/// Decodes a form body: `+` is a space, `%XX` a byte, and the bytes are
/// ISO-8859-1 unless `charset` names UTF-8.
fn form_fields(body: &[u8], charset: Option<&str>) -> Result<Fields, CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let utf8 = charset.is_some_and(|c| c.trim().eq_ignore_ascii_case("utf-8"));
    let decode = |raw: &[u8]| -> Result<String, CallbackError> {
        let plus: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
        if utf8 {
            String::from_utf8(bytes).map_err(|_| CallbackError::body("is not valid UTF-8"))
        } else {
            Ok(from_latin1(&bytes))
        }
    };
    let mut fields = Fields::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        // A form past MAX_FIELDS names keeps its first ones.
        fields.insert(decode(k)?.trim().to_ascii_uppercase(), decode(v)?);
    }
    Ok(fields)
}

/// The charset a `Content-Type` header names, if any.
#[must_use]
pub fn charset_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    })
}

/// Parses a form DR push (`RCV`, `REF`, `STATE`, `DELIVERYTIME`, maybe
/// `ID`); `charset` from the request's content type ([`charset_of`]).
///
/// # Errors
///
/// A [`CallbackError`] naming the missing or unreadable field.
pub fn parse_dr_form(body: &[u8], charset: Option<&str>) -> Result<DeliveryReceipt, CallbackError> {
    dr_from_fields(0, &form_fields(body, charset)?)
}

/// Parses a form MO push (`ID`, `SND`, `RCV`, `TXT`, `NET`, maybe `REF`).
///
/// # Errors
///
/// As [`parse_dr_form`].
pub fn parse_mo_form(body: &[u8], charset: Option<&str>) -> Result<IncomingMessage, CallbackError> {
    mo_from_fields(0, &form_fields(body, charset)?)
}

/// Reads an XML acknowledgement (as [`ack_xml`] writes it): each `MSG`'s
/// `ID` and whether its `STATUS` is `OK`. This is what the gateway reads
/// from the answer to a push; the emulator uses it to redeliver.
///
/// # Errors
///
/// A [`CallbackError`] when the body is not a readable `MSGLST` or an
/// entry has no `ID`.
pub fn parse_ack(body: &[u8]) -> Result<Vec<(String, bool)>, CallbackError> {
    msglst_entries(body)?
        .1
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            if let Some(e) = entry.error {
                return Err(e);
            }
            let f = entry.fields;
            let id = f
                .non_empty("ID")
                .ok_or_else(|| CallbackError::field(i, "ID", "is missing"))?;
            let ok = f
                .get("STATUS")
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("OK"));
            Ok((id.trim().to_owned(), ok))
        })
        .collect()
}

/// The XML acknowledgement of a push: one `MSG` per `(ID, accepted)`,
/// `STATUS` `OK` or `FAIL` (the gateway redelivers what is not `OK`), as
/// ISO-8859-1 bytes for a `text/xml; charset=iso-8859-1` answer.
pub fn ack_xml<'a>(entries: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<u8> {
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("iso-8859-1"),
        None,
    )));
    let _ = w.create_element("MSGLST").write_inner_content(|w| {
        for (id, ok) in entries {
            w.create_element("MSG").write_inner_content(|w| {
                w.create_element("ID")
                    .write_text_content(BytesText::new(id))?;
                w.create_element("STATUS")
                    .write_text_content(BytesText::new(if ok { "OK" } else { "FAIL" }))?;
                Ok(())
            })?;
        }
        Ok(())
    });
    super::wire::to_latin1(&String::from_utf8(w.into_inner()).unwrap_or_default())
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
