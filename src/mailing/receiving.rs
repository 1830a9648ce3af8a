//! Replies and reports of mailings through the webhook receiver: delivery
//! reports matched in the outbox, and "STOPP" putting the sender on the
//! opt-out list.

use std::sync::Arc;

use super::outbox::Outbox;
use crate::sms::inbound::{HandlerError, InboundRouter, Routed, SmsEndpoint};
use crate::sms::tracking::DeliveryEvent;

/// The opt-out keywords by default: Norwegian and English.
pub const DEFAULT_STOP_KEYWORDS: &[&str] = &["STOPP", "STOP"];

/// A delivery handler for the receiver that matches each report to its
/// mailing recipient in `outbox` (by client reference or gateway
/// reference, before or after the send settled), then hands the event to
/// `next`. A report that matches no recipient yet is kept in the outbox,
/// never dropped.
///
/// Give it to `WebhookReceiver::builder` as the delivery handler.
pub fn reports_into(
    outbox: Arc<dyn Outbox>,
    next: impl Fn(DeliveryEvent) + Send + Sync + 'static,
) -> impl Fn(DeliveryEvent) -> std::pin::Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>
+ Send
+ Sync
+ 'static {
    let next = Arc::new(next);
    move |event: DeliveryEvent| {
        let outbox = outbox.clone();
        let next = next.clone();
        Box::pin(async move {
            outbox.apply_report(&event.receipt).await?;
            next(event);
            Ok(())
        })
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
