//! Resolving a preference: the crate's snapshot against the naive three
//! `HashMap<String, String>` lookups (user, group, system) with `format!`ed
//! keys and a cloned answer.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crm_comms::prefs::{Context, Entry, Level, Preferences};

fn naive(
    user: &HashMap<String, String>,
    group: &HashMap<String, String>,
    system: &HashMap<String, String>,
    (uid, gid): (u32, u32),
    section: &str,
    key: &str,
) -> Option<String> {
    user.get(&format!("{uid}/{section}/{key}"))
        .cloned()
        .or_else(|| group.get(&format!("{gid}/{section}/{key}")).cloned())
        .or_else(|| system.get(&format!("{section}/{key}")).cloned())
}

fn bench(c: &mut Criterion) {
    // 50 sections x 20 keys at system level; 200 groups and 2,000 users
    // with values for some keys.
    let mut entries = Vec::new();
    let (mut user, mut group, mut system) = (HashMap::new(), HashMap::new(), HashMap::new());
    for s in 0..50 {
        for k in 0..20 {
            let (section, key) = (format!("Section{s}"), format!("Key{k}"));
            entries.push(Entry::new(Level::System, 0, &section, &key, "system value"));
            system.insert(format!("{section}/{key}"), "system value".to_string());
            if k % 4 == 0 {
                for g in (0..200).step_by(7) {
                    entries.push(Entry::new(Level::Group, g, &section, &key, "group value"));
                    group.insert(format!("{g}/{section}/{key}"), "group value".to_string());
                }
            }
            if k % 5 == 0 {
                for u in (0..2000).step_by(13) {
                    entries.push(Entry::new(Level::User, u, &section, &key, "user value"));
                    user.insert(format!("{u}/{section}/{key}"), "user value".to_string());
                }
            }
        }
    }
    let prefs = Preferences::from_entries(entries).unwrap();
    let snap = prefs.snapshot();
    // User 1000 in group 1 has nothing of their own: every level is looked
    // at. User 13 in group 7 has their own value: the naive code's first
    // lookup hits.
    let scenarios = [
        (
            "resolve_preference_fall_through_to_system",
            (1000, 1),
            "Key3",
        ),
        ("resolve_preference_user_hit", (13, 7), "Key5"),
    ];
    for (name, (uid, gid), key) in scenarios {
        let ctx = Context::user(uid).in_group(gid).in_database(1);
        let mut g = c.benchmark_group(name);
        g.bench_function("crm_comms_snapshot", |b| {
            b.iter(|| {
                snap.get_str(black_box(&ctx), black_box("Section17"), black_box(key))
                    .map(|r| r.value().len())
            });
        });
        g.bench_function("naive_three_hashmaps", |b| {
            b.iter(|| {
                let ids = black_box((uid, gid));
                naive(
                    &user,
                    &group,
                    &system,
                    ids,
                    black_box("Section17"),
                    black_box(key),
                )
            });
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
