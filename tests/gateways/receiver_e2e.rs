//! End to end on loopback: the gateway emulators push incoming SMS and
//! delivery reports to the webhook receiver — duplicates, a batch with one
//! malformed entry, a push while a handler fails — and every message
//! reaches its handler exactly once.
#![cfg(all(
    feature = "receiver",
    feature = "testing",
    feature = "intelecom",
    feature = "pswincom"
))]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_comms::intelecom::Intelecom;
use crm_comms::pswincom::Pswincom;
use crm_comms::receiver::{MalformedEntry, WebhookReceiver};
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::tracking::{DeliveryEvent, DeliveryTracker, MemorySentStore};
use crm_comms::sms::{DeliveryState, Message, SmsProvider};
use crm_comms::testing::intelecom_emulator::{self as ie, IntelecomEmulator};
use crm_comms::testing::pswincom_emulator::{self as pe, PswincomEmulator, PswincomWire};
use crm_comms::testing::push::PushTarget;

/// What reached the application.
#[derive(Default)]
struct App {
    /// (handler, message id, stripped text)
    incoming: Mutex<Vec<(String, String, String)>>,
    deliveries: Mutex<Vec<DeliveryEvent>>,
    malformed: Mutex<Vec<MalformedEntry>>,
    /// Message ids (or references) whose handler fails this many more
    /// times.
    fail: Mutex<HashMap<String, usize>>,
    /// Handler calls, failed ones included.
    calls: Mutex<usize>,
}

impl App {
    fn should_fail(&self, id: &str) -> bool {
        *self.calls.lock().unwrap() += 1;
        let mut fail = self.fail.lock().unwrap();
        match fail.get_mut(id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    fn incoming_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .incoming
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

fn handler(
    app: &Arc<App>,
    name: &'static str,
) -> impl Fn(Routed) -> std::pin::Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>
+ Send
+ Sync
+ use<> {
    let app = app.clone();
    move |m: Routed| {
        let app = app.clone();
        Box::pin(async move {
            if app.should_fail(m.id()) {
                return Err(HandlerError::from("the CRM database is down"));
            }
            app.incoming
                .lock()
                .unwrap()
                .push((name.to_owned(), m.id().to_owned(), m.text.clone()));
            Ok(())
        })
    }
}

struct Setup {
    app: Arc<App>,
    base: String,
    tracker: DeliveryTracker,
}

async fn start(
    configure: impl FnOnce(crm_comms::receiver::ReceiverBuilder) -> crm_comms::receiver::ReceiverBuilder,
) -> Setup {
    let app = Arc::new(App::default());
    let router = InboundRouter::new(handler(&app, "fallback"))
        .route("TILBUD".parse().unwrap(), handler(&app, "offer"))
        .route("26112".parse().unwrap(), handler(&app, "short-26112"));
    let tracker = DeliveryTracker::new(MemorySentStore::new());
    let deliveries = {
        let app = app.clone();
        move |e: DeliveryEvent| {
            let app = app.clone();
            async move {
                if app.should_fail(&e.receipt.reference) {
                    return Err(HandlerError::from("the CRM database is down"));
                }
                app.deliveries.lock().unwrap().push(e);
                Ok(())
            }
        }
    };
    let malformed = {
        let app = app.clone();
        move |m: MalformedEntry| app.malformed.lock().unwrap().push(m)
    };
    let builder = WebhookReceiver::builder(router, deliveries)
        .tracker(tracker.clone())
        .on_malformed(malformed);
    let receiver = configure(builder).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/sms", listener.local_addr().unwrap());
    let app_router = axum::Router::new().nest("/sms", receiver.router());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app_router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Setup { app, base, tracker }
}

/// The Intelecom emulator pushing its DRs to `s`, and a client of it.
async fn intelecom_pushing_to(s: &Setup) -> (IntelecomEmulator, Intelecom) {
    let emu = crate::support::intelecom_emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{}/intelecom/dr", s.base)).header("X-API-Key", "k3y"),
        ie::IntelecomPushTransport::Json,
    );
    let provider = emu.client_builder().build().unwrap();
    (emu, provider)
}

/// The `PSWinCom` emulator pushing its DRs to `s`, and a client of it.
async fn pswincom_pushing_to(s: &Setup) -> (PswincomEmulator, Pswincom) {
    let emu = PswincomEmulator::start(PswincomWire::new("crm", "pw"))
        .await
        .unwrap();
    emu.deliver_reports_to(
        PushTarget::new(format!("{}/pswincom/dr?secret=q5ecret", s.base)),
        pe::PswincomPushTransport::Xml,
    );
    let provider = Pswincom::builder()
        .base_url(emu.base_url())
        .dangerous_allow_http()
        .no_failover()
        .credentials("crm", "pw")
        .build()
        .unwrap();
    (emu, provider)
}

fn secret(b: crm_comms::receiver::ReceiverBuilder) -> crm_comms::receiver::ReceiverBuilder {
    b.secret_header("X-API-Key", "k3y")
        .secret_query("secret", "q5ecret")
}

fn mo(id: &str, text: &str) -> ie::IntelecomPushedMo {
    ie::IntelecomPushedMo {
        message_id: id.into(),
        short_number: "1960".into(),
        originator: "+4741000001".into(),
        content: text.into(),
        command: None,
        session_id: None,
    }
}

async fn eventually(what: &str, ok: impl Fn() -> bool) {
    for _ in 0..300 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn intelecom_incoming_sms_reach_their_handler_once_despite_duplicates_and_failures() {
    let s = start(secret).await;
    let emu = crate::support::intelecom_emulator().await;
    let target = PushTarget::new(format!("{}/intelecom/mo", s.base)).header("X-API-Key", "k3y");

    // A batch with one malformed entry (no originator): the others count.
    let mut bad = mo("m-3", "hei");
    bad.originator = String::new();
    let r = emu
        .push_mos(
            &target,
            &ie::IntelecomPushTransport::Json,
            &[mo("m-1", "TILBUD ja takk"), bad, mo("m-2", "Hei der")],
        )
        .await;
    assert_eq!(r.statuses, [200]);
    // The same push again (the gateway redelivers a lost ack): no new calls.
    let r = emu
        .push_mos(
            &target,
            &ie::IntelecomPushTransport::Xml,
            &[mo("m-1", "TILBUD ja takk")],
        )
        .await;
    assert_eq!(r.statuses, [200]);
    // A push while the handler fails: 500, then the redelivery is handled.
    s.app.fail.lock().unwrap().insert("m-4".into(), 1);
    let r = emu
        .push_mos(
            &target,
            &ie::IntelecomPushTransport::Json,
            &[mo("m-4", "tilbud nei"), mo("m-5", "x")],
        )
        .await;
    assert_eq!(r.statuses, [500, 200]);
    assert!(r.delivered);
    // One message per GET template request.
    let get = PushTarget::new(format!(
        "{}/intelecom/mo?secret=q5ecret&messageid=[messageid]&sno=[sno]&originator=[originator]&content=[content]",
        s.base
    ));
    let r = emu
        .push_mos(
            &get,
            &ie::IntelecomPushTransport::Get,
            &[mo("m-6", "Tilbud: GET")],
        )
        .await;
    assert_eq!(r.statuses, [200]);

    assert_eq!(s.app.incoming_ids(), ["m-1", "m-2", "m-4", "m-5", "m-6"]);
    let incoming = s.app.incoming.lock().unwrap().clone();
    let of = |id: &str| incoming.iter().find(|(_, i, _)| i == id).unwrap().clone();
    assert_eq!(of("m-1"), ("offer".into(), "m-1".into(), "ja takk".into()));
    assert_eq!(of("m-2").0, "fallback");
    assert_eq!(of("m-6"), ("offer".into(), "m-6".into(), "GET".into()));
    let malformed = s.app.malformed.lock().unwrap().clone();
    assert_eq!(malformed.len(), 1);
    assert_eq!(malformed[0].error.field, "originator");
    // 6 handled calls + 1 failed one; duplicates never reached a handler.
    assert_eq!(*s.app.calls.lock().unwrap(), 6);
}

#[tokio::test]
async fn intelecom_delivery_reports_are_matched_to_the_sent_message() {
    let s = start(secret).await;
    let emu = crate::support::intelecom_emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{}/intelecom/dr", s.base)).header("X-API-Key", "k3y"),
        ie::IntelecomPushTransport::Json,
    );
    emu.set_dr_status(351);
    let provider = emu.client_builder().build().unwrap();
    let message = Message::builder()
        .to_all(["+4741000001", "+4741000002"].map(|n| n.parse().unwrap()))
        .text("Hei")
        .delivery_report(true)
        .client_reference("case-5")
        .build()
        .unwrap();
    let report = provider.send(&message).await;
    assert!(report.all_accepted());
    s.tracker.record("case-5", &message, &report).await.unwrap();
    eventually("2 delivery events", || {
        s.app.deliveries.lock().unwrap().len() == 2
    })
    .await;
    let events = s.app.deliveries.lock().unwrap().clone();
    let mut recipients: Vec<String> = events
        .iter()
        .map(|e| {
            assert_eq!(e.sent.as_ref().unwrap().key, "case-5");
            assert_eq!(e.state(), DeliveryState::Failed { permanent: true });
            e.recipient().unwrap().e164().to_owned()
        })
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["+4741000001", "+4741000002"]);
}

#[tokio::test]
async fn pswincom_pushes_are_acked_per_id_and_failed_ids_come_back_alone() {
    let s = start(secret).await;
    let emu = PswincomEmulator::start(PswincomWire::new("crm", "pw"))
        .await
        .unwrap();
    let target = PushTarget::new(format!("{}/pswincom/mo?secret=q5ecret", s.base));
    let pmo = |id: &str, sender: &str, text: &str| pe::PswincomPushedMo {
        id: id.into(),
        sender: sender.into(),
        receiver: "26112".into(),
        text: text.into(),
        network: Some("242:01".into()),
        reference: Some(format!("REF-{id}")),
    };
    s.app.fail.lock().unwrap().insert("REF-2".into(), 1);
    let r = emu
        .push_mos(
            &target,
            &pe::PswincomPushTransport::Xml,
            &[
                pmo("1", "4741000001", "TILBUD på blåbær"),
                pmo("2", "4741000002", "hei"),
                pmo("3", "", "no sender"),
            ],
        )
        .await;
    assert!(r.delivered, "{r:?}");
    assert_eq!(
        r.statuses,
        [200, 200],
        "ID 2 acked FAIL once, then redelivered"
    );
    // The whole push again: acknowledged, not handled again.
    let r = emu
        .push_mos(
            &target,
            &pe::PswincomPushTransport::Xml,
            &[pmo("1", "4741000001", "TILBUD på blåbær")],
        )
        .await;
    assert_eq!(r.statuses, [200]);
    // A form push.
    let r = emu
        .push_mos(
            &target,
            &pe::PswincomPushTransport::Form,
            &[pmo("1", "4741000009", "Hei på deg")],
        )
        .await;
    assert_eq!(r.statuses, [200]);

    assert_eq!(s.app.incoming_ids(), ["REF-1", "REF-1", "REF-2"]);
    let incoming = s.app.incoming.lock().unwrap().clone();
    assert_eq!(
        incoming[0],
        ("offer".into(), "REF-1".into(), "på blåbær".into())
    );
    assert_eq!(
        incoming[1].0, "short-26112",
        "REF-2 to 26112 without a keyword"
    );
    assert_eq!(
        incoming[2],
        ("short-26112".into(), "REF-1".into(), "Hei på deg".into()),
        "another sender's message with the same REF is another message"
    );
    let malformed = s.app.malformed.lock().unwrap().clone();
    assert_eq!(malformed.len(), 1);
    assert_eq!(
        (malformed[0].id.as_str(), malformed[0].error.field.as_str()),
        ("3", "SND")
    );
}

#[tokio::test]
async fn pswincom_delivery_reports_arrive_through_the_receiver() {
    let s = start(secret).await;
    let (_emu, provider) = pswincom_pushing_to(&s).await;
    let message = Message::builder()
        .to("+4741000001".parse().unwrap())
        .text("Hei")
        .delivery_report(true)
        .build()
        .unwrap();
    let report = provider.send(&message).await;
    s.tracker
        .record("activity-3", &message, &report)
        .await
        .unwrap();
    eventually("the delivery event", || {
        s.app.deliveries.lock().unwrap().len() == 1
    })
    .await;
    let e = s.app.deliveries.lock().unwrap()[0].clone();
    assert_eq!(e.sent.unwrap().key, "activity-3");
    assert_eq!(e.receipt.state, DeliveryState::Delivered);
}

async fn post(
    url: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client
        .post(url)
        .header("content-type", content_type)
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn requests_without_the_secret_bad_types_and_bodies_never_reach_a_handler() {
    let s = start(|b| secret(b).max_body(64 * 1024)).await;
    let json =
        r#"{"mo":[{"messageid":"x1","originator":"+4741000001","content":"hei","sno":"1960"}]}"#;
    let mo_url = format!("{}/intelecom/mo", s.base);
    let key = [("X-API-Key", "k3y")];

    assert_eq!(post(&mo_url, "application/json", json, &[]).await.0, 401);
    assert_eq!(
        post(&mo_url, "application/json", json, &[("X-API-Key", "k3Y")])
            .await
            .0,
        401
    );
    assert_eq!(
        post(
            &format!("{mo_url}?secret=wrong"),
            "application/json",
            json,
            &[]
        )
        .await
        .0,
        401
    );
    let (status, reason) = post(&mo_url, "text/plain", json, &key).await;
    assert_eq!(
        (status, reason.as_str()),
        (400, "content type \"text/plain\" is not JSON or XML")
    );
    let (status, reason) = post(&mo_url, "application/json", "{\"mo\":[", &key).await;
    assert_eq!(status, 400);
    assert!(reason.contains("body"), "{reason}");
    let big = format!("{{\"mo\":[],\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    assert_eq!(post(&mo_url, "application/json", &big, &key).await.0, 413);
    let (status, reason) = post(
        &format!("{}/pswincom/dr", s.base),
        "application/json",
        "{}",
        &key,
    )
    .await;
    assert_eq!(
        (status, reason.as_str()),
        (
            400,
            "content type \"application/json\" is not XML or a form"
        )
    );
    assert_eq!(*s.app.calls.lock().unwrap(), 0);
    // With the secret in the query, the parameter never reaches the message.
    let (status, _) = post(
        &format!("{mo_url}?secret=q5ecret"),
        "application/json",
        json,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(s.app.incoming_ids(), ["x1"]);
}

#[tokio::test]
async fn a_get_template_secret_is_removed_before_the_message_is_read() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = {
        let seen = seen.clone();
        InboundRouter::new(move |m: Routed| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(m.message.extras.clone());
                Ok::<(), HandlerError>(())
            }
        })
    };
    let receiver = WebhookReceiver::builder(router, |_: DeliveryEvent| async { Ok(()) })
        .secret_query("secret", "q5ecret")
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver.router()).await.unwrap() });
    let url = format!(
        "{base}/intelecom/mo?messageid=g1&originator=%2B4741000001&content=hei&secret=q5ecret&extra=1"
    );
    let status = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let extras = seen.lock().unwrap()[0].clone();
    assert!(
        extras.iter().all(|(k, v)| k != "secret" && v != "q5ecret"),
        "{extras:?}"
    );
    assert!(extras.iter().any(|(k, _)| k == "extra"));
}

#[tokio::test]
async fn only_allowed_source_addresses_get_through() {
    let json = r#"{"mo":[{"messageid":"s1","originator":"+4741000001","content":"hei"}]}"#;
    let blocked = start(|b| b.allow_sources(["10.0.0.0/8"])).await;
    let (status, _) = post(
        &format!("{}/intelecom/mo", blocked.base),
        "application/json",
        json,
        &[],
    )
    .await;
    assert_eq!(status, 403);
    let allowed = start(|b| b.allow_sources(["127.0.0.0/8"])).await;
    let (status, _) = post(
        &format!("{}/intelecom/mo", allowed.base),
        "application/json",
        json,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(allowed.app.incoming_ids(), ["s1"]);
}

#[test]
fn bad_receiver_settings_are_refused() {
    let router = || InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) });
    let deliveries = |_: DeliveryEvent| async { Ok::<(), HandlerError>(()) };
    let err = WebhookReceiver::builder(router(), deliveries)
        .secret_header("X-API-Key", "")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "webhook receiver setting `secret_header`: the header secret is empty"
    );
    assert_eq!(err.field, "secret_header");
    assert_eq!(err.kind(), crm_comms::receiver::ReceiverErrorKind::Invalid);
    // The receiver's own error, and it converts into `Error`.
    let _: crm_comms::Error = err.into();
    let err = WebhookReceiver::builder(router(), deliveries)
        .secret_header("bad header", "x")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("not a valid header name"));
    let err = WebhookReceiver::builder(router(), deliveries)
        .allow_sources(["10.0.0.0/33"])
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    assert!(
        WebhookReceiver::builder(router(), deliveries)
            .allow_sources(["192.0.2.7", "2001:db8::/32"])
            .build()
            .is_ok()
    );
    let receiver = WebhookReceiver::builder(router(), deliveries)
        .secret_header("X-API-Key", "hunter2")
        .build()
        .unwrap();
    assert!(!format!("{receiver:?}").contains("hunter2"));
}

fn thousand() -> Message {
    Message::builder()
        .to_all((0..1000).map(|i| format!("+4741{i:06}").parse().unwrap()))
        .text("Hei")
        .delivery_report(true)
        .build()
        .unwrap()
}

/// Issue 19, item 1: with the emulator pushing each report while the send
/// is in flight, on a multi-thread runtime, every one of 1,000 reports is
/// matched to its recipient (Intelecom's echo the client reference).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intelecom_reports_racing_a_1000_recipient_send_are_all_matched() {
    let s = start(secret).await;
    let (_emu, provider) = intelecom_pushing_to(&s).await;
    let report = s
        .tracker
        .send("mailing-9", &provider, &thousand())
        .await
        .unwrap();
    assert!(report.all_accepted());
    all_matched(&s, &report).await;
}

/// The same for `PSWinCom`, whose reports carry only the gateway's reference:
/// those that beat the send's answer are held until it is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pswincom_reports_racing_a_1000_recipient_send_are_all_matched() {
    let s = start(secret).await;
    let (_emu, provider) = pswincom_pushing_to(&s).await;
    let report = s
        .tracker
        .send("mailing-9", &provider, &thousand())
        .await
        .unwrap();
    assert!(report.all_accepted());
    all_matched(&s, &report).await;
}

async fn all_matched(s: &Setup, report: &crm_comms::sms::SendReport) {
    for _ in 0..1000 {
        if s.app.deliveries.lock().unwrap().len() >= 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let events = s.app.deliveries.lock().unwrap().clone();
    assert_eq!(events.len(), 1000, "one event per report");
    let unmatched = events.iter().filter(|e| e.sent.is_none()).count();
    assert_eq!(unmatched, 0, "{unmatched} of 1000 reports unmatched");
    let by_reference: HashMap<&str, _> = report
        .outcomes()
        .iter()
        .map(|o| (o.outcome.reference().unwrap(), o.recipient))
        .collect();
    for e in &events {
        let sent = e.sent.as_ref().unwrap();
        assert_eq!(sent.key, "mailing-9");
        assert_eq!(by_reference[e.receipt.reference.as_str()], sent.recipient);
    }
    assert_eq!(s.tracker.held(), 0);
}

/// A receiver served by `WebhookReceiver::serve_with_shutdown` with short
/// limits; the sender stops it.
async fn served(
    configure: impl FnOnce(crm_comms::receiver::ReceiverBuilder) -> crm_comms::receiver::ReceiverBuilder,
) -> (
    SocketAddr,
    Arc<App>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let app = Arc::new(App::default());
    let deliveries = {
        let app = app.clone();
        move |e: DeliveryEvent| {
            let app = app.clone();
            async move {
                app.deliveries.lock().unwrap().push(e);
                Ok::<(), HandlerError>(())
            }
        }
    };
    let receiver = configure(
        WebhookReceiver::builder(InboundRouter::new(handler(&app, "fallback")), deliveries)
            .header_timeout(Duration::from_millis(300))
            .first_byte_timeout(Duration::from_millis(200))
            .body_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_millis(500))
            .max_connections(4),
    )
    .build()
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(receiver.serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    (addr, app, stop, task)
}

/// Reads until the peer closes; what it said. Fails the test when the
/// connection is still open after `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut got))
        .await
        .expect("the server kept the connection open")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

const DR_BODY: &str = r#"{"dr":[{"messageid":"m-1","statuscode":0}]}"#;

/// Issue 19, item 8: a head or body trickled in, an idle connection and
/// one connection too many are all closed; real pushes still get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_idle_and_excess_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let (addr, app, stop, task) = served(|b| b).await;

    // A head at one byte per 50 ms never completes within 300 ms.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let trickle = tokio::spawn(async move {
        for b in b"POST /intelecom/dr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                return slow;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slow
    });
    let mut slow = trickle.await.unwrap();
    let _ = closed_within(&mut slow, Duration::from_secs(3)).await;

    // A body trickled past the body timeout gets 408.
    let mut body = tokio::net::TcpStream::connect(addr).await.unwrap();
    body.write_all(
        format!(
            "POST /intelecom/dr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
            DR_BODY.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let said = closed_within(&mut body, Duration::from_secs(3)).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");

    // An idle connection is closed.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(closed_within(&mut idle, Duration::from_secs(3)).await, "");

    // Four connections that have started a request are served; a fifth is
    // closed as soon as it sends its first byte.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"P").await.unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    fifth.write_all(b"P").await.unwrap();
    assert_eq!(
        closed_within(&mut fifth, Duration::from_millis(150)).await,
        ""
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A real push still gets through.
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/intelecom/dr"))
        .header("content-type", "application/json")
        .body(DR_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.deliveries.lock().unwrap().len(), 1);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Issue 31, item 14: a flood of sockets that never send a byte cannot
/// shut the gateway out (they take no connection slot, and the oldest
/// waiting are evicted by newer ones), every real push is answered, a
/// request with the secret parameter twice is refused, and a broken
/// chunked body is 400, not 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_sockets_never_shut_the_gateway_out() {
    use tokio::io::AsyncWriteExt;
    let (addr, app, stop, task) = served(|b| {
        b.first_byte_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(5))
            .max_connections(64)
            .secret_query("secret", "s3cret")
    })
    .await;
    let flood = tokio::spawn(async move {
        let mut idle = Vec::new();
        for _ in 0..400 {
            if let Ok(c) = tokio::net::TcpStream::connect(addr).await {
                idle.push(c);
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        idle.len()
    });
    let client = reqwest::Client::new();
    let mut answered = 0;
    for i in 0..40 {
        let r = client
            .post(format!("http://{addr}/intelecom/dr?secret=s3cret"))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"dr":[{{"messageid":"m-{i}","statuscode":0}}]}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answered, 40);
    assert!(flood.await.unwrap() >= 300);
    assert_eq!(app.deliveries.lock().unwrap().len(), 40);
    // One guess per request.
    let r = client
        .post(format!(
            "http://{addr}/intelecom/dr?secret=wrong&secret=s3cret&secret=guess"
        ))
        .header("content-type", "application/json")
        .body(DR_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Bad chunked framing: 400.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(
        b"POST /intelecom/dr?secret=s3cret HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let said = closed_within(&mut raw, Duration::from_secs(3)).await;
    assert!(said.starts_with("HTTP/1.1 400"), "{said}");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Issue 19, item 13: on shutdown a push in flight is finished and
/// answered, and new connections are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_the_push_in_flight() {
    use tokio::io::AsyncWriteExt;
    let (addr, app, stop, task) = served(|b| b.body_timeout(Duration::from_secs(5))).await;
    let mut push = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /intelecom/dr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        DR_BODY.len()
    );
    push.write_all(head.as_bytes()).await.unwrap();
    push.write_all(&DR_BODY.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    push.write_all(&DR_BODY.as_bytes()[10..]).await.unwrap();
    let said = closed_within(&mut push, Duration::from_secs(3)).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert_eq!(app.deliveries.lock().unwrap().len(), 1);
    task.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// Issue 19, item 11: a `PSWinCom` MO without `REF` is deduplicated only
/// within the short window; the same text again later is a new message.
#[tokio::test(flavor = "multi_thread")]
async fn ref_less_mos_are_deduplicated_only_briefly() {
    let (addr, app, stop, task) =
        served(|b| b.dedup_window_without_id(Duration::from_millis(300))).await;
    let post = |body: &'static str| {
        reqwest::Client::new()
            .post(format!("http://{addr}/pswincom/mo"))
            .header("content-type", "application/xml")
            .body(body)
            .send()
    };
    let stop_sms = "<MSGLST><MSG><ID>1</ID><TEXT>STOPP</TEXT><SND>4741000001</SND><RCV>26112</RCV></MSG></MSGLST>";
    let with_ref = "<MSGLST><MSG><ID>1</ID><REF>r-77</REF><TEXT>JA</TEXT><SND>4741000001</SND><RCV>26112</RCV></MSG></MSGLST>";
    for body in [stop_sms, stop_sms, with_ref, with_ref] {
        assert_eq!(post(body).await.unwrap().status(), 200);
    }
    assert_eq!(
        app.incoming_ids().len(),
        2,
        "the redeliveries are suppressed"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    for body in [stop_sms, with_ref] {
        assert_eq!(post(body).await.unwrap().status(), 200);
    }
    let texts: Vec<String> = app
        .incoming
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.2.clone())
        .collect();
    assert_eq!(
        texts,
        ["STOPP", "JA", "STOPP"],
        "a second STOPP later is real traffic; r-77 is not"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Issue 19, item 12: a handler that panics releases its claim, so the
/// redelivery is handled instead of getting 500 for the whole window.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_handler_does_not_block_the_redelivery() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let deliveries = {
        let calls = calls.clone();
        move |_: DeliveryEvent| {
            let calls = calls.clone();
            async move {
                assert!(
                    calls.fetch_add(1, Ordering::SeqCst) != 0,
                    "a bug in the application's handler"
                );
                Ok::<(), HandlerError>(())
            }
        }
    };
    let receiver =
        WebhookReceiver::builder(InboundRouter::new(|_: Routed| async { Ok(()) }), deliveries)
            .build()
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(receiver.serve(listener));
    let post = || {
        reqwest::Client::new()
            .post(format!("http://{addr}/intelecom/dr"))
            .header("content-type", "application/json")
            .body(DR_BODY)
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 500, "redeliver");
    assert_eq!(post().await.unwrap().status(), 200, "handled");
    assert_eq!(
        post().await.unwrap().status(),
        200,
        "acknowledged, not handled again"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
