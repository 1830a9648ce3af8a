//! What is wrong with a mailing's text or its send window.

/// Which part of a mailing's definition a [`SpecError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecErrorKind {
    /// The [`Template`](super::Template): an unclosed `{`, a lone `}`, a
    /// bad variable name, or an empty text.
    Template,
    /// The [`SendWindow`](super::SendWindow): its form, an unknown time
    /// zone, or a start not before its end.
    SendWindow,
    /// Daily hours ([`DailyHours`](super::DailyHours),
    /// [`RecipientHours`](super::RecipientHours)): their form, or a start
    /// not before the end.
    Hours,
    /// A price per part ([`PartPrices`](super::PartPrices)): its form.
    Price,
    /// A [`FrequencyCap`](super::FrequencyCap): its form or range.
    FrequencyCap,
}

/// A mailing's text or send window that cannot be used, with what is
/// wrong (and where, for a template: its byte offset in the message).
///
/// ```
/// use crm_comms::mailing::{SendWindow, SpecErrorKind, Template};
/// let e = "Hei {".parse::<Template>().unwrap_err();
/// assert_eq!(e.kind(), SpecErrorKind::Template);
/// let e = "08:00-21:00 Europe/Atlantis".parse::<SendWindow>().unwrap_err();
/// assert!(e.is_send_window(), "{e}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    kind: SpecErrorKind,
    message: String,
}

impl SpecError {
    pub(crate) fn new(kind: SpecErrorKind, message: impl Into<String>) -> Self {
        SpecError {
            kind,
            message: message.into(),
        }
    }

    /// Which part is wrong.
    #[must_use]
    pub fn kind(&self) -> SpecErrorKind {
        self.kind
    }

    /// Whether the template is wrong.
    #[must_use]
    pub fn is_template(&self) -> bool {
        self.kind == SpecErrorKind::Template
    }

    /// Whether daily hours are wrong.
    #[must_use]
    pub fn is_hours(&self) -> bool {
        self.kind == SpecErrorKind::Hours
    }

    /// Whether the send window is wrong.
    #[must_use]
    pub fn is_send_window(&self) -> bool {
        self.kind == SpecErrorKind::SendWindow
    }
}
