//! The `PSWinCom` provider against the strict loopback emulator: conformance,
//! the fields on the wire, credentials, faults and failover — each
//! recipient always gets exactly one outcome.
#![cfg(all(feature = "pswincom", feature = "testing"))]

use std::time::Duration;

use crate::support::kinds;
use crm_comms::pswincom::Pswincom;
use crm_comms::settings::{Diagnosis, ProviderKind, SmsSettings};
use crm_comms::sms::{Message, Outcome, Priority, Sender, SmsErrorKind, SmsProvider};
use crm_comms::testing::conformance::{Config, run_on_loopback};
use crm_comms::testing::pswincom_emulator::{
    PswincomAnswerFault, PswincomEmulator, PswincomFault, PswincomWire,
};

const PASSWORD: &str = "pæss€word";

async fn setup() -> (PswincomEmulator, Pswincom) {
    let emu = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
        .await
        .unwrap();
    let p = Pswincom::builder()
        .base_url(emu.base_url())
        .no_failover()
        .dangerous_allow_http()
        .credentials("crm", PASSWORD)
        .timeout(Duration::from_millis(800))
        .max_batch(4)
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
        // Valid for the number plan, but too short for PSWinCom's RCV rule.
        refused_number: Some("+6834002".parse().unwrap()),
        request_timeout: Some(Duration::from_millis(800)),
        ..Config::default()
    };
    run_on_loopback(&p, &emu, &config).await;
    let received = emu.received();
    assert!(received.iter().all(|r| r.request.messages.len() <= 4));
    assert!(received.iter().all(|r| !r.body.contains(PASSWORD)));
    assert!(
        received
            .iter()
            .all(|r| r.content_type == "text/xml; charset=iso-8859-1")
    );
}

#[tokio::test]
async fn sends_the_documented_fields_in_latin1() {
    let (emu, p) = setup().await;
    let m = Message::builder()
        .to("+4741000000".parse().unwrap())
        .text("Hei på deg, Åse!")
        .sender(Sender::parse("SuperOffice").unwrap())
        .priority(Priority::High)
        .delivery_report(true)
        .validity(Duration::from_secs(3600))
        .build()
        .unwrap();
    let r = p.send(&m).await;
    assert!(r.all_accepted(), "{r:?}");
    match &r.outcomes()[0].outcome {
        Outcome::Accepted { reference: Some(r) } => assert!(!r.is_empty()),
        other => panic!("{other:?}"),
    }
    let got = &emu.received()[0];
    let m = &got.request.messages[0];
    assert_eq!(m.text, "Hei på deg, Åse!");
    let fields: Vec<(&str, &str)> = m
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("ID", "1"),
            ("TEXT", "Hei på deg, Åse!"),
            ("RCPREQ", "Y"),
            ("SND", "SuperOffice"),
            ("RCV", "4741000000"),
            ("TTL", "60"),
        ],
        "no priority field: PSWinCom has none"
    );
    assert!(got.body.contains("<PW>***</PW>"));
    assert!(!p.capabilities().priority);
}

#[tokio::test]
async fn unicode_goes_as_op_9_and_arrives_intact() {
    let (emu, p) = setup().await;
    let text = "Привет 😀 – 10 €";
    let m = Message::builder()
        .to("+4741000000".parse().unwrap())
        .text(text)
        .build()
        .unwrap();
    assert!(p.send(&m).await.all_accepted());
    let got = &emu.received()[0].request.messages[0];
    assert_eq!(got.op.as_deref(), Some("9"));
    assert_eq!(got.text, text);
}

#[tokio::test]
async fn wrong_password_is_an_auth_failure_with_the_gateways_reason() {
    let emu = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
        .await
        .unwrap();
    let p = Pswincom::builder()
        .base_url(emu.base_url())
        .no_failover()
        .dangerous_allow_http()
        .credentials("crm", "wrong-pw")
        .build()
        .unwrap();
    let r = p.send(&msg(3)).await;
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::Unauthenticated)); 3]
    );
    for o in r.outcomes() {
        let e = o.outcome.error().unwrap();
        assert!(
            e.message().contains("Username or password is incorrect"),
            "{e}"
        );
        assert!(!format!("{e:?}").contains("wrong-pw"));
    }
}

#[tokio::test]
async fn faults_give_one_typed_outcome_per_recipient() {
    type Expected = Vec<(&'static str, Option<SmsErrorKind>)>;
    let ids = |v: &[&str]| {
        v.iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
    };
    let ok = ("accepted", None);
    let cases: Vec<(PswincomFault, Expected)> = vec![
        (
            PswincomFault::Answer(PswincomAnswerFault::LogonFail("Account locked".into())),
            vec![("rejected", Some(SmsErrorKind::Unauthenticated)); 3],
        ),
        (
            PswincomFault::Answer(PswincomAnswerFault::FailIds(ids(&["2"]))),
            vec![ok, ("rejected", Some(SmsErrorKind::Rejected)), ok],
        ),
        (
            PswincomFault::Answer(PswincomAnswerFault::MissingIds(ids(&["3"]))),
            vec![ok, ok, ("unknown", Some(SmsErrorKind::Protocol))],
        ),
        (
            PswincomFault::Answer(PswincomAnswerFault::RepeatedIds(ids(&["1"]))),
            vec![("unknown", Some(SmsErrorKind::Protocol)), ok, ok],
        ),
        (
            PswincomFault::Http(500),
            vec![("unknown", Some(SmsErrorKind::GatewayInternal)); 3],
        ),
        (
            PswincomFault::Http(503),
            vec![("unknown", Some(SmsErrorKind::GatewayInternal)); 3],
        ),
        (
            PswincomFault::Slow(Duration::from_secs(2)),
            vec![("unknown", Some(SmsErrorKind::Timeout)); 3],
        ),
        (
            PswincomFault::ResetBeforeBody,
            vec![("unknown", Some(SmsErrorKind::Protocol)); 3],
        ),
        (
            PswincomFault::ResetAfterBody,
            vec![("unknown", Some(SmsErrorKind::Protocol)); 3],
        ),
        (
            PswincomFault::Answer(PswincomAnswerFault::MalformedXml),
            vec![("unknown", Some(SmsErrorKind::Protocol)); 3],
        ),
    ];
    for (fault, expected) in cases {
        let (emu, p) = setup().await;
        emu.fail_next(fault.clone());
        let r = p.send(&msg(3)).await;
        assert_eq!(kinds(&r), expected, "{fault:?}");
        // The gateway is fine again afterwards.
        assert!(p.send(&msg(1)).await.all_accepted(), "{fault:?}");
    }
}

#[tokio::test]
async fn gateway_refusals_name_the_recipient_or_sender() {
    let (_emu, p) = setup().await;
    // A number PSWinCom refuses locally (fewer than 9 digits) between two
    // good ones: only that one is rejected, and nothing else is affected.
    let short: crm_comms::PhoneNumber = "+6834002".parse().unwrap();
    let m = Message::builder()
        .to("+4741000001".parse().unwrap())
        .to(short)
        .to("+4741000002".parse().unwrap())
        .text("x")
        .build()
        .unwrap();
    let r = p.send(&m).await;
    assert_eq!(
        kinds(&r),
        vec![
            ("accepted", None),
            ("rejected", Some(SmsErrorKind::InvalidRecipient)),
            ("accepted", None)
        ]
    );
}

#[tokio::test]
async fn large_messages_go_in_batches_with_ids_from_one() {
    let (emu, p) = setup().await;
    let r = p.send(&msg(10)).await;
    assert!(r.all_accepted());
    let sizes: Vec<_> = emu
        .received()
        .iter()
        .map(|r| r.request.messages.len())
        .collect();
    assert_eq!(sizes, [4, 4, 2]);
    for req in emu.received() {
        let ids: Vec<_> = req.request.messages.iter().map(|m| m.id.clone()).collect();
        let expected: Vec<_> = (1..=req.request.messages.len())
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids, expected);
    }
    let refs: std::collections::HashSet<_> = r
        .outcomes()
        .iter()
        .map(|o| format!("{:?}", o.outcome))
        .collect();
    assert_eq!(refs.len(), 10, "each recipient has its own reference");
}

#[tokio::test]
async fn failover_only_when_the_first_host_was_certainly_not_reached() {
    let backup = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
        .await
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let p = Pswincom::builder()
        .base_url(dead)
        .failover_url(backup.base_url())
        .dangerous_allow_http()
        .credentials("crm", PASSWORD)
        .build()
        .unwrap();
    assert!(p.send(&msg(2)).await.all_accepted());
    assert_eq!(backup.received().len(), 1, "the failover host took it");

    // The first host took the request and dropped the connection: it may
    // have queued the messages, so the failover host must not get them.
    let primary = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
        .await
        .unwrap();
    let p = Pswincom::builder()
        .base_url(primary.base_url())
        .failover_url(backup.base_url())
        .dangerous_allow_http()
        .credentials("crm", PASSWORD)
        .build()
        .unwrap();
    primary.fail_next(PswincomFault::ResetAfterBody);
    let r = p.send(&msg(2)).await;
    assert_eq!(
        kinds(&r),
        vec![("unknown", Some(SmsErrorKind::Protocol)); 2]
    );
    assert_eq!(
        backup.received().len(),
        1,
        "no second send after an unknown outcome"
    );
}

#[tokio::test]
async fn the_builder_validates() {
    let cases = [
        Pswincom::builder().credentials("", "p"),
        Pswincom::builder().credentials("u", ""),
        Pswincom::builder()
            .credentials("u", "p")
            .base_url("http://xml.pswin.com/"),
        Pswincom::builder()
            .credentials("u", "p")
            .base_url("ftp://xml.pswin.com/"),
        Pswincom::builder()
            .credentials("u", "p")
            .failover_url("http://xml2.pswin.com/"),
        Pswincom::builder()
            .credentials("u", "p")
            .base_url("not a url"),
    ];
    for b in cases {
        let debug = format!("{b:?}");
        let e = b.build().expect_err(&debug);
        assert_eq!(e.kind(), SmsErrorKind::InvalidConfig, "{debug}");
    }
    assert!(Pswincom::builder().credentials("u", "p").build().is_ok());
}

#[tokio::test]
async fn settings_build_the_real_provider_and_send_a_test_sms() {
    let emu = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
        .await
        .unwrap();
    let json = format!(
        r#"{{"provider": "pswincom", "pswin_username": "crm", "pswin_password": "{PASSWORD}",
             "priority": 3, "sender": "SuperOffice", "default_country": "NO",
             "base_url": "{}", "allow_insecure_http": true}}"#,
        emu.base_url()
    );
    let settings: SmsSettings = serde_json::from_str(&json).unwrap();
    assert_eq!(settings.provider, ProviderKind::Pswincom);
    let d = settings.send_test_sms("41 00 00 00", None).await;
    assert!(
        matches!(d, Diagnosis::Accepted { reference: Some(_) }),
        "{d}"
    );
    let got = &emu.received()[0].request.messages[0];
    assert_eq!(got.receiver, "4741000000");
    assert_eq!(got.text, crm_comms::settings::DEFAULT_TEST_TEXT);

    let mut wrong = settings.clone();
    wrong.password = Some("nope".into());
    assert!(matches!(
        wrong.send_test_sms("41 00 00 00", None).await,
        Diagnosis::CredentialsRejected(_)
    ));
    let mut insecure = settings.clone();
    insecure.allow_insecure_http = false;
    assert!(matches!(
        insecure.send_test_sms("41 00 00 00", None).await,
        Diagnosis::SettingsInvalid(_)
    ));
}

#[test]
fn the_documented_failover_host_only_follows_the_documented_url() {
    let shown = |b: crm_comms::pswincom::PswincomBuilder| {
        format!("{:?}", b.credentials("crm", PASSWORD).build().unwrap())
    };
    assert!(shown(Pswincom::builder()).contains("failover_url: Some(\"https://xml2.pswin.com/\")"));
    // A test host or a proxy must never fail over to the real gateway.
    assert!(
        shown(Pswincom::builder().base_url("https://proxy.example.com/"))
            .contains("failover_url: None")
    );
    assert!(
        shown(
            Pswincom::builder()
                .base_url("https://proxy.example.com/")
                .failover_url("https://proxy2.example.com/")
        )
        .contains("failover_url: Some(\"https://proxy2.example.com/\")")
    );
    assert!(shown(Pswincom::builder().no_failover()).contains("failover_url: None"));
}
