//! Layered preferences.
#[derive(Debug, thiserror::Error)]
#[error("x")]
/// placeholder
pub struct PrefsError;
