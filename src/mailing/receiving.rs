//! Replies and reports of mailings through the webhook receiver: delivery
//! reports matched in the outbox, "STOPP" putting the sender on the
//! opt-out list and "START" taking it off, each logged with its message
//! and optionally confirmed by a reply.

use std::sync::Arc;

use super::outbox::{Outbox, ReportMatch};
use super::privacy::{ConsentAction, ConsentEntry, Privacy};
use crate::sms::inbound::{HandlerError, InboundRouter, Routed, SmsEndpoint};
use crate::sms::tracking::{DeliveryEvent, DeliveryHandler};
use crate::sms::{Message, SmsProvider};

/// The opt-out keywords by default, which work with Norwegian operators:
/// `STOPP` and `AVMELD` (Norwegian), `STOP`, and `UNSUB` (where an operator
/// keeps `STOP` for itself).
pub const DEFAULT_STOP_KEYWORDS: &[&str] = &["STOPP", "STOP", "AVMELD", "UNSUB"];

/// The opt-in keywords by default.
pub const DEFAULT_START_KEYWORDS: &[&str] = &["START"];

/// An account's consent keywords (each an "SMS endpoint" code: one word
/// of letters and digits) and the replies that confirm them.
///
/// ```
/// use crm_comms::mailing::ConsentKeywords;
/// let k = ConsentKeywords::default()
///     .with_stop_reply("Du er meldt av. Send START for å melde deg på igjen.");
/// assert!(k.stop_keywords().contains(&"AVMELD".to_owned()));
/// assert!(ConsentKeywords::new(&["STOPP ALT"], &[]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct ConsentKeywords {
    stop: Vec<SmsEndpoint>,
    start: Vec<SmsEndpoint>,
    stop_reply: Option<String>,
    start_reply: Option<String>,
}

impl Default for ConsentKeywords {
    fn default() -> Self {
        ConsentKeywords::new(DEFAULT_STOP_KEYWORDS, DEFAULT_START_KEYWORDS)
            .unwrap_or_else(|_| unreachable!("the default keywords are valid"))
    }
}

impl ConsentKeywords {
    /// Opt-out keywords `stop` and opt-in keywords `start`, no replies.
    ///
    /// # Errors
    ///
    /// A keyword that is not an "SMS endpoint" code, or one in both lists.
    pub fn new(stop: &[&str], start: &[&str]) -> Result<Self, crate::sms::SmsError> {
        let parse = |list: &[&str]| {
            list.iter()
                .map(|k| k.parse::<SmsEndpoint>())
                .collect::<Result<Vec<_>, _>>()
        };
        let (stop, start) = (parse(stop)?, parse(start)?);
        if let Some(both) = stop.iter().find(|k| start.contains(k)) {
            return Err(crate::sms::SmsError::new(
                crate::sms::SmsErrorKind::InvalidMessage,
                "consent",
                format!("the keyword {both} cannot both opt out and opt in"),
            ));
        }
        Ok(ConsentKeywords {
            stop,
            start,
            stop_reply: None,
            start_reply: None,
        })
    }

    /// Confirms an opt-out with this reply.
    #[must_use]
    pub fn with_stop_reply(mut self, text: impl Into<String>) -> Self {
        self.stop_reply = Some(text.into());
        self
    }

    /// Confirms an opt-in with this reply.
    #[must_use]
    pub fn with_start_reply(mut self, text: impl Into<String>) -> Self {
        self.start_reply = Some(text.into());
        self
    }

    /// The opt-out keywords.
    #[must_use]
    pub fn stop_keywords(&self) -> Vec<String> {
        self.stop.iter().map(ToString::to_string).collect()
    }

    /// The opt-in keywords.
    #[must_use]
    pub fn start_keywords(&self) -> Vec<String> {
        self.start.iter().map(ToString::to_string).collect()
    }
}

/// `router` with a route per consent keyword: an opt-out keyword puts the
/// sender on `store`'s opt-out list, an opt-in keyword takes it off; each
/// is logged with the keyword and the message as received
/// ([`Privacy::consent_log`]), and confirmed by the keywords' reply through
/// `replies` when both are given (a reply that fails is logged, not
/// retried: the consent is recorded either way). Then `then` is called
/// with the message.
pub fn with_consent(
    router: InboundRouter,
    store: Arc<dyn Privacy>,
    keywords: &ConsentKeywords,
    replies: Option<Arc<dyn SmsProvider>>,
    then: impl Fn(&Routed) + Send + Sync + 'static,
) -> InboundRouter {
    let then = Arc::new(then);
    let mut router = router;
    let routes = keywords
        .stop
        .iter()
        .map(|k| (k, ConsentAction::OptOut, keywords.stop_reply.clone()))
        .chain(
            keywords
                .start
                .iter()
                .map(|k| (k, ConsentAction::OptIn, keywords.start_reply.clone())),
        );
    for (keyword, action, reply) in routes {
        let (store, then, replies) = (store.clone(), then.clone(), replies.clone());
        let via = keyword.to_string();
        router = router.route(keyword.clone(), move |m: Routed| {
            let (store, then, replies, reply, via) =
                (store.clone(), then.clone(), replies.clone(), reply.clone(), via.clone());
            async move {
                let Some(n) = &m.from else {
                    tracing::warn!(
                        keyword = via,
                        "a consent SMS without a readable sender number was not recorded"
                    );
                    then(&m);
                    return Ok::<(), HandlerError>(());
                };
                let entry = ConsentEntry::now(n.e164(), action, &via, Some(&m.message.text));
                store.record_consent(&entry).await?;
                if let (Some(provider), Some(text)) = (replies, reply) {
                    match Message::builder().to(*n).text(text).build() {
                        Ok(msg) => {
                            let report = provider.send(&msg).await;
                            if !report.all_accepted() {
                                tracing::warn!(
                                    keyword = via,
                                    "the consent confirmation was not accepted by the gateway"
                                );
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, keyword = via, "the consent confirmation cannot be sent");
                        }
                    }
                }
                then(&m);
                Ok::<(), HandlerError>(())
            }
        });
    }
    router
}

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
    next: impl Fn(DeliveryEvent, ReportMatch) + Send + Sync + 'static,
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
    next: Arc<dyn Fn(DeliveryEvent, ReportMatch) + Send + Sync>,
}

impl std::fmt::Debug for OutboxReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxReports")
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

/// Counts a report as `crm_comms_reports_total{gateway, state, matched}`
/// (feature `metrics`): `matched` is `applied` (to its recipient) or
/// `kept` (waiting for it); an applied one's latency (from the moment its
/// recipient was written down as sending) goes to the histogram
/// `crm_comms_report_latency_seconds{gateway}`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
fn count_report(receipt: &crate::sms::DeliveryReceipt, matched: ReportMatch) {
    if let ReportMatch::Applied(m) = matched {
        tracing::debug!(
            mailing = m.mailing.get(),
            row = m.row,
            reference = %receipt.reference,
            "a delivery report matched its recipient"
        );
    }
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(
            "crm_comms_reports_total",
            "gateway" => receipt.provider,
            "state" => format!("{:?}", receipt.state).to_ascii_lowercase(),
            "matched" => if matched.is_applied() { "applied" } else { "kept" }
        )
        .increment(1);
        if let ReportMatch::Applied(super::outbox::MatchedRow {
            sent_at: Some(at), ..
        }) = matched
        {
            let latency = at.duration_until(jiff::Timestamp::now()).as_secs_f64();
            metrics::histogram!("crm_comms_report_latency_seconds", "gateway" => receipt.provider)
                .record(latency.max(0.0));
        }
    }
}

#[async_trait::async_trait]
impl DeliveryHandler for OutboxReports {
    async fn handle(&self, event: DeliveryEvent) -> Result<(), HandlerError> {
        let matched = self.outbox.apply_report(&event.receipt).await?;
        count_report(&event.receipt, matched);
        (self.next)(event, matched);
        Ok(())
    }

    async fn handle_many(&self, events: Vec<DeliveryEvent>) -> Vec<Result<(), HandlerError>> {
        let receipts: Vec<_> = events.iter().map(|e| e.receipt.clone()).collect();
        match self.outbox.apply_reports(&receipts).await {
            Ok(matched) => {
                for (r, m) in receipts.iter().zip(&matched) {
                    count_report(r, *m);
                }
                events
                    .into_iter()
                    .zip(matched)
                    .map(|(e, m)| {
                        (self.next)(e, m);
                        Ok(())
                    })
                    .collect()
            }
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
