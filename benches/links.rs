//! Rendering a call link: a pre-parsed `PhoneLinkFormat` against what a user
//! would otherwise write (`replace("%p", …)` plus a regex pass for the
//! variables on every call, with the regex compiled once).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{Criterion, criterion_group, criterion_main};
use crm_comms::links::PhoneLinkFormat;
use crm_comms::phone::PhoneNumber;
use regex::Regex;

const FORMAT: &str = "domycall:%p?company={cuid}&contact={cont}";

static VARIABLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{([a-z0-9?_]+)\}").unwrap());

/// The naive baseline. Note it does less than the crate: no encoding, no
/// validation.
fn naive(format: &str, number: &str, vars: &HashMap<String, String>) -> String {
    let with_number = format.replace("%p", number);
    VARIABLE
        .replace_all(&with_number, |c: &regex::Captures<'_>| {
            vars.get(&c[1]).cloned().unwrap_or_default()
        })
        .into_owned()
}

fn bench(c: &mut Criterion) {
    let format: PhoneLinkFormat = FORMAT.parse().unwrap();
    let number: PhoneNumber = "+4722334455".parse().unwrap();
    let mut vars = HashMap::new();
    vars.insert("cuid".to_string(), "4711".to_string());
    vars.insert("cont".to_string(), "Ola Nordmann".to_string());

    let mut g = c.benchmark_group("render_call_link");
    g.bench_function("crm_comms_preparsed", |b| {
        b.iter(|| format.render(black_box(&number), black_box(&vars)).unwrap());
    });
    g.bench_function("naive_replace_and_regex", |b| {
        b.iter(|| {
            naive(
                black_box(FORMAT),
                black_box("+4722334455"),
                black_box(&vars),
            )
        });
    });
    g.finish();

    c.bench_function("parse_format", |b| {
        b.iter(|| black_box(FORMAT).parse::<PhoneLinkFormat>().unwrap());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
