//! The rules that need only the provider ([`check_all`](super::check_all)).

use super::*;

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
/// with [`SmsErrorKind::TextTooLong`].
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
                Outcome::Rejected(e) => assert_eq!(e.kind(), SmsErrorKind::TextTooLong, "{e}"),
                other => panic!("a text over the limit must be rejected before sending: {other:?}"),
            }
        }
    }

    let unicode = "Møte ✅ 😀 Жжж".to_string();
    assert_eq!(preview(&unicode, &caps.limits).encoding, Encoding::Ucs2);
    let (r, _) = send(unicode).await;
    match (&r.outcomes()[0].outcome, caps.unicode) {
        (Outcome::Accepted { .. }, true) => {}
        (Outcome::Rejected(e), false) => assert_eq!(e.kind(), SmsErrorKind::UnsupportedText),
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
            Outcome::Rejected(e) => assert_eq!(e.kind(), SmsErrorKind::InvalidSender, "{e}"),
            other => panic!("an invalid sender must be refused before sending: {other:?}"),
        }
    }
}

/// A recipient the gateway refuses is rejected as
/// [`SmsErrorKind::InvalidRecipient`] and nobody else in the message is
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
                assert_eq!(e.kind(), SmsErrorKind::InvalidRecipient, "{e}");
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
        cases.push((base().delivery_report(true), SmsErrorKind::NotSupported));
    }
    if !caps.custom_sender {
        cases.push((
            base().sender(Sender::Alphanumeric("CRM".into())),
            SmsErrorKind::InvalidSender,
        ));
    }
    if !caps.scheduling {
        cases.push((
            base().send_at(SystemTime::now() + Duration::from_secs(3600)),
            SmsErrorKind::NotSupported,
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
/// rejected as [`SmsErrorKind::Duplicate`]. A false claim would make a mailing
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
        Outcome::Rejected(e) if e.kind() == SmsErrorKind::Duplicate => {}
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
