//! A frequency cap across mailings, end to end through the Intelecom
//! emulator on every store: a second mailing within the period skips the
//! numbers the first one texted (blocked with the reason), a number listed
//! twice in one mailing is capped inside its batch, and two mailings sent
//! at once by two workers on PostgreSQL never text a number more than the
//! cap allows.
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "testing",
    feature = "intelecom"
))]

use std::collections::HashSet;
use std::sync::Arc;

use crm_comms::mailing::{
    FrequencyCap, MailingId, MailingRunner, MailingSpec, Outbox, Preparer, Recipient,
    RecipientState, RunEnd,
};
use crm_comms::store::memory::MemoryOutbox;
use crm_comms::store::sqlite::SqliteStore;

use crate::support::{intelecom_emulator, intelecom_for, pg_store};

async fn create(store: &dyn Outbox, spec: &MailingSpec, numbers: &[String]) -> MailingId {
    let none = HashSet::new();
    let mut p = Preparer::new(spec, &none);
    let list: Vec<Recipient> = numbers
        .iter()
        .map(|n| Recipient::new(n.as_str()).with("firstname", "Kari"))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    store.create(spec, &mut it).await.unwrap()
}

fn spec(cap: Option<&str>) -> MailingSpec {
    let s = MailingSpec::new("cap", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap());
    match cap {
        Some(c) => s.with_frequency_cap(c.parse::<FrequencyCap>().unwrap()),
        None => s,
    }
}

fn numbers(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("+474400{i:04}")).collect()
}

async fn a_cap_across_two_mailings(store: Arc<dyn Outbox>) {
    let emu = intelecom_emulator().await;
    let run = |id| {
        let store = store.clone();
        let emu = &emu;
        async move {
            MailingRunner::new(store, Arc::new(intelecom_for(emu)))
                .run(id)
                .await
                .unwrap()
        }
    };
    // The first mailing, uncapped, texts 0..10.
    let first = create(&*store, &spec(None), &numbers(0..10)).await;
    assert_eq!(run(first).await.0, RunEnd::Finished);
    // The second, capped at one a week, goes to 5..15: 10..15 are sent,
    // 5..10 blocked with the reason.
    let second = create(&*store, &spec(Some("1/7d")), &numbers(5..15)).await;
    let (end, progress) = run(second).await;
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(
        (progress.accepted, progress.blocked),
        (5, 5),
        "{progress:?}"
    );
    let rows = store.rows(second, 0, 100).await.unwrap();
    let capped = rows.iter().find(|r| r.number == "+4744000005").unwrap();
    assert_eq!(capped.state, RecipientState::Blocked);
    let why = capped.reason.as_deref().unwrap();
    assert!(
        why.contains("frequency cap") && why.contains("1 message(s) in the last 7d"),
        "{why}"
    );
    // A third, capped at two a week, goes to 0..15: each has had one, so
    // each gets its second; a fourth, capped the same, texts nobody.
    let third = create(&*store, &spec(Some("2/7d")), &numbers(0..15)).await;
    let (_, progress) = run(third).await;
    assert_eq!(
        (progress.accepted, progress.blocked),
        (15, 0),
        "{progress:?}"
    );
    let fourth = create(&*store, &spec(Some("2/7d")), &numbers(0..3)).await;
    let (_, progress) = run(fourth).await;
    assert_eq!(
        (progress.accepted, progress.blocked),
        (0, 3),
        "{progress:?}"
    );
    let taken = emu.acceptances();
    assert_eq!(taken.len(), 15);
    assert!(taken.values().all(|n| *n == 2), "{taken:?}");
    // One number three times in a mailing that allows repeats: the cap
    // holds inside the batch too.
    let repeats = create(
        &*store,
        &spec(Some("2/1d")).with_one_per_number(false),
        &[
            "+4744009999".to_owned(),
            "+4744009999".to_owned(),
            "+4744009999".to_owned(),
        ],
    )
    .await;
    let (_, progress) = run(repeats).await;
    assert_eq!(
        (progress.accepted, progress.blocked),
        (2, 1),
        "{progress:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_caps_a_number_across_mailings() {
    a_cap_across_two_mailings(Arc::new(MemoryOutbox::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_caps_a_number_across_mailings() {
    a_cap_across_two_mailings(Arc::new(SqliteStore::in_memory().await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_caps_a_number_across_mailings() {
    let Some(store) = pg_store().await else {
        return;
    };
    a_cap_across_two_mailings(Arc::new(store)).await;
}

/// Two capped mailings to the same 200 numbers, each sent by its own
/// worker at the same time on PostgreSQL, in lockstep: of two sends to one
/// number at once the earlier goes and the later is blocked, so every
/// number gets exactly one — never two, never none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_two_mailings_never_exceed_the_cap() {
    let Some(store) = pg_store().await else {
        return;
    };
    let store: Arc<dyn Outbox> = Arc::new(store);
    let emu = intelecom_emulator().await;
    let list = numbers(0..200);
    let a = create(&*store, &spec(Some("1/7d")), &list).await;
    let b = create(&*store, &spec(Some("1/7d")), &list).await;
    let mut workers = Vec::new();
    for id in [a, b] {
        let r = MailingRunner::new(store.clone(), Arc::new(intelecom_for(&emu))).batch(10);
        workers.push(tokio::spawn(async move { r.run(id).await.unwrap() }));
    }
    for w in workers {
        assert_eq!(w.await.unwrap().0, RunEnd::Finished);
    }
    let taken = emu.acceptances();
    assert!(taken.values().all(|n| *n == 1), "{taken:?}");
    let (sa, sb) = (store.stats(a).await.unwrap(), store.stats(b).await.unwrap());
    let sent = sa.count(RecipientState::Accepted) + sb.count(RecipientState::Accepted);
    assert_eq!(sent, taken.len() as u64);
    assert_eq!(
        sa.count(RecipientState::Blocked) + sb.count(RecipientState::Blocked) + sent,
        400
    );
    // Of two sends to one number at once, the earlier goes: everyone
    // gets exactly one.
    assert_eq!(sent, 200, "{sa} / {sb}");
}
