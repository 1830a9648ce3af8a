//! `crm-comms mailing`: SMS mailings on the embedded store.

// Why one file above 500 lines: the `mailing` subcommand's arguments and
// their handlers, one handler per subcommand, each short; clap's derive
// keeps the arguments beside their handler.

use std::num::NonZeroU32;
use std::sync::Arc;

use crm_comms::mailing::{
    Cost, DailyHours, DryRun, FrequencyCap, MailingId, MailingRunner, MailingSpec, MailingStatus,
    MailingStore, Outbox, Pace, PartPrices, Preparer, RecipientHours, RecipientReader,
    RecipientState, RunEnd, SendWindow, Stats, Template, write_rows,
};
use crm_comms::sms::{Priority, Sender, SmsProvider};
use crm_comms::store::postgres::PgStore;
use crm_comms::store::sqlite::SqliteStore;

use super::*;

#[derive(Args)]
pub(crate) struct StoreArg {
    /// The store: a SQLite file (created if missing), or a PostgreSQL URL
    /// (`postgres://user@host/db`; a password is better given in
    /// `PGPASSWORD` than on the command line, which every user can read).
    #[arg(long)]
    store: String,
}

#[derive(Args)]
pub(crate) struct MailingArg {
    #[command(flatten)]
    store: StoreArg,
    /// The mailing's id (as `create` printed it).
    #[arg(long)]
    id: MailingId,
}

// Parsed once per process: the size of `Create`'s many options costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum MailingCommand {
    /// Create a mailing from a CSV of recipients (header row: `number` and
    /// the template's variables); prints its id and what it would send.
    #[command(
        after_help = "Example:\n  crm-comms mailing create --store crm.db --settings sms.toml --recipients contacts.csv \\\n    --text 'Hei {firstname}, velkommen til {city}!' --window '08:00-21:00 Europe/Oslo'\n\nRecipients with a missing variable, an invalid or repeated number, or on the\nopt-out list are blocked with the reason (see `export`), never sent."
    )]
    Create {
        #[command(flatten)]
        store: StoreArg,
        /// The SMS settings (default country, gateway limits).
        #[arg(long)]
        settings: PathBuf,
        /// The recipients (CSV).
        #[arg(long)]
        recipients: PathBuf,
        /// The text, with `{variables}`.
        #[arg(long)]
        text: String,
        /// A name for people.
        #[arg(long, default_value = "SMS mailing")]
        name: String,
        /// The sender (default: the settings').
        #[arg(long)]
        sender: Option<String>,
        /// Priority 1-3 (default: the settings').
        #[arg(long)]
        priority: Option<u8>,
        /// Do not ask for delivery reports.
        #[arg(long)]
        no_delivery_report: bool,
        /// Send no earlier than this (RFC 3339, `2026-12-24T09:00:00+01:00`).
        #[arg(long)]
        send_at: Option<String>,
        /// Send only inside this daily window (`08:00-21:00 Europe/Oslo`).
        #[arg(long)]
        window: Option<String>,
        /// Send nothing after this (RFC 3339, `2026-12-24T23:59:00+01:00`):
        /// whoever's turn comes later ends `expired`, and what is sent asks
        /// the gateway to drop it then too.
        #[arg(long)]
        expires: Option<String>,
        /// Text each recipient only inside these hours in its own time zone
        /// (from its number's country; a country with several zones is
        /// read the most conservative way), and not on its country's public
        /// holidays (computed for NO, SE, DK, FI, IS): `08:00-21:00`.
        /// Recipients outside them are held until their morning.
        #[arg(long, value_name = "HOURS")]
        recipient_hours: Option<String>,
        /// At most so many messages to one number per period, counted
        /// across every mailing in the store when the recipient's turn
        /// comes (`2/7d`; m, h or d): over it, blocked with the reason.
        #[arg(long, value_name = "N/PERIOD")]
        frequency_cap: Option<String>,
        /// With `--recipient-hours`: send on public holidays too.
        #[arg(long, requires = "recipient_hours")]
        send_on_holidays: bool,
        /// Let a number get the message more than once.
        #[arg(long)]
        allow_repeats: bool,
        /// Send to fixed-line numbers too (for operators that read texts
        /// to landlines aloud); without it they are blocked as "not a
        /// mobile number", as toll-free and premium-rate numbers always are.
        #[arg(long)]
        allow_fixed_line: bool,
        /// Block recipients whose text takes more SMS parts than this
        /// (default: the gateway's limit).
        #[arg(long, value_name = "N")]
        max_parts: Option<u32>,
        /// Replace pasted typography (’ ‘ “ ” – — … « », non-breaking
        /// space) by GSM-7 equivalents where that saves parts; nothing
        /// else is changed. Without it, the counts say what it would save.
        #[arg(long)]
        smart_encoding: bool,
        /// The price of one SMS part, for the cost in the counts: `0.45`,
        /// or per country `NO=0.45,SE=0.60,*=0.80`.
        #[arg(long, value_name = "PRICES")]
        price: Option<String>,
        /// Only count what would be sent (and its cost); create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Send a mailing (kill it and run it again to carry on: nothing is
    /// sent twice).
    #[command(
        after_help = "Example:\n  crm-comms mailing send --store crm.db --settings sms.toml --id 1 --rate 50 --per parts"
    )]
    Send {
        #[command(flatten)]
        mailing: MailingArg,
        /// The SMS settings (the gateway and its credentials).
        #[arg(long)]
        settings: PathBuf,
        /// At most this many per second.
        #[arg(long)]
        rate: Option<NonZeroU32>,
        /// What `--rate` counts.
        #[arg(long, value_enum, default_value_t = PaceUnit::Parts)]
        per: PaceUnit,
        /// Seconds a claim lasts without a heartbeat; after a crash,
        /// recipients in flight are recovered once it has passed.
        #[arg(long, default_value_t = 30.0)]
        lease: f64,
        /// Return at once when the send time or window has not come.
        #[arg(long)]
        no_wait: bool,
        /// Recipients claimed at a time (default: four gateway batches).
        #[arg(long)]
        batch: Option<usize>,
        /// Claims in flight at once (default 3); after a crash at most
        /// these are unknown.
        #[arg(long)]
        in_flight: Option<usize>,
        /// Serve metrics for Prometheus here while sending
        /// (`127.0.0.1:9184`): recipients by outcome, messages and parts
        /// sent, blocked by reason.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Counts per state.
    Status(MailingArg),
    /// Each recipient as CSV: line, number, state, parts, references,
    /// reason, delivery time.
    Export(MailingArg),
    /// Stop sending until `resume`.
    Pause(MailingArg),
    /// Carry on after `pause`.
    Resume(MailingArg),
    /// Stop for good: what was not sent is cancelled.
    Cancel(MailingArg),
    /// The mailings, newest first: status, counts, times.
    List {
        #[command(flatten)]
        store: StoreArg,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One recipient: by its client reference (`crm1-42`, as delivery
    /// reports echo it), or every row of a number in every mailing.
    Lookup {
        #[command(flatten)]
        store: StoreArg,
        /// A client reference (`crm1-42`).
        #[arg(long, conflicts_with = "number", required_unless_present = "number")]
        reference: Option<String>,
        /// A number (read as Norwegian when national).
        #[arg(long)]
        number: Option<String>,
    },
    /// Cancel one recipient not yet sent (pending or held), by its client
    /// reference.
    CancelRecipient {
        #[command(flatten)]
        store: StoreArg,
        /// Its client reference (`crm1-42`).
        #[arg(long)]
        reference: String,
        /// Why, for the export.
        #[arg(long, default_value = "cancelled by hand")]
        reason: String,
    },
    /// Move the send time of a mailing that has not started.
    Reschedule {
        #[command(flatten)]
        mailing: MailingArg,
        /// The new send time (RFC 3339), or `now`.
        #[arg(long)]
        send_at: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PaceUnit {
    Parts,
    Messages,
}

/// The store of an existing mailing: a SQLite file is never created here
/// (a mistyped path is an error, not a new empty store).
async fn open(store: &StoreArg) -> Result<Arc<dyn Outbox>, Fail> {
    Ok(open_store(store, false).await?)
}

/// The store, created (a SQLite file, `0600`) when `create` and missing.
pub(crate) async fn open_store(
    store: &StoreArg,
    create: bool,
) -> Result<Arc<dyn MailingStore>, Fail> {
    let s = store.store.as_str();
    if let Some((scheme, _)) = s.split_once("://")
        && !matches!(scheme, "postgres" | "postgresql")
    {
        return Err(fail(
            exit::BAD_INPUT,
            format!("--store {scheme}://…: a store is a SQLite file or a postgres:// URL"),
        ));
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        if url_has_password(s) {
            eprintln!(
                "crm-comms: warning: the password in --store is visible to every local user (in /proc); put it in PGPASSWORD or ~/.pgpass instead"
            );
        }
        let store = PgStore::connect(s)
            .await
            .map_err(|e| fail(exit::FAILURE, e))?;
        return Ok(Arc::new(store));
    }
    let store = if create {
        SqliteStore::open(s).await
    } else {
        SqliteStore::open_existing(s).await
    }
    .map_err(|e| fail(exit::FAILURE, e))?;
    Ok(Arc::new(store))
}

/// Whether a `postgres://` URL carries a password (`user:pw@`, or
/// `password=` in its query).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = rest
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("password=")));
    in_userinfo || in_query
}

/// Whether `store` names a SQLite file that does not exist yet.
fn missing_file(store: &StoreArg) -> bool {
    let s = store.store.as_str();
    !(s.starts_with("postgres://")
        || s.starts_with("postgresql://")
        || std::path::Path::new(s).exists())
}

/// A client reference (`crm1-42`) as its mailing and row.
fn client_reference(s: &str) -> Result<(MailingId, i64), Fail> {
    crm_comms::mailing::parse_client_reference(s).ok_or_else(|| {
        fail(
            exit::BAD_INPUT,
            format!("{s:?} is not a client reference (`crm1-42`)"),
        )
    })
}

fn store_fail(e: impl std::fmt::Display) -> Fail {
    fail(exit::FAILURE, e)
}

fn print_stats(json: bool, id: MailingId, stats: &Stats) {
    if json {
        print_json(&serde_json::json!({ "mailing": id, "stats": stats }));
    } else {
        let status = stats.status.map_or("?", MailingStatus::as_str);
        out!("mailing {id} ({status}): {stats}");
        out!(
            "parts sent: {} of {}{}",
            stats.parts_sent,
            stats.parts_total,
            if stats.unmatched_reports > 0 {
                format!(
                    "; {} delivery reports not matched yet",
                    stats.unmatched_reports
                )
            } else {
                String::new()
            }
        );
    }
}

pub(crate) async fn mailing(json: bool, command: MailingCommand) -> Result<u8, Fail> {
    match command {
        MailingCommand::Create {
            store,
            settings,
            recipients,
            text,
            name,
            sender,
            priority,
            no_delivery_report,
            send_at,
            window,
            expires,
            recipient_hours,
            frequency_cap,
            send_on_holidays,
            allow_repeats,
            allow_fixed_line,
            max_parts,
            smart_encoding,
            price,
            dry_run,
        } => {
            let settings = SmsSettings::load(&settings).map_err(|e| fail(exit::SETTINGS, e))?;
            settings.validate().map_err(|e| fail(exit::SETTINGS, e))?;
            let provider = settings
                .build_provider()
                .map_err(|e| fail(exit::SETTINGS, e))?;
            let template = Template::parse(&text).map_err(|e| fail(exit::BAD_INPUT, e))?;
            let mut spec = MailingSpec::new(name, template)
                .with_delivery_report(!no_delivery_report)
                .with_one_per_number(!allow_repeats)
                .with_fixed_lines_allowed(allow_fixed_line)
                .with_limits(provider.capabilities().limits)
                .with_priority(
                    Priority::try_from(priority.unwrap_or(settings.priority))
                        .map_err(|e| fail(exit::BAD_INPUT, e))?,
                );
            if let Some(s) = sender {
                spec = spec.with_sender(Sender::parse(&s).map_err(|e| fail(exit::BAD_INPUT, e))?);
            }
            if let Some(c) = settings.default_country.as_deref() {
                spec = spec.with_default_country(
                    c.parse::<DefaultCountry>()
                        .map_err(|e| fail(exit::SETTINGS, e))?,
                );
            }
            if let Some(at) = send_at {
                let at: jiff::Timestamp = at
                    .parse()
                    .map_err(|e| fail(exit::BAD_INPUT, format!("--send-at {at:?}: {e}")))?;
                spec = spec.with_send_at(at);
            }
            if let Some(at) = expires {
                let at: jiff::Timestamp = at
                    .parse()
                    .map_err(|e| fail(exit::BAD_INPUT, format!("--expires {at:?}: {e}")))?;
                if at <= jiff::Timestamp::now() {
                    return Err(fail(
                        exit::BAD_INPUT,
                        format!("--expires {at}: that time has passed; nobody would be sent"),
                    ));
                }
                spec = spec.with_expiry(at);
            }
            let prices = price
                .map(|p| {
                    p.parse::<PartPrices>()
                        .map_err(|e| fail(exit::BAD_INPUT, format!("--price: {e}")))
                })
                .transpose()?;
            spec = spec.with_smart_encoding(smart_encoding);
            if let Some(n) = max_parts {
                if n == 0 {
                    return Err(fail(exit::BAD_INPUT, "--max-parts: at least 1"));
                }
                spec = spec.with_max_parts(n);
            }
            if let Some(cap) = frequency_cap {
                spec = spec.with_frequency_cap(
                    cap.parse::<FrequencyCap>()
                        .map_err(|e| fail(exit::BAD_INPUT, format!("--frequency-cap: {e}")))?,
                );
            }
            if let Some(h) = recipient_hours {
                let hours = h
                    .parse::<DailyHours>()
                    .map_err(|e| fail(exit::BAD_INPUT, format!("--recipient-hours: {e}")))?;
                let rule = RecipientHours::new(hours);
                spec = spec.with_recipient_hours(if send_on_holidays {
                    rule.without_holidays()
                } else {
                    rule
                });
            }
            if let Some(w) = window {
                spec = spec.with_window(
                    w.parse::<SendWindow>()
                        .map_err(|e| fail(exit::BAD_INPUT, e))?,
                );
            }
            // Two passes over the file, one recipient in memory at a
            // time: the first checks every line and counts (the dry run),
            // the second streams into the store's one transaction.
            // Read twice (checked and counted, then enqueued): a pipe
            // cannot be.
            if !std::fs::metadata(&recipients).is_ok_and(|m| m.is_file()) {
                return Err(fail(
                    exit::BAD_INPUT,
                    format!(
                        "{}: --recipients must be a file (it is read twice: checked, then enqueued); write a pipe to a file first",
                        recipients.display()
                    ),
                ));
            }
            let read = || {
                let file = std::fs::File::open(&recipients)
                    .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", recipients.display())))?;
                RecipientReader::new(std::io::BufReader::new(file), &spec.template)
                    .map_err(|e| fail(exit::BAD_INPUT, format!("{}: {e}", recipients.display())))
            };
            let bad_line = |e: crm_comms::mailing::RecipientsError| {
                fail(exit::BAD_INPUT, format!("{}: {e}", recipients.display()))
            };
            // A dry run creates nothing: without a store yet, nobody has
            // opted out.
            let outbox = if dry_run && missing_file(&store) {
                None
            } else {
                Some(open_store(&store, true).await?)
            };
            let opted_out = match &outbox {
                Some(o) => o.opted_out().await.map_err(store_fail)?,
                None => std::collections::HashSet::new(),
            };
            let mut preparer = Preparer::new(&spec, &opted_out);
            let mut dry = DryRun::default();
            let mut blocked: Vec<String> = Vec::new();
            // What the two passes read must be the same file.
            let mut first_pass = std::hash::DefaultHasher::new();
            for r in read()? {
                let p = preparer.prepare(&r.map_err(bad_line)?);
                fingerprint(&mut first_pass, &p);
                dry.add(&p);
                if let Some(reason) = &p.blocked {
                    blocked.push(format!(
                        "line {}: {}: {reason}",
                        p.line.unwrap_or(0),
                        p.number
                    ));
                }
            }
            // The first pass's set of numbers seen goes before the second's.
            drop(preparer);
            if dry.ready == 0 && !dry_run {
                for line in blocked.iter().take(20) {
                    eprintln!("  {}", crate::terminal_safe(line));
                }
                return Err(fail(
                    exit::BAD_INPUT,
                    format!(
                        "{}: no recipient can be sent to (all {} are blocked); nothing created",
                        recipients.display(),
                        blocked.len()
                    ),
                ));
            }
            let id = if let (false, Some(outbox)) = (dry_run, &outbox) {
                let mut preparer = Preparer::new(&spec, &opted_out);
                let mut failed = None;
                let mut second_pass = std::hash::DefaultHasher::new();
                let mut lines = read()?;
                let mut prepared = std::iter::from_fn(|| match lines.next()? {
                    Ok(r) => {
                        let p = preparer.prepare(&r);
                        fingerprint(&mut second_pass, &p);
                        Some(p)
                    }
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                });
                let id = outbox
                    .create(&spec, &mut prepared)
                    .await
                    .map_err(store_fail)?;
                let changed = failed.is_some()
                    || std::hash::Hasher::finish(&first_pass)
                        != std::hash::Hasher::finish(&second_pass);
                if changed {
                    // The file changed between the passes: what was
                    // enqueued is removed, nothing is left behind.
                    outbox.remove(id).await.map_err(store_fail)?;
                    return Err(match failed {
                        Some(e) => fail(
                            exit::BAD_INPUT,
                            format!(
                                "{}: the file changed while it was read ({e}); nothing created",
                                recipients.display()
                            ),
                        ),
                        None => fail(
                            exit::BAD_INPUT,
                            format!(
                                "{}: the file changed while it was read; nothing created",
                                recipients.display()
                            ),
                        ),
                    });
                }
                Some(id)
            } else {
                None
            };
            let cost = prices.as_ref().map(|p| dry.cost(p));
            if json {
                print_json(&serde_json::json!({
                    "mailing": id,
                    "ready": dry.ready,
                    "gsm7": dry.gsm7,
                    "ucs2": dry.ucs2,
                    "parts": dry.parts,
                    "by_country": dry.by_country,
                    "smart_encoding": {
                        "on": smart_encoding,
                        "recipients": dry.smart_recipients,
                        "parts_saved": dry.smart_parts,
                    },
                    "cost": cost.as_ref().map(|c| serde_json::json!({
                        "total": c.total.to_string(),
                        "unpriced_parts": c.unpriced_parts,
                        "lines": c.lines.iter().map(|l| serde_json::json!({
                            "region": l.parts.region,
                            "encoding": l.parts.encoding,
                            "recipients": l.parts.recipients,
                            "parts": l.parts.parts,
                            "price": l.price.map(|p| p.to_string()),
                            "cost": l.cost.map(|p| p.to_string()),
                        })).collect::<Vec<_>>(),
                    })),
                    "blocked": dry.blocked.iter().map(|(k, n)| serde_json::json!({"reason": k, "count": n})).collect::<Vec<_>>(),
                    "blocked_lines": blocked,
                }));
            } else {
                match id {
                    Some(id) => out!("mailing {id} created"),
                    None => out!("dry run: nothing created"),
                }
                out!(
                    "ready: {} ({} GSM-7, {} UCS-2), {} parts",
                    dry.ready,
                    dry.gsm7,
                    dry.ucs2,
                    dry.parts
                );
                print_costs(&dry, cost.as_ref(), smart_encoding);
                for (k, n) in &dry.blocked {
                    out!("blocked, {k}: {n}");
                }
                for line in blocked.iter().take(20) {
                    out!("  {line}");
                }
                if blocked.len() > 20 {
                    out!("  … and {} more (see `export`)", blocked.len() - 20);
                }
            }
            Ok(0)
        }
        MailingCommand::Send {
            mailing,
            settings,
            rate,
            per,
            lease,
            no_wait,
            batch,
            in_flight,
            metrics,
        } => {
            serve_metrics(metrics)?;
            let settings = SmsSettings::load(&settings).map_err(|e| fail(exit::SETTINGS, e))?;
            settings.validate().map_err(|e| fail(exit::SETTINGS, e))?;
            let provider: Arc<dyn SmsProvider> = Arc::from(
                settings
                    .build_provider()
                    .map_err(|e| fail(exit::SETTINGS, e))?,
            );
            let outbox = open(&mailing.store).await?;
            let id = mailing.id;
            let start = outbox.stats(id).await.map_err(store_fail)?;
            let bar = (!json).then(|| {
                let bar = indicatif::ProgressBar::new(start.parts_total);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} parts  {per_sec}  ETA {eta}  {msg}",
                ) {
                    bar.set_style(style);
                }
                bar.set_position(start.parts_sent);
                bar.reset_eta();
                bar
            });
            let lease = std::time::Duration::try_from_secs_f64(lease)
                .map_err(|e| fail(exit::BAD_INPUT, format!("--lease: {e}")))?;
            let mut runner = MailingRunner::new(outbox.clone(), provider)
                .lease(lease)
                .wait_for_window(!no_wait);
            if let Some(n) = in_flight {
                runner = runner.in_flight(n);
            }
            if let Some(n) = batch {
                runner = runner.batch(n);
            }
            if mailing.store.store.starts_with("postgres") {
                // On a shared store the pace is the account's, for every
                // worker: keyed by the gateway.
                runner = runner.shared_pace(settings_key(&settings));
            }
            if let Some(r) = rate {
                runner = runner.pace(match per {
                    PaceUnit::Parts => Pace::Parts(r),
                    PaceUnit::Messages => Pace::Messages(r),
                });
            }
            if let Some(bar) = &bar {
                let bar = bar.clone();
                let base = start.parts_sent;
                runner = runner.on_progress(move |p| {
                    bar.set_position(base + p.parts);
                    if p.failed + p.unknown > 0 {
                        bar.set_message(format!("{} failed, {} unknown", p.failed, p.unknown));
                    }
                });
            }
            // Warnings: the runner's back-off and recovery, and what it
            // waits for; one line per recipient only with RUST_LOG (a bad
            // minute at the gateway would print thousands).
            crate::receive::install_logging_with(
                "warn,crm_comms=info,crm_comms::sms::provider=error",
            );
            let never = std::sync::Arc::new(tokio::sync::Notify::new());
            let result = runner
                .run_until(id, crate::receive::stop_signal(never))
                .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let (end, _) = result.map_err(|e| {
                if e.is_auth() {
                    fail(exit::SETTINGS, e)
                } else {
                    fail(exit::FAILURE, e)
                }
            })?;
            let stats = outbox.stats(id).await.map_err(store_fail)?;
            if !json {
                match &end {
                    RunEnd::Finished => out!("mailing {id} finished"),
                    RunEnd::Paused => out!("mailing {id} is paused"),
                    RunEnd::Cancelled => out!("mailing {id} is cancelled"),
                    RunEnd::NotYet(at) if stats.count(RecipientState::Held) > 0 => out!(
                        "mailing {id}: {} recipient(s) held for their own daytime; the next may go at {at} (run `mailing send` again then)",
                        stats.count(RecipientState::Held)
                    ),
                    RunEnd::NotYet(at) => out!("mailing {id} may send from {at}"),
                    RunEnd::Stopped => out!(
                        "mailing {id} stopped: what was in flight is settled; run `mailing send` again to carry on"
                    ),
                    _ => {}
                }
            }
            print_stats(json, id, &stats);
            Ok(send_status(&end, &stats))
        }
        MailingCommand::List { store, limit } => {
            let s = open_store(&store, false).await?;
            let listed = s.list_mailings(limit).await.map_err(store_fail)?;
            let mut out = Vec::new();
            for m in &listed {
                let stats = s.stats(m.id).await.map_err(store_fail)?;
                if json {
                    out.push(serde_json::json!({ "mailing": m, "stats": stats }));
                } else {
                    out!(
                        "{} {} ({}) created {}{}{}: {stats}",
                        m.id,
                        crate::terminal_safe(&m.name),
                        m.status,
                        m.created_at,
                        m.send_at
                            .map(|t| format!(", sends from {t}"))
                            .unwrap_or_default(),
                        m.expires_at
                            .map(|t| format!(", expires {t}"))
                            .unwrap_or_default(),
                    );
                }
            }
            if json {
                print_json(&serde_json::json!({ "mailings": out }));
            }
            Ok(0)
        }
        MailingCommand::Lookup {
            store,
            reference,
            number,
        } => {
            let s = open_store(&store, false).await?;
            let rows: Vec<serde_json::Value> = if let Some(r) = reference {
                let (id, row) = client_reference(&r)?;
                s.recipient(id, row)
                    .await
                    .map_err(store_fail)?
                    .map(|row| serde_json::json!({ "mailing": id, "row": row }))
                    .into_iter()
                    .collect()
            } else {
                let n = number.unwrap_or_default();
                let e164 = PhoneNumber::parse(&n, Some(&"NO".parse().map_err(store_fail)?))
                    .map_err(|e| fail(exit::BAD_INPUT, e))?;
                s.access(e164.e164())
                    .await
                    .map_err(store_fail)?
                    .recipients
                    .into_iter()
                    .map(|(id, name, row)| serde_json::json!({ "mailing": id, "name": name, "row": row }))
                    .collect()
            };
            if rows.is_empty() {
                return Err(fail(exit::BAD_INPUT, "no such recipient"));
            }
            print_json(&serde_json::json!({ "recipients": rows }));
            Ok(0)
        }
        MailingCommand::CancelRecipient {
            store,
            reference,
            reason,
        } => {
            let (id, row) = client_reference(&reference)?;
            let s = open_store(&store, false).await?;
            if s.cancel_recipient(id, row, &reason)
                .await
                .map_err(store_fail)?
            {
                out!("{reference} cancelled");
                Ok(0)
            } else {
                let state = s
                    .recipient(id, row)
                    .await
                    .map_err(store_fail)?
                    .map_or("not in the store".to_owned(), |r| {
                        format!("already {}", r.state)
                    });
                Err(fail(
                    exit::BAD_INPUT,
                    format!("{reference} cannot be cancelled: {state}"),
                ))
            }
        }
        MailingCommand::Reschedule { mailing, send_at } => {
            let at =
                if send_at == "now" {
                    None
                } else {
                    Some(send_at.parse::<jiff::Timestamp>().map_err(|e| {
                        fail(exit::BAD_INPUT, format!("--send-at {send_at:?}: {e}"))
                    })?)
                };
            let s = open_store(&mailing.store, false).await?;
            s.reschedule(mailing.id, at).await.map_err(|e| {
                if e.kind() == crm_comms::store::StoreErrorKind::Invalid {
                    fail(exit::BAD_INPUT, e)
                } else {
                    store_fail(e)
                }
            })?;
            match at {
                Some(t) => out!("mailing {} sends from {t}", mailing.id),
                None => out!("mailing {} sends at once", mailing.id),
            }
            Ok(0)
        }
        MailingCommand::Status(m) => {
            let outbox = open(&m.store).await?;
            let stats = outbox.stats(m.id).await.map_err(store_fail)?;
            print_stats(json, m.id, &stats);
            Ok(0)
        }
        MailingCommand::Export(m) => {
            let outbox = open(&m.store).await?;
            outbox.stats(m.id).await.map_err(store_fail)?;
            let mut after = 0;
            let mut header = true;
            loop {
                let rows = outbox.rows(m.id, after, 10_000).await.map_err(store_fail)?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                let mut buf = Vec::new();
                write_rows(&mut buf, &rows, header).map_err(store_fail)?;
                header = false;
                // To a terminal, control characters are escaped; to a file
                // or a pipe the data stays exact (formulas are neutralised
                // either way).
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    buf = crate::terminal_safe(&String::from_utf8_lossy(&buf))
                        .into_owned()
                        .into_bytes();
                }
                let mut stdout = std::io::stdout().lock();
                if let Err(e) = stdout.write_all(&buf).and_then(|()| stdout.flush()) {
                    closed_stdout(e);
                }
            }
            if header {
                let mut buf = Vec::new();
                write_rows(&mut buf, &[], true).map_err(store_fail)?;
                let mut stdout = std::io::stdout().lock();
                if let Err(e) = stdout.write_all(&buf) {
                    closed_stdout(e);
                }
            }
            Ok(0)
        }
        MailingCommand::Pause(m) => set_status(json, &m, MailingStatus::Paused).await,
        MailingCommand::Resume(m) => set_status(json, &m, MailingStatus::Active).await,
        MailingCommand::Cancel(m) => set_status(json, &m, MailingStatus::Cancelled).await,
    }
}

/// The shared rate limit's key: one per gateway account.
fn settings_key(settings: &SmsSettings) -> String {
    format!(
        "{:?}:{}:{}",
        settings.provider,
        settings
            .service_id()
            .map(|n| n.to_string())
            .unwrap_or_default(),
        settings.user_name.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase()
}

async fn set_status(json: bool, m: &MailingArg, status: MailingStatus) -> Result<u8, Fail> {
    let outbox = open(&m.store).await?;
    outbox.set_status(m.id, status).await.map_err(|e| {
        fail(
            if e.kind() == crm_comms::store::StoreErrorKind::Invalid {
                exit::BAD_INPUT
            } else {
                exit::FAILURE
            },
            e,
        )
    })?;
    let stats = outbox.stats(m.id).await.map_err(store_fail)?;
    print_stats(json, m.id, &stats);
    Ok(0)
}

/// `mailing send`'s exit status, said on stderr when it is not 0: 5 when
/// some recipients ended unknown (the gateway may have them), 4 when some
/// were refused, 130 when stopped by a signal before the end, else 0.
/// The dry run's parts per country and encoding, with their cost when
/// prices were given, and what smart encoding saves (or would).
fn print_costs(dry: &DryRun, cost: Option<&Cost>, smart_on: bool) {
    match cost {
        Some(cost) => {
            for l in &cost.lines {
                let p = &l.parts;
                let priced = match (l.price, l.cost) {
                    (Some(price), Some(c)) => format!("× {price} = {c}"),
                    _ => "(no price given)".to_owned(),
                };
                out!(
                    "  {} {}: {} recipient(s), {} parts {priced}",
                    p.region,
                    p.encoding,
                    p.recipients,
                    p.parts
                );
            }
            out!("cost: {}", cost.total);
            if cost.unpriced_parts > 0 {
                out!(
                    "  (not counted: {} parts to countries without a price)",
                    cost.unpriced_parts
                );
            }
        }
        None => {
            for p in &dry.by_country {
                out!(
                    "  {} {}: {} recipient(s), {} parts",
                    p.region,
                    p.encoding,
                    p.recipients,
                    p.parts
                );
            }
        }
    }
    if dry.smart_recipients > 0 {
        if smart_on {
            out!(
                "smart encoding: {} parts saved on {} recipient(s)",
                dry.smart_parts,
                dry.smart_recipients
            );
        } else {
            out!(
                "smart encoding would save {} parts on {} recipient(s) (--smart-encoding)",
                dry.smart_parts,
                dry.smart_recipients
            );
        }
    }
}

fn send_status(end: &RunEnd, stats: &crm_comms::mailing::Stats) -> u8 {
    use crm_comms::mailing::RecipientState;
    let unknown = stats.count(RecipientState::Unknown);
    let failed = stats.count(RecipientState::Failed);
    if unknown > 0 {
        eprintln!(
            "crm-comms: {unknown} recipient(s) ended unknown: the gateway may have them; see `mailing export` (exit 5)"
        );
        return exit::UNKNOWN;
    }
    if failed > 0 {
        eprintln!(
            "crm-comms: {failed} recipient(s) were refused by the gateway; see `mailing export` (exit 4)"
        );
        return exit::REJECTED;
    }
    if *end == RunEnd::Stopped {
        eprintln!(
            "crm-comms: stopped before the end; run `mailing send` again to carry on (exit 130)"
        );
        return exit::STOPPED;
    }
    0
}

/// Feeds what a prepared recipient stores into `h` (the two passes over a
/// recipients file must read the same).
fn fingerprint(h: &mut std::hash::DefaultHasher, p: &crm_comms::mailing::Prepared) {
    use std::hash::Hash;
    p.number.hash(h);
    p.text.hash(h);
    p.line.hash(h);
    p.blocked.as_ref().map(ToString::to_string).hash(h);
}
