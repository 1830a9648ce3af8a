//! Sending through a second provider when the first certainly did not send.

use async_trait::async_trait;

use super::capabilities::Capabilities;
use super::message::Message;
#[cfg(doc)]
use super::outcome::Outcome;
use super::outcome::SendReport;
use super::provider::SmsProvider;

/// Sends through `primary`, and through `secondary` only for the recipients
/// whose outcome [`is_retryable`](Outcome::is_retryable): the primary
/// **certainly did not send** them, for a reason outside the message (the
/// gateway was unreachable, TLS failed, it rejected the credentials,
/// rate-limited or failed before taking the message). Never after an
/// unknown outcome (that could deliver twice), and never for messages the
/// primary refused as invalid (the secondary would refuse them too, or send
/// what the primary's rules forbid).
///
/// Each outcome's [`provider`](super::RecipientOutcome::provider) says which
/// provider handled it.
#[derive(Debug)]
pub struct Failover<P, S> {
    primary: P,
    secondary: S,
}

impl<P: SmsProvider, S: SmsProvider> Failover<P, S> {
    /// Primary first, secondary when the primary certainly did not send.
    pub fn new(primary: P, secondary: S) -> Self {
        Failover { primary, secondary }
    }
}

#[async_trait]
impl<P: SmsProvider, S: SmsProvider> SmsProvider for Failover<P, S> {
    fn name(&self) -> &'static str {
        "failover"
    }

    /// The primary's capabilities.
    fn capabilities(&self) -> Capabilities {
        self.primary.capabilities()
    }

    async fn send(&self, message: &Message) -> SendReport {
        let mut outcomes = self.primary.send(message).await.into_outcomes();
        let retry: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].outcome.is_retryable())
            .collect();
        if retry.is_empty() {
            return SendReport::new(outcomes);
        }
        let Ok(again) =
            message.with_recipients(retry.iter().map(|&i| outcomes[i].recipient).collect())
        else {
            return SendReport::new(outcomes);
        };
        let second = self.secondary.send(&again).await.into_outcomes();
        for (i, o) in retry.into_iter().zip(second) {
            outcomes[i] = o;
        }
        SendReport::new(outcomes)
    }
}
