//! Parsing a phone link format.

// Why one file above 500 lines: one idea, the grammar of a link format
// (scheme, segments, placeholders, the scheme policy) and its typed errors;
// the renderer and the registry live beside it.

use std::fmt;
use std::str::FromStr;

use super::LinkError;
use crate::variable::{VariableError, read_variable};

/// Where in a URI a placeholder sits; it decides how a value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    /// After the scheme, before any `?` or `#`.
    Path,
    /// After `?`.
    Query,
    /// After `#`.
    Fragment,
}

/// One piece of a parsed format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Text copied as it is.
    Literal(Box<str>),
    /// `%p`: the phone number.
    Number(Component),
    /// `{name}`: a template variable.
    Variable {
        name: Box<str>,
        component: Component,
    },
}

/// A parsed "phone link format" preference value such as `tel:%p`,
/// `callto:%p`, `facetime:%p` or `domycall:%p?company={cuid}`.
///
/// # Syntax
///
/// - A URI scheme followed by `:` (letters, digits, `+`, `-`, `.`; the
///   first a letter). Schemes are case-insensitive and kept lowercase.
/// - `%p` stands for the phone number, rendered in E.164 (`+4722334455`).
///   It may appear more than once and must appear at least once.
/// - `{name}` is a CRM template variable (`{cuid}`, `{name}`, `{cnt?}`),
///   filled from a [`VariableSource`](super::VariableSource) when rendering.
///   Names are 1–32 characters from `a-z`, `0-9`, `_`, `?`; they are
///   case-insensitive (kept lowercase) unless
///   [`ParseOptions::case_sensitive_variables`] is set. The fill variables
///   `{paddN}` are refused: they mean nothing in a link.
/// - `%%` is a literal percent sign. Since a bare `%` cannot stand in a URI,
///   it is written `%25`, and `%%` and `%25` are the same format.
/// - `%` followed by two hex digits is a percent-encoded octet, kept as it
///   is (hex digits normalised to uppercase).
/// - Everything else must be a character allowed in a URI: letters, digits
///   and `-._~!$&'()*+,;=:@/?`. Spaces, quotes, `<`, `>`, `\`, `^`, `|`, control and
///   non-ASCII characters must be percent-encoded by the administrator; they
///   are refused, not silently encoded.
///
/// `Display` gives the canonical spelling; parsing it again gives an equal
/// format. [`Default`] is `tel:%p`, the CRM's default.
///
/// # Safety of schemes
///
/// Schemes that run code or open web pages (`javascript:`, `vbscript:`,
/// `data:`, `file:`, `http:`, `https:` and a few more) are refused unless
/// the [`SchemePolicy`] allows them. See [`SchemePolicy`].
///
/// ```
/// use crm_comms::links::PhoneLinkFormat;
///
/// let f: PhoneLinkFormat = "DoMyCall:%p?company={CUID}&note=100%%".parse()?;
/// assert_eq!(f.scheme(), "domycall");
/// assert_eq!(f.to_string(), "domycall:%p?company={cuid}&note=100%25");
/// assert_eq!(f.variables().collect::<Vec<_>>(), ["cuid"]);
/// assert_eq!(PhoneLinkFormat::default().to_string(), "tel:%p");
///
/// let err = "tel:%q".parse::<PhoneLinkFormat>().unwrap_err();
/// assert_eq!(err.to_string(), "invalid phone link format: unknown directive `%q` at offset 4 (only %p and %% are directives)");
/// # Ok::<(), crm_comms::links::LinkError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneLinkFormat {
    /// The canonical spelling; segments point into it.
    canonical: Box<str>,
    scheme_len: u32,
    segments: Box<[Segment]>,
    /// Sum of literal lengths, to size the rendered string.
    literal_len: u32,
}

impl PhoneLinkFormat {
    /// Parses a format with non-default options.
    ///
    /// # Errors
    ///
    /// A [`LinkError::Format`] naming what is wrong and where.
    pub fn parse_with(input: &str, options: &ParseOptions) -> Result<Self, LinkError> {
        Parser::new(input, options).parse()
    }

    /// The scheme, lowercase, without the `:` (`tel`, `domycall`).
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.canonical[..self.scheme_len as usize]
    }

    /// The names of the template variables, in order of appearance
    /// (repeated if they appear more than once).
    pub fn variables(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable { name, .. } => Some(&**name),
            _ => None,
        })
    }

    /// The canonical spelling (the same as `to_string()`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub(crate) fn literal_len(&self) -> usize {
        self.literal_len as usize
    }
}

impl Default for PhoneLinkFormat {
    /// `tel:%p`, the CRM's default phone link format.
    fn default() -> Self {
        "tel:%p".parse().expect("the default format is valid")
    }
}

impl FromStr for PhoneLinkFormat {
    type Err = LinkError;

    /// Parses with [`ParseOptions::default`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneLinkFormat::parse_with(s, &ParseOptions::default())
    }
}

impl TryFrom<&str> for PhoneLinkFormat {
    type Error = LinkError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for PhoneLinkFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for PhoneLinkFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneLinkFormat")
            .field(&&*self.canonical)
            .finish()
    }
}

impl serde::Serialize for PhoneLinkFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical)
    }
}

impl<'de> serde::Deserialize<'de> for PhoneLinkFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Options for [`PhoneLinkFormat::parse_with`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Which schemes are allowed.
    pub schemes: SchemePolicy,
    /// Keep template variable names as written instead of lowercasing them
    /// (the CRM's "case-sensitive template variables" preference).
    pub case_sensitive_variables: bool,
}

impl ParseOptions {
    /// Sets the scheme policy.
    #[must_use]
    pub fn schemes(mut self, policy: SchemePolicy) -> Self {
        self.schemes = policy;
        self
    }

    /// Keeps variable names' case.
    #[must_use]
    pub fn case_sensitive_variables(mut self, yes: bool) -> Self {
        self.case_sensitive_variables = yes;
        self
    }
}

/// Schemes refused by [`SchemePolicy::default`]: they run script, read local
/// files, embed content or open web pages, and a click on a phone number must
/// not do any of that.
pub const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "vbscript",
    "data",
    "file",
    "blob",
    "about",
    "filesystem",
    "jar",
    "ms-msdt",
    "search-ms",
    "ms-settings",
    "shell",
    "http",
    "https",
    "ftp",
    "ws",
    "wss",
];

/// Which schemes a phone link format may use.
///
/// The default allows any syntactically valid scheme except the
/// [`DANGEROUS_SCHEMES`], so ISVs' own schemes (`domycall:`) work. A web
/// dialer can be allowed `http`/`https` explicitly, and a strict deployment
/// can allow only a fixed list.
///
/// ```
/// use crm_comms::links::{ParseOptions, PhoneLinkFormat, SchemePolicy};
///
/// assert!("https://dial.example.com/?n=%p".parse::<PhoneLinkFormat>().is_err());
/// let web = ParseOptions::default().schemes(SchemePolicy::default().allow_web());
/// assert!(PhoneLinkFormat::parse_with("https://dial.example.com/?n=%p", &web).is_ok());
///
/// let only_tel = ParseOptions::default().schemes(SchemePolicy::only(["tel", "callto"]));
/// assert!(PhoneLinkFormat::parse_with("domycall:%p", &only_tel).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemePolicy {
    only: Option<Vec<String>>,
    allow_web: bool,
}

impl SchemePolicy {
    /// Also allows `http` and `https`, for web dialers.
    #[must_use]
    pub fn allow_web(mut self) -> Self {
        self.allow_web = true;
        self
    }

    /// Allows only the given schemes (case-insensitive). Dangerous schemes
    /// stay refused even if listed, except `http`/`https` with
    /// [`allow_web`](Self::allow_web).
    pub fn only<I, S>(schemes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        SchemePolicy {
            only: Some(
                schemes
                    .into_iter()
                    .map(|s| s.as_ref().to_ascii_lowercase())
                    .collect(),
            ),
            allow_web: false,
        }
    }

    /// Whether `scheme` (lowercase) is allowed.
    #[must_use]
    pub fn allows(&self, scheme: &str) -> bool {
        let web = matches!(scheme, "http" | "https");
        if web && self.allow_web {
            return self
                .only
                .as_ref()
                .is_none_or(|o| o.iter().any(|s| s == scheme));
        }
        if DANGEROUS_SCHEMES.contains(&scheme) {
            return false;
        }
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scheme))
    }
}

/// What is wrong with a phone link format.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// The format is empty.
    Empty,
    /// There is no `scheme:` at the start.
    MissingScheme,
    /// The scheme has a character a scheme cannot have.
    InvalidScheme,
    /// The scheme is refused by the [`SchemePolicy`].
    DisallowedScheme(String),
    /// A second `scheme:` follows the first (`tel:callto:%p`).
    MultipleSchemes,
    /// A `%` followed by something other than `p`, `%` or two hex digits.
    UnknownDirective(String),
    /// A `{` without its `}`.
    UnterminatedVariable,
    /// A `}` without a `{`.
    UnmatchedBrace,
    /// A variable name that is empty, too long or has characters a
    /// variable name cannot have.
    InvalidVariableName(String),
    /// A fill variable (`{padd32}`), which means nothing in a link.
    FillVariable(String),
    /// A character that cannot stand in a link; the administrator must
    /// percent-encode it.
    InvalidCharacter(char),
    /// The format has no `%p`.
    MissingNumber,
    /// The format is longer than 2048 bytes.
    TooLong,
}

pub(crate) fn describe(kind: &FormatErrorKind, at: usize) -> String {
    match kind {
        FormatErrorKind::Empty => "the format is empty".into(),
        FormatErrorKind::MissingScheme => {
            "it must start with a scheme such as `tel:` (missing scheme)".into()
        }
        FormatErrorKind::InvalidScheme => {
            format!("invalid scheme: character at offset {at} cannot be part of a scheme")
        }
        FormatErrorKind::DisallowedScheme(s) => format!("scheme `{s}:` is not allowed"),
        FormatErrorKind::MultipleSchemes => {
            format!("a second scheme starts at offset {at}; a link has one scheme")
        }
        FormatErrorKind::UnknownDirective(d) => {
            format!("unknown directive `{d}` at offset {at} (only %p and %% are directives)")
        }
        FormatErrorKind::UnterminatedVariable => VariableError::Unterminated.describe(at),
        FormatErrorKind::UnmatchedBrace => format!("the `}}` at offset {at} has no opening `{{`"),
        FormatErrorKind::InvalidVariableName(n) => {
            VariableError::InvalidName(n.clone()).describe(at)
        }
        FormatErrorKind::FillVariable(n) => {
            format!("fill variable `{{{n}}}` at offset {at} means nothing in a link")
        }
        FormatErrorKind::InvalidCharacter(c) => {
            format!("character {c:?} at offset {at} cannot stand in a link; percent-encode it")
        }
        FormatErrorKind::MissingNumber => "the format has no `%p` for the phone number".into(),
        FormatErrorKind::TooLong => {
            "the format is longer than 2048 bytes (in its canonical spelling)".into()
        }
    }
}

/// Longest format accepted, in bytes.
const MAX_FORMAT_LEN: usize = 2048;

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// Characters that may stand as they are in the rest of a link.
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.'
                | '_'
                | '~'
                | '!'
                | '$'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | ';'
                | '='
                | ':'
                | '@'
                | '/'
                | '?'
                | '#'
        )
}

struct Parser<'a> {
    input: &'a str,
    /// Offset of `input` inside what the caller gave (leading whitespace).
    base: usize,
    options: &'a ParseOptions,
    out: String,
    segments: Vec<Segment>,
    literal_start: Option<usize>,
    literal_len: usize,
    component: Component,
}

impl<'a> Parser<'a> {
    fn new(raw: &'a str, options: &'a ParseOptions) -> Self {
        let input = raw.trim_start();
        let base = raw.len() - input.len();
        Parser {
            input: input.trim_end(),
            base,
            options,
            out: String::with_capacity(raw.len() + 4),
            segments: Vec::new(),
            literal_start: None,
            literal_len: 0,
            component: Component::Path,
        }
    }

    fn err(&self, kind: FormatErrorKind, at: usize) -> LinkError {
        LinkError::Format {
            kind,
            offset: self.base + at,
        }
    }

    fn push_literal(&mut self, s: &str) {
        if self.literal_start.is_none() {
            self.literal_start = Some(self.out.len());
        }
        self.out.push_str(s);
        self.literal_len += s.len();
    }

    fn end_literal(&mut self) {
        if let Some(start) = self.literal_start.take() {
            self.segments
                .push(Segment::Literal(self.out[start..].into()));
        }
    }

    fn parse(mut self) -> Result<PhoneLinkFormat, LinkError> {
        let input = self.input;
        if input.is_empty() {
            return Err(self.err(FormatErrorKind::Empty, 0));
        }
        if input.len() > MAX_FORMAT_LEN {
            return Err(self.err(FormatErrorKind::TooLong, MAX_FORMAT_LEN));
        }

        // The scheme.
        let scheme_end = input
            .char_indices()
            .find(|&(_, c)| !is_scheme_char(c))
            .map_or(input.len(), |(i, _)| i);
        match input[scheme_end..].chars().next() {
            Some(':') if scheme_end > 0 => {}
            _ if !input.contains(':') || scheme_end == 0 => {
                return Err(self.err(FormatErrorKind::MissingScheme, 0));
            }
            _ => return Err(self.err(FormatErrorKind::InvalidScheme, scheme_end)),
        }
        if !input.as_bytes()[0].is_ascii_alphabetic() {
            return Err(self.err(FormatErrorKind::InvalidScheme, 0));
        }
        let scheme = input[..scheme_end].to_ascii_lowercase();
        if !self.options.schemes.allows(&scheme) {
            return Err(self.err(FormatErrorKind::DisallowedScheme(scheme), 0));
        }
        self.push_literal(&scheme);
        self.push_literal(":");
        let rest_at = scheme_end + 1;
        let rest = &input[rest_at..];
        let second = rest.char_indices().find(|&(_, c)| !is_scheme_char(c));
        if let Some((i, ':')) = second
            && i > 0
            && rest.as_bytes()[0].is_ascii_alphabetic()
        {
            return Err(self.err(FormatErrorKind::MultipleSchemes, rest_at));
        }

        let mut has_number = false;
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = rest_at + i;
            match c {
                '%' => {
                    let a = chars.next();
                    match a {
                        Some((_, 'p')) => {
                            self.end_literal();
                            self.out.push_str("%p");
                            self.segments.push(Segment::Number(self.component));
                            has_number = true;
                        }
                        Some((_, '%')) => self.push_literal("%25"),
                        Some((_, h1)) if h1.is_ascii_hexdigit() => match chars.next() {
                            Some((_, h2)) if h2.is_ascii_hexdigit() => {
                                let hex = format!(
                                    "%{}{}",
                                    h1.to_ascii_uppercase(),
                                    h2.to_ascii_uppercase()
                                );
                                self.push_literal(&hex);
                            }
                            other => {
                                let mut d = format!("%{h1}");
                                if let Some((_, h2)) = other {
                                    d.push(h2);
                                }
                                return Err(self.err(FormatErrorKind::UnknownDirective(d), at));
                            }
                        },
                        Some((_, other)) => {
                            return Err(self
                                .err(FormatErrorKind::UnknownDirective(format!("%{other}")), at));
                        }
                        None => {
                            return Err(self.err(FormatErrorKind::UnknownDirective("%".into()), at));
                        }
                    }
                }
                '{' => {
                    let (name, len) = read_variable(rest, i, self.options.case_sensitive_variables)
                        .map_err(|e| self.err(e.into(), at))?;
                    if is_fill_variable(&name) {
                        return Err(self.err(FormatErrorKind::FillVariable(name), at));
                    }
                    self.end_literal();
                    self.out.push('{');
                    self.out.push_str(&name);
                    self.out.push('}');
                    self.segments.push(Segment::Variable {
                        name: name.into(),
                        component: self.component,
                    });
                    for _ in 0..=len {
                        chars.next();
                    }
                }
                '}' => return Err(self.err(FormatErrorKind::UnmatchedBrace, at)),
                '?' if self.component == Component::Path => {
                    self.component = Component::Query;
                    self.push_literal("?");
                }
                '#' if self.component != Component::Fragment => {
                    self.component = Component::Fragment;
                    self.push_literal("#");
                }
                '#' => return Err(self.err(FormatErrorKind::InvalidCharacter('#'), at)),
                c if is_literal_char(c) => {
                    let mut buf = [0u8; 4];
                    self.push_literal(c.encode_utf8(&mut buf));
                }
                c => return Err(self.err(FormatErrorKind::InvalidCharacter(c), at)),
            }
        }
        self.end_literal();
        if !has_number {
            return Err(self.err(FormatErrorKind::MissingNumber, input.len()));
        }
        // The canonical spelling escapes some characters, so it can be
        // longer than the input; it must parse again (found by fuzzing).
        if self.out.len() > MAX_FORMAT_LEN {
            return Err(self.err(FormatErrorKind::TooLong, input.len()));
        }
        Ok(PhoneLinkFormat {
            scheme_len: scheme.len() as u32,
            canonical: self.out.into_boxed_str(),
            segments: self.segments.into_boxed_slice(),
            literal_len: self.literal_len as u32,
        })
    }
}

impl From<VariableError> for FormatErrorKind {
    fn from(e: VariableError) -> Self {
        match e {
            VariableError::Unterminated => FormatErrorKind::UnterminatedVariable,
            VariableError::InvalidName(n) => FormatErrorKind::InvalidVariableName(n),
        }
    }
}

/// `{padd0}`, `{padd32}`: the CRM's fill-character variables.
fn is_fill_variable(name: &str) -> bool {
    name.len() > 4
        && name[..4].eq_ignore_ascii_case("padd")
        && name[4..].bytes().all(|b| b.is_ascii_digit())
}
