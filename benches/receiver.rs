//! Receiver throughput on loopback: Intelecom JSON delivery-report pushes
//! of 100 entries, each matched to one of 10,000 sent messages, through the
//! crate's `WebhookReceiver` (typed parsing, `MemorySentStore` lookup by
//! reference, dedup) against the naive handler a user would write
//! (`serde_json::Value`, a linear scan of the sent messages), in the same
//! run. One push at a time, as the gateway sends them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crm_comms::receiver::WebhookReceiver;
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::tracking::{DeliveryEvent, DeliveryTracker, MemorySentStore};
use crm_comms::sms::{Message, SmsProvider, StubProvider};

const SENT: usize = 10_000;
const BATCH: usize = 100;

/// What the naive handler keeps per sent message.
struct NaiveSent {
    reference: String,
    key: String,
}

/// A DR push of 100 entries; `n` makes every push's entries new (the
/// client reference differs), so dedup never short-cuts the work.
fn push_body(references: &[String], n: u64) -> Vec<u8> {
    use std::fmt::Write;
    let start = (n as usize * BATCH) % SENT;
    let mut body = String::with_capacity(BATCH * 160);
    body.push_str("{\"dr\":[");
    for i in 0..BATCH {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            "{{\"messageid\":\"{}\",\"customermessagereference\":\"c{n}-{i}\",\"statuscode\":0,\
             \"statusdescription\":\"OK. Message processed successfully.\",\"serviceid\":1000,\"type\":6}}",
            references[(start + i) % SENT]
        );
    }
    body.push_str("]}");
    body.into_bytes()
}

async fn naive(State(sent): State<Arc<(Vec<NaiveSent>, AtomicU64)>>, body: Bytes) -> StatusCode {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(list) = v["dr"].as_array() else {
        return StatusCode::BAD_REQUEST;
    };
    for dr in list {
        let id = dr["messageid"].as_str().unwrap_or_default();
        let delivered = dr["statuscode"].as_i64() == Some(0);
        if let Some(s) = sent.0.iter().find(|s| s.reference == id)
            && delivered
            && !s.key.is_empty()
        {
            sent.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::OK
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (base, references, naive_sent, handled) = rt.block_on(async {
        // 10,000 sent messages, recorded as an application would.
        let provider = StubProvider::new_ok();
        let message = Message::builder()
            .to_all((0..SENT).map(|i| format!("+479{i:07}").parse().unwrap()))
            .text("Hei")
            .build()
            .unwrap();
        let report = provider.send(&message).await;
        let tracker = DeliveryTracker::new(MemorySentStore::new());
        tracker.record("campaign", &message, &report).await.unwrap();
        let references: Vec<String> = report
            .outcomes()
            .iter()
            .map(|o| o.outcome.reference().unwrap().to_owned())
            .collect();
        let naive_sent: Vec<NaiveSent> = references
            .iter()
            .map(|r| NaiveSent {
                reference: r.clone(),
                key: "campaign".into(),
            })
            .collect();

        let handled = Arc::new(AtomicU64::new(0));
        let counter = handled.clone();
        let receiver = WebhookReceiver::builder(
            InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) }),
            move |e: DeliveryEvent| {
                let counter = counter.clone();
                async move {
                    if e.sent.is_some() {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok::<(), HandlerError>(())
                }
            },
        )
        .tracker(tracker)
        .build()
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver.router()).await.unwrap() });
        (base, references, naive_sent, handled)
    });
    let naive_state = Arc::new((naive_sent, AtomicU64::new(0)));
    let naive_base = rt.block_on(async {
        let app = axum::Router::new()
            .route("/dr", post(naive))
            .with_state(naive_state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    });

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let counter = AtomicU64::new(0);
    let push = |url: &str| {
        let body = push_body(&references, counter.fetch_add(1, Ordering::Relaxed));
        rt.block_on(async {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        });
    };

    let mut g = c.benchmark_group("receiver_dr_push_100");
    g.throughput(Throughput::Elements(BATCH as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let ours = format!("{base}/intelecom/dr");
    g.bench_function("crm_comms_receiver", |b| b.iter(|| push(&ours)));
    let theirs = format!("{naive_base}/dr");
    g.bench_function("naive_value_and_linear_scan", |b| b.iter(|| push(&theirs)));
    g.finish();
    assert!(handled.load(Ordering::Relaxed) > 0);
    assert!(naive_state.1.load(Ordering::Relaxed) > 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
