//! Layered preferences: a user's value beats their group's, which beats the
//! database's, which beats the system's; an administrator can lock a value
//! so more specific levels cannot override it; every answer says where it
//! came from.
//!
//! # Levels
//!
//! | [`Level`] | number | owner | who sets it |
//! |---|---|---|---|
//! | `Default` | 1 | 0 | built-in defaults, in code ([`Preferences::with_default`]) |
//! | `System` | 2 | 0 | administrator, for everyone |
//! | `Database` | 3 | database id | administrator, for one (satellite) database |
//! | `Group` | 4 | group id | administrator, for one user group (a user's primary group counts) |
//! | `User` | 5 | user id | the user, or an administrator for them |
//!
//! The most specific level with a value wins. A stored value carries a
//! `maxlevel` (the CRM's name): no level more specific than `maxlevel` can
//! override it. A system value with `maxlevel = System` is mandatory for
//! everyone; one with `maxlevel = Database` can still be changed per
//! database but not per group or user. `maxlevel` can never be less specific
//! than the value's own level (a user value locked at system level is
//! refused). With no value anywhere, the built-in default or the caller's
//! default applies.
//!
//! ```
//! use crm_comms::prefs::{Context, Entry, Level, Preferences};
//! use crm_comms::links::PhoneLinkFormat;
//!
//! let prefs = Preferences::new();
//! prefs.set(Entry::new(Level::System, 0, "Phone", "LinkFormat", "callto:%p"))?;
//! prefs.set(Entry::new(Level::Group, 3, "Phone", "LinkFormat", "facetime:%p"))?;
//! prefs.set(Entry::new(Level::User, 7, "Phone", "LinkFormat", "domycall:%p"))?;
//!
//! let snap = prefs.snapshot();
//! let ordinary = Context::user(9).in_group(1);
//! let member = Context::user(8).in_group(3);
//! let own = Context::user(7).in_group(3);
//! assert_eq!(snap.get_str(&ordinary, "Phone", "LinkFormat").unwrap().value(), "callto:%p");
//! assert_eq!(snap.get_str(&member, "Phone", "LinkFormat").unwrap().value(), "facetime:%p");
//! let r = snap.get_str(&own, "Phone", "LinkFormat").unwrap();
//! assert_eq!((r.value(), r.origin().level()), ("domycall:%p", Level::User));
//!
//! // Typed reads parse with FromStr.
//! let f = snap.get::<PhoneLinkFormat>(&own, "Phone", "LinkFormat")?.unwrap();
//! assert_eq!(f.value().scheme(), "domycall");
//! # Ok::<(), crm_comms::prefs::PrefsError>(())
//! ```

mod error;
#[cfg(any(feature = "toml", feature = "json"))]
mod file;
mod resolve;
mod store;

pub use error::PrefsError;
pub use resolve::{Considered, Explanation, Resolved, Snapshot, Typed, Verdict};
pub use store::{Below, Change, Edit, MemoryStore, PrefStore, Preferences};

use std::fmt;

/// The section and key of the phone link format preference, with its
/// built-in default `tel:%p`. (The address is this crate's; a CRM that
/// stores it elsewhere passes its own section and key.)
pub const PHONE_LINK_FORMAT: (&str, &str) = ("Phone", "LinkFormat");

/// A preference level, from least to most specific.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 1: built-in defaults, set in code.
    Default = 1,
    /// 2: the whole system.
    System = 2,
    /// 3: one database.
    Database = 3,
    /// 4: one user group.
    Group = 4,
    /// 5: one user.
    User = 5,
}

impl Level {
    /// The CRM's number for the level (1–5).
    #[must_use]
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The level with the CRM's number (1–5); 6 (machine-specific, kept in
    /// the Windows registry) is not handled by this crate.
    #[must_use]
    pub fn from_number(n: u8) -> Option<Level> {
        Some(match n {
            1 => Level::Default,
            2 => Level::System,
            3 => Level::Database,
            4 => Level::Group,
            5 => Level::User,
            _ => return None,
        })
    }

    /// Lowercase name, as in files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Level::Default => "default",
            Level::System => "system",
            Level::Database => "database",
            Level::Group => "group",
            Level::User => "user",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a value was set: its level and the owner at that level (0 for
/// default and system, else the database, group or user id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    level: Level,
    owner: u32,
}

impl Origin {
    /// An origin.
    #[must_use]
    pub fn new(level: Level, owner: u32) -> Self {
        Origin { level, owner }
    }

    /// The level.
    #[must_use]
    pub fn level(&self) -> Level {
        self.level
    }

    /// The owner id at that level (0 for default and system).
    #[must_use]
    pub fn owner(&self) -> u32 {
        self.owner
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            Level::Default => f.write_str("built-in default"),
            Level::System => f.write_str("system"),
            l => write!(f, "{l} {}", self.owner),
        }
    }
}

/// Who is asking: the user, their primary group and their database. Any of
/// them may be absent (a user with no group, a system-wide question).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The user id.
    pub user: Option<u32>,
    /// The user's primary group id.
    pub group: Option<u32>,
    /// The database id.
    pub database: Option<u32>,
}

impl Context {
    /// No user, group or database: only default and system values apply.
    #[must_use]
    pub fn system() -> Self {
        Context::default()
    }

    /// A user, with no group or database yet.
    #[must_use]
    pub fn user(id: u32) -> Self {
        Context {
            user: Some(id),
            ..Context::default()
        }
    }

    /// Sets the primary group.
    #[must_use]
    pub fn in_group(mut self, id: u32) -> Self {
        self.group = Some(id);
        self
    }

    /// Sets the database.
    #[must_use]
    pub fn in_database(mut self, id: u32) -> Self {
        self.database = Some(id);
        self
    }

    fn owner_at(&self, level: Level) -> Option<u32> {
        match level {
            Level::Default | Level::System => Some(0),
            Level::Database => self.database,
            Level::Group => self.group,
            Level::User => self.user,
        }
    }
}

/// One stored value: the CRM's row of level, owner, section, key, value and
/// maxlevel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The level it is set at.
    pub level: Level,
    /// The owner at that level (0 for system).
    #[serde(default)]
    pub owner: u32,
    /// The section.
    pub section: String,
    /// The key.
    pub key: String,
    /// The value, as text.
    pub value: String,
    /// The most specific level that may override it; `None` means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlevel: Option<Level>,
}

impl Entry {
    /// A value with no lock.
    pub fn new(
        level: Level,
        owner: u32,
        section: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Entry {
            level,
            owner,
            section: section.into(),
            key: key.into(),
            value: value.into(),
            maxlevel: None,
        }
    }

    /// Locks the value: levels more specific than `maxlevel` cannot override
    /// it. `locked_at(Level::System)` on a system value makes it mandatory.
    #[must_use]
    pub fn locked_at(mut self, maxlevel: Level) -> Self {
        self.maxlevel = Some(maxlevel);
        self
    }

    /// Where it is set.
    #[must_use]
    pub fn origin(&self) -> Origin {
        Origin::new(self.level, self.owner)
    }

    /// Checks the combinations that cannot exist.
    pub(crate) fn validate(&self) -> Result<(), PrefsError> {
        let invalid = |reason: &str| PrefsError::InvalidEntry {
            section: self.section.clone(),
            key: self.key.clone(),
            origin: self.origin(),
            reason: reason.to_owned(),
        };
        if self.level == Level::Default {
            return Err(invalid(
                "built-in defaults are set in code, not stored (use level system)",
            ));
        }
        if self.level == Level::System && self.owner != 0 {
            return Err(invalid("a system value has owner 0"));
        }
        if self.section.is_empty() || self.key.is_empty() {
            return Err(invalid("section and key must not be empty"));
        }
        if let Some(max) = self.maxlevel
            && max < self.level
        {
            return Err(invalid(&format!(
                "maxlevel {max} is less specific than the value's own level {}",
                self.level
            )));
        }
        Ok(())
    }
}
