//! Resolving a preference for a context.

// Why one file above 500 lines: one idea, the resolution order (user, group,
// database, system, with locks) and the explanation of a value that follows
// the same walk; splitting the walk from its explanation would let them
// drift apart.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};

use super::{Context, Entry, Level, Origin, PrefsError};

/// A stored value as the index keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Val {
    pub(crate) value: Box<str>,
    /// `Level::User` when unlocked.
    pub(crate) maxlevel: Level,
}

/// The values of one level, by owner id.
type Owners = HashMap<u32, Val>;

/// Every value of one section and key.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slot {
    default: Option<Val>,
    system: Option<Val>,
    /// Per level, by owner id.
    databases: Owners,
    groups: Owners,
    users: Owners,
}

impl Slot {
    fn owners_mut(&mut self, level: Level) -> Option<&mut Owners> {
        match level {
            Level::Database => Some(&mut self.databases),
            Level::Group => Some(&mut self.groups),
            Level::User => Some(&mut self.users),
            Level::Default | Level::System => None,
        }
    }

    fn at(&self, level: Level, owner: Option<u32>) -> Option<&Val> {
        let list = match level {
            Level::Default => return self.default.as_ref(),
            Level::System => return self.system.as_ref(),
            Level::Database => &self.databases,
            Level::Group => &self.groups,
            Level::User => &self.users,
        };
        if list.is_empty() {
            return None;
        }
        list.get(&owner?)
    }

    pub(crate) fn put(&mut self, level: Level, owner: u32, val: Val) {
        match level {
            Level::Default => self.default = Some(val),
            Level::System => self.system = Some(val),
            _ => {
                let list = self.owners_mut(level).expect("owner level");
                list.insert(owner, val);
            }
        }
    }

    pub(crate) fn remove(&mut self, level: Level, owner: u32) -> bool {
        match level {
            Level::Default => self.default.take().is_some(),
            Level::System => self.system.take().is_some(),
            _ => {
                let list = self.owners_mut(level).expect("owner level");
                list.remove(&owner).is_some()
            }
        }
    }

    /// Every stored (non-default) value with its origin.
    pub(crate) fn stored(&self) -> impl Iterator<Item = (Origin, &Val)> {
        fn owned(level: Level, list: &Owners) -> impl Iterator<Item = (Origin, &Val)> {
            list.iter().map(move |(o, v)| (Origin::new(level, *o), v))
        }
        self.system
            .iter()
            .map(|v| (Origin::new(Level::System, 0), v))
            .chain(owned(Level::Database, &self.databases))
            .chain(owned(Level::Group, &self.groups))
            .chain(owned(Level::User, &self.users))
    }

    fn is_empty(&self) -> bool {
        self.default.is_none()
            && self.system.is_none()
            && self.databases.is_empty()
            && self.groups.is_empty()
            && self.users.is_empty()
    }
}

/// A borrowed section and key, to look up `(String, String)` keys without
/// allocating.
#[derive(Hash)]
struct KeyRef<'a>(&'a str, &'a str);

impl Equivalent<(Box<str>, Box<str>)> for KeyRef<'_> {
    fn equivalent(&self, key: &(Box<str>, Box<str>)) -> bool {
        *key.0 == *self.0 && *key.1 == *self.1
    }
}

/// All values, indexed by section and key.
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    map: HashMap<(Box<str>, Box<str>), Slot>,
}

impl Index {
    fn slot(&self, section: &str, key: &str) -> Option<&Slot> {
        // `KeyRef` hashes as the tuple of two `str`s does: the derived Hash
        // of a tuple and of a tuple struct both hash the fields in order.
        self.map.get(&KeyRef(section, key))
    }

    pub(crate) fn slot_mut(&mut self, section: &str, key: &str) -> &mut Slot {
        if self.slot(section, key).is_none() {
            self.map
                .insert((section.into(), key.into()), Slot::default());
        }
        self.map
            .get_mut(&KeyRef(section, key))
            .expect("just inserted")
    }

    pub(crate) fn remove(&mut self, level: Level, owner: u32, section: &str, key: &str) -> bool {
        let Some(slot) = self.map.get_mut(&KeyRef(section, key)) else {
            return false;
        };
        let removed = slot.remove(level, owner);
        if slot.is_empty() {
            self.map.remove(&KeyRef(section, key));
        }
        removed
    }

    pub(crate) fn has(&self, level: Level, owner: u32, section: &str, key: &str) -> bool {
        self.slot(section, key)
            .and_then(|s| s.at(level, Some(owner)))
            .is_some()
    }

    /// Every stored value, sorted by section, key, level and owner.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self
            .map
            .iter()
            .flat_map(|((section, key), slot)| {
                slot.stored().map(move |(origin, v)| Entry {
                    level: origin.level(),
                    owner: origin.owner(),
                    section: section.to_string(),
                    key: key.to_string(),
                    value: v.value.to_string(),
                    maxlevel: (v.maxlevel != Level::User).then_some(v.maxlevel),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.section, &a.key, a.level, a.owner).cmp(&(&b.section, &b.key, b.level, b.owner))
        });
        out
    }
}

const LEVELS: [Level; 5] = [
    Level::Default,
    Level::System,
    Level::Database,
    Level::Group,
    Level::User,
];

/// A consistent view of all preferences at one moment.
///
/// Taking one is cheap (a reference count); it never changes, so several
/// reads from one snapshot agree with each other even while an
/// administrator changes values.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) index: Arc<Index>,
}

/// A resolved value and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved<'a> {
    value: &'a str,
    origin: Origin,
    locked_by: Option<Origin>,
}

impl<'a> Resolved<'a> {
    /// The value.
    #[must_use]
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// Where the value is set.
    #[must_use]
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The value whose lock stops more specific levels from overriding,
    /// if any (possibly the winning value itself).
    #[must_use]
    pub fn locked_by(&self) -> Option<Origin> {
        self.locked_by
    }

    /// Whether the user could not override the value.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.locked_by.is_some()
    }
}

/// A value parsed as `T`, and where it came from.
#[derive(Debug)]
pub struct Typed<T> {
    value: T,
    origin: Origin,
    locked_by: Option<Origin>,
    skipped: Vec<PrefsError>,
}

impl<T> Typed<T> {
    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, taken.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Where it is set.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The lock that applies, if any.
    pub fn locked_by(&self) -> Option<Origin> {
        self.locked_by
    }

    /// With [`Snapshot::get_or_fall_back`]: the more specific values that
    /// could not be parsed and were passed over, most specific first.
    pub fn skipped(&self) -> &[PrefsError] {
        &self.skipped
    }
}

/// What happened to one value when a preference was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// It is the answer.
    Won,
    /// A more specific value overrode it.
    Overridden {
        /// The value that did.
        by: Origin,
    },
    /// It was ignored because a less specific value is locked.
    IgnoredLocked {
        /// The locked value.
        by: Origin,
    },
}

/// One value considered when resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Considered {
    /// Where it is set.
    pub origin: Origin,
    /// The value.
    pub value: String,
    /// Its `maxlevel`, if it has a lock.
    pub maxlevel: Option<Level>,
    /// What happened to it.
    pub verdict: Verdict,
}

/// Why a preference has the value it has: every value that applied to the
/// context, least specific first, and what happened to each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The section.
    pub section: String,
    /// The key.
    pub key: String,
    /// The values, least specific first.
    pub considered: Vec<Considered>,
}

impl Explanation {
    /// The winning value, if any.
    #[must_use]
    pub fn winner(&self) -> Option<&Considered> {
        self.considered.iter().find(|c| c.verdict == Verdict::Won)
    }

    /// The values ignored because of a lock.
    pub fn ignored(&self) -> impl Iterator<Item = &Considered> {
        self.considered
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::IgnoredLocked { .. }))
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}] {}", self.section, self.key)?;
        if self.considered.is_empty() {
            return writeln!(f, "  not set at any level; the caller's default applies");
        }
        for c in &self.considered {
            let lock = c
                .maxlevel
                .map(|m| format!(" (locked: nothing below {m} may override)"))
                .unwrap_or_default();
            let what = match c.verdict {
                Verdict::Won => "applies".to_string(),
                Verdict::Overridden { by } => format!("overridden by {by}"),
                Verdict::IgnoredLocked { by } => format!("ignored: locked by {by}"),
            };
            writeln!(f, "  {}: {:?}{lock} — {what}", c.origin, c.value)?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// Walks the levels for `ctx`, calling `visit` with each value that
    /// applies to it and whether a lock excludes it.
    fn walk<'s>(
        &'s self,
        ctx: &Context,
        section: &str,
        key: &str,
        mut visit: impl FnMut(Origin, &'s Val, Option<Origin>),
    ) {
        let Some(slot) = self.index.slot(section, key) else {
            return;
        };
        let mut cap = Level::User;
        let mut lock: Option<Origin> = None;
        for level in LEVELS {
            let owner = ctx.owner_at(level);
            let Some(val) = slot.at(level, owner) else {
                continue;
            };
            let origin = Origin::new(level, owner.unwrap_or(0));
            if level > cap {
                visit(origin, val, lock);
                continue;
            }
            visit(origin, val, None);
            if val.maxlevel < cap {
                cap = val.maxlevel;
                lock = Some(origin);
            }
        }
    }

    /// The value for `ctx`, as text, and where it came from; `None` when it
    /// is set nowhere (and has no built-in default). Does not allocate.
    #[must_use]
    pub fn get_str(&self, ctx: &Context, section: &str, key: &str) -> Option<Resolved<'_>> {
        let slot = self.index.slot(section, key)?;
        let mut cap = Level::User;
        let mut lock: Option<Origin> = None;
        let mut best: Option<(Origin, &Val)> = None;
        for level in LEVELS {
            if level > cap {
                break;
            }
            let owner = ctx.owner_at(level);
            let Some(val) = slot.at(level, owner) else {
                continue;
            };
            let origin = Origin::new(level, owner.unwrap_or(0));
            best = Some((origin, val));
            if val.maxlevel < cap {
                cap = val.maxlevel;
                lock = Some(origin);
            }
        }
        let (origin, val) = best?;
        Some(Resolved {
            value: &val.value,
            origin,
            locked_by: lock,
        })
    }

    /// The value for `ctx` parsed with `FromStr`.
    ///
    /// # Errors
    ///
    /// [`PrefsError::BadValue`] naming the section, key, level, owner and
    /// parse error when the winning value does not parse. See
    /// [`get_or_fall_back`](Self::get_or_fall_back) to use the next level's
    /// value instead.
    pub fn get<T>(
        &self,
        ctx: &Context,
        section: &str,
        key: &str,
    ) -> Result<Option<Typed<T>>, PrefsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(r) = self.get_str(ctx, section, key) else {
            return Ok(None);
        };
        let value = r
            .value
            .parse::<T>()
            .map_err(|e| bad_value(section, key, r.origin, &e))?;
        Ok(Some(Typed {
            value,
            origin: r.origin,
            locked_by: r.locked_by,
            skipped: Vec::new(),
        }))
    }

    /// Like [`get`](Self::get), but a value that does not parse is passed
    /// over for the next less specific value that applies (the errors are
    /// kept in [`Typed::skipped`]). `Ok(None)` when no applicable value
    /// parses.
    #[must_use]
    pub fn get_or_fall_back<T>(&self, ctx: &Context, section: &str, key: &str) -> Option<Typed<T>>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let mut chain: Vec<(Origin, &Val)> = Vec::new();
        let mut cap = Level::User;
        let mut lock = None;
        self.walk(ctx, section, key, |origin, val, excluded_by| {
            if excluded_by.is_none() {
                chain.push((origin, val));
                if val.maxlevel < cap {
                    cap = val.maxlevel;
                    lock = Some(origin);
                }
            }
        });
        let mut skipped = Vec::new();
        for (origin, val) in chain.into_iter().rev() {
            match val.value.parse::<T>() {
                Ok(value) => {
                    return Some(Typed {
                        value,
                        origin,
                        locked_by: lock,
                        skipped,
                    });
                }
                Err(e) => skipped.push(bad_value(section, key, origin, &e)),
            }
        }
        None
    }

    /// Every value that applies to `ctx`, and what happened to each: the
    /// answer to "why do I get this value?".
    #[must_use]
    pub fn explain(&self, ctx: &Context, section: &str, key: &str) -> Explanation {
        let mut considered: Vec<Considered> = Vec::new();
        self.walk(ctx, section, key, |origin, val, excluded_by| {
            considered.push(Considered {
                origin,
                value: val.value.to_string(),
                maxlevel: (val.maxlevel != Level::User).then_some(val.maxlevel),
                verdict: match excluded_by {
                    Some(by) => Verdict::IgnoredLocked { by },
                    None => Verdict::Won,
                },
            });
        });
        // Only the most specific accepted value wins; the others were
        // overridden by it.
        if let Some(w) = considered.iter().rposition(|c| c.verdict == Verdict::Won) {
            let by = considered[w].origin;
            for c in &mut considered[..w] {
                if c.verdict == Verdict::Won {
                    c.verdict = Verdict::Overridden { by };
                }
            }
        }
        Explanation {
            section: section.to_owned(),
            key: key.to_owned(),
            considered,
        }
    }

    /// Every stored value (built-in defaults excluded), sorted by section,
    /// key, level and owner.
    #[must_use]
    pub fn entries(&self) -> Vec<Entry> {
        self.index.entries()
    }
}

fn bad_value(section: &str, key: &str, origin: Origin, e: &dyn fmt::Display) -> PrefsError {
    PrefsError::BadValue {
        section: section.to_owned(),
        key: key.to_owned(),
        origin,
        message: e.to_string(),
    }
}
