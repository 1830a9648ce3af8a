//! Intelecom's e-mail mode against a real SMTP server on loopback: the mail
//! that arrives is read back and parsed, faults give the right outcome,
//! and no input can add a header or a recipient.
#![cfg(all(feature = "smtp", feature = "testing"))]

use std::time::Duration;

use crm_comms::intelecom::{IntelecomMail, SmtpRelay, SmtpSecurity};
use crm_comms::settings::{Diagnosis, ProviderKind, SmsSettings, SmtpSettings};
use crm_comms::sms::{Message, Outcome, Priority, SendReport, Sender, SmsErrorKind, SmsProvider};
use crm_comms::testing::conformance::{Config, run_all};
use crm_comms::testing::smtp_server::{ReceivedMail, SmtpFault, SmtpServer};

const SMTP_PASSWORD: &str = "smtp-s3cret";

fn provider(server: &SmtpServer) -> IntelecomMail<SmtpRelay> {
    IntelecomMail::builder()
        .service_id(1234)
        .from("CRM <crm@example.com>")
        .smtp(server.host(), SmtpSecurity::DangerousPlaintext)
        .smtp_port(server.port())
        .timeout(Duration::from_secs(5))
        .concurrency(1)
        .build()
        .unwrap()
}

fn message(n: usize, text: &str) -> Message {
    Message::builder()
        .to_all((0..n).map(|i| format!("+4741000{i:03}").parse().unwrap()))
        .text(text)
        .build()
        .unwrap()
}

fn kinds(r: &SendReport) -> Vec<(&'static str, Option<SmsErrorKind>)> {
    r.outcomes()
        .iter()
        .map(|o| match &o.outcome {
            Outcome::Accepted { reference: None } => ("accepted", None),
            Outcome::Accepted { .. } => ("accepted with a reference", None),
            Outcome::Rejected(e) => ("rejected", Some(e.kind())),
            Outcome::Unknown(e) => ("unknown", Some(e.kind())),
            _ => ("other", None),
        })
        .collect()
}

/// The parsed mail: (headers as (name, value), decoded body).
fn parse(mail: &ReceivedMail) -> (Vec<(String, String)>, String) {
    let parsed = mailparse::parse_mail(&mail.data).expect("a well-formed mail");
    let headers = parsed
        .headers
        .iter()
        .map(|h| (h.get_key().to_ascii_lowercase(), h.get_value()))
        .collect();
    (headers, parsed.get_body().expect("a decodable body"))
}

#[tokio::test]
async fn one_mail_per_recipient_with_the_text_as_body() {
    let server = SmtpServer::start().await.unwrap();
    let p = provider(&server);
    let text = "Hei på deg! Møte kl. 10 i Ålesund, ÆØÅ æøå.";
    let report = p.send(&message(3, text)).await;
    assert_eq!(kinds(&report), vec![("accepted", None); 3]);

    let mails = server.received();
    assert_eq!(mails.len(), 3, "one mail per recipient");
    for (i, mail) in mails.iter().enumerate() {
        let address = format!("4741000{i:03}-1234@smsmail.intele.com");
        assert_eq!(mail.to, vec![address.clone()], "envelope recipient");
        assert_eq!(mail.from, "crm@example.com", "envelope sender");
        let (headers, body) = parse(mail);
        let get = |name: &str| {
            headers
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("to"), vec![address.as_str()]);
        assert_eq!(get("from"), vec!["CRM <crm@example.com>"]);
        assert!(get("subject").is_empty(), "no subject unless configured");
        assert_eq!(get("date").len(), 1);
        assert_eq!(get("message-id").len(), 1);
        assert!(get("content-type")[0].starts_with("text/plain"));
        assert!(get("content-type")[0].contains("utf-8"));
        assert_eq!(
            body,
            format!("{text}\r\n"),
            "the body is the text, as one CRLF-ended line"
        );
        // Seven-bit clean on the wire.
        assert!(mail.data.is_ascii());
    }
    assert_eq!(
        p.address_for(&"+4799999999".parse().unwrap()),
        "4799999999-1234@smsmail.intele.com"
    );
}

#[tokio::test]
async fn awkward_texts_arrive_unchanged() {
    let server = SmtpServer::start().await.unwrap();
    let p = provider(&server);
    let texts = [
        // A line with only a dot would end DATA without dot-stuffing.
        "first\r\n.\r\nlast".to_string(),
        ".leading dot".to_string(),
        "From the CRM: a line starting with From".to_string(),
        // Longer than a mail line may be.
        "a".repeat(900),
        "=3D is not an escape here; 100% = ok".to_string(),
    ];
    for text in &texts {
        let report = p.send(&message(1, text)).await;
        assert!(report.all_accepted(), "{text:?}: {report:?}");
    }
    let bodies: Vec<String> = server.received().iter().map(|m| parse(m).1).collect();
    let expected: Vec<String> = texts.iter().map(|t| format!("{t}\r\n")).collect();
    assert_eq!(bodies, expected);
}

#[tokio::test]
async fn nothing_a_user_typed_adds_a_header_or_recipient() {
    let server = SmtpServer::start().await.unwrap();
    let p = provider(&server);
    let text = "Hei\r\nBcc: evil@example.com\r\nSubject: pwned\r\n\r\nbody";
    let report = p.send(&message(1, text)).await;
    assert!(report.all_accepted(), "{report:?}");
    let mail = &server.received()[0];
    assert_eq!(mail.to, vec!["4741000000-1234@smsmail.intele.com"]);
    let (headers, body) = parse(mail);
    assert!(headers.iter().all(|(k, _)| k != "bcc" && k != "subject"));
    assert_eq!(body, format!("{text}\r\n"));

    // Configuration with header-breaking characters is refused up front.
    let base = || {
        IntelecomMail::builder()
            .service_id(1234)
            .from("crm@example.com")
            .smtp("127.0.0.1", SmtpSecurity::DangerousPlaintext)
    };
    let refused = [
        base().from("crm@example.com\r\nBcc: evil@example.com"),
        base().from("CRM <crm@example.com>, evil@example.com"),
        base().subject("Hi\r\nBcc: evil@example.com"),
        base().domain("smsmail.intele.com>\r\nBcc: evil@example.com"),
        base().domain("smsmail.intele.com, evil@example.com"),
        base().smtp("evil.example.com\r\nRCPT TO:<x@y>", SmtpSecurity::StartTls),
        base().from(""),
        base().service_id(0),
        base().smtp(" ", SmtpSecurity::StartTls),
    ];
    for b in refused {
        let debug = format!("{b:?}");
        let e = b.build().expect_err(&debug);
        assert_eq!(e.kind(), SmsErrorKind::InvalidConfig, "{debug}: {e}");
    }
}

#[tokio::test]
async fn what_the_mode_cannot_do_is_refused_before_sending() {
    let server = SmtpServer::start().await.unwrap();
    let p = provider(&server);
    let to = || Message::builder().to("+4741000000".parse().unwrap());

    let with_dr = to().text("x").delivery_report(true).build().unwrap();
    let with_sender = to()
        .text("x")
        .sender(Sender::alphanumeric("CRM").unwrap())
        .build()
        .unwrap();
    let unicode = to().text("Møte ✅").build().unwrap();
    let too_long = to().text("a".repeat(919)).build().unwrap();
    for (m, kind) in [
        (with_dr, SmsErrorKind::NotSupported),
        (with_sender, SmsErrorKind::InvalidSender),
        (unicode, SmsErrorKind::UnsupportedText),
        (too_long, SmsErrorKind::TextTooLong),
    ] {
        let r = p.send(&m).await;
        assert_eq!(kinds(&r), vec![("rejected", Some(kind))]);
        assert!(!r.outcomes()[0].outcome.may_have_been_sent());
    }
    assert!(server.received().is_empty(), "nothing was mailed");

    // Priority is a documented no-op.
    let high = to().text("x").priority(Priority::High).build().unwrap();
    assert!(p.send(&high).await.all_accepted());
    assert!(!p.capabilities().priority);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn logs_in_to_the_relay_and_reports_a_refused_login() {
    let server = SmtpServer::start_with_login("crm", SMTP_PASSWORD)
        .await
        .unwrap();
    let build = |password: &str| {
        IntelecomMail::builder()
            .service_id(1234)
            .from("crm@example.com")
            .smtp(server.host(), SmtpSecurity::DangerousPlaintext)
            .smtp_port(server.port())
            .smtp_credentials("crm", password)
            .build()
            .unwrap()
    };
    let good = build(SMTP_PASSWORD);
    assert!(!format!("{good:?}").contains(SMTP_PASSWORD));
    assert!(good.send(&message(1, "Hei")).await.all_accepted());
    assert_eq!(server.received()[0].user.as_deref(), Some("crm"));

    let bad = build("wrong-password");
    let r = bad.send(&message(2, "Hei")).await;
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::Unauthenticated)); 2]
    );
    let e = r.outcomes()[0].outcome.error().unwrap();
    assert!(e.is_auth() && r.outcomes()[0].outcome.is_retryable());
    assert!(!e.to_string().contains("wrong-password"));
    assert!(server.logins_refused() >= 1);
    assert_eq!(server.received().len(), 1);

    // Without a login the relay refuses the mail.
    let anonymous = provider(&server);
    let r = anonymous.send(&message(1, "Hei")).await;
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::Unauthenticated))]
    );
}

#[tokio::test]
async fn relay_faults_give_each_recipient_the_right_outcome() {
    let server = SmtpServer::start().await.unwrap();
    let p = provider(&server);
    for (fault, expected, retryable, not_sent) in [
        (
            SmtpFault::RejectRecipient,
            ("rejected", Some(SmsErrorKind::Rejected)),
            false,
            true,
        ),
        (
            SmtpFault::TemporaryFailure,
            ("rejected", Some(SmsErrorKind::Unavailable)),
            true,
            true,
        ),
        (
            SmtpFault::PermanentFailure,
            ("rejected", Some(SmsErrorKind::Rejected)),
            false,
            true,
        ),
        (
            SmtpFault::CloseAfterData,
            ("unknown", Some(SmsErrorKind::Protocol)),
            false,
            false,
        ),
    ] {
        let before = server.received().len();
        // The fault hits the middle recipient of three.
        server.fail_after(1, fault);
        let r = p.send(&message(3, "Hei")).await;
        assert_eq!(
            kinds(&r),
            vec![("accepted", None), expected, ("accepted", None)],
            "{fault:?}"
        );
        assert!(r.is_partial());
        let failed: Vec<_> = r
            .rejected()
            .chain(r.unknown())
            .map(|o| o.recipient.e164().to_owned())
            .collect();
        assert_eq!(
            failed,
            ["+4741000001"],
            "the report says which recipient failed"
        );
        let o = &r.outcomes()[1].outcome;
        assert_eq!(o.is_retryable(), retryable, "{fault:?}: {o:?}");
        assert_eq!(!o.may_have_been_sent(), not_sent, "{fault:?}: {o:?}");
        assert_eq!(server.received().len(), before + 2, "{fault:?}");
    }
}

#[tokio::test]
async fn an_unreachable_or_silent_relay_is_reported() {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let p = IntelecomMail::builder()
        .service_id(1234)
        .from("crm@example.com")
        .smtp("127.0.0.1", SmtpSecurity::DangerousPlaintext)
        .smtp_port(port)
        .build()
        .unwrap();
    let r = p.send(&message(2, "Hei")).await;
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::Unavailable)); 2]
    );
    assert!(r.outcomes()[0].outcome.is_retryable());

    // A server that accepts the connection and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let p = IntelecomMail::builder()
        .service_id(1234)
        .from("crm@example.com")
        .smtp("127.0.0.1", SmtpSecurity::DangerousPlaintext)
        .smtp_port(port)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = p.send(&message(1, "Hei")).await;
    // Whether the relay took the mail cannot be known from outside, so the
    // safe reading: unknown, never to be retried blindly.
    assert_eq!(kinds(&r), vec![("unknown", Some(SmsErrorKind::Timeout))]);
    assert!(!r.outcomes()[0].outcome.is_retryable());
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let server = SmtpServer::start_with_login("crm", SMTP_PASSWORD)
        .await
        .unwrap();
    let p = IntelecomMail::builder()
        .service_id(1234)
        .from("crm@example.com")
        .smtp(server.host(), SmtpSecurity::DangerousPlaintext)
        .smtp_port(server.port())
        .smtp_credentials("crm", SMTP_PASSWORD)
        .concurrency(3)
        .build()
        .unwrap();
    let config = Config {
        secrets: vec![SMTP_PASSWORD.into()],
        ..Config::default()
    };
    run_all(&p, &config).await;
    assert!(!server.received().is_empty());
}

#[test]
fn builds_outside_a_runtime_and_refuses_to_send_there() {
    let p = IntelecomMail::builder()
        .service_id(1234)
        .from("crm@example.com")
        .smtp("127.0.0.1", SmtpSecurity::DangerousPlaintext)
        .build()
        .unwrap();
    // A non-Tokio executor: a clear error, not a panic.
    let r = futures_executor_block_on(p.send(&message(1, "Hei")));
    assert_eq!(
        kinds(&r),
        vec![("rejected", Some(SmsErrorKind::InvalidConfig))]
    );
}

/// Polls a future to completion on this thread, without Tokio.
fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[tokio::test]
async fn settings_in_email_mode_build_the_mail_provider() {
    let server = SmtpServer::start().await.unwrap();
    let json = format!(
        r#"{{
        "provider": "intelecom", "use_web_service": false, "intele_serviceId": "1234",
        "priority": 3, "default_country": "NO",
        "smtp": {{ "host": "127.0.0.1", "port": {port}, "security": "dangerous_plaintext",
                   "from": "crm@example.com", "subject": "SMS" }}
    }}"#,
        port = server.port()
    );
    let settings: SmsSettings = serde_json::from_str(&json).unwrap();
    settings.validate().unwrap();
    let p = settings.build_provider().unwrap();
    assert_eq!(p.name(), "intelecom-mail");
    assert!(!settings.capabilities().references);

    let d = settings.send_test_sms("41 00 00 00", None).await;
    assert_eq!(d, Diagnosis::Accepted { reference: None }, "{d}");
    let mail = &server.received()[0];
    assert_eq!(mail.to, vec!["4741000000-1234@smsmail.intele.com"]);
    let (headers, body) = parse(mail);
    assert!(headers.contains(&("subject".into(), "SMS".into())));
    assert_eq!(
        body,
        format!("{}\r\n", crm_comms::settings::DEFAULT_TEST_TEXT)
    );

    // What the mode cannot do is a settings error naming the field.
    let mut with_dr = settings.clone();
    with_dr.delivery_report = true;
    assert_eq!(with_dr.validate().unwrap_err().field, "delivery_report");
    let mut with_sender = settings.clone();
    with_sender.sender = Some("CRM".into());
    assert_eq!(with_sender.validate().unwrap_err().field, "sender");
    let no_relay = SmsSettings::new(ProviderKind::Intelecom).with_service_id(1234);
    let mut no_relay = no_relay;
    no_relay.use_web_service = false;
    assert_eq!(no_relay.validate().unwrap_err().field, "smtp");
    let bad_from = SmsSettings::new(ProviderKind::Intelecom)
        .with_service_id(1234)
        .with_email(SmtpSettings::new(
            "127.0.0.1",
            SmtpSecurity::StartTls,
            "not an address",
        ));
    assert_eq!(bad_from.build_provider().unwrap_err().field, "smtp.from");
}
