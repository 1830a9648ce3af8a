//! Rendering a call link for a number.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use super::LinkError;
use super::format::{Component, PhoneLinkFormat, Segment};
use crate::phone::PhoneNumber;

/// Where template variables' values come from: the current person, company
/// and user. Implemented for `HashMap` and `BTreeMap` with string keys and
/// values, and for references to any source.
///
/// Names are given as they appear in the format: lowercase unless the format
/// was parsed with case-sensitive variables.
pub trait VariableSource {
    /// The value of variable `name`, or `None` if this context has no such
    /// variable.
    fn variable(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> VariableSource for HashMap<String, String, S> {
    fn variable(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl<S: BuildHasher> VariableSource for HashMap<&str, &str, S> {
    fn variable(&self, name: &str) -> Option<&str> {
        self.get(name).copied()
    }
}

impl VariableSource for BTreeMap<String, String> {
    fn variable(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl VariableSource for BTreeMap<&str, &str> {
    fn variable(&self, name: &str) -> Option<&str> {
        self.get(name).copied()
    }
}

impl VariableSource for [(&str, &str)] {
    fn variable(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl<const N: usize> VariableSource for [(&str, &str); N] {
    fn variable(&self, name: &str) -> Option<&str> {
        self.as_slice().variable(name)
    }
}

impl<T: VariableSource + ?Sized> VariableSource for &T {
    fn variable(&self, name: &str) -> Option<&str> {
        (**self).variable(name)
    }
}

/// A source with no variables at all, for formats without any.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoVariables;

impl VariableSource for NoVariables {
    fn variable(&self, _: &str) -> Option<&str> {
        None
    }
}

/// What to do with a variable the [`VariableSource`] does not have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownVariables {
    /// Fail with [`LinkError::UnknownVariable`] (the default): an unknown
    /// variable is a configuration error the administrator should see.
    #[default]
    Error,
    /// Render it as an empty string.
    Empty,
}

/// Options for [`PhoneLinkFormat::render_with`].
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct RenderOptions {
    /// What to do with unknown variables.
    pub unknown_variables: UnknownVariables,
}

impl RenderOptions {
    /// Renders unknown variables as empty strings instead of failing.
    #[must_use]
    pub fn unknown_variables_empty(mut self) -> Self {
        self.unknown_variables = UnknownVariables::Empty;
        self
    }
}

/// A rendered call link, ready to put in an `href` or hand to the OS.
///
/// Its scheme is always the format's; every character in it is one a URI
/// may contain, and it has no quotes, spaces, control characters, `^`, `|`,
/// `<`, `>` or `\`, so it is safe inside a quoted `"%1"` Windows command line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneLink(String);

impl PhoneLink {
    /// The link.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The link as a `String`.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }

    /// The link's scheme, without the `:`.
    #[must_use]
    pub fn scheme(&self) -> &str {
        self.0.split(':').next().unwrap_or("")
    }
}

impl fmt::Display for PhoneLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A link holds a phone number; show its shape, not the digits.
        write!(f, "PhoneLink({})", crate::mask::mask(&self.0))
    }
}

impl AsRef<str> for PhoneLink {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<PhoneLink> for String {
    fn from(l: PhoneLink) -> String {
        l.0
    }
}

/// Up to this many variable values are looked up once; a format with more
/// looks the rest up twice (once to size the output, once to write it).
const CACHED_VALUES: usize = 8;

impl PhoneLinkFormat {
    /// Renders the link for `number`, with template variables from `vars`.
    ///
    /// The number is written in E.164 (`+4722334455`; `%2B4722334455` in a
    /// query or fragment, where a `+` could be read as a space). Variable
    /// values are UTF-8 percent-encoded, leaving only `A-Z a-z 0-9 - . _ ~`
    /// as they are, so no value can end the path, start a query, add a
    /// parameter or a second URI, or change the scheme.
    ///
    /// ```
    /// use crm_comms::links::PhoneLinkFormat;
    /// use crm_comms::phone::PhoneNumber;
    ///
    /// let f: PhoneLinkFormat = "domycall:%p?company={name}".parse()?;
    /// let n: PhoneNumber = "+4722334455".parse()?;
    /// let link = f.render(&n, &[("name", "Ola & Sønner \"AS\"")])?;
    /// assert_eq!(
    ///     link.as_str(),
    ///     "domycall:+4722334455?company=Ola%20%26%20S%C3%B8nner%20%22AS%22"
    /// );
    /// # Ok::<(), crm_comms::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`LinkError::UnknownVariable`] when `vars` lacks a variable the
    /// format uses (see [`render_with`](Self::render_with) to render it
    /// empty instead).
    pub fn render<V>(&self, number: &PhoneNumber, vars: &V) -> Result<PhoneLink, LinkError>
    where
        V: VariableSource + ?Sized,
    {
        self.render_with(number, vars, &RenderOptions::default())
    }

    /// [`render`](Self::render) with options.
    ///
    /// # Errors
    ///
    /// As [`render`](Self::render), unless the options say otherwise.
    pub fn render_with<V>(
        &self,
        number: &PhoneNumber,
        vars: &V,
        options: &RenderOptions,
    ) -> Result<PhoneLink, LinkError>
    where
        V: VariableSource + ?Sized,
    {
        let mut cached: [&str; CACHED_VALUES] = [""; CACHED_VALUES];
        let mut len = self.literal_len();
        let mut var_index = 0;
        for seg in self.segments() {
            match *seg {
                Segment::Literal(_) => {}
                Segment::Number(c) => len += number_len(number, c),
                Segment::Variable { ref name, .. } => {
                    let value = lookup(vars, name, options)?;
                    len += encoded_len(value);
                    if var_index < CACHED_VALUES {
                        cached[var_index] = value;
                    }
                    var_index += 1;
                }
            }
        }
        let mut out = String::with_capacity(len);
        var_index = 0;
        for seg in self.segments() {
            match *seg {
                Segment::Literal(ref text) => out.push_str(text),
                Segment::Number(c) => push_number(&mut out, number, c),
                Segment::Variable { ref name, .. } => {
                    let value = if var_index < CACHED_VALUES {
                        cached[var_index]
                    } else {
                        lookup(vars, name, options)?
                    };
                    var_index += 1;
                    push_encoded(&mut out, value);
                }
            }
        }
        debug_assert_eq!(out.len(), len);
        Ok(PhoneLink(out))
    }

    /// Renders one link per number, in order, for the "pick a number to
    /// call" list of a person.
    ///
    /// # Errors
    ///
    /// As [`render`](Self::render); the variables are the same for every
    /// number, so either all links render or none does.
    pub fn render_all<'n, I, V>(&self, numbers: I, vars: &V) -> Result<Vec<PhoneLink>, LinkError>
    where
        I: IntoIterator<Item = &'n PhoneNumber>,
        V: VariableSource + ?Sized,
    {
        numbers.into_iter().map(|n| self.render(n, vars)).collect()
    }
}

fn lookup<'v, V>(vars: &'v V, name: &str, options: &RenderOptions) -> Result<&'v str, LinkError>
where
    V: VariableSource + ?Sized,
{
    match (vars.variable(name), options.unknown_variables) {
        (Some(v), _) => Ok(v),
        (None, UnknownVariables::Empty) => Ok(""),
        (None, UnknownVariables::Error) => Err(LinkError::UnknownVariable {
            name: name.to_owned(),
        }),
    }
}

/// `UNRESERVED[b]` is true for the bytes left as they are in a variable
/// value (RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`).
static UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    t
};

/// `%00%01…%FF`: the escape of byte `b` is `ESCAPES[3 * b..3 * b + 3]`.
static ESCAPES: &str = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const BYTES: [u8; 768] = {
        let mut t = [0u8; 768];
        let mut b = 0;
        while b < 256 {
            t[3 * b] = b'%';
            t[3 * b + 1] = HEX[b >> 4];
            t[3 * b + 2] = HEX[b & 15];
            b += 1;
        }
        t
    };
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("escapes are ASCII"),
    }
};

/// Whether rendering leaves byte `b` as it is in a value.
pub(crate) fn is_unreserved(b: u8) -> bool {
    UNRESERVED[b as usize]
}

fn encoded_len(value: &str) -> usize {
    value.len() + 2 * value.bytes().filter(|&b| !UNRESERVED[b as usize]).count()
}

pub(crate) fn push_encoded(out: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !UNRESERVED[b as usize] {
            // Between escapes there are only unreserved ASCII bytes, so
            // `run..i` is on character boundaries whenever it is not empty.
            if run < i {
                out.push_str(&value[run..i]);
            }
            let at = 3 * b as usize;
            out.push_str(&ESCAPES[at..at + 3]);
            run = i + 1;
        }
    }
    if run < bytes.len() {
        out.push_str(&value[run..]);
    }
}

fn number_len(n: &PhoneNumber, c: Component) -> usize {
    match c {
        Component::Path => n.e164().len(),
        // `+` is written %2B.
        Component::Query | Component::Fragment => n.e164().len() + 2,
    }
}

fn push_number(out: &mut String, n: &PhoneNumber, c: Component) {
    match c {
        Component::Path => out.push_str(n.e164()),
        Component::Query | Component::Fragment => {
            out.push_str("%2B");
            out.push_str(n.digits());
        }
    }
}
