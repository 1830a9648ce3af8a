//! Layered preferences: precedence, locks, explanations, typed reads,
//! files and concurrent readers.

use crm_comms::store::StoreError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crm_comms::links::PhoneLinkFormat;
use crm_comms::prefs::{
    Below, Change, Context, Entry, Level, Origin, PrefStore, Preferences, PrefsError, Verdict,
};

const S: &str = "Phone";
const K: &str = "LinkFormat";

fn e(level: Level, owner: u32, value: &str) -> Entry {
    Entry::new(level, owner, S, K, value)
}

/// The context used by every precedence case: user 7, in group 3, in
/// database 1.
fn me() -> Context {
    Context::user(7).in_group(3).in_database(1)
}

/// Each case: the stored values, the context, and the expected
/// (value, level it came from, level of the lock or None).
#[test]
fn precedence_table() {
    use Level::*;
    type Case = (
        &'static str,
        Vec<Entry>,
        Context,
        Option<(&'static str, Level, Option<Level>)>,
    );
    let cases: Vec<Case> = vec![
        (
            "nothing stored: the built-in default",
            vec![],
            me(),
            Some(("tel:%p", Default, None)),
        ),
        (
            "system beats default",
            vec![e(System, 0, "s:%p")],
            me(),
            Some(("s:%p", System, None)),
        ),
        (
            "database beats system",
            vec![e(System, 0, "s:%p"), e(Database, 1, "d:%p")],
            me(),
            Some(("d:%p", Database, None)),
        ),
        (
            "group beats database",
            vec![e(Database, 1, "d:%p"), e(Group, 3, "g:%p")],
            me(),
            Some(("g:%p", Group, None)),
        ),
        (
            "user beats group",
            vec![e(Group, 3, "g:%p"), e(User, 7, "u:%p")],
            me(),
            Some(("u:%p", User, None)),
        ),
        (
            "user beats everything",
            vec![
                e(System, 0, "s:%p"),
                e(Database, 1, "d:%p"),
                e(Group, 3, "g:%p"),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("u:%p", User, None)),
        ),
        (
            "another database's value does not apply",
            vec![e(System, 0, "s:%p"), e(Database, 2, "d:%p")],
            me(),
            Some(("s:%p", System, None)),
        ),
        (
            "another group's value does not apply",
            vec![e(System, 0, "s:%p"), e(Group, 4, "g:%p")],
            me(),
            Some(("s:%p", System, None)),
        ),
        (
            "another user's value does not apply",
            vec![e(System, 0, "s:%p"), e(User, 8, "u:%p")],
            me(),
            Some(("s:%p", System, None)),
        ),
        (
            "user with no group gets the system value",
            vec![e(System, 0, "s:%p"), e(Group, 3, "g:%p")],
            Context::user(7),
            Some(("s:%p", System, None)),
        ),
        (
            "user with no group still gets their own",
            vec![e(Group, 3, "g:%p"), e(User, 7, "u:%p")],
            Context::user(7),
            Some(("u:%p", User, None)),
        ),
        (
            "system context sees only system",
            vec![e(System, 0, "s:%p"), e(User, 7, "u:%p")],
            Context::system(),
            Some(("s:%p", System, None)),
        ),
        // Locks at every level.
        (
            "system locked at system",
            vec![
                e(System, 0, "s:%p").locked_at(System),
                e(Database, 1, "d:%p"),
                e(Group, 3, "g:%p"),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("s:%p", System, Some(System))),
        ),
        (
            "system locked at database",
            vec![
                e(System, 0, "s:%p").locked_at(Database),
                e(Database, 1, "d:%p"),
                e(Group, 3, "g:%p"),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("d:%p", Database, Some(System))),
        ),
        (
            "system locked at group",
            vec![
                e(System, 0, "s:%p").locked_at(Group),
                e(Group, 3, "g:%p"),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("g:%p", Group, Some(System))),
        ),
        (
            "system locked at user is no lock",
            vec![e(System, 0, "s:%p").locked_at(User), e(User, 7, "u:%p")],
            me(),
            Some(("u:%p", User, None)),
        ),
        (
            "database locked at database",
            vec![
                e(System, 0, "s:%p"),
                e(Database, 1, "d:%p").locked_at(Database),
                e(Group, 3, "g:%p"),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("d:%p", Database, Some(Database))),
        ),
        (
            "group locked at group",
            vec![e(Group, 3, "g:%p").locked_at(Group), e(User, 7, "u:%p")],
            me(),
            Some(("g:%p", Group, Some(Group))),
        ),
        (
            "lock of another database does not apply",
            vec![
                e(Database, 2, "d:%p").locked_at(Database),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("u:%p", User, None)),
        ),
        (
            "lock of another group does not apply",
            vec![e(Group, 4, "g:%p").locked_at(Group), e(User, 7, "u:%p")],
            me(),
            Some(("u:%p", User, None)),
        ),
        (
            "a tighter lock below cannot loosen one above",
            vec![
                e(System, 0, "s:%p").locked_at(Database),
                e(Database, 1, "d:%p").locked_at(User),
                e(User, 7, "u:%p"),
            ],
            me(),
            Some(("d:%p", Database, Some(System))),
        ),
        (
            "a lock below tightens one above",
            vec![
                e(System, 0, "s:%p").locked_at(Group),
                e(Database, 1, "d:%p").locked_at(Database),
                e(Group, 3, "g:%p"),
            ],
            me(),
            Some(("d:%p", Database, Some(Database))),
        ),
    ];
    for (name, entries, ctx, expected) in cases {
        let prefs = Preferences::from_entries(entries).unwrap();
        let snap = prefs.snapshot();
        let got = snap.get_str(&ctx, S, K).map(|r| {
            (
                r.value(),
                r.origin().level(),
                r.locked_by().map(|o| o.level()),
            )
        });
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn not_set_anywhere_is_none() {
    let prefs = Preferences::new();
    assert!(prefs.snapshot().get_str(&me(), "Other", "Key").is_none());
    assert!(
        prefs
            .snapshot()
            .get::<u32>(&me(), "Other", "Key")
            .unwrap()
            .is_none()
    );
    let prefs = prefs.with_default("Other", "Key", "5");
    assert_eq!(
        prefs
            .snapshot()
            .get::<u32>(&me(), "Other", "Key")
            .unwrap()
            .unwrap()
            .into_value(),
        5
    );
}

/// links-and-prefs.md §3, in code.
#[test]
fn worked_example_from_the_developer_docs() {
    use Level::*;
    let prefs = Preferences::from_entries(vec![
        Entry::new(System, 0, "A", "pref", "system value"),
        Entry::new(Group, 3, "A", "pref", "group value"),
        Entry::new(User, 7, "A", "pref", "user value"),
        Entry::new(Database, 1, "B", "locked", "database value").locked_at(Database),
        Entry::new(Group, 3, "B", "locked", "group value"),
        Entry::new(User, 7, "B", "locked", "user value"),
    ])
    .unwrap();
    let snap = prefs.snapshot();
    let ordinary = Context::user(9).in_group(1).in_database(1);
    let member = Context::user(8).in_group(3).in_database(1);
    let that_user = Context::user(7).in_group(3).in_database(1);
    assert_eq!(
        snap.get_str(&ordinary, "A", "pref").unwrap().value(),
        "system value"
    );
    assert_eq!(
        snap.get_str(&member, "A", "pref").unwrap().value(),
        "group value"
    );
    assert_eq!(
        snap.get_str(&that_user, "A", "pref").unwrap().value(),
        "user value"
    );
    for ctx in [ordinary, member, that_user] {
        let r = snap.get_str(&ctx, "B", "locked").unwrap();
        assert_eq!(r.value(), "database value");
        assert_eq!(r.locked_by(), Some(Origin::new(Database, 1)));
    }
}

#[test]
fn explanation_says_what_was_ignored_and_why() {
    use Level::*;
    let prefs = Preferences::from_entries(vec![
        e(System, 0, "s:%p").locked_at(Database),
        e(Database, 1, "d:%p"),
        e(Group, 3, "g:%p"),
        e(User, 7, "u:%p"),
    ])
    .unwrap();
    let x = prefs.snapshot().explain(&me(), S, K);
    let outcomes: Vec<(Level, Verdict)> = x
        .considered
        .iter()
        .map(|c| (c.origin.level(), c.verdict))
        .collect();
    let by_db = Origin::new(Database, 1);
    let lock = Origin::new(System, 0);
    assert_eq!(
        outcomes,
        [
            (Default, Verdict::Overridden { by: by_db }),
            (System, Verdict::Overridden { by: by_db }),
            (Database, Verdict::Won),
            (Group, Verdict::IgnoredLocked { by: lock }),
            (User, Verdict::IgnoredLocked { by: lock }),
        ]
    );
    assert_eq!(x.winner().unwrap().value, "d:%p");
    assert_eq!(x.ignored().count(), 2);
    let text = x.to_string();
    assert!(
        text.contains("group 3: \"g:%p\" — ignored: locked by system"),
        "{text}"
    );
    assert!(text.contains("database 1: \"d:%p\" — applies"), "{text}");
    assert!(
        text.contains("system: \"s:%p\" (locked: nothing below database may override)"),
        "{text}"
    );
}

#[test]
fn typed_reads_name_the_bad_value_or_fall_back() {
    use Level::*;
    let prefs =
        Preferences::from_entries(vec![e(Group, 3, "callto:%p"), e(User, 7, "javascript:%p")])
            .unwrap();
    let snap = prefs.snapshot();
    let err = snap.get::<PhoneLinkFormat>(&me(), S, K).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PrefsError::BadValue { origin, .. } if origin == Origin::new(User, 7)));
    assert!(
        msg.contains("[Phone] LinkFormat set at user 7") && msg.contains("javascript"),
        "{msg}"
    );

    let t = snap
        .get_or_fall_back::<PhoneLinkFormat>(&me(), S, K)
        .unwrap();
    assert_eq!(t.value().to_string(), "callto:%p");
    assert_eq!(t.origin(), Origin::new(Group, 3));
    assert_eq!(t.skipped().len(), 1);
    // A user in another group falls back to the built-in default.
    assert_eq!(
        prefs
            .snapshot()
            .get::<PhoneLinkFormat>(&Context::user(9), S, K)
            .unwrap()
            .unwrap()
            .value(),
        &PhoneLinkFormat::default()
    );
}

#[test]
fn impossible_entries_are_refused() {
    use Level::*;
    let cases = [
        (
            e(User, 7, "x").locked_at(System),
            "maxlevel system is less specific than the value's own level user",
        ),
        (e(Group, 3, "x").locked_at(Database), "maxlevel database"),
        (e(System, 5, "x"), "a system value has owner 0"),
        (e(Default, 0, "x"), "built-in defaults are set in code"),
        (Entry::new(System, 0, "", "k", "x"), "must not be empty"),
    ];
    for (entry, reason) in cases {
        let err = Preferences::new().set(entry.clone()).unwrap_err();
        assert!(err.to_string().contains(reason), "{entry:?}: {err}");
    }
    let dup = Preferences::from_entries(vec![e(User, 7, "a:%p"), e(User, 7, "b:%p")]).unwrap_err();
    assert_eq!(
        dup.to_string(),
        "preference [Phone] LinkFormat is set twice at user 7"
    );
}

#[test]
fn set_and_remove_below() {
    use Level::*;
    let prefs = Preferences::from_entries(vec![
        e(Database, 1, "d:%p"),
        e(Group, 3, "g:%p"),
        e(Group, 4, "g4:%p"),
        e(User, 7, "u:%p"),
        Entry::new(User, 7, "Other", "K", "kept"),
    ])
    .unwrap();
    // Group 3's members are users 7 and 8: only their values go.
    let removed = prefs
        .set_and_remove_below(
            e(Group, 3, "new:%p"),
            &Below::Only(vec![
                Origin::new(User, 7),
                Origin::new(User, 8),
                Origin::new(System, 0),
            ]),
        )
        .unwrap();
    assert_eq!(removed, [Origin::new(User, 7)]);
    assert_eq!(
        prefs.snapshot().get_str(&me(), S, K).unwrap().value(),
        "new:%p"
    );
    // System, everything below.
    let removed = prefs
        .set_and_remove_below(e(System, 0, "s:%p"), &Below::Everything)
        .unwrap();
    assert_eq!(
        removed,
        [
            Origin::new(Database, 1),
            Origin::new(Group, 3),
            Origin::new(Group, 4)
        ]
    );
    let entries = prefs.snapshot().entries();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(
        prefs
            .snapshot()
            .get_str(&me(), "Other", "K")
            .unwrap()
            .value(),
        "kept"
    );
    assert!(prefs.remove(Origin::new(System, 0), S, K).unwrap());
    assert!(!prefs.remove(Origin::new(System, 0), S, K).unwrap());
}

#[cfg(feature = "toml")]
#[test]
fn toml_files_load_save_and_refuse_bad_input() {
    let text = r#"
[[preference]]
level = "system"
section = "Phone"
key = "LinkFormat"
value = "callto:%p"
maxlevel = "database"

[[preference]]
level = "user"
owner = 7
section = "Phone"
key = "LinkFormat"
value = "facetime:%p"
"#;
    let prefs = Preferences::from_toml_str(text).unwrap();
    let r = prefs
        .snapshot()
        .get_str(&me(), S, K)
        .unwrap()
        .value()
        .to_owned();
    assert_eq!(r, "callto:%p");
    let saved = prefs.to_toml_string().unwrap();
    let again = Preferences::from_toml_str(&saved).unwrap();
    assert_eq!(again.snapshot().entries(), prefs.snapshot().entries());

    let bad = [
        (
            "[[preference]]\nlevel = \"system\"\nsection = \"a\"\nkey = \"b\"\nvalue = \"c\"\ncolour = \"red\"\n",
            "unknown field `colour`",
        ),
        (
            "[[preference]]\nlevel = \"planet\"\nsection = \"a\"\nkey = \"b\"\nvalue = \"c\"\n",
            "unknown variant `planet`",
        ),
        (
            "[[preference]]\nlevel = \"user\"\nowner = 1\nsection = \"a\"\nkey = \"b\"\nvalue = \"c\"\nmaxlevel = \"system\"\n",
            "maxlevel system is less specific",
        ),
        (
            "[[preference]]\nlevel = \"user\"\nowner = 1\nsection = \"a\"\nkey = \"b\"\nvalue = \"c\"\n[[preference]]\nlevel = \"user\"\nowner = 1\nsection = \"a\"\nkey = \"b\"\nvalue = \"d\"\n",
            "set twice at user 1",
        ),
        (
            "[[preference]]\nlevel = \"user\"\nsection = \"a\"\n",
            "missing field",
        ),
        ("[[preferences]]\n", "unknown field `preferences`"),
        ("not toml", "invalid"),
    ];
    for (text, reason) in bad {
        let err = Preferences::from_toml_str(text).unwrap_err();
        assert!(err.to_string().contains(reason), "{text:?}: {err}");
    }
}

#[cfg(feature = "json")]
#[test]
fn json_files_round_trip() {
    let prefs = Preferences::from_entries(vec![e(Level::Group, 3, "g:%p").locked_at(Level::Group)])
        .unwrap();
    let json = prefs.to_json_string().unwrap();
    assert!(json.contains("\"maxlevel\": \"group\""), "{json}");
    let again = Preferences::from_json_str(&json).unwrap();
    assert_eq!(again.snapshot().entries(), prefs.snapshot().entries());
    assert!(Preferences::from_json_str("{\"preference\":[{\"level\":\"system\",\"section\":\"a\",\"key\":\"b\",\"value\":\"c\",\"x\":1}]}").is_err());
}

#[test]
fn readers_see_a_whole_change_or_none_of_it() {
    use Level::*;
    let prefs = Arc::new(Preferences::new());
    prefs.set(e(System, 0, "a:%p")).unwrap();
    prefs.set(e(User, 7, "a:%p")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (prefs, stop) = (prefs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let x = prefs.snapshot().explain(&me(), S, K);
                    let system = x
                        .considered
                        .iter()
                        .find(|c| c.origin.level() == System)
                        .unwrap();
                    let user = x.considered.iter().find(|c| c.origin.level() == User);
                    // "b" at system is only ever published together with
                    // the removal of the user value, and "a" with its return.
                    match (system.value.as_str(), user) {
                        ("b:%p", None) | ("a:%p", Some(_)) => {}
                        other => panic!("mixed snapshot: {other:?}"),
                    }
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for _ in 0..2_000 {
        prefs
            .set_and_remove_below(e(System, 0, "b:%p"), &Below::Everything)
            .unwrap();
        prefs
            .edit(|ed| {
                ed.set(e(System, 0, "a:%p"))?;
                ed.set(e(User, 7, "a:%p"))?;
                Ok(())
            })
            .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

/// A store that records what it is asked to write and can be told to fail.
#[derive(Default)]
struct RecordingStore {
    rows: Vec<Entry>,
    applied: Arc<std::sync::Mutex<Vec<Change>>>,
    fail: Arc<AtomicBool>,
}

impl PrefStore for RecordingStore {
    fn load(&mut self) -> Result<Vec<Entry>, StoreError> {
        Ok(self.rows.clone())
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if self.fail.load(Ordering::Relaxed) {
            return Err("database is read-only".into());
        }
        self.applied.lock().unwrap().extend_from_slice(changes);
        Ok(())
    }
}

#[test]
fn a_custom_store_is_read_once_and_written_on_change() {
    let store = RecordingStore {
        rows: vec![e(Level::System, 0, "s:%p")],
        ..Default::default()
    };
    let (applied, fail) = (store.applied.clone(), store.fail.clone());
    let prefs = Preferences::open(store).unwrap();
    assert_eq!(
        prefs.snapshot().get_str(&me(), S, K).unwrap().value(),
        "s:%p"
    );
    prefs.set(e(Level::User, 7, "u:%p")).unwrap();
    assert_eq!(
        *applied.lock().unwrap(),
        [Change::Put(e(Level::User, 7, "u:%p"))]
    );

    // A failed write publishes nothing.
    fail.store(true, Ordering::Relaxed);
    let err = prefs.set(e(Level::User, 7, "v:%p")).unwrap_err();
    assert!(matches!(err, PrefsError::Store(_)));
    assert_eq!(
        err.to_string(),
        "preference store failed: database is read-only"
    );
    assert_eq!(
        prefs.snapshot().get_str(&me(), S, K).unwrap().value(),
        "u:%p"
    );

    let bad = RecordingStore {
        rows: vec![e(Level::User, 1, "x").locked_at(Level::System)],
        ..Default::default()
    };
    assert!(matches!(
        Preferences::open(bad),
        Err(PrefsError::InvalidEntry { .. })
    ));
}
