//! The consent and personal-data contract every mailing store keeps
//! ([`Privacy`]), as a suite a backend runs beside `outbox_suite`: the
//! consent log, opting in again, erasure that keeps only a keyed hash of
//! an opt-out (and blocks the number when it is imported again), access,
//! and the retention purge.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use crm_comms::store::sqlite::SqliteStore;
//! use crm_comms::testing::privacy_suite::run_privacy_suite;
//!
//! let store = SqliteStore::in_memory().await?;
//! run_privacy_suite(&store).await.assert_passes();
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::time::Duration;

use crate::mailing::{
    ConsentAction, ConsentEntry, MailingId, MailingSpec, Outbox, Preparer, Privacy, Recipient,
    RecipientState, Settlement,
};

use super::suite::SuiteReport;

/// Runs every rule on `store` (the purge rule last: it removes the
/// store's finished mailings).
pub async fn run_privacy_suite<S: Outbox + Privacy>(store: &S) -> SuiteReport {
    let mut r = SuiteReport::default();
    r.rule(
        "consent is logged with its message, and START takes a number off",
        consent_is_logged(store),
    )
    .await;
    r.rule(
        "erasure keeps only a keyed hash of an opt-out, which still blocks",
        erasure_keeps_a_hash(store),
    )
    .await;
    r.rule(
        "access exports every row of a number",
        access_exports_everything(store),
    )
    .await;
    r.rule(
        "finished mailings past retention are purged, others kept",
        finished_mailings_are_purged(store),
    )
    .await;
    r
}

async fn mailing<S: Outbox + Privacy>(store: &S, name: &str, numbers: &[&str]) -> MailingId {
    let spec = MailingSpec::new(name, "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap());
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let list: Vec<_> = numbers
        .iter()
        .map(|n| p.prepare(&Recipient::new(*n).with("firstname", "Kari")))
        .collect();
    store.create(&spec, &mut list.into_iter()).await.unwrap()
}

async fn consent_is_logged<S: Outbox + Privacy>(store: &S) {
    let n = "+4745000001";
    let stop = ConsentEntry::now(n, ConsentAction::OptOut, "STOPP", Some("stopp takk"));
    assert!(store.record_consent(&stop).await.unwrap());
    // Twice: logged again, the list unchanged.
    assert!(!store.record_consent(&stop).await.unwrap());
    assert!(store.opted_out_among(&[n]).await.unwrap().contains(n));
    let log = store.consent_log(Some(n), 10).await.unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (
            log[0].action,
            log[0].via.as_str(),
            log[0].message.as_deref()
        ),
        (ConsentAction::OptOut, "STOPP", Some("stopp takk"))
    );
    let start = ConsentEntry::now(n, ConsentAction::OptIn, "START", Some("START"));
    assert!(store.record_consent(&start).await.unwrap());
    assert!(!store.opted_out_among(&[n]).await.unwrap().contains(n));
    let log = store.consent_log(Some(n), 10).await.unwrap();
    assert_eq!(log[0].action, ConsentAction::OptIn, "newest first: {log:?}");
    assert_eq!(store.consent_log(Some(n), 1).await.unwrap().len(), 1);
    // The plain opt-out (the receiver's `with_opt_out`) is logged too.
    store.opt_out("+4745000002", "sms").await.unwrap();
    let all = store.consent_log(None, 100).await.unwrap();
    assert!(
        all.iter()
            .any(|e| e.number == "+4745000002" && e.via == "sms")
    );
}

async fn erasure_keeps_a_hash<S: Outbox + Privacy>(store: &S) {
    let (x, y) = ("+4745000011", "+4745000012");
    let a = mailing(store, "erase a", &["45000011", "45000012"]).await;
    let _b = mailing(store, "erase b", &["45000011"]).await;
    store
        .record_consent(&ConsentEntry::now(
            x,
            ConsentAction::OptOut,
            "STOPP",
            Some("STOPP"),
        ))
        .await
        .unwrap();
    let erased = store.erase(x).await.unwrap();
    assert_eq!(erased.recipients, 2, "{erased:?}");
    assert_eq!(erased.consent_entries, 1, "{erased:?}");
    assert!(erased.suppressed);
    // Nothing readable is left of x; y is untouched.
    let record = store.access(x).await.unwrap();
    assert!(
        record.recipients.is_empty() && record.consent.is_empty(),
        "{record:?}"
    );
    assert!(!record.opted_out && record.suppressed, "{record:?}");
    assert!(!store.opted_out().await.unwrap().contains(x));
    let rows = store.rows(a, 0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].number, y);
    // Imported again: blocked when its turn comes, by the hash.
    let again = mailing(store, "erase again", &["45000011"]).await;
    assert!(store.opted_out_among(&[x, y]).await.unwrap() == HashSet::from([x.to_owned()]));
    let c = store
        .claim_sending(again, "w", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    // A number that never opted out leaves no hash.
    let erased = store.erase(y).await.unwrap();
    assert!(!erased.suppressed && erased.recipients == 1, "{erased:?}");
    assert!(!store.access(y).await.unwrap().suppressed);
    // START after erasure takes the hash off too.
    store
        .record_consent(&ConsentEntry::now(x, ConsentAction::OptIn, "START", None))
        .await
        .unwrap();
    assert!(store.opted_out_among(&[x]).await.unwrap().is_empty());
    assert!(!store.access(x).await.unwrap().suppressed);
}

async fn access_exports_everything<S: Outbox + Privacy>(store: &S) {
    let n = "+4745000021";
    let a = mailing(store, "access a", &["45000021", "45000022"]).await;
    let b = mailing(store, "access b", &["45000021"]).await;
    store.opt_out(n, "STOPP").await.unwrap();
    let record = store.access(n).await.unwrap();
    let seen: Vec<(MailingId, &str)> = record
        .recipients
        .iter()
        .map(|(id, name, _)| (*id, name.as_str()))
        .collect();
    assert_eq!(seen, [(a, "access a"), (b, "access b")]);
    assert!(record.recipients.iter().all(|(_, _, r)| r.number == n));
    assert!(record.opted_out && !record.suppressed);
    assert_eq!(record.consent.len(), 1);
    assert!(
        store
            .access("+4745000029")
            .await
            .unwrap()
            .recipients
            .is_empty()
    );
}

async fn finished_mailings_are_purged<S: Outbox + Privacy>(store: &S) {
    let done = mailing(store, "purge done", &["45000031", "45000032"]).await;
    let rows = store
        .claim_sending(done, "w", 2, Duration::from_secs(30))
        .await
        .unwrap();
    let settled: Vec<_> = rows
        .into_iter()
        .map(|c| (c, Settlement::Failed { reason: "x".into() }))
        .collect();
    store.settle(&settled).await.unwrap();
    let waiting = mailing(store, "purge waiting", &["45000033"]).await;
    // Not old enough: nothing goes.
    let none = store
        .purge_finished(Duration::from_secs(3600), 1)
        .await
        .unwrap();
    assert_eq!(none.mailings, 0, "{none:?}");
    let purged = store.purge_finished(Duration::ZERO, 1).await.unwrap();
    assert!(purged.mailings >= 1 && purged.recipients >= 2, "{purged:?}");
    assert!(
        store.mailing(done).await.is_err(),
        "the finished mailing is gone"
    );
    assert!(store.rows(done, 0, 10).await.unwrap().is_empty());
    let stats = store.stats(waiting).await.unwrap();
    assert_eq!(stats.count(RecipientState::Pending), 1, "{stats:?}");
}
