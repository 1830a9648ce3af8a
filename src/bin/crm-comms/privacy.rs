//! `crm-comms privacy`: consent and personal data in a mailing store — the
//! opt-out list and its log, erasure, access, and the retention purge.

use crm_comms::mailing::{ConsentAction, ConsentEntry};

use super::*;

#[derive(Subcommand)]
pub(crate) enum PrivacyCommand {
    /// Put a number on the opt-out list (logged with `--via`).
    OptOut(ConsentArgs),
    /// Take a number off the opt-out list (and off the suppression list),
    /// logged.
    OptIn(ConsentArgs),
    /// Who opted out or in, when, and by which message (newest first).
    Log {
        #[command(flatten)]
        store: StoreArg,
        /// Only this number (read with `--country` when national).
        #[arg(long)]
        number: Option<String>,
        /// The country of a national number (`NO`).
        #[arg(long, default_value = "NO")]
        country: String,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Erase a number from every table of the store (GDPR art. 17); an
    /// opted-out number leaves only a keyed hash, which still blocks it.
    Erase(NumberArgs),
    /// Everything the store keeps about a number, as JSON (GDPR art. 15).
    Access(NumberArgs),
    /// Remove finished mailings older than `--days`, with their recipients
    /// (in short transactions).
    Purge {
        #[command(flatten)]
        store: StoreArg,
        /// Keep mailings younger than this many days.
        #[arg(long)]
        days: u32,
    },
}

#[derive(Args)]
pub(crate) struct NumberArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The number, as typed (read with `--country` when national).
    #[arg(long)]
    number: String,
    /// The country of a national number (`NO`).
    #[arg(long, default_value = "NO")]
    country: String,
}

#[derive(Args)]
pub(crate) struct ConsentArgs {
    #[command(flatten)]
    number: NumberArgs,
    /// How the consent was given or withdrawn, for the log (`phone call`,
    /// `web form`, …).
    #[arg(long, default_value = "cli")]
    via: String,
}

fn e164(args: &NumberArgs) -> Result<String, Fail> {
    e164_of(&args.number, &args.country)
}

/// `number` as typed, in E.164 (`country` for a national one).
fn e164_of(number: &str, country: &str) -> Result<String, Fail> {
    let country: DefaultCountry = country.parse().map_err(|e| fail(exit::BAD_INPUT, e))?;
    PhoneNumber::parse(number, Some(&country))
        .map(|n| n.e164().to_owned())
        .map_err(|e| fail(exit::BAD_INPUT, e))
}

pub(crate) async fn privacy(json: bool, command: PrivacyCommand) -> Result<u8, Fail> {
    match command {
        PrivacyCommand::OptOut(a) | PrivacyCommand::OptIn(a) if a.via.trim().is_empty() => {
            Err(fail(exit::BAD_INPUT, "--via: say how"))
        }
        PrivacyCommand::OptOut(a) => consent(json, &a, ConsentAction::OptOut).await,
        PrivacyCommand::OptIn(a) => consent(json, &a, ConsentAction::OptIn).await,
        PrivacyCommand::Log {
            store,
            number,
            country,
            limit,
        } => {
            let number = number.map(|n| e164_of(&n, &country)).transpose()?;
            let s = open_store(&store, false).await?;
            let log = s
                .consent_log(number.as_deref(), limit)
                .await
                .map_err(|e| fail(exit::FAILURE, e))?;
            if json {
                print_json(&serde_json::json!({ "consent": log }));
            } else {
                for e in &log {
                    out!(
                        "{} {} {} via {}{}",
                        e.at,
                        e.number,
                        e.action.as_str(),
                        crate::terminal_safe(&e.via),
                        e.message
                            .as_deref()
                            .map(|m| format!(": {:?}", crate::terminal_safe(m)))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        PrivacyCommand::Erase(a) => {
            let number = e164(&a)?;
            let s = open_store(&a.store, false).await?;
            let erased = s.erase(&number).await.map_err(|e| fail(exit::FAILURE, e))?;
            if json {
                print_json(&serde_json::json!({ "number": number, "erased": erased }));
            } else {
                out!(
                    "{number} erased: {} recipient row(s), {} kept report(s), {} sent record(s), {} consent entr(ies){}",
                    erased.recipients,
                    erased.kept_reports,
                    erased.sent_records,
                    erased.consent_entries,
                    if erased.suppressed {
                        "; it had opted out: only a keyed hash is kept, and it stays blocked"
                    } else {
                        ""
                    }
                );
            }
            Ok(0)
        }
        PrivacyCommand::Access(a) => {
            let number = e164(&a)?;
            let s = open_store(&a.store, false).await?;
            let record = s
                .access(&number)
                .await
                .map_err(|e| fail(exit::FAILURE, e))?;
            print_json(&serde_json::json!(record));
            Ok(0)
        }
        PrivacyCommand::Purge { store, days } => {
            let s = open_store(&store, false).await?;
            let purged = s
                .purge_finished(
                    std::time::Duration::from_secs(u64::from(days) * 86_400),
                    10_000,
                )
                .await
                .map_err(|e| fail(exit::FAILURE, e))?;
            if json {
                print_json(&serde_json::json!({ "purged": purged }));
            } else {
                out!(
                    "purged {} finished mailing(s) older than {days} days, {} recipient row(s)",
                    purged.mailings,
                    purged.recipients
                );
            }
            Ok(0)
        }
    }
}

async fn consent(json: bool, a: &ConsentArgs, action: ConsentAction) -> Result<u8, Fail> {
    let number = e164(&a.number)?;
    let s = open_store(&a.number.store, true).await?;
    let entry = ConsentEntry::now(&number, action, a.via.trim(), None);
    let changed = s
        .record_consent(&entry)
        .await
        .map_err(|e| fail(exit::FAILURE, e))?;
    if json {
        print_json(&serde_json::json!({ "number": number, "action": action, "changed": changed }));
    } else {
        let what = match (action, changed) {
            (ConsentAction::OptOut, true) => "is now on the opt-out list",
            (ConsentAction::OptOut, false) => "was already on the opt-out list",
            (_, true) => "is off the opt-out list",
            (_, false) => "was not on the opt-out list",
        };
        out!("{number} {what} (logged)");
    }
    Ok(0)
}
