//! Secrets stay secret: every public type that holds a credential is
//! walked, and its `Debug`, `Display`, serialised form and every error it
//! can produce are searched for the password. Sends that fail (wrong
//! password, faults) are run with a `tracing` subscriber capturing every
//! event at TRACE level; the captured text must contain no password and no
//! full phone number.
#![cfg(all(
    feature = "intelecom",
    feature = "pswincom",
    feature = "smtp",
    feature = "testing",
    feature = "receiver",
    feature = "json",
    feature = "toml"
))]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_comms::intelecom::{Intelecom, IntelecomMail, SmtpSecurity};
use crm_comms::pswincom::Pswincom;
use crm_comms::receiver::WebhookReceiver;
use crm_comms::settings::{ProviderKind, SmsSettings, SmtpSettings};
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::tracking::DeliveryEvent;
use crm_comms::sms::{Failover, Message, Secret, SendReport, SmsProvider};
use crm_comms::testing::intelecom_emulator::{self, IntelecomEmulator, IntelecomWire};
use crm_comms::testing::pswincom_emulator::{self, PswincomEmulator, PswincomWire};
use crm_comms::testing::smtp_server::SmtpServer;

const PASSWORD: &str = "Pw-7Kq9zX";
const NUMBERS: [&str; 3] = ["+4741000017", "+4792345678", "+4741999923"];

/// Fails with the offending text if `PASSWORD` occurs in it.
fn clean(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "{what} shows the password: {text}"
    );
}

fn message() -> Message {
    Message::builder()
        .to_all(NUMBERS.iter().map(|n| n.parse().unwrap()))
        .text("Hei")
        .build()
        .unwrap()
}

fn report_is_clean(what: &str, r: &SendReport) {
    clean(what, &format!("{r:?}"));
    for o in r.outcomes() {
        clean(what, &format!("{:?}", o.outcome));
        if let Some(e) = o.outcome.error() {
            clean(what, &e.to_string());
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                clean(what, &s.to_string());
                source = s.source();
            }
        }
    }
}

#[test]
fn credential_types_never_show_the_password() {
    let secret = Secret::new(PASSWORD);
    clean("Secret", &format!("{secret:?}"));
    clean("Secret as JSON", &serde_json::to_string(&secret).unwrap());

    let ib = Intelecom::builder()
        .service_id(1)
        .credentials("crm", PASSWORD);
    clean("IntelecomBuilder", &format!("{ib:?}"));
    let i = ib.build().unwrap();
    clean("Intelecom", &format!("{i:?}"));

    let pb = Pswincom::builder().credentials("crm", PASSWORD);
    clean("PswincomBuilder", &format!("{pb:?}"));
    let p = pb.build().unwrap();
    clean("Pswincom", &format!("{p:?}"));
    clean("Failover", &format!("{:?}", Failover::new(i, p)));

    let mb = IntelecomMail::builder()
        .service_id(1)
        .from("crm@example.com")
        .smtp("smtp.example.com", SmtpSecurity::StartTls)
        .smtp_credentials("crm", PASSWORD);
    clean("IntelecomMailBuilder", &format!("{mb:?}"));
    clean("IntelecomMail", &format!("{:?}", mb.build().unwrap()));

    let mut smtp = SmtpSettings::new("smtp.example.com", SmtpSecurity::StartTls, "crm@x.no");
    smtp.user_name = Some("crm".into());
    smtp.password = Some(PASSWORD.into());
    for settings in [
        SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_credentials("crm", PASSWORD),
        SmsSettings::new(ProviderKind::Pswincom).with_credentials("crm", PASSWORD),
        SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_email(smtp.clone()),
    ] {
        clean("SmsSettings", &format!("{settings:?}"));
        clean(
            "SmsSettings as JSON",
            &serde_json::to_string(&settings).unwrap(),
        );
        clean("SmsSettings as TOML", &toml::to_string(&settings).unwrap());
        clean(
            "the built provider",
            &format!("{:?}", settings.build_provider().unwrap()),
        );
    }
    clean("SmtpSettings", &format!("{smtp:?}"));

    let router = InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) });
    let receiver = WebhookReceiver::builder(router, |_: DeliveryEvent| async {
        Ok::<(), HandlerError>(())
    })
    .secret_header("x-api-key", PASSWORD)
    .secret_query("secret", PASSWORD);
    clean("ReceiverBuilder", &format!("{receiver:?}"));
    clean(
        "WebhookReceiver",
        &format!("{:?}", receiver.build().unwrap()),
    );
}

#[test]
fn settings_errors_never_quote_the_password() {
    // Every check `validate` makes, each with the password present.
    let mut cases = vec![
        SmsSettings::new(ProviderKind::Intelecom).with_credentials("crm", PASSWORD),
        SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_credentials("", PASSWORD),
        SmsSettings::new(ProviderKind::Pswincom).with_credentials("crm", PASSWORD),
    ];
    cases[2].priority = 9;
    let mut insecure = SmsSettings::new(ProviderKind::Pswincom).with_credentials("crm", PASSWORD);
    insecure.base_url = Some(format!("http://crm:{PASSWORD}@example.com/"));
    cases.push(insecure);
    let mut in_url = SmsSettings::new(ProviderKind::Intelecom)
        .with_service_id(1)
        .with_credentials("crm", PASSWORD);
    in_url.base_url = Some(format!("https://crm:{PASSWORD}@example.com/"));
    cases.push(in_url);
    let mut mail = SmtpSettings::new("smtp.example.com", SmtpSecurity::StartTls, "not an address");
    mail.password = Some(PASSWORD.into());
    cases.push(
        SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_email(mail),
    );
    let mut failures = 0;
    for s in &cases {
        let results = [s.validate().err(), s.build_provider().err()];
        for e in results.into_iter().flatten() {
            failures += 1;
            clean("SettingsError (Display)", &e.to_string());
            clean("SettingsError (Debug)", &format!("{e:?}"));
        }
    }
    assert!(failures >= cases.len(), "every case is refused somewhere");
    let e = cases[4].build_provider().unwrap_err();
    assert!(
        e.to_string()
            .contains("must not carry a user name or password"),
        "{e}"
    );

    // Settings files where the password has the wrong type: the parsers'
    // messages quote the value they could not take.
    let dir = std::env::temp_dir().join(format!("crm-comms-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = [
        (
            "numeric.json",
            r#"{"provider":"pswincom","user_name":"crm","password":73910455}"#.to_owned(),
        ),
        (
            "float.json",
            r#"{"provider":"pswincom","user_name":"crm","password":7391.0455}"#.to_owned(),
        ),
        (
            "bool.toml",
            "provider = \"pswincom\"\nuser_name = \"crm\"\npassword = true\n".to_owned(),
        ),
        (
            "numeric.toml",
            "provider = \"pswincom\"\nuser_name = \"crm\"\npassword = 73910455\n".to_owned(),
        ),
        (
            "broken.toml",
            format!("provider = \"pswincom\"\npassword = \"{PASSWORD}\nuser_name = 3\n"),
        ),
        (
            "broken.json",
            format!(r#"{{"provider":"pswincom","password":"{PASSWORD}","priority":"x"}}"#),
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let e = SmsSettings::load(&path).expect_err(name);
        let shown = format!("{e} {e:?}");
        clean(name, &shown);
        for value in ["73910455", "7391.0455", "7391"] {
            assert!(!shown.contains(value), "{name}: {shown}");
        }
    }
    // A numeric password is still a password.
    let path = dir.join("numeric.json");
    let s = SmsSettings::load(&path);
    assert!(s.is_err(), "only strings are passwords");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn emulators_and_the_smtp_server_mask_the_password() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let i = IntelecomEmulator::start(IntelecomWire::new(1, "crm", PASSWORD))
            .await
            .unwrap();
        let p = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
            .await
            .unwrap();
        let s = SmtpServer::start_with_login("crm", PASSWORD).await.unwrap();
        clean("IntelecomEmulator", &format!("{i:?}"));
        clean("PswincomEmulator", &format!("{p:?}"));
        clean("SmtpServer", &format!("{s:?}"));

        let good = Intelecom::builder()
            .base_url(i.base_url())
            .dangerous_allow_http()
            .service_id(1)
            .credentials("crm", PASSWORD)
            .build()
            .unwrap();
        assert!(good.send(&message()).await.all_accepted());
        let good = p.client_builder().build().unwrap();
        assert!(good.send(&message()).await.all_accepted());
        clean("intelecom Received", &format!("{:?}", i.received()));
        clean("pswincom Received", &format!("{:?}", p.received()));
        let _ = (
            intelecom_emulator::MAX_RECORDED,
            pswincom_emulator::MAX_RECORDED,
        );
    });
}

/// Every `tracing` event, formatted, into one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn failing_sends_log_no_password_and_no_full_number() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let wrong = "Wr0ng-Pw-1234";
        // Intelecom: wrong password, then a reset after the body was read.
        let i = IntelecomEmulator::start(IntelecomWire::new(1, "crm", PASSWORD))
            .await
            .unwrap();
        let p = Intelecom::builder()
            .base_url(i.base_url())
            .dangerous_allow_http()
            .service_id(1)
            .credentials("crm", wrong)
            .build()
            .unwrap();
        let r = p.send(&message()).await;
        assert_eq!(r.rejected().count(), 3, "{r:?}");
        let p = Intelecom::builder()
            .base_url(i.base_url())
            .dangerous_allow_http()
            .service_id(1)
            .credentials("crm", PASSWORD)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        i.fail_next(intelecom_emulator::IntelecomFault::ResetAfterBody);
        let r = p.send(&message()).await;
        assert_eq!(r.unknown().count(), 3, "{r:?}");
        report_is_clean("intelecom reset", &r);
        i.fail_next(intelecom_emulator::IntelecomFault::Answer(
            intelecom_emulator::IntelecomAnswerFault::StatusCodes(vec![1, 5, 1]),
        ));
        let r = p.send(&message()).await;
        assert_eq!(r.rejected().count(), 1, "{r:?}");

        // PSWinCom: LOGON FAIL with the wrong password, a refused ID.
        let e = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
            .await
            .unwrap();
        let p = Pswincom::builder()
            .base_url(e.base_url())
            .dangerous_allow_http()
            .credentials("crm", wrong)
            .build()
            .unwrap();
        let r = p.send(&message()).await;
        assert_eq!(r.rejected().count(), 3, "{r:?}");
        report_is_clean("pswincom logon fail", &r);
        let p = e.client_builder().build().unwrap();
        e.fail_next(pswincom_emulator::PswincomFault::Answer(
            pswincom_emulator::PswincomAnswerFault::FailIds(vec!["2".into()]),
        ));
        let r = p.send(&message()).await;
        assert_eq!(r.rejected().count(), 1, "{r:?}");

        // E-mail mode: the relay refuses the login.
        let smtp = SmtpServer::start_with_login("crm", PASSWORD).await.unwrap();
        let m = IntelecomMail::builder()
            .service_id(1)
            .from("crm@example.com")
            .smtp(smtp.host(), SmtpSecurity::DangerousPlaintext)
            .smtp_port(smtp.port())
            .smtp_credentials("crm", wrong)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let r = m.send(&message()).await;
        assert_eq!(r.rejected().count(), 3, "{r:?}");
        assert!(smtp.logins_refused() > 0);
        report_is_clean("smtp login refused", &r);

        // The settings' test SMS with the wrong password.
        let mut s = SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_credentials("crm", wrong);
        s.base_url = Some(i.base_url());
        s.allow_insecure_http = true;
        let d = s.send_test_sms(NUMBERS[0], None).await;
        assert!(!d.is_accepted());
        for shown in [format!("{d}"), format!("{d:?}")] {
            assert!(!shown.contains(wrong), "{shown}");
        }
        let _ = wrong;
    });
    let log = captured.text();
    assert!(
        log.contains("intelecom") && log.contains("pswincom"),
        "the sends were logged: {log}"
    );
    for secret in [PASSWORD, "Wr0ng-Pw-1234"] {
        assert!(!log.contains(secret), "the log shows a password:\n{log}");
    }
    for n in NUMBERS {
        let digits = n.trim_start_matches('+');
        assert!(
            !log.contains(digits),
            "the log shows the full number {n}:\n{log}"
        );
    }
}
