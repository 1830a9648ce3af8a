//! Encoding detection + part count: the crate's `preview` against the naive
//! per-character `HashMap<char, u8>` lookup a user would write.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crm_comms::sms::encoding::{preview, segments};

const GSM: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXT: &str = "^{}\\[~]|€\u{0C}";

fn naive_table() -> HashMap<char, u8> {
    GSM.chars()
        .map(|c| (c, 1))
        .chain(EXT.chars().map(|c| (c, 2)))
        .collect()
}

/// The naive baseline: look every character up; UCS-2 if one is missing.
fn naive(table: &HashMap<char, u8>, text: &str) -> (bool, usize) {
    let mut septets = 0usize;
    for c in text.chars() {
        if let Some(n) = table.get(&c) {
            septets += *n as usize;
        } else {
            let units: usize = text.chars().map(char::len_utf16).sum();
            return (false, if units <= 70 { 1 } else { units.div_ceil(67) });
        }
    }
    (
        true,
        if septets <= 160 {
            1
        } else {
            septets.div_ceil(153)
        },
    )
}

fn bench(c: &mut Criterion) {
    let table = naive_table();
    let texts = [
        ("ascii_150", "Hei! Husk møtet i morgen kl 10:00 hos Ola Nordmann AS, Storgata 1, Oslo. Svar JA for å bekrefte, eller ring oss på 22 33 44 55. Mvh Kundeservice".replace('ø', "o").replace('å', "a")),
        ("norwegian_150", "Hei! Husk møtet i morgen kl 10:00 hos Ola Nordmann AS, Storgata 1, Oslo. Svar JA for å bekrefte, eller ring oss på 22 33 44 55. Mvh Kundeservice".to_string()),
        ("ucs2_emoji_150", "Hei! Husk møtet i morgen kl 10:00 ✅ hos Ola Nordmann AS, Storgata 1, Oslo. Svar JA for å bekrefte 😀, eller ring oss på 22 33 44 55. Mvh".to_string()),
        ("ascii_64k", "The quick brown fox jumps over the lazy dog. ".repeat(1500)),
    ];
    for (name, text) in &texts {
        let mut g = c.benchmark_group(format!("detect_and_count/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("crm_comms_segments", |b| {
            b.iter(|| segments(black_box(text), &crm_comms::intelecom::LIMITS).parts);
        });
        g.bench_function("crm_comms_full_preview", |b| {
            b.iter(|| preview(black_box(text), &crm_comms::intelecom::LIMITS).parts);
        });
        g.bench_function("naive_hashmap_per_char", |b| {
            b.iter(|| naive(&table, black_box(text)));
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
