//! Where preferences are kept, and the handle that reads and changes them.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::resolve::{Index, Snapshot, Val};
use super::{Entry, Level, Origin, PHONE_LINK_FORMAT, PrefsError};

/// One change to the stored values.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Insert or replace the value at the entry's level, owner, section and
    /// key.
    Put(Entry),
    /// Remove the value at this origin, section and key.
    Remove {
        /// Where.
        origin: Origin,
        /// The section.
        section: String,
        /// The key.
        key: String,
    },
}

/// The storage behind [`Preferences`]: one row per value (level, owner,
/// section, key, value, maxlevel), as the CRM stores them.
///
/// Implement it over a database table to make preferences persistent.
/// [`Preferences`] keeps its own in-memory index for reads, so the store is
/// read once when opened and written on every change.
pub trait PrefStore: Send {
    /// Every stored value.
    ///
    /// # Errors
    ///
    /// The backend's error.
    fn load(&mut self) -> Result<Vec<Entry>, crate::store_error::StoreError>;

    /// Applies `changes` all together, or none of them (a database
    /// transaction).
    ///
    /// # Errors
    ///
    /// The backend's error; the changes must then not have been applied.
    fn apply(&mut self, changes: &[Change]) -> Result<(), crate::store_error::StoreError>;
}

/// A store that keeps nothing beyond the process: the default.
#[derive(Debug, Default)]
pub struct MemoryStore {
    _private: (),
}

impl PrefStore for MemoryStore {
    fn load(&mut self) -> Result<Vec<Entry>, crate::store_error::StoreError> {
        Ok(Vec::new())
    }

    fn apply(&mut self, _: &[Change]) -> Result<(), crate::store_error::StoreError> {
        // The index in `Preferences` is the memory.
        Ok(())
    }
}

/// Which more specific values "set and remove below" removes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Below {
    /// Every value more specific than the one being set, whoever owns it
    /// (right for a system value; for a group value it also removes other
    /// groups' users' values, since this crate does not know who is in a
    /// group).
    Everything,
    /// Only the values at these origins (the group's members, the
    /// database's groups and users).
    Only(Vec<Origin>),
}

/// A set of changes applied together by [`Preferences::edit`].
#[derive(Debug)]
pub struct Edit<'a> {
    index: &'a mut Index,
    changes: Vec<Change>,
}

impl Edit<'_> {
    /// Sets a value.
    ///
    /// # Errors
    ///
    /// [`PrefsError::InvalidEntry`] for a value that cannot exist.
    pub fn set(&mut self, entry: Entry) -> Result<&mut Self, PrefsError> {
        entry.validate()?;
        self.index.slot_mut(&entry.section, &entry.key).put(
            entry.level,
            entry.owner,
            Val {
                value: entry.value.as_str().into(),
                maxlevel: entry.maxlevel.unwrap_or(Level::User),
            },
        );
        self.changes.push(Change::Put(entry));
        Ok(self)
    }

    /// Removes a value; says whether there was one.
    pub fn remove(&mut self, origin: Origin, section: &str, key: &str) -> bool {
        let removed = self
            .index
            .remove(origin.level(), origin.owner(), section, key);
        if removed {
            self.changes.push(Change::Remove {
                origin,
                section: section.to_owned(),
                key: key.to_owned(),
            });
        }
        removed
    }

    /// Sets a value and removes the values below it that would override it
    /// (the CRM's "remove preferences on lower levels"). Returns the removed
    /// origins.
    ///
    /// # Errors
    ///
    /// [`PrefsError::InvalidEntry`] for a value that cannot exist.
    pub fn set_and_remove_below(
        &mut self,
        entry: Entry,
        below: &Below,
    ) -> Result<Vec<Origin>, PrefsError> {
        let (section, key, level) = (entry.section.clone(), entry.key.clone(), entry.level);
        self.set(entry)?;
        let targets: Vec<Origin> = match below {
            Below::Everything => self
                .index
                .entries()
                .into_iter()
                .filter(|e| e.section == section && e.key == key && e.level > level)
                .map(|e| e.origin())
                .collect(),
            Below::Only(origins) => origins
                .iter()
                .copied()
                .filter(|o| o.level() > level)
                .collect(),
        };
        Ok(targets
            .into_iter()
            .filter(|o| self.remove(*o, &section, &key))
            .collect())
    }
}

/// Layered preferences: the handle a CRM keeps.
///
/// Reads go through a [`Snapshot`]; changes ([`set`](Self::set),
/// [`edit`](Self::edit), …) are written to the [`PrefStore`] and then
/// published as a new snapshot in one step, so a reader sees all of a
/// change or none of it.
pub struct Preferences<S: PrefStore = MemoryStore> {
    current: ArcSwap<Index>,
    /// Held while changing; the store is written under it.
    store: Mutex<S>,
    defaults: Vec<(String, String, String)>,
}

impl<S: PrefStore> std::fmt::Debug for Preferences<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preferences")
            .field("values", &self.current.load().entries().len())
            .field("defaults", &self.defaults.len())
            .finish_non_exhaustive()
    }
}

impl Default for Preferences<MemoryStore> {
    fn default() -> Self {
        Preferences::new()
    }
}

impl Preferences<MemoryStore> {
    /// Empty in-memory preferences, with the built-in defaults (phone link
    /// format `tel:%p`).
    #[must_use]
    pub fn new() -> Self {
        Preferences::open(MemoryStore::default()).expect("the memory store cannot fail")
    }

    /// In-memory preferences holding `entries`, validated as a file load is.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn from_entries(entries: Vec<Entry>) -> Result<Self, PrefsError> {
        let prefs = Preferences::new();
        prefs.load_entries(entries)?;
        Ok(prefs)
    }
}

impl<S: PrefStore> Preferences<S> {
    /// Opens preferences kept in `store`, with the built-in defaults.
    ///
    /// # Errors
    ///
    /// [`PrefsError::Store`] if the store cannot be read, and the errors of
    /// a file load for values that cannot exist or are duplicated.
    pub fn open(mut store: S) -> Result<Self, PrefsError> {
        let entries = store.load().map_err(PrefsError::Store)?;
        let index = build_index(&entries)?;
        let mut prefs = Preferences {
            current: ArcSwap::from_pointee(index),
            store: Mutex::new(store),
            defaults: Vec::new(),
        };
        prefs = prefs.with_default(PHONE_LINK_FORMAT.0, PHONE_LINK_FORMAT.1, "tel:%p");
        Ok(prefs)
    }

    /// Adds a built-in default (level 1), used when no level has a value.
    #[must_use]
    pub fn with_default(self, section: &str, key: &str, value: &str) -> Self {
        let mut index = Index::clone(&self.current.load());
        index.slot_mut(section, key).put(
            Level::Default,
            0,
            Val {
                value: value.into(),
                maxlevel: Level::User,
            },
        );
        self.current.store(Arc::new(index));
        let mut defaults = self.defaults;
        defaults.push((section.to_owned(), key.to_owned(), value.to_owned()));
        Preferences { defaults, ..self }
    }

    /// The current values, as one consistent snapshot.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            index: self.current.load_full(),
        }
    }

    /// Applies several changes at once: all of them reach the store and the
    /// readers together, or none does.
    ///
    /// ```
    /// use crm_comms::prefs::{Below, Context, Entry, Level, Preferences};
    ///
    /// let prefs = Preferences::new();
    /// prefs.set(Entry::new(Level::User, 7, "Phone", "LinkFormat", "callto:%p"))?;
    /// // An administrator sets a system value and clears the overrides.
    /// prefs.edit(|e| {
    ///     e.set_and_remove_below(Entry::new(Level::System, 0, "Phone", "LinkFormat", "facetime:%p"), &Below::Everything)?;
    ///     Ok(())
    /// })?;
    /// let snap = prefs.snapshot();
    /// assert_eq!(snap.get_str(&Context::user(7), "Phone", "LinkFormat").unwrap().value(), "facetime:%p");
    /// # Ok::<(), crm_comms::prefs::PrefsError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first error of `f` (nothing is applied), or
    /// [`PrefsError::Store`] if the store refuses the changes (nothing is
    /// published).
    pub fn edit<R>(
        &self,
        f: impl FnOnce(&mut Edit<'_>) -> Result<R, PrefsError>,
    ) -> Result<R, PrefsError> {
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut index = Index::clone(&self.current.load());
        let mut edit = Edit {
            index: &mut index,
            changes: Vec::new(),
        };
        let out = f(&mut edit)?;
        let changes = edit.changes;
        if !changes.is_empty() {
            store.apply(&changes).map_err(PrefsError::Store)?;
            self.current.store(Arc::new(index));
        }
        Ok(out)
    }

    /// Sets one value.
    ///
    /// # Errors
    ///
    /// As [`edit`](Self::edit).
    pub fn set(&self, entry: Entry) -> Result<(), PrefsError> {
        self.edit(|e| e.set(entry).map(|_| ()))
    }

    /// Removes one value; says whether there was one.
    ///
    /// # Errors
    ///
    /// [`PrefsError::Store`].
    pub fn remove(&self, origin: Origin, section: &str, key: &str) -> Result<bool, PrefsError> {
        self.edit(|e| Ok(e.remove(origin, section, key)))
    }

    /// Sets a value and removes the more specific values that would override
    /// it; returns the removed origins.
    ///
    /// # Errors
    ///
    /// As [`edit`](Self::edit).
    pub fn set_and_remove_below(
        &self,
        entry: Entry,
        below: &Below,
    ) -> Result<Vec<Origin>, PrefsError> {
        self.edit(|e| e.set_and_remove_below(entry, below))
    }

    /// Adds `entries` as one change, refusing values that cannot exist and
    /// duplicates (within `entries` or of a value already set).
    ///
    /// # Errors
    ///
    /// [`PrefsError::InvalidEntry`], [`PrefsError::Duplicate`],
    /// [`PrefsError::Store`].
    pub fn load_entries(&self, entries: Vec<Entry>) -> Result<(), PrefsError> {
        build_index(&entries)?;
        self.edit(|e| {
            for entry in entries {
                if e.index
                    .has(entry.level, entry.owner, &entry.section, &entry.key)
                {
                    return Err(duplicate(&entry));
                }
                e.set(entry)?;
            }
            Ok(())
        })
    }
}

fn duplicate(e: &Entry) -> PrefsError {
    PrefsError::Duplicate {
        section: e.section.clone(),
        key: e.key.clone(),
        origin: e.origin(),
    }
}

/// Builds an index from stored rows, refusing invalid and duplicate ones.
fn build_index(entries: &[Entry]) -> Result<Index, PrefsError> {
    let mut index = Index::default();
    for e in entries {
        e.validate()?;
        if index.has(e.level, e.owner, &e.section, &e.key) {
            return Err(duplicate(e));
        }
        index.slot_mut(&e.section, &e.key).put(
            e.level,
            e.owner,
            Val {
                value: e.value.as_str().into(),
                maxlevel: e.maxlevel.unwrap_or(Level::User),
            },
        );
    }
    Ok(index)
}
