//! Bulk send of 10,000 recipients to the loopback emulator: the provider
//! (batches of 100, 4 in flight, one connection pool) against the naive
//! loop a user would write (one request per recipient, awaited in turn),
//! plus the emulator's own ceiling (one pre-built request at a time).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crm_comms::sms::{Message, SmsProvider};
use crm_comms::testing::intelecom_emulator::{IntelecomEmulator, IntelecomWire};

const N: usize = 10_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let emu = rt
        .block_on(IntelecomEmulator::start(IntelecomWire::new(
            1000, "crm", "pw",
        )))
        .unwrap();
    emu.set_max_batch(1000);
    let provider = emu.client_builder().build().unwrap();
    let message = Message::builder()
        .to_all((0..N).map(|i| format!("+479{i:07}").parse().unwrap()))
        .text("Bulk test")
        .build()
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/gw/rs/sendMessages", emu.base_url());

    let mut g = c.benchmark_group("bulk_send_10000");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("crm_comms_batched", |b| {
        b.iter(|| {
            let report = rt.block_on(provider.send(black_box(&message)));
            assert!(report.all_accepted());
        });
    });
    g.bench_function("naive_one_request_per_recipient", |b| {
        b.iter(|| {
            rt.block_on(async {
                for r in message.recipients() {
                    let body = serde_json::json!({
                        "serviceId": 1000, "username": "crm", "password": "pw",
                        "message": [{"recipient": r.e164(), "content": "Bulk test"}]
                    });
                    let resp = http.post(&url).json(&body).send().await.unwrap();
                    assert!(resp.status().is_success());
                    resp.bytes().await.unwrap();
                }
            });
        });
    });
    g.finish();

    let prebuilt = serde_json::to_vec(&serde_json::json!({
        "serviceId": 1000, "username": "crm", "password": "pw",
        "message": [{"recipient": "+4790000000", "content": "x"}]
    }))
    .unwrap();
    c.bench_function("emulator_ceiling_one_prebuilt_request", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(prebuilt.clone())
                    .send()
                    .await
                    .unwrap();
                resp.bytes().await.unwrap();
            });
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
