//! Bulk send of 10,000 recipients to the loopback `PSWinCom` emulator: the
//! provider (100 `MSG` per request — the gateway's limit — 4 in flight, one
//! connection pool) against the naive loop a user would write (one
//! `format!`-built request per recipient, awaited in turn), plus the
//! emulator's own ceiling (one pre-built one-message request at a time).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use crm_comms::pswincom::Pswincom;
use crm_comms::sms::{Message, SmsProvider};
use crm_comms::testing::pswincom_emulator::{PswincomEmulator, PswincomWire};

const N: usize = 10_000;

fn one_message_request(receiver: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><SESSION><CLIENT>crm</CLIENT>\
         <PW>pw</PW><MSGLST><MSG><ID>1</ID><TEXT>Bulk test</TEXT><RCV>{receiver}</RCV>\
         </MSG></MSGLST></SESSION>"
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let emu = rt
        .block_on(PswincomEmulator::start(PswincomWire::new("crm", "pw")))
        .unwrap();
    let provider = Pswincom::builder()
        .base_url(emu.base_url())
        .dangerous_allow_http()
        .no_failover()
        .credentials("crm", "pw")
        .build()
        .unwrap();
    let message = Message::builder()
        .to_all((0..N).map(|i| format!("+479{i:07}").parse().unwrap()))
        .text("Bulk test")
        .build()
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = emu.base_url();
    let content_type = "text/xml; charset=iso-8859-1";

    let mut g = c.benchmark_group("pswincom_bulk_send_10000");
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
                    let body = one_message_request(r.digits());
                    let resp = http
                        .post(&url)
                        .header("content-type", content_type)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert!(resp.status().is_success());
                    let text = resp.text().await.unwrap();
                    assert!(text.contains("<STATUS>OK</STATUS>"));
                }
            });
        });
    });
    g.finish();

    let prebuilt = one_message_request("4790000000").into_bytes();
    c.bench_function("pswincom_emulator_ceiling_one_prebuilt_request", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = http
                    .post(&url)
                    .header("content-type", content_type)
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
