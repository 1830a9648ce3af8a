//! SMS mailings on the embedded store, end to end on loopback: every
//! recipient once with its own text, reports matched whoever wins the
//! race, STOP replies, crashes mid-send, pause and cancel, bad input, and
//! the store file's schema.
#![cfg(all(
    feature = "sqlite",
    feature = "receiver",
    feature = "testing",
    feature = "intelecom",
    feature = "pswincom"
))]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crm_comms::intelecom::Intelecom;
use crm_comms::mailing::{
    BlockReason, DryRun, MailingId, MailingRunner, MailingSpec, MailingStatus, Outbox, Preparer,
    Recipient, RecipientState, RunEnd, Settlement, Template, read_recipients, reports_into,
    with_opt_out,
};
use crm_comms::pswincom::Pswincom;
use crm_comms::receiver::{DedupStore, Seen, WebhookReceiver};
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::{Message, SmsProvider};
use crm_comms::store::StoreErrorKind;
use crm_comms::store::sqlite::SqliteStore;
use crm_comms::testing::intelecom_emulator::{self as ie, IntelecomEmulator};
use crm_comms::testing::pswincom_emulator::{self as pe, PswincomEmulator, PswincomWire};
use crm_comms::testing::push::PushTarget;

fn recipients(n: usize) -> Vec<Recipient> {
    (0..n)
        .map(|i| {
            Recipient::new(format!("4{i:07}"))
                .with("firstname", format!("Kari{i}"))
                .with("city", "Bergen")
        })
        .collect()
}

fn spec() -> MailingSpec {
    MailingSpec::new("test", "Hei {firstname} i {city}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
}

async fn create(store: &SqliteStore, spec: &MailingSpec, list: &[Recipient]) -> MailingId {
    let opted_out = store.opted_out().await.unwrap();
    let mut p = Preparer::new(spec, &opted_out);
    let mut prepared = list
        .iter()
        .map(|r| p.prepare(r))
        .collect::<Vec<_>>()
        .into_iter();
    store.create(spec, &mut prepared).await.unwrap()
}

/// A receiver on loopback whose delivery reports go into `store`, with
/// `STOPP`/`STOP` putting senders on its opt-out list.
async fn receiver(store: &SqliteStore) -> String {
    let outbox: Arc<dyn Outbox> = Arc::new(store.clone());
    let router = with_opt_out(
        InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) }),
        outbox.clone(),
        &["STOPP", "STOP"],
        |_| {},
    )
    .unwrap();
    let receiver = WebhookReceiver::builder(router, reports_into(outbox, |_, _| {}))
        .dedup(store.clone())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(receiver.serve(listener));
    base
}

fn intelecom(emu: &IntelecomEmulator) -> Intelecom {
    crate::support::intelecom_for(emu)
}

async fn wait_for(store: &SqliteStore, id: MailingId, state: RecipientState, n: u64) {
    crate::support::poll(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async { (store.stats(id).await.unwrap().count(state) >= n).then_some(()) },
    )
    .await;
}

/// 1,000 personalised texts through Intelecom, the emulator pushing each
/// report the moment it accepts (before the send's answer is back), on a
/// multi-thread runtime: every recipient is accepted once, with its own
/// text, in 10 requests, and every report is matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intelecom_mailing_sends_each_text_once_and_matches_every_report() {
    let store = SqliteStore::in_memory().await.unwrap();
    let base = receiver(&store).await;
    let emu = crate::support::intelecom_emulator().await;
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/intelecom/dr")),
        ie::IntelecomPushTransport::Json,
    );
    let id = create(&store, &spec(), &recipients(1000)).await;
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(intelecom(&emu)));
    let (end, progress) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(progress.accepted, 1000);
    let got = emu.acceptances();
    assert_eq!(got.len(), 1000);
    assert!(got.values().all(|n| *n == 1), "a recipient accepted twice");
    let requests = emu.received();
    assert_eq!(requests.len(), 10, "100 personalised texts per request");
    let texts: HashSet<&String> = requests
        .iter()
        .flat_map(|r| r.request.messages.iter().map(|m| &m.text))
        .collect();
    assert!(texts.contains(&"Hei Kari417 i Bergen!".to_owned()));
    assert_eq!(texts.len(), 1000);
    wait_for(&store, id, RecipientState::Delivered, 1000).await;
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Delivered), 1000, "{stats:?}");
    assert_eq!(stats.unmatched_reports, 0);
    assert!(stats.is_finished());
}

/// `PSWinCom`'s reports carry only the gateway's `REF`, which the store
/// learns when the send settles: reports that arrive first are kept and
/// applied then. 100 % matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pswincom_reports_before_the_answer_are_kept_and_applied() {
    let store = SqliteStore::in_memory().await.unwrap();
    let base = receiver(&store).await;
    let emu = PswincomEmulator::start(PswincomWire::new("crm", "pw"))
        .await
        .unwrap();
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/pswincom/dr")),
        pe::PswincomPushTransport::Xml,
    );
    let provider = Pswincom::builder()
        .base_url(emu.base_url())
        .dangerous_allow_http()
        .no_failover()
        .credentials("crm", "pw")
        .build()
        .unwrap();
    let id = create(&store, &spec(), &recipients(500)).await;
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(provider));
    assert_eq!(runner.run(id).await.unwrap().0, RunEnd::Finished);
    assert_eq!(emu.received().len(), 5);
    let numbers: Vec<String> = emu
        .received()
        .iter()
        .flat_map(|r| r.request.messages.iter().map(|m| m.receiver.clone()))
        .collect();
    assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), 500);
    assert_eq!(numbers.len(), 500, "a recipient sent twice");
    wait_for(&store, id, RecipientState::Delivered, 500).await;
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Delivered), 500, "{stats:?}");
    assert_eq!(stats.unmatched_reports, 0);
}

/// "STOPP" from a number puts it on the opt-out list; the next mailing
/// blocks it with the reason, and the redelivered MO is handled once.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_reply_blocks_the_number_in_the_next_mailing() {
    let store = SqliteStore::in_memory().await.unwrap();
    let base = receiver(&store).await;
    let emu = crate::support::intelecom_emulator().await;
    let target = PushTarget::new(format!("{base}/intelecom/mo"));
    let mo = ie::IntelecomPushedMo {
        message_id: "mo-1".into(),
        short_number: "1960".into(),
        originator: "+4740000007".into(),
        content: "Stopp".into(),
        command: None,
        session_id: None,
    };
    for _ in 0..2 {
        let r = emu
            .push_mos(
                &target,
                &ie::IntelecomPushTransport::Json,
                std::slice::from_ref(&mo),
            )
            .await;
        assert!(r.delivered, "{r:?}");
    }
    assert!(store.opted_out().await.unwrap().contains("+4740000007"));
    let spec = spec();
    let opted_out = store.opted_out().await.unwrap();
    let mut p = Preparer::new(&spec, &opted_out);
    let list = recipients(10);
    let prepared: Vec<_> = list.iter().map(|r| p.prepare(r)).collect();
    assert_eq!(prepared[7].blocked, Some(BlockReason::OptedOut));
    assert_eq!(prepared.iter().filter(|p| p.blocked.is_some()).count(), 1);
}

/// Recipients in flight when the sender died (the gateway took them, no
/// answer was written): with no duplicate check they end unknown and are
/// never resent; the rest of the mailing is sent once.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_request_leaves_unknown_never_resent() {
    let store = SqliteStore::in_memory().await.unwrap();
    let emu = crate::support::intelecom_emulator().await;
    let provider = intelecom(&emu);
    let id = create(&store, &spec(), &recipients(250)).await;
    crash_after_sending(&store, &provider, id, 40).await;
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(provider))
        .lease(Duration::from_millis(200));
    assert_eq!(runner.run(id).await.unwrap().0, RunEnd::Finished);
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Unknown), 40, "{stats:?}");
    assert_eq!(stats.count(RecipientState::Accepted), 210);
    assert!(emu.acceptances().values().all(|n| *n == 1));
    assert_eq!(emu.acceptances().len(), 250);
}

/// The same crash with Puzzel's duplicate check on: the unknown ones are
/// resent with the same client reference, the gateway refuses them as
/// duplicates (status 25), and they count as accepted. Nothing unknown,
/// nothing sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_duplicate_check_a_crash_leaves_nothing_unknown() {
    let store = SqliteStore::in_memory().await.unwrap();
    let emu = crate::support::intelecom_emulator().await;
    emu.set_duplicate_check(true);
    let provider = emu.client_builder().duplicate_check(true).build().unwrap();
    let id = create(&store, &spec(), &recipients(250)).await;
    crash_after_sending(&store, &provider, id, 40).await;
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(provider))
        .lease(Duration::from_millis(200));
    assert_eq!(runner.run(id).await.unwrap().0, RunEnd::Finished);
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Unknown), 0, "{stats:?}");
    assert_eq!(stats.count(RecipientState::Accepted), 250);
    assert!(emu.acceptances().values().all(|n| *n == 1));
    let rows = store.rows(id, 0, 1000).await.unwrap();
    let resent = rows
        .iter()
        .filter(|r| r.reason.as_deref().is_some_and(|r| r.contains("duplicate")))
        .count();
    assert_eq!(resent, 40);
}

/// What a sender killed mid-request leaves: `n` recipients claimed, written
/// down as sending and taken by the gateway, with no answer settled.
async fn crash_after_sending(
    store: &SqliteStore,
    provider: &dyn SmsProvider,
    id: MailingId,
    n: usize,
) {
    let lease = Duration::from_millis(200);
    let claimed = store.claim(id, "dead", n, lease).await.unwrap();
    let sending = store.mark_sending(&claimed, lease).await.unwrap();
    assert_eq!(sending.len(), n);
    let messages: Vec<Message> = sending
        .iter()
        .map(|c| {
            Message::builder()
                .to(c.number)
                .text(c.text.clone())
                .client_reference(c.client_reference.clone())
                .build()
                .unwrap()
        })
        .collect();
    let reports = provider.send_each(&messages).await;
    assert!(reports.iter().all(crm_comms::sms::SendReport::all_accepted));
    tokio::time::sleep(lease * 2).await;
}

/// A late writer is fenced: once a claim expired and was taken again, the
/// first owner's settlement changes nothing.
#[tokio::test]
async fn a_late_writer_cannot_overwrite_the_next_owner() {
    let store = SqliteStore::in_memory().await.unwrap();
    let id = create(&store, &spec(), &recipients(1)).await;
    let short = Duration::from_millis(50);
    let first = store.claim(id, "a", 1, short).await.unwrap();
    tokio::time::sleep(short * 2).await;
    assert_eq!(store.recover(id, None).await.unwrap().reclaimed, 1);
    let second = store
        .claim(id, "b", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(second[0].attempt, first[0].attempt + 1);
    // The first owner wakes up: it may no longer mark or settle.
    assert!(store.mark_sending(&first, short).await.unwrap().is_empty());
    store
        .settle(&[(
            first[0].clone(),
            Settlement::Failed {
                reason: "late".into(),
            },
        )])
        .await
        .unwrap();
    let sending = store
        .mark_sending(&second, Duration::from_secs(30))
        .await
        .unwrap();
    store
        .settle(&[(
            sending[0].clone(),
            Settlement::Accepted {
                reference: Some("g-1".into()),
                note: None,
            },
        )])
        .await
        .unwrap();
    let row = &store.rows(id, 0, 10).await.unwrap()[0];
    assert_eq!(row.state, RecipientState::Accepted);
    assert_eq!(row.reference.as_deref(), Some("g-1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_stops_claims_and_cancel_ends_what_was_not_sent() {
    let store = SqliteStore::in_memory().await.unwrap();
    let emu = crate::support::intelecom_emulator().await;
    let id = create(&store, &spec(), &recipients(30)).await;
    store.set_status(id, MailingStatus::Paused).await.unwrap();
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(intelecom(&emu)));
    assert_eq!(runner.run(id).await.unwrap().0, RunEnd::Paused);
    assert!(!store.is_finished(id).await.unwrap());
    assert_eq!(
        store
            .is_finished(MailingId::new(id.get() + 1))
            .await
            .unwrap_err()
            .kind(),
        crm_comms::store::StoreErrorKind::Invalid
    );
    assert!(
        store
            .claim(id, "w", 10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(emu.requests_seen(), 0);
    store
        .set_status(id, MailingStatus::Cancelled)
        .await
        .unwrap();
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Cancelled), 30);
    assert!(stats.is_finished());
    assert!(store.is_finished(id).await.unwrap());
    let e = store
        .set_status(id, MailingStatus::Active)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Invalid);
}

#[test]
fn recipients_are_blocked_with_their_reason_and_counted_in_the_dry_run() {
    let spec = spec();
    let list = [
        Recipient::new("41000001")
            .with("firstname", "Kari")
            .with("city", "Oslo"),
        Recipient::new("41000001")
            .with("firstname", "Kari")
            .with("city", "Oslo"),
        Recipient::new("not a number")
            .with("firstname", "Ola")
            .with("city", "Oslo"),
        Recipient::new("41000002").with("firstname", "Per"),
        Recipient::new("41000003")
            .with("firstname", " ")
            .with("city", "Oslo"),
        Recipient::new("41000004")
            .with("firstname", "Åse 😀")
            .with("city", "Oslo"),
        Recipient::new("41000005")
            .with("firstname", "Kari")
            .with("city", "Oslo"),
    ];
    let opted_out: HashSet<String> = ["+4741000005".to_owned()].into();
    let mut p = Preparer::new(&spec, &opted_out);
    let prepared: Vec<_> = list.iter().map(|r| p.prepare(r)).collect();
    let reasons: Vec<Option<String>> = prepared
        .iter()
        .map(|p| p.blocked.as_ref().map(ToString::to_string))
        .collect();
    assert_eq!(reasons[0], None);
    assert_eq!(
        reasons[1].as_deref(),
        Some("duplicate number (one message per number)")
    );
    assert!(
        reasons[2]
            .as_deref()
            .unwrap()
            .starts_with("invalid number: ")
    );
    assert_eq!(reasons[3].as_deref(), Some("no value for {city}"));
    assert_eq!(reasons[4].as_deref(), Some("no value for {firstname}"));
    assert_eq!(reasons[5], None);
    assert_eq!(reasons[6].as_deref(), Some("on the opt-out list"));
    let mut dry = DryRun::default();
    for x in &prepared {
        dry.add(x);
    }
    assert_eq!((dry.ready, dry.gsm7, dry.ucs2, dry.parts), (2, 1, 1, 2));
    assert_eq!(dry.blocked.iter().map(|(_, n)| n).sum::<u64>(), 5);
    assert_eq!(prepared[5].text, "Hei Åse 😀 i Oslo!");
    // A NUL from a broken import is blocked, not sent (or refused by a
    // store whole).
    let broken = Recipient::new("41000009")
        .with("firstname", "Ka\u{0}ri")
        .with("city", "Oslo");
    assert_eq!(
        p.prepare(&broken).blocked.map(|b| b.to_string()).as_deref(),
        Some("the text has the control character U+0000")
    );
}

#[test]
fn only_numbers_that_take_an_sms_are_sent_to() {
    let list: Vec<Recipient> = [
        "412 34 567",      // mobile
        "+1 212 555 1234", // fixed line or mobile (US)
        "22 33 44 55",     // fixed line
        "800 12 345",      // toll-free
        "820 12 345",      // premium rate
        "810 21 234",      // shared cost
        "02000",           // universal access number
        "12345678",        // in no range
        "47 12 34 56",     // a 47x mobile typed nationally
        "9000abc1",        // letters
        "880 12 345",      // personal number
    ]
    .into_iter()
    .map(|n| {
        Recipient::new(n)
            .with("firstname", "Kari")
            .with("city", "Oslo")
    })
    .collect();
    let none = HashSet::new();
    let reasons = |spec: &MailingSpec| -> Vec<Option<String>> {
        let mut p = Preparer::new(spec, &none);
        list.iter()
            .map(|r| p.prepare(r).blocked.map(|b| b.to_string()))
            .collect()
    };
    let got = reasons(&spec());
    assert_eq!(got[0], None);
    assert_eq!(got[1], None);
    assert_eq!(got[2].as_deref(), Some("not a mobile number (fixed line)"));
    assert_eq!(got[3].as_deref(), Some("not a mobile number (toll-free)"));
    assert_eq!(
        got[4].as_deref(),
        Some("not a mobile number (premium rate)")
    );
    assert_eq!(got[5].as_deref(), Some("not a mobile number (shared cost)"));
    assert_eq!(
        got[6].as_deref(),
        Some("not a mobile number (universal access number)")
    );
    assert_eq!(
        got[7].as_deref(),
        Some("invalid number: phone number \"123***78\" is in no number range of its country")
    );
    assert_eq!(got[8], None);
    assert_eq!(
        got[9].as_deref(),
        Some("invalid number: phone number \"9000abc1\" is not a phone number")
    );
    assert_eq!(got[10], None);
    // Fixed lines when the sender asks for them; the others never.
    let got = reasons(&spec().with_fixed_lines_allowed(true));
    assert_eq!(got[2], None);
    assert_eq!(got[3].as_deref(), Some("not a mobile number (toll-free)"));
    // The dry run counts them.
    let default_spec = spec();
    let mut p = Preparer::new(&default_spec, &none);
    let mut dry = DryRun::default();
    for r in &list {
        dry.add(&p.prepare(r));
    }
    assert_eq!(dry.ready, 4);
    assert!(
        dry.blocked.contains(&("not a mobile number".to_owned(), 5)),
        "{:?}",
        dry.blocked
    );
    assert!(dry.blocked.contains(&("invalid number".to_owned(), 2)));
}

#[test]
fn bad_csv_is_refused_naming_the_line_or_column() {
    let t: Template = "Hei {firstname}".parse().unwrap();
    let err = |csv: &str| read_recipients(csv.as_bytes(), &t).unwrap_err().to_string();
    assert_eq!(
        err("name,firstname\nx,y\n"),
        "recipients: line 1: no `number` column (columns: name, firstname)"
    );
    assert_eq!(
        err("number,firstname\n+4741000001,Kari\n+4741000002\n"),
        "recipients: line 3: 1 fields, but the header has 2"
    );
    assert_eq!(
        err("number\n+4741000001\n"),
        "recipients: line 1: the template's {firstname} has no column (columns: number)"
    );
    let bad_utf8 = b"number,firstname\n+4741000001,K\xffari\n";
    assert_eq!(
        read_recipients(&bad_utf8[..], &t).unwrap_err().to_string(),
        "recipients: line 2: not UTF-8"
    );
    // Issue 31, item 12. Lines of a CRLF file (Windows, Excel) count as
    // they are numbered in an editor, quoted line breaks included.
    let crlf =
        "number,firstname\r\n41000001,Kari\r\n41000002,\"Ola\r\nNordmann\"\r\n41000003,Per\r\n";
    let lines: Vec<_> = read_recipients(crlf.as_bytes(), &t)
        .unwrap()
        .iter()
        .map(|r| r.line)
        .collect();
    assert_eq!(lines, [Some(2), Some(3), Some(5)]);
    assert_eq!(
        err("number,firstname\r\n41000001,Kari\r\n41000002\r\n"),
        "recipients: line 3: 1 fields, but the header has 2"
    );
    // A column named twice is refused, naming it (the last one won).
    let e = read_recipients("number,firstname,FirstName\n1,a,EVIL\n".as_bytes(), &t).unwrap_err();
    assert_eq!((e.line(), e.column()), (1, Some("firstname")));
    // Semicolons (Norwegian Excel's default) and tabs are read.
    for sep in [";", "\t"] {
        let csv = format!("number{sep}firstname\n41000001{sep}\"Kari, jr.\"\n");
        let r = read_recipients(csv.as_bytes(), &t).unwrap();
        assert_eq!(r[0].variables["firstname"], "Kari, jr.", "{sep:?}");
    }
    // A quote never closed is said to be one.
    assert_eq!(
        err("number,firstname\n41000001,\"Kari\n41000002,Ola\n41000003,Per\n"),
        "recipients: line 2: a quote is opened and never closed"
    );
    // One field is capped, naming its line and column.
    let huge = format!("number,firstname\n41000001,{}\n", "x".repeat(100_000));
    let e = read_recipients(huge.as_bytes(), &t).unwrap_err();
    assert_eq!((e.line(), e.column()), (2, Some("firstname")), "{e}");
    assert_eq!(
        "Hei {first name}"
            .parse::<Template>()
            .unwrap_err()
            .to_string(),
        "template: invalid variable name `{first name}` at offset 4 (1-32 characters from a-z, 0-9, _ and ?)"
    );
    assert_eq!(
        "Hei }".parse::<Template>().unwrap_err().to_string(),
        "template: the `}` at offset 4 has no opening `{` (write `}}` for a brace)"
    );
}

#[tokio::test]
async fn the_store_file_is_versioned_and_foreign_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("crm-comms-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A new file gets the current schema; reopened, it keeps its data.
    let path = dir.join("crm.db");
    let _ = std::fs::remove_file(&path);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            crm_comms::store::sqlite::SCHEMA_VERSION
        );
        create(&store, &spec(), &recipients(3)).await;
        assert_eq!(
            store.begin("dr:1", Duration::from_secs(60)).await.unwrap(),
            Seen::New
        );
        store.finish("dr:1", true).await.unwrap();
    }
    {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.stats(MailingId::new(1)).await.unwrap().total(), 3);
        // Dedup survives the restart.
        assert_eq!(
            store.begin("dr:1", Duration::from_secs(60)).await.unwrap(),
            Seen::Done
        );
    }
    // A newer schema than this build knows.
    sqlx_exec(
        &path,
        "UPDATE crm_comms_meta SET value = '7' WHERE key = 'schema_version'",
    )
    .await;
    let e = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Schema);
    assert_eq!(
        e.to_string(),
        format!(
            "store: {}: the store was written by a newer crm-comms (schema version 7; this build knows up to 5)",
            path.display()
        )
    );
    // Another application's SQLite file.
    let other = dir.join("other.db");
    let _ = std::fs::remove_file(&other);
    sqlx_exec(&other, "CREATE TABLE contacts (id INTEGER)").await;
    let e = SqliteStore::open(&other).await.unwrap_err();
    assert!(e.is_schema());
    assert_eq!(
        e.to_string(),
        format!(
            "store: {}: the file is not a crm-comms store (it has other tables: contacts)",
            other.display()
        )
    );
    // Not a database at all.
    let text = dir.join("notes.txt");
    std::fs::write(&text, "this is not a database, just some text ".repeat(100)).unwrap();
    let e = SqliteStore::open(&text).await.unwrap_err();
    assert!(e.is_schema(), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "store: {}: the file is not a SQLite database",
            text.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 31, item 11: another application's file is refused before it is
/// changed (no switch to WAL, nothing migrated into a file with only a
/// view), a missing store is not created by what only reads, and a new
/// store is readable by its owner only.
#[tokio::test]
async fn a_foreign_file_is_never_changed_and_a_new_store_is_private() {
    let dir = std::env::temp_dir().join(format!("crm-comms-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let other = dir.join("app.db");
    sqlx_exec(&other, "CREATE VIEW answers AS SELECT 42 AS answer").await;
    let before = std::fs::read(&other).unwrap();
    let e = SqliteStore::open(&other).await.unwrap_err();
    assert!(e.is_schema(), "{e}");
    assert!(e.to_string().contains("answers"), "{e}");
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "the file was changed"
    );
    assert!(!dir.join("app.db-wal").exists(), "switched to WAL");
    // What only reads never creates.
    let missing = dir.join("typo.db");
    let e = SqliteStore::open_existing(&missing).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Invalid);
    assert!(e.to_string().contains("typo.db"), "{e}");
    assert!(!missing.exists());
    // A new store is 0600, and so are its WAL and shared-memory files.
    let path = dir.join("crm.db");
    let store = SqliteStore::open(&path).await.unwrap();
    create(&store, &spec(), &recipients(2)).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["crm.db", "crm.db-wal", "crm.db-shm"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}: {mode:o}");
        }
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plain connection to tamper with a file (the `sqlite3` command is not
/// on every machine).
async fn sqlx_exec(path: &std::path::Path, sql: &str) {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
        "sqlite://{}?mode=rwc",
        path.display()
    ))
    .unwrap();
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_report_for_an_unknown_recipient_turns_it_delivered() {
    let store = SqliteStore::in_memory().await.unwrap();
    let id = create(&store, &spec(), &recipients(1)).await;
    let c = store
        .claim(id, "w", 1, Duration::from_secs(5))
        .await
        .unwrap();
    let s = store
        .mark_sending(&c, Duration::from_secs(5))
        .await
        .unwrap();
    store
        .settle(&[(
            s[0].clone(),
            Settlement::Unknown {
                reason: "timeout".into(),
            },
        )])
        .await
        .unwrap();
    let mut dr = crm_comms::sms::DeliveryReceipt::new(
        "intelecom",
        "760000000001",
        crm_comms::sms::DeliveryState::Delivered,
        "0",
    );
    dr.client_reference = Some(c[0].client_reference.clone());
    store.apply_report(&dr).await.unwrap();
    let row = &store.rows(id, 0, 1).await.unwrap()[0];
    assert_eq!(row.state, RecipientState::Delivered);
}

/// What a crash can leave unknown is bounded by the claims in flight: with
/// `in_flight(1)` and a slow gateway the store never holds more than one
/// claim in *sending*, and with the default (three) it holds more at times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rows_in_sending_never_exceed_the_claims_in_flight() {
    async fn most_in_sending(in_flight: Option<usize>) -> u64 {
        let store = SqliteStore::in_memory().await.unwrap();
        let emu = crate::support::intelecom_emulator().await;
        emu.set_latency(Duration::from_millis(30));
        let id = create(&store, &spec(), &recipients(300)).await;
        let mut runner =
            MailingRunner::new(Arc::new(store.clone()), Arc::new(intelecom(&emu))).batch(20);
        if let Some(n) = in_flight {
            runner = runner.in_flight(n);
        }
        let run = tokio::spawn(async move { runner.run(id).await.unwrap() });
        let mut most = 0;
        while !run.is_finished() {
            let stats = store.stats(id).await.unwrap();
            most = most.max(stats.count(RecipientState::Sending));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(run.await.unwrap().0, RunEnd::Finished);
        assert_eq!(
            store
                .stats(id)
                .await
                .unwrap()
                .count(RecipientState::Accepted),
            300
        );
        most
    }
    let one = most_in_sending(Some(1)).await;
    assert!(one <= 20, "{one} in sending with one claim of 20 in flight");
    let default = most_in_sending(None).await;
    assert!(
        default > 20 && default <= 60,
        "{default} in sending with three claims of 20"
    );
}

/// Issue 34, the clock: an expiry crossing a send. Paced at 20 a second,
/// 300 recipients cannot all go before the mailing expires: those sent
/// carry a validity that ends no later than the expiry (on the wire), the
/// rest end `expired` with the reason and never reach the gateway, and
/// nobody is sent after the expiry's last safe moment.
#[tokio::test(flavor = "multi_thread")]
async fn an_expiry_crossing_a_send_expires_the_rest_and_nothing_is_sent_late() {
    use crm_comms::mailing::{MailingRunner, Pace, RecipientState, RunEnd};
    let store = SqliteStore::in_memory().await.unwrap();
    let emu = crate::support::intelecom_emulator().await;
    // The last safe moment is five minutes before the expiry (the shortest
    // validity a gateway takes): five seconds from now.
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(5 * 60 + 5);
    let last_safe = std::time::Instant::now() + Duration::from_secs(5);
    let id = create(&store, &spec().with_expiry(expires), &recipients(300)).await;
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(intelecom(&emu)))
        .batch(10)
        .pace(Pace::Messages(std::num::NonZeroU32::new(20).unwrap()));
    let (end, progress) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    let stats = store.stats(id).await.unwrap();
    let (accepted, expired) = (
        stats.count(RecipientState::Accepted),
        stats.count(RecipientState::Expired),
    );
    assert_eq!(accepted + expired, 300, "{stats}");
    assert!(accepted > 0 && expired > 0, "{stats}");
    assert_eq!((progress.accepted, progress.expired), (accepted, expired));
    // The gateway took exactly the accepted ones, each before the last
    // safe moment, each with a validity (Intelecom's code 0..173).
    let taken: u32 = emu.acceptances().values().sum();
    assert_eq!(u64::from(taken), accepted);
    assert!(emu.arrivals().iter().all(|(t, _)| *t <= last_safe));
    assert!(
        emu.received()
            .iter()
            .all(|r| r.body.contains("\"validity\":")),
        "every request carries a validity"
    );
    let rows = store.rows(id, 0, 400).await.unwrap();
    assert!(
        rows.iter()
            .filter(|r| r.state == RecipientState::Expired)
            .all(|r| r
                .reason
                .as_deref()
                .is_some_and(|s| s.contains("expired at"))),
        "an expired recipient says why"
    );
}

/// A mailing created after its expiry sends nobody: everyone ends
/// expired at once (without waiting for a pace or a window).
#[tokio::test]
async fn a_mailing_past_its_expiry_sends_nobody() {
    use crm_comms::mailing::{MailingRunner, RecipientState, RunEnd, SendWindow};
    let store = SqliteStore::in_memory().await.unwrap();
    let emu = crate::support::intelecom_emulator().await;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    // A window that opens only after the expiry, too: expired now.
    let window: SendWindow = "00:00-00:01 Pacific/Kiritimati".parse().unwrap();
    let id = create(
        &store,
        &spec().with_expiry(expires).with_window(window),
        &recipients(50),
    )
    .await;
    let runner = MailingRunner::new(Arc::new(store.clone()), Arc::new(intelecom(&emu)));
    let (end, _) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(
        store
            .stats(id)
            .await
            .unwrap()
            .count(RecipientState::Expired),
        50
    );
    assert_eq!(emu.requests_seen(), 0);
}

/// The consent keywords of an account through the receiver: "AVMELD" (a
/// default that works with Norwegian operators) opts a number out with a
/// confirmation reply and logs the message as received; "START" opts it
/// in again; a redelivery is handled once; the log reads newest first.
#[tokio::test(flavor = "multi_thread")]
async fn consent_keywords_opt_out_and_in_with_replies_and_a_log() {
    use crm_comms::mailing::{ConsentAction, ConsentKeywords, Privacy, with_consent};
    let store = SqliteStore::in_memory().await.unwrap();
    let emu = crate::support::intelecom_emulator().await;
    let keywords = ConsentKeywords::default()
        .with_stop_reply("Du er meldt av. Send START for å melde deg på igjen.")
        .with_start_reply("Velkommen tilbake!");
    let router = with_consent(
        InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) }),
        Arc::new(store.clone()),
        &keywords,
        Some(Arc::new(intelecom(&emu))),
        |_| {},
    );
    let receiver =
        WebhookReceiver::builder(router, reports_into(Arc::new(store.clone()), |_, _| {}))
            .dedup(store.clone())
            .build()
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(receiver.serve(listener));
    let target = PushTarget::new(format!("{base}/intelecom/mo"));
    let mo = |id: &str, text: &str| ie::IntelecomPushedMo {
        message_id: id.into(),
        short_number: "1960".into(),
        originator: "+4740000008".into(),
        content: text.into(),
        command: None,
        session_id: None,
    };
    for m in [mo("mo-1", "avmeld takk"), mo("mo-1", "avmeld takk")] {
        let r = emu
            .push_mos(&target, &ie::IntelecomPushTransport::Json, &[m])
            .await;
        assert!(r.delivered, "{r:?}");
    }
    assert!(store.opted_out().await.unwrap().contains("+4740000008"));
    let log = store.consent_log(Some("+4740000008"), 10).await.unwrap();
    assert_eq!(log.len(), 1, "handled once: {log:?}");
    assert_eq!(
        (
            log[0].action,
            log[0].via.as_str(),
            log[0].message.as_deref()
        ),
        (ConsentAction::OptOut, "AVMELD", Some("avmeld takk"))
    );
    let r = emu
        .push_mos(
            &target,
            &ie::IntelecomPushTransport::Json,
            &[mo("mo-2", "START")],
        )
        .await;
    assert!(r.delivered, "{r:?}");
    assert!(!store.opted_out().await.unwrap().contains("+4740000008"));
    let log = store.consent_log(Some("+4740000008"), 10).await.unwrap();
    assert_eq!(log[0].action, ConsentAction::OptIn);
    // Both confirmations went out, once each.
    assert_eq!(emu.acceptances().get("+4740000008"), Some(&2));
}
