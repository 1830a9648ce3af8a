//! Pushing to the CRM as the gateway does: delivery reports and incoming
//! SMS as an ISO-8859-1 `MSGLST` document or one form `POST` per entry,
//! redelivered until acknowledged; and how it reads the acknowledgement.

use std::collections::HashSet;

use quick_xml::events::{BytesText, Event};

use super::reading::{acknowledged_ids, to_latin1};
use crate::testing::push::{OutgoingPush, PushResult, PushTarget, deliver, deliver_until};

/// How the gateway reads a receiver's answer to a push, for
/// [`push_kit`](crate::testing::push_kit): an XML push's entries (with IDs) are
/// acknowledged one by one by `ID` with `STATUS` `OK` in a 200 answer; a
/// form push (no ID) by a 200.
#[must_use]
pub fn ack_reading() -> crate::testing::push_kit::AckReading {
    crate::testing::push_kit::AckReading::custom(|answer, ids| {
        let acked = acknowledged_ids(&answer.body);
        ids.iter()
            .map(|id| answer.status == 200 && (id.is_empty() || acked.contains(id)))
            .collect()
    })
}

/// How the emulator formats pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PswincomPushTransport {
    /// `POST` of an ISO-8859-1 `MSGLST` document (`application/xml`,
    /// `PSW-Message-type` header; MOs carry the DOCTYPE as documented).
    Xml,
    /// One `POST` per entry, `application/x-www-form-urlencoded`, values
    /// percent-encoded as ISO-8859-1 (`Hei+p%e5+deg`).
    Form,
}

/// A delivery report the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PswincomPushedDr {
    /// `ID` within the push.
    pub id: String,
    /// `REF`: the reference the send answered with.
    pub reference: String,
    /// `RCV`: the receiver's digits.
    pub receiver: String,
    /// `STATE` (`DELIVRD`, `UNDELIV`, …).
    pub state: String,
}

/// An incoming SMS the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PswincomPushedMo {
    /// `ID` within the push.
    pub id: String,
    /// `SND`: the sender's digits.
    pub sender: String,
    /// `RCV`: the short number.
    pub receiver: String,
    /// `TEXT`; characters outside ISO-8859-1 arrive as `?`, as from the
    /// real gateway.
    pub text: String,
    /// `NET` (`242:01`), if known.
    pub network: Option<String>,
    /// `REF`, if the gateway gives one.
    pub reference: Option<String>,
}

pub(super) type Fields = Vec<(&'static str, String)>;

impl PswincomPushedDr {
    pub(super) fn fields(&self) -> Fields {
        vec![
            ("ID", self.id.clone()),
            ("REF", self.reference.clone()),
            ("RCV", self.receiver.clone()),
            ("STATE", self.state.clone()),
            ("DELIVERYTIME", "2026.11.24 12:00:00".into()),
        ]
    }
}

impl PswincomPushedMo {
    pub(super) fn fields(&self) -> Fields {
        let latin1: String = self
            .text
            .chars()
            .map(|c| if u32::from(c) <= 0xFF { c } else { '?' })
            .collect();
        let mut f = vec![
            ("ID", self.id.clone()),
            ("TEXT", latin1),
            ("SND", self.sender.clone()),
            ("RCV", self.receiver.clone()),
        ];
        if let Some(n) = &self.network {
            f.push(("NET", n.clone()));
        }
        if let Some(r) = &self.reference {
            f.push(("REF", r.clone()));
        }
        f
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dr,
    Mo,
}

pub(super) fn requests(
    target: &PushTarget,
    format: &PswincomPushTransport,
    kind: Kind,
    entries: &[Fields],
) -> Vec<OutgoingPush> {
    match format {
        PswincomPushTransport::Xml => vec![xml_request(target, kind, entries)],
        PswincomPushTransport::Form => entries
            .iter()
            .map(|f| {
                let body = f
                    .iter()
                    .map(|(k, v)| {
                        let bytes: Vec<u8> = v
                            .chars()
                            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                            .collect();
                        // Lower-case hex, as in the documented capture
                        // (`Hei+p%e5+deg`); the MO text field is `TXT`.
                        let value = lower_hex_escapes(
                            &form_urlencoded::byte_serialize(&bytes).collect::<String>(),
                        );
                        let k = if *k == "TEXT" { "TXT" } else { *k };
                        format!("{k}={value}")
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                OutgoingPush {
                    url: target.url.clone(),
                    body: Some((
                        "application/x-www-form-urlencoded".into(),
                        body.into_bytes(),
                    )),
                    headers: vec![("User-Agent", "PSWinCom-SMSGateway/1.0".into())],
                    ids: Vec::new(),
                }
            })
            .collect(),
    }
}

/// One XML push of `entries` (a `MSGLST`, ISO-8859-1).
pub(super) fn xml_request(target: &PushTarget, kind: Kind, entries: &[Fields]) -> OutgoingPush {
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("iso-8859-1"),
        None,
    )));
    if kind == Kind::Mo {
        let _ = w.write_event(Event::DocType(BytesText::from_escaped(
            "MSGLST SYSTEM \"pswincom_receive_request.dtd\"",
        )));
    }
    let _ = w.create_element("MSGLST").write_inner_content(|w| {
        for f in entries {
            w.create_element("MSG").write_inner_content(|w| {
                for (k, v) in f {
                    w.create_element(*k).write_text_content(BytesText::new(v))?;
                }
                Ok(())
            })?;
        }
        Ok(())
    });
    let body = to_latin1(&String::from_utf8(w.into_inner()).unwrap_or_default());
    let message_type = if kind == Kind::Mo { "MO" } else { "DR" };
    OutgoingPush {
        url: target.url.clone(),
        body: Some(("application/xml".into(), body)),
        headers: vec![
            ("PSW-Message-type", message_type.into()),
            ("PSW-Message-version", "2".into()),
        ],
        ids: entries
            .iter()
            .filter_map(|f| field_of(f, "ID").map(str::to_owned))
            .collect(),
    }
}

pub(super) fn field_of<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

/// Pushes `entries` as the gateway does. Form pushes are redelivered on
/// anything but 200. XML pushes are read as the gateway reads them: the
/// answer must be 200 with a `MSGLST` acknowledgement, and the entries
/// whose `ID` is not acknowledged `OK` (a `FAIL`, a missing `ID`, an
/// unreadable answer) are redelivered, alone, with their `ID`s
/// (gateways.md §2.6: inferred; the real retry schedule is not
/// documented).
pub(super) async fn push(
    target: &PushTarget,
    format: &PswincomPushTransport,
    kind: Kind,
    entries: Vec<Fields>,
) -> PushResult {
    let requests = requests(target, format, kind, &entries);
    if *format != PswincomPushTransport::Xml {
        return deliver(target, requests).await;
    }
    deliver_until(target, requests, |request, status, body| {
        if status != 200 {
            return Some(request.clone());
        }
        let acked: HashSet<String> = acknowledged_ids(body);
        let left: Vec<Fields> = entries
            .iter()
            .filter(|f| {
                field_of(f, "ID")
                    .is_some_and(|id| request.ids.iter().any(|r| r == id) && !acked.contains(id))
            })
            .cloned()
            .collect();
        (!left.is_empty()).then(|| xml_request(target, kind, &left))
    })
    .await
}

/// `%E5` → `%e5` in a percent-encoded string.
pub(super) fn lower_hex_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut hex_left = 0;
    for c in s.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            if c == '%' {
                hex_left = 2;
            }
            out.push(c);
        }
    }
    out
}
