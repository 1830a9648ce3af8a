//! The contract of a [`DedupStore`] (which pushed messages were handled),
//! as a suite a store runs: this crate's `MemoryDedup`, SQLite and
//! PostgreSQL stores run it in their tests.

use std::time::Duration;

use crate::receiver::{DedupStore, Seen};

use super::suite::SuiteReport;

/// Runs every rule against `store`; `prefix` keeps its keys apart from
/// others in a shared store.
pub async fn run_dedup_suite(store: &dyn DedupStore, prefix: &str) -> SuiteReport {
    let key = |k: &str| format!("{prefix}:{k}");
    let mut r = SuiteReport::default();
    r.rule(
        "a key is new, then in progress, then done",
        lifecycle(store, key("life")),
    )
    .await;
    r.rule(
        "a failed handling releases the key",
        released_on_failure(store, key("fail")),
    )
    .await;
    r.rule(
        "a push's keys are claimed together, one answer each, in order",
        many(store, [key("m1"), key("m2"), key("m3")]),
    )
    .await;
    r.rule(
        "a handled key is forgotten after its window",
        forgotten_after_window(store, key("window")),
    )
    .await;
    r
}

const LONG: Duration = Duration::from_secs(3600);

async fn lifecycle(store: &dyn DedupStore, k: String) {
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::New);
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::InProgress);
    store.finish(&k, true).await.unwrap();
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::Done);
}

async fn released_on_failure(store: &dyn DedupStore, k: String) {
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::New);
    store.finish(&k, false).await.unwrap();
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::New);
    store.finish(&k, true).await.unwrap();
}

async fn many(store: &dyn DedupStore, keys: [String; 3]) {
    assert_eq!(store.begin(&keys[1], LONG).await.unwrap(), Seen::New);
    store.finish(&keys[1], true).await.unwrap();
    let seen = store.begin_many(&keys, LONG).await.unwrap();
    assert_eq!(seen, [Seen::New, Seen::Done, Seen::New]);
    store
        .finish_many(&[(keys[0].clone(), true), (keys[2].clone(), false)])
        .await
        .unwrap();
    let seen = store.begin_many(&keys, LONG).await.unwrap();
    assert_eq!(seen, [Seen::Done, Seen::Done, Seen::New]);
}

async fn forgotten_after_window(store: &dyn DedupStore, k: String) {
    assert_eq!(
        store.begin(&k, Duration::from_millis(200)).await.unwrap(),
        Seen::New
    );
    store.finish(&k, true).await.unwrap();
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::Done);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(store.begin(&k, LONG).await.unwrap(), Seen::New);
}
