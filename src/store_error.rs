//! [`StoreError`]: the one error every store reports (re-exported as
//! `crate::store::StoreError`). A leaf: `sms`, `prefs`, `mailing`, the
//! receiver and the store backends depend on it, and it on nothing of the
//! crate's, so naming it never makes a module depend on `store`, whose
//! backends sit at the top.

use std::sync::Arc;

/// What kind of [`StoreError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached or is busy (a connection lost, a
    /// database locked or restarting, a disk full). Trying again later may
    /// work.
    Unavailable,
    /// The work was taken over: this writer's claim expired and another
    /// owns the rows now (its write was refused, nothing changed).
    Fenced,
    /// The store is not one of this crate's, or was written by a newer
    /// version of it (its schema version is higher than this build knows).
    Schema,
    /// What was asked of the store is wrong (an unknown mailing, a value
    /// the store cannot hold).
    Invalid,
    /// Anything else.
    Other,
}

/// A store could not be read or written: a kind, a message and the
/// backend's error as the [`source`](std::error::Error::source).
#[derive(Clone, Debug, thiserror::Error)]
#[error("store: {message}")]
#[non_exhaustive]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: StoreErrorKind, message: impl std::fmt::Display) -> Self {
        StoreError {
            kind,
            message: message.to_string(),
            source: None,
        }
    }

    /// An error of kind [`Other`](StoreErrorKind::Other) saying `message`.
    pub fn other(message: impl std::fmt::Display) -> Self {
        StoreError::new(StoreErrorKind::Other, message)
    }

    /// With the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What kind of error it is.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The message (no `store:` prefix).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the store could not be reached or was busy (try again).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }

    /// Whether another worker owns the rows now (give the work up).
    #[must_use]
    pub fn is_fenced(&self) -> bool {
        self.kind == StoreErrorKind::Fenced
    }

    /// Whether the store is not this crate's or is from a newer version.
    #[must_use]
    pub fn is_schema(&self) -> bool {
        self.kind == StoreErrorKind::Schema
    }
}

impl From<String> for StoreError {
    fn from(message: String) -> Self {
        StoreError::other(message)
    }
}

impl From<&str> for StoreError {
    fn from(message: &str) -> Self {
        StoreError::other(message)
    }
}
