//! The XML pushes: a `MSGLST` document read entry by entry, in time and
//! memory linear in the body, and the acknowledgement the gateway reads.

// Reachable through `testing::wire::pswincom` when `testing` is on.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use quick_xml::events::{BytesText, Event};

use super::{MAX_BODY, dr_from_fields, mo_from_fields};
use crate::pswincom::wire::decode_document;
use crate::sms::push::{Fields, MAX_FIELDS, PushEntry};
use crate::sms::{CallbackError, DeliveryReceipt, IncomingMessage};

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
    crate::pswincom::wire::to_latin1(&String::from_utf8(w.into_inner()).unwrap_or_default())
}
