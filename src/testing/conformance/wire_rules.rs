//! The rules that read the gateway's side of the wire
//! ([`check_on_loopback`](super::check_on_loopback)).

use super::*;

/// The requests the gateway recorded since it had seen `before`.
fn requests_since<W: Wire>(gateway: &LoopbackGateway<W>, before: u64) -> Vec<Received<W::Request>> {
    let new = usize::try_from(gateway.requests_seen().saturating_sub(before)).unwrap_or(usize::MAX);
    let mut received = gateway.received();
    received.drain(..received.len().saturating_sub(new));
    received
}

/// Every message the requests since `before` carried, as the gateway read
/// them.
fn wire_since<W: Wire>(gateway: &LoopbackGateway<W>, before: u64) -> Vec<WireMessage> {
    requests_since(gateway, before)
        .iter()
        .flat_map(|r| W::messages(&r.request))
        .collect()
}

/// The international digits of `n` (`4790000001`).
fn digits(n: &PhoneNumber) -> &str {
    n.e164().trim_start_matches('+')
}

/// A text shortened for a failure message.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    format!("{s:?}")
}

/// The wire messages to `to`; panics unless there is exactly one.
fn the_one_to<'w>(wire: &'w [WireMessage], to: &PhoneNumber, text: &str) -> &'w WireMessage {
    let to_them: Vec<&WireMessage> = wire
        .iter()
        .filter(|w| w.recipient_digits() == digits(to) && w.text == text)
        .collect();
    match to_them.as_slice() {
        [one] => one,
        [] => {
            let sent: Vec<String> = wire
                .iter()
                .filter(|w| w.recipient_digits() == digits(to))
                .map(|w| shown(&w.text))
                .collect();
            panic!(
                "{to} should get {} once; on the wire it got {}",
                shown(text),
                if sent.is_empty() {
                    "nothing".to_owned()
                } else {
                    sent.join(", ")
                }
            )
        }
        more => panic!(
            "{to} got {} {} times on the wire: each message must arrive once",
            shown(text),
            more.len()
        ),
    }
}

/// On the wire, each recipient gets the message once, intact: the exact
/// text (GSM-7 with the extension table, UCS-2, a long text of several
/// parts), the sender, the priority, the delivery-report flag and — where
/// the gateway takes one — the client reference of its place in the
/// message, as far as the capabilities say the provider carries them.
pub async fn wire_carries_each_message<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    let caps = p.capabilities();
    let to = distinct(config);
    let mut texts = vec!["Hei {Kari} [Ola] ~^€|\\ æøå ÆØÅ é Ü @£$ 100%".to_owned()];
    if caps.unicode {
        texts.push("Møte ✅ kl. 10 😀 Жжж «ok»".to_owned());
    }
    let long: String = (1..)
        .flat_map(|i| format!("Del {i}, ").chars().collect::<Vec<_>>())
        .take(caps.limits.max_units(Encoding::Gsm7).min(400))
        .collect();
    if caps.limits.max_parts > 1 {
        texts.push(long.trim_end().to_owned());
    }
    let sender = "Conform";
    for (case, text) in texts.into_iter().enumerate() {
        let mut b = Message::builder().to_all(to.clone()).text(text);
        if caps.custom_sender {
            b = b.sender(Sender::Alphanumeric(sender.into()));
        }
        if caps.priority {
            b = b.priority(Priority::High);
        }
        if caps.delivery_reports {
            b = b.delivery_report(true);
        }
        if caps.client_references {
            b = b.client_reference(format!("conf-{}-{case}", nonce()));
        }
        let message = build(b);
        let before = gateway.requests_seen();
        let report = p.send(&message).await;
        assert_in_order(&report, &message);
        assert_all_accepted(&report, "a message of every field");
        let wire = wire_since(gateway, before);
        assert_eq!(
            wire.len(),
            message.recipients().len(),
            "{} recipients, {} messages on the wire: each recipient must get the message once",
            message.recipients().len(),
            wire.len()
        );
        for (i, r) in message.recipients().iter().enumerate() {
            let w = the_one_to(&wire, r, message.text());
            if caps.custom_sender {
                assert_eq!(
                    w.sender.as_deref(),
                    Some(sender),
                    "the sender did not arrive on the wire as given (to {r})"
                );
            }
            if caps.priority {
                assert_eq!(
                    w.priority,
                    Some(Priority::High.number()),
                    "the priority did not arrive on the wire (to {r})"
                );
            }
            if caps.delivery_reports {
                assert_eq!(
                    w.delivery_report,
                    Some(true),
                    "the delivery report asked for did not reach the wire (to {r})"
                );
            }
            if caps.client_references {
                assert_eq!(
                    w.client_reference,
                    message.recipient_reference(i),
                    "the client reference of recipient {} did not arrive on the wire",
                    i + 1
                );
            }
        }
    }
}

/// `send_each` on the wire: each recipient gets its own message's text,
/// once; an empty list sends nothing.
pub async fn send_each_on_the_wire<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    let messages = personalised(config, "send_each wire");
    let before = gateway.requests_seen();
    let reports = p.send_each(&messages).await;
    assert_eq!(reports.len(), messages.len(), "one report per message");
    let wire = wire_since(gateway, before);
    let expected: usize = messages.iter().map(|m| m.recipients().len()).sum();
    for m in &messages {
        for r in m.recipients() {
            the_one_to(&wire, r, m.text());
        }
    }
    assert_eq!(
        wire.len(),
        expected,
        "{expected} personalised messages, {} on the wire",
        wire.len()
    );
    let before = gateway.requests_seen();
    assert!(p.send_each(&[]).await.is_empty(), "no messages, no reports");
    assert_eq!(
        gateway.requests_seen(),
        before,
        "send_each of no messages must send no request"
    );
}

/// Each accepted outcome's reference is the one the gateway gave *that*
/// recipient's message (as its [`Wire`] records it in
/// [`WireMessage::gateway_reference`]): a reference given to the wrong
/// recipient matches every delivery report to the wrong person.
pub async fn references_are_the_gateways<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    if !p.capabilities().references {
        return;
    }
    let mut messages = personalised(config, "references");
    messages.push(build(
        Message::builder()
            .to_all(distinct(config))
            .text("Conformance references: all of them"),
    ));
    let before = gateway.requests_seen();
    let mut reports = Vec::new();
    for m in &messages[..messages.len() - 1] {
        reports.push(p.send(m).await);
    }
    reports.extend(p.send_each(&messages[messages.len() - 1..]).await);
    let wire = wire_since(gateway, before);
    assert!(
        wire.iter().any(|w| w.gateway_reference.is_some()),
        "not checked: the gateway's Wire records no references (set WireMessage::gateway_reference in its answer)"
    );
    for (m, report) in messages.iter().zip(&reports) {
        for o in report.outcomes() {
            let Outcome::Accepted {
                reference: Some(reference),
            } = &o.outcome
            else {
                panic!(
                    "{}: accepted with a reference expected: {:?}",
                    o.recipient, o.outcome
                );
            };
            let w = the_one_to(&wire, &o.recipient, m.text());
            assert_eq!(
                w.gateway_reference.as_deref(),
                Some(reference.as_str()),
                "the outcome for {} carries {reference:?}, but the gateway gave that recipient's message {:?}",
                o.recipient,
                w.gateway_reference
            );
        }
    }
}

/// On the wire, no request carries more messages than the provider's
/// `max_batch`, and the batches add up to the recipients: an adapter that
/// never splits is caught even where the gateway would take a big batch.
pub async fn batches_fit_on_the_wire<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    let max = p.capabilities().max_batch.max(1);
    let n = max
        .saturating_mul(2)
        .saturating_add(1)
        .min(MAX_CHECKED_RECIPIENTS);
    let message = build(
        Message::builder()
            .to_all(numbers(config, n))
            .text("Conformance: batches on the wire"),
    );
    let before = gateway.requests_seen();
    let report = p.send(&message).await;
    assert_in_order(&report, &message);
    let new = requests_since(gateway, before);
    for r in &new {
        let carried = W::recipients(&r.request);
        assert!(
            carried <= max,
            "a request carried {carried} messages; max_batch is {max}"
        );
    }
    let total: usize = new.iter().map(|r| W::recipients(&r.request)).sum();
    assert_eq!(
        total, n,
        "the requests must carry every recipient exactly once"
    );
}

/// Sends one message into `fault`; panics unless exactly one request
/// reached the gateway and no error shows a secret.
async fn send_into<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
    fault: Fault<W::AnswerFault>,
    settle: Duration,
) -> SendReport {
    let to = numbers(config, p.capabilities().max_batch.clamp(1, 2));
    let message = build(Message::builder().to_all(to).text("Conformance: faults"));
    let label = format!("{fault:?}");
    gateway.fail_next(fault);
    let before = gateway.requests_seen();
    let report = p.send(&message).await;
    assert_in_order(&report, &message);
    assert_no_secret_in(&report, config);
    tokio::time::sleep(settle).await;
    let seen = gateway.requests_seen() - before;
    assert_eq!(
        seen, 1,
        "{label}: {seen} requests reached the gateway; a request it answered with a fault (and may have taken) must not be sent again"
    );
    report
}

/// One meaning per HTTP status, the same as `gateway_http`'s
/// ([`Outcome::for_http_status`]): 401/403 `Rejected` as
/// `Unauthenticated` (a mailing stops instead of failing every
/// recipient), 400/413/415 `InvalidMessage`, 429 `RateLimited` with its
/// `Retry-After` kept, any 5xx `Unknown` (the gateway read the request
/// and may have taken it). Each is sent once, never retried inside `send`.
pub async fn http_statuses_mean_one_thing<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    let mut faults: Vec<(Fault<W::AnswerFault>, u16, Option<Duration>)> =
        [400, 401, 403, 413, 415, 429, 500, 502, 503, 504]
            .into_iter()
            .map(|s| (Fault::Http(s), s, None))
            .collect();
    faults.push((Fault::RetryAfter(429, 7), 429, Some(Duration::from_secs(7))));
    for (fault, status, retry_after) in faults {
        let report = send_into(p, gateway, config, fault, Duration::ZERO).await;
        let expected = Outcome::for_http_status(p.name().to_owned(), status);
        for o in report.outcomes() {
            let same = match (&expected, &o.outcome) {
                (Outcome::Rejected(a), Outcome::Rejected(b))
                | (Outcome::Unknown(a), Outcome::Unknown(b)) => a.kind() == b.kind(),
                _ => false,
            };
            assert!(
                same,
                "HTTP {status} means {expected:?} (gateway_http's rule); the provider said {:?}",
                o.outcome
            );
            if let Some(wait) = retry_after {
                assert_eq!(
                    o.outcome.error().and_then(SmsError::retry_after),
                    Some(wait),
                    "HTTP {status} with Retry-After: {} must keep the wait on the error",
                    wait.as_secs()
                );
            }
        }
    }
}

/// A request the gateway took but whose answer was lost — the connection
/// reset after the body, the answer cut off halfway, a `200 OK` nobody can
/// read, an answer later than [`Config::request_timeout`] — is `Unknown`
/// for every message (calling it rejected invites a resend that doubles
/// it) and is sent once.
pub async fn lost_answers_unknown<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    let timeout = config.request_timeout.expect(
        "not checked: Config::request_timeout is not set (give the provider's timeout, a few seconds at most)",
    );
    let late = timeout + Duration::from_millis(500);
    let faults = [
        (Fault::ResetAfterBody, Duration::ZERO),
        (Fault::TruncatedAnswer, Duration::ZERO),
        (Fault::UnreadableAnswer, Duration::ZERO),
        // A slow answer is recorded when the gateway gets round to it.
        (Fault::Slow(late), Duration::from_millis(800)),
    ];
    for (fault, settle) in faults {
        let label = format!("{fault:?}");
        let report = send_into(p, gateway, config, fault, settle).await;
        for o in report.outcomes() {
            assert!(
                matches!(o.outcome, Outcome::Unknown(_)),
                "{label}: the gateway may have the message, so it is Unknown; the provider said {:?}",
                o.outcome
            );
        }
    }
}

/// Nothing reaches the gateway after the suite's last step, within
/// [`Config::grace`]: no resend in the background of a request whose
/// answer was lost.
pub async fn no_request_after_the_last_step<W: Wire>(
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    let before = gateway.requests_seen();
    tokio::time::sleep(config.grace).await;
    let late = gateway.requests_seen() - before;
    assert_eq!(
        late, 0,
        "{late} request(s) reached the gateway within {:?} after the suite's last send (a resend in the background?)",
        config.grace
    );
}
