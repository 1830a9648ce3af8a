//! How the gateway answers a request: HTTP 400/415 for a request it
//! cannot read, `LOGON FAIL` for bad credentials, otherwise a `SESSION`
//! with one `MSG` answer per message (`OK` with a `REF`, or `FAIL` with an
//! `INFO`), with the delivery reports it will push for the accepted ones.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use axum::http::HeaderMap;
use quick_xml::events::{BytesText, Event};

use super::push::PswincomPushedDr;
use super::reading::{
    charset_of, declared_encoding, field, message_error, parse, recorded, to_latin1,
};
use super::{PswincomAnswerFault, PswincomWire};
use crate::testing::loopback::{self, Answer};

/// One answered `MSG`.
pub(super) struct MsgAnswer {
    id: String,
    ok: bool,
    info: String,
    reference: String,
}

pub(super) fn session_xml(logon_ok: bool, reason: &str, answers: &[MsgAnswer]) -> Vec<u8> {
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("iso-8859-1"),
        None,
    )));
    let _ = w.create_element("SESSION").write_inner_content(|w| {
        w.create_element("LOGON")
            .write_text_content(BytesText::new(if logon_ok { "OK" } else { "FAIL" }))?;
        w.create_element("REASON")
            .write_text_content(BytesText::new(reason))?;
        w.create_element("MSGLST").write_inner_content(|w| {
            for a in answers {
                w.create_element("MSG").write_inner_content(|w| {
                    w.create_element("ID")
                        .write_text_content(BytesText::new(&a.id))?;
                    if !a.reference.is_empty() {
                        w.create_element("REF")
                            .write_text_content(BytesText::new(&a.reference))?;
                    }
                    w.create_element("STATUS")
                        .write_text_content(BytesText::new(if a.ok { "OK" } else { "FAIL" }))?;
                    w.create_element("INFO")
                        .write_text_content(BytesText::new(&a.info))?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        Ok(())
    });
    to_latin1(&String::from_utf8(w.into_inner()).unwrap_or_default())
}

pub(super) fn submit(
    wire: &PswincomWire,
    headers: &HeaderMap,
    body: &[u8],
    fault: Option<&PswincomAnswerFault>,
) -> Answer<PswincomWire> {
    let content_type = loopback::content_type(headers);
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "text/xml" && media != "application/xml" {
        return Answer::error_page(415, "Content-Type must be text/xml").recorded(recorded(None));
    }
    if let (Some(charset), Some(declared)) = (charset_of(content_type), declared_encoding(body))
        && !charset.eq_ignore_ascii_case(&declared)
    {
        return Answer::error_page(
            400,
            &format!("Content-Type says {charset} but the XML declares {declared}"),
        )
        .recorded(recorded(None));
    }
    let mut parsed = match parse(body, wire.password.expose()) {
        Ok(p) => p,
        Err(reason) => return Answer::error_page(400, &reason).recorded(recorded(None)),
    };
    let mut seen = HashSet::new();
    if let Some(dup) = parsed
        .messages
        .iter()
        .find(|m| !seen.insert(m.id.as_str()))
        .map(|m| m.id.clone())
    {
        return Answer::error_page(400, &format!("ID {dup:?} appears twice"))
            .recorded(recorded(Some(parsed)));
    }
    if parsed.messages.len() > 100 {
        return Answer::error_page(400, "more than 100 MSG in one request")
            .recorded(recorded(Some(parsed)));
    }
    let xml = |body: Vec<u8>| Answer::new(200, "text/xml; charset=iso-8859-1", body);
    if let Some(PswincomAnswerFault::LogonFail(reason)) = fault {
        return xml(session_xml(false, reason, &[])).recorded(recorded(Some(parsed)));
    }
    if parsed.client != wire.user || wire.password.expose() != parsed.pw {
        return xml(session_xml(false, "Username or password is incorrect", &[]))
            .recorded(recorded(Some(parsed)));
    }
    if matches!(fault, Some(PswincomAnswerFault::MalformedXml)) {
        return xml(b"<SESSION><LOGON>OK</LOGON><MSGLST><MSG><ID>1</I".to_vec())
            .recorded(recorded(Some(parsed)));
    }
    let state = wire
        .dr_state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut answers = Vec::new();
    let mut reports = Vec::new();
    let mut answered_refs = Vec::with_capacity(parsed.messages.len());
    for m in &parsed.messages {
        let scripted_fail =
            matches!(fault, Some(PswincomAnswerFault::FailIds(ids)) if ids.contains(&m.id));
        let (ok, info) = match (scripted_fail, message_error(m)) {
            (true, _) => (false, "scripted failure".to_owned()),
            (false, Some(e)) => (false, e),
            (false, None) => (true, String::new()),
        };
        let reference = if ok {
            format!("{:X}", wire.next_ref.fetch_add(1, Ordering::Relaxed) + 1)
        } else {
            String::new()
        };
        if ok && field(&m.fields, "RCPREQ") == Some("Y") {
            reports.push(PswincomPushedDr {
                id: m.id.clone(),
                reference: reference.clone(),
                receiver: m.receiver.clone(),
                state: state.clone(),
            });
        }
        if matches!(fault, Some(PswincomAnswerFault::MissingIds(ids)) if ids.contains(&m.id)) {
            answered_refs.push(None);
            continue;
        }
        answered_refs.push((ok && !reference.is_empty()).then(|| reference.clone()));
        if matches!(fault, Some(PswincomAnswerFault::RepeatedIds(ids)) if ids.contains(&m.id)) {
            answers.push(MsgAnswer {
                id: m.id.clone(),
                ok: !ok,
                info: "repeated".into(),
                reference: String::new(),
            });
        }
        answers.push(MsgAnswer {
            id: m.id.clone(),
            ok,
            info,
            reference,
        });
    }
    for (m, r) in parsed.messages.iter_mut().zip(answered_refs) {
        m.reference = r;
    }
    xml(session_xml(true, "", &answers))
        .recorded(recorded(Some(parsed)))
        .reports(reports)
}
