//! Handing each pushed message to the application once, although gateways
//! deliver it again when an acknowledgement is late or lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::sms::tracking::StoreError;

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
/// [`begin`](Self::begin) claims a key; [`finish`](Self::finish) records
/// whether handling succeeded (a failure releases the key, so the
/// redelivery is handled again). A shared database table makes this work
/// across several receiver processes; [`MemoryDedup`] is for one.
#[async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `key` if it is new.
    async fn begin(&self, key: &str) -> Result<Seen, StoreError>;

    /// Records the end of handling a claimed key.
    async fn finish(&self, key: &str, handled: bool) -> Result<(), StoreError>;
}

/// A bounded in-memory [`DedupStore`] whose entries expire.
#[derive(Debug)]
pub struct MemoryDedup {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, (bool, Instant)>,
    order: VecDeque<(String, Instant)>,
}

impl MemoryDedup {
    /// Remembers up to 100,000 keys for 24 hours (the gateways give up
    /// redelivering long before).
    pub fn new() -> Self {
        MemoryDedup::with_limits(100_000, Duration::from_secs(24 * 3600))
    }

    /// Remembers up to `capacity` keys for `ttl`; the oldest are forgotten
    /// first. A claim that was never finished (a crashed handler) expires
    /// after `ttl` too.
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
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryDedup {
    fn default() -> Self {
        MemoryDedup::new()
    }
}

impl Inner {
    fn expire(&mut self, now: Instant, ttl: Duration, capacity: usize) {
        while let Some((key, at)) = self.order.front() {
            let expired = now.duration_since(*at) >= ttl;
            if !expired && self.entries.len() <= capacity {
                break;
            }
            // Remove the entry only if this queue slot is its latest.
            if self.entries.get(key).is_some_and(|(_, t)| t == at) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }
}

#[async_trait]
impl DedupStore for MemoryDedup {
    async fn begin(&self, key: &str) -> Result<Seen, StoreError> {
        let now = Instant::now();
        let mut g = self.lock();
        g.expire(now, self.ttl, self.capacity);
        match g.entries.get(key) {
            Some((true, _)) => Ok(Seen::Done),
            Some((false, _)) => Ok(Seen::InProgress),
            None => {
                g.entries.insert(key.to_owned(), (false, now));
                g.order.push_back((key.to_owned(), now));
                g.expire(now, self.ttl, self.capacity);
                Ok(Seen::New)
            }
        }
    }

    async fn finish(&self, key: &str, handled: bool) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut g = self.lock();
        if handled {
            g.entries.insert(key.to_owned(), (true, now));
            g.order.push_back((key.to_owned(), now));
            g.expire(now, self.ttl, self.capacity);
        } else {
            g.entries.remove(key);
        }
        Ok(())
    }
}
