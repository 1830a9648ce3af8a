//! The store contracts (`crm_comms::testing::{outbox_suite,
//! sent_store_suite, dedup_suite}`) on every store: the `Outbox` (claims,
//! pause and cancel, leases, settlements, reports on the row they belong
//! to — issue 30, items 6–9 — the duplicate window and the opt-out check
//! of issue 31, fencing, removal), the `SentStore` and the `DedupStore`,
//! each on the in-memory, embedded and PostgreSQL stores (PostgreSQL when
//! there is one; see `support::postgres_url`). A store that breaks a rule
//! is caught by name.
#![cfg(all(feature = "sqlite", feature = "testing"))]

use std::time::Duration;

use crm_comms::store::sqlite::SqliteStore;
use crm_comms::testing::admin_suite::run_admin_suite;
use crm_comms::testing::dedup_suite::run_dedup_suite;
use crm_comms::testing::outbox_suite::run_outbox_suite;
use crm_comms::testing::privacy_suite::run_privacy_suite;
use crm_comms::testing::sent_store_suite::run_sent_store_suite;

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_store_keeps_the_outbox_contract() {
    let dir = std::env::temp_dir().join(format!("crm-comms-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("crm.db");
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).await.unwrap();
    let expiring = store.clone().keep_reports_for(Duration::ZERO);
    let report = run_outbox_suite(&store, &expiring).await;
    assert!(report.rules.len() >= 11, "{report:?}");
    report.assert_passes();
    run_privacy_suite(&store).await.assert_passes();
    run_admin_suite(&store).await.assert_passes();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The reference implementation in memory keeps it too.
#[tokio::test(flavor = "multi_thread")]
async fn the_memory_store_keeps_the_outbox_contract() {
    let store = crm_comms::store::memory::MemoryOutbox::new();
    let expiring = store.clone().keep_reports_for(Duration::ZERO);
    let report = run_outbox_suite(&store, &expiring).await;
    report.assert_passes();
    run_privacy_suite(&store).await.assert_passes();
    run_admin_suite(&store).await.assert_passes();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn postgresql_keeps_the_outbox_contract() {
    let Some(store) = crate::support::pg_store().await else {
        return;
    };
    let expiring = store.clone().keep_reports_for(Duration::ZERO);
    run_outbox_suite(&store, &expiring).await.assert_passes();
    run_privacy_suite(&store).await.assert_passes();
    run_admin_suite(&store).await.assert_passes();
}

/// The suite catches a store that breaks the contract: one that forgets
/// kept reports at once where it should keep them fails that rule, by
/// name, and the others still pass.
#[tokio::test(flavor = "multi_thread")]
async fn the_suite_names_the_rules_a_broken_store_breaks() {
    let store = SqliteStore::in_memory().await.unwrap();
    let forgetful = store.clone().keep_reports_for(Duration::ZERO);
    let report = run_outbox_suite(&forgetful, &forgetful).await;
    let failed: Vec<&str> = report.failures().iter().map(|(r, _)| *r).collect();
    assert_eq!(
        failed,
        ["kept reports are cleared and expire"],
        "{report:?}"
    );
    assert!(report.rules.len() > failed.len(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sent_store_keeps_the_contract() {
    run_sent_store_suite(&crm_comms::sms::tracking::MemorySentStore::new())
        .await
        .assert_passes();
    run_sent_store_suite(&SqliteStore::in_memory().await.unwrap())
        .await
        .assert_passes();
    #[cfg(feature = "postgres")]
    if let Some(store) = crate::support::pg_store().await {
        run_sent_store_suite(&store).await.assert_passes();
    }
}

#[cfg(feature = "receiver")]
#[tokio::test(flavor = "multi_thread")]
async fn every_dedup_store_keeps_the_contract() {
    run_dedup_suite(&crm_comms::receiver::MemoryDedup::new(), "mem")
        .await
        .assert_passes();
    run_dedup_suite(&SqliteStore::in_memory().await.unwrap(), "sqlite")
        .await
        .assert_passes();
    #[cfg(feature = "postgres")]
    if let Some(store) = crate::support::pg_store().await {
        run_dedup_suite(&store, "pg").await.assert_passes();
    }
}
