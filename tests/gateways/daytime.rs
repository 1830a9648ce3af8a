//! A mailing with recipient hours, end to end through the Intelecom
//! emulator, on every store: each country's numbers are sent in their own
//! daytime (the rest held, then sent when it comes), public holidays hold a
//! country's numbers and not its neighbours', a morning after the expiry
//! ends a recipient expired — and nobody is sent twice across two workers.
//! The runner's calendar clock is set by the test; leases keep real time.
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "testing",
    feature = "intelecom"
))]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crm_comms::mailing::{
    MailingId, MailingRunner, MailingSpec, Outbox, Preparer, Recipient, RecipientHours,
    RecipientState, RunEnd,
};
use crm_comms::store::memory::MemoryOutbox;
use crm_comms::store::sqlite::SqliteStore;
use jiff::Timestamp;

use crate::support::{intelecom_emulator, intelecom_for, pg_store};

const NO: [&str; 3] = ["+4741000001", "+4741000002", "+4741000003"];
const SE: [&str; 2] = ["+46701234561", "+46701234562"];
const JP: [&str; 2] = ["+819012345671", "+819012345672"];
const US: [&str; 2] = ["+12015550121", "+12015550122"];

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn create(store: &dyn Outbox, spec: &MailingSpec, numbers: &[&str]) -> MailingId {
    let none = HashSet::new();
    let mut p = Preparer::new(spec, &none);
    let list: Vec<Recipient> = numbers
        .iter()
        .map(|n| Recipient::new(*n).with("firstname", "Kari"))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    store.create(spec, &mut it).await.unwrap()
}

fn spec(hours: &str) -> MailingSpec {
    MailingSpec::new("daytime", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
        .with_recipient_hours(hours.parse::<RecipientHours>().unwrap())
}

/// A runner whose calendar reads `clock`, not waiting for anyone's
/// morning.
fn runner(
    store: Arc<dyn Outbox>,
    emu: &crm_comms::testing::intelecom_emulator::IntelecomEmulator,
    clock: &Arc<Mutex<Timestamp>>,
) -> MailingRunner {
    let clock = clock.clone();
    MailingRunner::new(store, Arc::new(intelecom_for(emu)))
        .wait_for_window(false)
        .clock(move || *clock.lock().unwrap())
}

fn sent(emu: &crm_comms::testing::intelecom_emulator::IntelecomEmulator) -> Vec<String> {
    let mut v: Vec<String> = emu.acceptances().into_keys().collect();
    v.sort();
    v
}

fn sorted(groups: &[&[&str]]) -> Vec<String> {
    let mut v: Vec<String> = groups
        .iter()
        .flat_map(|g| g.iter().map(|s| (*s).to_owned()))
        .collect();
    v.sort();
    v
}

/// 12:00 UTC on a Tuesday in January: 13:00 in Oslo (sent), 21:00 in
/// Tokyo (closed until 23:00 UTC), 02:00 in Honolulu (the US waits for
/// 08:00 there, 18:00 UTC). Three runs, the clock moved between them.
async fn each_country_in_its_own_daytime(store: Arc<dyn Outbox>) {
    let emu = intelecom_emulator().await;
    let id = create(&*store, &spec("08:00-21:00"), &[&NO[..], &JP, &US].concat()).await;
    let clock = Arc::new(Mutex::new(at("2027-01-05T12:00:00Z")));
    let (end, progress) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::NotYet(at("2027-01-05T18:00:00Z")));
    assert_eq!((progress.accepted, progress.held), (3, 4), "{progress:?}");
    assert_eq!(sent(&emu), sorted(&[&NO]));
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Held), 4, "{stats}");
    let rows = store.rows(id, 0, 100).await.unwrap();
    let tokyo = rows.iter().find(|r| r.number == JP[0]).unwrap();
    assert!(
        tokyo.reason.as_deref().unwrap().contains("Asia/Tokyo"),
        "{tokyo:?}"
    );
    let us = rows.iter().find(|r| r.number == US[0]).unwrap();
    assert!(
        us.reason.as_deref().unwrap().contains("most conservative"),
        "{us:?}"
    );
    // 18:30 UTC: the US's morning has come everywhere; Tokyo's not yet.
    *clock.lock().unwrap() = at("2027-01-05T18:30:00Z");
    let (end, _) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::NotYet(at("2027-01-05T23:00:00Z")));
    assert_eq!(sent(&emu), sorted(&[&NO, &US]));
    // 23:05 UTC, 08:05 in Tokyo: the last two, and the mailing is done.
    *clock.lock().unwrap() = at("2027-01-05T23:05:00Z");
    let (end, _) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(sent(&emu), sorted(&[&NO, &US, &JP]));
    assert!(emu.acceptances().values().all(|n| *n == 1));
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Accepted), 7, "{stats}");
}

/// 17 May 2027 (a Monday), noon in Oslo: Swedish numbers are sent,
/// Norwegian ones held until Tuesday 08:00; a mailing that allows
/// holidays sends both.
async fn seventeenth_of_may_holds_norway_not_sweden(store: Arc<dyn Outbox>) {
    let emu = intelecom_emulator().await;
    let clock = Arc::new(Mutex::new(at("2027-05-17T10:00:00Z")));
    let id = create(&*store, &spec("08:00-21:00"), &[&NO[..], &SE].concat()).await;
    let (end, _) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::NotYet(at("2027-05-18T06:00:00Z")));
    assert_eq!(sent(&emu), sorted(&[&SE]));
    let row = store.rows(id, 0, 100).await.unwrap().remove(0);
    assert_eq!(row.state, RecipientState::Held);
    assert!(row.reason.unwrap().contains("Constitution Day"));

    let emu = intelecom_emulator().await;
    let id = create(
        &*store,
        &spec("08:00-21:00 holidays-allowed").with_one_per_number(true),
        &[&NO[..], &SE].concat(),
    )
    .await;
    let (end, _) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(sent(&emu), sorted(&[&NO, &SE]));
}

/// Tuesday 02:00 UTC with an expiry at noon UTC: Norwegian numbers are
/// held until 08:00 in Oslo (06:00 UTC, inside the expiry); the US's
/// morning (08:00 in Honolulu, 18:00 UTC) comes after it: those end
/// expired at once, never sent.
async fn a_morning_after_the_expiry_ends_expired(store: Arc<dyn Outbox>) {
    let emu = intelecom_emulator().await;
    let clock = Arc::new(Mutex::new(at("2027-03-30T02:00:00Z")));
    let spec = spec("08:00-21:00").with_expiry(at("2027-03-30T12:00:00Z"));
    let id = create(&*store, &spec, &[&NO[..], &US].concat()).await;
    let (end, progress) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::NotYet(at("2027-03-30T06:00:00Z")));
    assert_eq!((progress.held, progress.expired), (3, 2), "{progress:?}");
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Expired), 2, "{stats}");
    let rows = store.rows(id, 0, 100).await.unwrap();
    let us = rows.iter().find(|r| r.number == US[0]).unwrap();
    assert!(
        us.reason
            .as_deref()
            .unwrap()
            .contains("after the mailing expires"),
        "{us:?}"
    );
    // 08:30 in Oslo: sent, inside the expiry.
    *clock.lock().unwrap() = at("2027-03-30T06:30:00Z");
    let (end, _) = runner(store.clone(), &emu, &clock).run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(sent(&emu), sorted(&[&NO]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_sends_each_country_in_its_own_daytime() {
    each_country_in_its_own_daytime(Arc::new(MemoryOutbox::new())).await;
    seventeenth_of_may_holds_norway_not_sweden(Arc::new(MemoryOutbox::new())).await;
    a_morning_after_the_expiry_ends_expired(Arc::new(MemoryOutbox::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_sends_each_country_in_its_own_daytime() {
    let store = || async { Arc::new(SqliteStore::in_memory().await.unwrap()) as Arc<dyn Outbox> };
    each_country_in_its_own_daytime(store().await).await;
    seventeenth_of_may_holds_norway_not_sweden(store().await).await;
    a_morning_after_the_expiry_ends_expired(store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_sends_each_country_in_its_own_daytime() {
    let Some(store) = pg_store().await else {
        return;
    };
    let store: Arc<dyn Outbox> = Arc::new(store);
    each_country_in_its_own_daytime(store.clone()).await;
    seventeenth_of_may_holds_norway_not_sweden(store.clone()).await;
    a_morning_after_the_expiry_ends_expired(store).await;
}

/// Two workers on one PostgreSQL mailing of 300 Norwegian and 300
/// Japanese numbers, the clock moving from Oslo's afternoon to Tokyo's
/// morning while they wait: every number is sent once, each in its own
/// daytime.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_release_held_recipients_once() {
    let Some(store) = pg_store().await else {
        return;
    };
    let store: Arc<dyn Outbox> = Arc::new(store);
    let emu = intelecom_emulator().await;
    let numbers: Vec<String> = (0..300)
        .map(|i| format!("+47410{i:05}"))
        .chain((0..300).map(|i| format!("+81901234{i:04}")))
        .collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let id = create(&*store, &spec("08:00-21:00"), &refs).await;
    // Tokyo's morning (23:00 UTC) is two "hours" away: the test moves the
    // clock there once the Norwegian numbers are sent and the rest held.
    let clock = Arc::new(Mutex::new(at("2027-01-05T12:00:00Z")));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let clock = clock.clone();
        let r = MailingRunner::new(store.clone(), Arc::new(intelecom_for(&emu)))
            .batch(25)
            .lease(std::time::Duration::from_secs(2))
            .clock(move || *clock.lock().unwrap());
        workers.push(tokio::spawn(async move { r.run(id).await.unwrap() }));
    }
    crate::support::poll(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(20),
        || {
            let store = store.clone();
            async move {
                let s = store.stats(id).await.unwrap();
                (s.count(RecipientState::Accepted) == 300 && s.count(RecipientState::Held) == 300)
                    .then_some(())
            }
        },
    )
    .await
    .expect("the Norwegian numbers sent and the Japanese held");
    assert!(emu.acceptances().keys().all(|n| n.starts_with("+47")));
    *clock.lock().unwrap() = at("2027-01-05T23:01:00Z");
    for w in workers {
        let (end, _) = tokio::time::timeout(std::time::Duration::from_secs(120), w)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(end, RunEnd::Finished);
    }
    let taken = emu.acceptances();
    let stats = store.stats(id).await.unwrap();
    assert_eq!(taken.len(), 600, "{stats}");
    assert!(taken.values().all(|n| *n == 1));
}
