//! `mailing create`, `send`, `status`, `export` and the rest, and what
//! each says when things go wrong.

use crate::common::*;

/// Issue 30, item 5: the dry run blocks and counts numbers that cannot take
/// an SMS; `--allow-fixed-line` lets fixed lines through, never toll-free.
#[tokio::test]
async fn mailing_create_blocks_numbers_that_cannot_take_an_sms() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 0);
    std::fs::write(
        &recipients,
        "number,firstname\n412 34 567,Kari\n22 33 44 55,Ola\n800 12 345,Per\n47 12 34 56,Åse\n12345678,Siv\n",
    )
    .unwrap();
    let db = settings.with_file_name("crm.db");
    let dry = ["--dry-run"];
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &dry).await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.contains("ready: 2 "), "{out}");
    assert!(out.contains("blocked, not a mobile number: 2"), "{out}");
    assert!(out.contains("blocked, invalid number: 1"), "{out}");
    assert!(out.contains("not a mobile number (fixed line)"), "{out}");
    assert!(out.contains("not a mobile number (toll-free)"), "{out}");
    let o = create_mailing(
        &db,
        &settings,
        &recipients,
        "Hei {firstname}",
        &["--dry-run", "--allow-fixed-line"],
    )
    .await;
    let out = stdout(&o);
    assert!(out.contains("ready: 3 "), "{out}");
    assert!(out.contains("blocked, not a mobile number: 1"), "{out}");
}

/// Issue 31, item 8: SIGTERM on `mailing send` is a stop, not a crash:
/// nothing left unknown or sending, exit 130, and the next run finishes
/// with nobody sent twice.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_mailing_send_without_losing_anyone() {
    use crm_comms::mailing::{MailingId, Outbox, RecipientState};
    use crm_comms::store::sqlite::SqliteStore;
    let emu = support::intelecom_emulator().await;
    emu.set_latency(std::time::Duration::from_millis(300));
    let (db, mut send) = created_mailing(&emu, 2000).await;
    send.extend(["--batch", "100"].map(str::to_owned));
    let child = Command::new(BIN)
        .args(&send)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..1000 {
        if emu.requests_seen() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped before the end"), "{err}");
    let store = SqliteStore::open(&db).await.unwrap();
    let stats = store.stats(MailingId::new(1)).await.unwrap();
    assert_eq!(stats.count(RecipientState::Unknown), 0, "{stats:?}");
    assert_eq!(stats.count(RecipientState::Sending), 0, "{stats:?}");
    assert_eq!(stats.count(RecipientState::Claimed), 0, "{stats:?}");
    let accepted = stats.count(RecipientState::Accepted);
    assert!(accepted > 0 && accepted < 2000, "{accepted}");
    emu.set_latency(std::time::Duration::ZERO);
    let send: Vec<&str> = send.iter().map(String::as_str).collect();
    let o = run(&send).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(emu.acceptances().len(), 2000);
    assert!(emu.acceptances().values().all(|&n| n == 1));
}

/// Issue 31, item 9: `mailing send`'s exit status says what happened: 5
/// when some recipients ended unknown, 4 when some were refused, and why
/// on stderr; its back-off is logged.
#[tokio::test(flavor = "multi_thread")]
async fn mailing_send_exit_status_says_unknown_or_refused() {
    use crm_comms::testing::intelecom_emulator::IntelecomAnswerFault;
    let emu = support::intelecom_emulator().await;
    let (_, mut send) = created_mailing(&emu, 30).await;
    send.extend(["--batch", "10", "--in-flight", "1"].map(str::to_owned));
    let send: Vec<&str> = send.iter().map(String::as_str).collect();
    emu.fail_next(IntelecomFault::Http(503));
    let o = run(&send).await;
    let err = stderr(&o);
    assert_eq!(code(&o), 5, "{err}");
    assert!(err.contains("10 recipient(s) ended unknown"), "{err}");
    assert!(err.contains("backing off"), "the back-off is logged: {err}");
    let emu = support::intelecom_emulator().await;
    let (_, mut send) = created_mailing(&emu, 3).await;
    send.extend(["--batch", "10"].map(str::to_owned));
    let send: Vec<&str> = send.iter().map(String::as_str).collect();
    emu.fail_next(IntelecomFault::Answer(IntelecomAnswerFault::StatusCodes(
        vec![1, 5, 1],
    )));
    let o = run(&send).await;
    let err = stderr(&o);
    assert_eq!(code(&o), 4, "{err}");
    assert!(err.contains("1 recipient(s) were refused"), "{err}");
}

/// Issue 31, item 10: formulas from a hostile CSV never reach the export
/// as formulas, and terminal escapes in it are never printed raw.
#[tokio::test]
async fn hostile_cells_are_neutralised_in_the_export_and_on_the_terminal() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 0);
    std::fs::write(
        &recipients,
        "number,firstname\n\
         41000001,Kari\n\
         \"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",Ola\n\
         \"\t=1+1\",Per\n\
         @SUM(A1),Siv\n\
         \"\u{1b}]0;pwned\u{7}\u{1b}[2J\",Åse\n",
    )
    .unwrap();
    let db = settings.with_file_name("crm.db");
    let d = db.to_str().unwrap();
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &[]).await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(
        out.contains("\\u{1b}"),
        "the escape is shown escaped: {out}"
    );
    let o = run(&["mailing", "export", "--store", d, "--id", "1"]).await;
    let csv = stdout(&o);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    let numbers: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(numbers[0], "+4741000001");
    for n in &numbers[1..4] {
        assert!(n.starts_with('\''), "{n:?} is not neutralised");
    }
}

/// Issue 31, items 11 and 12: read commands never create a store at a
/// mistyped path, and a dry run creates no file.
#[tokio::test]
async fn read_commands_and_dry_runs_create_no_store() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 3);
    let typo = settings.with_file_name("typo.db");
    let t = typo.to_str().unwrap();
    for cmd in ["status", "export", "pause", "cancel"] {
        let o = run(&["mailing", cmd, "--store", t, "--id", "1"]).await;
        assert_eq!(code(&o), 1, "{cmd}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("there is no store here"),
            "{}",
            stderr(&o)
        );
        assert!(!typo.exists(), "`mailing {cmd}` created {t}");
    }
    let o = create_mailing(
        &typo,
        &settings,
        &recipients,
        "Hei {firstname}",
        &["--dry-run"],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("ready: 3 "), "{}", stdout(&o));
    assert!(!typo.exists(), "the dry run created {t}");
}

/// Issue 31, item 12: a duplicate names the line it repeats, a mailing
/// whose every recipient is blocked is refused at create, and recipients
/// from a pipe are refused with the reason (they are read twice).
#[cfg(unix)]
#[tokio::test]
async fn mailing_create_names_duplicates_refuses_all_blocked_and_pipes() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 0);
    let db = settings.with_file_name("crm.db");
    let create = |csv: &str| {
        std::fs::write(&recipients, csv).unwrap();
        create_mailing(&db, &settings, &recipients, "Hei {firstname}", &[])
    };
    let o = create("number,firstname\n41000001,Kari\n41000002,Ola\n41000001,Kari\n").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "line 4: +4741000001: duplicate number (one message per number; first on line 2)"
        ),
        "{}",
        stdout(&o)
    );
    let o = create("number,firstname\n22334455,Kari\nabc,Ola\n").await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no recipient can be sent to (all 2 are blocked); nothing created"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("not a mobile number (fixed line)"),
        "{}",
        stderr(&o)
    );
    let stdin = std::path::Path::new("/dev/stdin");
    let o = create_mailing(&db, &settings, stdin, "Hei {firstname}", &[]).await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--recipients must be a file"),
        "{}",
        stderr(&o)
    );
}

/// Issue 31, item 13: an unreachable PostgreSQL is named with its host,
/// port and cause within the connect timeout; a password in the URL is
/// warned about and never printed; another database's URL is refused.
#[tokio::test]
async fn store_urls_fail_fast_and_name_the_server() {
    // Refused at once: the cause is named.
    let o = run(&[
        "mailing",
        "status",
        "--store",
        "postgres://crm:hunter2secret@127.0.0.1:1/crm",
        "--id",
        "1",
    ])
    .await;
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("PostgreSQL at 127.0.0.1:1: cannot connect"),
        "{err}"
    );
    assert!(err.contains("visible to every local user"), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
    // A server that accepts and never answers: given up on in 5 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(std::time::Duration::from_secs(8));
        drop(conns);
    });
    let started = std::time::Instant::now();
    let url = format!("postgres://crm@127.0.0.1:{port}/crm");
    let o = run(&["mailing", "status", "--store", &url, "--id", "1"]).await;
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains(&format!(
            "PostgreSQL at 127.0.0.1:{port}: no connection within 5 s"
        )),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    drop(held);
    let o = run(&[
        "mailing",
        "status",
        "--store",
        "mysql://crm@localhost/crm",
        "--id",
        "1",
    ])
    .await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("a store is a SQLite file or a postgres:// URL"));
}

/// Issue 34, the clock: `--expires` on `mailing create`. A mailing whose
/// window opens only after its expiry sends nobody: `mailing send`
/// finishes with everyone expired, and the gateway saw nothing. An expiry
/// already past is refused at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_mailing_sends_nobody_and_says_so() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 5);
    let db = settings.with_file_name("crm.db");
    let now = jiff::Timestamp::now();
    let expires = (now + jiff::SignedDuration::from_mins(30)).to_string();
    // A one-minute window three hours from now (UTC): closed until after
    // the expiry.
    let opens =
        (now + jiff::SignedDuration::from_hours(3)).to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let (h, m) = (opens.hour(), opens.minute().min(58));
    let window = format!("{h:02}:{m:02}-{h:02}:{:02} UTC", m + 1);
    let extra = ["--expires", expires.as_str(), "--window", window.as_str()];
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &extra).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let o = run(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "1",
    ])
    .await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.contains("expired 5"), "{out}");
    assert_eq!(emu.requests_seen(), 0);
    let past = (now - jiff::SignedDuration::from_mins(1)).to_string();
    let o = create_mailing(&db, &settings, &recipients, "Hei", &["--expires", &past]).await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("has passed"), "{}", stderr(&o));
}

/// `--recipient-hours` through the CLI on the real clock: an Icelandic
/// number (UTC all year) is inside hours built around its current time, a
/// Japanese one (nine hours ahead) outside them: the first is sent, the
/// second held with its zone and morning, and `status` counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_hours_hold_a_number_abroad_until_its_morning() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 0);
    std::fs::write(
        &recipients,
        "number,firstname\n+3546111234,Jon\n+819012341234,Yuki\n",
    )
    .unwrap();
    let db = settings.with_file_name("crm.db");
    // Hours around Reykjavik's present hour; Tokyo's is nine hours on,
    // outside them whatever the time of day.
    let h = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .hour();
    let hours = format!(
        "{:02}:00-{}",
        (h - 1).max(0),
        if h >= 22 {
            "23:59".to_owned()
        } else {
            format!("{:02}:00", h + 2)
        }
    );
    let extra = ["--recipient-hours", hours.as_str(), "--send-on-holidays"];
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &extra).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let send = [
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "1",
        "--no-wait",
    ];
    let o = run(&send).await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(
        out.contains("1 recipient(s) held for their own daytime"),
        "{out}"
    );
    assert!(
        out.contains("accepted 1") && out.contains("held 1"),
        "{out}"
    );
    assert_eq!(
        emu.acceptances().into_keys().collect::<Vec<_>>(),
        ["+3546111234"]
    );
    let o = run(&["mailing", "export", "--store", d, "--id", "1"]).await;
    let csv = stdout(&o);
    assert!(csv.contains("held") && csv.contains("Asia/Tokyo"), "{csv}");
    // Bad hours are refused before anything is made.
    let bad = ["--recipient-hours", "21:00-08:00"];
    let o = create_mailing(&db, &settings, &recipients, "Hei", &bad).await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("--recipient-hours"), "{}", stderr(&o));
}

/// The dry run's cost per country and encoding, a cap on parts, and what
/// smart encoding would save and then saves.
#[tokio::test]
async fn the_dry_run_prices_the_parts_and_counts_smart_encoding() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 0);
    let long = format!("{} – Kari’s kafé", "Hei ".repeat(25));
    std::fs::write(
        &recipients,
        format!(
            "number,firstname,t\n41000001,Kari,kort\n+46701234561,Åsa,kort\n41000002,Ola,{long}\n41000003,Per,{}\n",
            "a".repeat(400)
        ),
    )
    .unwrap();
    let db = settings.with_file_name("crm.db");
    let extra = [
        "--dry-run",
        "--price",
        "NO=0.45,SE=0.60",
        "--max-parts",
        "2",
    ];
    let o = create_mailing(&db, &settings, &recipients, "{t}", &extra).await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(
        out.contains("NO GSM-7: 1 recipient(s), 1 parts × 0.45 = 0.45"),
        "{out}"
    );
    assert!(
        out.contains("NO UCS-2: 1 recipient(s), 2 parts × 0.45 = 0.90"),
        "{out}"
    );
    assert!(
        out.contains("SE GSM-7: 1 recipient(s), 1 parts × 0.60 = 0.60"),
        "{out}"
    );
    assert!(out.contains("cost: 1.95"), "{out}");
    assert!(out.contains("blocked, too many parts: 1"), "{out}");
    assert!(
        out.contains("smart encoding would save 1 parts on 1 recipient(s)"),
        "{out}"
    );
    let extra = ["--dry-run", "--price", "0.45", "--smart-encoding"];
    let o = create_mailing(&db, &settings, &recipients, "{t}", &extra).await;
    let out = stdout(&o);
    assert!(
        out.contains("smart encoding: 1 parts saved on 1 recipient(s)"),
        "{out}"
    );
    assert!(!out.contains("UCS-2: 1"), "{out}");
    let o = create_mailing(&db, &settings, &recipients, "{t}", &["--price", "NO=x"]).await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("--price"), "{}", stderr(&o));
}

/// `--frequency-cap` through the CLI: a second mailing within the period
/// skips the numbers the first one texted, and says why in the export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frequency_cap_skips_numbers_texted_by_an_earlier_mailing() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 4);
    let db = settings.with_file_name("crm.db");
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &[]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "1",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let extra = ["--frequency-cap", "1/7d"];
    let o = create_mailing(&db, &settings, &recipients, "Hei igjen {firstname}", &extra).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "2",
    ])
    .await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.contains("blocked 4"), "{out}");
    assert_eq!(emu.acceptances().values().sum::<u32>(), 4);
    let o = run(&["mailing", "export", "--store", d, "--id", "2"]).await;
    assert!(stdout(&o).contains("frequency cap"), "{}", stdout(&o));
    let o = create_mailing(
        &db,
        &settings,
        &recipients,
        "Hei",
        &["--frequency-cap", "2/week"],
    )
    .await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("--frequency-cap"), "{}", stderr(&o));
}

/// Consent and erasure through the CLI: an opt-out is logged; erasing the
/// number removes its rows and log but keeps it blocked — a re-import of
/// it is not sent; access shows what is left; START lifts the block; the
/// purge removes the finished mailings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_opted_out_number_stays_blocked_when_imported_again() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 3);
    let db = settings.with_file_name("crm.db");
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &[]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let number = ["--store", d, "--number", "40000001"];
    let o = run(&[
        &["privacy", "opt-out"][..],
        &number,
        &["--via", "phone call"],
    ]
    .concat())
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("+4740000001 is now on the opt-out list"),
        "{}",
        stdout(&o)
    );
    let o = run(&["privacy", "log", "--store", d]).await;
    assert!(
        stdout(&o).contains("+4740000001 opt-out via phone call"),
        "{}",
        stdout(&o)
    );
    let o = run(&[&["privacy", "erase"][..], &number].concat()).await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(
        out.contains("1 recipient row(s)") && out.contains("only a keyed hash"),
        "{out}"
    );
    let o = run(&[&["privacy", "access"][..], &number].concat()).await;
    let record: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        record["recipients"].as_array().unwrap().len(),
        0,
        "{record}"
    );
    assert_eq!(record["consent"].as_array().unwrap().len(), 0, "{record}");
    assert_eq!(record["suppressed"], true, "{record}");
    // Not even in the file's free pages or its write-ahead log.
    for file in [db.clone(), db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !bytes.windows(10).any(|w| w == b"4740000001"),
                "{} still holds the number",
                file.display()
            );
        }
    }
    // Imported again, in a new mailing: the others are sent, it is not.
    let o = create_mailing(&db, &settings, &recipients, "Hei igjen {firstname}", &[]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "2",
    ])
    .await;
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(
        out.contains("accepted 2") && out.contains("blocked 1"),
        "{out}"
    );
    assert!(!emu.acceptances().contains_key("+4740000001"));
    // START: sendable again.
    let o = run(&[&["privacy", "opt-in"][..], &number].concat()).await;
    assert!(
        stdout(&o).contains("is off the opt-out list"),
        "{}",
        stdout(&o)
    );
    let o = run(&["privacy", "purge", "--store", d, "--days", "0"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("purged 1 finished mailing(s)"),
        "{}",
        stdout(&o)
    );
}

/// `receive --store` runs a mailing's other half from the CLI alone: the
/// gateway's delivery reports land on their recipients in the store, and a
/// "STOPP" reply puts the number on the opt-out list (logged with its
/// message) — each push still printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_with_a_store_applies_reports_and_stop_replies() {
    use crm_comms::testing::intelecom_emulator as ie;
    use crm_comms::testing::push::PushTarget;
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 5);
    let db = settings.with_file_name("crm.db");
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &[]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut rx = Running::start_with(
        &[
            "receive",
            "--listen",
            "127.0.0.1:0",
            "--store",
            d,
            "--metrics",
            &metrics,
        ],
        &[("CRM_COMMS_CALLBACK_SECRET", "s3")],
        Stdio::null(),
    );
    let first: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    let base = first["listening"].as_str().unwrap().to_owned();
    emu.deliver_reports_to(
        PushTarget::new(format!("{base}/intelecom/dr?secret=s3")),
        ie::IntelecomPushTransport::Json,
    );
    let o = run(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "1",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let mut delivered = false;
    for _ in 0..100 {
        let o = run(&["mailing", "status", "--store", d, "--id", "1"]).await;
        if stdout(&o).contains("delivered 5") {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(delivered, "the reports reached the store");
    let line: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    assert_eq!(line["type"], "dr", "{line}");
    let scraped = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scraped.contains("crm_comms_reports_total{gateway=\"intelecom\",state=\"delivered\",matched=\"applied\"} 5"),
        "{scraped}"
    );
    // Each applied report's latency since its recipient was sent.
    assert!(
        scraped.contains("crm_comms_report_latency_seconds_count{gateway=\"intelecom\"} 5"),
        "{scraped}"
    );
    let mo = ie::IntelecomPushedMo {
        message_id: "mo-9".into(),
        short_number: "1960".into(),
        originator: "+4740000002".into(),
        content: "STOPP nå".into(),
        command: None,
        session_id: None,
    };
    let target = PushTarget::new(format!("{base}/intelecom/mo?secret=s3"));
    let r = emu
        .push_mos(&target, &ie::IntelecomPushTransport::Json, &[mo])
        .await;
    assert!(r.delivered, "{r:?}");
    let o = run(&["privacy", "log", "--store", d, "--number", "40000002"]).await;
    let out = stdout(&o);
    assert!(
        out.contains("+4740000002 opt-out via STOPP: \"STOPP nå\""),
        "{out}{}",
        stderr(&o)
    );
}

/// The operator's tools: the list, a lookup by client reference and by
/// number, cancelling one recipient, and rescheduling only before the
/// start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lists_looks_up_cancels_one_and_reschedules() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 3);
    let db = settings.with_file_name("crm.db");
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let o = create_mailing(
        &db,
        &settings,
        &recipients,
        "Hei {firstname}",
        &["--name", "julesalg"],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["mailing", "list", "--store", d]).await;
    let out = stdout(&o);
    assert!(
        out.contains("1 julesalg (active) created") && out.contains("pending 3"),
        "{out}"
    );
    let o = run(&["mailing", "lookup", "--store", d, "--reference", "crm1-2"]).await;
    let found: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        found["recipients"][0]["row"]["number"], "+4740000001",
        "{found}"
    );
    let o = run(&["mailing", "lookup", "--store", d, "--number", "40 00 00 02"]).await;
    let found: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(found["recipients"][0]["name"], "julesalg", "{found}");
    // Reschedule before the start, then cancel one and send the rest.
    let o = run(&[
        "mailing",
        "reschedule",
        "--store",
        d,
        "--id",
        "1",
        "--send-at",
        "2020-01-01T00:00:00Z",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&[
        "mailing",
        "cancel-recipient",
        "--store",
        d,
        "--reference",
        "crm1-2",
        "--reason",
        "asked by phone",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "1",
    ])
    .await;
    let out = stdout(&o);
    assert!(
        out.contains("accepted 2") && out.contains("cancelled 1"),
        "{out}"
    );
    assert!(!emu.acceptances().contains_key("+4740000001"));
    let o = run(&[
        "mailing",
        "cancel-recipient",
        "--store",
        d,
        "--reference",
        "crm1-3",
    ])
    .await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("already accepted"), "{}", stderr(&o));
    let o = run(&[
        "mailing",
        "reschedule",
        "--store",
        d,
        "--id",
        "1",
        "--send-at",
        "now",
    ])
    .await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("has started"), "{}", stderr(&o));
    let o = run(&["mailing", "lookup", "--store", d, "--reference", "nope"]).await;
    assert_eq!(code(&o), 2);
}

/// A free loopback port (bound, read, let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mailing send --metrics` serves Prometheus metrics while it sends:
/// recipients by outcome, messages and parts sent, with the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailing_send_serves_metrics_for_prometheus() {
    let emu = support::intelecom_emulator().await;
    let (settings, recipients) = mailing_files(&emu, false, 30);
    let db = settings.with_file_name("crm.db");
    let (s, d) = (settings.to_str().unwrap(), db.to_str().unwrap());
    let o = create_mailing(&db, &settings, &recipients, "Hei {firstname}", &[]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let addr = format!("127.0.0.1:{}", free_port());
    // Ten a second: three seconds to scrape in.
    let send = Running::start(&[
        "mailing",
        "send",
        "--store",
        d,
        "--settings",
        s,
        "--id",
        "1",
        "--rate",
        "10",
        "--per",
        "messages",
        "--batch",
        "5",
        "--metrics",
        &addr,
    ]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("http://{addr}/metrics")).send().await {
            seen = r.text().await.unwrap_or_default();
            if seen.contains("crm_comms_mailing_parts_sent_total") {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(send);
    assert!(
        seen.contains(
            "crm_comms_mailing_recipients_total{gateway=\"intelecom\",outcome=\"accepted\"}"
        ),
        "{seen}"
    );
    assert!(
        seen.contains("crm_comms_mailing_messages_sent_total{gateway=\"intelecom\"}"),
        "{seen}"
    );
}
