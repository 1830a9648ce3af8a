//! The text of a mailing: plain text with the CRM's `{variable}`s.

use std::fmt;

use super::{SpecError, SpecErrorKind};
use crate::variable::read_variable;

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Variable(String),
}

/// A mailing's text: plain text with the CRM's template variables
/// (`{firstname}`), read by the same reader as call links' variables —
/// names of 1–32 characters from `a-z`, `0-9`, `_`, `?`, case-insensitive.
/// Rendered as plain text (no percent-encoding); `{{` and `}}` stand for
/// literal braces.
///
/// ```
/// use crm_comms::mailing::Template;
///
/// let t: Template = "Hei {FirstName}, {{tilbud}} til {city}!".parse()?;
/// assert_eq!(t.variables().collect::<Vec<_>>(), ["firstname", "city"]);
/// let text = t.render(|name| match name {
///     "firstname" => Some("Kari"),
///     "city" => Some("Bergen"),
///     _ => None,
/// });
/// assert_eq!(text.unwrap(), "Hei Kari, {tilbud} til Bergen!");
/// # Ok::<(), crm_comms::mailing::SpecError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] of kind [`SpecErrorKind::Template`] naming the
    /// offset: an unclosed `{`, a lone `}`, a bad variable name, or an
    /// empty text.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let bad = |m: String| SpecError::new(SpecErrorKind::Template, m);
        if text.trim().is_empty() {
            return Err(bad("template: the text is empty".into()));
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            if rest.starts_with("{{") {
                literal.push('{');
                at += 2;
            } else if rest.starts_with("}}") {
                literal.push('}');
                at += 2;
            } else if rest.starts_with('{') {
                let (name, len) = read_variable(text, at, false)
                    .map_err(|e| bad(format!("template: {}", e.describe(at))))?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Variable(name));
                at += len + 2;
            } else if rest.starts_with('}') {
                return Err(bad(format!(
                    "template: the `}}` at offset {at} has no opening `{{` (write `}}}}` for a brace)"
                )));
            } else {
                let c = rest.chars().next().unwrap_or_default();
                literal.push(c);
                at += c.len_utf8();
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template {
            source: text.to_owned(),
            pieces,
        })
    }

    /// The variables it uses, in order of first use, each once.
    pub fn variables(&self) -> impl Iterator<Item = &str> + '_ {
        let mut seen: Vec<&str> = Vec::new();
        self.pieces.iter().filter_map(move |p| match p {
            Piece::Variable(n) if !seen.contains(&n.as_str()) => {
                seen.push(n);
                Some(n.as_str())
            }
            _ => None,
        })
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The text for one recipient, with each variable's value from
    /// `value` (given the lowercase name).
    ///
    /// # Errors
    ///
    /// The name of the first variable `value` has no value for.
    pub fn render<'v>(&self, value: impl Fn(&str) -> Option<&'v str>) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Variable(n) => out.push_str(value(n).ok_or_else(|| n.clone())?),
            }
        }
        Ok(out)
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Template {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}
