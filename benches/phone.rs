//! Reading phone numbers: the crate's parse (libphonenumber's algorithm on
//! our own compiled metadata) against the naive correct code a user would
//! write, `phonenumber::parse` + `phonenumber::is_valid`, in the same run:
//! numbers typed nationally (Nordic and others), numbers already in E.164,
//! and E.164 on two threads at once (where phonenumber 0.3's regex-cache
//! mutex shows).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crm_comms::phone::{DefaultCountry, PhoneNumber};
use phonenumber::country::Id;

const E164: [&str; 6] = [
    "+4741234567",
    "+4722334455",
    "+46701234567",
    "+4530123456",
    "+442079460018",
    "+12125551234",
];

/// As typed, with the default country: `(input, region)`.
const TYPED: [(&str, Id, &str); 6] = [
    ("412 34 567", Id::NO, "NO"),
    ("47 12 34 56", Id::NO, "NO"),
    ("22 33 44 55", Id::NO, "NO"),
    ("070-123 45 67", Id::SE, "SE"),
    ("30 12 34 56", Id::DK, "DK"),
    ("020 7946 0018", Id::GB, "GB"),
];

fn naive(region: Option<Id>, s: &str) -> bool {
    phonenumber::parse(region, s).is_ok_and(|n| phonenumber::is_valid(&n))
}

fn on_threads(threads: usize, iters: u64, f: fn(&str)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                for i in 0..iters {
                    f(black_box(E164[i as usize % E164.len()]));
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let defaults: Vec<DefaultCountry> = TYPED.iter().map(|t| t.2.parse().unwrap()).collect();
    // Load both sides' metadata, and check they agree, before timing.
    for (i, (s, id, _)) in TYPED.iter().enumerate() {
        assert!(PhoneNumber::parse(s, Some(&defaults[i])).is_ok(), "{s}");
        // The naive code gets 47 12 34 56 wrong (it takes 47 as the code).
        let _ = naive(Some(*id), s);
    }
    for s in E164 {
        assert!(PhoneNumber::parse(s, None).is_ok() && naive(None, s), "{s}");
    }

    let mut g = c.benchmark_group("phone_typed_national");
    g.bench_function("crm_comms", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % TYPED.len();
            PhoneNumber::parse(black_box(TYPED[i].0), Some(&defaults[i])).is_ok()
        });
    });
    g.bench_function("naive_phonenumber_parse_is_valid", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % TYPED.len();
            naive(Some(TYPED[i].1), black_box(TYPED[i].0))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("phone_e164");
    g.bench_function("crm_comms", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % E164.len();
            PhoneNumber::parse(black_box(E164[i]), None).is_ok()
        });
    });
    g.bench_function("naive_phonenumber_parse_is_valid", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % E164.len();
            naive(None, black_box(E164[i]))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("phone_e164_two_threads");
    g.bench_function("crm_comms", |b| {
        b.iter_custom(|iters| on_threads(2, iters, |s| drop(PhoneNumber::parse(s, None))));
    });
    g.bench_function("naive_phonenumber_parse_is_valid", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |s| {
                let _ = naive(None, s);
            })
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
