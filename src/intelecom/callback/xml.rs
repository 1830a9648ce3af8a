//! The XML pushes (`<dr><message>…`, `<mo><message>…`).

use quick_xml::events::Event;

use super::{MAX_BODY, Parsed};
use crate::sms::CallbackError;
use crate::sms::push::{Fields, MAX_FIELDS};

/// Reads the entries of `<root><message><field>…</field>…</message>…</root>`,
/// decoded as the XML declaration says (ISO-8859-1 or UTF-8). No DTD is
/// read and no entity but XML's own five is expanded. Elements below a
/// field are skipped; past [`MAX_FIELDS`] the entry fails. An entry that
/// fails keeps its raw text.
pub(super) fn xml_entries<'a>(body: &'a [u8], root: &str) -> Result<Parsed<'a>, CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let doc = crate::xml_text::decode_document(body).map_err(CallbackError::body)?;
    let mut reader = quick_xml::Reader::from_str(&doc);
    reader.config_mut().trim_text(true);
    let mut depth = 0usize;
    let mut entries = Vec::new();
    let mut current: Option<(Fields, Option<CallbackError>, usize)> = None;
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut saw_root = false;
    let position = |r: &quick_xml::Reader<&[u8]>| usize::try_from(r.buffer_position()).unwrap_or(0);
    loop {
        let before = position(&reader);
        let event = reader
            .read_event()
            .map_err(|e| CallbackError::body(format!("is not well-formed XML: {e}")))?;
        let i = entries.len();
        let too_many =
            || CallbackError::field(i, "entry", format!("has more than {MAX_FIELDS} fields"));
        match event {
            Event::Start(e) => {
                depth += 1;
                let name = || String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                match depth {
                    1 if name() == root => saw_root = true,
                    1 => {
                        return Err(CallbackError::body(format!(
                            "root element is <{}>, not <{root}>",
                            name()
                        )));
                    }
                    2 => current = Some((Fields::new(), None, before)),
                    3 => {
                        field = Some(name());
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Empty(e) if depth == 2 => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if let Some((f, error, _)) = current.as_mut()
                    && !f.insert(name, String::new())
                {
                    error.get_or_insert_with(too_many);
                }
            }
            Event::Text(t) if depth == 3 => match t.unescape() {
                Ok(s) => text.push_str(&s),
                Err(e) => {
                    if let Some((_, error, _)) = current.as_mut() {
                        let name = field.clone().unwrap_or_default();
                        error.get_or_insert_with(|| CallbackError::field(i, &name, e.to_string()));
                    }
                }
            },
            Event::CData(t) if depth == 3 => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                match depth {
                    3 => {
                        if let (Some((f, error, _)), Some(name)) = (current.as_mut(), field.take())
                            && !f.insert(name, std::mem::take(&mut text))
                        {
                            error.get_or_insert_with(too_many);
                        }
                    }
                    2 => {
                        if let Some((f, error, start)) = current.take() {
                            let end = position(&reader);
                            entries.push((
                                start..end,
                                match error {
                                    None => Ok(f),
                                    Some(e) => Err(e),
                                },
                            ));
                        }
                    }
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
    }
    if !saw_root {
        return Err(CallbackError::body(format!("has no <{root}> element")));
    }
    Ok(Parsed {
        text: doc.into(),
        entries,
    })
}
