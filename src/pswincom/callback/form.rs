//! The form pushes: one entry per request, percent-encoded ISO-8859-1
//! unless the content type names another charset.

// Reachable through `testing::wire::pswincom` when `testing` is on.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use super::{MAX_BODY, dr_from_fields, mo_from_fields};
use crate::pswincom::wire::from_latin1;
use crate::sms::push::Fields;
use crate::sms::{CallbackError, DeliveryReceipt, IncomingMessage};

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
