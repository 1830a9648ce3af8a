//! Replies and reports of mailings through the webhook receiver: delivery
//! reports matched in the outbox, and "STOPP" putting the sender on the
//! opt-out list.

use std::sync::Arc;

use super::outbox::Outbox;
use crate::sms::inbound::{HandlerError, InboundRouter, Routed, SmsEndpoint};
use crate::sms::tracking::{DeliveryEvent, DeliveryHandler};

/// The opt-out keywords by default: Norwegian and English.
pub const DEFAULT_STOP_KEYWORDS: &[&str] = &["STOPP", "STOP"];

/// A delivery handler for the receiver that matches each report to its
/// mailing recipient in `outbox` (by client reference or gateway
/// reference, before or after the send settled), then hands the event to
/// `next`. A report that matches no recipient yet is kept in the outbox,
/// never dropped. The reports of one push are matched together
/// ([`Outbox::apply_reports`]).
///
/// Give it to `WebhookReceiver::builder` as the delivery handler.
pub fn reports_into(
    outbox: Arc<dyn Outbox>,
    next: impl Fn(DeliveryEvent) + Send + Sync + 'static,
) -> OutboxReports {
    OutboxReports {
        outbox,
        next: Arc::new(next),
    }
}

/// The delivery handler [`reports_into`] makes.
#[derive(Clone)]
pub struct OutboxReports {
    outbox: Arc<dyn Outbox>,
    next: Arc<dyn Fn(DeliveryEvent) + Send + Sync>,
}

impl std::fmt::Debug for OutboxReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxReports")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl DeliveryHandler for OutboxReports {
    async fn handle(&self, event: DeliveryEvent) -> Result<(), HandlerError> {
        self.outbox.apply_report(&event.receipt).await?;
        (self.next)(event);
        Ok(())
    }

    async fn handle_many(&self, events: Vec<DeliveryEvent>) -> Vec<Result<(), HandlerError>> {
        let receipts: Vec<_> = events.iter().map(|e| e.receipt.clone()).collect();
        match self.outbox.apply_reports(&receipts).await {
            Ok(_) => events
                .into_iter()
                .map(|e| {
                    (self.next)(e);
                    Ok(())
                })
                .collect(),
            Err(e) => {
                let text = e.to_string();
                events.iter().map(|_| Err(text.clone().into())).collect()
            }
        }
    }
}

/// `router` with a route per keyword (`STOPP`, `STOP`, …, as "SMS
/// endpoint" codes) that puts the sender's number on `outbox`'s opt-out
/// list, then calls `then` with the message.
///
/// # Errors
///
/// A keyword that is not a valid "SMS endpoint" code (one word of letters
/// and digits).
pub fn with_opt_out(
    router: InboundRouter,
    outbox: Arc<dyn Outbox>,
    keywords: &[&str],
    then: impl Fn(&Routed) + Send + Sync + 'static,
) -> Result<InboundRouter, crate::sms::SmsError> {
    let then = Arc::new(then);
    let mut router = router;
    for k in keywords {
        let endpoint: SmsEndpoint = k.parse()?;
        let outbox = outbox.clone();
        let then = then.clone();
        router = router.route(endpoint, move |m: Routed| {
            let outbox = outbox.clone();
            let then = then.clone();
            async move {
                if let Some(n) = &m.from {
                    outbox.opt_out(n.e164(), "sms").await?;
                } else {
                    tracing::warn!(
                        "an opt-out SMS without a readable sender number was not recorded"
                    );
                }
                then(&m);
                Ok::<(), HandlerError>(())
            }
        });
    }
    Ok(router)
}
