//! A provider that sends nothing: for tests, examples and development.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::batching::check_and_send_in_batches;
use super::capabilities::Capabilities;
use super::error::{SmsError, SmsErrorKind};
use super::message::Message;
use super::outcome::{Outcome, RecipientOutcome, SendReport};
use super::provider::SmsProvider;
use crate::phone::PhoneNumber;

type ScriptFn = dyn Fn(&PhoneNumber) -> Outcome + Send + Sync;

/// A fake [`SmsProvider`] that records every message it is given and
/// answers as scripted, like lettre's `StubTransport`. No feature needed.
///
/// It follows the provider contract: it checks messages against its
/// capabilities before "sending" and splits at its batch size (each batch
/// is recorded separately).
///
/// ```
/// # tokio_test_block_on(async {
/// use crm_comms::sms::{Message, SmsProvider, StubProvider};
///
/// let stub = StubProvider::new_ok();
/// let msg = Message::builder().to("+4799999999".parse()?).text("Hei").build()?;
/// let report = stub.send(&msg).await;
/// assert!(report.all_accepted());
/// assert_eq!(stub.messages().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct StubProvider {
    name: String,
    caps: Capabilities,
    script: Arc<ScriptFn>,
    sent: Mutex<Vec<Message>>,
}

impl fmt::Debug for StubProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StubProvider")
            .field("name", &self.name)
            .field("capabilities", &self.caps)
            .field("sent", &self.sent.lock().map_or(0, |s| s.len()))
            .finish_non_exhaustive()
    }
}

impl StubProvider {
    /// Accepts everything, with references `stub-1`, `stub-2`, …
    #[must_use]
    pub fn new_ok() -> Self {
        let counter = AtomicU64::new(0);
        StubProvider::scripted(move |_| Outcome::Accepted {
            reference: Some(format!(
                "stub-{}",
                counter.fetch_add(1, Ordering::Relaxed) + 1
            )),
        })
    }

    /// Rejects every recipient with an error of `kind`.
    #[must_use]
    pub fn new_error(kind: SmsErrorKind) -> Self {
        StubProvider::scripted(move |_| {
            Outcome::Rejected(SmsError::new(kind, "stub", format!("scripted {kind:?}")))
        })
    }

    /// Gives every recipient an unknown outcome (as after a timeout).
    #[must_use]
    pub fn new_unknown() -> Self {
        StubProvider::scripted(|_| {
            Outcome::Unknown(SmsError::new(
                SmsErrorKind::Timeout,
                "stub",
                "scripted timeout after sending",
            ))
        })
    }

    /// Answers each recipient with `script(recipient)`.
    pub fn scripted(script: impl Fn(&PhoneNumber) -> Outcome + Send + Sync + 'static) -> Self {
        StubProvider {
            name: "stub".into(),
            caps: Capabilities::full(),
            script: Arc::new(script),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Sets the name reported in outcomes.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the capabilities (and so the checks and batch size).
    #[must_use]
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// Every batch "sent" so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl SmsProvider for StubProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn send(&self, message: &Message) -> SendReport {
        check_and_send_in_batches(message, &self.caps, &self.name, 1, |batch| {
            let outcomes = batch
                .recipients()
                .iter()
                .map(|r| RecipientOutcome {
                    recipient: *r,
                    outcome: (self.script)(r),
                    provider: self.name.clone(),
                })
                .collect();
            self.sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(batch);
            std::future::ready(SendReport::new(outcomes))
        })
        .await
    }
}
