//! A provider that fills in the CRM's defaults (sender, priority, delivery
//! report) for every message that does not set its own.

use async_trait::async_trait;

use super::capabilities::Capabilities;
use super::message::{Message, MessageDefaults};
use super::outcome::SendReport;
use super::provider::SmsProvider;

/// Wraps a provider so every message it sends gets `defaults` where the
/// message sets nothing of its own ([`Message::with_defaults`]).
///
/// A default the provider cannot honour is left out rather than turning
/// every message into a refusal: no default sender through a provider
/// without [`custom_sender`](Capabilities::custom_sender), no default
/// delivery report through one without
/// [`delivery_reports`](Capabilities::delivery_reports). What a message sets
/// itself is always passed on, and refused by the provider if unsupported.
///
/// [`SmsSettings::build_provider`](crate::settings::SmsSettings::build_provider)
/// returns its provider wrapped in this, carrying the settings' `sender`,
/// `priority` and `delivery_report`.
///
/// ```
/// use crm_comms::sms::{Message, MessageDefaults, Priority, SmsProvider, StubProvider, WithDefaults};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let defaults = MessageDefaults::new().priority(Priority::High).delivery_report(true);
/// let provider = WithDefaults::new(StubProvider::new_ok(), defaults);
/// let m = Message::builder().to("+4741000001".parse()?).text("Hei").build()?;
/// provider.send(&m).await;
/// let sent = &provider.inner().messages()[0];
/// assert_eq!(sent.priority(), Priority::High);
/// assert!(sent.delivery_report());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct WithDefaults<P> {
    inner: P,
    defaults: MessageDefaults,
}

impl<P: SmsProvider> WithDefaults<P> {
    /// `inner`, with `defaults` filled into each message it sends.
    pub fn new(inner: P, defaults: MessageDefaults) -> Self {
        WithDefaults { inner, defaults }
    }

    /// The defaults applied.
    pub fn defaults(&self) -> &MessageDefaults {
        &self.defaults
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The defaults this provider can honour.
    fn effective(&self) -> MessageDefaults {
        let caps = self.inner.capabilities();
        let mut d = self.defaults.clone();
        if !caps.custom_sender {
            d.sender = None;
        }
        if !caps.delivery_reports {
            d.delivery_report = None;
        }
        if !caps.priority {
            d.priority = None;
        }
        d
    }
}

#[async_trait]
impl<P: SmsProvider> SmsProvider for WithDefaults<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn send(&self, message: &Message) -> SendReport {
        let message = message.with_defaults(&self.effective());
        self.inner.send(&message).await
    }

    async fn send_each(&self, messages: &[Message]) -> Vec<SendReport> {
        let defaults = self.effective();
        let messages: Vec<Message> = messages
            .iter()
            .map(|m| m.with_defaults(&defaults))
            .collect();
        self.inner.send_each(&messages).await
    }
}
