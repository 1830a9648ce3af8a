//! Preference errors.

use super::Origin;

/// A preference could not be read, stored or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrefsError {
    /// A stored value could not be parsed as the type asked for.
    #[error("preference [{section}] {key} set at {origin} has an invalid value: {message}")]
    BadValue {
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// Where the bad value is set.
        origin: Origin,
        /// The parse error.
        message: String,
    },
    /// A value that cannot exist (a user value locked at system level, a
    /// system value with an owner, …).
    #[error("preference [{section}] {key} at {origin} is invalid: {reason}")]
    InvalidEntry {
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// Where it was to be set.
        origin: Origin,
        /// What is wrong.
        reason: String,
    },
    /// The same section, key, level and owner twice in one load.
    #[error("preference [{section}] {key} is set twice at {origin}")]
    Duplicate {
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// Where.
        origin: Origin,
    },
    /// A file could not be read as preferences (syntax, unknown field, …).
    #[error("preference file is invalid: {0}")]
    Format(String),
    /// The store failed.
    #[error("preference store failed: {}", .0.message())]
    Store(#[from] crate::store_error::StoreError),
}
