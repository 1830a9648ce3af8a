//! The Intelecom provider against the loopback emulator: conformance,
//! credentials, faults — each recipient always gets exactly one outcome.
#![cfg(all(feature = "intelecom", feature = "testing"))]

use std::time::Duration;

use crate::support::kinds;
use crm_comms::intelecom::Intelecom;
use crm_comms::sms::{Message, Priority, Sender, SmsErrorKind, SmsProvider};
use crm_comms::testing::conformance::{Config, run_on_loopback};
use crm_comms::testing::intelecom_emulator::{
    IntelecomAnswerFault, IntelecomEmulator, IntelecomFault, IntelecomWire,
};

const PASSWORD: &str = "s3cret-pw";

async fn setup() -> (IntelecomEmulator, Intelecom) {
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", PASSWORD))
        .await
        .unwrap();
    let p = emu
        .client_builder()
        .timeout(Duration::from_millis(800))
        .max_batch(4)
        // One request at a time, so scripted faults meet requests in order.
        .concurrency(1)
        .build()
        .unwrap();
    (emu, p)
}

fn msg(n: usize) -> Message {
    Message::builder()
        .to_all((0..n).map(|i| format!("+4741000{i:03}").parse().unwrap()))
        .text("Hei på deg")
        .build()
        .unwrap()
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let (emu, p) = setup().await;
    let config = Config {
        secrets: vec![PASSWORD.into()],
        // A landline: the gateway wants mobile numbers.
        refused_number: Some("+4722334455".parse().unwrap()),
        request_timeout: Some(Duration::from_millis(800)),
        ..Config::default()
    };
    run_on_loopback(&p, &emu, &config).await;
    // Batches of at most 4 reached the emulator.
    assert!(emu.received().iter().all(|r| r.request.messages.len() <= 4));
    assert!(
        emu.received()
            .iter()
            .all(|r| !r.body.contains(PASSWORD) && r.body.contains("\"***\""))
    );
}

#[tokio::test]
async fn sends_the_documented_fields() {
    let (emu, p) = setup().await;
    let m = Message::builder()
        .to("+4741000000".parse().unwrap())
        .text("Hei")
        .sender(Sender::parse("SuperOffice").unwrap())
        .priority(Priority::High)
        .build()
        .unwrap();
    let r = p.send(&m).await;
    assert!(r.all_accepted(), "{r:?}");
    let body = &emu.received()[0].body;
    for part in [
        "\"serviceId\":1000",
        "\"username\":\"crm\"",
        "\"recipient\":\"+4741000000\"",
        "\"priority\":3",
        "\"originatorType\":\"ALPHANUMERIC\"",
        "{\"key\":\"skip_customer_report_delivery\",\"value\":\"true\"}",
    ] {
        assert!(body.contains(part), "{part} missing from {body}");
    }
}

#[tokio::test]
async fn wrong_password_is_an_auth_failure_for_every_recipient() {
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", PASSWORD))
        .await
        .unwrap();
    let p = Intelecom::builder()
        .base_url(emu.base_url())
        .dangerous_allow_http()
        .service_id(1000)
        .credentials("crm", "wrong")
        .build()
        .unwrap();
    let r = p.send(&msg(3)).await;
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::Unauthenticated)); 3]
    );
    for o in r.outcomes() {
        assert!(!format!("{:?}", o.outcome).contains("wrong"));
    }
}

#[tokio::test]
async fn faults_give_one_typed_outcome_per_recipient() {
    type Expected = Vec<(&'static str, Option<SmsErrorKind>)>;
    let cases: Vec<(IntelecomFault, Expected)> = vec![
        (
            IntelecomFault::Http(500),
            vec![("unknown", Some(SmsErrorKind::GatewayInternal)); 3],
        ),
        (
            IntelecomFault::Http(502),
            vec![("unknown", Some(SmsErrorKind::GatewayInternal)); 3],
        ),
        (
            IntelecomFault::Http(401),
            vec![("rejected", Some(SmsErrorKind::Unauthenticated)); 3],
        ),
        (
            IntelecomFault::Http(429),
            vec![("rejected", Some(SmsErrorKind::RateLimited)); 3],
        ),
        (
            IntelecomFault::Answer(IntelecomAnswerFault::MalformedJson),
            vec![("unknown", Some(SmsErrorKind::Protocol)); 3],
        ),
        (
            IntelecomFault::Slow(Duration::from_secs(2)),
            vec![("unknown", Some(SmsErrorKind::Timeout)); 3],
        ),
        (
            IntelecomFault::Answer(IntelecomAnswerFault::DropLastStatus),
            vec![
                ("accepted", None),
                ("accepted", None),
                ("unknown", Some(SmsErrorKind::Protocol)),
            ],
        ),
        (
            IntelecomFault::Answer(IntelecomAnswerFault::StatusCodes(vec![1, 24, 6])),
            vec![
                ("accepted", None),
                ("unknown", Some(SmsErrorKind::RateLimited)),
                ("unknown", Some(SmsErrorKind::GatewayInternal)),
            ],
        ),
    ];
    for (fault, expected) in cases {
        let (emu, p) = setup().await;
        emu.fail_next(fault.clone());
        let r = p.send(&msg(3)).await;
        assert_eq!(kinds(&r), expected, "{fault:?}");
    }
}

#[tokio::test]
async fn a_connection_reset_mid_request_is_unknown_for_every_recipient() {
    for fault in [
        IntelecomFault::ResetBeforeBody,
        IntelecomFault::ResetAfterBody,
    ] {
        let (emu, p) = setup().await;
        emu.fail_next(fault.clone());
        let r = p.send(&msg(3)).await;
        // The request was written; the client cannot tell whether the
        // gateway took it, so it must not claim either way.
        assert_eq!(
            kinds(&r),
            vec![("unknown", Some(SmsErrorKind::Protocol)); 3],
            "{fault:?}"
        );
        for o in r.outcomes() {
            assert!(
                !o.outcome.is_retryable() && o.outcome.may_have_been_sent(),
                "{fault:?}: {:?}",
                o.outcome
            );
        }
        let got = emu.received();
        assert_eq!(got[0].status, 0, "{fault:?}: the connection was closed");
        if fault == IntelecomFault::ResetAfterBody {
            assert_eq!(got[0].request.messages.len(), 3, "the body was read");
        } else {
            assert!(got[0].request.messages.is_empty(), "the body was not read");
        }
        // The next request goes through on a new connection.
        assert!(p.send(&msg(2)).await.all_accepted());
    }
}

#[tokio::test]
async fn a_partly_failed_batch_says_which() {
    let (emu, p) = setup().await;
    // Two requests of 4 and 2: the second fails as a whole.
    emu.fail_next(IntelecomFault::Answer(IntelecomAnswerFault::StatusCodes(
        vec![1, 1, 1, 1],
    )));
    emu.fail_next(IntelecomFault::Http(503));
    let r = p.send(&msg(6)).await;
    assert!(r.is_partial());
    assert_eq!(r.accepted().count(), 4);
    assert_eq!(r.unknown().count(), 2);
}

#[tokio::test]
async fn unreachable_gateway_is_certainly_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = Intelecom::builder()
        .base_url(format!("http://{addr}"))
        .dangerous_allow_http()
        .service_id(1)
        .credentials("u", "p")
        .build()
        .unwrap();
    let r = p.send(&msg(2)).await;
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::Unavailable)); 2]
    );
    assert!(r.outcomes()[0].outcome.is_retryable());
    assert!(!r.outcomes()[0].outcome.may_have_been_sent());
}

#[test]
fn builder_validates() {
    let b = || Intelecom::builder().service_id(1).credentials("u", "p");
    let e = b().base_url("http://example.com").build().unwrap_err();
    assert!(e.message().contains("http://"), "{e}");
    assert!(b().base_url("ftp://example.com").build().is_err());
    assert!(b().base_url("not a url").build().is_err());
    assert!(
        Intelecom::builder()
            .credentials("u", "p")
            .build()
            .unwrap_err()
            .message()
            .contains("service ID")
    );
    assert!(
        Intelecom::builder()
            .service_id(1)
            .credentials("u", "")
            .build()
            .unwrap_err()
            .message()
            .contains("password")
    );
    assert!(b().build().is_ok());
}

#[tokio::test]
async fn settings_build_the_real_provider_and_send_a_test_sms() {
    use crm_comms::settings::{Diagnosis, ProviderKind, SmsSettings};
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", PASSWORD))
        .await
        .unwrap();
    let mut s = SmsSettings::new(ProviderKind::Intelecom)
        .with_service_id(1000)
        .with_credentials("crm", PASSWORD);
    s.base_url = Some(emu.base_url());
    // Plain http needs the explicit opt-in.
    let e = s.build_provider().unwrap_err();
    assert_eq!(e.field, "base_url");
    s.allow_insecure_http = true;
    assert_eq!(s.build_provider().unwrap().name(), "intelecom");
    let d = s.send_test_sms("+4741000000", Some("Test")).await;
    assert!(
        matches!(d, Diagnosis::Accepted { reference: Some(_) }),
        "{d}"
    );
    s.password = Some("wrong".into());
    let d = s.send_test_sms("+4741000000", None).await;
    assert!(matches!(d, Diagnosis::CredentialsRejected(_)), "{d}");
    assert_eq!(emu.received().len(), 2);
}

/// Issue 19, item 2: the provider built from settings carries the settings'
/// sender, priority and delivery-report choice for messages that set none.
#[tokio::test]
async fn the_provider_built_from_settings_carries_their_defaults() {
    use crm_comms::settings::{ProviderKind, SmsSettings};
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", PASSWORD))
        .await
        .unwrap();
    let mut s = SmsSettings::new(ProviderKind::Intelecom)
        .with_service_id(1000)
        .with_credentials("crm", PASSWORD);
    s.base_url = Some(emu.base_url());
    s.allow_insecure_http = true;
    s.sender = Some("SuperOffice".into());
    s.priority = 3;
    s.delivery_report = true;
    let p = s.build_provider().unwrap();
    assert!(p.send(&msg(1)).await.all_accepted());
    let body: serde_json::Value = serde_json::from_str(&emu.received()[0].body).unwrap();
    let m = &body["message"][0];
    assert_eq!(
        m["settings"]["originatorSettings"]["originator"], "SuperOffice",
        "{body}"
    );
    assert_eq!(m["settings"]["priority"], 3, "{body}");
    let skips_report = m["settings"]["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["key"] == "skip_customer_report_delivery");
    assert!(!skips_report, "a delivery report is asked for: {body}");

    // What a message sets itself wins.
    let own = Message::builder()
        .to("+4741000000".parse().unwrap())
        .text("Hei")
        .priority(Priority::Low)
        .delivery_report(false)
        .build()
        .unwrap();
    assert!(p.send(&own).await.all_accepted());
    let body: serde_json::Value = serde_json::from_str(&emu.received()[1].body).unwrap();
    let m = &body["message"][0];
    assert_eq!(m["settings"]["priority"], 1, "{body}");
    assert!(
        m["settings"]["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["key"] == "skip_customer_report_delivery"),
        "{body}"
    );
}

/// A request the emulator cannot read (not JSON, or the wrong content
/// type) is recorded too — with the password masked, as JSON string and
/// as it stands.
#[tokio::test]
async fn an_unreadable_request_is_recorded_with_the_password_masked() {
    let (emu, _) = setup().await;
    let url = format!("{}/gw/rs/sendMessages", emu.base_url());
    let client = reqwest::Client::new();
    for (content_type, body) in [
        ("text/plain", format!("user=crm&password={PASSWORD}")),
        (
            "application/json",
            format!("{{\"password\": \"{PASSWORD}\", \"broken"),
        ),
    ] {
        let status = client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "{status}");
    }
    let got = emu.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert!(!r.body.contains(PASSWORD), "{}", r.body);
        assert!(r.body.contains("***"), "{}", r.body);
    }
}
