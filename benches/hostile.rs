//! The worst 1 MiB push bodies (issue 19: one entry with ~75,000 fields,
//! or nesting ~150,000 deep) through the crate's parsers, against the
//! naive baselines in the same run: `serde_json::Value` for JSON (what a
//! handler would write), and for XML quick-xml's tokenizer alone (the
//! least any XML parser does). Goal: ≤ 50 ms each.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crm_comms::testing::hostile;

const MIB: usize = 1024 * 1024;

fn tokenize(body: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut events = 0;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return events,
            Ok(_) => events += 1,
        }
        buf.clear();
    }
}

fn bench(c: &mut Criterion) {
    let json = hostile::intelecom_json_many_fields(MIB);
    let ixml = hostile::intelecom_xml_many_fields(MIB);
    let deep = hostile::pswincom_deep(MIB);
    let wide = hostile::pswincom_wide(MIB);

    let mut g = c.benchmark_group("hostile_1mib");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("intelecom_json_75k_fields/crm_comms", |b| {
        b.iter(|| {
            crm_comms::testing::wire::intelecom::read::<crm_comms::sms::IncomingMessage>(
                crm_comms::testing::wire::intelecom::PushBody::Json,
                &json,
            )
            .unwrap()
            .len()
        });
    });
    g.bench_function("intelecom_json_75k_fields/naive_serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(&json).unwrap()["mo"]
                .as_array()
                .map(Vec::len)
        });
    });
    g.bench_function("intelecom_xml_many_fields/crm_comms", |b| {
        b.iter(|| {
            crm_comms::testing::wire::intelecom::read::<crm_comms::sms::IncomingMessage>(
                crm_comms::testing::wire::intelecom::PushBody::Xml,
                &ixml,
            )
            .unwrap()
            .len()
        });
    });
    g.bench_function("intelecom_xml_many_fields/naive_tokenize_only", |b| {
        b.iter(|| tokenize(&ixml));
    });
    g.bench_function("pswincom_deep/crm_comms", |b| {
        b.iter(|| {
            crm_comms::testing::wire::pswincom::parse_dr_xml(&deep)
                .unwrap()
                .len()
        });
    });
    g.bench_function("pswincom_deep/naive_tokenize_only", |b| {
        b.iter(|| tokenize(&deep));
    });
    g.bench_function("pswincom_wide/crm_comms", |b| {
        b.iter(|| {
            crm_comms::testing::wire::pswincom::parse_dr_xml(&wide)
                .unwrap()
                .len()
        });
    });
    g.bench_function("pswincom_wide/naive_tokenize_only", |b| {
        b.iter(|| tokenize(&wide));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
