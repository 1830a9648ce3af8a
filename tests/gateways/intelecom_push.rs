//! The Intelecom emulator pushes delivery reports and incoming SMS like the
//! real gateway (JSON, XML, GET template; redelivery on non-200), and the
//! crate's callback parsers read every push.
#![cfg(all(feature = "intelecom", feature = "testing"))]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;
use crm_comms::intelecom::Intelecom;
use crm_comms::sms::{
    DeliveryReceipt, DeliveryState, IncomingMessage, Message, Outcome, SmsProvider,
};
use crm_comms::testing::intelecom_emulator::{
    IntelecomEmulator, IntelecomPushTransport, IntelecomPushedDr, IntelecomPushedMo, PushTarget,
};
use crm_comms::testing::wire::intelecom::PushBody::{Json, Query, Xml};
use crm_comms::testing::wire::intelecom::read;

/// One request the test receiver got.
#[derive(Clone, Debug)]
struct Got {
    method: Method,
    content_type: String,
    api_key: String,
    query: String,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// Statuses to answer with, in turn; 200 once they run out.
    answers: Arc<Mutex<VecDeque<u16>>>,
}

async fn receive(
    State(r): State<Receiver>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    r.got.lock().unwrap().push(Got {
        method,
        content_type: header("content-type"),
        api_key: header("x-api-key"),
        query: query.unwrap_or_default(),
        body: body.to_vec(),
    });
    let status = r.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/{*path}", any(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, base)
}

async fn emulator() -> (IntelecomEmulator, Intelecom) {
    let emu = crate::support::intelecom_emulator().await;
    let p = emu.client_builder().build().unwrap();
    (emu, p)
}

async fn wait_for(r: &Receiver, n: usize) -> Vec<Got> {
    let ms = std::time::Duration::from_millis;
    crate::support::poll(ms(2000), ms(10), || async {
        let got = r.got.lock().unwrap().clone();
        (got.len() >= n).then_some(got)
    })
    .await
    .unwrap_or_else(|| panic!("expected {n} pushes, got {:?}", r.got.lock().unwrap()))
}

#[tokio::test]
async fn accepted_messages_get_a_delivery_report_matching_their_reference() {
    let (r, base) = receiver().await;
    let (emu, p) = emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/dr")).header("X-API-Key", "k3y"),
        IntelecomPushTransport::Json,
    );
    let m = Message::builder()
        .to_all([
            "+4741000001".parse().unwrap(),
            "+4741000002".parse().unwrap(),
        ])
        .text("Hei")
        .delivery_report(true)
        .client_reference("order-17")
        .build()
        .unwrap();
    let report = p.send(&m).await;
    let references: Vec<String> = report
        .outcomes()
        .iter()
        .map(|o| match &o.outcome {
            Outcome::Accepted { reference: Some(r) } => r.clone(),
            other => panic!("{other:?}"),
        })
        .collect();

    let got = wait_for(&r, 1).await;
    assert_eq!(got[0].method, Method::POST);
    assert_eq!(got[0].content_type, "application/json");
    assert_eq!(got[0].api_key, "k3y", "the callback secret is sent");
    let drs: Vec<_> = read::<DeliveryReceipt>(Json, &got[0].body)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        drs.iter().map(|d| d.reference.clone()).collect::<Vec<_>>(),
        references
    );
    assert!(drs.iter().all(|d| d.state == DeliveryState::Delivered));
    assert!(drs.iter().all(|d| d.client_reference.is_some()));

    // Without a delivery report asked for, the service sends none.
    let quiet = Message::builder()
        .to("+4741000003".parse().unwrap())
        .text("Hei")
        .build()
        .unwrap();
    let promised = emu.reports_promised();
    assert!(p.send(&quiet).await.all_accepted());
    assert_eq!(emu.reports_promised(), promised, "no report for it");
    assert_eq!(r.got.lock().unwrap().len(), 1);

    // A failure code reaches the parser as a failure.
    emu.set_dr_status(351);
    let m = Message::builder()
        .to("+4741000004".parse().unwrap())
        .text("Hei")
        .delivery_report(true)
        .build()
        .unwrap();
    assert!(p.send(&m).await.all_accepted());
    let got = wait_for(&r, 2).await;
    let dr = read::<DeliveryReceipt>(Json, &got[1].body)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(dr.state, DeliveryState::Failed { permanent: true });
}

#[tokio::test]
async fn xml_and_get_template_pushes_parse() {
    let (r, base) = receiver().await;
    let (emu, _) = emulator().await;
    let drs = [
        IntelecomPushedDr {
            message_id: "6y034000cy00".into(),
            client_reference: Some("MyRef & <123>".into()),
            batch_reference: Some("MyBatch001".into()),
            status_code: 0,
        },
        IntelecomPushedDr {
            message_id: "6y034000dy00".into(),
            client_reference: None,
            batch_reference: None,
            status_code: 361,
        },
    ];
    let result = emu
        .push_drs(
            &PushTarget::new(format!("{base}/dr")),
            &IntelecomPushTransport::Xml,
            &drs,
        )
        .await;
    assert!(result.delivered);
    let template = format!(
        "{base}/dr?id=[messageid]&statuscode=[statuscode]&ref=[customerMessageReference]&x=[nosuchfield]"
    );
    let result = emu
        .push_drs(
            &PushTarget::new(template),
            &IntelecomPushTransport::Get,
            &drs,
        )
        .await;
    assert_eq!(result.statuses, vec![200, 200], "one GET per report");

    let got = wait_for(&r, 3).await;
    assert_eq!(got[0].content_type, "application/xml");
    let xml: Vec<_> = read::<DeliveryReceipt>(Xml, &got[0].body)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(xml[0].client_reference.as_deref(), Some("MyRef & <123>"));
    assert_eq!(xml[1].state, DeliveryState::Expired);
    assert_eq!(got[1].method, Method::GET);
    // The template names its own parameters; map them to the documented ones.
    let query = got[1]
        .query
        .replace("id=", "messageid=")
        .replace("ref=", "customermessagereference=");
    let dr = read::<DeliveryReceipt>(Query, query.as_bytes())
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(dr.reference, "6y034000cy00");
    assert_eq!(dr.client_reference.as_deref(), Some("MyRef & <123>"));
    assert!(got[2].query.contains("statuscode=361"));
}

#[tokio::test]
async fn incoming_sms_are_pushed_and_redelivered_until_acknowledged() {
    let (r, base) = receiver().await;
    let (emu, _) = emulator().await;
    let mos = [IntelecomPushedMo {
        message_id: "7a02c0000f00".into(),
        short_number: "1960".into(),
        originator: "+4799999999".into(),
        content: "Kodeord Testmelding æøå".into(),
        command: Some("KODEORD".into()),
        session_id: Some("1234567890".into()),
    }];
    // The receiver fails twice, then acknowledges.
    r.answers.lock().unwrap().extend([500, 503]);
    let result = emu
        .push_mos(
            &PushTarget::new(format!("{base}/mo")),
            &IntelecomPushTransport::Json,
            &mos,
        )
        .await;
    assert_eq!(result.statuses, vec![500, 503, 200]);
    assert!(result.delivered);
    let got = wait_for(&r, 3).await;
    let ids: Vec<String> = got
        .iter()
        .map(|g| {
            read::<IncomingMessage>(Json, &g.body)
                .unwrap()
                .remove(0)
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids, ["7a02c0000f00"; 3], "redelivery keeps the messageid");
    let mo = read::<IncomingMessage>(Json, &got[0].body)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(mo.keyword.as_deref(), Some("KODEORD"));
    assert_eq!(mo.stripped_text.as_deref(), Some("Testmelding æøå"));
    assert_eq!(mo.to.as_deref(), Some("1960"));
    assert_eq!(mo.session_id.as_deref(), Some("1234567890"));
    assert_eq!(mo.from.unwrap().e164(), "+4799999999");

    // A receiver that never acknowledges: the push gives up after the retries.
    r.answers.lock().unwrap().extend([500; 5]);
    let result = emu
        .push_mos(
            &PushTarget::new(format!("{base}/mo")).retries(1),
            &IntelecomPushTransport::Xml,
            &mos,
        )
        .await;
    assert_eq!(result.statuses, vec![500, 500]);
    assert!(!result.delivered);
    let got = wait_for(&r, 5).await;
    let mo = read::<IncomingMessage>(Xml, &got[4].body)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(mo.text, "Kodeord Testmelding æøå");
}
