//! A loopback `PSWinCom` XML gateway for tests and examples: it checks
//! requests as strictly as the documentation and DTDs describe them, answers
//! with the documented `SESSION` bodies, can be told to fail, and pushes
//! delivery reports and incoming SMS to a URL like the real gateway.
//!
//! What it checks: `POST /`; `Content-Type` `text/xml` or `application/xml`;
//! the declared encoding against the bytes (a body declared ISO-8859-1 that
//! is really UTF-8 is refused, as is invalid UTF-8 declared UTF-8); a
//! well-formed `SESSION` with only the DTD's elements (plus `SD` and
//! `SERVICECODE`, which the official clients send); `CLIENT`/`PW`; at most
//! 100 `MSG`s with unique `ID`s — those four answer HTTP 400. Per message
//! (`STATUS FAIL` with an `INFO` naming the field): `RCV` digits only, no
//! `+`/`00`, at least 9; `SND` numeric ≤ 15 or alphanumeric ≤ 11 from the
//! allowed set; plain `TEXT` only GSM-7 characters and at most 2144; `OP` 9
//! `TEXT` valid UTF-16BE hex; `RCPREQ` `Y`; `TTL` a number;
//! `DELIVERYTIME` `yyyyMMddHHmm`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;
use quick_xml::events::{BytesText, Event};

pub use super::loopback::MAX_RECORDED;
use super::loopback::{self, Answer, LoopbackGateway, Recorded, Wire, WireMessage};
use super::push::{OutgoingPush, deliver, deliver_until};
pub use super::push::{PushResult, PushTarget};

/// The emulator reads the wire on its own, as the real gateway would: it
/// shares no decoder with the client it checks (a bug there would
/// otherwise pass both ways).
mod own_reading {
    /// The encoding the XML declaration names, lower-cased, as quick-xml's
    /// own declaration parser reads it.
    pub(super) fn declared_encoding(body: &[u8]) -> Option<String> {
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf).ok()? {
                quick_xml::events::Event::Decl(d) => {
                    let enc = d.encoding()?.ok()?;
                    return Some(String::from_utf8_lossy(&enc).to_ascii_lowercase());
                }
                quick_xml::events::Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                _ => return None,
            }
            buf.clear();
        }
    }

    /// The document's text: ISO-8859-1 byte for byte when so declared,
    /// strict UTF-8 otherwise.
    pub(super) fn decode_document(body: &[u8]) -> Result<String, String> {
        match declared_encoding(body).as_deref() {
            Some("iso-8859-1" | "latin1" | "latin-1") => {
                Ok(body.iter().copied().map(char::from).collect())
            }
            Some("utf-8") | None => String::from_utf8(body.to_vec())
                .map_err(|_| "the body is not valid UTF-8".to_owned()),
            Some(other) => Err(format!("encoding {other:?} is not supported")),
        }
    }

    /// ISO-8859-1 bytes of the emulator's own answers (characters beyond
    /// it as character references).
    pub(super) fn to_latin1(xml: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(xml.len());
        for c in xml.chars() {
            match u8::try_from(u32::from(c)) {
                Ok(b) => out.push(b),
                Err(_) => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
            }
        }
        out
    }

    /// The `ID`s an acknowledgement marks `OK` (`MSGLST/MSG/{ID,STATUS}`),
    /// read as the gateway reads it; nothing when it cannot be read.
    pub(super) fn acknowledged_ids(body: &[u8]) -> std::collections::HashSet<String> {
        use quick_xml::events::Event;
        let Ok(text) = decode_document(body) else {
            return std::collections::HashSet::new();
        };
        let mut reader = quick_xml::Reader::from_str(&text);
        let (mut path, mut id, mut status) = (Vec::<String>::new(), String::new(), String::new());
        let mut ok = std::collections::HashSet::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    path.push(String::from_utf8_lossy(e.name().as_ref()).to_ascii_uppercase());
                }
                Ok(Event::Text(t)) => {
                    let v = t
                        .unescape()
                        .map(|v| v.trim().to_owned())
                        .unwrap_or_default();
                    match path.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                        ["MSGLST", "MSG", "ID"] => id = v,
                        ["MSGLST", "MSG", "STATUS"] => status = v,
                        _ => {}
                    }
                }
                Ok(Event::End(_)) => {
                    if path.len() == 2 {
                        if status.eq_ignore_ascii_case("OK") && !id.is_empty() {
                            ok.insert(std::mem::take(&mut id));
                        }
                        id.clear();
                        status.clear();
                    }
                    path.pop();
                }
                Ok(Event::Eof) | Err(_) => return ok,
                Ok(_) => {}
            }
        }
    }

    /// The `charset` parameter of a `Content-Type`.
    pub(super) fn charset_of(content_type: &str) -> Option<&str> {
        content_type.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"'))
        })
    }
}
use crate::sms::encoding::gsm_cost;
use own_reading::{charset_of, declared_encoding, decode_document, to_latin1};

/// A running `PSWinCom` emulator: the [loopback core](super::loopback) with
/// `PSWinCom`'s [`PswincomWire`].
pub type PswincomEmulator = LoopbackGateway<PswincomWire>;

/// What the emulator does with the next request: the transport faults
/// every loopback gateway has, or one of `PSWinCom`'s [`AnswerFault`]s.
pub type Fault = loopback::Fault<AnswerFault>;

/// A request the emulator received, password masked.
pub type Received = loopback::Received<Request>;

/// `PSWinCom`'s own answer faults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerFault {
    /// Answer `LOGON FAIL` with this `REASON`, whatever the credentials.
    LogonFail(String),
    /// Answer `STATUS FAIL` (with `INFO` "scripted failure") for these IDs.
    FailIds(Vec<String>),
    /// Leave these IDs out of the answer.
    MissingIds(Vec<String>),
    /// Answer these IDs twice, once OK and once FAIL.
    RepeatedIds(Vec<String>),
    /// Answer 200 with a body that is not well-formed XML.
    MalformedXml,
}

/// One `MSG` the emulator received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMsg {
    /// `ID`.
    pub id: String,
    /// `RCV`.
    pub receiver: String,
    /// The text, decoded from hex for `OP` 9.
    pub text: String,
    /// `OP`, if given.
    pub op: Option<String>,
    /// Every element of the `MSG`, in order, as sent.
    pub fields: Vec<(String, String)>,
    /// The `REF` the gateway answered this message with (`None`: refused,
    /// left out of the answer, or the request was not answered).
    pub reference: Option<String>,
}

impl ReceivedMsg {
    /// The message in the shape every gateway shares (`PSWinCom` has no
    /// priority and no client reference on the wire).
    #[must_use]
    pub fn wire_message(&self) -> WireMessage {
        let mut w = WireMessage::new(self.receiver.as_str(), self.text.as_str())
            .with_delivery_report(field(&self.fields, "RCPREQ") == Some("Y"));
        if let Some(s) = field(&self.fields, "SND") {
            w = w.with_sender(s);
        }
        if let Some(r) = &self.reference {
            w = w.with_gateway_reference(r.as_str());
        }
        w
    }
}

/// What a `PSWinCom` request carries, as the emulator read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The messages, in order.
    pub messages: Vec<ReceivedMsg>,
}

/// `PSWinCom`'s wire for the loopback core: `POST /` of a `SESSION`
/// document, read with the emulator's own XML reading (never the
/// client's), answered with the documented `SESSION` bodies.
#[derive(Debug)]
pub struct PswincomWire {
    user: String,
    password: crate::sms::Secret,
    next_ref: AtomicU64,
    dr_state: Mutex<String>,
}

impl PswincomWire {
    /// A gateway that accepts `user`/`password` and reports delivery with
    /// `STATE` `DELIVRD`.
    #[must_use]
    pub fn new(user: &str, password: &str) -> Self {
        PswincomWire {
            user: user.into(),
            password: password.into(),
            next_ref: AtomicU64::new(0x004A_4B00_34DB),
            dr_state: Mutex::new("DELIVRD".into()),
        }
    }
}

impl LoopbackGateway<PswincomWire> {
    /// A client builder pointed at this emulator (plain `http://` on
    /// loopback allowed, no failover to the real gateway), with its
    /// credentials: add what the test varies and `build()`.
    #[must_use]
    pub fn client_builder(&self) -> crate::pswincom::PswincomBuilder {
        let wire = self.wire();
        crate::pswincom::Pswincom::builder()
            .base_url(self.base_url())
            .dangerous_allow_http()
            .credentials(wire.user.clone(), wire.password.clone())
    }

    /// The `STATE` of automatic delivery reports (default `DELIVRD`).
    pub fn set_dr_state(&self, state: &str) {
        *self
            .wire()
            .dr_state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state.into();
    }
}

fn recorded(parsed: Option<Parsed>) -> Recorded<Request> {
    parsed
        .map(|p| Recorded {
            request: Request {
                messages: p.messages,
            },
            masked_body: p.masked,
        })
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl Wire for PswincomWire {
    type Request = Request;
    type AnswerFault = AnswerFault;
    type PushFormat = PushTransport;
    type Dr = PushedDr;
    type Mo = PushedMo;

    fn path(&self) -> &'static str {
        "/"
    }

    fn read(&self, _headers: &HeaderMap, body: &[u8]) -> Recorded<Request> {
        recorded(parse(body, self.password.expose()).ok())
    }

    fn messages(request: &Request) -> Vec<WireMessage> {
        request
            .messages
            .iter()
            .map(ReceivedMsg::wire_message)
            .collect()
    }

    // Counted on every recorded request: no conversion of the messages.
    fn recipients(request: &Request) -> usize {
        request.messages.len()
    }

    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        fault: Option<&AnswerFault>,
    ) -> Answer<Self> {
        submit(self, headers, body, fault)
    }

    /// Form pushes are redelivered on anything but 200; XML pushes
    /// redeliver the entries the answer does not acknowledge `OK` (see
    /// [`ack_xml`](crate::pswincom::callback::ack_xml)), up to the target's
    /// retries.
    async fn push_drs(
        &self,
        target: &PushTarget,
        format: &PushTransport,
        drs: &[PushedDr],
    ) -> PushResult {
        push(
            target,
            format,
            Kind::Dr,
            drs.iter().map(PushedDr::fields).collect(),
        )
        .await
    }

    async fn push_mos(
        &self,
        target: &PushTarget,
        format: &PushTransport,
        mos: &[PushedMo],
    ) -> PushResult {
        push(
            target,
            format,
            Kind::Mo,
            mos.iter().map(PushedMo::fields).collect(),
        )
        .await
    }
}

/// The elements a `SESSION` may have.
const SESSION_CHILDREN: &[&str] = &["CLIENT", "PW", "SD", "AP", "MSGLST"];
/// The elements a `MSG` may have (the DTD's, and `SERVICECODE`).
const MSG_CHILDREN: &[&str] = &[
    "ID",
    "NET",
    "TARIFF",
    "TEXT",
    "CLASS",
    "OP",
    "RCPREQ",
    "RCPFRM",
    "SND",
    "RCV",
    "TTL",
    "CPATAG",
    "AGELIMIT",
    "SHORTCODE",
    "REPLACE",
    "DELIVERYTIME",
    "SERVICECODE",
];

struct Parsed {
    client: String,
    pw: String,
    messages: Vec<ReceivedMsg>,
    masked: String,
}

/// Reads a request strictly; an error is a 400 reason.
fn parse(body: &[u8], password: &str) -> Result<Parsed, String> {
    match declared_encoding(body).as_deref() {
        Some("iso-8859-1") => {
            if std::str::from_utf8(body).is_ok_and(|s| !s.is_ascii()) {
                return Err("the body is declared iso-8859-1 but its bytes are UTF-8".into());
            }
        }
        Some("utf-8") | None => {}
        Some(other) => return Err(format!("encoding {other:?} is not supported")),
    }
    let text = decode_document(body)?;
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut path: Vec<String> = Vec::new();
    let mut parsed = Parsed {
        client: String::new(),
        pw: String::new(),
        messages: Vec::new(),
        masked: String::new(),
    };
    let mut current: Option<Vec<(String, String)>> = None;
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("malformed XML: {e}"))?
        {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let parent = path.last().map(String::as_str);
                let allowed = match parent {
                    None => name == "SESSION",
                    Some("SESSION") => SESSION_CHILDREN.contains(&name.as_str()),
                    Some("MSGLST") => name == "MSG",
                    Some("MSG") => MSG_CHILDREN.contains(&name.as_str()),
                    Some(_) => false,
                };
                if !allowed {
                    return Err(format!(
                        "element {name} is not allowed in {}",
                        parent.unwrap_or("the document")
                    ));
                }
                if name == "MSG" {
                    current = Some(Vec::new());
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match (path.last().map(String::as_str), name.as_str()) {
                    (Some("SESSION"), "MSGLST") => {}
                    (Some("MSG"), n) if MSG_CHILDREN.contains(&n) => {
                        if let Some(m) = current.as_mut() {
                            m.push((name, String::new()));
                        }
                    }
                    (Some("SESSION"), n) if SESSION_CHILDREN.contains(&n) => {}
                    (p, _) => {
                        return Err(format!(
                            "element {name} is not allowed in {}",
                            p.unwrap_or("the document")
                        ));
                    }
                }
            }
            Event::End(e) => {
                if e.name().as_ref() == b"MSG"
                    && let Some(fields) = current.take()
                {
                    parsed.messages.push(msg(fields));
                }
                path.pop();
            }
            Event::Text(t) => {
                let value = t.unescape().map_err(|e| format!("bad text: {e}"))?;
                let name = |i: usize| path.get(i).map_or("", String::as_str);
                match (path.len(), name(1), name(3)) {
                    (2, "CLIENT", _) => parsed.client.push_str(&value),
                    (2, "PW", _) => parsed.pw.push_str(&value),
                    (4, _, field) => {
                        if let Some(m) = current.as_mut() {
                            match m.last_mut() {
                                Some((k, v)) if k == field => v.push_str(&value),
                                _ => m.push(((*field).to_owned(), value.into_owned())),
                            }
                        }
                    }
                    _ if value.trim().is_empty() => {}
                    _ => return Err(format!("unexpected text in {}", path.join("/"))),
                }
            }
            Event::Eof => break,
            Event::DocType(_) => return Err("a DOCTYPE is not expected in a request".into()),
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err("the document is cut off".into());
    }
    // Whatever the password's spelling in the body (escaped, character
    // references), the PW element's content is replaced.
    parsed.masked = match (text.find("<PW>"), text.find("</PW>")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}<PW>***{}", &text[..start], &text[end..])
        }
        _ => text.clone(),
    };
    if !password.is_empty() && parsed.masked.contains(password) {
        parsed.masked = "(body withheld: it contains the password)".into();
    }
    Ok(parsed)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn msg(fields: Vec<(String, String)>) -> ReceivedMsg {
    let op = field(&fields, "OP").map(str::to_owned);
    let raw = field(&fields, "TEXT").unwrap_or("").to_owned();
    let text = if op.as_deref() == Some("9") {
        decode_hex(&raw).unwrap_or_default()
    } else {
        raw
    };
    ReceivedMsg {
        id: field(&fields, "ID").unwrap_or("").to_owned(),
        receiver: field(&fields, "RCV").unwrap_or("").to_owned(),
        text,
        op,
        fields,
        reference: None,
    }
}

/// UTF-16BE hex → text.
fn decode_hex(hex: &str) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(4) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let units: Vec<u16> = (0..hex.len())
        .step_by(4)
        .map(|i| u16::from_str_radix(&hex[i..i + 4], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    String::from_utf16(&units).ok()
}

/// Why one message fails (`INFO`), if it does.
fn message_error(m: &ReceivedMsg) -> Option<String> {
    let r = &m.receiver;
    if r.is_empty() {
        return Some("Missing receiver (RCV)".into());
    }
    if !r.bytes().all(|b| b.is_ascii_digit()) || r.starts_with("00") || r.len() < 9 || r.len() > 15
    {
        return Some(format!(
            "Invalid receiver (RCV) {r:?}: international digits without + or 00, at least 9"
        ));
    }
    if let Some(s) = field(&m.fields, "SND") {
        let numeric = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 15;
        let alnum = !s.is_empty()
            && s.chars().count() <= 11
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || " !\"#%&'()*+-./?><;".contains(c));
        if !(numeric || alnum) {
            return Some(format!("Invalid sender (SND) {s:?}"));
        }
    }
    match m.op.as_deref() {
        None | Some("1") => {
            if m.text.is_empty() {
                return Some("Missing TEXT".into());
            }
            if let Some(c) = m.text.chars().find(|&c| gsm_cost(c) == 0) {
                return Some(format!(
                    "TEXT has {c:?}, which is not a GSM-7 character; send it as OP 9"
                ));
            }
            if m.text.chars().count() > 2144 {
                return Some("TEXT is longer than 2144 characters".into());
            }
        }
        Some("9") => {
            if decode_hex(field(&m.fields, "TEXT").unwrap_or("")).is_none() {
                return Some("TEXT is not valid UCS-2 hex for OP 9".into());
            }
        }
        Some(op) => return Some(format!("OP {op} is not supported by the emulator")),
    }
    if field(&m.fields, "RCPREQ").is_some_and(|v| v != "Y") {
        return Some("RCPREQ must be Y".into());
    }
    if field(&m.fields, "TTL").is_some_and(|v| !v.bytes().all(|b| b.is_ascii_digit())) {
        return Some("TTL must be whole minutes".into());
    }
    if field(&m.fields, "DELIVERYTIME")
        .is_some_and(|v| v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("DELIVERYTIME must be yyyyMMddHHmm".into());
    }
    None
}

/// One answered `MSG`.
struct MsgAnswer {
    id: String,
    ok: bool,
    info: String,
    reference: String,
}

fn session_xml(logon_ok: bool, reason: &str, answers: &[MsgAnswer]) -> Vec<u8> {
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

fn submit(
    wire: &PswincomWire,
    headers: &HeaderMap,
    body: &[u8],
    fault: Option<&AnswerFault>,
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
    if let Some(AnswerFault::LogonFail(reason)) = fault {
        return xml(session_xml(false, reason, &[])).recorded(recorded(Some(parsed)));
    }
    if parsed.client != wire.user || wire.password.expose() != parsed.pw {
        return xml(session_xml(false, "Username or password is incorrect", &[]))
            .recorded(recorded(Some(parsed)));
    }
    if matches!(fault, Some(AnswerFault::MalformedXml)) {
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
        let scripted_fail = matches!(fault, Some(AnswerFault::FailIds(ids)) if ids.contains(&m.id));
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
            reports.push(PushedDr {
                id: m.id.clone(),
                reference: reference.clone(),
                receiver: m.receiver.clone(),
                state: state.clone(),
            });
        }
        if matches!(fault, Some(AnswerFault::MissingIds(ids)) if ids.contains(&m.id)) {
            answered_refs.push(None);
            continue;
        }
        answered_refs.push((ok && !reference.is_empty()).then(|| reference.clone()));
        if matches!(fault, Some(AnswerFault::RepeatedIds(ids)) if ids.contains(&m.id)) {
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

/// How the gateway reads a receiver's answer to a push, for
/// [`push_kit`](super::push_kit): an XML push's entries (with IDs) are
/// acknowledged one by one by `ID` with `STATUS` `OK` in a 200 answer; a
/// form push (no ID) by a 200.
#[must_use]
pub fn ack_reading() -> super::push_kit::AckReading {
    super::push_kit::AckReading::custom(|answer, ids| {
        let acked = own_reading::acknowledged_ids(&answer.body);
        ids.iter()
            .map(|id| answer.status == 200 && (id.is_empty() || acked.contains(id)))
            .collect()
    })
}

/// How the emulator formats pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushTransport {
    /// `POST` of an ISO-8859-1 `MSGLST` document (`application/xml`,
    /// `PSW-Message-type` header; MOs carry the DOCTYPE as documented).
    Xml,
    /// One `POST` per entry, `application/x-www-form-urlencoded`, values
    /// percent-encoded as ISO-8859-1 (`Hei+p%e5+deg`).
    Form,
}

/// A delivery report the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedDr {
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
pub struct PushedMo {
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

type Fields = Vec<(&'static str, String)>;

impl PushedDr {
    fn fields(&self) -> Fields {
        vec![
            ("ID", self.id.clone()),
            ("REF", self.reference.clone()),
            ("RCV", self.receiver.clone()),
            ("STATE", self.state.clone()),
            ("DELIVERYTIME", "2026.11.24 12:00:00".into()),
        ]
    }
}

impl PushedMo {
    fn fields(&self) -> Fields {
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
enum Kind {
    Dr,
    Mo,
}

fn requests(
    target: &PushTarget,
    format: &PushTransport,
    kind: Kind,
    entries: &[Fields],
) -> Vec<OutgoingPush> {
    match format {
        PushTransport::Xml => vec![xml_request(target, kind, entries)],
        PushTransport::Form => entries
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
fn xml_request(target: &PushTarget, kind: Kind, entries: &[Fields]) -> OutgoingPush {
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

fn field_of<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

/// Pushes `entries` as the gateway does. Form pushes are redelivered on
/// anything but 200. XML pushes are read as the gateway reads them: the
/// answer must be 200 with a `MSGLST` acknowledgement, and the entries
/// whose `ID` is not acknowledged `OK` (a `FAIL`, a missing `ID`, an
/// unreadable answer) are redelivered, alone, with their `ID`s
/// (gateways.md §2.6: inferred; the real retry schedule is not
/// documented).
async fn push(
    target: &PushTarget,
    format: &PushTransport,
    kind: Kind,
    entries: Vec<Fields>,
) -> PushResult {
    let requests = requests(target, format, kind, &entries);
    if *format != PushTransport::Xml {
        return deliver(target, requests).await;
    }
    deliver_until(target, requests, |request, status, body| {
        if status != 200 {
            return Some(request.clone());
        }
        let acked: HashSet<String> = own_reading::acknowledged_ids(body);
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
fn lower_hex_escapes(s: &str) -> String {
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
