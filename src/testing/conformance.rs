//! The contract every [`SmsProvider`] must keep, checked: for this crate's
//! providers and third parties' alike.
//!
//! [`check_all`] runs the rules that need only the provider;
//! [`check_on_loopback`] adds those that read the gateway's side of the
//! wire: the adapter talks to a [`LoopbackGateway`] (its own [`Wire`], or
//! one of this crate's emulators) that records every request and plays
//! scripted faults, so the suite compares what was sent with what the
//! adapter says — each recipient once with its own exact text, sender,
//! priority, report flag and reference; each accepted outcome's reference
//! the one the gateway gave *that* recipient; batches within `max_batch`;
//! one meaning per HTTP status ([`Outcome::for_http_status`]); a lost answer
//! unknown and never resent, not even later; no secret in any error (at
//! any depth of its source chain), in `Debug` or in anything logged through
//! `tracing` during the run.
//!
//! Both return a [`SuiteReport`]: each rule by name, passed or failed with
//! what was seen; a panic inside the adapter fails the rule it happened in
//! and the others still run. [`run_all`] and [`run_on_loopback`] assert it
//! passes, for tests:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use crm_comms::sms::StubProvider;
//! use crm_comms::testing::conformance;
//!
//! let provider = StubProvider::new_ok();
//! let report = conformance::check_all(&provider, &conformance::Config::default()).await;
//! report.assert_passes();
//! // A rule the config cannot feed is listed as not run, never skipped in silence.
//! assert!(report.to_string().contains("not run"));
//! # });
//! ```
//!
//! The rules assume the provider accepts well-formed messages to the
//! configured numbers (point it at an emulator or a test account). On the
//! loopback, [`Config::refused_number`] and [`Config::request_timeout`] are
//! required: without them the rules that need them fail, saying so.
//!
//! Stable: this module follows semver (new rules may be added in minor
//! versions; a rule is never weakened without a major one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::phone::PhoneNumber;
use crate::sms::encoding::{Encoding, preview};
use crate::sms::{
    ErrorKind, Message, Outcome, Priority, SendReport, Sender, SmsError, SmsProvider,
};
use crate::testing::loopback::{Fault, LoopbackGateway, Received, Wire, WireMessage};
use crate::testing::suite::{LogCapture, SuiteReport};

/// What the checks need to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Numbers the provider will accept (the defaults when empty).
    pub numbers: Vec<PhoneNumber>,
    /// Secrets that must never appear in the provider's `Debug`, in any
    /// error or in anything it logs.
    pub secrets: Vec<String>,
    /// A valid number the gateway refuses (a landline, a number the
    /// emulator is told to refuse): [`refused_recipient`] needs it.
    /// Required on the loopback.
    pub refused_number: Option<PhoneNumber>,
    /// The provider's request timeout, short enough to test (a few
    /// seconds): [`lost_answers_unknown`] makes the gateway answer later
    /// than that and expects `Unknown`. Required on the loopback.
    pub request_timeout: Option<Duration>,
    /// How long the suite waits after its last step for a request that
    /// should never come (a resend in the background): 3 s by default.
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            numbers: ["+4790000001", "+4790000002", "+4790000003"]
                .iter()
                .map(|s| s.parse().expect("valid test number"))
                .collect(),
            secrets: Vec::new(),
            refused_number: None,
            request_timeout: None,
            grace: Duration::from_secs(3),
        }
    }
}

/// The most recipients a check sends in one message: a gateway without a
/// batch limit (`max_batch` huge, even `usize::MAX`) is checked with this
/// many, never with an overflowing count.
pub const MAX_CHECKED_RECIPIENTS: usize = 1000;

/// The longest text a check builds: a gateway whose limit is longer is
/// checked at this length (and its limit is not probed).
pub const MAX_CHECKED_TEXT: usize = 10_000;

impl Config {
    /// The secrets to look for (empty ones would match everything).
    fn secrets(&self) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// The configured numbers (the defaults when none).
fn pool(config: &Config) -> Vec<PhoneNumber> {
    if config.numbers.is_empty() {
        Config::default().numbers
    } else {
        config.numbers.clone()
    }
}

/// `n` numbers from the config, repeated as needed.
fn numbers(config: &Config, n: usize) -> Vec<PhoneNumber> {
    let pool = pool(config);
    (0..n).map(|i| pool[i % pool.len()]).collect()
}

/// The configured numbers without repeats (at most three).
fn distinct(config: &Config) -> Vec<PhoneNumber> {
    let mut out: Vec<PhoneNumber> = Vec::new();
    for n in pool(config) {
        if !out.contains(&n) && out.len() < 3 {
            out.push(n);
        }
    }
    out
}

/// A token no earlier run used (for client references).
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", nanos % 0xFFFF_FFFF_FFFF)
}

fn build(builder: crate::sms::MessageBuilder) -> Message {
    builder.build().expect("the suite builds valid messages")
}

fn assert_in_order(report: &SendReport, message: &Message) {
    let got: Vec<_> = report.outcomes().iter().map(|o| o.recipient).collect();
    assert_eq!(
        got,
        message.recipients(),
        "the report must have exactly one outcome per recipient, in the message's order"
    );
}

fn assert_all_accepted(report: &SendReport, what: &str) {
    for o in report.outcomes() {
        assert!(
            o.outcome.is_accepted(),
            "{what}: a well-formed message to {} was not accepted: {:?}",
            o.recipient,
            o.outcome
        );
    }
}

/// Where `secret` shows in `e`: its `Display`, its `Debug`, or any error
/// down its source chain.
fn secret_in_error(e: &SmsError, secret: &str) -> Option<String> {
    if format!("{e:?}").contains(secret) {
        return Some("the error's Debug".into());
    }
    let mut level: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = level {
        if err.to_string().contains(secret) || format!("{err:?}").contains(secret) {
            return Some(if depth == 0 {
                "the error's message".into()
            } else {
                format!("the error's source at depth {depth}")
            });
        }
        level = err.source();
        depth += 1;
    }
    None
}

/// Panics when an error in `report` shows one of the configured secrets.
fn assert_no_secret_in(report: &SendReport, config: &Config) {
    for secret in config.secrets() {
        for o in report.outcomes() {
            if let Some(e) = o.outcome.error()
                && let Some(place) = secret_in_error(e, secret)
            {
                panic!("a configured secret shows in {place} (kind {:?})", e.kind());
            }
        }
    }
}

/// One outcome per recipient, in order; all accepted; references when the
/// provider says it gives them.
pub async fn one_outcome_per_recipient(p: &dyn SmsProvider, config: &Config) {
    let message = build(
        Message::builder()
            .to_all(numbers(config, 3))
            .text("Conformance: one outcome each"),
    );
    let report = p.send(&message).await;
    assert_in_order(&report, &message);
    for o in report.outcomes() {
        match &o.outcome {
            Outcome::Accepted { reference } => assert!(
                reference.is_some() || !p.capabilities().references,
                "accepted without a reference although capabilities say references are given"
            ),
            other => panic!("a well-formed message was not accepted: {other:?}"),
        }
    }
}

/// A message with more recipients than the batch size is split
/// transparently (for a gateway whose batches are larger than
/// [`MAX_CHECKED_RECIPIENTS`], that many in one message).
pub async fn batches_are_split(p: &dyn SmsProvider, config: &Config) {
    let n = p
        .capabilities()
        .max_batch
        .saturating_add(3)
        .min(MAX_CHECKED_RECIPIENTS);
    let message = build(
        Message::builder()
            .to_all(numbers(config, n))
            .text("Conformance: batches"),
    );
    let report = p.send(&message).await;
    assert_in_order(&report, &message);
    assert_all_accepted(&report, "a message larger than one batch");
}

/// Unicode and long texts per capability; too long refused before sending
/// with [`ErrorKind::TextTooLong`].
pub async fn texts_per_capability(p: &dyn SmsProvider, config: &Config) {
    let caps = p.capabilities();
    let to = numbers(config, 1);
    let send = |text: String| {
        let m = build(Message::builder().to_all(to.clone()).text(text));
        async move { (p.send(&m).await, m) }
    };
    let limit = caps.limits.max_units(Encoding::Gsm7);
    let (r, m) = send("a".repeat(limit.clamp(1, MAX_CHECKED_TEXT))).await;
    assert_in_order(&r, &m);
    assert_all_accepted(&r, "a GSM-7 text of exactly the limit");

    if limit < MAX_CHECKED_TEXT {
        let (r, m) = send("a".repeat(limit + 1)).await;
        assert_in_order(&r, &m);
        for o in r.outcomes() {
            match &o.outcome {
                Outcome::Rejected(e) => assert_eq!(e.kind(), ErrorKind::TextTooLong, "{e}"),
                other => panic!("a text over the limit must be rejected before sending: {other:?}"),
            }
        }
    }

    let unicode = "Møte ✅ 😀 Жжж".to_string();
    assert_eq!(preview(&unicode, &caps.limits).encoding, Encoding::Ucs2);
    let (r, _) = send(unicode).await;
    match (&r.outcomes()[0].outcome, caps.unicode) {
        (Outcome::Accepted { .. }, true) => {}
        (Outcome::Rejected(e), false) => assert_eq!(e.kind(), ErrorKind::UnsupportedText),
        (other, unicode) => panic!("Unicode text with unicode={unicode}: {other:?}"),
    }
}

/// A sender the provider's rules refuse (one character too long) is
/// rejected before sending, for every recipient.
pub async fn invalid_sender_refused(p: &dyn SmsProvider, config: &Config) {
    let rules = p.capabilities().sender_rules;
    if rules.max_alphanumeric >= 100 {
        return; // no length a sender could exceed here
    }
    let message = build(
        Message::builder()
            .to_all(numbers(config, 2))
            .text("Conformance: sender")
            .sender(Sender::Alphanumeric("A".repeat(rules.max_alphanumeric + 1))),
    );
    let report = p.send(&message).await;
    assert_in_order(&report, &message);
    for o in report.outcomes() {
        match &o.outcome {
            Outcome::Rejected(e) => assert_eq!(e.kind(), ErrorKind::InvalidSender, "{e}"),
            other => panic!("an invalid sender must be refused before sending: {other:?}"),
        }
    }
}

/// A recipient the gateway refuses is rejected as
/// [`ErrorKind::InvalidRecipient`] and nobody else in the message is
/// affected. Needs [`Config::refused_number`].
pub async fn refused_recipient(p: &dyn SmsProvider, config: &Config) {
    let refused = config.refused_number.expect(
        "not checked: Config::refused_number is not set (give a valid number the gateway refuses)",
    );
    let mut to = distinct(config);
    to.truncate(2);
    to.insert(1.min(to.len()), refused);
    let message = build(
        Message::builder()
            .to_all(to)
            .text("Conformance: refused recipient"),
    );
    let report = p.send(&message).await;
    assert_in_order(&report, &message);
    for o in report.outcomes() {
        match &o.outcome {
            Outcome::Rejected(e) if o.recipient == refused => {
                assert_eq!(e.kind(), ErrorKind::InvalidRecipient, "{e}");
            }
            Outcome::Accepted { .. } if o.recipient != refused => {}
            other => panic!(
                "{} must be {}: {other:?}",
                o.recipient,
                if o.recipient == refused {
                    "rejected as an invalid recipient"
                } else {
                    "accepted (the refused one is in another place)"
                }
            ),
        }
    }
    assert!(report.is_partial());
}

/// A message asking for what the provider's capabilities say it cannot do
/// (a delivery report, a sender, scheduling) is refused before sending.
pub async fn unsupported_options_refused(p: &dyn SmsProvider, config: &Config) {
    let caps = p.capabilities();
    let to = numbers(config, 2);
    let base = || {
        Message::builder()
            .to_all(to.clone())
            .text("Conformance: options")
    };
    let mut cases = Vec::new();
    if !caps.delivery_reports {
        cases.push((base().delivery_report(true), ErrorKind::NotSupported));
    }
    if !caps.custom_sender {
        cases.push((
            base().sender(Sender::Alphanumeric("CRM".into())),
            ErrorKind::InvalidSender,
        ));
    }
    if !caps.scheduling {
        cases.push((
            base().send_at(SystemTime::now() + Duration::from_secs(3600)),
            ErrorKind::NotSupported,
        ));
    }
    for (builder, kind) in cases {
        let message = build(builder);
        let report = p.send(&message).await;
        assert_in_order(&report, &message);
        for o in report.outcomes() {
            match &o.outcome {
                Outcome::Rejected(e) => assert_eq!(e.kind(), kind, "{e}"),
                other => panic!("an option the provider cannot honour must be refused: {other:?}"),
            }
        }
    }
}

/// The personalised messages [`send_each_reports`] sends: a text of its own
/// to each recipient, one message with two recipients.
fn personalised(config: &Config, tag: &str) -> Vec<Message> {
    let to = distinct(config);
    let mut out: Vec<Message> = (0..3)
        .map(|i| {
            build(
                Message::builder()
                    .to(to[i % to.len()])
                    .text(format!("Conformance {tag}: Hei nummer {}", i + 1)),
            )
        })
        .collect();
    if to.len() >= 2 {
        out.push(build(
            Message::builder()
                .to_all(to[..2].iter().copied())
                .text(format!("Conformance {tag}: to both")),
        ));
    }
    out
}

/// `send_each` — what mailings use — gives one report per message, in
/// order, each with one outcome per recipient; nothing for an empty list.
pub async fn send_each_reports(p: &dyn SmsProvider, config: &Config) {
    let messages = personalised(config, "send_each");
    let reports = p.send_each(&messages).await;
    assert_eq!(
        reports.len(),
        messages.len(),
        "send_each must give one report per message"
    );
    for (m, r) in messages.iter().zip(&reports) {
        assert_in_order(r, m);
        assert_all_accepted(r, "send_each");
    }
    assert!(
        p.send_each(&[]).await.is_empty(),
        "send_each of no messages must give no reports"
    );
}

/// A claim that the gateway refuses a repeated client reference
/// ([`Capabilities::rejects_duplicates`](crate::sms::Capabilities::rejects_duplicates))
/// is tested: the same reference sent twice is accepted once, then
/// rejected as [`ErrorKind::Duplicate`]. A false claim would make a mailing
/// resend every unknown recipient.
pub async fn duplicates_refused_as_claimed(p: &dyn SmsProvider, config: &Config) {
    let caps = p.capabilities();
    if caps.rejects_duplicates.is_none() {
        return;
    }
    assert!(
        caps.client_references,
        "the capabilities claim the gateway refuses a repeated client reference, but say client references never reach it"
    );
    let message = build(
        Message::builder()
            .to_all(numbers(config, 1))
            .text("Conformance: duplicate")
            .client_reference(format!("conf-dup-{}", nonce())),
    );
    let first = p.send(&message).await;
    assert_all_accepted(&first, "the first send of a reference");
    let second = p.send(&message).await;
    assert_in_order(&second, &message);
    match &second.outcomes()[0].outcome {
        Outcome::Rejected(e) if e.kind() == ErrorKind::Duplicate => {}
        other => panic!(
            "the capabilities claim the gateway refuses a repeated client reference, but the second send got {other:?}"
        ),
    }
}

/// No configured secret appears in the provider's `Debug` or in any error
/// (message, `Debug`, or any error down the source chain) — of a refusal
/// before sending and, with [`Config::refused_number`], of the gateway's.
pub async fn secrets_redacted(p: &dyn SmsProvider, config: &Config) {
    let debug = format!("{p:?}");
    for secret in config.secrets() {
        assert!(
            !debug.contains(secret),
            "the provider's Debug shows a secret"
        );
    }
    let too_long = build(
        Message::builder().to_all(numbers(config, 1)).text(
            "x".repeat(
                MAX_CHECKED_TEXT.min(
                    p.capabilities()
                        .limits
                        .max_units(Encoding::Gsm7)
                        .saturating_add(1),
                ),
            ),
        ),
    );
    assert_no_secret_in(&p.send(&too_long).await, config);
    if let Some(refused) = config.refused_number {
        let m = build(Message::builder().to(refused).text("Conformance: secrets"));
        assert_no_secret_in(&p.send(&m).await, config);
    }
}

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

/// Every check of [`check_on_loopback`]; panics naming every rule broken.
pub async fn run_on_loopback<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    check_on_loopback(p, gateway, config).await.assert_passes();
}

/// Every check of [`check_all`]; panics naming every rule broken.
pub async fn run_all(p: &dyn SmsProvider, config: &Config) {
    check_all(p, config).await.assert_passes();
}

/// The rules that need only the provider.
async fn provider_rules(
    r: &mut SuiteReport,
    p: &dyn SmsProvider,
    config: &Config,
    on_loopback: bool,
) {
    r.rule(
        "one outcome per recipient, in order",
        one_outcome_per_recipient(p, config),
    )
    .await;
    r.rule("batches are split", batches_are_split(p, config))
        .await;
    r.rule(
        "texts as the capabilities say",
        texts_per_capability(p, config),
    )
    .await;
    r.rule(
        "an invalid sender is refused",
        invalid_sender_refused(p, config),
    )
    .await;
    const REFUSED: &str = "a refused recipient is rejected alone";
    if config.refused_number.is_some() || on_loopback {
        r.rule(REFUSED, refused_recipient(p, config)).await;
    } else {
        r.not_run(REFUSED, "Config::refused_number is not set");
    }
    r.rule(
        "unsupported options are refused",
        unsupported_options_refused(p, config),
    )
    .await;
    r.rule(
        "send_each: one report per message",
        send_each_reports(p, config),
    )
    .await;
    r.rule(
        "a claim of refusing duplicates holds",
        duplicates_refused_as_claimed(p, config),
    )
    .await;
    r.rule("no secret in Debug or errors", secrets_redacted(p, config))
        .await;
}

/// The rule that reads what was logged.
fn logged_rule(r: &mut SuiteReport, logs: &LogCapture, config: &Config) {
    let text = logs.text();
    let leak = config.secrets().find(|s| text.contains(s));
    r.rules.push((
        "nothing logged shows a secret",
        match leak {
            None => Ok(()),
            Some(secret) => {
                let line = text
                    .lines()
                    .find(|l| l.contains(secret))
                    .unwrap_or("")
                    .replace(secret, "***");
                Err(format!(
                    "a configured secret was logged through tracing: {line}"
                ))
            }
        },
    ));
}

/// Every rule that needs only the provider, each rule's result by name: a
/// rule the provider breaks — or a panic inside the provider — fails that
/// rule, and the others still run. [`refused_recipient`] is listed as not
/// run without [`Config::refused_number`].
pub async fn check_all(p: &dyn SmsProvider, config: &Config) -> SuiteReport {
    let logs = LogCapture::default();
    let mut r = SuiteReport::default();
    logs.run(provider_rules(&mut r, p, config, false)).await;
    logged_rule(&mut r, &logs, config);
    r
}

/// [`check_all`]'s rules and the wire's, against `gateway`, which the
/// provider must be configured to talk to. Every rule runs:
/// [`Config::refused_number`] and [`Config::request_timeout`] are
/// required, and the rules that need them fail without them.
pub async fn check_on_loopback<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) -> SuiteReport {
    let logs = LogCapture::default();
    let mut r = SuiteReport::default();
    logs.run(async {
        provider_rules(&mut r, p, config, true).await;
        r.rule(
            "each message arrives once, intact",
            wire_carries_each_message(p, gateway, config),
        )
        .await;
        r.rule(
            "send_each: each text to its own recipient",
            send_each_on_the_wire(p, gateway, config),
        )
        .await;
        r.rule(
            "references are the gateway's, per recipient",
            references_are_the_gateways(p, gateway, config),
        )
        .await;
        r.rule(
            "batches fit on the wire",
            batches_fit_on_the_wire(p, gateway, config),
        )
        .await;
        r.rule(
            "one meaning per HTTP status",
            http_statuses_mean_one_thing(p, gateway, config),
        )
        .await;
        r.rule(
            "a lost answer is unknown and not resent",
            lost_answers_unknown(p, gateway, config),
        )
        .await;
        r.rule(
            "no request after the last step",
            no_request_after_the_last_step(gateway, config),
        )
        .await;
    })
    .await;
    logged_rule(&mut r, &logs, config);
    r
}
