//! The contract of a [`SentStore`] (where sent messages wait for their
//! delivery reports), as a suite a store runs: this crate's
//! `MemorySentStore`, SQLite and PostgreSQL stores run it in their tests.

use crate::phone::PhoneNumber;
use crate::sms::tracking::{SentRecord, SentStore};

use super::suite::SuiteReport;

/// Runs every rule against `store` (which should start empty).
pub async fn run_sent_store_suite(store: &dyn SentStore) -> SuiteReport {
    let mut r = SuiteReport::default();
    r.rule(
        "a record is found by its gateway and its client reference",
        found_both_ways(store),
    )
    .await;
    r.rule(
        "the record made before the send gets its reference, not a twin",
        upsert_by_client_reference(store),
    )
    .await;
    r.rule(
        "recipients sharing a client reference are told apart",
        recipients_told_apart(store),
    )
    .await;
    r.rule(
        "a record without a client reference is replaced by its gateway reference",
        upsert_by_reference(store),
    )
    .await;
    r
}

fn number(s: &str) -> PhoneNumber {
    s.parse().expect("a test number")
}

async fn found_both_ways(store: &dyn SentStore) {
    let mut rec = SentRecord::new("case-1", "intelecom", number("+4741000101"));
    rec.reference = Some("G-101".into());
    rec.client_reference = Some("c-101".into());
    store.put(vec![rec.clone()]).await.unwrap();
    assert_eq!(
        store.by_reference("G-101").await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        store.by_client_reference("c-101", None).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        store
            .by_client_reference("c-101", Some(&rec.recipient))
            .await
            .unwrap(),
        Some(rec)
    );
    assert_eq!(store.by_reference("G-none").await.unwrap(), None);
    assert_eq!(
        store.by_client_reference("c-none", None).await.unwrap(),
        None
    );
}

async fn upsert_by_client_reference(store: &dyn SentStore) {
    let mut pending = SentRecord::new("case-2", "intelecom", number("+4741000102"));
    pending.client_reference = Some("c-102".into());
    store.put(vec![pending.clone()]).await.unwrap();
    let mut sent = pending.clone();
    sent.reference = Some("G-102".into());
    store.put(vec![sent.clone()]).await.unwrap();
    assert_eq!(
        store.by_reference("G-102").await.unwrap(),
        Some(sent.clone())
    );
    assert_eq!(
        store.by_client_reference("c-102", None).await.unwrap(),
        Some(sent)
    );
}

async fn recipients_told_apart(store: &dyn SentStore) {
    let mut a = SentRecord::new("case-3", "pswincom", number("+4741000103"));
    a.client_reference = Some("c-103".into());
    a.reference = Some("G-103a".into());
    let mut b = SentRecord::new("case-3", "pswincom", number("+4741000104"));
    b.client_reference = Some("c-103".into());
    b.reference = Some("G-103b".into());
    store.put(vec![a.clone(), b.clone()]).await.unwrap();
    assert_eq!(
        store
            .by_client_reference("c-103", Some(&b.recipient))
            .await
            .unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store
            .by_client_reference("c-103", Some(&a.recipient))
            .await
            .unwrap(),
        Some(a)
    );
    assert_eq!(store.by_reference("G-103b").await.unwrap(), Some(b));
}

async fn upsert_by_reference(store: &dyn SentStore) {
    let first =
        SentRecord::new("case-4", "pswincom", number("+4741000105")).with_reference("G-105");
    store.put(vec![first]).await.unwrap();
    let again =
        SentRecord::new("case-4b", "pswincom", number("+4741000105")).with_reference("G-105");
    store.put(vec![again.clone()]).await.unwrap();
    assert_eq!(store.by_reference("G-105").await.unwrap(), Some(again));
}
