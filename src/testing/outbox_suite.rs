//! The contract every mailing store keeps ([`Outbox`]), as a suite a
//! backend runs (feature `testing` with `mailing`): this crate's SQLite and
//! PostgreSQL stores run it in their tests, and a store of yours should
//! too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use crm_comms::store::sqlite::SqliteStore;
//! use crm_comms::testing::outbox_suite::run_outbox_suite;
//!
//! let store = SqliteStore::in_memory().await?;
//! // The same store, forgetting kept reports at once (for the expiry rule).
//! let expiring = store.clone().keep_reports_for(Duration::ZERO);
//! run_outbox_suite(&store, &expiring).await.assert_passes();
//! # Ok(()) }
//! ```
//!
//! Each rule is a function of its own, run on fresh mailings of the store
//! it is given; a panic inside a rule (or inside the store) fails that rule
//! with its message, and the suite goes on. Rules take a few seconds in all
//! (two wait out short leases and a duplicate window).

// Why one file above 500 lines: a suite is its list of rules; each rule is a
// short function, and one list is what a store author reads.

use std::collections::HashSet;
use std::time::Duration;

use crate::mailing::{
    Claimed, MailingId, MailingSpec, MailingStatus, Outbox, Preparer, Recipient, RecipientRow,
    RecipientState, ReportMatch, Settlement,
};
use crate::sms::{DeliveryReceipt, DeliveryState};

use super::suite::SuiteReport;

/// Runs every rule against `store`; `expiring` is the same store set to
/// forget kept reports at once (`keep_reports_for(Duration::ZERO)`), for
/// the expiry rule.
pub async fn run_outbox_suite(store: &dyn Outbox, expiring: &dyn Outbox) -> SuiteReport {
    let mut r = SuiteReport::default();
    r.rule(
        "a mailing is removed whole",
        a_mailing_is_removed_whole(store),
    )
    .await;
    r.rule(
        "claims take pending rows of active mailings, in order, once",
        claims_take_pending_rows_once(store),
    )
    .await;
    r.rule(
        "pause stops claims; cancel ends what was not sent",
        pause_and_cancel(store),
    )
    .await;
    r.rule(
        "expired claims come back; a heartbeat keeps them",
        leases_and_heartbeats(store),
    )
    .await;
    r.rule(
        "settlements are written as they are",
        settlements_are_written(store),
    )
    .await;
    r.rule(
        "an expiry is kept, and an expired recipient is final",
        an_expiry_is_kept_and_expired_is_final(store),
    )
    .await;
    r.rule(
        "a held recipient waits for its daytime, and ends with the mailing",
        a_held_recipient_waits_for_its_daytime(store),
    )
    .await;
    r.rule(
        "recent sends are counted per number across mailings",
        recent_sends_are_counted_across_mailings(store),
    )
    .await;
    r.rule(
        "resends only inside the duplicate window",
        resends_only_inside_the_duplicate_window(store),
    )
    .await;
    r.rule(
        "colliding gateway ids never move another mailing's row",
        colliding_gateway_ids_never_move_another_mailings_row(store),
    )
    .await;
    r.rule(
        "without a client reference the gateway and the newest send decide",
        without_a_client_reference_the_gateway_and_the_newest_send_decide(store),
    )
    .await;
    r.rule(
        "a kept report turns a recovered row delivered",
        a_kept_report_turns_a_recovered_row_delivered(store, false),
    )
    .await;
    r.rule(
        "a kept report turns a row queued for a resend delivered",
        a_kept_report_turns_a_recovered_row_delivered(store, true),
    )
    .await;
    r.rule(
        "kept reports are cleared and expire",
        kept_reports_are_cleared_and_expire(store, expiring),
    )
    .await;
    r.rule(
        "the delivery time is always filled",
        the_delivery_time_is_always_filled(store),
    )
    .await;
    r.rule(
        "unmatched reports are the mailing's own",
        unmatched_reports_are_the_mailings_own(store),
    )
    .await;
    r.rule(
        "opted-out numbers are found among a batch",
        opted_out_numbers_are_found_among_a_batch(store),
    )
    .await;
    r.rule("a late writer is fenced", a_late_writer_is_fenced(store))
        .await;
    r.rule(
        "a shared rate limit is a bucket per key",
        the_shared_rate_limit(store),
    )
    .await;
    r
}

/// A shared rate limit, where the store offers one, is a GCRA bucket per
/// key: a fresh key gives its burst at once, then asks to wait at most one
/// interval; keys are independent; a push-back holds every taker off for
/// at least that long. A store without one says
/// [`RateTake::Unsupported`](crate::mailing::RateTake::Unsupported) to
/// every take (the runner then paces in its process) and takes push-backs
/// without an error.
async fn the_shared_rate_limit(store: &dyn Outbox) {
    use crate::mailing::RateTake;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = format!("suite-rate-{nanos}");
    let other = format!("{key}-other");
    let per_second = std::num::NonZeroU32::new(2).expect("2 is not zero"); // 500 ms apart
    let take = |key: String| async move { store.take_rate(&key, 1, per_second, 3).await.unwrap() };
    if take(key.clone()).await == RateTake::Unsupported {
        assert_eq!(
            take(key.clone()).await,
            RateTake::Unsupported,
            "a store without a shared limit says so every time"
        );
        store.push_rate(&key, Duration::from_secs(1)).await.unwrap();
        return;
    }
    for i in 2..=3 {
        assert_eq!(
            take(key.clone()).await,
            RateTake::Taken,
            "take {i} of a burst of 3 must be given at once"
        );
    }
    match take(key.clone()).await {
        RateTake::Wait(d) => assert!(
            !d.is_zero() && d <= Duration::from_millis(500),
            "past the burst, the wait is at most one interval (500 ms), not {d:?}"
        ),
        other => panic!("a fourth take within the burst's time must wait: {other:?}"),
    }
    assert_eq!(
        take(other.clone()).await,
        RateTake::Taken,
        "another key has its own bucket"
    );
    store
        .push_rate(&other, Duration::from_secs(5))
        .await
        .unwrap();
    match take(other).await {
        RateTake::Wait(d) => assert!(
            d >= Duration::from_secs(4) && d <= Duration::from_secs(7),
            "after a push-back of 5 s the wait is about that long, not {d:?}"
        ),
        got => panic!("after a push-back every taker must wait: {got:?}"),
    }
}

/// Claims take pending rows of an active mailing, in row order, each once;
/// blocked rows never.
async fn claims_take_pending_rows_once(store: &dyn Outbox) {
    let id = create(store, 5, "intelecom").await;
    let first = store.claim(id, "w1", 2, LEASE).await.unwrap();
    let second = store.claim(id, "w2", 10, LEASE).await.unwrap();
    let ids: Vec<i64> = first.iter().chain(&second).map(|c| c.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "claimed out of order or twice: {ids:?}");
    assert_eq!(ids.len(), 5);
    assert!(store.claim(id, "w3", 10, LEASE).await.unwrap().is_empty());
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Claimed), 5, "{stats:?}");
    assert!(!store.is_finished(id).await.unwrap());
}

/// A paused mailing gives no claims; resumed it does; cancelled, its
/// pending rows are cancelled and nothing is claimed.
async fn pause_and_cancel(store: &dyn Outbox) {
    let id = create(store, 3, "intelecom").await;
    store.set_status(id, MailingStatus::Paused).await.unwrap();
    assert!(store.claim(id, "w", 10, LEASE).await.unwrap().is_empty());
    store.set_status(id, MailingStatus::Active).await.unwrap();
    assert_eq!(store.claim(id, "w", 1, LEASE).await.unwrap().len(), 1);
    store
        .set_status(id, MailingStatus::Cancelled)
        .await
        .unwrap();
    assert!(store.claim(id, "w", 10, LEASE).await.unwrap().is_empty());
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Cancelled), 2, "{stats:?}");
    assert_eq!(stats.status, Some(MailingStatus::Cancelled));
    // A cancelled mailing stays cancelled.
    assert!(store.set_status(id, MailingStatus::Active).await.is_err());
}

/// An expired claim comes back as pending (a new attempt when claimed
/// again); a heartbeat (`extend`) keeps a live one.
async fn leases_and_heartbeats(store: &dyn Outbox) {
    let id = create(store, 2, "intelecom").await;
    let c = store
        .claim(id, "w", 2, Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    store.extend(&c[..1], LEASE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = store.recover(id, None).await.unwrap();
    assert_eq!((r.reclaimed, r.unknown), (1, 0), "{r:?}");
    let again = store.claim(id, "w2", 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, c[1].id);
    assert!(again[0].attempt > c[1].attempt);
}

/// Each settlement is written as it says: accepted with its reference,
/// failed with its reason, a retry back to pending with one more retry,
/// unknown, blocked.
async fn settlements_are_written(store: &dyn Outbox) {
    let id = create(store, 5, "intelecom").await;
    let c = sending(store, id, 5, LEASE).await;
    let s = |r: &str| r.to_owned();
    let results = vec![
        (
            c[0].clone(),
            Settlement::Accepted {
                reference: Some(s("A1")),
                note: None,
            },
        ),
        (
            c[1].clone(),
            Settlement::Failed {
                reason: s("refused"),
            },
        ),
        (c[2].clone(), Settlement::Retry { reason: s("429") }),
        (c[3].clone(), Settlement::Unknown { reason: s("reset") }),
        (
            c[4].clone(),
            Settlement::Blocked {
                reason: s("opted out during the mailing"),
            },
        ),
    ];
    store.settle(&results).await.unwrap();
    let rows = rows(store, id).await;
    let got: Vec<(RecipientState, Option<&str>)> = rows
        .iter()
        .map(|r| (r.state, r.reference.as_deref().or(r.reason.as_deref())))
        .collect();
    assert_eq!(
        got,
        [
            (RecipientState::Accepted, Some("A1")),
            (RecipientState::Failed, Some("refused")),
            (RecipientState::Pending, Some("429")),
            (RecipientState::Unknown, Some("reset")),
            (
                RecipientState::Blocked,
                Some("opted out during the mailing")
            ),
        ]
    );
    let retried = store.claim(id, "w", 10, LEASE).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].retries, 1);
    // Settling again is harmless: rows already settled are left alone.
    store.settle(&results).await.unwrap();
    assert_eq!(
        rows_after(store, id, c[1].id).await.state,
        RecipientState::Failed
    );
}

/// A mailing's expiry reads back as it was written; a recipient settled
/// expired is final, counted, exported with its reason, and never claimed
/// again; `expire_pending` ends the pending ones alone.
async fn an_expiry_is_kept_and_expired_is_final(store: &dyn Outbox) {
    let at: jiff::Timestamp = "2026-12-24T18:00:00Z".parse().unwrap();
    let spec = MailingSpec::new("expiring", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
        .with_expiry(at);
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let list: Vec<Recipient> = (0..4)
        .map(|i| Recipient::new(format!("41{i:06}")).with("firstname", "Kari"))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    let id = store.create(&spec, &mut it).await.unwrap();
    assert_eq!(store.mailing(id).await.unwrap().0.expires_at, Some(at));
    let c = sending(store, id, 2, LEASE).await;
    let reason = "the mailing expired at 2026-12-24T18:00:00Z before its turn".to_owned();
    store
        .settle(&[(
            c[0].clone(),
            Settlement::Expired {
                reason: reason.clone(),
            },
        )])
        .await
        .unwrap();
    let row = rows_after(store, id, c[0].id).await;
    assert_eq!(
        (row.state, row.reason.as_deref()),
        (RecipientState::Expired, Some(reason.as_str()))
    );
    assert!(RecipientState::Expired.is_final());
    // The two still pending expire; the one in flight finishes as it would.
    assert_eq!(store.expire_pending(id, &reason).await.unwrap(), 2);
    assert_eq!(store.expire_pending(id, &reason).await.unwrap(), 0);
    assert_eq!(
        rows_after(store, id, c[1].id).await.state,
        RecipientState::Sending
    );
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Expired), 3, "{stats:?}");
    assert!(store.claim(id, "w", 10, LEASE).await.unwrap().is_empty());
    store.recover(id, None).await.unwrap();
    assert_eq!(
        rows_after(store, id, c[0].id).await.state,
        RecipientState::Expired
    );
}

/// Recipient hours read back as written. A claimed row held until its
/// daytime is never claimed before `release_held` at that time, keeps the
/// mailing unfinished, says why, and is fenced like any write; expiry and
/// cancelling end held rows as they end pending ones.
async fn a_held_recipient_waits_for_its_daytime(store: &dyn Outbox) {
    let hours: crate::mailing::RecipientHours = "08:00-21:00 holidays-allowed".parse().unwrap();
    let spec = MailingSpec::new("daytime", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
        .with_recipient_hours(hours);
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let list: Vec<Recipient> = (0..4)
        .map(|i| Recipient::new(format!("41{i:06}")).with("firstname", "Kari"))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    let id = store.create(&spec, &mut it).await.unwrap();
    assert_eq!(
        store.mailing(id).await.unwrap().0.recipient_hours,
        Some(hours)
    );
    let ts = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    let (morning, later) = (ts("2027-01-05T07:00:00Z"), ts("2027-01-06T07:00:00Z"));
    let c = store.claim(id, "w", 3, LEASE).await.unwrap();
    assert_eq!(c.len(), 3);
    let why = "quiet hours in Europe/Oslo".to_owned();
    let held = store
        .hold(&[
            (c[0].clone(), later, why.clone()),
            (c[1].clone(), morning, why.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(held, 2);
    // A second hold of the same claim is fenced (the rows are no longer
    // claimed); so is a stale attempt.
    let mut stale = c[2].clone();
    stale.attempt -= 1;
    assert_eq!(
        store
            .hold(&[
                (c[0].clone(), morning, why.clone()),
                (stale, morning, why.clone())
            ])
            .await
            .unwrap(),
        0
    );
    let row = rows_after(store, id, c[0].id).await;
    assert_eq!(
        (row.state, row.reason.as_deref()),
        (RecipientState::Held, Some(why.as_str()))
    );
    assert!(!RecipientState::Held.is_final());
    assert_eq!(store.next_held(id).await.unwrap(), Some(morning));
    // Held rows are not claimed, and keep the mailing unfinished.
    let rest = store.claim(id, "w", 10, LEASE).await.unwrap();
    assert_eq!(rest.len(), 1, "{rest:?}");
    store
        .settle(&[(
            store.mark_sending(&rest, LEASE).await.unwrap().remove(0),
            Settlement::Accepted {
                reference: Some("H1".into()),
                note: None,
            },
        )])
        .await
        .unwrap();
    store
        .settle(&[(
            store.mark_sending(&c[2..], LEASE).await.unwrap().remove(0),
            Settlement::Accepted {
                reference: Some("H2".into()),
                note: None,
            },
        )])
        .await
        .unwrap();
    assert!(!store.is_finished(id).await.unwrap());
    assert_eq!(
        store.stats(id).await.unwrap().count(RecipientState::Held),
        2
    );
    // Not before its time; then pending again, its reason cleared, and
    // claimed with a new attempt.
    let before = ts("2027-01-05T06:59:59Z");
    assert_eq!(store.release_held(id, before).await.unwrap(), 0);
    assert_eq!(store.release_held(id, morning).await.unwrap(), 1);
    let row = rows_after(store, id, c[1].id).await;
    assert_eq!((row.state, row.reason), (RecipientState::Pending, None));
    assert_eq!(store.next_held(id).await.unwrap(), Some(later));
    let again = store.claim(id, "w", 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].id == c[1].id && again[0].attempt > c[1].attempt);
    // Held again, then the mailing expires: held rows end expired.
    assert_eq!(
        store
            .hold(&[(again[0].clone(), later, why.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.expire_pending(id, "expired").await.unwrap(), 2);
    assert_eq!(store.next_held(id).await.unwrap(), None);
    assert!(store.is_finished(id).await.unwrap());

    // Cancelling ends held rows too.
    let mut p2 = Preparer::new(&spec, &none);
    let mut it2 = list.iter().map(|r| p2.prepare(r));
    let id2 = store.create(&spec, &mut it2).await.unwrap();
    let c = store.claim(id2, "w", 1, LEASE).await.unwrap();
    store.hold(&[(c[0].clone(), later, why)]).await.unwrap();
    store
        .set_status(id2, MailingStatus::Cancelled)
        .await
        .unwrap();
    let row = rows_after(store, id2, c[0].id).await;
    assert_eq!(row.state, RecipientState::Cancelled);
    assert_eq!(store.next_held(id2).await.unwrap(), None);

    // Claimed straight into sending, holding what the check picks (even
    // rows): the held are never sending, the rest are; the same with a
    // settle first.
    let mut p3 = Preparer::new(&spec, &none);
    let many: Vec<Recipient> = (0..8)
        .map(|i| Recipient::new(format!("42{i:06}")).with("firstname", "Kari"))
        .collect();
    let mut it3 = many.iter().map(|r| p3.prepare(r));
    let id3 = store.create(&spec, &mut it3).await.unwrap();
    let even = |c: &Claimed| (c.id % 2 == 0).then(|| (later, "even".to_owned()));
    let (send, held) = store
        .claim_sending_holding(id3, "w", 4, LEASE, &even)
        .await
        .unwrap();
    assert_eq!((send.len(), held), (2, 2), "{send:?}");
    assert!(send.iter().all(|c| c.id % 2 == 1));
    for r in &rows(store, id3).await[..4] {
        let want = if r.id % 2 == 0 {
            RecipientState::Held
        } else {
            RecipientState::Sending
        };
        assert_eq!(r.state, want, "{r:?}");
    }
    let results: Vec<(Claimed, Settlement)> = send
        .iter()
        .map(|c| {
            (
                c.clone(),
                Settlement::Accepted {
                    reference: Some(format!("S{}", c.id)),
                    note: None,
                },
            )
        })
        .collect();
    let (send, held) = store
        .settle_and_claim_holding(&results, id3, "w", 4, LEASE, &even)
        .await
        .unwrap();
    assert_eq!((send.len(), held), (2, 2), "{send:?}");
    let stats = store.stats(id3).await.unwrap();
    assert_eq!(
        (
            stats.count(RecipientState::Accepted),
            stats.count(RecipientState::Held),
            stats.count(RecipientState::Sending)
        ),
        (2, 4, 2),
        "{stats:?}"
    );
}

/// `sends_since` counts, for the rows asking and across mailings, what
/// their numbers got since a time: accepted, delivered or unknown sends,
/// and sends in flight written down before the asking row — not failed,
/// pending or claimed rows, not the rows asking, and not a later send in
/// flight (of two at once the earlier goes first). A frequency cap reads
/// back as written.
async fn recent_sends_are_counted_across_mailings(store: &dyn Outbox) {
    let cap: crate::mailing::FrequencyCap = "2/7d".parse().unwrap();
    let spec = MailingSpec::new("capped", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
        .with_frequency_cap(cap);
    let none = HashSet::new();
    let numbers = ["43000001", "43000002", "43000003"];
    let make = || {
        let mut p = Preparer::new(&spec, &none);
        numbers
            .iter()
            .map(|n| p.prepare(&Recipient::new(*n).with("firstname", "Kari")))
            .collect::<Vec<_>>()
    };
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let a = store.create(&spec, &mut make().into_iter()).await.unwrap();
    assert_eq!(store.mailing(a).await.unwrap().0.frequency_cap, Some(cap));
    let b = store.create(&spec, &mut make().into_iter()).await.unwrap();
    let (e1, e2, e3) = ("+4743000001", "+4743000002", "+4743000003");
    // Mailing a: the first accepted, the second failed, the third only
    // claimed. Then mailing b, all three in flight.
    let sent_a = sending(store, a, 2, LEASE).await;
    store
        .settle(&[
            (
                sent_a[0].clone(),
                Settlement::Accepted {
                    reference: Some("F1".into()),
                    note: None,
                },
            ),
            (
                sent_a[1].clone(),
                Settlement::Failed {
                    reason: "refused".into(),
                },
            ),
        ])
        .await
        .unwrap();
    let claimed_a = store.claim(a, "w", 1, LEASE).await.unwrap();
    assert_eq!(claimed_a.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let sent_b = sending(store, b, 3, LEASE).await;
    let b_ids: Vec<i64> = sent_b.iter().map(|c| c.id).collect();
    let counts = store.sends_since(&b_ids, before).await.unwrap();
    assert_eq!(counts.get(e1), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get(e2),
        None,
        "a failed send is not counted: {counts:?}"
    );
    assert_eq!(counts.get(e3), None, "a claim is not a send: {counts:?}");
    // a's third now goes out too, after b's: b's is earlier, so it counts
    // against a's and not the other way round.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let late_a = store.mark_sending(&claimed_a, LEASE).await.unwrap();
    assert_eq!(late_a.len(), 1);
    let counts = store.sends_since(&b_ids, before).await.unwrap();
    assert_eq!(counts.get(e3), None, "a later send in flight: {counts:?}");
    let counts = store.sends_since(&[late_a[0].id], before).await.unwrap();
    assert_eq!(
        counts.get(e3),
        Some(&1),
        "an earlier send in flight: {counts:?}"
    );
    // Sends before `since` and nobody asking: nothing.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    assert!(store.sends_since(&b_ids, later).await.unwrap().is_empty());
    assert!(store.sends_since(&[], before).await.unwrap().is_empty());
}

/// A number on the opt-out list is found by `opted_out_among` (the
/// runner's check when a recipient's turn comes), and no other.
async fn opted_out_numbers_are_found_among_a_batch(store: &dyn Outbox) {
    store.opt_out("+4741999001", "STOPP").await.unwrap();
    let found = store
        .opted_out_among(&["+4741999001", "+4741999002"])
        .await
        .unwrap();
    assert_eq!(found, HashSet::from(["+4741999001".to_owned()]));
    assert!(store.opted_out().await.unwrap().contains("+4741999001"));
}

/// A settle from an older attempt (a worker whose lease ran out and whose
/// rows were claimed again) changes nothing.
async fn a_late_writer_is_fenced(store: &dyn Outbox) {
    let id = create(store, 1, "intelecom").await;
    let first = sending(store, id, 1, Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Recovered with a resend queued, then claimed again: a new attempt.
    store
        .recover(
            id,
            Some(crate::mailing::RESEND_MARGIN + Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let second = sending(store, id, 1, LEASE).await;
    assert!(second[0].attempt > first[0].attempt, "{first:?} {second:?}");
    accept(store, &first, &["LATE"]).await;
    let row = rows(store, id).await.remove(0);
    assert_eq!(
        row.state,
        RecipientState::Sending,
        "the late writer won: {row:?}"
    );
    accept(store, &second, &["NOW"]).await;
    let row = rows(store, id).await.remove(0);
    assert_eq!(
        (row.state, row.reference.as_deref()),
        (RecipientState::Accepted, Some("NOW"))
    );
}

const LEASE: Duration = Duration::from_secs(30);

async fn create(store: &dyn Outbox, n: usize, gateway: &str) -> MailingId {
    let spec = MailingSpec::new("reports", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap());
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let list: Vec<Recipient> = (0..n)
        .map(|i| Recipient::new(format!("41{i:06}")).with("firstname", "Kari"))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    let id = store.create(&spec, &mut it).await.unwrap();
    store.note_gateway(id, gateway).await.unwrap();
    id
}

async fn sending(store: &dyn Outbox, id: MailingId, n: usize, lease: Duration) -> Vec<Claimed> {
    let c = store.claim_sending(id, "w", n, lease).await.unwrap();
    assert_eq!(c.len(), n);
    c
}

async fn accept(store: &dyn Outbox, rows: &[Claimed], refs: &[&str]) {
    let results: Vec<(Claimed, Settlement)> = rows
        .iter()
        .zip(refs)
        .map(|(c, r)| {
            (
                c.clone(),
                Settlement::Accepted {
                    reference: Some((*r).to_owned()),
                    note: None,
                },
            )
        })
        .collect();
    store.settle(&results).await.unwrap();
}

fn delivered(provider: &'static str, gateway_ref: &str, client: Option<&str>) -> DeliveryReceipt {
    let mut r = DeliveryReceipt::new(provider, gateway_ref, DeliveryState::Delivered, "0");
    r.client_reference = client.map(str::to_owned);
    r
}

async fn rows(store: &dyn Outbox, id: MailingId) -> Vec<RecipientRow> {
    store.rows(id, 0, 1000).await.unwrap()
}

async fn states(store: &dyn Outbox, id: MailingId) -> Vec<RecipientState> {
    rows(store, id).await.iter().map(|r| r.state).collect()
}

/// Item 6: gateway ids repeat (an emulator restart, another account); a
/// push of two reports for the new mailing's rows, still *sending*, must
/// not move the old mailing's rows with the same gateway ids, in one
/// report or in a push of several.
async fn colliding_gateway_ids_never_move_another_mailings_row(store: &dyn Outbox) {
    let old = create(store, 2, "intelecom").await;
    let c = sending(store, old, 2, LEASE).await;
    accept(store, &c, &["G1", "G2"]).await;
    let new = create(store, 3, "intelecom").await;
    let n = sending(store, new, 3, LEASE).await;
    let push: Vec<DeliveryReceipt> = n[..2]
        .iter()
        .zip(["G1", "G2"])
        .map(|(c, g)| delivered("intelecom", g, Some(&c.client_reference)))
        .collect();
    assert_eq!(
        store.apply_reports(&push).await.unwrap(),
        [ReportMatch::Parked, ReportMatch::Parked]
    );
    let single = delivered("intelecom", "G1", Some(&n[2].client_reference));
    assert_eq!(
        store.apply_report(&single).await.unwrap(),
        ReportMatch::Parked
    );
    assert_eq!(states(store, old).await, [RecipientState::Accepted; 2]);
    assert_eq!(store.stats(new).await.unwrap().unmatched_reports, 3);
    assert_eq!(store.stats(old).await.unwrap().unmatched_reports, 0);
    // The new rows settle with the reused ids: their kept reports apply to
    // them, and only to them.
    accept(store, &n, &["G1", "G2", "G1"]).await;
    assert_eq!(states(store, new).await, [RecipientState::Delivered; 3]);
    assert_eq!(states(store, old).await, [RecipientState::Accepted; 2]);
    assert_eq!(store.stats(new).await.unwrap().unmatched_reports, 0);
    // A report naming a row by client reference never falls back to the
    // gateway reference, even when that row does not exist.
    let stray = delivered("intelecom", "G2", Some(&format!("crm{new}-999999")));
    assert_eq!(
        store.apply_report(&stray).await.unwrap(),
        ReportMatch::Parked
    );
    assert_eq!(states(store, old).await, [RecipientState::Accepted; 2]);
}

/// Item 6, without a client reference (PSWinCom's reports): matched by
/// gateway reference among the report's own gateway's mailings, the newest
/// row that still waits for its report.
async fn without_a_client_reference_the_gateway_and_the_newest_send_decide(store: &dyn Outbox) {
    let older = create(store, 1, "pswincom").await;
    let c = sending(store, older, 1, LEASE).await;
    accept(store, &c, &["P1"]).await;
    let newer = create(store, 1, "pswincom").await;
    let c = sending(store, newer, 1, LEASE).await;
    accept(store, &c, &["P1"]).await;
    let other_gateway = create(store, 1, "intelecom").await;
    let c = sending(store, other_gateway, 1, LEASE).await;
    accept(store, &c, &["P1"]).await;
    for report in [
        vec![delivered("pswincom", "P1", None)],
        vec![
            delivered("pswincom", "P1", None),
            delivered("pswincom", "P0", None),
        ],
    ] {
        let _ = store.apply_reports(&report).await.unwrap();
        // The first push delivers the newer; the second the older (the
        // newer has its report); the Intelecom mailing's row never.
    }
    assert_eq!(states(store, newer).await, [RecipientState::Delivered]);
    assert_eq!(states(store, older).await, [RecipientState::Delivered]);
    assert_eq!(
        states(store, other_gateway).await,
        [RecipientState::Accepted]
    );
}

/// Item 7: a report kept while its row was *sending* is applied when
/// recovery marks the row unknown, or would queue it for a resend.
async fn a_kept_report_turns_a_recovered_row_delivered(store: &dyn Outbox, resend: bool) {
    let id = create(store, 2, "intelecom").await;
    let c = sending(store, id, 2, Duration::from_millis(1)).await;
    let report = delivered("intelecom", "G7", Some(&c[0].client_reference));
    assert_eq!(
        store.apply_report(&report).await.unwrap(),
        ReportMatch::Parked
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let window = resend.then_some(Duration::from_secs(3600));
    let recovered = store.recover(id, window).await.unwrap();
    assert_eq!(recovered.unknown + recovered.resend, 2, "{recovered:?}");
    let rows = rows(store, id).await;
    assert_eq!(rows[0].state, RecipientState::Delivered, "{resend}");
    assert!(rows[0].done_at.is_some());
    let other = if resend {
        RecipientState::Pending
    } else {
        RecipientState::Unknown
    };
    assert_eq!(rows[1].state, other);
    assert_eq!(store.stats(id).await.unwrap().unmatched_reports, 0);
    // With a resend queued, only the row without a report is sent again.
    if resend {
        let again = store.claim(id, "w2", 10, LEASE).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, c[1].id);
    }
    // A report that proves delivery turns unknown into delivered whenever
    // it arrives.
    if !resend {
        let late = delivered("intelecom", "G8", Some(&c[1].client_reference));
        // The match names the row, and when it was sent.
        match store.apply_report(&late).await.unwrap() {
            ReportMatch::Applied(m) => {
                assert_eq!((m.mailing, m.row), (id, c[1].id));
                assert!(m.sent_at.is_some(), "{m:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(states(store, id).await, [RecipientState::Delivered; 2]);
    }
}

/// Item 7: kept reports of rows that are final with no use for them are
/// cleared, and every kept report expires.
async fn kept_reports_are_cleared_and_expire(store: &dyn Outbox, expired: &dyn Outbox) {
    let id = create(store, 2, "intelecom").await;
    let rows_now = rows(store, id).await;
    // A report for a pending row (it never went out), then the mailing is
    // cancelled: the report has no use.
    let report = delivered("intelecom", "G9", Some(&rows_now[1].client_reference));
    assert_eq!(
        store.apply_report(&report).await.unwrap(),
        ReportMatch::Parked
    );
    // And a report for a row this mailing does not have.
    let stray = delivered("intelecom", "G10", Some(&format!("crm{id}-999999")));
    store.apply_report(&stray).await.unwrap();
    assert_eq!(store.stats(id).await.unwrap().unmatched_reports, 2);
    store
        .set_status(id, MailingStatus::Cancelled)
        .await
        .unwrap();
    store.recover(id, None).await.unwrap();
    assert_eq!(store.stats(id).await.unwrap().unmatched_reports, 1);
    // The same store with no time to keep reports forgets the stray one.
    expired.recover(id, None).await.unwrap();
    assert_eq!(expired.stats(id).await.unwrap().unmatched_reports, 0);
}

/// Item 8: the delivery time is the report's own, else its arrival.
async fn the_delivery_time_is_always_filled(store: &dyn Outbox) {
    let id = create(store, 2, "intelecom").await;
    let c = sending(store, id, 2, LEASE).await;
    accept(store, &c, &["T1", "T2"]).await;
    let mut with_time = delivered("pswincom", "T1", Some(&c[0].client_reference));
    with_time.done_at = Some("2026-12-04 18:01:02".into());
    store.apply_report(&with_time).await.unwrap();
    store
        .apply_reports(&[
            delivered("intelecom", "T2", Some(&c[1].client_reference)),
            delivered("intelecom", "none", Some(&format!("crm{id}-999998"))),
        ])
        .await
        .unwrap();
    let rows = rows(store, id).await;
    assert_eq!(rows[0].done_at.as_deref(), Some("2026-12-04 18:01:02"));
    let arrival = rows[1].done_at.as_deref().expect("the arrival time");
    let t = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", arrival)
        .unwrap_or_else(|e| panic!("{arrival:?}: {e}"));
    let now = jiff::Timestamp::now()
        .in_tz("Europe/Oslo")
        .unwrap()
        .datetime();
    assert!(
        (now - t).get_minutes().abs() <= 5,
        "{arrival} is not about now ({now})"
    );
}

/// Item 9: unmatched reports are counted per mailing.
async fn unmatched_reports_are_the_mailings_own(store: &dyn Outbox) {
    let a = create(store, 1, "intelecom").await;
    let b = create(store, 1, "intelecom").await;
    let ra = rows(store, a).await;
    let rb = rows(store, b).await;
    store
        .apply_reports(&[
            delivered("intelecom", "U1", Some(&ra[0].client_reference)),
            delivered("intelecom", "U2", Some(&rb[0].client_reference)),
            delivered("intelecom", "U3", Some(&rb[0].client_reference)),
            delivered("intelecom", "U4", Some("not-ours")),
        ])
        .await
        .unwrap();
    assert_eq!(store.stats(a).await.unwrap().unmatched_reports, 1);
    assert_eq!(store.stats(b).await.unwrap().unmatched_reports, 2);
}

/// Issue 31, item 6: a send left by a crash is resent only inside the
/// gateway's duplicate window (less the margin); after it, and for a
/// resend still waiting past it, the recipient is unknown — never sent
/// again once the gateway may have forgotten the reference.
async fn resends_only_inside_the_duplicate_window(store: &dyn Outbox) {
    use crate::mailing::RESEND_MARGIN;
    let window = Some(RESEND_MARGIN + Duration::from_secs(2));
    let id = create(store, 2, "intelecom").await;
    let old = sending(store, id, 1, Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let recent = sending(store, id, 1, Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = store.recover(id, window).await.unwrap();
    assert_eq!((r.resend, r.unknown), (1, 1), "{r:?}");
    let rows = rows(store, id).await;
    let state = |c: &Claimed| rows.iter().find(|r| r.id == c.id).unwrap().state;
    assert_eq!(state(&old[0]), RecipientState::Unknown);
    assert_eq!(state(&recent[0]), RecipientState::Pending);
    // Queued for the resend, but not claimed before the window closes.
    store.set_status(id, MailingStatus::Paused).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = store.recover(id, window).await.unwrap();
    assert_eq!(r.unknown, 1, "{r:?}");
    let row = rows_after(store, id, recent[0].id).await;
    assert_eq!(row.state, RecipientState::Unknown);
    assert!(
        row.reason
            .as_deref()
            .unwrap()
            .contains("past the gateway's duplicate window"),
        "{row:?}"
    );
}

async fn rows_after(store: &dyn Outbox, id: MailingId, row: i64) -> RecipientRow {
    rows(store, id)
        .await
        .into_iter()
        .find(|r| r.id == row)
        .unwrap()
}

/// Issue 31, item 12: a mailing can be removed whole (the CLI does when
/// its recipients file changed between its two passes): nothing of it is
/// left, other mailings untouched.
async fn a_mailing_is_removed_whole(store: &dyn Outbox) {
    let keep = create(store, 2, "intelecom").await;
    let gone = create(store, 3, "intelecom").await;
    let r = rows(store, gone).await;
    store
        .apply_report(&delivered("intelecom", "X", Some(&r[0].client_reference)))
        .await
        .unwrap();
    store.remove(gone).await.unwrap();
    assert!(store.stats(gone).await.is_err());
    assert!(rows(store, gone).await.is_empty());
    assert_eq!(store.stats(keep).await.unwrap().total(), 2);
}
