//! Delivery reports and incoming SMS pushed by Intelecom/Puzzel: JSON
//! (`{"dr":[…]}`, `{"mo":[…]}`), XML (`<dr><message>…`, `<mo><message>…`)
//! and GET templates, into [`DeliveryReceipt`] and [`IncomingMessage`].
//!
//! A batch gives one result per entry, so one bad entry never loses the
//! others. Field names are compared case-insensitively (GET templates name
//! them as the customer chose, e.g. `customerMessageReference`).

use std::collections::HashMap;

use quick_xml::events::Event;

use super::wire::PROVIDER;
use crate::phone::PhoneNumber;
use crate::sms::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage};

/// Largest callback body read, in bytes.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// One entry's fields, names lowercased.
type Fields = HashMap<String, String>;

/// What a DR `statuscode` means.
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

fn take(f: &mut Fields, name: &str) -> Option<String> {
    f.remove(name).filter(|v| !v.trim().is_empty())
}

fn dr_from_fields(i: usize, mut f: Fields) -> Result<DeliveryReceipt, CallbackError> {
    let reference = take(&mut f, "messageid")
        .ok_or_else(|| CallbackError::field(i, "messageid", "is missing"))?;
    let code_text = take(&mut f, "statuscode")
        .ok_or_else(|| CallbackError::field(i, "statuscode", "is missing"))?;
    let code: i64 = code_text.trim().parse().map_err(|_| {
        CallbackError::field(i, "statuscode", format!("{code_text:?} is not a number"))
    })?;
    let operator = match (
        take(&mut f, "extstatuscode"),
        take(&mut f, "extstatusdescription"),
    ) {
        (Some(c), Some(d)) => Some(format!("{c} {d}")),
        (c, d) => c.or(d),
    };
    Ok(DeliveryReceipt {
        provider: PROVIDER,
        reference,
        client_reference: take(&mut f, "customermessagereference"),
        batch_reference: take(&mut f, "customerbatchreference"),
        recipient: take(&mut f, "recipient")
            .or_else(|| take(&mut f, "msisdn"))
            .and_then(|r| PhoneNumber::parse(&r, None).ok()),
        state: dr_state(code),
        status_code: code.to_string(),
        description: take(&mut f, "statusdescription"),
        operator_status: operator,
        done_at: take(&mut f, "timestamp").or_else(|| take(&mut f, "deliverytime")),
    })
}

fn mo_from_fields(i: usize, mut f: Fields) -> Result<IncomingMessage, CallbackError> {
    let id = take(&mut f, "messageid")
        .ok_or_else(|| CallbackError::field(i, "messageid", "is missing"))?;
    let from_raw = take(&mut f, "originator")
        .ok_or_else(|| CallbackError::field(i, "originator", "is missing"))?;
    let text = f
        .remove("content")
        .ok_or_else(|| CallbackError::field(i, "content", "is missing"))?;
    let network = match (take(&mut f, "mcc"), take(&mut f, "mnc")) {
        (Some(mcc), Some(mnc)) => Some(format!("{mcc}:{mnc}")),
        _ => None,
    };
    Ok(IncomingMessage {
        provider: PROVIDER,
        id,
        from: PhoneNumber::parse(&from_raw, None).ok(),
        from_raw,
        to: take(&mut f, "sno"),
        text,
        keyword: take(&mut f, "command"),
        stripped_text: f.remove("strippedcontent"),
        session_id: take(&mut f, "sessionid"),
        received_at: take(&mut f, "timestamp"),
        network,
        extras: {
            let mut rest: Vec<(String, String)> = f.into_iter().collect();
            rest.sort();
            rest
        },
    })
}

/// Reads the entries of `{"<root>":[{…},…]}`; each entry's values may be
/// strings, numbers, booleans or null.
fn json_entries(
    body: &[u8],
    root: &str,
) -> Result<Vec<Result<Fields, CallbackError>>, CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| CallbackError::body(format!("is not JSON: {e}")))?;
    let list = value
        .get(root)
        .and_then(|v| v.as_array())
        .ok_or_else(|| CallbackError::body(format!("has no \"{root}\" list")))?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let obj = entry
                .as_object()
                .ok_or_else(|| CallbackError::field(i, "entry", "is not an object"))?;
            let mut fields = Fields::new();
            for (k, v) in obj {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => continue,
                    _ => return Err(CallbackError::field(i, k, "is not a string or number")),
                };
                fields.insert(k.to_ascii_lowercase(), text);
            }
            Ok(fields)
        })
        .collect())
}

/// Reads the entries of `<root><message><field>…</field>…</message>…</root>`.
/// No DTD is read and no entity but XML's own five is expanded.
fn xml_entries(
    body: &[u8],
    root: &str,
) -> Result<Vec<Result<Fields, CallbackError>>, CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut entries = Vec::new();
    let mut current: Option<Result<Fields, CallbackError>> = None;
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| CallbackError::body(format!("is not well-formed XML: {e}")))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                depth += 1;
                match depth {
                    1 if name == root => saw_root = true,
                    1 => {
                        return Err(CallbackError::body(format!(
                            "root element is <{name}>, not <{root}>"
                        )));
                    }
                    2 => current = Some(Ok(Fields::new())),
                    3 => {
                        field = Some(name);
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Empty(e) if depth == 2 => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if let Some(Ok(f)) = current.as_mut() {
                    f.insert(name, String::new());
                }
            }
            Event::Text(t) if depth == 3 => {
                let i = entries.len();
                match t.unescape() {
                    Ok(s) => text.push_str(&s),
                    Err(e) => {
                        let name = field.clone().unwrap_or_default();
                        current = Some(Err(CallbackError::field(i, &name, e.to_string())));
                    }
                }
            }
            Event::CData(t) if depth == 3 => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                match depth {
                    3 => {
                        if let (Some(Ok(f)), Some(name)) = (current.as_mut(), field.take()) {
                            f.insert(name, std::mem::take(&mut text));
                        }
                    }
                    2 => entries.extend(current.take()),
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof if depth > 0 => {
                return Err(CallbackError::body(
                    "is not well-formed XML: it ends inside an element",
                ));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(CallbackError::body(format!("has no <{root}> element")));
    }
    Ok(entries)
}

fn query_fields(query: &str) -> Fields {
    form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

/// Delivery reports from a JSON push.
///
/// # Errors
///
/// A [`CallbackError`] when the body as a whole cannot be read; bad
/// entries are errors in their place in the list.
pub fn parse_dr_json(
    body: &[u8],
) -> Result<Vec<Result<DeliveryReceipt, CallbackError>>, CallbackError> {
    Ok(json_entries(body, "dr")?
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.and_then(|f| dr_from_fields(i, f)))
        .collect())
}

/// Delivery reports from an XML push.
///
/// # Errors
///
/// As [`parse_dr_json`].
pub fn parse_dr_xml(
    body: &[u8],
) -> Result<Vec<Result<DeliveryReceipt, CallbackError>>, CallbackError> {
    Ok(xml_entries(body, "dr")?
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.and_then(|f| dr_from_fields(i, f)))
        .collect())
}

/// One delivery report from a GET template's query string.
///
/// # Errors
///
/// A [`CallbackError`] naming the missing or bad field.
pub fn parse_dr_query(query: &str) -> Result<DeliveryReceipt, CallbackError> {
    dr_from_fields(0, query_fields(query))
}

/// Incoming SMS from a JSON push.
///
/// # Errors
///
/// As [`parse_dr_json`].
pub fn parse_mo_json(
    body: &[u8],
) -> Result<Vec<Result<IncomingMessage, CallbackError>>, CallbackError> {
    Ok(json_entries(body, "mo")?
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.and_then(|f| mo_from_fields(i, f)))
        .collect())
}

/// Incoming SMS from an XML push.
///
/// # Errors
///
/// As [`parse_dr_json`].
pub fn parse_mo_xml(
    body: &[u8],
) -> Result<Vec<Result<IncomingMessage, CallbackError>>, CallbackError> {
    Ok(xml_entries(body, "mo")?
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.and_then(|f| mo_from_fields(i, f)))
        .collect())
}

/// One incoming SMS from a GET template's query string.
///
/// # Errors
///
/// A [`CallbackError`] naming the missing or bad field.
pub fn parse_mo_query(query: &str) -> Result<IncomingMessage, CallbackError> {
    mo_from_fields(0, query_fields(query))
}
