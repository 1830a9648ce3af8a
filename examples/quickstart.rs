//! The quick start, on embedded defaults (in-memory preferences, loopback
//! gateway emulators, no outside network):
//!
//! 1. call links for a contact from layered preferences;
//! 2. the settings page's "send a test SMS", through the Intelecom web
//!    service (a loopback emulator) and through its e-mail mode (a real SMTP
//!    server on loopback);
//! 3. a message to several recipients with one outcome each;
//! 4. a test SMS through `PSWinCom`'s XML API (a loopback emulator), with
//!    Norwegian and Unicode text and the request as the gateway saw it;
//! 5. the webhook receiver: a message sent, its delivery report pushed back
//!    and matched to it, and incoming SMS routed by the "SMS endpoint" code;
//! 6. an SMS mailing on the embedded store (a SQLite file in a temporary
//!    folder): personalised texts to a CSV of recipients (two blocked, with
//!    the reason), sent in one request, each delivery report matched to its
//!    recipient, a "STOPP" reply putting its sender on the opt-out list,
//!    and the per-recipient export; then a flash sale whose window opens
//!    only after it expires: everyone expired, nobody sent late.
//!
//! Run with `cargo run --example quickstart --all-features`.

use crm_comms::intelecom::MAIL_PROVIDER;
use crm_comms::links::{PhoneLinkFormat, WindowsRegistration};
use crm_comms::phone::{DefaultCountry, PhoneNumber};
use crm_comms::prefs::{Context, Entry, Level, PHONE_LINK_FORMAT, Preferences};
use crm_comms::settings::SmsSettings;
use crm_comms::sms::encoding::preview;
use crm_comms::sms::{Message, Outcome};
use crm_comms::testing::intelecom_emulator::{
    IntelecomAnswerFault, IntelecomEmulator, IntelecomFault, IntelecomWire,
};
use crm_comms::testing::pswincom_emulator::{PswincomEmulator, PswincomWire};
use crm_comms::testing::smtp_server::SmtpServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    links_and_preferences()?;
    sms().await?;
    pswincom().await?;
    receiver().await?;
    mailing().await?;
    Ok(())
}

async fn mailing() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;

    use crm_comms::mailing::{
        MailingRunner, MailingSpec, Outbox, Preparer, RecipientState, read_recipients,
        reports_into, with_opt_out, write_rows,
    };
    use crm_comms::receiver::WebhookReceiver;
    use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
    use crm_comms::store::sqlite::SqliteStore;
    use crm_comms::testing::intelecom_emulator::{IntelecomPushTransport, IntelecomPushedMo};
    use crm_comms::testing::push::PushTarget;

    println!("\n== An SMS mailing on the embedded store (SQLite file, loopback gateway)");
    let dir = std::env::temp_dir().join(format!("crm-comms-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(dir.join("crm.db")).await?;
    let outbox: Arc<dyn Outbox> = Arc::new(store.clone());

    // The webhook receiver: reports go into the store, STOPP/STOP replies
    // onto its opt-out list; dedup is in the same file (survives restarts).
    let router = with_opt_out(
        InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) }),
        outbox.clone(),
        &["STOPP", "STOP"],
        |m| {
            println!(
                "opt-out from {:?}: {:?}",
                m.from.map(|n| n.e164().to_owned()),
                m.message.text
            );
        },
    )?;
    let receiver = WebhookReceiver::builder(router, reports_into(outbox.clone(), |_, _| {}))
        .dedup(store.clone())
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(receiver.serve(listener));

    // The gateway, pushing each delivery report the moment it accepts.
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", "s3cret")).await?;
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/intelecom/dr")),
        IntelecomPushTransport::Json,
    );
    let provider = crm_comms::intelecom::Intelecom::builder()
        .base_url(emu.base_url())
        .dangerous_allow_http()
        .service_id(1000)
        .credentials("crm", "s3cret")
        .build()?;

    // The mailing: a template and a CSV of recipients.
    let spec = MailingSpec::new(
        "Julekampanje",
        "Hei {firstname}! 20 % på alt i {city} i dag.".parse()?,
    )
    .with_default_country("NO".parse()?);
    let csv = "number,firstname,city\n41000001,Kari,Bergen\n41000002,Ola,Oslo\n41000001,Kari,Bergen\n41000003,Per,\n+46 70 123 45 67,Åsa,Malmö\n";
    let recipients = read_recipients(csv.as_bytes(), &spec.template)?;
    let opted_out = outbox.opted_out().await?;
    let mut preparer = Preparer::new(&spec, &opted_out);
    let prepared: Vec<_> = recipients.iter().map(|r| preparer.prepare(r)).collect();
    let id = outbox.create(&spec, &mut prepared.into_iter()).await?;

    let provider = Arc::new(provider);
    let runner = MailingRunner::new(outbox.clone(), provider.clone());
    let (end, progress) = runner.run(id).await?;
    println!(
        "run: {end:?}, {} accepted in {} request(s)",
        progress.accepted,
        emu.requests_seen()
    );
    for _ in 0..100 {
        if store.stats(id).await?.count(RecipientState::Delivered) == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    println!("status: {}", store.stats(id).await?);

    // Kari answers STOPP: she is on the opt-out list for the next mailing.
    let stop = IntelecomPushedMo {
        message_id: "mo-77".into(),
        short_number: "1960".into(),
        originator: "+4741000001".into(),
        content: "STOPP".into(),
        command: None,
        session_id: None,
    };
    emu.push_mos(
        &PushTarget::new(format!("{base}/intelecom/mo")),
        &IntelecomPushTransport::Json,
        &[stop],
    )
    .await;
    println!("opted out: {:?}", outbox.opted_out().await?);

    println!("export:");
    let mut out = Vec::new();
    write_rows(&mut out, &store.rows(id, 0, 100).await?, true)?;
    print!("{}", String::from_utf8_lossy(&out));

    // A flash sale that must not arrive tomorrow: it expires in half an
    // hour, and its window opens only after that, so nobody is sent late
    // (and whatever is sent asks the gateway to drop it by then too).
    let now = jiff::Timestamp::now();
    let opens =
        (now + jiff::SignedDuration::from_hours(3)).to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let (h, m) = (opens.hour(), opens.minute().min(58));
    let window = format!("{h:02}:{m:02}-{h:02}:{:02} UTC", m + 1);
    let flash = MailingSpec::new("Flash", "Hei {firstname}! 50 % til kl. 12.".parse()?)
        .with_default_country("NO".parse()?)
        .with_expiry(now + jiff::SignedDuration::from_mins(30))
        .with_window(window.parse()?);
    let opted_out = outbox.opted_out().await?;
    let mut preparer = Preparer::new(&flash, &opted_out);
    let prepared: Vec<_> = recipients.iter().map(|r| preparer.prepare(r)).collect();
    let flash_id = outbox.create(&flash, &mut prepared.into_iter()).await?;
    let before = emu.requests_seen();
    let (end, progress) = MailingRunner::new(outbox.clone(), provider)
        .run(flash_id)
        .await?;
    println!(
        "flash sale (window {window}, expires in 30 min): {end:?}, {} expired, {} request(s) sent; status: {}",
        progress.expired,
        emu.requests_seen() - before,
        store.stats(flash_id).await?
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn links_and_preferences() -> Result<(), crm_comms::Error> {
    println!("== Call links from layered preferences");
    let (section, key) = PHONE_LINK_FORMAT;

    // An administrator's settings: Skype for everyone, FaceTime for the
    // sales group (3), and user 7 uses an ISV's dialer with the company id.
    let prefs = Preferences::new();
    prefs.set(Entry::new(Level::System, 0, section, key, "callto:%p"))?;
    prefs.set(Entry::new(Level::Group, 3, section, key, "facetime:%p"))?;
    prefs.set(Entry::new(
        Level::User,
        7,
        section,
        key,
        "domycall:%p?company={cuid}&name={name}",
    ))?;

    // A contact's numbers as users typed them; the CRM's default country
    // code is Norway's.
    let norway: DefaultCountry = "NO".parse()?;
    let typed = [
        "22 33 44 55",
        "+47 901 23 456",
        "0046 70-123 45 67",
        "not a number",
    ];
    let mut numbers = Vec::new();
    for t in typed {
        match PhoneNumber::parse(t, Some(&norway)) {
            Ok(n) => numbers.push(n),
            Err(e) => println!("skipped: {e}"),
        }
    }

    // The template variables of the current company.
    let vars = [("cuid", "4711"), ("name", "Ola & Sønner AS")];

    let snapshot = prefs.snapshot();
    for (who, ctx) in [
        ("user 9 (group 1)", Context::user(9).in_group(1)),
        ("user 8 (group 3)", Context::user(8).in_group(3)),
        ("user 7 (group 3)", Context::user(7).in_group(3)),
    ] {
        let format = snapshot
            .get::<PhoneLinkFormat>(&ctx, section, key)?
            .expect("the built-in default always applies");
        println!(
            "\n{who}: format {} (set at {})",
            format.value(),
            format.origin()
        );
        for link in format.value().render_all(&numbers, &vars)? {
            println!("  {link}");
        }
    }

    // Why does user 7 get their value? And what if the system value is locked?
    prefs.set(Entry::new(Level::System, 0, section, key, "tel:%p").locked_at(Level::System))?;
    let ctx = Context::user(7).in_group(3);
    println!(
        "\nafter locking tel:%p at system level:\n{}",
        prefs.snapshot().explain(&ctx, section, key)
    );

    // For the ISV: what the protocol handler receives, and its .reg file.
    let isv: PhoneLinkFormat = "domycall:%p?company={cuid}&name={name}".parse()?;
    let link = isv.render(&numbers[0], &vars)?;
    let call = isv.parse_link(link.as_str())?;
    println!(
        "handler got {} for company {:?} ({:?})",
        call.number(),
        call.variable("cuid").unwrap_or_default(),
        call.variable("name").unwrap_or_default()
    );
    let reg =
        WindowsRegistration::new("domycall", r"C:\Program Files\DoMyCall\dial.exe").build()?;
    println!("\n{}", reg.to_reg_text().replace("\r\n", "\n"));
    Ok(())
}

async fn sms() -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== SMS through Intelecom (loopback emulator)");
    let gateway = IntelecomEmulator::start(IntelecomWire::new(1234, "crm", "hunter2")).await?;

    // The CRM's SMS settings as an administrator saved them, pointed at the
    // emulator instead of the real host.
    let settings: SmsSettings = serde_json::from_str(&format!(
        r#"{{
            "provider": "intelecom",
            "intele_serviceId": "1234",
            "intele_username": "crm",
            "intele_password": "hunter2",
            "priority": 3,
            "sender": "SuperOffice",
            "default_country": "NO",
            "base_url": "{}",
            "allow_insecure_http": true
        }}"#,
        gateway.base_url()
    ))?;
    println!("settings (password hidden): {settings:?}");
    println!(
        "test SMS to 41 00 00 00: {}",
        settings.send_test_sms("41 00 00 00", None).await
    );
    let mut wrong = settings.clone();
    wrong.password = Some("not-the-password".into());
    println!(
        "with a wrong password: {}",
        wrong.send_test_sms("41 00 00 00", None).await
    );

    // What a typing UI shows before sending.
    let text = "Hei! Møtet er flyttet til kl. 10 😀";
    let p = preview(text, &crm_comms::intelecom::LIMITS);
    println!(
        "\n{text:?}: {} with {} units in {} part(s); Unicode because of {:?}",
        p.encoding, p.units, p.parts, p.forced_ucs2_by
    );

    // One message, three recipients, the gateway refuses the second.
    let provider = settings.build_provider()?;
    let message = Message::builder()
        .to_all(["+4741000001", "+4741000002", "+4741000003"].map(|n| n.parse().unwrap()))
        .text(text)
        .build()?;
    gateway.fail_next(IntelecomFault::Answer(IntelecomAnswerFault::StatusCodes(
        vec![1, 5, 1],
    )));
    let report = provider.send(&message).await;
    println!("sent to {} recipients:", report.outcomes().len());
    for o in report.outcomes() {
        match &o.outcome {
            Outcome::Accepted { reference } => {
                println!("  {} accepted, reference {reference:?}", o.recipient.e164());
            }
            Outcome::Rejected(e) => println!(
                "  {} rejected ({:?}, retryable: {}): {e}",
                o.recipient.e164(),
                e.kind(),
                o.outcome.is_retryable()
            ),
            Outcome::Unknown(e) => println!("  {} unknown: {e}", o.recipient.e164()),
            _ => println!("  {} {:?}", o.recipient.e164(), o.outcome),
        }
    }

    println!("\n== SMS by e-mail (\"use web service\" off; loopback SMTP server)");
    let smtp = SmtpServer::start().await?;
    let mail_settings: SmsSettings = serde_json::from_str(&format!(
        r#"{{
            "provider": "intelecom",
            "use_web_service": false,
            "intele_serviceId": "1234",
            "default_country": "NO",
            "smtp": {{
                "host": "{}", "port": {}, "security": "dangerous_plaintext",
                "from": "crm@example.com"
            }}
        }}"#,
        smtp.host(),
        smtp.port()
    ))?;
    println!(
        "test SMS to 41 00 00 00 via {MAIL_PROVIDER}: {}",
        mail_settings.send_test_sms("41 00 00 00", None).await
    );
    for mail in smtp.received() {
        println!(
            "the SMTP server got a mail for {:?}:\n{}",
            mail.to,
            String::from_utf8_lossy(&mail.data).trim_end()
        );
    }
    Ok(())
}

async fn pswincom() -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== SMS through PSWinCom (loopback emulator)");
    let gateway = PswincomEmulator::start(PswincomWire::new("crm", "hunter2")).await?;
    let settings: SmsSettings = serde_json::from_str(&format!(
        r#"{{
            "provider": "pswincom",
            "pswin_username": "crm",
            "pswin_password": "hunter2",
            "sender": "SuperOffice",
            "delivery_report": true,
            "default_country": "NO",
            "base_url": "{}",
            "allow_insecure_http": true
        }}"#,
        gateway.base_url()
    ))?;
    println!(
        "test SMS to 41 00 00 00: {}",
        settings.send_test_sms("41 00 00 00", None).await
    );

    // Norwegian text travels as ISO-8859-1; an emoji makes it Unicode
    // (OP 9, UCS-2 hex).
    let provider = settings.build_provider()?;
    for text in ["Hei på deg, Åse!", "Gratulerer 🎉"] {
        let message = Message::builder()
            .to("+4741000001".parse()?)
            .text(text)
            .build()?;
        let report = provider.send(&message).await;
        let o = &report.outcomes()[0];
        println!(
            "{text:?} to {}: accepted {}, reference {:?}",
            o.recipient.e164(),
            o.outcome.is_accepted(),
            o.outcome.reference()
        );
    }
    for request in gateway.received().iter().skip(1) {
        println!(
            "the gateway got {} (password masked):\n  {}",
            request.content_type, request.body
        );
    }
    Ok(())
}

async fn receiver() -> Result<(), Box<dyn std::error::Error>> {
    use crm_comms::receiver::WebhookReceiver;
    use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
    use crm_comms::sms::tracking::{DeliveryEvent, DeliveryTracker, MemorySentStore};
    use crm_comms::testing::intelecom_emulator::{
        IntelecomPushTransport, IntelecomPushedMo, PushTarget,
    };

    println!("\n== Delivery reports and incoming SMS (webhook receiver on loopback)");
    // The settings page's "SMS endpoint": replies starting with TILBUD are
    // this CRM's.
    let settings: SmsSettings = serde_json::from_str(
        r#"{"provider": "intelecom", "sms_endpoint": "TILBUD",
            "intele_serviceId": "1234", "intele_username": "crm", "intele_password": "hunter2"}"#,
    )?;
    let endpoint = settings.endpoint()?.expect("set above");

    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let offers = {
        let done = done_tx.clone();
        move |m: Routed| {
            let done = done.clone();
            async move {
                let _ = done.send(format!(
                    "offer reply from {} (endpoint {}): {:?}",
                    m.from.map(|n| n.e164().to_owned()).unwrap_or_default(),
                    m.endpoint.map(|e| e.to_string()).unwrap_or_default(),
                    m.text
                ));
                Ok::<(), HandlerError>(())
            }
        }
    };
    let others = {
        let done = done_tx.clone();
        move |m: Routed| {
            let done = done.clone();
            async move {
                let _ = done.send(format!("not for a route: {:?}", m.message.text));
                Ok::<(), HandlerError>(())
            }
        }
    };
    let deliveries = {
        let done = done_tx.clone();
        move |e: DeliveryEvent| {
            let done = done.clone();
            async move {
                let _ = done.send(format!(
                    "delivery report for {:?} to {}: {:?}",
                    e.sent.as_ref().map(|s| s.key.as_str()),
                    e.recipient()
                        .map(|n| n.e164().to_owned())
                        .unwrap_or_default(),
                    e.state()
                ));
                Ok::<(), HandlerError>(())
            }
        }
    };
    let tracker = DeliveryTracker::new(MemorySentStore::new());
    let receiver = WebhookReceiver::builder(
        InboundRouter::new(others).route(endpoint, offers),
        deliveries,
    )
    .tracker(tracker.clone())
    .secret_header("X-API-Key", "callback-secret")
    .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/sms", listener.local_addr()?);
    let app = axum::Router::new().nest("/sms", receiver.router());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The gateway pushes delivery reports to the receiver.
    let gateway = IntelecomEmulator::start(IntelecomWire::new(1234, "crm", "hunter2")).await?;
    gateway.deliver_reports_to(
        PushTarget::new(format!("{base}/intelecom/dr")).header("X-API-Key", "callback-secret"),
        IntelecomPushTransport::Json,
    );
    let provider = crm_comms::intelecom::Intelecom::builder()
        .base_url(gateway.base_url())
        .dangerous_allow_http()
        .service_id(1234)
        .credentials("crm", "hunter2")
        .build()?;
    let message = Message::builder()
        .to("+4741000001".parse()?)
        .text("Tilbud: 20 % på alt i dag. Svar TILBUD JA")
        .delivery_report(true)
        .build()?;
    // Recorded before the request goes out, so the report matches even when
    // it arrives before the send returns.
    let report = tracker.send("campaign-7", &provider, &message).await?;
    println!(
        "sent, reference {:?}",
        report.outcomes()[0].outcome.reference()
    );
    println!("{}", done_rx.recv().await.unwrap_or_default());

    // Two replies arrive; the second is pushed twice (a lost ack) and is
    // handled once.
    let target =
        PushTarget::new(format!("{base}/intelecom/mo")).header("X-API-Key", "callback-secret");
    let reply = |id: &str, text: &str| IntelecomPushedMo {
        message_id: id.into(),
        short_number: "1960".into(),
        originator: "+4741000001".into(),
        content: text.into(),
        command: None,
        session_id: None,
    };
    gateway
        .push_mos(
            &target,
            &IntelecomPushTransport::Json,
            &[
                reply("mo-1", "tilbud ja takk!"),
                reply("mo-2", "Hvem er dette?"),
            ],
        )
        .await;
    gateway
        .push_mos(
            &target,
            &IntelecomPushTransport::Json,
            &[reply("mo-2", "Hvem er dette?")],
        )
        .await;
    for _ in 0..2 {
        println!("{}", done_rx.recv().await.unwrap_or_default());
    }
    drop(done_tx);
    let more = done_rx.try_recv().ok();
    println!("handled more than once: {}", more.is_some());
    Ok(())
}
