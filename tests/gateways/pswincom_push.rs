//! The `PSWinCom` emulator pushes delivery reports and incoming SMS like the
//! real gateway (ISO-8859-1 XML `MSGLST` with per-ID acknowledgements,
//! Latin-1 forms), and the crate's callback parsers and acks handle every
//! push.
#![cfg(all(feature = "pswincom", feature = "testing"))]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use crm_comms::pswincom::Pswincom;
use crm_comms::pswincom::callback::FORM_ACK;
use crm_comms::sms::{DeliveryReceipt, DeliveryState, IncomingMessage, Message, SmsProvider};
use crm_comms::testing::pswincom_emulator::{
    PswincomEmulator, PswincomPushTransport, PswincomPushedDr, PswincomPushedMo, PswincomWire,
    PushTarget,
};
use crm_comms::testing::wire::pswincom::{
    ack_xml, charset_of, parse_ack, parse_dr_form, parse_dr_xml, parse_mo_form, parse_mo_xml,
};

/// One push the test receiver got, parsed with the crate's parsers.
#[derive(Clone, Debug)]
struct Got {
    message_type: String,
    content_type: String,
    secret: String,
    body: Vec<u8>,
    drs: Vec<(String, DeliveryReceipt)>,
    mos: Vec<(String, IncomingMessage)>,
    /// IDs whose entry could not be read.
    bad: Vec<String>,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// IDs to refuse (ack `FAIL`) once each.
    refuse_once: Arc<Mutex<Vec<String>>>,
    /// HTTP statuses to answer with, in turn, before acknowledging.
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

/// A receiver like the one an application writes: parse, hand over,
/// acknowledge each ID it took.
async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = h("content-type");
    let mut got = Got {
        message_type: h("psw-message-type"),
        content_type: content_type.clone(),
        secret: h("x-secret"),
        body: body.to_vec(),
        drs: Vec::new(),
        mos: Vec::new(),
        bad: Vec::new(),
    };
    if let Some(status) = r.statuses.lock().unwrap().pop_front() {
        r.got.lock().unwrap().push(got);
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    let response = if form {
        let charset = charset_of(&content_type);
        let dr = parse_dr_form(&body, charset);
        match dr {
            Ok(dr) if !dr.reference.is_empty() => got.drs.push((String::new(), dr)),
            _ => got.mos.push((
                String::new(),
                parse_mo_form(&body, charset).expect("form MO reads"),
            )),
        }
        (StatusCode::OK, FORM_ACK).into_response()
    } else {
        let mut acks: Vec<(String, bool)> = Vec::new();
        let mut refuse = r.refuse_once.lock().unwrap();
        let mut take = |id: &str| {
            let refused = refuse.iter().position(|x| x == id);
            if let Some(at) = refused {
                refuse.remove(at);
            }
            refused.is_none()
        };
        if got.message_type == "MO" {
            for e in parse_mo_xml(&body).expect("MO push reads") {
                match e.result {
                    Ok(mo) if take(&e.id) => {
                        got.mos.push((e.id.clone(), mo));
                        acks.push((e.id, true));
                    }
                    Ok(_) => acks.push((e.id, false)),
                    Err(_) => {
                        got.bad.push(e.id.clone());
                        acks.push((e.id, false));
                    }
                }
            }
        } else {
            for e in parse_dr_xml(&body).expect("DR push reads") {
                match e.result {
                    Ok(dr) if take(&e.id) => {
                        got.drs.push((e.id.clone(), dr));
                        acks.push((e.id, true));
                    }
                    Ok(_) => acks.push((e.id, false)),
                    Err(_) => {
                        got.bad.push(e.id.clone());
                        acks.push((e.id, false));
                    }
                }
            }
        }
        let ack = ack_xml(acks.iter().map(|(id, ok)| (id.as_str(), *ok)));
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=iso-8859-1")],
            ack,
        )
            .into_response()
    };
    r.got.lock().unwrap().push(got);
    response
}

async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, base)
}

async fn emulator() -> (PswincomEmulator, Pswincom) {
    let emu = PswincomEmulator::start(PswincomWire::new("crm", "pw"))
        .await
        .unwrap();
    let p = Pswincom::builder()
        .base_url(emu.base_url())
        .dangerous_allow_http()
        .no_failover()
        .credentials("crm", "pw")
        .build()
        .unwrap();
    (emu, p)
}

async fn wait_for(r: &Receiver, n: usize) -> Vec<Got> {
    let ms = std::time::Duration::from_millis;
    crate::support::poll(ms(3000), ms(10), || async {
        let got = r.got.lock().unwrap().clone();
        (got.len() >= n).then_some(got)
    })
    .await
    .unwrap_or_else(|| panic!("expected {n} pushes, got {:?}", r.got.lock().unwrap()))
}

fn message(to: &[&str], dr: bool) -> Message {
    Message::builder()
        .to_all(to.iter().map(|n| n.parse().unwrap()))
        .text("Hei")
        .delivery_report(dr)
        .build()
        .unwrap()
}

#[tokio::test]
async fn messages_sent_with_a_report_request_get_an_xml_delivery_report_by_reference() {
    let (r, base) = receiver().await;
    let (emu, p) = emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/dr")).header("X-Secret", "s3"),
        PswincomPushTransport::Xml,
    );
    let report = p
        .send(&message(&["+4741000001", "+4741000002"], true))
        .await;
    let references: Vec<String> = report
        .outcomes()
        .iter()
        .map(|o| {
            o.outcome
                .reference()
                .expect("accepted with a reference")
                .to_owned()
        })
        .collect();
    let got = wait_for(&r, 1).await;
    assert_eq!(got.len(), 1, "one push for the request");
    let push = &got[0];
    assert_eq!(push.message_type, "DR");
    assert!(push.content_type.starts_with("application/xml"));
    assert_eq!(push.secret, "s3");
    assert!(
        push.body
            .starts_with(b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>")
    );
    let drs: Vec<&DeliveryReceipt> = push.drs.iter().map(|(_, d)| d).collect();
    assert_eq!(drs.len(), 2);
    for (dr, reference) in drs.iter().zip(&references) {
        assert_eq!(&dr.reference, reference);
        assert_eq!(dr.state, DeliveryState::Delivered);
        assert_eq!(dr.provider, "pswincom");
        assert_eq!(dr.done_at.as_deref(), Some("2026-11-24 12:00:00"));
    }
    assert_eq!(
        drs[1].recipient.map(|n| n.to_string()),
        Some("+4741000002".to_owned())
    );
}

#[tokio::test]
async fn no_report_is_pushed_without_a_report_request() {
    let (r, base) = receiver().await;
    let (emu, p) = emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/dr")),
        PswincomPushTransport::Xml,
    );
    assert!(
        p.send(&message(&["+4741000001"], false))
            .await
            .all_accepted()
    );
    // The gateway decided, when it answered, to report nothing.
    assert_eq!(emu.reports_promised(), 0);
    // A second message with a report request proves pushes work at all.
    assert!(
        p.send(&message(&["+4741000003"], true))
            .await
            .all_accepted()
    );
    assert_eq!(emu.reports_promised(), 1);
    let got = wait_for(&r, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].drs[0].1.recipient.map(|n| n.to_string()),
        Some("+4741000003".to_owned())
    );
}

#[tokio::test]
async fn a_failed_delivery_arrives_as_a_form_and_is_mapped() {
    let (r, base) = receiver().await;
    let (emu, p) = emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/dr")),
        PswincomPushTransport::Form,
    );
    emu.set_dr_state("UNDELIV");
    let report = p.send(&message(&["+4741000001"], true)).await;
    let reference = report.outcomes()[0].outcome.reference().unwrap().to_owned();
    let got = wait_for(&r, 1).await;
    assert!(
        got[0]
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    let (_, dr) = &got[0].drs[0];
    assert_eq!(dr.reference, reference);
    assert_eq!(dr.state, DeliveryState::Failed { permanent: true });
    assert_eq!(dr.status_code, "UNDELIV");
}

#[tokio::test]
async fn an_xml_mo_push_with_norwegian_text_and_a_doctype_is_read_and_acked() {
    let (r, base) = receiver().await;
    let (emu, _) = emulator().await;
    let target = PushTarget::new(format!("{base}/mo"));
    let result = emu
        .push_mos(
            &target,
            &PswincomPushTransport::Xml,
            &[
                PswincomPushedMo {
                    id: "1".into(),
                    sender: "4748043043".into(),
                    receiver: "26112".into(),
                    text: "TILBUD Hei på deg ØØØ 😀".into(),
                    network: Some("242:01".into()),
                    reference: None,
                },
                PswincomPushedMo {
                    id: "2".into(),
                    sender: "4741000002".into(),
                    receiver: "26112".into(),
                    text: "stopp".into(),
                    network: None,
                    reference: Some("ABC123".into()),
                },
            ],
        )
        .await;
    assert!(result.delivered, "{result:?}");
    assert_eq!(result.statuses, vec![200]);
    let got = wait_for(&r, 1).await;
    let push = &got[0];
    assert_eq!(push.message_type, "MO");
    let doc = String::from_utf8_lossy(&push.body);
    assert!(doc.contains("<!DOCTYPE MSGLST SYSTEM \"pswincom_receive_request.dtd\">"));
    assert!(
        push.body.windows(2).any(|w| w == b"p\xe5"),
        "å travels as one Latin-1 byte"
    );
    let (id, mo) = &push.mos[0];
    assert_eq!(id, "1");
    assert_eq!(
        mo.text, "TILBUD Hei på deg ØØØ ?",
        "non-Latin-1 arrives as ?"
    );
    assert_eq!(mo.from.map(|n| n.to_string()), Some("+4748043043".into()));
    assert_eq!(mo.to.as_deref(), Some("26112"));
    assert_eq!(mo.network.as_deref(), Some("242:01"));
    let (_, second) = &push.mos[1];
    assert_eq!(second.id, "ABC123", "REF is the gateway's id when present");
}

#[tokio::test]
async fn a_form_mo_push_is_latin1_percent_encoded_and_read() {
    let (r, base) = receiver().await;
    let (emu, _) = emulator().await;
    let result = emu
        .push_mos(
            &PushTarget::new(format!("{base}/mo")),
            &PswincomPushTransport::Form,
            &[PswincomPushedMo {
                id: "1".into(),
                sender: "4748043043".into(),
                receiver: "4759443671".into(),
                text: "Hei på deg ØØØ".into(),
                network: Some("242:00".into()),
                reference: None,
            }],
        )
        .await;
    assert!(result.delivered);
    let got = wait_for(&r, 1).await;
    let body = String::from_utf8(got[0].body.clone()).unwrap();
    assert!(body.contains("&TXT=Hei+p%e5+deg+%d8%d8%d8&"), "{body}");
    let (_, mo) = &got[0].mos[0];
    assert_eq!(mo.text, "Hei på deg ØØØ");
    assert_eq!(mo.network.as_deref(), Some("242:00"));
}

#[tokio::test]
async fn entries_acked_fail_are_redelivered_alone_with_their_ids() {
    let (r, base) = receiver().await;
    let (emu, _) = emulator().await;
    r.refuse_once.lock().unwrap().push("2".into());
    let drs: Vec<PswincomPushedDr> = (1..=3)
        .map(|i| PswincomPushedDr {
            id: i.to_string(),
            reference: format!("REF{i}"),
            receiver: format!("474100000{i}"),
            state: "DELIVRD".into(),
        })
        .collect();
    let result = emu
        .push_drs(
            &PushTarget::new(format!("{base}/dr")),
            &PswincomPushTransport::Xml,
            &drs,
        )
        .await;
    assert!(result.delivered, "{result:?}");
    assert_eq!(result.statuses, vec![200, 200]);
    let got = wait_for(&r, 2).await;
    let ids = |g: &Got| g.drs.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&got[0]), ["1", "3"]);
    assert_eq!(ids(&got[1]), ["2"]);
    assert_eq!(got[1].drs[0].1.reference, "REF2");
    // Every reference reached the application exactly once.
    let mut all: Vec<String> = got
        .iter()
        .flat_map(|g| g.drs.iter().map(|(_, d)| d.reference.clone()))
        .collect();
    all.sort();
    assert_eq!(all, ["REF1", "REF2", "REF3"]);
}

#[tokio::test]
async fn a_non_200_answer_redelivers_the_whole_push_and_gives_up_after_the_retries() {
    let (r, base) = receiver().await;
    let (emu, _) = emulator().await;
    r.statuses.lock().unwrap().extend([503, 500]);
    let dr = PswincomPushedDr {
        id: "1".into(),
        reference: "REF1".into(),
        receiver: "4741000001".into(),
        state: "EXPIRED".into(),
    };
    let target = PushTarget::new(format!("{base}/dr"));
    let result = emu
        .push_drs(
            &target,
            &PswincomPushTransport::Xml,
            std::slice::from_ref(&dr),
        )
        .await;
    assert_eq!(result.statuses, vec![503, 500, 200]);
    assert!(result.delivered);
    let got = wait_for(&r, 3).await;
    assert_eq!(got[2].drs[0].1.state, DeliveryState::Expired);

    r.statuses.lock().unwrap().extend([500, 500, 500]);
    let result = emu
        .push_drs(&target, &PswincomPushTransport::Xml, &[dr])
        .await;
    assert_eq!(result.statuses, vec![500, 500, 500]);
    assert!(!result.delivered, "given up after 2 retries");
}

#[test]
fn an_ack_round_trips_through_the_gateways_reading_of_it() {
    let ack = ack_xml([("1", true), ("2", false), ("x<&>", true)]);
    assert_eq!(
        parse_ack(&ack).unwrap(),
        [
            ("1".to_owned(), true),
            ("2".to_owned(), false),
            ("x<&>".to_owned(), true)
        ]
    );
    assert!(parse_ack(b"<SESSION/>").is_err());
    let err = parse_ack(b"<MSGLST><MSG><STATUS>OK</STATUS></MSG></MSGLST>").unwrap_err();
    assert_eq!(err.field, "ID");
}
