//! Mailings on PostgreSQL, timed by hand (each case takes seconds, so it
//! runs a few times rather than under criterion), with the naive baselines
//! in the same run:
//!
//! - enqueue 1,000,000 personalised recipients (`UNNEST` inserts in one
//!   transaction) against one autocommitted `INSERT` per recipient (on
//!   10,000; the rates compare);
//! - drain 100,000 recipients through the loopback Intelecom emulator with
//!   1, 2 and 4 workers, against the embedded store's single worker (per
//!   worker), with the emulator answering at once and with a 50 ms round
//!   trip, and against the naive outbox that claims, sends and updates one
//!   row at a time (on 2,000);
//! - a rate limit of 200 messages/s shared by four workers through the
//!   store: the rate the gateway saw after the first burst, against the
//!   limit (the test `one_rate_limit_holds_across_four_workers` asserts
//!   only that it is never exceeded);
//! - delivery-report ingestion through the webhook receiver with the
//!   store-backed dedup and matching, against pushing the same reports to
//!   a receiver with in-memory dedup and no store.
//!
//! Needs `CRM_COMMS_POSTGRES_URL` (each run makes a schema of its own);
//! `cargo bench --all-features --bench postgres`.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_comms::mailing::{
    MailingRunner, MailingSpec, Outbox, Preparer, Recipient, RunEnd, reports_into,
};
use crm_comms::receiver::WebhookReceiver;
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::{Message, SmsProvider};
use crm_comms::store::postgres::PgStore;
use crm_comms::testing::intelecom_emulator::{self as ie, IntelecomEmulator, IntelecomWire};
use crm_comms::testing::push::PushTarget;
use sqlx::Row;

fn spec() -> MailingSpec {
    MailingSpec::new("bench", "Hei {firstname}, velkommen!".parse().unwrap())
        .with_default_country("NO".parse().unwrap())
}

fn recipients(n: usize) -> Vec<Recipient> {
    (0..n)
        .map(|i| Recipient::new(format!("4{:07}", i % 10_000_000)).with("firstname", "Kari"))
        .collect()
}

async fn schema(url: &str, tag: &str) -> (String, PgStore) {
    let name = format!("crm_bench_{tag}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .unwrap()
        .options([("search_path", name.as_str())]);
    let store = PgStore::connect_with(options).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    (
        format!("{url}{sep}options=-c%20search_path%3D{name}"),
        store,
    )
}

async fn create(store: &dyn Outbox, list: &[Recipient]) -> crm_comms::mailing::MailingId {
    let spec = spec();
    let none = HashSet::new();
    let mut p = Preparer::new(&spec, &none);
    let mut it = list.iter().map(|r| p.prepare(r));
    store.create(&spec, &mut it).await.unwrap()
}

/// Enqueues `list` on `store` and drains it with `workers` runners (tasks
/// on this runtime, each with its own claims); how long the drain took.
async fn drain(
    store: Arc<dyn Outbox>,
    list: &[Recipient],
    workers: usize,
    provider: &Arc<dyn SmsProvider>,
) -> Duration {
    let id = create(&*store, list).await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let runner = MailingRunner::new(store.clone(), provider.clone());
        tasks.push(tokio::spawn(async move { runner.run(id).await.unwrap() }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().0, RunEnd::Finished);
    }
    t.elapsed()
}

fn report(what: &str, n: usize, took: Duration) -> f64 {
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "{what:<58} {n:>9} in {:>8.3} s = {rate:>10.0}/s",
        took.as_secs_f64()
    );
    rate
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Ok(url) = std::env::var("CRM_COMMS_POSTGRES_URL") else {
        println!("skipped: set CRM_COMMS_POSTGRES_URL to run the PostgreSQL benchmarks");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(&url));
}

async fn run(url: &str) {
    if std::env::var_os("CRM_COMMS_BENCH_ONLY_PACE").is_some() {
        shared_pace(url).await;
        return;
    }
    let only_reports = std::env::var_os("CRM_COMMS_BENCH_ONLY_REPORTS").is_some();
    if !only_reports {
        enqueue_and_drain(url).await;
        shared_pace(url).await;
    }
    reports(url).await;
}

/// Four workers under one shared limit of 200 messages/s: the steady rate
/// the gateway saw, against the limit.
async fn shared_pace(url: &str) {
    use crm_comms::mailing::Pace;
    const R: u32 = 200;
    const N: usize = 2000;
    let (_, store) = schema(url, "pace").await;
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", "pw"))
        .await
        .unwrap();
    let provider: Arc<dyn SmsProvider> = Arc::new(emu.client_builder().build().unwrap());
    let store: Arc<dyn Outbox> = Arc::new(store);
    let id = create(&*store, &recipients(N)).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let runner = MailingRunner::new(store.clone(), provider.clone())
            .batch(20)
            .pace(Pace::Messages(std::num::NonZeroU32::new(R).unwrap()))
            .shared_pace("bench");
        tasks.push(tokio::spawn(async move { runner.run(id).await.unwrap() }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().0, RunEnd::Finished);
    }
    let arrivals = emu.arrivals();
    let (first, last) = (arrivals[0].0, arrivals[arrivals.len() - 1].0);
    let steady = (N - R as usize) as f64 / last.duration_since(first).as_secs_f64();
    println!(
        "{:<58} {steady:>10.0}/s against a limit of {R}/s ({:.1} % of it)",
        "shared pace, 4 workers, after the first burst",
        steady / f64::from(R) * 100.0
    );
}

async fn enqueue_and_drain(url: &str) {
    // Enqueue.
    let million = recipients(1_000_000);
    let (_, store) = schema(url, "enqueue").await;
    let t = Instant::now();
    create(&store, &million).await;
    let ours = report(
        "enqueue: crm-comms create (COPY, one transaction)",
        1_000_000,
        t.elapsed(),
    );
    drop(million);
    let (_, naive) = schema(url, "naive").await;
    let _ = naive;
    let pool = sqlx::PgPool::connect(&format!(
        "{url}{}options=-c%20search_path%3Dcrm_bench_naive_{}",
        if url.contains('?') { '&' } else { '?' },
        std::process::id()
    ))
    .await
    .unwrap();
    sqlx::query("CREATE TABLE naive_outbox (id BIGSERIAL PRIMARY KEY, number TEXT, text TEXT, state TEXT, reference TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let template = spec().template;
    let list = recipients(10_000);
    let t = Instant::now();
    for r in &list {
        let number = crm_comms::PhoneNumber::parse(&r.number, Some(&"NO".parse().unwrap()))
            .unwrap()
            .e164()
            .to_owned();
        let text = template
            .render(|n| r.variables.get(n).map(String::as_str))
            .unwrap();
        sqlx::query("INSERT INTO naive_outbox (number, text, state) VALUES ($1, $2, 'pending')")
            .bind(number)
            .bind(text)
            .execute(&pool)
            .await
            .unwrap();
    }
    let naive_rate = report(
        "enqueue: naive INSERT per recipient (autocommit)",
        10_000,
        t.elapsed(),
    );
    println!("enqueue ratio: {:.1}x", ours / naive_rate);

    // Drain.
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", "pw"))
        .await
        .unwrap();
    let provider = emu.client_builder().build().unwrap();
    let list = recipients(100_000);
    let provider: Arc<dyn SmsProvider> = Arc::new(provider);
    // Per worker against the embedded store's single worker, in the same
    // run: with the emulator answering at once (the two cores are shared
    // by the emulator, the workers and PostgreSQL: a CPU ceiling, not the
    // database's), and with a gateway round trip of 50 ms (what a real
    // gateway takes: the workers wait on the network, and whether the
    // database keeps up is what shows).
    let mut zero_latency_rates = Vec::new();
    for latency in [0, 50] {
        emu.set_latency(Duration::from_millis(latency));
        let dir = std::env::temp_dir().join(format!(
            "crm-comms-bench-pg-embedded-{latency}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let embedded = crm_comms::store::sqlite::SqliteStore::open(dir.join("crm.db"))
            .await
            .unwrap();
        let embedded: Arc<dyn Outbox> = Arc::new(embedded);
        let base = drain(embedded, &list, 1, &provider).await;
        let base = report(
            &format!("drain ({latency} ms): 1 worker, embedded SQLite store"),
            list.len(),
            base,
        );
        let _ = std::fs::remove_dir_all(&dir);
        let mut per_worker = Vec::new();
        for workers in [1, 2, 4] {
            let (_, store) = schema(url, &format!("drain{workers}_{latency}")).await;
            let took = drain(Arc::new(store), &list, workers, &provider).await;
            let rate = report(
                &format!("drain ({latency} ms): {workers} worker(s), PostgreSQL"),
                list.len(),
                took,
            );
            if latency == 0 {
                zero_latency_rates.push(rate);
            }
            per_worker.push(format!(
                "{workers}: {:.0}/s per worker = {:.0}%",
                rate / workers as f64,
                rate / workers as f64 / base * 100.0
            ));
        }
        println!(
            "drain ({latency} ms) per PostgreSQL worker, against the embedded single worker's {base:.0}/s: {}",
            per_worker.join("; ")
        );
    }
    emu.set_latency(Duration::ZERO);
    let rates = zero_latency_rates;
    // The naive outbox: one row claimed, sent and updated at a time.
    let t = Instant::now();
    for _ in 0..2_000 {
        let row = sqlx::query(
            "UPDATE naive_outbox SET state = 'sending' WHERE id = (SELECT id FROM naive_outbox WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, number, text",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let m = Message::builder()
            .to(row.get::<String, _>("number").parse().unwrap())
            .text(row.get::<String, _>("text"))
            .build()
            .unwrap();
        let r = provider.send(&m).await;
        let reference = r.outcomes()[0].outcome.reference().map(str::to_owned);
        sqlx::query("UPDATE naive_outbox SET state = 'accepted', reference = $1 WHERE id = $2")
            .bind(reference)
            .bind(row.get::<i64, _>("id"))
            .execute(&pool)
            .await
            .unwrap();
    }
    let naive_drain = report("drain: naive outbox, one row at a time", 2_000, t.elapsed());
    println!(
        "drain ratios: 1 worker {:.1}x the naive outbox; per worker at 2: {:.0}/s, at 4: {:.0}/s",
        rates[0] / naive_drain,
        rates[1] / 2.0,
        rates[2] / 4.0
    );
}

async fn reports(url: &str) {
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", "pw"))
        .await
        .unwrap();
    let provider = emu.client_builder().build().unwrap();
    // Report ingestion: 20,000 reports for settled recipients, pushed in
    // batches of 100 to the receiver (store-backed dedup and matching).
    let (_, store) = schema(url, "reports").await;
    let id = create(&store, &recipients(20_000)).await;
    let runner = MailingRunner::new(
        Arc::new(store.clone()),
        Arc::new(provider.clone()) as Arc<dyn SmsProvider>,
    );
    runner.run(id).await.unwrap();
    let rows = store.rows(id, 0, 20_000).await.unwrap();
    let drs: Vec<ie::IntelecomPushedDr> = rows
        .iter()
        .map(|r| ie::IntelecomPushedDr {
            message_id: r.reference.clone().unwrap(),
            client_reference: Some(r.client_reference.clone()),
            batch_reference: None,
            status_code: 0,
        })
        .collect();
    let ingest = |dedup_store: Option<PgStore>| {
        let store = store.clone();
        let emu = &emu;
        let drs = &drs;
        async move {
            let router = InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) });
            let builder = match &dedup_store {
                Some(s) => WebhookReceiver::builder(
                    router,
                    reports_into(Arc::new(store.clone()) as Arc<dyn Outbox>, |_, _| {}),
                )
                .dedup(s.clone()),
                None => WebhookReceiver::builder(
                    router,
                    |_: crm_comms::sms::tracking::DeliveryEvent| async {
                        Ok::<(), HandlerError>(())
                    },
                ),
            };
            let receiver = builder.build().unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(receiver.serve(listener));
            let target = PushTarget::new(format!("{base}/intelecom/dr"));
            let t = Instant::now();
            let pushes = drs.chunks(100).map(|chunk| {
                let target = target.clone();
                async move {
                    emu.push_drs(&target, &ie::IntelecomPushTransport::Json, chunk)
                        .await
                }
            });
            use futures_util::StreamExt;
            let results: Vec<_> = futures_util::stream::iter(pushes)
                .buffer_unordered(8)
                .collect()
                .await;
            assert!(results.iter().all(|r| r.delivered));
            let attempts: usize = results.iter().map(|r| r.statuses.len()).sum();
            if attempts > results.len() {
                println!(
                    "  ({} pushes needed {attempts} attempts: {:?})",
                    results.len(),
                    results
                        .iter()
                        .flat_map(|r| r.statuses.iter())
                        .filter(|s| **s != 200)
                        .take(5)
                        .collect::<Vec<_>>()
                );
            }
            t.elapsed()
        }
    };
    let with_store = report(
        "reports: receiver, PostgreSQL dedup + matching",
        drs.len(),
        ingest(Some(store.clone())).await,
    );
    let memory = report(
        "reports: receiver, in-memory dedup, no store",
        drs.len(),
        ingest(None).await,
    );
    println!(
        "report ingestion: {:.2}x the in-memory receiver's rate",
        with_store / memory
    );
}
