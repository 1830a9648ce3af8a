//! Checks every [`SmsProvider`] must pass, for this crate's providers and
//! third parties' alike.
//!
//! Each check is an async function that panics (with a message saying
//! which rule was broken) when the provider breaks the contract, so it is
//! called from a test:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use crm_comms::sms::StubProvider;
//! use crm_comms::testing::conformance;
//!
//! let provider = StubProvider::new_ok();
//! conformance::run_all(&provider, &conformance::Config::default()).await;
//! # });
//! ```
//!
//! The checks assume the provider accepts well-formed messages to the
//! configured numbers (point it at an emulator or a test account).
//!
//! [`run_on_loopback`] adds the checks that need the gateway's side of the
//! wire: the adapter talks to a [`LoopbackGateway`] (its own [`Wire`], or
//! one of this crate's emulators) that records every request and plays
//! scripted faults, so the suite sees what the adapter really sent — a
//! batch never split, a timeout reported as rejected, a resend of a
//! request the gateway may have taken, a key in an error.

use crate::phone::PhoneNumber;
use crate::sms::encoding::{Encoding, preview};
use crate::sms::{ErrorKind, Message, Outcome, SendReport, Sender, SmsProvider};
use crate::testing::loopback::{Fault, LoopbackGateway, Wire};
use crate::testing::suite::SuiteReport;

/// What the checks need to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Numbers the provider will accept (the defaults when empty).
    pub numbers: Vec<PhoneNumber>,
    /// Secrets that must never appear in the provider's `Debug` or in any
    /// error message.
    pub secrets: Vec<String>,
    /// A valid number the gateway refuses (a landline, a number the
    /// emulator is told to refuse), if there is one; the
    /// [`refused_recipient`] check needs it.
    pub refused_number: Option<PhoneNumber>,
    /// The provider's request timeout, if it is short enough to test (a
    /// few seconds): [`transport_faults_classified`] then makes the gateway
    /// answer later than that and expects `Unknown`.
    pub request_timeout: Option<std::time::Duration>,
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
        }
    }
}

/// `n` numbers from the config, repeated as needed; the default numbers
/// when the config gives none.
fn numbers(config: &Config, n: usize) -> Vec<PhoneNumber> {
    let defaults;
    let pool = if config.numbers.is_empty() {
        defaults = Config::default().numbers;
        &defaults
    } else {
        &config.numbers
    };
    (0..n).map(|i| pool[i % pool.len()]).collect()
}

fn assert_in_order(report: &SendReport, message: &Message, rule: &str) {
    let got: Vec<_> = report.outcomes().iter().map(|o| o.recipient).collect();
    assert_eq!(
        got,
        message.recipients(),
        "{rule}: the report must have exactly one outcome per recipient, in order"
    );
}

/// One outcome per recipient, in order; all accepted; references when the
/// provider says it gives them.
pub async fn one_outcome_per_recipient(p: &dyn SmsProvider, config: &Config) {
    let message = Message::builder()
        .to_all(numbers(config, 3))
        .text("Conformance: one outcome each")
        .build()
        .expect("valid message");
    let report = p.send(&message).await;
    assert_in_order(&report, &message, "one_outcome_per_recipient");
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

/// The most recipients a check sends in one message: a gateway without a
/// batch limit (`max_batch` huge, even `usize::MAX`) is checked with this
/// many, never with an overflowing count.
pub const MAX_CHECKED_RECIPIENTS: usize = 1000;

/// A message with more recipients than the batch size is split
/// transparently (for a gateway whose batches are larger than
/// [`MAX_CHECKED_RECIPIENTS`], that many in one message).
pub async fn batches_are_split(p: &dyn SmsProvider, config: &Config) {
    let n = p
        .capabilities()
        .max_batch
        .saturating_add(3)
        .min(MAX_CHECKED_RECIPIENTS);
    let message = Message::builder()
        .to_all(numbers(config, n))
        .text("Conformance: batches")
        .build()
        .expect("valid message");
    let report = p.send(&message).await;
    assert_in_order(&report, &message, "batches_are_split");
    assert!(
        report.all_accepted(),
        "every recipient of a large batch must be accepted"
    );
}

/// Unicode and long texts per capability; too long refused before sending.
pub async fn texts_per_capability(p: &dyn SmsProvider, config: &Config) {
    let caps = p.capabilities();
    let to = numbers(config, 1);
    let send = |text: String| {
        let m = Message::builder()
            .to_all(to.clone())
            .text(text)
            .build()
            .expect("valid");
        async move { (p.send(&m).await, m) }
    };
    let longest = "a".repeat(caps.limits.max_units(Encoding::Gsm7));
    let (r, m) = send(longest).await;
    assert_in_order(&r, &m, "texts_per_capability");
    assert!(
        r.all_accepted(),
        "a GSM-7 text of exactly the limit must be accepted"
    );

    let (r, m) = send("a".repeat(caps.limits.max_units(Encoding::Gsm7) + 1)).await;
    assert_in_order(&r, &m, "texts_per_capability");
    for o in r.outcomes() {
        match &o.outcome {
            Outcome::Rejected(e) => assert_eq!(e.kind(), ErrorKind::TextTooLong, "{e}"),
            other => panic!("a text over the limit must be rejected before sending: {other:?}"),
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

/// A sender the provider's rules refuse is rejected before sending, for
/// every recipient.
pub async fn invalid_sender_refused(p: &dyn SmsProvider, config: &Config) {
    let rules = p.capabilities().sender_rules;
    // Longer than the limit but otherwise plain.
    let name = "A".repeat(rules.max_alphanumeric + 1);
    let message = Message::builder()
        .to_all(numbers(config, 2))
        .text("Conformance: sender")
        .sender(Sender::Alphanumeric(name))
        .build()
        .expect("valid message");
    let report = p.send(&message).await;
    assert_in_order(&report, &message, "invalid_sender_refused");
    for o in report.outcomes() {
        match &o.outcome {
            Outcome::Rejected(e) => assert_eq!(e.kind(), ErrorKind::InvalidSender, "{e}"),
            other => panic!("an invalid sender must be refused before sending: {other:?}"),
        }
    }
}

/// A recipient the gateway refuses is rejected as
/// [`ErrorKind::InvalidRecipient`] and nobody else in the message is
/// affected. Skipped without [`Config::refused_number`].
pub async fn refused_recipient(p: &dyn SmsProvider, config: &Config) {
    let Some(refused) = config.refused_number else {
        return;
    };
    let mut to = numbers(config, 2);
    to.insert(1, refused);
    let message = Message::builder()
        .to_all(to)
        .text("Conformance: refused recipient")
        .build()
        .expect("valid message");
    let report = p.send(&message).await;
    assert_in_order(&report, &message, "refused_recipient");
    let o = report.outcomes();
    assert!(
        o[0].outcome.is_accepted() && o[2].outcome.is_accepted(),
        "the other recipients must be accepted: {o:?}"
    );
    match &o[1].outcome {
        Outcome::Rejected(e) => assert_eq!(e.kind(), ErrorKind::InvalidRecipient, "{e}"),
        other => panic!("a refused recipient must be rejected: {other:?}"),
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
            base().send_at(std::time::SystemTime::now() + std::time::Duration::from_secs(3600)),
            ErrorKind::NotSupported,
        ));
    }
    for (builder, kind) in cases {
        let message = builder.build().expect("valid message");
        let report = p.send(&message).await;
        assert_in_order(&report, &message, "unsupported_options_refused");
        for o in report.outcomes() {
            match &o.outcome {
                Outcome::Rejected(e) => assert_eq!(e.kind(), kind, "{e}"),
                other => panic!("an option the provider cannot honour must be refused: {other:?}"),
            }
        }
    }
}

/// No configured secret appears in the provider's `Debug` or in any error.
pub async fn secrets_redacted(p: &dyn SmsProvider, config: &Config) {
    let debug = format!("{p:?}");
    let message = Message::builder()
        .to_all(numbers(config, 1))
        .text("x".repeat(5000))
        .build()
        .expect("valid message");
    let report = p.send(&message).await;
    for secret in config.secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !debug.contains(secret.as_str()),
            "the provider's Debug shows a secret"
        );
        for o in report.outcomes() {
            if let Some(e) = o.outcome.error() {
                assert!(
                    !e.to_string().contains(secret.as_str()),
                    "an error shows a secret"
                );
                assert!(
                    !format!("{e:?}").contains(secret.as_str()),
                    "an error's Debug shows a secret"
                );
            }
        }
    }
}

/// Panics when an error in `report` shows one of the configured secrets.
fn assert_no_secret_in(report: &SendReport, config: &Config, rule: &str) {
    for secret in config.secrets.iter().filter(|s| !s.is_empty()) {
        for o in report.outcomes() {
            if let Some(e) = o.outcome.error() {
                assert!(
                    !e.to_string().contains(secret.as_str())
                        && !format!("{e:?}").contains(secret.as_str()),
                    "{rule}: an error shows a secret"
                );
            }
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
    let message = Message::builder()
        .to_all(numbers(config, n))
        .text("Conformance: batches on the wire")
        .build()
        .expect("valid message");
    let before = gateway.requests_seen();
    let report = p.send(&message).await;
    assert_in_order(&report, &message, "batches_fit_on_the_wire");
    let requests = (gateway.requests_seen() - before) as usize;
    let received = gateway.received();
    let new = &received[received.len().saturating_sub(requests)..];
    for r in new {
        let carried = W::recipients(&r.request);
        assert!(
            carried <= max,
            "batches_fit_on_the_wire: a request carried {carried} messages; max_batch is {max}"
        );
    }
    let total: usize = new.iter().map(|r| W::recipients(&r.request)).sum();
    assert_eq!(
        total, n,
        "batches_fit_on_the_wire: the requests must carry every recipient exactly once"
    );
}

/// What a fault on the wire means for the messages: a refusal the gateway
/// states (401, 429) is `Rejected`; a 5xx is `Unknown` (the gateway failed
/// after reading the request and may have taken it: `gateway_http`'s rule); a
/// connection reset after the request was sent, an answer cut off halfway
/// and (with [`Config::request_timeout`]) an answer later than the timeout
/// are `Unknown` — the gateway may have the messages, so calling them
/// rejected invites a resend that doubles them. None of these is retried
/// inside `send` (exactly one request reaches the gateway: each may have
/// been taken). No error shows a secret.
pub async fn transport_faults_classified<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Expect {
        Rejected,
        Unknown,
    }
    let mut cases: Vec<(Fault<W::AnswerFault>, Expect)> = vec![
        (Fault::Http(401), Expect::Rejected),
        (Fault::Http(429), Expect::Rejected),
        (Fault::Http(500), Expect::Unknown),
        (Fault::Http(503), Expect::Unknown),
        (Fault::ResetAfterBody, Expect::Unknown),
        (Fault::TruncatedAnswer, Expect::Unknown),
    ];
    if let Some(timeout) = config.request_timeout {
        cases.push((
            Fault::Slow(timeout + std::time::Duration::from_millis(500)),
            Expect::Unknown,
        ));
    }
    let to = numbers(config, p.capabilities().max_batch.clamp(1, 2));
    for (fault, expect) in cases {
        let message = Message::builder()
            .to_all(to.clone())
            .text("Conformance: faults")
            .build()
            .expect("valid message");
        let label = format!("{fault:?}");
        // A slow answer is recorded when the gateway gets round to it.
        let settle = match &fault {
            Fault::Slow(_) => std::time::Duration::from_millis(800),
            _ => std::time::Duration::ZERO,
        };
        gateway.fail_next(fault);
        let before = gateway.requests_seen();
        let report = p.send(&message).await;
        let rule = format!("transport_faults_classified ({label})");
        assert_in_order(&report, &message, &rule);
        assert_no_secret_in(&report, config, &rule);
        tokio::time::sleep(settle).await;
        assert_eq!(
            gateway.requests_seen() - before,
            1,
            "{rule}: a request the gateway answered with a fault (and may have taken) must not be sent again"
        );
        for o in report.outcomes() {
            match (expect, &o.outcome) {
                (Expect::Rejected, Outcome::Rejected(_))
                | (Expect::Unknown, Outcome::Unknown(_)) => {}
                (_, other) => panic!("{rule}: expected {expect:?}, the provider said {other:?}"),
            }
        }
    }
}

/// Every check of [`run_all`], and the wire checks against `gateway`,
/// which the provider must be configured to talk to; panics naming every
/// rule broken.
pub async fn run_on_loopback<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    check_on_loopback(p, gateway, config).await.assert_passes();
}

/// Every check above; panics naming every rule broken.
pub async fn run_all(p: &dyn SmsProvider, config: &Config) {
    check_all(p, config).await.assert_passes();
}

/// Every check above, each rule's result by name: a rule the provider
/// breaks — or a panic inside the provider — fails that rule, and the
/// others still run.
pub async fn check_all(p: &dyn SmsProvider, config: &Config) -> SuiteReport {
    let mut r = SuiteReport::default();
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
    r.rule(
        "a refused recipient is rejected alone",
        refused_recipient(p, config),
    )
    .await;
    r.rule(
        "unsupported options are refused",
        unsupported_options_refused(p, config),
    )
    .await;
    r.rule("no secret is shown", secrets_redacted(p, config))
        .await;
    r
}

/// [`check_all`] and the wire checks against `gateway`.
pub async fn check_on_loopback<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) -> SuiteReport {
    let mut r = check_all(p, config).await;
    r.rule(
        "batches fit on the wire",
        batches_fit_on_the_wire(p, gateway, config),
    )
    .await;
    r.rule(
        "transport faults are classified (5xx unknown)",
        transport_faults_classified(p, gateway, config),
    )
    .await;
    r
}
