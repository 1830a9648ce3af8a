//! "Was it delivered?": matching delivery reports to the messages they
//! report on.
//!
//! After a send, [`DeliveryTracker::record`] keeps, per accepted recipient,
//! the gateway's reference (and the client reference sent) in a
//! [`SentStore`]. Each [`DeliveryReceipt`] that arrives later becomes one
//! [`DeliveryEvent`]: the recipient and the application's key for the
//! message when the report matches, and the final state. A report nobody
//! recorded is still an event (with `sent: None`), never dropped.
//!
//! ```
//! use crm_comms::sms::tracking::{DeliveryTracker, MemorySentStore};
//! use crm_comms::sms::{DeliveryReceipt, DeliveryState, Message, StubProvider, SmsProvider};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let provider = StubProvider::new_ok();
//! let tracker = DeliveryTracker::new(MemorySentStore::new());
//! let message = Message::builder().to("+4741000001".parse()?).text("Hei").build()?;
//! let report = provider.send(&message).await;
//! tracker.record("case-17", &message, &report).await?;
//!
//! let reference = report.outcomes()[0].outcome.reference().unwrap().to_owned();
//! let dr = DeliveryReceipt::new("stub", &reference, DeliveryState::Delivered, "0");
//! let event = tracker.on_receipt(dr).await?;
//! assert_eq!(event.sent.as_ref().unwrap().key, "case-17");
//! assert_eq!(event.state(), DeliveryState::Delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::message::Message;
use super::outcome::{Outcome, SendReport};
use super::receipt::{DeliveryReceipt, DeliveryState};
use crate::phone::PhoneNumber;

/// One accepted recipient of a sent message, as kept for matching reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SentRecord {
    /// The application's key for the message (a case or activity id).
    pub key: String,
    /// The provider that accepted it (as in the send report).
    pub provider: String,
    /// The gateway's reference.
    pub reference: String,
    /// The client reference sent with it, if any.
    pub client_reference: Option<String>,
    /// The recipient.
    pub recipient: PhoneNumber,
}

/// A store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("store: {message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error saying `message`.
    pub fn new(message: impl std::fmt::Display) -> Self {
        StoreError {
            message: message.to_string(),
            source: None,
        }
    }

    /// With the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

/// Where sent messages are kept until their reports arrive (a database
/// table in production; [`MemorySentStore`] for one process and tests).
#[async_trait]
pub trait SentStore: Send + Sync {
    /// Keeps `records`.
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
    by_reference: HashMap<String, SentRecord>,
    by_client: HashMap<String, Vec<String>>,
    order: VecDeque<String>,
}

impl MemorySentStore {
    /// A store for up to 1,000,000 records.
    pub fn new() -> Self {
        MemorySentStore::with_capacity(1_000_000)
    }

    /// A store for up to `capacity` records; the oldest go first.
    pub fn with_capacity(capacity: usize) -> Self {
        MemorySentStore {
            inner: Mutex::new(MemoryInner::default()),
            capacity: capacity.max(1),
        }
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock().by_reference.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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
            if let Some(c) = &r.client_reference {
                g.by_client
                    .entry(c.clone())
                    .or_default()
                    .push(r.reference.clone());
            }
            g.order.push_back(r.reference.clone());
            g.by_reference.insert(r.reference.clone(), r);
        }
        while g.by_reference.len() > self.capacity {
            let Some(oldest) = g.order.pop_front() else {
                break;
            };
            if let Some(r) = g.by_reference.remove(&oldest)
                && let Some(c) = &r.client_reference
                && let Some(refs) = g.by_client.get_mut(c)
            {
                refs.retain(|x| *x != oldest);
                if refs.is_empty() {
                    g.by_client.remove(c);
                }
            }
        }
        Ok(())
    }

    async fn by_reference(&self, reference: &str) -> Result<Option<SentRecord>, StoreError> {
        Ok(self.lock().by_reference.get(reference).cloned())
    }

    async fn by_client_reference(
        &self,
        client_reference: &str,
        recipient: Option<&PhoneNumber>,
    ) -> Result<Option<SentRecord>, StoreError> {
        let g = self.lock();
        let Some(refs) = g.by_client.get(client_reference) else {
            return Ok(None);
        };
        Ok(refs
            .iter()
            .filter_map(|r| g.by_reference.get(r))
            .find(|r| recipient.is_none_or(|n| r.recipient == *n))
            .cloned())
    }
}

/// What a delivery report says about a sent message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DeliveryEvent {
    /// The message and recipient it reports on; `None` when no record
    /// matches (sent by another system, or forgotten).
    pub sent: Option<SentRecord>,
    /// The report.
    pub receipt: DeliveryReceipt,
}

impl DeliveryEvent {
    /// An event for a report no record matched.
    pub fn unmatched(receipt: DeliveryReceipt) -> Self {
        DeliveryEvent {
            sent: None,
            receipt,
        }
    }

    /// The final state.
    pub fn state(&self) -> DeliveryState {
        self.receipt.state
    }

    /// Why it failed, as the gateway said, for a failed or expired message.
    pub fn reason(&self) -> Option<&str> {
        match self.receipt.state {
            DeliveryState::Delivered => None,
            _ => Some(
                self.receipt
                    .description
                    .as_deref()
                    .unwrap_or(&self.receipt.status_code),
            ),
        }
    }

    /// The recipient: the recorded one, else the one the report names.
    pub fn recipient(&self) -> Option<PhoneNumber> {
        self.sent
            .as_ref()
            .map(|s| s.recipient)
            .or(self.receipt.recipient)
    }
}

/// Takes delivery events. Implemented for async closures
/// `Fn(DeliveryEvent) -> impl Future<Output = Result<(), HandlerError>>`.
#[async_trait]
pub trait DeliveryHandler: Send + Sync {
    /// Handles one event. An error makes the receiver ask for redelivery.
    async fn handle(&self, event: DeliveryEvent) -> Result<(), super::inbound::HandlerError>;
}

#[async_trait]
impl<F, Fut> DeliveryHandler for F
where
    F: Fn(DeliveryEvent) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), super::inbound::HandlerError>> + Send,
{
    async fn handle(&self, event: DeliveryEvent) -> Result<(), super::inbound::HandlerError> {
        self(event).await
    }
}

/// Records sends and matches delivery reports to them.
#[derive(Clone)]
pub struct DeliveryTracker {
    store: Arc<dyn SentStore>,
}

impl std::fmt::Debug for DeliveryTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryTracker").finish_non_exhaustive()
    }
}

impl DeliveryTracker {
    /// A tracker over `store`.
    pub fn new(store: impl SentStore + 'static) -> Self {
        DeliveryTracker {
            store: Arc::new(store),
        }
    }

    /// A tracker over a shared store.
    pub fn with_store(store: Arc<dyn SentStore>) -> Self {
        DeliveryTracker { store }
    }

    /// Keeps, under the application's `key`, every recipient of `report`
    /// that was accepted with a gateway reference (the others will get no
    /// report). Returns how many were kept.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn record(
        &self,
        key: &str,
        message: &Message,
        report: &SendReport,
    ) -> Result<usize, StoreError> {
        let records: Vec<SentRecord> = report
            .outcomes()
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.outcome {
                Outcome::Accepted {
                    reference: Some(reference),
                } => Some(SentRecord {
                    key: key.to_owned(),
                    provider: o.provider.clone(),
                    reference: reference.clone(),
                    client_reference: message.recipient_reference(i),
                    recipient: o.recipient,
                }),
                _ => None,
            })
            .collect();
        let n = records.len();
        self.store.put(records).await?;
        Ok(n)
    }

    /// The event for `receipt`: matched by the gateway's reference, else by
    /// the client reference it echoes (and its recipient).
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn on_receipt(&self, receipt: DeliveryReceipt) -> Result<DeliveryEvent, StoreError> {
        let mut sent = if receipt.reference.is_empty() {
            None
        } else {
            self.store.by_reference(&receipt.reference).await?
        };
        if sent.is_none()
            && let Some(c) = receipt
                .client_reference
                .as_deref()
                .filter(|c| !c.is_empty())
        {
            sent = self
                .store
                .by_client_reference(c, receipt.recipient.as_ref())
                .await?;
        }
        Ok(DeliveryEvent { sent, receipt })
    }
}
