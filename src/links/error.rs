//! The one error of call links: parsing a format, rendering a link,
//! reading a link back, registering a handler.

use super::format::{FormatErrorKind, describe};
use super::handler::MAX_LINK_LEN;
use crate::phone::PhoneError;

/// A call link could not be parsed, rendered, read back or registered.
///
/// Each variant says what is wrong; [`offset`](Self::offset) says where,
/// for the variants that point into their input.
///
/// ```
/// use crm_comms::links::{FormatErrorKind, LinkError, PhoneLinkFormat};
///
/// let e = "javascript:%p".parse::<PhoneLinkFormat>().unwrap_err();
/// assert!(e.is_format());
/// assert_eq!(e.format_kind(), Some(&FormatErrorKind::DisallowedScheme("javascript".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A phone link format could not be parsed: what is wrong, and the
    /// byte offset in the input where it is.
    #[error("invalid phone link format: {}", describe(kind, *offset))]
    Format {
        /// What is wrong.
        kind: FormatErrorKind,
        /// The byte offset in the format where the problem is.
        offset: usize,
    },
    /// Rendering: the format uses a variable the context does not have.
    #[error(
        "the phone link format uses template variable `{{{name}}}`, which this context does not have"
    )]
    UnknownVariable {
        /// The variable's name.
        name: String,
    },
    /// Reading a link back: it is longer than [`MAX_LINK_LEN`].
    #[error("the link is longer than {MAX_LINK_LEN} bytes")]
    LinkTooLong,
    /// Reading a link back: its scheme is not the format's.
    #[error("the link does not start with `{expected}:`")]
    WrongScheme {
        /// The format's scheme.
        expected: String,
    },
    /// Reading a link back: it differs from the format's fixed text.
    #[error("the link differs from its format at offset {offset}: expected `{expected}`")]
    Mismatch {
        /// Byte offset in the link.
        offset: usize,
        /// The format text expected there.
        expected: String,
    },
    /// Reading a link back: a value is not valid percent-encoded UTF-8.
    #[error("the value of `{name}` is not valid percent-encoded UTF-8")]
    BadEncoding {
        /// `%p` or the variable's name.
        name: String,
    },
    /// Reading a link back: a value holds a byte a rendered link never has
    /// there: anything but `A-Z a-z 0-9 - . _ ~` and `%XX` escapes (and a
    /// leading `+` in a number). Such a link was not rendered from the
    /// format: it was written by hand or by a hostile page
    /// (`…&who=y&evil=1`, spaces, `<>`, quotes).
    #[error(
        "the value of `{name}` has the character {byte:?} at offset {offset}, which a rendered link never has"
    )]
    UnexpectedCharacter {
        /// `%p` or the variable's name.
        name: String,
        /// Byte offset in the link.
        offset: usize,
        /// The character (a byte outside ASCII is shown as U+0080..U+00FF).
        byte: char,
    },
    /// Reading a link back: its number is not a phone number.
    #[error("the link's number is not valid: {0}")]
    Number(#[from] PhoneError),
    /// Reading a link back: two values (`%p` or variables) follow each
    /// other without fixed text between them (`%p{cuid}`), so the link
    /// cannot be split unambiguously. Such formats render fine; put a
    /// separator between the values if the handler must read them back.
    #[error("the format has two values with nothing between them; the link cannot be split")]
    Ambiguous,
    /// Registering: the scheme is not a valid URI scheme.
    #[error("`{0}` is not a valid URI scheme (a letter, then letters, digits, `+`, `-` or `.`)")]
    InvalidScheme(String),
    /// Registering: the scheme is refused by the policy (`javascript`,
    /// `http`, …).
    #[error("scheme `{0}` may not be registered as a call-link handler")]
    DisallowedScheme(String),
    /// Registering: the executable path is not an absolute Windows path.
    #[error(
        "the program path must be an absolute Windows path such as C:\\Program Files\\App\\app.exe"
    )]
    RelativePath,
    /// Registering: the executable path or description has a character
    /// that would break the `.reg` file or the command line.
    #[error("the {field} contains {found:?}, which is not allowed there")]
    InvalidCharacter {
        /// `program path` or `description`.
        field: &'static str,
        /// The character.
        found: char,
    },
}

impl LinkError {
    /// Whether a format could not be parsed.
    #[must_use]
    pub fn is_format(&self) -> bool {
        matches!(self, LinkError::Format { .. })
    }

    /// What is wrong with the format, for [`LinkError::Format`].
    #[must_use]
    pub fn format_kind(&self) -> Option<&FormatErrorKind> {
        match self {
            LinkError::Format { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Whether a received link does not match its format (a hand-written
    /// or hostile link).
    #[must_use]
    pub fn is_foreign_link(&self) -> bool {
        matches!(
            self,
            LinkError::LinkTooLong
                | LinkError::WrongScheme { .. }
                | LinkError::Mismatch { .. }
                | LinkError::BadEncoding { .. }
                | LinkError::UnexpectedCharacter { .. }
                | LinkError::Number(_)
                | LinkError::Ambiguous
        )
    }

    /// Whether a Windows registration could not be built.
    #[must_use]
    pub fn is_registration(&self) -> bool {
        matches!(
            self,
            LinkError::InvalidScheme(_)
                | LinkError::DisallowedScheme(_)
                | LinkError::RelativePath
                | LinkError::InvalidCharacter { .. }
        )
    }

    /// The byte offset in the input where the problem is, for the
    /// variants that point into it.
    #[must_use]
    pub fn offset(&self) -> Option<usize> {
        match self {
            LinkError::Format { offset, .. }
            | LinkError::Mismatch { offset, .. }
            | LinkError::UnexpectedCharacter { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}
