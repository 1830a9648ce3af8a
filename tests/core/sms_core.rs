//! The SMS contract: the stub passes the conformance suite; failover,
//! settings, the test-SMS diagnosis and secret hygiene.

use std::sync::Arc;

use crm_comms::intelecom::SmtpSecurity;
use crm_comms::settings::{Diagnosis, ProviderKind, SmsSettings, SmtpSettings};
use crm_comms::sms::{
    Capabilities, Failover, Message, Outcome, SmsError, SmsErrorKind, SmsProvider, SmsProviderExt,
    StubProvider,
};

fn msg(n: usize) -> Message {
    let numbers = (0..n).map(|i| format!("+479000{i:04}").parse().unwrap());
    Message::builder()
        .to_all(numbers)
        .text("Hei")
        .build()
        .unwrap()
}

#[cfg(feature = "testing")]
mod conformance {
    use super::*;
    use crm_comms::sms::SendReport;
    use crm_comms::testing::conformance::{Config, run_all};

    #[tokio::test]
    async fn stub_passes_with_default_capabilities() {
        run_all(&StubProvider::new_ok(), &Config::default()).await;
    }

    /// Issue 32: a gateway with no batch limit (`max_batch = usize::MAX`)
    /// is checked without the suite overflowing.
    #[tokio::test]
    async fn an_unlimited_batch_size_does_not_overflow_the_suite() {
        let stub = StubProvider::new_ok()
            .with_capabilities(Capabilities::full().with_max_batch(usize::MAX));
        run_all(&stub, &Config::default()).await;
    }

    #[tokio::test]
    async fn stub_passes_as_each_gateway_and_behind_arc_and_box() {
        for kind in [ProviderKind::Intelecom, ProviderKind::Pswincom] {
            let stub =
                StubProvider::new_ok().with_capabilities(kind.capabilities().with_max_batch(2));
            let boxed: Box<dyn SmsProvider> = Box::new(stub);
            run_all(&boxed, &Config::default()).await;
            let arc: Arc<dyn SmsProvider> = Arc::new(boxed);
            run_all(&arc, &Config::default()).await;
        }
    }

    #[tokio::test]
    async fn failover_passes_too() {
        let f = Failover::new(
            StubProvider::new_error(SmsErrorKind::Unavailable),
            StubProvider::new_ok(),
        );
        run_all(&f, &Config::default()).await;
    }

    #[tokio::test]
    #[should_panic(expected = "exactly one outcome per recipient")]
    async fn the_suite_catches_a_provider_that_drops_recipients() {
        #[derive(Debug)]
        struct Lossy;
        #[async_trait::async_trait]
        impl SmsProvider for Lossy {
            fn name(&self) -> &'static str {
                "lossy"
            }
            fn capabilities(&self) -> Capabilities {
                Capabilities::full()
            }
            async fn send(&self, m: &Message) -> SendReport {
                let mut r = SendReport::same_for_all(
                    m,
                    "lossy",
                    Outcome::Accepted {
                        reference: Some("x".into()),
                    },
                )
                .into_outcomes();
                r.pop();
                SendReport::new(r)
            }
        }
        run_all(&Lossy, &Config::default()).await;
    }
}

#[tokio::test]
async fn stub_records_batches_and_scripts_per_recipient() {
    let stub = StubProvider::scripted(|n| {
        if n.e164().ends_with('1') {
            Outcome::Rejected(SmsError::new(SmsErrorKind::Rejected, "stub", "barred"))
        } else {
            Outcome::Accepted {
                reference: Some(n.e164().into()),
            }
        }
    })
    .with_capabilities(Capabilities::full().with_max_batch(2));
    let m = msg(5);
    let report = stub.send(&m).await;
    assert_eq!(report.outcomes().len(), 5);
    assert!(report.is_partial());
    assert_eq!(report.rejected().count(), 1);
    assert_eq!(
        stub.messages()
            .iter()
            .map(|b| b.recipients().len())
            .collect::<Vec<_>>(),
        [2, 2, 1]
    );
}

#[tokio::test]
async fn a_whole_request_failure_is_one_outcome_per_recipient() {
    let stub = StubProvider::new_error(SmsErrorKind::Unauthenticated);
    let report = stub.send(&msg(3)).await;
    assert_eq!(report.outcomes().len(), 3);
    assert!(
        report
            .outcomes()
            .iter()
            .all(|o| o.outcome.error().is_some_and(SmsError::is_auth))
    );
}

#[tokio::test]
async fn send_text_convenience() {
    let stub = StubProvider::new_ok();
    let r = stub
        .send_text("+4790000001".parse().unwrap(), "Hei")
        .await
        .unwrap();
    assert_eq!(r.as_deref(), Some("stub-1"));
    let e = StubProvider::new_unknown()
        .send_text("+4790000001".parse().unwrap(), "Hei")
        .await
        .unwrap_err();
    assert!(e.is_timeout());
}

#[tokio::test]
async fn failover_only_when_certainly_not_sent() {
    // Rejected before the gateway took the message, for a reason outside it.
    for kind in [
        SmsErrorKind::Unavailable,
        SmsErrorKind::Tls,
        SmsErrorKind::Unauthenticated,
        SmsErrorKind::Timeout,
        SmsErrorKind::RateLimited,
    ] {
        let second = Arc::new(StubProvider::new_ok().with_name("second"));
        let f = Failover::new(
            StubProvider::new_error(kind).with_name("first"),
            second.clone(),
        );
        let report = f.send(&msg(3)).await;
        assert!(report.all_accepted(), "{kind:?}");
        assert!(report.outcomes().iter().all(|o| o.provider == "second"));
        assert_eq!(second.messages().len(), 1);
    }
    // Never after an unknown outcome, a refusal of the message, a gateway
    // rejection, or a gateway's internal error (it may have the message).
    for first in [
        StubProvider::new_unknown(),
        StubProvider::new_error(SmsErrorKind::GatewayInternal),
        StubProvider::new_error(SmsErrorKind::InvalidSender),
        StubProvider::new_error(SmsErrorKind::Rejected),
        StubProvider::new_error(SmsErrorKind::InvalidRecipient),
        StubProvider::scripted(|_| {
            Outcome::Unknown(SmsError::new(
                SmsErrorKind::GatewayInternal,
                "first",
                "HTTP 503",
            ))
        }),
        StubProvider::scripted(|_| {
            Outcome::Unknown(SmsError::new(SmsErrorKind::Unavailable, "first", "reset"))
        }),
    ] {
        let second = Arc::new(StubProvider::new_ok().with_name("second"));
        let f = Failover::new(first.with_name("first"), second.clone());
        let report = f.send(&msg(2)).await;
        assert!(!report.all_accepted());
        assert!(report.outcomes().iter().all(|o| o.provider == "first"));
        assert!(
            second.messages().is_empty(),
            "the second provider must not be used"
        );
    }
    // Partial: only the recipients that certainly failed go to the second provider.
    let first = StubProvider::scripted(|n| {
        if n.e164().ends_with('0') {
            Outcome::Rejected(SmsError::new(
                SmsErrorKind::Unavailable,
                "first",
                "connection refused",
            ))
        } else if n.e164().ends_with('1') {
            Outcome::Unknown(SmsError::new(
                SmsErrorKind::Timeout,
                "first",
                "timed out after sending",
            ))
        } else {
            Outcome::Accepted {
                reference: Some("r".into()),
            }
        }
    })
    .with_name("first");
    let second = Arc::new(StubProvider::new_ok().with_name("second"));
    let report = Failover::new(first, second.clone()).send(&msg(3)).await;
    let providers: Vec<&str> = report
        .outcomes()
        .iter()
        .map(|o| o.provider.as_str())
        .collect();
    assert_eq!(providers, ["second", "first", "first"]);
    assert_eq!(second.messages()[0].recipients().len(), 1);
    assert!(matches!(report.outcomes()[1].outcome, Outcome::Unknown(_)));
}

#[test]
fn settings_accept_the_crm_plugin_keys() {
    let s: SmsSettings = serde_json::from_str(
        r#"{"provider":"pswincom","pswin_username":"crm","pswin_password":"hunter2","sms_endpoint":"SO","sender":"Firma"}"#,
    )
    .unwrap();
    s.validate().unwrap();
    assert_eq!(s.user_name.as_deref(), Some("crm"));
    let s: SmsSettings = serde_json::from_str(
        r#"{"provider":"intelecom","intele_serviceId":1234,"intele_username":"u","intele_password":"p","priority":1,"default_country":"47"}"#,
    )
    .unwrap();
    assert_eq!(s.service_id(), Some(1234));
    assert_eq!(s.default_country().unwrap().region(), "NO");
    assert!(
        serde_json::from_str::<SmsSettings>(r#"{"provider":"intelecom","colour":"red"}"#).is_err()
    );
    // Written back out, the password is masked.
    assert!(!serde_json::to_string(&s).unwrap().contains("\"p\""));
}

#[test]
fn settings_errors_name_the_field() {
    let ok = || {
        SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_credentials("u", "p")
    };
    let cases: Vec<(SmsSettings, &str, &str)> = vec![
        (
            {
                let mut s = ok();
                s.priority = 4;
                s
            },
            "priority",
            "1, 2 or 3, not 4",
        ),
        (
            SmsSettings::new(ProviderKind::Intelecom).with_credentials("u", "p"),
            "service_id",
            "required",
        ),
        (
            serde_json::from_str(
                r#"{"provider":"intelecom","service_id":"abc","user_name":"u","password":"p"}"#,
            )
            .unwrap(),
            "service_id",
            "\"abc\" is not a positive number",
        ),
        (
            serde_json::from_str(
                r#"{"provider":"intelecom","service_id":0,"user_name":"u","password":"p"}"#,
            )
            .unwrap(),
            "service_id",
            "not a positive number",
        ),
        (
            SmsSettings::new(ProviderKind::Intelecom)
                .with_service_id(1)
                .with_credentials("u", ""),
            "password",
            "required to use the web service",
        ),
        (
            {
                let mut s = ok();
                s.user_name = None;
                s
            },
            "user_name",
            "required",
        ),
        (
            {
                let mut s = ok();
                s.sender = Some("Hi!".into());
                s
            },
            "sender",
            "'!'",
        ),
        (
            {
                let mut s = ok();
                s.sender = Some("Sender with long name".into());
                s
            },
            "sender",
            "at most 11",
        ),
        (
            {
                let mut s = ok();
                s.default_country = Some("XX".into());
                s
            },
            "default_country",
            "not a known country",
        ),
        (
            {
                let mut s = SmsSettings::new(ProviderKind::Pswincom).with_credentials("u", "p");
                s.use_web_service = false;
                s
            },
            "use_web_service",
            "e-mail",
        ),
        (
            SmsSettings::new(ProviderKind::Pswincom),
            "user_name",
            "required",
        ),
    ];
    for (s, field, reason) in cases {
        let e = s.validate().unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.to_string().contains(reason), "{e}");
    }
    // E-mail mode for Intelecom needs no gateway credentials, but a relay.
    let mut s = SmsSettings::new(ProviderKind::Intelecom).with_service_id(7);
    s.use_web_service = false;
    assert_eq!(s.validate().unwrap_err().field, "smtp");
    let s = s.with_email(SmtpSettings::new(
        "smtp.example.com",
        SmtpSecurity::StartTls,
        "crm@example.com",
    ));
    s.validate().unwrap();
}

#[tokio::test]
async fn test_sms_diagnosis() {
    let no = "NO".parse().unwrap();
    type Check = fn(&Diagnosis) -> bool;
    let cases: Vec<(StubProvider, &str, Check)> = vec![
        (StubProvider::new_ok(), "22 33 44 55", |d| {
            matches!(d, Diagnosis::Accepted { reference: Some(_) })
        }),
        (
            StubProvider::new_error(SmsErrorKind::Unauthenticated),
            "22334455",
            |d| matches!(d, Diagnosis::CredentialsRejected(_)),
        ),
        (
            StubProvider::new_error(SmsErrorKind::InvalidSender),
            "22334455",
            |d| matches!(d, Diagnosis::SenderInvalid(_)),
        ),
        (
            StubProvider::new_error(SmsErrorKind::Unavailable),
            "22334455",
            |d| matches!(d, Diagnosis::GatewayUnreachable(_)),
        ),
        (
            StubProvider::new_error(SmsErrorKind::Tls),
            "22334455",
            |d| matches!(d, Diagnosis::TlsFailure(_)),
        ),
        (
            StubProvider::new_error(SmsErrorKind::RateLimited),
            "22334455",
            |d| matches!(d, Diagnosis::RateLimited(_)),
        ),
        (StubProvider::new_unknown(), "22334455", |d| {
            matches!(d, Diagnosis::Unknown(_))
        }),
        (
            StubProvider::new_ok().with_capabilities(
                Capabilities::full()
                    .with_sender_rules(crm_comms::intelecom::SENDER_RULES)
                    .with_unicode(false),
            ),
            "22334455",
            |d| d.is_accepted(),
        ),
    ];
    for (p, to, check) in cases {
        let message = Message::builder()
            .to(crm_comms::phone::PhoneNumber::parse(to, Some(&no)).unwrap())
            .text(crm_comms::settings::DEFAULT_TEST_TEXT)
            .build()
            .unwrap();
        let outcome = p
            .send(&message)
            .await
            .into_outcomes()
            .pop()
            .map(|o| o.outcome);
        let d = Diagnosis::of(outcome);
        assert!(check(&d), "{to}: {d}");
        assert!(!d.to_string().is_empty());
    }
    // A number that cannot be read is said so before anything is sent.
    let typo = SmsSettings::new(ProviderKind::Intelecom)
        .with_service_id(1)
        .with_credentials("u", "p");
    assert!(matches!(
        typo.send_test_sms("abc", None).await,
        Diagnosis::NumberInvalid(_)
    ));
    // Without the gateway's feature the settings refuse to build anything
    // (never a stub that claims success); with it, tests/gateways/pswincom_gateway.rs
    // tests the real client.
    #[cfg(not(feature = "pswincom"))]
    {
        let s = SmsSettings::new(ProviderKind::Pswincom).with_credentials("u", "hunter2");
        let d = s.send_test_sms("+4790000001", Some("Test")).await;
        assert!(!d.is_accepted(), "{d}");
    }
    let bad = SmsSettings::new(ProviderKind::Intelecom);
    assert!(matches!(
        bad.send_test_sms("+4790000001", None).await,
        Diagnosis::SettingsInvalid(_)
    ));
}

#[test]
fn secrets_never_show() {
    let s = SmsSettings::new(ProviderKind::Pswincom).with_credentials("user", "hunter2-secret");
    assert!(!format!("{s:?}").contains("hunter2-secret"));
    assert!(!format!("{:?}", s.password).contains("hunter2-secret"));
    let p = s.build_provider().unwrap();
    assert!(!format!("{p:?}").contains("hunter2-secret"));
    let expected = if cfg!(feature = "pswincom") {
        "pswincom"
    } else {
        "pswincom-stub"
    };
    assert_eq!(p.name(), expected);
}

#[test]
fn errors_are_send_sync_clone_and_constructible() {
    fn assert_traits<T: Send + Sync + Clone + std::error::Error + 'static>() {}
    assert_traits::<SmsError>();
    let e = SmsError::new(SmsErrorKind::Unavailable, "mine", "connection refused")
        .with_source(std::io::Error::other("refused"));
    assert!(Outcome::Rejected(e.clone()).is_retryable() && !e.is_auth());
    assert_eq!(e.to_string(), "mine: connection refused");
    assert!(std::error::Error::source(&e).is_some());
    let t = SmsError::new(SmsErrorKind::Timeout, "mine", "t");
    assert!(!Outcome::Unknown(t.clone()).is_retryable() && t.is_timeout());
}

/// Issue 19, item 5: exactly one outcome per recipient, whatever the batch
/// function returns.
#[tokio::test(flavor = "multi_thread")]
async fn send_in_batches_gives_one_outcome_per_recipient() {
    use crm_comms::sms::{RecipientOutcome, SendReport, send_in_batches};
    let m = msg(5);
    // Nothing at all.
    let r = send_in_batches(&m, "mine", 2, 2, |_| async { SendReport::new(vec![]) }).await;
    assert_eq!(r.outcomes().len(), 5);
    assert_eq!(r.unknown().count(), 5);
    assert!(
        r.unknown()
            .all(|o| o.outcome.error().unwrap().kind() == SmsErrorKind::Protocol)
    );
    let got: Vec<_> = r.outcomes().iter().map(|o| o.recipient).collect();
    assert_eq!(got, m.recipients());
    // Too many, and one skipped in the middle of a batch.
    let accepted = |b: &Message, skip: Option<usize>, extra: usize| {
        let mut v: Vec<RecipientOutcome> = b
            .recipients()
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, &recipient)| RecipientOutcome {
                recipient,
                outcome: Outcome::Accepted { reference: None },
                provider: "mine".into(),
            })
            .collect();
        for _ in 0..extra {
            v.push(v[0].clone());
        }
        SendReport::new(v)
    };
    let r = send_in_batches(&m, "mine", 5, 1, |b| async move { accepted(&b, None, 3) }).await;
    assert_eq!(r.outcomes().len(), 5);
    assert!(r.all_accepted());
    let r = send_in_batches(
        &m,
        "mine",
        3,
        2,
        |b| async move { accepted(&b, Some(1), 0) },
    )
    .await;
    let kinds: Vec<_> = r
        .outcomes()
        .iter()
        .map(|o| o.outcome.is_accepted())
        .collect();
    assert_eq!(kinds, [true, false, true, true, false]);
    assert!(!r.outcomes()[1].outcome.is_retryable());
}

/// Issue 20, item 7: the suite does not panic on an empty number list.
#[cfg(feature = "testing")]
#[tokio::test]
async fn conformance_with_no_numbers_uses_the_defaults() {
    let config = crm_comms::testing::conformance::Config {
        numbers: Vec::new(),
        ..Default::default()
    };
    crm_comms::testing::conformance::run_all(&StubProvider::new_ok(), &config).await;
}

/// Issue 30, item 10: a message always has a recipient, and batching never
/// hands a batch function an empty one.
#[test]
fn no_message_without_recipients_reaches_a_gateway() {
    let m = msg(3);
    let e = m.with_recipients(vec![]).unwrap_err();
    assert_eq!(e.kind(), SmsErrorKind::InvalidMessage);
    assert_eq!(
        m.batch(3, 10).unwrap_err().kind(),
        SmsErrorKind::InvalidMessage
    );
    assert_eq!(
        m.batch(0, 0).unwrap_err().kind(),
        SmsErrorKind::InvalidMessage
    );
    assert_eq!(m.batch(2, 10).unwrap().recipients().len(), 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for n in 1..=9 {
        for max_batch in [0, 1, 2, 3, 4, 10] {
            let m = msg(n);
            let calls = std::sync::Mutex::new(Vec::new());
            let report = rt.block_on(crm_comms::sms::send_in_batches(
                &m,
                "mine",
                max_batch,
                2,
                |batch: Message| {
                    calls.lock().unwrap().push(batch.recipients().len());
                    async move {
                        crm_comms::sms::SendReport::same_for_all(
                            &batch,
                            "mine",
                            Outcome::Accepted {
                                reference: Some("r".into()),
                            },
                        )
                    }
                },
            ));
            let calls = calls.into_inner().unwrap();
            assert!(calls.iter().all(|&c| c > 0), "{n}/{max_batch}: {calls:?}");
            assert_eq!(calls.iter().sum::<usize>(), n);
            assert_eq!(report.outcomes().len(), n);
        }
    }
}
