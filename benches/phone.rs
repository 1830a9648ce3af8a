//! Normalising a number that is already E.164: the crate's fast path
//! against `phonenumber::parse` + E.164 formatting, single-threaded and on
//! two threads at once (where phonenumber 0.3's regex-cache mutex shows);
//! a UK national number; and an Australian number the fast path cannot
//! confirm, national and E.164, against one `phonenumber` parse.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crm_comms::phone::{DefaultCountry, PhoneNumber};

const NUMBERS: [&str; 4] = ["+4722334455", "+4790123456", "+46701234567", "+4530123456"];

fn naive(s: &str) -> String {
    let n = phonenumber::parse(None, s).unwrap();
    n.format().mode(phonenumber::Mode::E164).to_string()
}

fn naive_national(region: phonenumber::country::Id, s: &str) -> String {
    let n = phonenumber::parse(Some(region), black_box(s)).unwrap();
    n.format().mode(phonenumber::Mode::E164).to_string()
}

/// Runs `f` on `threads` threads for `iters` iterations each; returns the
/// wall time divided by the total iterations' share of one thread.
fn on_threads(threads: usize, iters: u64, f: fn(&str)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                for i in 0..iters {
                    f(black_box(NUMBERS[i as usize % NUMBERS.len()]));
                }
            });
        }
    });
    // Time per iteration of one thread: a perfectly parallel workload keeps
    // the single-thread figure; a serialised one multiplies it.
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    // Load the metadata before timing.
    let _ = PhoneNumber::parse(NUMBERS[0], None);
    let _ = naive(NUMBERS[0]);

    let mut g = c.benchmark_group("normalise_e164");
    g.bench_function("crm_comms_fast_path", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            PhoneNumber::parse(black_box(NUMBERS[i % 4]), None).unwrap()
        });
    });
    g.bench_function("naive_phonenumber_parse_format", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            naive(black_box(NUMBERS[i % 4]))
        });
    });
    g.finish();

    let no: DefaultCountry = "NO".parse().unwrap();
    c.bench_function("parse_national_with_default_country", |b| {
        b.iter(|| PhoneNumber::parse(black_box("22 33 44 55"), Some(&no)).unwrap());
    });

    // A UK number in E.164 form starting with 1, as GB's `180020` national
    // prefix does: the fast path tells them apart.
    let mut g = c.benchmark_group("normalise_e164_uk");
    g.bench_function("crm_comms_fast_path", |b| {
        b.iter(|| PhoneNumber::parse(black_box("+441632960123"), None).unwrap());
    });
    g.bench_function("naive_phonenumber_parse_format", |b| {
        b.iter(|| naive(black_box("+441632960123")));
    });
    g.finish();

    // A UK national number (+44, leading 1): one `phonenumber` parse, its
    // E.164 form confirmed by the fast path's table, against the naive
    // single `phonenumber` parse + format.
    let gb: DefaultCountry = "GB".parse().unwrap();
    assert!(crm_comms::phone::takes_fast_path("+441632960123"));
    let mut g = c.benchmark_group("parse_national_uk");
    g.bench_function("crm_comms", |b| {
        b.iter(|| PhoneNumber::parse(black_box("01632 960123"), Some(&gb)).unwrap());
    });
    g.bench_function("naive_phonenumber_parse_format", |b| {
        b.iter(|| naive_national(phonenumber::country::Id::GB, "01632 960123"));
    });
    g.finish();

    // A national number whose E.164 form the fast path cannot confirm (an
    // Australian one: +61's national-prefix rules are beyond the table):
    // the full parse, then the re-read of the E.164 form by `phonenumber`
    // that makes the result stable (found by fuzzing), against the naive
    // single parse + format.
    let au: DefaultCountry = "AU".parse().unwrap();
    assert!(!crm_comms::phone::takes_fast_path("+61212345678"));
    let mut g = c.benchmark_group("parse_national_slow_path");
    g.bench_function("crm_comms", |b| {
        b.iter(|| PhoneNumber::parse(black_box("02 1234 5678"), Some(&au)).unwrap());
    });
    g.bench_function("naive_phonenumber_parse_format", |b| {
        b.iter(|| naive_national(phonenumber::country::Id::AU, "02 1234 5678"));
    });
    g.finish();

    // The same number already in E.164 form: one `phonenumber` parse, as
    // the naive code does.
    let mut g = c.benchmark_group("normalise_e164_slow_path");
    g.bench_function("crm_comms", |b| {
        b.iter(|| PhoneNumber::parse(black_box("+61212345678"), None).unwrap());
    });
    g.bench_function("naive_phonenumber_parse_format", |b| {
        b.iter(|| naive(black_box("+61212345678")));
    });
    g.finish();

    let mut g = c.benchmark_group("normalise_e164_two_threads");
    g.bench_function("crm_comms_fast_path", |b| {
        b.iter_custom(|iters| on_threads(2, iters, |s| drop(PhoneNumber::parse(s, None))));
    });
    g.bench_function("naive_phonenumber_parse_format", |b| {
        b.iter_custom(|iters| on_threads(2, iters, |s| drop(naive(s))));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
