//! Handing each pushed message to the application once, although gateways
//! deliver it again when an acknowledgement is late or lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store_error::StoreError;

/// What a [`DedupStore`] knows about a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Seen {
    /// Never seen (or forgotten): the caller now holds it and must
    /// [`finish`](DedupStore::finish) it.
    New,
    /// Handled before: acknowledge without handling again.
    Done,
    /// Being handled right now by another request: ask for redelivery.
    InProgress,
}

/// Remembers which pushed messages were handled.
///
/// [`begin`](Self::begin) claims a key for `remember_for`; [`finish`](Self::finish)
/// records whether handling succeeded (a failure releases the key, so the
/// redelivery is handled again). A shared database table makes this work
/// across several receiver processes; [`MemoryDedup`] is for one, and
/// forgets everything when the process restarts.
#[async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `key` if it is new, to be remembered for `remember_for` from
    /// now (the receiver passes its window: long for messages with a
    /// gateway id, short for those without one).
    async fn begin(&self, key: &str, remember_for: Duration) -> Result<Seen, StoreError>;

    /// Records the end of handling a claimed key.
    async fn finish(&self, key: &str, handled: bool) -> Result<(), StoreError>;

    /// [`begin`](Self::begin) for every key of a push at once (a shared
    /// store does it in one statement); one answer per key, in order.
    async fn begin_many(
        &self,
        keys: &[String],
        remember_for: Duration,
    ) -> Result<Vec<Seen>, StoreError> {
        let mut seen = Vec::with_capacity(keys.len());
        for k in keys {
            seen.push(self.begin(k, remember_for).await?);
        }
        Ok(seen)
    }

    /// [`finish`](Self::finish) for several keys at once.
    async fn finish_many(&self, keys: &[(String, bool)]) -> Result<(), StoreError> {
        for (k, handled) in keys {
            self.finish(k, *handled).await?;
        }
        Ok(())
    }
}

/// A bounded in-memory [`DedupStore`] whose entries expire. It does not
/// survive a restart: a push redelivered after one is handled again (use a
/// shared, durable store where that matters).
#[derive(Debug)]
pub struct MemoryDedup {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    /// Key → (handled, expires at).
    entries: HashMap<String, (bool, Instant)>,
    /// Keys in the order claimed, with the expiry they were claimed with.
    order: VecDeque<(String, Instant)>,
}

impl MemoryDedup {
    /// Remembers up to 100,000 keys, each for at most 24 hours (the
    /// gateways give up redelivering long before).
    #[must_use]
    pub fn new() -> Self {
        MemoryDedup::with_limits(100_000, Duration::from_secs(24 * 3600))
    }

    /// Remembers up to `capacity` keys, each for the window it was claimed
    /// with but never longer than `ttl`; the oldest are forgotten first
    /// when full. A claim that was never finished (a crashed handler)
    /// expires too.
    #[must_use]
    pub fn with_limits(capacity: usize, ttl: Duration) -> Self {
        MemoryDedup {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// How many keys it remembers now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for MemoryDedup {
    fn default() -> Self {
        MemoryDedup::new()
    }
}

impl Inner {
    /// Forgets what expired at the front of the queue, and the oldest while
    /// over `capacity`.
    fn expire(&mut self, now: Instant, capacity: usize) {
        while let Some((key, until)) = self.order.front() {
            let latest = self.entries.get(key).is_some_and(|(_, t)| t == until);
            if !latest {
                // A stale slot (the key was finished or claimed again).
                self.order.pop_front();
                continue;
            }
            if *until > now && self.entries.len() <= capacity {
                break;
            }
            self.entries.remove(key);
            self.order.pop_front();
        }
    }
}

#[async_trait]
impl DedupStore for MemoryDedup {
    async fn begin(&self, key: &str, remember_for: Duration) -> Result<Seen, StoreError> {
        let now = Instant::now();
        let until = now + remember_for.min(self.ttl);
        let mut g = self.lock();
        g.expire(now, self.capacity);
        match g.entries.get(key) {
            Some((_, t)) if *t <= now => {}
            Some((true, _)) => return Ok(Seen::Done),
            Some((false, _)) => return Ok(Seen::InProgress),
            None => {}
        }
        g.entries.insert(key.to_owned(), (false, until));
        g.order.push_back((key.to_owned(), until));
        g.expire(now, self.capacity);
        Ok(Seen::New)
    }

    async fn finish(&self, key: &str, handled: bool) -> Result<(), StoreError> {
        let mut g = self.lock();
        if handled {
            if let Some((done, _)) = g.entries.get_mut(key) {
                *done = true;
            }
        } else {
            g.entries.remove(key);
        }
        Ok(())
    }
}
