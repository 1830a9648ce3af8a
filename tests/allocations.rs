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
}

struct Counting;

// SAFETY: forwards to the system allocator; only counts calls per thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

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
    let _ = PhoneNumber::parse("+4722334455", None); // builds the table once
    let (count, n) = allocations(|| PhoneNumber::parse("+4790123456", None).unwrap());
    assert_eq!(n.e164(), "+4790123456");
    assert_eq!(count, 0);
}
