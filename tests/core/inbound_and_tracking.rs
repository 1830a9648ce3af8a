//! Routing incoming SMS by "SMS endpoint" code, and matching delivery
//! reports to sent messages.

use std::sync::{Arc, Mutex};

use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed, SmsEndpoint, first_word};
use crm_comms::sms::tracking::{DeliveryEvent, DeliveryTracker, MemorySentStore, SentStore};
use crm_comms::sms::{
    DeliveryReceipt, DeliveryState, IncomingMessage, Message, Outcome, SmsError, SmsErrorKind,
    SmsProvider, StubProvider,
};

#[test]
fn endpoint_codes_parse_and_print_back() {
    for (code, keyword, number) in [
        ("TILBUD", Some("TILBUD"), None),
        ("blåbær", Some("blåbær"), None),
        ("26112", None, Some("26112")),
        ("+4759443671", None, Some("4759443671")),
        ("TILBUD@26112", Some("TILBUD"), Some("26112")),
        (" Kodeord @ 1960 ", Some("Kodeord"), Some("1960")),
    ] {
        let e: SmsEndpoint = code.parse().unwrap();
        assert_eq!(e.keyword(), keyword, "{code}");
        assert_eq!(e.number(), number, "{code}");
        let again: SmsEndpoint = e.to_string().parse().unwrap();
        assert_eq!(again, e, "{code} round-trips");
    }
}

#[test]
fn bad_endpoint_codes_say_what_is_wrong() {
    for (code, reason) in [
        ("", "is empty"),
        (
            "two words",
            "the keyword must be one word of letters and digits",
        ),
        ("TILBUD@", "the number must be 1 to 15 digits"),
        ("@1960", "the keyword is empty"),
        ("TILBUD@19a0", "the number must be 1 to 15 digits"),
        ("HEI!", "the keyword must be one word of letters and digits"),
    ] {
        let err: SmsError = code.parse::<SmsEndpoint>().unwrap_err();
        assert_eq!(err.kind(), SmsErrorKind::InvalidConfig, "{code:?}");
        assert_eq!(
            err.to_string(),
            format!("SMS endpoint {:?}: {reason}", code.trim()),
            "{code:?}"
        );
    }
    let e: SmsEndpoint = serde_json::from_str("\"TILBUD@26112\"").unwrap();
    assert_eq!(serde_json::to_string(&e).unwrap(), "\"TILBUD@26112\"");
    assert!(serde_json::from_str::<SmsEndpoint>("\"a b\"").is_err());
}

#[test]
fn the_first_word_tolerates_whitespace_and_punctuation() {
    for (text, expected) in [
        ("TILBUD ja takk", Some(("TILBUD", "ja takk"))),
        ("  tilbud   ja takk  ", Some(("tilbud", "ja takk"))),
        ("Tilbud: ja", Some(("Tilbud", "ja"))),
        ("«Blåbær», sa hun.", Some(("Blåbær", "sa hun."))),
        ("...STOPP!!!", Some(("STOPP", ""))),
        ("Øl\nto stk", Some(("Øl", "to stk"))),
        ("TILBUD \"sitat\"", Some(("TILBUD", "\"sitat\""))),
        ("  !!! ", None),
        ("", None),
    ] {
        assert_eq!(first_word(text), expected, "{text:?}");
    }
}

fn mo(text: &str, to: &str) -> IncomingMessage {
    let mut m = IncomingMessage::new("test", "m-1", "4741000001", text);
    m.to = Some(to.into());
    m
}

type Log = Arc<Mutex<Vec<(String, Routed)>>>;

fn recorder(
    log: &Log,
    name: &'static str,
) -> impl Fn(Routed) -> futures_ready::Ready + Send + Sync + use<> {
    let log = log.clone();
    move |m: Routed| {
        log.lock().unwrap().push((name.to_owned(), m));
        futures_ready::Ready(Some(Ok(())))
    }
}

/// A ready future, so handlers need no runtime.
mod futures_ready {
    use crm_comms::sms::inbound::HandlerError;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Ready(pub Option<Result<(), HandlerError>>);

    impl Future for Ready {
        type Output = Result<(), HandlerError>;
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Ready(self.0.take().unwrap_or(Ok(())))
        }
    }
}

fn router(log: &Log) -> InboundRouter {
    InboundRouter::new(recorder(log, "fallback"))
        .route("TILBUD".parse().unwrap(), recorder(log, "offer"))
        .route(
            "TILBUD@26112".parse().unwrap(),
            recorder(log, "offer-26112"),
        )
        .route("blåbær".parse().unwrap(), recorder(log, "berries"))
        .route("1960".parse().unwrap(), recorder(log, "short-1960"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn messages_reach_the_most_specific_handler_with_the_keyword_removed() {
    let log: Log = Arc::default();
    let r = router(&log);
    let cases = [
        (
            "tilbud ja takk",
            "4759443671",
            "offer",
            Some("tilbud"),
            "ja takk",
        ),
        (
            "TILBUD: ja takk",
            "26112",
            "offer-26112",
            Some("TILBUD"),
            "ja takk",
        ),
        ("BLÅBÆR 2 kg", "26112", "berries", Some("BLÅBÆR"), "2 kg"),
        ("hei der", "1960", "short-1960", None, "hei der"),
        ("tilbud nå", "1960", "offer", Some("tilbud"), "nå"),
        ("hei der", "26112", "fallback", None, "hei der"),
        ("  ", "26112", "fallback", None, ""),
    ];
    rt().block_on(async {
        for (text, to, _, _, _) in cases {
            r.dispatch(mo(text, to)).await.unwrap();
        }
    });
    let log = log.lock().unwrap();
    assert_eq!(log.len(), cases.len(), "every message reached one handler");
    for ((name, routed), (text, _, handler, keyword, stripped)) in log.iter().zip(cases) {
        assert_eq!(name, handler, "{text:?}");
        assert_eq!(routed.keyword.as_deref(), keyword, "{text:?}");
        assert_eq!(routed.text, stripped, "{text:?}");
        assert_eq!(routed.from.unwrap().e164(), "+4741000001");
        assert_eq!(routed.message.text, text, "the original text is kept");
    }
    assert_eq!(log[5].1.endpoint, None);
    assert_eq!(
        log[1]
            .1
            .endpoint
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("TILBUD@26112")
    );
}

#[test]
fn the_gateways_own_keyword_and_stripped_text_win() {
    let log: Log = Arc::default();
    let r = router(&log);
    let mut m = mo("Tilbud Ja", "1960");
    m.keyword = Some("TILBUD".into());
    m.stripped_text = Some("Ja".into());
    m.session_id = Some("s-42".into());
    // The gateway routed by a keyword that is not the first word.
    let mut other = mo("Hei! blåbær takk", "26112");
    other.keyword = Some("blåbær".into());
    rt().block_on(async {
        r.dispatch(m).await.unwrap();
        r.dispatch(other).await.unwrap();
    });
    let log = log.lock().unwrap();
    assert_eq!(log[0].0, "offer");
    assert_eq!(log[0].1.text, "Ja");
    assert_eq!(log[0].1.session_id(), Some("s-42"));
    assert_eq!(log[0].1.id(), "m-1");
    assert_eq!(log[1].0, "berries");
    assert_eq!(
        log[1].1.text, "Hei! blåbær takk",
        "no stripped text given: all of it"
    );
}

#[test]
fn a_handler_error_reaches_the_caller() {
    let r = InboundRouter::new(|_: Routed| async { Err(HandlerError::from("database down")) });
    let err = rt().block_on(r.dispatch(mo("hei", "1960"))).unwrap_err();
    assert_eq!(err.to_string(), "database down");
    let routed = r.resolve(mo("hei", "1960"));
    assert_eq!(routed.endpoint, None);
}

fn three(reference: Option<&str>) -> Message {
    let mut b = Message::builder()
        .to_all(["+4741000001", "+4741000002", "+4741000003"].map(|n| n.parse().unwrap()))
        .text("Hei");
    if let Some(r) = reference {
        b = b.client_reference(r);
    }
    b.build().unwrap()
}

#[test]
fn delivery_reports_are_matched_by_reference_then_client_reference() {
    rt().block_on(async {
        let provider = StubProvider::new_ok();
        let store = Arc::new(MemorySentStore::new());
        let tracker = DeliveryTracker::with_store(store.clone());
        let message = three(Some("case-9"));
        let report = provider.send(&message).await;
        assert_eq!(
            tracker.record("case-9", &message, &report).await.unwrap(),
            3
        );
        assert_eq!(store.len(), 3);

        let second = report.outcomes()[1].outcome.reference().unwrap().to_owned();
        let mut dr = DeliveryReceipt::new("stub", &second, DeliveryState::Expired, "361");
        dr.description = Some("validity expired".into());
        let e = tracker.on_receipt(dr).await.unwrap().unwrap();
        let sent = e.sent.clone().unwrap();
        assert_eq!(sent.key, "case-9");
        assert_eq!(sent.client_reference.as_deref(), Some("case-9-2"));
        assert_eq!(e.recipient().unwrap().e164(), "+4741000002");
        assert_eq!(e.state(), DeliveryState::Expired);
        assert_eq!(e.reason(), Some("validity expired"));

        // No reference in the report, only the echoed client reference.
        let mut dr = DeliveryReceipt::new("stub", "", DeliveryState::Delivered, "0");
        dr.client_reference = Some("case-9-3".into());
        let e = tracker.on_receipt(dr).await.unwrap().unwrap();
        assert_eq!(e.recipient().unwrap().e164(), "+4741000003");
        assert_eq!(e.reason(), None);

        // A report nobody recorded is still an event.
        let mut dr = DeliveryReceipt::new(
            "stub",
            "unknown-ref",
            DeliveryState::Failed { permanent: true },
            "351",
        );
        dr.recipient = Some("+4741000009".parse().unwrap());
        let e = tracker.on_receipt(dr).await.unwrap().unwrap();
        assert_eq!(e.sent, None);
        assert_eq!(e.recipient().unwrap().e164(), "+4741000009");
        assert_eq!(e.reason(), Some("351"));
    });
}

#[test]
fn only_recipients_accepted_with_a_reference_are_recorded() {
    rt().block_on(async {
        let provider = StubProvider::scripted(|r| {
            if r.e164().ends_with('2') {
                Outcome::Rejected(crm_comms::sms::SmsError::new(
                    crm_comms::sms::SmsErrorKind::InvalidRecipient,
                    "stub",
                    "no",
                ))
            } else {
                Outcome::Accepted { reference: None }
            }
        });
        let tracker = DeliveryTracker::new(MemorySentStore::new());
        let message = three(None);
        let report = provider.send(&message).await;
        assert_eq!(tracker.record("k", &message, &report).await.unwrap(), 0);
    });
}

#[test]
fn client_references_stay_unique_across_batches() {
    let recipients: Vec<_> = (0..250)
        .map(|i| format!("+479{i:07}").parse().unwrap())
        .collect();
    let m = Message::builder()
        .to_all(recipients)
        .text("Hei")
        .client_reference("bulk")
        .build()
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for start in (0..250).step_by(100) {
        let batch = m.batch(start, 100).unwrap();
        for i in 0..batch.recipients().len() {
            assert!(seen.insert(batch.recipient_reference(i).unwrap()));
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(seen.contains("bulk-250"));
    assert_eq!(
        m.batch(0, 1).unwrap().recipient_reference(0).as_deref(),
        Some("bulk-1")
    );
}

#[test]
fn the_memory_store_forgets_the_oldest_beyond_its_capacity() {
    rt().block_on(async {
        let store = MemorySentStore::with_capacity(2);
        let tracker_store: Arc<dyn SentStore> = Arc::new(store);
        let tracker = DeliveryTracker::with_store(tracker_store.clone());
        let message = three(Some("c"));
        let report = StubProvider::new_ok().send(&message).await;
        tracker.record("k", &message, &report).await.unwrap();
        let first = report.outcomes()[0].outcome.reference().unwrap();
        let last = report.outcomes()[2].outcome.reference().unwrap();
        assert!(tracker_store.by_reference(first).await.unwrap().is_none());
        assert!(tracker_store.by_reference(last).await.unwrap().is_some());
        assert!(
            tracker_store
                .by_client_reference("c-1", None)
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn the_settings_sms_endpoint_is_a_routing_code() {
    let settings = |code: &str| -> crm_comms::settings::SmsSettings {
        serde_json::from_value(serde_json::json!({
            "provider": "pswincom", "sms_endpoint": code,
            "pswin_username": "crm", "pswin_password": "pw"
        }))
        .unwrap()
    };
    let s = settings("TILBUD@26112");
    s.validate().unwrap();
    assert_eq!(s.endpoint().unwrap().unwrap().to_string(), "TILBUD@26112");
    assert_eq!(settings(" ").endpoint().unwrap(), None);
    let err = settings("two words").validate().unwrap_err();
    assert_eq!(err.field, "sms_endpoint");
    assert_eq!(
        err.to_string(),
        "SMS setting `sms_endpoint`: SMS endpoint \"two words\": the keyword must be one word of letters and digits"
    );
}

/// A gateway whose delivery reports reach the tracker while the send is
/// still in flight (as real gateways' and the emulators' do).
#[derive(Debug)]
struct ReportsMidSend {
    inner: StubProvider,
    tracker: DeliveryTracker,
    /// Whether the reports echo the client reference (Intelecom) or carry
    /// only the gateway's reference (`PSWinCom`).
    echo_client_reference: bool,
    /// Events `on_receipt` returned straight away.
    direct: Arc<Mutex<Vec<DeliveryEvent>>>,
}

#[async_trait::async_trait]
impl SmsProvider for ReportsMidSend {
    fn name(&self) -> &'static str {
        "stub"
    }
    fn capabilities(&self) -> crm_comms::sms::Capabilities {
        self.inner.capabilities()
    }
    async fn send(&self, message: &Message) -> crm_comms::sms::SendReport {
        let report = self.inner.send(message).await;
        for (i, o) in report.outcomes().iter().enumerate() {
            let mut dr = DeliveryReceipt::new(
                "stub",
                o.outcome.reference().unwrap(),
                DeliveryState::Delivered,
                "0",
            );
            if self.echo_client_reference {
                dr.client_reference = message.recipient_reference(i);
                dr.recipient = Some(o.recipient);
            }
            if let Some(e) = self.tracker.on_receipt(dr).await.unwrap() {
                self.direct.lock().unwrap().push(e);
            }
        }
        report
    }
}

fn collecting() -> (
    Arc<Mutex<Vec<DeliveryEvent>>>,
    Arc<dyn crm_comms::sms::tracking::DeliveryHandler>,
) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let handler = move |e: DeliveryEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(e);
            Ok::<(), HandlerError>(())
        }
    };
    (got, Arc::new(handler))
}

/// Issue 19, item 1: a report that arrives before the send returned is
/// matched, whether it echoes the client reference or only the gateway's
/// reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_that_beat_the_send_are_still_matched() {
    for echo in [true, false] {
        let store = Arc::new(MemorySentStore::new());
        let tracker = DeliveryTracker::with_store(store.clone());
        let (late, handler) = collecting();
        tracker.deliver_held_to(handler);
        let direct = Arc::new(Mutex::new(Vec::new()));
        let provider = ReportsMidSend {
            inner: StubProvider::new_ok(),
            tracker: tracker.clone(),
            echo_client_reference: echo,
            direct: direct.clone(),
        };
        // No client reference of its own: the tracker makes one.
        let report = tracker
            .send("mailing-1", &provider, &three(None))
            .await
            .unwrap();
        assert!(report.all_accepted());
        let mut events = direct.lock().unwrap().clone();
        events.extend(late.lock().unwrap().iter().cloned());
        assert_eq!(events.len(), 3, "echo {echo}: {events:?}");
        for e in &events {
            let sent = e
                .sent
                .as_ref()
                .unwrap_or_else(|| panic!("echo {echo}: unmatched {e:?}"));
            assert_eq!(sent.key, "mailing-1");
            assert_eq!(
                sent.reference.as_deref(),
                Some(e.receipt.reference.as_str())
            );
        }
        if echo {
            // Matched against the records made before the send.
            assert_eq!(direct.lock().unwrap().len(), 3);
        } else {
            // Held, then handed on by `record`.
            assert_eq!(late.lock().unwrap().len(), 3);
        }
        assert_eq!(tracker.held(), 0);
        // One record per recipient: the pending ones were updated in place.
        assert_eq!(store.len(), 3);
    }
}

/// Held reports that never match are handed on unmatched after the hold
/// time; beyond `max_held` the oldest goes at once; `flush_held` empties.
#[tokio::test(flavor = "multi_thread")]
async fn held_reports_expire_unmatched_and_are_bounded() {
    let tracker = DeliveryTracker::new(MemorySentStore::new())
        .hold_unmatched(std::time::Duration::from_millis(200))
        .max_held(2);
    // Without a handler nothing is held.
    let dr = |r: &str| DeliveryReceipt::new("stub", r, DeliveryState::Delivered, "0");
    assert!(
        tracker
            .on_receipt(dr("a"))
            .await
            .unwrap()
            .unwrap()
            .sent
            .is_none()
    );
    let (got, handler) = collecting();
    tracker.deliver_held_to(handler);
    for r in ["b", "c", "d"] {
        assert!(tracker.on_receipt(dr(r)).await.unwrap().is_none());
    }
    assert_eq!(tracker.held(), 2);
    let refs = |g: &Mutex<Vec<DeliveryEvent>>| {
        g.lock()
            .unwrap()
            .iter()
            .map(|e| (e.receipt.reference.clone(), e.sent.is_some()))
            .collect::<Vec<_>>()
    };
    assert_eq!(refs(&got), [("b".to_owned(), false)], "the oldest went");
    assert_eq!(tracker.sweep().await, 0, "not yet expired");
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(tracker.sweep().await, 2);
    assert_eq!(tracker.held(), 0);
    assert_eq!(refs(&got).len(), 3);
    assert!(tracker.on_receipt(dr("e")).await.unwrap().is_none());
    assert_eq!(tracker.flush_held().await, 1);
    assert_eq!(refs(&got).last().unwrap(), &("e".to_owned(), false));
}

/// Another process recorded the send in a shared store: the sweep finds it.
#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_matches_what_another_process_recorded() {
    use crm_comms::sms::tracking::SentRecord;
    let store = Arc::new(MemorySentStore::new());
    let receiving = DeliveryTracker::with_store(store.clone());
    let (got, handler) = collecting();
    receiving.deliver_held_to(handler);
    let dr = DeliveryReceipt::new("stub", "gw-1", DeliveryState::Delivered, "0");
    assert!(receiving.on_receipt(dr).await.unwrap().is_none());
    store
        .put(vec![
            SentRecord::new("case-1", "stub", "+4741000001".parse().unwrap())
                .with_reference("gw-1"),
        ])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(receiving.sweep().await, 1);
    let e = got.lock().unwrap()[0].clone();
    assert_eq!(e.sent.unwrap().key, "case-1");
}
