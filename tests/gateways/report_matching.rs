//! The `Outbox` contract (`crm_comms::testing::outbox_suite`) on both
//! stores: reports on the row they belong to (issue 30, items 6–9), the
//! duplicate window and the opt-out check (issue 31), fencing, removal —
//! every rule on the embedded store and on PostgreSQL (when there is one;
//! see `support::postgres_url`). A store that breaks a rule is caught (the
//! last test).
#![cfg(all(feature = "sqlite", feature = "testing"))]

use std::time::Duration;

use crm_comms::store::sqlite::SqliteStore;
use crm_comms::testing::outbox_suite::run_outbox_suite;

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
    let _ = std::fs::remove_dir_all(&dir);
}

/// The reference implementation in memory keeps it too.
#[tokio::test(flavor = "multi_thread")]
async fn the_memory_store_keeps_the_outbox_contract() {
    let store = crm_comms::store::memory::MemoryOutbox::new();
    let expiring = store.clone().keep_reports_for(Duration::ZERO);
    let report = run_outbox_suite(&store, &expiring).await;
    report.assert_passes();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn postgresql_keeps_the_outbox_contract() {
    let Some(store) = crate::support::pg_store().await else {
        return;
    };
    let expiring = store.clone().keep_reports_for(Duration::ZERO);
    run_outbox_suite(&store, &expiring).await.assert_passes();
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
