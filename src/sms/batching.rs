//! The rules every gateway applies before and around sending: a message
//! checked against its provider's capabilities, and recipients split into
//! the gateway's batches with exactly one outcome each, in order.

use super::capabilities::Capabilities;
use super::encoding::{Encoding, preview};
use super::error::{SmsError, SmsErrorKind};
use super::message::Message;
use super::outcome::{Outcome, RecipientOutcome, SendReport};
use super::sender::Sender;

/// Checks `message` against `caps` before anything is sent: sender rules,
/// text length (never truncated), Unicode, delivery-report and scheduling
/// support.
///
/// Priority is not checked: a provider without it ignores it, as its
/// capabilities say. A delivery report that cannot be given is refused, so
/// nobody waits for one that never comes.
///
/// # Errors
///
/// An [`SmsError`] of kind [`SmsErrorKind::InvalidSender`],
/// [`SmsErrorKind::TextTooLong`], [`SmsErrorKind::UnsupportedText`] or
/// [`SmsErrorKind::NotSupported`] that says the length and the limit.
pub fn check_message(
    message: &Message,
    caps: &Capabilities,
    provider: &str,
) -> Result<(), SmsError> {
    let err = |kind, msg: String| SmsError::new(kind, provider.to_owned(), msg);
    if message.sender().is_some() && !caps.custom_sender {
        return Err(err(
            SmsErrorKind::InvalidSender,
            "this provider cannot set a sender; the service's default originator is used, so leave the sender empty".into(),
        ));
    }
    if let Some(Sender::Alphanumeric(name)) = message.sender() {
        caps.sender_rules
            .check_alphanumeric(name)
            .map_err(|e| err(SmsErrorKind::InvalidSender, e.message().to_owned()))?;
    }
    let p = preview(message.text(), &caps.limits);
    if p.encoding == Encoding::Ucs2 && !caps.unicode {
        return Err(err(
            SmsErrorKind::UnsupportedText,
            format!(
                "the text needs Unicode because of {:?}, which this provider cannot send",
                p.forced_ucs2_by
            ),
        ));
    }
    if p.exceeds_limit() {
        return Err(err(
            SmsErrorKind::TextTooLong,
            format!(
                "the text is {} {} units long; at most {} fit in {} parts",
                p.units, p.encoding, p.max_units, caps.limits.max_parts
            ),
        ));
    }
    if message.delivery_report() && !caps.delivery_reports {
        return Err(err(
            SmsErrorKind::NotSupported,
            "delivery reports are not available from this provider; send without asking for one"
                .into(),
        ));
    }
    if message.send_at().is_some() && !caps.scheduling {
        return Err(err(
            SmsErrorKind::NotSupported,
            "scheduled sending is not supported".into(),
        ));
    }
    Ok(())
}

/// What a provider's [`send`](super::SmsProvider::send) does around its own
/// wire code: [`check_message`] against `caps` (a refusal gives every
/// recipient the same rejected outcome), then [`send_in_batches`] of
/// `caps.max_batch` with up to `concurrency` batches in flight.
///
/// ```
/// use crm_comms::sms::{
///     check_and_send_in_batches, Capabilities, Message, Outcome, RecipientOutcome, SendReport,
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let caps = Capabilities::full().with_max_batch(2);
/// let message = Message::builder()
///     .to_all(["+4741000001", "+4741000002", "+4741000003"].map(|n| n.parse().unwrap()))
///     .text("Hei")
///     .build()?;
/// let report = check_and_send_in_batches(&message, &caps, "mine", 1, |batch| async move {
///     assert!(batch.recipients().len() <= 2);
///     SendReport::same_for_all(&batch, "mine", Outcome::Accepted { reference: None })
/// })
/// .await;
/// assert_eq!(report.accepted().count(), 3);
/// # Ok::<(), crm_comms::Error>(())
/// # }).unwrap();
/// ```
pub async fn check_and_send_in_batches<F, Fut>(
    message: &Message,
    caps: &Capabilities,
    provider: &str,
    concurrency: usize,
    send_batch: F,
) -> SendReport
where
    F: FnMut(Message) -> Fut + Send,
    Fut: std::future::Future<Output = SendReport> + Send,
{
    tracing::debug!(
        provider,
        recipients = message.recipients().len(),
        "sending an SMS"
    );
    let report = match check_message(message, caps, provider) {
        Err(e) => SendReport::same_for_all(message, provider, Outcome::Rejected(e)),
        Ok(()) => send_in_batches(message, provider, caps.max_batch, concurrency, send_batch).await,
    };
    log_report(provider, std::slice::from_ref(&report));
    report
}

/// What a provider's [`send_each`](super::SmsProvider::send_each) does around
/// its own wire code when one request can carry many messages, each with
/// its own text: [`check_message`] on each (a refused message gets its
/// rejection without being sent), then the messages — split where one has
/// more than `caps.max_batch` recipients — packed into groups of at most
/// `caps.max_batch` recipients, each group one call of `send_group`, with
/// up to `concurrency` groups in flight. `send_group` returns one report
/// per message of its group; whatever it returns, each message ends with
/// exactly one outcome per recipient, in order (as [`send_in_batches`]).
///
/// ```
/// use crm_comms::sms::{check_and_send_grouped, Capabilities, Message, Outcome, SendReport};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let caps = Capabilities::full().with_max_batch(2);
/// let messages: Vec<Message> = ["Hei Kari", "Hei Ola", "Hei Per"]
///     .iter()
///     .enumerate()
///     .map(|(i, t)| {
///         let to = format!("+474100000{i}").parse().unwrap();
///         Message::builder().to(to).text(*t).build().unwrap()
///     })
///     .collect();
/// let reports = check_and_send_grouped(&messages, &caps, "mine", 1, |group| async move {
///     assert!(group.len() <= 2); // two requests: 2 messages, then 1
///     group
///         .iter()
///         .map(|m| SendReport::same_for_all(m, "mine", Outcome::Accepted { reference: None }))
///         .collect()
/// })
/// .await;
/// assert_eq!(reports.len(), 3);
/// # });
/// ```
pub async fn check_and_send_grouped<F, Fut>(
    messages: &[Message],
    caps: &Capabilities,
    provider: &str,
    concurrency: usize,
    send_group: F,
) -> Vec<SendReport>
where
    F: FnMut(Vec<Message>) -> Fut + Send,
    Fut: std::future::Future<Output = Vec<SendReport>> + Send,
{
    use futures_util::stream::{self, StreamExt};

    let size = caps.max_batch.max(1);
    // Each message's outcomes, filled piece by piece.
    let mut outcomes: Vec<Vec<RecipientOutcome>> = vec![Vec::new(); messages.len()];
    // (message index, piece) for everything that passed the checks.
    let mut pieces: Vec<(usize, Message)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match check_message(m, caps, provider) {
            Err(e) => {
                outcomes[i] =
                    SendReport::same_for_all(m, provider, Outcome::Rejected(e)).into_outcomes();
            }
            Ok(()) if m.recipients().len() <= size => pieces.push((i, m.clone())),
            Ok(()) => pieces.extend(
                (0..m.recipients().len())
                    .step_by(size)
                    .map(|start| (i, m.slice(start, size))),
            ),
        }
    }
    // Greedy packing in order: a group closes when the next piece would
    // take it past `size` recipients.
    let mut groups: Vec<Vec<(usize, Message)>> = Vec::new();
    let mut count = 0;
    for piece in pieces {
        let n = piece.1.recipients().len();
        match groups.last_mut() {
            Some(g) if count + n <= size => {
                count += n;
                g.push(piece);
            }
            _ => {
                count = n;
                groups.push(vec![piece]);
            }
        }
    }
    let mut send_group = send_group;
    let sent: Vec<Vec<(usize, Vec<RecipientOutcome>)>> = stream::iter(groups)
        .map(|group| {
            let call = send_group(group.iter().map(|(_, m)| m.clone()).collect());
            async move {
                let mut reports = call.await.into_iter();
                group
                    .into_iter()
                    .map(|(i, piece)| {
                        let report = reports.next().unwrap_or_else(|| SendReport::new(vec![]));
                        (i, fit_to_batch(&piece, provider, report))
                    })
                    .collect()
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for (i, got) in sent.into_iter().flatten() {
        outcomes[i].extend(got);
    }
    let reports: Vec<SendReport> = outcomes.into_iter().map(SendReport::new).collect();
    log_report(provider, &reports);
    reports
}

/// One event per recipient that was not accepted (warning) or was
/// (trace), and a summary: numbers masked, gateway texts with digit runs
/// masked, never a credential (errors never hold one).
fn log_report(provider: &str, reports: &[SendReport]) {
    use crate::mask::{mask, mask_digit_runs};
    for o in reports.iter().flat_map(SendReport::outcomes) {
        match &o.outcome {
            Outcome::Accepted { reference } => tracing::trace!(
                provider = %o.provider,
                recipient = %mask(o.recipient.e164()),
                reference = reference.as_deref().unwrap_or(""),
                "accepted"
            ),
            // The gateway already has it (a resend under its duplicate
            // check): as expected as an acceptance.
            Outcome::Rejected(e) if e.kind() == super::SmsErrorKind::Duplicate => tracing::debug!(
                provider = %o.provider,
                recipient = %mask(o.recipient.e164()),
                "the gateway already had it (duplicate)"
            ),
            Outcome::Rejected(e) | Outcome::Unknown(e) => {
                let what = if matches!(o.outcome, Outcome::Unknown(_)) {
                    "outcome unknown: the gateway may have accepted it; do not resend blindly"
                } else {
                    "not sent"
                };
                tracing::warn!(
                    provider = %o.provider,
                    recipient = %mask(o.recipient.e164()),
                    kind = ?e.kind(),
                    error = %mask_digit_runs(&e.to_string()),
                    "{what}"
                );
            }
        }
    }
    tracing::info!(
        provider,
        accepted = reports.iter().map(|r| r.accepted().count()).sum::<usize>(),
        rejected = reports.iter().map(|r| r.rejected().count()).sum::<usize>(),
        unknown = reports.iter().map(|r| r.unknown().count()).sum::<usize>(),
        "SMS sent"
    );
}

/// Sends `message` in batches of at most `max_batch` recipients through
/// `send_batch`, with up to `concurrency` batches in flight, and joins the
/// reports in recipient order: the transparent splitting every provider
/// needs.
///
/// It keeps the contract's first rule whatever `send_batch` returns: each
/// batch's report is fitted to the batch, one outcome per recipient in
/// order. A missing outcome becomes [`Outcome::Unknown`] of kind
/// [`SmsErrorKind::Protocol`] (the request went out, so the gateway may have
/// the message); outcomes beyond the batch's recipients are dropped (and
/// logged); an outcome for another recipient than the one in its place is
/// replaced by such an unknown outcome too.
///
/// ```
/// use crm_comms::sms::{send_in_batches, Message, Outcome, SendReport};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let message = Message::builder()
///     .to_all(["+4741000001", "+4741000002"].map(|n| n.parse().unwrap()))
///     .text("Hei")
///     .build()?;
/// // A batch function that forgets its outcomes still gives one each.
/// let report = send_in_batches(&message, "mine", 100, 1, |_| async { SendReport::new(vec![]) }).await;
/// assert_eq!(report.unknown().count(), 2);
/// # Ok::<(), crm_comms::Error>(())
/// # }).unwrap();
/// ```
pub async fn send_in_batches<F, Fut>(
    message: &Message,
    provider: &str,
    max_batch: usize,
    concurrency: usize,
    send_batch: F,
) -> SendReport
where
    F: FnMut(Message) -> Fut + Send,
    Fut: std::future::Future<Output = SendReport> + Send,
{
    use futures_util::stream::{self, StreamExt};

    let mut send_batch = send_batch;
    let size = max_batch.max(1);
    if message.recipients().is_empty() {
        // Nothing to send (a message is built with recipients; this is
        // the guard for any other way one could come to be empty).
        return SendReport::new(Vec::new());
    }
    if message.recipients().len() <= size {
        let report = send_batch(message.clone()).await;
        return SendReport::new(fit_to_batch(message, provider, report));
    }
    let batches: Vec<Message> = (0..message.recipients().len())
        .step_by(size)
        .map(|start| message.slice(start, size))
        .collect();
    let reports: Vec<Vec<RecipientOutcome>> = stream::iter(batches)
        .map(|batch| {
            let sent = send_batch(batch.clone());
            async move { fit_to_batch(&batch, provider, sent.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    SendReport::new(reports.into_iter().flatten().collect())
}

/// `report`'s outcomes as exactly one per recipient of `batch`, in order.
fn fit_to_batch(batch: &Message, provider: &str, report: SendReport) -> Vec<RecipientOutcome> {
    let mut got = report.into_outcomes();
    let want = batch.recipients();
    if got.len() > want.len() {
        tracing::warn!(
            provider,
            outcomes = got.len(),
            recipients = want.len(),
            "the provider returned more outcomes than recipients; the extra ones are dropped"
        );
        got.truncate(want.len());
    }
    let missing = || {
        Outcome::Unknown(SmsError::new(
            SmsErrorKind::Protocol,
            provider.to_owned(),
            "the provider returned no outcome for this recipient; the gateway may have the message",
        ))
    };
    // In order; an outcome for another recipient is not taken for this one
    // (a skipped recipient gets `Unknown`, the rest still line up).
    let mut got = got.into_iter().peekable();
    want.iter()
        .map(
            |&recipient| match got.next_if(|o| o.recipient == recipient) {
                Some(o) => o,
                None => RecipientOutcome {
                    recipient,
                    outcome: missing(),
                    provider: provider.to_owned(),
                },
            },
        )
        .collect()
}
