//! Loading and saving preferences as TOML or JSON.
//!
//! The file holds the stored rows (built-in defaults are code, not data):
//!
//! ```toml
//! [[preference]]
//! level = "system"
//! section = "Phone"
//! key = "LinkFormat"
//! value = "callto:%p"
//! maxlevel = "database"   # optional: nothing below database may override
//!
//! [[preference]]
//! level = "user"
//! owner = 7
//! section = "Phone"
//! key = "LinkFormat"
//! value = "facetime:%p"
//! ```
//!
//! Unknown fields, duplicate rows and impossible combinations are refused.

use super::{Entry, MemoryStore, PrefStore, Preferences, PrefsError};

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefFile {
    #[serde(default)]
    preference: Vec<Entry>,
}

impl Preferences<MemoryStore> {
    /// In-memory preferences loaded from TOML text.
    ///
    /// # Errors
    ///
    /// [`PrefsError::Format`] for syntax errors and unknown fields (with the
    /// line), and the errors of [`load_entries`](Preferences::load_entries).
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Self, PrefsError> {
        let file: PrefFile = toml::from_str(text).map_err(|e| PrefsError::Format(e.to_string()))?;
        Preferences::from_entries(file.preference)
    }

    /// In-memory preferences loaded from JSON text
    /// (`{"preference": [ {...}, ... ]}`).
    ///
    /// # Errors
    ///
    /// As [`from_toml_str`](Self::from_toml_str).
    #[cfg(feature = "json")]
    pub fn from_json_str(text: &str) -> Result<Self, PrefsError> {
        let file: PrefFile =
            serde_json::from_str(text).map_err(|e| PrefsError::Format(e.to_string()))?;
        Preferences::from_entries(file.preference)
    }
}

impl<S: PrefStore> Preferences<S> {
    /// The stored values as TOML (built-in defaults excluded).
    ///
    /// # Errors
    ///
    /// [`PrefsError::Format`] if serialisation fails.
    #[cfg(feature = "toml")]
    pub fn to_toml_string(&self) -> Result<String, PrefsError> {
        let file = PrefFile {
            preference: self.snapshot().entries(),
        };
        toml::to_string(&file).map_err(|e| PrefsError::Format(e.to_string()))
    }

    /// The stored values as pretty JSON (built-in defaults excluded).
    ///
    /// # Errors
    ///
    /// [`PrefsError::Format`] if serialisation fails.
    #[cfg(feature = "json")]
    pub fn to_json_string(&self) -> Result<String, PrefsError> {
        let file = PrefFile {
            preference: self.snapshot().entries(),
        };
        serde_json::to_string_pretty(&file).map_err(|e| PrefsError::Format(e.to_string()))
    }
}
