//! What a delivery report says about a sent message ([`DeliveryEvent`]),
//! and who is told ([`DeliveryHandler`]).

use super::*;

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
    #[must_use]
    pub fn unmatched(receipt: DeliveryReceipt) -> Self {
        DeliveryEvent {
            sent: None,
            receipt,
        }
    }

    /// The final state.
    #[must_use]
    pub fn state(&self) -> DeliveryState {
        self.receipt.state
    }

    /// Why it failed, as the gateway said, for a failed or expired message.
    #[must_use]
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
    #[must_use]
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
    async fn handle(&self, event: DeliveryEvent) -> Result<(), crate::sms::inbound::HandlerError>;

    /// Handles the events of one push (a store can take them in one
    /// statement); one result per event, in order. The default handles
    /// them one after another.
    async fn handle_many(
        &self,
        events: Vec<DeliveryEvent>,
    ) -> Vec<Result<(), crate::sms::inbound::HandlerError>> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            out.push(self.handle(e).await);
        }
        out
    }
}

#[async_trait]
impl<F, Fut> DeliveryHandler for F
where
    F: Fn(DeliveryEvent) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), crate::sms::inbound::HandlerError>> + Send,
{
    async fn handle(&self, event: DeliveryEvent) -> Result<(), crate::sms::inbound::HandlerError> {
        self(event).await
    }
}
