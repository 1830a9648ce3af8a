//! The `SmsProvider` contract.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use super::capabilities::Capabilities;
use super::error::{SmsError, SmsErrorKind};
use super::message::Message;
use super::outcome::{Outcome, SendReport};
use crate::phone::PhoneNumber;

/// A way to send SMS: a gateway client, a fake, or a wrapper such as
/// [`Failover`](super::Failover).
///
/// # Contract
///
/// An implementation must:
///
/// 1. Return **exactly one outcome per recipient, in the message's
///    recipient order**, whatever happens — including whole-request
///    failures (bad credentials, gateway down), which become the same
///    outcome for every recipient ([`SendReport::same_for_all`]).
/// 2. Report [`Outcome::Accepted`] only when the gateway said so, with its
///    reference when the channel has one.
/// 3. Report [`Outcome::Unknown`] whenever the gateway may have accepted the
///    message (a timeout or lost connection after the request was written).
///    Never retry such a send by itself.
/// 4. Refuse, before sending anything, messages its [`Capabilities`] cannot
///    carry (sender, text length, Unicode, scheduling), with the matching
///    [`SmsErrorKind`]; [`check_message`](super::check_message) does this for the common rules.
/// 5. Split messages with more recipients than `max_batch` transparently.
/// 6. Never put credentials in `Debug`, `Display`, errors or logs (use
///    [`Secret`](super::Secret)).
///
/// The `testing` feature's conformance suite checks these
/// (`crm_comms::testing::conformance`).
#[async_trait]
pub trait SmsProvider: Debug + Send + Sync + 'static {
    /// A short name for reports and errors (`intelecom`, `pswincom`).
    fn name(&self) -> &str;

    /// What the provider can do.
    fn capabilities(&self) -> Capabilities;

    /// Sends `message`; one outcome per recipient, in order.
    async fn send(&self, message: &Message) -> SendReport;

    /// Sends several messages, each with its own text (a mailing's
    /// personalised texts), in as few gateway requests as the gateway
    /// allows; one report per message, in order, each with one outcome per
    /// recipient. The same rules as [`send`](Self::send) hold for each.
    ///
    /// The default sends them one [`send`](Self::send) after another; a
    /// gateway whose requests carry a text per recipient overrides it with
    /// [`check_and_send_grouped`](super::check_and_send_grouped) (both of this crate's gateways do).
    async fn send_each(&self, messages: &[Message]) -> Vec<SendReport> {
        let mut reports = Vec::with_capacity(messages.len());
        for m in messages {
            reports.push(self.send(m).await);
        }
        reports
    }
}

/// The usual handle to any provider.
pub type DynSmsProvider = dyn SmsProvider;

macro_rules! forward_provider {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        #[async_trait]
        impl<T: SmsProvider + ?Sized> SmsProvider for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            async fn send(&self, message: &Message) -> SendReport {
                (**self).send(message).await
            }
            async fn send_each(&self, messages: &[Message]) -> Vec<SendReport> {
                (**self).send_each(messages).await
            }
        }
    )*};
}

forward_provider!(Arc<T>, Box<T>);

/// Conveniences for every provider. Implemented for all of them; do not
/// implement it yourself.
#[async_trait]
pub trait SmsProviderExt: SmsProvider {
    /// Sends `text` to one number; the gateway's reference on success.
    ///
    /// # Errors
    ///
    /// The recipient's error, for rejected and unknown outcomes.
    async fn send_text(&self, to: PhoneNumber, text: &str) -> Result<Option<String>, SmsError> {
        let message = Message::builder().to(to).text(text).build().map_err(|e| {
            SmsError::new(
                SmsErrorKind::InvalidMessage,
                self.name().to_owned(),
                e.to_string(),
            )
        })?;
        let report = self.send(&message).await;
        match report.into_outcomes().pop().map(|o| o.outcome) {
            Some(Outcome::Accepted { reference }) => Ok(reference),
            Some(Outcome::Rejected(e) | Outcome::Unknown(e)) => Err(e),
            None => Err(SmsError::new(
                SmsErrorKind::Protocol,
                self.name().to_owned(),
                "the provider returned no outcome",
            )),
        }
    }
}

impl<T: SmsProvider + ?Sized> SmsProviderExt for T {}
