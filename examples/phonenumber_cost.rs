//! Measures what the `phonenumber` dependency costs on this machine: resident
//! memory after the first parse, and parse cost on one and on two threads,
//! for `phonenumber::parse` + `phonenumber::is_valid` (the naive code) and
//! for the crate's own parse on the same metadata.
//!
//! Run with `cargo run --release --example phonenumber_cost` (Linux: reads
//! /proc/self/status). Figures go in the issue notes; nothing here is a test.

use std::time::Instant;

use crm_comms::phone::PhoneNumber;

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const NUMBERS: [&str; 4] = ["+4722334455", "+4790123456", "+46701234567", "+4530123456"];
const ROUNDS: usize = 200_000;

fn per_parse_ns(threads: usize, f: fn(&str)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                for i in 0..ROUNDS {
                    f(std::hint::black_box(NUMBERS[i % NUMBERS.len()]));
                }
            });
        }
    });
    // Wall time per parse across all threads: halves with perfect scaling
    // on two threads.
    start.elapsed().as_nanos() as f64 / (threads * ROUNDS) as f64
}

fn naive(s: &str) -> bool {
    phonenumber::parse(None, s).is_ok_and(|n| phonenumber::is_valid(&n))
}

fn main() {
    let before = rss_kib();
    let t = Instant::now();
    let _ = naive("+4722334455");
    let first = t.elapsed();
    let after_first = rss_kib();
    for n in NUMBERS {
        let _ = naive(n);
        let _ = PhoneNumber::parse(n, None);
    }
    let after_warm = rss_kib();
    println!("phonenumber 0.3.10+9.0.33");
    println!("first parse (loads metadata): {first:?}");
    println!(
        "resident memory KiB: before {before:?}, after first parse {after_first:?}, after warm-up {after_warm:?}"
    );
    for (name, f) in [
        (
            "phonenumber::parse + is_valid",
            (|s: &str| {
                let _ = naive(s);
            }) as fn(&str),
        ),
        ("crm-comms PhoneNumber::parse", |s: &str| {
            drop(PhoneNumber::parse(s, None));
        }),
    ] {
        let one = per_parse_ns(1, f);
        let two = per_parse_ns(2, f);
        println!(
            "{name}: 1 thread {one:.0} ns/parse; 2 threads {two:.0} ns/parse of wall time (scaling {:.2}x of ideal 2x)",
            one / two
        );
    }
}
