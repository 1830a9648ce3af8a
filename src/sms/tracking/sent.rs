//! Sent messages as kept for matching reports: [`SentRecord`], the
//! [`SentStore`] seam and the in-memory [`MemorySentStore`].

use super::*;

/// One recipient of a sent message, as kept for matching reports.
///
/// Made before the send with no gateway `reference` (pending), and again
/// with the reference once the gateway accepted it; a store keeps one
/// record per client reference and recipient (or per gateway reference
/// when there is no client reference).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SentRecord {
    /// The application's key for the message (a case or activity id).
    pub key: String,
    /// The provider that sends it (as in the send report).
    pub provider: String,
    /// The gateway's reference; `None` until the gateway's answer is in.
    pub reference: Option<String>,
    /// The client reference sent with it, if any.
    pub client_reference: Option<String>,
    /// The recipient.
    pub recipient: PhoneNumber,
}

impl SentRecord {
    /// A record of `recipient` under the application's `key`, sent through
    /// `provider`, with no references yet.
    pub fn new(
        key: impl Into<String>,
        provider: impl Into<String>,
        recipient: PhoneNumber,
    ) -> Self {
        SentRecord {
            key: key.into(),
            provider: provider.into(),
            reference: None,
            client_reference: None,
            recipient,
        }
    }

    /// With the gateway's reference.
    #[must_use]
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// With the client reference sent.
    #[must_use]
    pub fn with_client_reference(mut self, client_reference: impl Into<String>) -> Self {
        self.client_reference = Some(client_reference.into());
        self
    }

    /// Whether the gateway's reference is still unknown (recorded before
    /// the send, or the send's outcome was unknown).
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.reference.is_none()
    }
}

/// Where sent messages are kept until their reports arrive (a database
/// table in production; [`MemorySentStore`] for one process and tests).
///
/// `put` is an upsert: a record with a client reference replaces the one
/// with the same client reference and recipient (the pending record made
/// before the send gets its gateway reference); one without replaces the
/// one with the same gateway reference.
#[async_trait]
pub trait SentStore: Send + Sync {
    /// Keeps `records`, replacing what they update.
    async fn put(&self, records: Vec<SentRecord>) -> Result<(), StoreError>;

    /// The record for the gateway's `reference`, if kept.
    async fn by_reference(&self, reference: &str) -> Result<Option<SentRecord>, StoreError>;

    /// The record with the client reference `client_reference` (and
    /// `recipient`, when the report names it), if kept.
    async fn by_client_reference(
        &self,
        client_reference: &str,
        recipient: Option<&PhoneNumber>,
    ) -> Result<Option<SentRecord>, StoreError>;
}

/// A [`SentStore`] in memory, keeping the newest `capacity` records.
#[derive(Debug)]
pub struct MemorySentStore {
    inner: Mutex<MemoryInner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct MemoryInner {
    next: u64,
    records: HashMap<u64, SentRecord>,
    by_reference: HashMap<String, u64>,
    by_client: HashMap<String, Vec<u64>>,
    order: VecDeque<u64>,
}

impl MemoryInner {
    /// The id of the record `r` updates, if kept.
    fn existing(&self, r: &SentRecord) -> Option<u64> {
        match (&r.client_reference, &r.reference) {
            (Some(c), _) => self.by_client.get(c)?.iter().copied().find(|id| {
                self.records
                    .get(id)
                    .is_some_and(|x| x.recipient == r.recipient)
            }),
            (None, Some(reference)) => self.by_reference.get(reference).copied(),
            (None, None) => None,
        }
    }

    fn insert(&mut self, r: SentRecord) {
        let id = if let Some(id) = self.existing(&r) {
            id
        } else {
            self.next += 1;
            self.order.push_back(self.next);
            if let Some(c) = &r.client_reference {
                self.by_client.entry(c.clone()).or_default().push(self.next);
            }
            self.next
        };
        if let Some(reference) = &r.reference {
            self.by_reference.insert(reference.clone(), id);
        }
        self.records.insert(id, r);
    }

    fn remove_oldest(&mut self) {
        let Some(id) = self.order.pop_front() else {
            return;
        };
        let Some(r) = self.records.remove(&id) else {
            return;
        };
        if let Some(reference) = &r.reference
            && self.by_reference.get(reference) == Some(&id)
        {
            self.by_reference.remove(reference);
        }
        if let Some(c) = &r.client_reference
            && let Some(ids) = self.by_client.get_mut(c)
        {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.by_client.remove(c);
            }
        }
    }
}

impl MemorySentStore {
    /// A store for up to 1,000,000 records.
    #[must_use]
    pub fn new() -> Self {
        MemorySentStore::with_capacity(1_000_000)
    }

    /// A store for up to `capacity` records; the oldest go first.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        MemorySentStore {
            inner: Mutex::new(MemoryInner::default()),
            capacity: capacity.max(1),
        }
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for MemorySentStore {
    fn default() -> Self {
        MemorySentStore::new()
    }
}

#[async_trait]
impl SentStore for MemorySentStore {
    async fn put(&self, records: Vec<SentRecord>) -> Result<(), StoreError> {
        let mut g = self.lock();
        for r in records {
            g.insert(r);
        }
        while g.records.len() > self.capacity {
            g.remove_oldest();
        }
        Ok(())
    }

    async fn by_reference(&self, reference: &str) -> Result<Option<SentRecord>, StoreError> {
        let g = self.lock();
        Ok(g.by_reference
            .get(reference)
            .and_then(|id| g.records.get(id))
            .cloned())
    }

    async fn by_client_reference(
        &self,
        client_reference: &str,
        recipient: Option<&PhoneNumber>,
    ) -> Result<Option<SentRecord>, StoreError> {
        let g = self.lock();
        let Some(ids) = g.by_client.get(client_reference) else {
            return Ok(None);
        };
        Ok(ids
            .iter()
            .filter_map(|id| g.records.get(id))
            .find(|r| recipient.is_none_or(|n| r.recipient == *n))
            .cloned())
    }
}
