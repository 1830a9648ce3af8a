//! Decoding XML documents as their declaration says (both gateways push
//! ISO-8859-1 as well as UTF-8).

// Public through `testing::wire::pswincom` when those features are on.
#![allow(unreachable_pub)]

/// Text of ISO-8859-1 bytes (every byte is a character).
#[must_use]
pub fn from_latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(ascii) if ascii.is_ascii() => ascii.to_owned(),
        _ => {
            let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
            out.extend(bytes.iter().map(|&b| char::from(b)));
            out
        }
    }
}

/// The encoding an XML declaration names, lowercased (`None` without one).
#[must_use]
pub fn declared_encoding(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start_matches('\u{feff}').trim_start();
    if !decl.starts_with("<?xml") {
        return None;
    }
    let end = decl.find("?>")?;
    let decl = &decl[..end];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_ascii_lowercase())
}

/// A document's text: decoded as its declaration says (ISO-8859-1 or
/// UTF-8; UTF-8 when undeclared, as XML specifies).
///
/// # Errors
///
/// What is wrong: not valid UTF-8, or an encoding this crate does not read.
pub fn decode_document(body: &[u8]) -> Result<String, String> {
    match declared_encoding(body).as_deref() {
        Some("iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" | "l1") => Ok(from_latin1(body)),
        Some("utf-8" | "utf8") | None => std::str::from_utf8(body)
            .map(|s| s.trim_start_matches('\u{feff}').to_owned())
            .map_err(|e| format!("the body is not valid UTF-8: {e}")),
        Some(other) => Err(format!("the declared encoding {other:?} is not supported")),
    }
}
