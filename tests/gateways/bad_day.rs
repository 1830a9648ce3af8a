//! Issue 31, items 1–5 and 8: the mailing runner on a bad day at the
//! gateway — a gateway that answers 5xx for a while and then recovers, a
//! rate limit with `Retry-After`, a slow pace measured on the wire, a claim
//! paced longer than its lease, and a stop that is not a crash. Multi-thread
//! runtimes, the loopback Intelecom emulator, the embedded store.
#![cfg(all(feature = "sqlite", feature = "testing", feature = "intelecom"))]

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_comms::intelecom::Intelecom;
use crm_comms::mailing::{
    MailingRunner, MailingSpec, Outbox, Pace, Preparer, Recipient, RecipientState, RunEnd,
};
use crm_comms::store::sqlite::SqliteStore;
use crm_comms::testing::intelecom_emulator::IntelecomEmulator;
use crm_comms::testing::loopback::Fault;

async fn setup(
    n: usize,
) -> (
    SqliteStore,
    crm_comms::mailing::MailingId,
    IntelecomEmulator,
    Arc<Intelecom>,
) {
    let store = SqliteStore::in_memory().await.unwrap();
    let spec = MailingSpec::new("bad day", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap());
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let list: Vec<Recipient> = (0..n)
        .map(|i| Recipient::new(format!("41{i:06}")).with("firstname", format!("Kari{i}")))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    let id = store.create(&spec, &mut it).await.unwrap();
    let (emu, provider) = gateway().await;
    (store, id, emu, provider)
}

/// The loopback Intelecom emulator and a provider for it.
async fn gateway() -> (IntelecomEmulator, Arc<Intelecom>) {
    let emu = crate::support::intelecom_emulator().await;
    let provider = Arc::new(crate::support::intelecom_for(&emu));
    (emu, provider)
}

/// Item 1 (and 3): a gateway answering 503 for a while costs at most the
/// claims in flight and the probes — never the whole mailing — and the
/// rest is sent once it recovers. Before: all 2,000 unknown in half a
/// second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_gateway_costs_only_what_was_in_flight() {
    let (store, id, emu, provider) = setup(2000).await;
    let (batch, in_flight, faults) = (100, 3, 12);
    for _ in 0..faults {
        emu.fail_next(Fault::Http(503));
    }
    let runner = MailingRunner::new(Arc::new(store.clone()), provider)
        .batch(batch)
        .in_flight(in_flight)
        .backoff(Duration::from_millis(5), Duration::from_millis(40));
    let (end, progress) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    let stats = store.stats(id).await.unwrap();
    let unknown = stats.count(RecipientState::Unknown);
    // The claims in flight when the first 503 came back, then one
    // recipient per probe.
    let bound = (batch * in_flight + faults) as u64;
    assert!(
        unknown <= bound && unknown >= 1,
        "{unknown} unknown (bound {bound})"
    );
    assert_eq!(stats.count(RecipientState::Accepted), 2000 - unknown);
    assert_eq!(progress.unknown, unknown);
    assert!(emu.acceptances().values().all(|&n| n == 1));
    // 5xx is unknown, never failed and never retried blindly.
    assert_eq!(stats.count(RecipientState::Failed), 0);
}

/// Item 2: a 429 never fails a recipient (even with no retries left for
/// other passing failures), and its `Retry-After` is waited out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_is_waited_out_and_never_fails_anyone() {
    let (store, id, emu, provider) = setup(300).await;
    for _ in 0..3 {
        emu.fail_next(Fault::RetryAfter(429, 1));
    }
    let runner = MailingRunner::new(Arc::new(store.clone()), provider)
        .batch(100)
        .in_flight(1)
        .max_retries(0)
        .backoff(Duration::from_millis(5), Duration::from_millis(20));
    let (end, progress) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Accepted), 300, "{stats:?}");
    assert_eq!(progress.retried, 300);
    // The request after each 429 came at least the second it asked for
    // later.
    let arrivals = emu.arrivals();
    assert_eq!(arrivals.len(), 6, "{arrivals:?}");
    for pair in arrivals[..4].windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(950), "{gap:?}");
    }
}

/// Item 4: paced by messages, each request carries at most one second of
/// the pace, the first goes at once, and no second of the wire carries
/// more than the pace and its one-second burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_pace_is_kept_on_the_wire_second_by_second() {
    let (store, id, emu, provider) = setup(24).await;
    let rate = 5;
    let started = Instant::now();
    let runner = MailingRunner::new(Arc::new(store.clone()), provider)
        .pace(Pace::Messages(NonZeroU32::new(rate).unwrap()));
    let (end, _) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    let arrivals = emu.arrivals();
    assert_eq!(arrivals.iter().map(|a| a.1).sum::<usize>(), 24);
    assert!(
        arrivals[0].0 - started < Duration::from_millis(500),
        "progress starts at once"
    );
    assert!(
        arrivals.iter().all(|a| a.1 <= rate as usize),
        "{arrivals:?}"
    );
    for (i, a) in arrivals.iter().enumerate() {
        let in_second: usize = arrivals[i..]
            .iter()
            .take_while(|b| b.0 - a.0 < Duration::from_secs(1))
            .map(|b| b.1)
            .sum();
        assert!(in_second <= 2 * rate as usize, "{in_second} in a second");
    }
    // 24 at 5 a second (after a burst of 5): about 4 seconds, not 0.
    let last = arrivals.last().unwrap().0 - arrivals[0].0;
    assert!(last >= Duration::from_secs(3), "{last:?}");
}

/// Item 5: a claim is sized to the lease, so a paced claim never outlives
/// it: nothing is recovered from under a live worker (no false unknown,
/// nobody sent twice) even with a lease shorter than the batch's pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paced_claim_never_outlives_its_lease() {
    let (store, id, emu, provider) = setup(30).await;
    let runner = MailingRunner::new(Arc::new(store.clone()), provider)
        .batch(400)
        .lease(Duration::from_millis(800))
        .pace(Pace::Parts(NonZeroU32::new(20).unwrap()));
    let (end, _) = runner.run(id).await.unwrap();
    assert_eq!(end, RunEnd::Finished);
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Accepted), 30, "{stats:?}");
    assert_eq!(emu.acceptances().len(), 30);
    assert!(emu.acceptances().values().all(|&n| n == 1));
}

/// Item 8: a stop is not a crash. Nothing is claimed after it, everything
/// in flight is sent and settled (no recipient left unknown or sending),
/// and a second run carries on to the end with nobody sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_settles_what_is_in_flight() {
    let (store, id, emu, provider) = setup(1000).await;
    emu.set_latency(Duration::from_millis(200));
    let runner = MailingRunner::new(Arc::new(store.clone()), provider.clone()).batch(50);
    let (end, progress) = runner
        .run_until(id, tokio::time::sleep(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Stopped);
    let stats = store.stats(id).await.unwrap();
    assert_eq!(stats.count(RecipientState::Unknown), 0, "{stats:?}");
    assert_eq!(stats.count(RecipientState::Claimed), 0, "{stats:?}");
    assert_eq!(stats.count(RecipientState::Sending), 0, "{stats:?}");
    let accepted = stats.count(RecipientState::Accepted);
    assert_eq!(accepted, progress.accepted);
    assert!(accepted > 0 && accepted < 1000, "{accepted}");
    assert_eq!(emu.acceptances().len() as u64, accepted);
    let runner = MailingRunner::new(Arc::new(store.clone()), provider).batch(50);
    assert_eq!(runner.run(id).await.unwrap().0, RunEnd::Finished);
    assert_eq!(
        store
            .stats(id)
            .await
            .unwrap()
            .count(RecipientState::Accepted),
        1000
    );
    assert!(emu.acceptances().values().all(|&n| n == 1));
}

/// Item 7: a STOPP received during a mailing stops that mailing for the
/// number: its turn comes, the list is read, and it is blocked with the
/// reason, never sent.
async fn a_stop_reply_during_the_mailing_blocks_the_number(store: Arc<dyn Outbox>) {
    let spec = MailingSpec::new("stop", "Hei {firstname}!".parse().unwrap())
        .with_default_country("NO".parse().unwrap());
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let list: Vec<Recipient> = (0..50)
        .map(|i| Recipient::new(format!("41{i:06}")).with("firstname", "Kari"))
        .collect();
    let mut it = list.iter().map(|r| p.prepare(r));
    let id = store.create(&spec, &mut it).await.unwrap();
    // After the mailing was made (and its list checked), two replies.
    store.opt_out("+4741000007", "STOPP").await.unwrap();
    store.opt_out("+4741000042", "STOP").await.unwrap();
    let (emu, provider) = gateway().await;
    let (end, progress) = MailingRunner::new(store.clone(), provider)
        .batch(10)
        .run(id)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Finished);
    assert_eq!(progress.blocked, 2);
    let rows = store.rows(id, 0, 100).await.unwrap();
    for n in ["+4741000007", "+4741000042"] {
        let row = rows.iter().find(|r| r.number == n).unwrap();
        assert_eq!(row.state, RecipientState::Blocked);
        assert_eq!(row.reason.as_deref(), Some("opted out during the mailing"));
        assert!(!emu.acceptances().contains_key(n), "{n} was sent");
    }
    assert_eq!(emu.acceptances().len(), 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_reply_during_the_mailing_blocks_the_number_on_the_embedded_store() {
    let store = SqliteStore::in_memory().await.unwrap();
    a_stop_reply_during_the_mailing_blocks_the_number(Arc::new(store)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_reply_during_the_mailing_blocks_the_number_on_postgresql() {
    let Some(store) = crate::support::pg_store().await else {
        return;
    };
    a_stop_reply_during_the_mailing_blocks_the_number(Arc::new(store)).await;
}

/// The in-memory reference store runs a whole mailing as the others do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_reply_during_the_mailing_blocks_the_number_on_the_memory_store() {
    let store = crm_comms::store::memory::MemoryOutbox::new();
    a_stop_reply_during_the_mailing_blocks_the_number(Arc::new(store)).await;
}
