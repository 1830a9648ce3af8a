//! "Was it delivered?": matching delivery reports to the messages they
//! report on.
//!
//! [`DeliveryTracker::send`] records, per recipient, what is about to be
//! sent **before** the request goes out (keyed by the client reference the
//! request carries), sends, then records the gateway's references. Each
//! [`DeliveryReceipt`] becomes one [`DeliveryEvent`]: the recipient and the
//! application's key for the message when the report matches, and the final
//! state. Who wins the race between the gateway's report and the send's
//! answer does not matter:
//!
//! - a report that echoes the client reference (Intelecom) matches the
//!   record made before the send;
//! - a report that carries only the gateway's reference (`PSWinCom`) and
//!   arrives before the send returned is **held** for a bounded time
//!   ([`hold_unmatched`](DeliveryTracker::hold_unmatched), default
//!   [`DEFAULT_HOLD`]) and handed on as soon as the reference is recorded;
//! - a report nothing matches within that time is still an event (with
//!   `sent: None`), never dropped.
//!
//! Holding needs somewhere to hand the event later: the
//! [`WebhookReceiver`](crate::receiver::WebhookReceiver) attaches its
//! delivery handler and sweeps expired reports; standalone, call
//! [`deliver_held_to`](DeliveryTracker::deliver_held_to) and
//! [`sweep`](DeliveryTracker::sweep). Without a handler nothing is held.
//! Held reports live in this process's memory (the gateway was answered):
//! [`flush_held`](DeliveryTracker::flush_held) hands them on before a
//! planned stop.
//!
//! ```
//! use crm_comms::sms::tracking::{DeliveryTracker, MemorySentStore};
//! use crm_comms::sms::{DeliveryReceipt, DeliveryState, Message, StubProvider, SmsProvider};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let provider = StubProvider::new_ok();
//! let tracker = DeliveryTracker::new(MemorySentStore::new());
//! let message = Message::builder().to("+4741000001".parse()?).text("Hei").build()?;
//! let report = tracker.send("case-17", &provider, &message).await?;
//!
//! let reference = report.outcomes()[0].outcome.reference().unwrap().to_owned();
//! let dr = DeliveryReceipt::new("stub", &reference, DeliveryState::Delivered, "0");
//! let event = tracker.on_receipt(dr).await?.expect("matched, so not held");
//! assert_eq!(event.sent.as_ref().unwrap().key, "case-17");
//! assert_eq!(event.state(), DeliveryState::Delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use crate::store_error::StoreError;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::message::Message;
use super::outcome::{Outcome, SendReport};
use super::provider::SmsProvider;
use super::receipt::{DeliveryReceipt, DeliveryState};
use crate::phone::PhoneNumber;

mod event;
mod held;
mod sent;

pub use event::{DeliveryEvent, DeliveryHandler};
use held::Held;
pub use sent::{MemorySentStore, SentRecord, SentStore};

/// How long a report that matches nothing is held by default (2 minutes:
/// gateways report within seconds, and a send of a few thousand recipients
/// takes about as long).
pub const DEFAULT_HOLD: Duration = Duration::from_secs(120);

/// The most reports held by default; beyond it the oldest is handed on
/// unmatched.
pub const DEFAULT_MAX_HELD: usize = 100_000;

/// Records sends and matches delivery reports to them (see the
/// [module docs](self)).
#[derive(Clone)]
pub struct DeliveryTracker {
    inner: Arc<TrackerInner>,
}

struct TrackerInner {
    store: Arc<dyn SentStore>,
    held: Mutex<Held>,
    handler: Mutex<Option<Arc<dyn DeliveryHandler>>>,
}

impl std::fmt::Debug for DeliveryTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.inner.held();
        f.debug_struct("DeliveryTracker")
            .field("held", &held.entries.len())
            .field("hold_for", &held.hold_for)
            .finish_non_exhaustive()
    }
}

impl TrackerInner {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn handler(&self) -> Option<Arc<dyn DeliveryHandler>> {
        self.handler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Client references the tracker makes for messages sent without one:
/// unique within the process and across restarts (the time is part of it).
fn generated_client_reference() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("dt{millis:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl DeliveryTracker {
    /// A tracker over `store`.
    pub fn new(store: impl SentStore + 'static) -> Self {
        DeliveryTracker::with_store(Arc::new(store))
    }

    /// A tracker over a shared store.
    pub fn with_store(store: Arc<dyn SentStore>) -> Self {
        DeliveryTracker {
            inner: Arc::new(TrackerInner {
                store,
                held: Mutex::new(Held::new()),
                handler: Mutex::new(None),
            }),
        }
    }

    /// How long a report that matches nothing is held for a record that may
    /// still come (default [`DEFAULT_HOLD`]; zero: never held).
    #[must_use]
    pub fn hold_unmatched(self, duration: Duration) -> Self {
        self.inner.held().hold_for = duration;
        self
    }

    /// The most reports held at once (default [`DEFAULT_MAX_HELD`]); beyond
    /// it the oldest is handed on unmatched.
    #[must_use]
    pub fn max_held(self, n: usize) -> Self {
        self.inner.held().max = n.max(1);
        self
    }

    /// Where held reports go once they match (or expire unmatched). The
    /// [`WebhookReceiver`](crate::receiver::WebhookReceiver) sets its
    /// delivery handler here; without a handler, reports are never held.
    pub fn deliver_held_to(&self, handler: Arc<dyn DeliveryHandler>) {
        *self
            .inner
            .handler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handler);
    }

    /// How many reports are held.
    #[must_use]
    pub fn held(&self) -> usize {
        self.inner.held().entries.len()
    }

    /// Sends `message` through `provider` and records it under the
    /// application's `key`, so that its reports match whenever they come:
    /// one pending record per recipient before the request goes out (keyed
    /// by the client reference the request carries; one is generated when
    /// the message has none), then the gateway's references.
    ///
    /// # Errors
    ///
    /// The store's. When the first write fails nothing is sent; when the
    /// second fails the message **was** sent (the records made before the
    /// send still match reports that echo the client reference).
    pub async fn send<P: SmsProvider + ?Sized>(
        &self,
        key: &str,
        provider: &P,
        message: &Message,
    ) -> Result<SendReport, StoreError> {
        let message = match message.client_reference() {
            Some(_) => message.clone(),
            None => message.with_client_reference(generated_client_reference()),
        };
        self.prepare(key, provider.name(), &message).await?;
        let report = provider.send(&message).await;
        self.record(key, &message, &report).await?;
        Ok(report)
    }

    /// Records every recipient of `message` as about to be sent under the
    /// application's `key` through `provider` (by its per-recipient client
    /// reference; a message without a client reference records nothing).
    /// Call before the send; [`send`](Self::send) does both.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn prepare(
        &self,
        key: &str,
        provider: &str,
        message: &Message,
    ) -> Result<usize, StoreError> {
        let records: Vec<SentRecord> = (0..message.recipients().len())
            .filter_map(|i| {
                let c = message.recipient_reference(i)?;
                Some(
                    SentRecord::new(key, provider, message.recipients()[i])
                        .with_client_reference(c),
                )
            })
            .collect();
        let n = records.len();
        if n > 0 {
            self.inner.store.put(records).await?;
        }
        Ok(n)
    }

    /// Keeps, under the application's `key`, every recipient of `report`
    /// that was accepted with a gateway reference, and hands on the held
    /// reports those references answer. Returns how many were kept.
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
                } => {
                    let r = SentRecord::new(key, o.provider.clone(), o.recipient)
                        .with_reference(reference.clone());
                    Some(match message.recipient_reference(i) {
                        Some(c) => r.with_client_reference(c),
                        None => r,
                    })
                }
                _ => None,
            })
            .collect();
        let n = records.len();
        self.inner.store.put(records.clone()).await?;
        let released: Vec<DeliveryEvent> = {
            let mut held = self.inner.held();
            if held.entries.is_empty() {
                Vec::new()
            } else {
                records
                    .iter()
                    .flat_map(|r| {
                        held.take_matching(r)
                            .into_iter()
                            .map(|receipt| DeliveryEvent {
                                sent: Some(r.clone()),
                                receipt,
                            })
                    })
                    .collect()
            }
        };
        self.hand_on(released).await;
        Ok(n)
    }

    /// The record `receipt` reports on, if any.
    async fn find(&self, receipt: &DeliveryReceipt) -> Result<Option<SentRecord>, StoreError> {
        let store = &self.inner.store;
        let mut sent = if receipt.reference.is_empty() {
            None
        } else {
            store.by_reference(&receipt.reference).await?
        };
        if sent.is_none()
            && let Some(c) = receipt
                .client_reference
                .as_deref()
                .filter(|c| !c.is_empty())
        {
            sent = store
                .by_client_reference(c, receipt.recipient.as_ref())
                .await?;
        }
        // A record made before the send learns its reference from the report.
        Ok(sent.map(|mut s| {
            if s.reference.is_none() && !receipt.reference.is_empty() {
                s.reference = Some(receipt.reference.clone());
            }
            s
        }))
    }

    /// The event for `receipt`: matched by the gateway's reference, else by
    /// the client reference it echoes (and its recipient). `None` when it
    /// matches nothing yet and is held: the event goes to the
    /// [`deliver_held_to`](Self::deliver_held_to) handler once its record
    /// arrives, or unmatched when the hold time is up.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn on_receipt(
        &self,
        receipt: DeliveryReceipt,
    ) -> Result<Option<DeliveryEvent>, StoreError> {
        if let Some(sent) = self.find(&receipt).await? {
            return Ok(Some(DeliveryEvent {
                sent: Some(sent),
                receipt,
            }));
        }
        let holds = self.inner.handler().is_some();
        let (id, overflow) = {
            let mut held = self.inner.held();
            if !holds || held.hold_for.is_zero() {
                return Ok(Some(DeliveryEvent::unmatched(receipt)));
            }
            held.hold(receipt.clone(), Instant::now())
        };
        self.hand_on(overflow.into_iter().map(DeliveryEvent::unmatched).collect())
            .await;
        // `record` writes the store, then looks at what is held; this holds,
        // then looks at the store again: one of the two sees the other.
        if let Some(sent) = self.find(&receipt).await? {
            let taken = self.inner.held().take(id);
            if let Some(receipt) = taken {
                return Ok(Some(DeliveryEvent {
                    sent: Some(sent),
                    receipt,
                }));
            }
        }
        Ok(None)
    }

    /// Looks the held reports up again (another process may have recorded
    /// them), hands on what now matches and, unmatched, what was held too
    /// long. The receiver calls this every second. Returns how many were
    /// handed on.
    pub async fn sweep(&self) -> usize {
        let now = Instant::now();
        let due = self.inner.held().due(now);
        let mut events = Vec::new();
        for (id, receipt) in due {
            match self.find(&receipt).await {
                Ok(Some(sent)) => {
                    if let Some(receipt) = self.inner.held().take(id) {
                        events.push(DeliveryEvent {
                            sent: Some(sent),
                            receipt,
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the sent-message store failed; the report stays held");
                }
            }
        }
        let expired = self.inner.held().take_expired(now);
        events.extend(expired.into_iter().map(DeliveryEvent::unmatched));
        let n = events.len();
        self.hand_on(events).await;
        n
    }

    /// Hands on every held report, unmatched (before a planned stop).
    /// Returns how many.
    pub async fn flush_held(&self) -> usize {
        let all: Vec<DeliveryReceipt> = {
            let mut held = self.inner.held();
            let ids: Vec<u64> = held.order.drain(..).collect();
            ids.into_iter().filter_map(|id| held.take(id)).collect()
        };
        let n = all.len();
        self.hand_on(all.into_iter().map(DeliveryEvent::unmatched).collect())
            .await;
        n
    }

    /// Gives `events` to the handler, three tries each; what still fails
    /// is logged with its reference and state (the gateway was answered
    /// long ago, so there is nobody to ask for redelivery).
    async fn hand_on(&self, events: Vec<DeliveryEvent>) {
        if events.is_empty() {
            return;
        }
        let Some(handler) = self.inner.handler() else {
            return;
        };
        for event in events {
            let mut tries = 0;
            loop {
                tries += 1;
                match handler.handle(event.clone()).await {
                    Ok(()) => break,
                    Err(e) if tries >= 3 => {
                        tracing::error!(
                            error = %e,
                            provider = event.receipt.provider,
                            reference = %event.receipt.reference,
                            state = ?event.receipt.state,
                            matched = event.sent.is_some(),
                            "a held delivery report could not be handed on and is dropped"
                        );
                        break;
                    }
                    Err(_) => {}
                }
            }
        }
    }
}
