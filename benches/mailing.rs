//! Mailings on the embedded store, against what a user would write by hand,
//! in the same run:
//!
//! - enqueue: 100,000 personalised recipients (`Preparer` + one
//!   transaction of multi-row inserts) against one autocommitted `INSERT`
//!   per recipient, with the store's tuning (on 10,000) and with sqlx's
//!   defaults (on 1,000): the rates are what compare;
//! - send: a 100,000-recipient mailing through the loopback Intelecom
//!   emulator with the durable outbox (`MailingRunner`), against the same
//!   texts sent in memory with `send_each` (no store: what durability
//!   costs), and against the naive outbox that claims, sends and updates
//!   one row at a time (on 2,000).
//!
//! Throughput is in recipients per second; compare the rates.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crm_comms::intelecom::Intelecom;
use crm_comms::mailing::{MailingRunner, MailingSpec, Outbox, Preparer, Recipient, RunEnd};
use crm_comms::sms::{Message, SmsProvider};
use crm_comms::store::sqlite::SqliteStore;
use crm_comms::testing::intelecom_emulator::{IntelecomEmulator, IntelecomWire};
use sqlx::Row;

const N: usize = 100_000;
const NAIVE_ENQUEUE: usize = 10_000;
const NAIVE_SEND: usize = 2_000;
const NAIVE_DEFAULTS: usize = 1_000;

fn recipients(n: usize) -> Vec<Recipient> {
    (0..n)
        .map(|i| {
            Recipient::new(format!("4{i:07}"))
                .with("firstname", format!("Kari{i}"))
                .with("city", "Bergen")
        })
        .collect()
}

fn spec() -> MailingSpec {
    MailingSpec::new(
        "bench",
        "Hei {firstname}, velkommen til {city}!".parse().unwrap(),
    )
    .with_default_country("NO".parse().unwrap())
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "crm-comms-bench-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn enqueue(
    dir: &TempDir,
    list: &[Recipient],
) -> (SqliteStore, crm_comms::mailing::MailingId) {
    enqueue_spec(dir, list, spec()).await
}

async fn enqueue_spec(
    dir: &TempDir,
    list: &[Recipient],
    spec: MailingSpec,
) -> (SqliteStore, crm_comms::mailing::MailingId) {
    let store = SqliteStore::open(dir.0.join("crm.db")).await.unwrap();
    let opted_out = store.opted_out().await.unwrap();
    let mut p = Preparer::new(&spec, &opted_out);
    let mut it = list.iter().map(|r| p.prepare(r));
    let id = store.create(&spec, &mut it).await.unwrap();
    (store, id)
}

/// What a user writes by hand: render each text and insert it on its own
/// (autocommit), into a table of the same shape — with the store's own
/// tuning (WAL, `synchronous = NORMAL`) when `tuned`, else with sqlx's
/// defaults (rollback journal, `synchronous = FULL`), as code that opens
/// the file with `SqlitePool::connect` gets.
async fn naive_enqueue(dir: &TempDir, list: &[Recipient], tuned: bool) {
    use std::str::FromStr;
    let mut options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
        "sqlite://{}?mode=rwc",
        dir.0.join("naive.db").display()
    ))
    .unwrap();
    if tuned {
        options = options
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    }
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, number TEXT, text TEXT, state TEXT, reference TEXT)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let template = spec().template;
    for r in list {
        let number = crm_comms::PhoneNumber::parse(&r.number, Some(&"NO".parse().unwrap()))
            .unwrap()
            .e164()
            .to_owned();
        let text = template
            .render(|n| r.variables.get(n).map(String::as_str))
            .unwrap();
        sqlx::query("INSERT INTO outbox (number, text, state) VALUES (?, ?, 'pending')")
            .bind(number)
            .bind(text)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// The naive outbox: claim one row, send it, write its answer; repeat.
async fn naive_send(dir: &TempDir, provider: &Intelecom) {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
        "sqlite://{}",
        dir.0.join("naive.db").display()
    ))
    .unwrap();
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    loop {
        let row = sqlx::query(
            "UPDATE outbox SET state = 'sending' WHERE id = (SELECT id FROM outbox WHERE state = 'pending' LIMIT 1) RETURNING id, number, text",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        let Some(row) = row else { break };
        let message = Message::builder()
            .to(row.get::<String, _>("number").parse().unwrap())
            .text(row.get::<String, _>("text"))
            .build()
            .unwrap();
        let report = provider.send(&message).await;
        let reference = report.outcomes()[0].outcome.reference().map(str::to_owned);
        sqlx::query("UPDATE outbox SET state = 'accepted', reference = ? WHERE id = ?")
            .bind(reference)
            .bind(row.get::<i64, _>("id"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let list = recipients(N);

    let mut g = c.benchmark_group("mailing_enqueue");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("crm_comms_create_100000", |b| {
        b.iter(|| {
            let dir = TempDir::new("enqueue");
            rt.block_on(enqueue(&dir, black_box(&list)));
        });
    });
    g.throughput(Throughput::Elements(NAIVE_ENQUEUE as u64));
    g.bench_function("naive_insert_per_recipient_wal_10000", |b| {
        b.iter(|| {
            let dir = TempDir::new("naive-enqueue");
            rt.block_on(naive_enqueue(&dir, black_box(&list[..NAIVE_ENQUEUE]), true));
        });
    });
    g.throughput(Throughput::Elements(NAIVE_DEFAULTS as u64));
    g.bench_function("naive_insert_per_recipient_sqlx_defaults_1000", |b| {
        b.iter(|| {
            let dir = TempDir::new("naive-enqueue-defaults");
            rt.block_on(naive_enqueue(
                &dir,
                black_box(&list[..NAIVE_DEFAULTS]),
                false,
            ));
        });
    });
    g.finish();

    let emu = rt
        .block_on(IntelecomEmulator::start(IntelecomWire::new(
            1000, "crm", "pw",
        )))
        .unwrap();
    let provider = emu.client_builder().build().unwrap();
    let provider_arc: Arc<dyn SmsProvider> = Arc::new(provider.clone());
    let messages: Vec<Message> = {
        let spec = spec();
        let none = std::collections::HashSet::new();
        let mut p = Preparer::new(&spec, &none);
        list.iter()
            .enumerate()
            .map(|(i, r)| {
                let prepared = p.prepare(r);
                Message::builder()
                    .to(prepared.number.parse().unwrap())
                    .text(prepared.text)
                    .client_reference(format!("mem-{i}"))
                    .build()
                    .unwrap()
            })
            .collect()
    };

    let mut g = c.benchmark_group("mailing_send");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("crm_comms_durable_outbox_100000", |b| {
        b.iter_batched(
            || {
                let dir = TempDir::new("send");
                let (store, id) = rt.block_on(enqueue(&dir, &list));
                (dir, store, id)
            },
            |(_dir, store, id)| {
                let runner = MailingRunner::new(Arc::new(store), provider_arc.clone());
                let (end, p) = rt.block_on(runner.run(id)).unwrap();
                assert_eq!((end, p.accepted), (RunEnd::Finished, N as u64));
            },
            criterion::BatchSize::PerIteration,
        );
    });
    // The same send with an expiry a day away: each message's validity is
    // worked out and put on the wire, each batch checked against it.
    g.bench_function("crm_comms_durable_outbox_with_expiry_100000", |b| {
        b.iter_batched(
            || {
                let dir = TempDir::new("send-expiry");
                let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
                let (store, id) =
                    rt.block_on(enqueue_spec(&dir, &list, spec().with_expiry(tomorrow)));
                (dir, store, id)
            },
            |(_dir, store, id)| {
                let runner = MailingRunner::new(Arc::new(store), provider_arc.clone());
                let (end, p) = rt.block_on(runner.run(id)).unwrap();
                assert_eq!((end, p.accepted), (RunEnd::Finished, N as u64));
            },
            criterion::BatchSize::PerIteration,
        );
    });
    // The same send in each recipient's own daytime (08:00-21:00 where
    // the number is, public holidays kept), at a fixed working-day noon so
    // everyone is in daytime: what the check and the claim it needs
    // (claimed, then written down as sending) cost.
    g.bench_function(
        "crm_comms_durable_outbox_with_recipient_hours_100000",
        |b| {
            b.iter_batched(
                || {
                    let dir = TempDir::new("send-daytime");
                    let hours = "08:00-21:00".parse().unwrap();
                    let (store, id) = rt.block_on(enqueue_spec(
                        &dir,
                        &list,
                        spec().with_recipient_hours(hours),
                    ));
                    (dir, store, id)
                },
                |(_dir, store, id)| {
                    let noon: jiff::Timestamp = "2027-01-05T11:00:00Z".parse().unwrap();
                    let runner = MailingRunner::new(Arc::new(store), provider_arc.clone())
                        .clock(move || noon);
                    let (end, p) = rt.block_on(runner.run(id)).unwrap();
                    assert_eq!((end, p.accepted), (RunEnd::Finished, N as u64));
                },
                criterion::BatchSize::PerIteration,
            );
        },
    );
    // The same send under a frequency cap (2 per 7 days): each batch asks
    // the store how often its numbers were texted lately (by the number
    // index) and checks each recipient.
    g.bench_function("crm_comms_durable_outbox_with_frequency_cap_100000", |b| {
        b.iter_batched(
            || {
                let dir = TempDir::new("send-cap");
                let cap = "2/7d".parse().unwrap();
                let (store, id) =
                    rt.block_on(enqueue_spec(&dir, &list, spec().with_frequency_cap(cap)));
                (dir, store, id)
            },
            |(_dir, store, id)| {
                let runner = MailingRunner::new(Arc::new(store), provider_arc.clone());
                let (end, p) = rt.block_on(runner.run(id)).unwrap();
                assert_eq!((end, p.accepted), (RunEnd::Finished, N as u64));
            },
            criterion::BatchSize::PerIteration,
        );
    });
    g.bench_function("in_memory_send_each_100000", |b| {
        b.iter(|| {
            let reports = rt.block_on(provider.send_each(black_box(&messages)));
            assert_eq!(reports.len(), N);
        });
    });
    g.throughput(Throughput::Elements(NAIVE_SEND as u64));
    g.bench_function("naive_outbox_one_row_at_a_time_2000", |b| {
        b.iter_batched(
            || {
                let dir = TempDir::new("naive-send");
                rt.block_on(naive_enqueue(&dir, &list[..NAIVE_SEND], true));
                dir
            },
            |dir| rt.block_on(naive_send(&dir, &provider)),
            criterion::BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
