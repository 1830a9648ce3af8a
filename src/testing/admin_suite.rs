//! The operator's tools every mailing store keeps ([`MailingAdmin`]), as a
//! suite a backend runs beside `outbox_suite`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use crm_comms::store::sqlite::SqliteStore;
//! use crm_comms::testing::admin_suite::run_admin_suite;
//!
//! let store = SqliteStore::in_memory().await?;
//! run_admin_suite(&store).await.assert_passes();
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::time::Duration;

use crate::mailing::{
    MailingAdmin, MailingId, MailingSpec, MailingStatus, Outbox, Preparer, Recipient,
    RecipientState, parse_client_reference,
};

use super::suite::SuiteReport;

/// Runs every rule on `store`.
pub async fn run_admin_suite<S: Outbox + MailingAdmin>(store: &S) -> SuiteReport {
    let mut r = SuiteReport::default();
    r.rule(
        "mailings are listed newest first with their times",
        mailings_are_listed(store),
    )
    .await;
    r.rule(
        "a recipient is found by its client reference and cancelled alone",
        one_recipient_is_found_and_cancelled(store),
    )
    .await;
    r.rule(
        "a mailing is rescheduled only before it starts",
        rescheduled_only_before_it_starts(store),
    )
    .await;
    r
}

async fn mailing<S: Outbox>(store: &S, spec: &MailingSpec, numbers: &[&str]) -> MailingId {
    let none = HashSet::new();
    let mut p = Preparer::new(spec, &none);
    let list: Vec<_> = numbers
        .iter()
        .map(|n| p.prepare(&Recipient::new(*n).with("firstname", "Kari")))
        .collect();
    store.create(spec, &mut list.into_iter()).await.unwrap()
}

fn spec(name: &str) -> MailingSpec {
    MailingSpec::new(name, "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
}

async fn mailings_are_listed<S: Outbox + MailingAdmin>(store: &S) {
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
    let at: jiff::Timestamp = "2027-01-05T08:00:00Z".parse().unwrap();
    let a = mailing(store, &spec("list a"), &["46000001"]).await;
    let b = mailing(
        store,
        &spec("list b")
            .with_send_at(at)
            .with_expiry(at + jiff::SignedDuration::from_hours(2)),
        &["46000002"],
    )
    .await;
    store.set_status(a, MailingStatus::Paused).await.unwrap();
    let listed = store.list_mailings(2).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!((listed[0].id, listed[1].id), (b, a), "newest first");
    assert_eq!(listed[0].name, "list b");
    assert_eq!(listed[0].send_at, Some(at));
    assert!(listed[0].expires_at.is_some());
    assert_eq!(listed[1].status, MailingStatus::Paused);
    assert!(listed[1].created_at >= before, "{listed:?}");
    assert_eq!(store.list_mailings(1).await.unwrap().len(), 1);
}

async fn one_recipient_is_found_and_cancelled<S: Outbox + MailingAdmin>(store: &S) {
    let id = mailing(store, &spec("cancel one"), &["46000011", "46000012"]).await;
    let rows = store.rows(id, 0, 10).await.unwrap();
    let (m, row) = parse_client_reference(&rows[0].client_reference).unwrap();
    assert_eq!((m, row), (id, rows[0].id));
    let found = store.recipient(m, row).await.unwrap().unwrap();
    assert_eq!(found.number, "+4746000011");
    assert!(
        store
            .recipient(MailingId::new(id.get() + 1000), row)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .cancel_recipient(id, row, "asked by phone")
            .await
            .unwrap()
    );
    assert!(
        !store.cancel_recipient(id, row, "again").await.unwrap(),
        "already final"
    );
    let found = store.recipient(id, row).await.unwrap().unwrap();
    assert_eq!(
        (found.state, found.reason.as_deref()),
        (RecipientState::Cancelled, Some("asked by phone"))
    );
    // Only that one: the other is claimed, and a claimed row is not
    // cancelled from under its worker.
    let c = store
        .claim(id, "w", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert!(!store.cancel_recipient(id, c[0].id, "late").await.unwrap());
}

async fn rescheduled_only_before_it_starts<S: Outbox + MailingAdmin>(store: &S) {
    let at: jiff::Timestamp = "2027-02-01T09:00:00Z".parse().unwrap();
    let id = mailing(store, &spec("reschedule"), &["46000021", "46000022"]).await;
    store.reschedule(id, Some(at)).await.unwrap();
    assert_eq!(store.mailing(id).await.unwrap().0.send_at, Some(at));
    store.reschedule(id, None).await.unwrap();
    assert_eq!(store.mailing(id).await.unwrap().0.send_at, None);
    store
        .claim(id, "w", 1, Duration::from_secs(30))
        .await
        .unwrap();
    let e = store.reschedule(id, Some(at)).await.unwrap_err();
    assert!(e.message().contains("has started"), "{e}");
    assert!(
        store
            .reschedule(MailingId::new(id.get() + 1000), None)
            .await
            .is_err()
    );
}
