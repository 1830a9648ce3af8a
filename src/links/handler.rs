//! The ISV's side: reading back the link a protocol handler receives as `%1`.

use super::LinkError;
use super::format::{PhoneLinkFormat, Segment};
use crate::phone::PhoneNumber;

/// Longest link accepted by [`PhoneLinkFormat::parse_link`], in bytes
/// (Windows' own limit for a URL is a little over 2000 characters).
pub const MAX_LINK_LEN: usize = 4096;

/// What a protocol handler learned from the link it was started with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedCall {
    number: PhoneNumber,
    variables: Vec<(String, String)>,
}

impl ReceivedCall {
    /// The number to call.
    #[must_use]
    pub fn number(&self) -> &PhoneNumber {
        &self.number
    }

    /// The value of template variable `name`, decoded.
    #[must_use]
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All variables, in the order the format has them.
    pub fn variables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.variables.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl PhoneLinkFormat {
    /// Reads a link rendered from this format back into the number and the
    /// variables: what an ISV's protocol handler does with its `%1`.
    ///
    /// Surrounding quotes and whitespace (an unquoted `%1` in the registry)
    /// and one trailing `/` (added by some browsers) are tolerated. The
    /// scheme is compared case-insensitively, the rest exactly.
    ///
    /// A value ends at the first occurrence of the fixed text that follows
    /// it in the format. Values are encoded down to `A-Z a-z 0-9 - . _ ~`,
    /// so a separator with any other character (`&`, `=`, `/`, `;`) always
    /// splits correctly; one made only of those characters (`-`) may not.
    ///
    /// ```
    /// use crm_comms::links::PhoneLinkFormat;
    ///
    /// let f: PhoneLinkFormat = "domycall:%p?company={cuid}".parse()?;
    /// let call = f.parse_link("domycall:+4722334455?company=42")?;
    /// assert_eq!(call.number().e164(), "+4722334455");
    /// assert_eq!(call.variable("cuid"), Some("42"));
    /// # Ok::<(), crm_comms::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`LinkError`] saying where the link and the format differ.
    pub fn parse_link(&self, link: &str) -> Result<ReceivedCall, LinkError> {
        if link.len() > MAX_LINK_LEN {
            return Err(LinkError::LinkTooLong);
        }
        let mut link = link.trim().trim_matches('"');
        // Rendering never ends a link with a `/` the format does not end
        // with (values encode it as %2F), so such a `/` was added on the way.
        if link.ends_with('/') && !self.as_str().ends_with('/') {
            link = &link[..link.len() - 1];
        }
        self.match_link(link)
    }

    fn match_link(&self, link: &str) -> Result<ReceivedCall, LinkError> {
        let scheme = self.scheme();
        let bytes = link.as_bytes();
        let scheme_ok = bytes.len() > scheme.len()
            && bytes[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
            && bytes[scheme.len()] == b':';
        if !scheme_ok {
            return Err(LinkError::WrongScheme {
                expected: scheme.to_owned(),
            });
        }
        let segments = self.segments();
        let mut pos = scheme.len() + 1;
        let mut number = None;
        let mut variables = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            match *seg {
                Segment::Literal(ref text) => {
                    let mut text: &str = text;
                    if i == 0 {
                        text = &text[scheme.len() + 1..];
                    }
                    if !link[pos..].starts_with(text) {
                        return Err(LinkError::Mismatch {
                            offset: pos,
                            expected: text.to_owned(),
                        });
                    }
                    pos += text.len();
                }
                Segment::Number(_) | Segment::Variable { .. } => {
                    let next = segments.get(i + 1);
                    let end = match next {
                        None => link.len(),
                        Some(Segment::Literal(text)) => match link[pos..].find(&**text) {
                            Some(at) => pos + at,
                            None => {
                                return Err(LinkError::Mismatch {
                                    offset: link.len(),
                                    expected: text.to_string(),
                                });
                            }
                        },
                        // Two values with nothing between them: a value
                        // may begin with digits, so where the first ends
                        // cannot be known.
                        Some(_) => return Err(LinkError::Ambiguous),
                    };
                    let raw = &link[pos..end];
                    let name = match seg {
                        Segment::Variable { name, .. } => name.to_string(),
                        _ => "%p".to_owned(),
                    };
                    check_value(raw, pos, &name, matches!(seg, Segment::Number(_)))?;
                    match *seg {
                        Segment::Number(_) => {
                            let text = decode(raw)
                                .ok_or_else(|| LinkError::BadEncoding { name: "%p".into() })?;
                            let parsed = PhoneNumber::parse(&text, None)?;
                            // Every %p of a format renders the same number.
                            if number.is_some_and(|n| n != parsed) {
                                return Err(LinkError::Mismatch {
                                    offset: pos,
                                    expected: "the same number as before".into(),
                                });
                            }
                            number = Some(parsed);
                        }
                        Segment::Variable { ref name, .. } => {
                            let value = decode(raw).ok_or_else(|| LinkError::BadEncoding {
                                name: name.to_string(),
                            })?;
                            variables.push((name.to_string(), value));
                        }
                        Segment::Literal(_) => {}
                    }
                    pos = end;
                }
            }
        }
        if pos != link.len() {
            return Err(LinkError::Mismatch {
                offset: pos,
                expected: "the end of the link".into(),
            });
        }
        let number = number.ok_or(LinkError::Mismatch {
            offset: pos,
            expected: "%p".into(),
        })?;
        Ok(ReceivedCall { number, variables })
    }
}

/// Refuses a raw value with a byte rendering never writes: only
/// unreserved bytes and `%XX` escapes (a number in a path may start with
/// `+`). `at` is the value's offset in the link.
fn check_value(raw: &str, at: usize, name: &str, number: bool) -> Result<(), LinkError> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let ok = if c == b'%' {
            let hex = b.get(i + 1..i + 3);
            if hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                i += 3;
                continue;
            }
            return Err(LinkError::BadEncoding {
                name: name.to_owned(),
            });
        } else {
            super::render::is_unreserved(c) || (number && c == b'+' && i == 0)
        };
        if !ok {
            return Err(LinkError::UnexpectedCharacter {
                name: name.to_owned(),
                offset: at + i,
                byte: char::from(c),
            });
        }
        i += 1;
    }
    Ok(())
}

/// Percent-decodes `s` into UTF-8; `None` on a bad escape or invalid UTF-8.
pub(crate) fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
