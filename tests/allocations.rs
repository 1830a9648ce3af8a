//! Allocation counts on the hot paths (counts, not timings): rendering a
//! link allocates only its output, resolving a preference and normalising
//! an E.164 number allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crm_comms::links::PhoneLinkFormat;
use crm_comms::phone::PhoneNumber;
use crm_comms::prefs::{Context, Entry, Level, Preferences};

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated and not freed on this thread, and their peak.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(by: isize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + by);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

struct Counting;

// SAFETY: forwards to the system allocator; only counts calls per thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        grow(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grow(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        grow(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most bytes `f` had allocated at once (on this thread).
#[allow(dead_code)]
fn peak_bytes<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (PEAK.with(Cell::get).saturating_sub(base) as usize, r)
}

fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = COUNT.with(Cell::get);
    let r = f();
    (COUNT.with(Cell::get) - before, r)
}

#[test]
fn render_allocates_only_the_output() {
    let f: PhoneLinkFormat = "domycall:%p?company={cuid}&name={name}#{cf01}"
        .parse()
        .unwrap();
    let n: PhoneNumber = "+4722334455".parse().unwrap();
    let vars = [
        ("cuid", "4711"),
        ("name", "Ola & Sønner AS"),
        ("cf01", "x y"),
    ];
    let (count, link) = allocations(|| f.render(&n, &vars).unwrap());
    assert_eq!(count, 1, "{link}");
}

#[test]
fn resolving_a_preference_allocates_nothing() {
    let prefs = Preferences::from_entries(vec![
        Entry::new(Level::System, 0, "Phone", "LinkFormat", "callto:%p").locked_at(Level::Database),
        Entry::new(Level::Database, 1, "Phone", "LinkFormat", "facetime:%p"),
        Entry::new(Level::User, 7, "Phone", "LinkFormat", "x:%p"),
    ])
    .unwrap();
    let snap = prefs.snapshot();
    let ctx = Context::user(7).in_group(3).in_database(1);
    let (count, value) = allocations(|| {
        snap.get_str(&ctx, "Phone", "LinkFormat")
            .map(|r| r.value().len())
    });
    assert_eq!(value, Some("facetime:%p".len()));
    assert_eq!(count, 0);
    let (count, _) = allocations(|| prefs.snapshot());
    assert_eq!(count, 0);
}

#[test]
fn normalising_canonical_e164_allocates_nothing() {
    // Builds the table once and compiles Norway's patterns; `regex` makes
    // each pattern's search cache on its first use in a thread.
    let no: crm_comms::phone::DefaultCountry = "NO".parse().unwrap();
    let _ = PhoneNumber::parse("+4741234567", None);
    let _ = PhoneNumber::parse("412 34 567", Some(&no));
    let (count, n) = allocations(|| PhoneNumber::parse("+4790123456", None).unwrap());
    assert_eq!(n.e164(), "+4790123456");
    assert_eq!(count, 0);
    // A national number as typed, too.
    let (count, n) = allocations(|| PhoneNumber::parse("901 23 456", Some(&no)).unwrap());
    assert_eq!(n.e164(), "+4790123456");
    assert_eq!(count, 0);
}

/// Issue 19, item 7: the worst 1 MiB push bodies cost at most 10× their
/// size in memory at peak (bytes, not timings; the times are in
/// `benches/hostile.rs`).
#[cfg(all(feature = "testing", feature = "intelecom", feature = "pswincom"))]
#[test]
fn worst_case_push_bodies_peak_below_ten_times_their_size() {
    use crm_comms::testing::hostile;
    const MIB: usize = 1024 * 1024;
    type Parse = fn(&[u8]) -> usize;
    let cases: [(&str, Vec<u8>, Parse); 4] = [
        (
            "intelecom json",
            hostile::intelecom_json_many_fields(MIB),
            |b| {
                crm_comms::testing::wire::intelecom::read::<crm_comms::sms::IncomingMessage>(
                    crm_comms::testing::wire::intelecom::PushBody::Json,
                    b,
                )
                .unwrap()
                .len()
            },
        ),
        (
            "intelecom xml",
            hostile::intelecom_xml_many_fields(MIB),
            |b| {
                crm_comms::testing::wire::intelecom::read::<crm_comms::sms::IncomingMessage>(
                    crm_comms::testing::wire::intelecom::PushBody::Xml,
                    b,
                )
                .unwrap()
                .len()
            },
        ),
        ("pswincom deep", hostile::pswincom_deep(MIB), |b| {
            crm_comms::testing::wire::pswincom::parse_dr_xml(b)
                .unwrap()
                .len()
        }),
        ("pswincom wide", hostile::pswincom_wide(MIB), |b| {
            crm_comms::testing::wire::pswincom::parse_dr_xml(b)
                .unwrap()
                .len()
        }),
    ];
    for (name, body, parse) in cases {
        let (peak, entries) = peak_bytes(|| parse(&body));
        assert_eq!(entries, 2, "{name}");
        assert!(
            peak <= 10 * body.len(),
            "{name}: peak {peak} bytes for a {} byte body",
            body.len()
        );
        println!(
            "{name}: {} bytes, peak {peak} ({:.1}×)",
            body.len(),
            peak as f64 / body.len() as f64
        );
    }
}
