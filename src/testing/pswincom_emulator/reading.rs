//! The request as the gateway reads it: the document's encoding (declared
//! against the bytes), a strict `SESSION` with only the DTD's elements, the
//! per-message checks (`STATUS FAIL` with an `INFO`), and the record of what
//! came in with the password masked. The emulator reads the wire on its
//! own, as the real gateway would: it shares no decoder with the client it
//! checks (a bug there would otherwise pass both ways).

use quick_xml::events::Event;

use super::{PswincomRequest, ReceivedMsg};
use crate::sms::encoding::gsm_cost;
use crate::testing::loopback::Recorded;

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
        Some("utf-8") | None => {
            String::from_utf8(body.to_vec()).map_err(|_| "the body is not valid UTF-8".to_owned())
        }
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
/// The elements a `SESSION` may have.
pub(super) const SESSION_CHILDREN: &[&str] = &["CLIENT", "PW", "SD", "AP", "MSGLST"];
/// The elements a `MSG` may have (the DTD's, and `SERVICECODE`).
pub(super) const MSG_CHILDREN: &[&str] = &[
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

pub(super) struct Parsed {
    pub(super) client: String,
    pub(super) pw: String,
    pub(super) messages: Vec<ReceivedMsg>,
    pub(super) masked: String,
}

/// Reads a request strictly; an error is a 400 reason.
pub(super) fn parse(body: &[u8], password: &str) -> Result<Parsed, String> {
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

pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn msg(fields: Vec<(String, String)>) -> ReceivedMsg {
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
pub(super) fn decode_hex(hex: &str) -> Option<String> {
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
pub(super) fn message_error(m: &ReceivedMsg) -> Option<String> {
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

pub(super) fn recorded(parsed: Option<Parsed>) -> Recorded<PswincomRequest> {
    parsed
        .map(|p| Recorded {
            request: PswincomRequest {
                messages: p.messages,
            },
            masked_body: p.masked,
        })
        .unwrap_or_default()
}
