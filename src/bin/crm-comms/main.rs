//! `crm-comms`: the library's capabilities from the command line, for
//! administrators ("does my SMS setup work?") and integrators (try a
//! gateway, a link format or a preference store without writing code).
//!
//! A thin shell: every decision is the library's.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use crm_comms::links::{PhoneLinkFormat, WindowsRegistration};
use crm_comms::phone::{DefaultCountry, PhoneNumber};
use crm_comms::prefs::{Context, Preferences};
use crm_comms::receiver::WebhookReceiver;
use crm_comms::settings::{Diagnosis, SmsSettings};
use crm_comms::sms::encoding::preview;
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::tracking::DeliveryEvent;
use crm_comms::testing::intelecom_emulator::{IntelecomEmulator, IntelecomWire};
use crm_comms::testing::pswincom_emulator::{PswincomEmulator, PswincomWire};

/// `println!` that ends the process quietly when stdout is closed
/// (`crm-comms … | head -n1`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        if let Err(e) = emit(&format!($($arg)*)) {
            closed_stdout(e)
        }
    };
}

/// Writes one line to stdout and flushes it, with its control characters
/// escaped (a number or a name from a hostile CSV must not clear the
/// screen or retitle the window).
fn emit(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", terminal_safe(line))?;
    stdout.flush()
}

/// `text` with every control character but line feed and tab written as
/// `\u{…}` (ESC, BEL, CR, C1 controls, DEL), so nothing in it is a
/// terminal command.
pub(crate) fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\t') {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn closed_stdout(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(i32::from(exit::FAILURE));
}

// After `out!`, so the subcommands can use it.
mod emulate;
mod link;
mod mailing;
mod prefs;
mod privacy;
mod receive;
mod sms;

use emulate::*;
use link::*;
use mailing::*;
use prefs::*;
use privacy::*;
use receive::*;
use sms::*;

/// Exit statuses, for scripts.
mod exit {
    /// Something else went wrong (a file that cannot be read, a port in use).
    pub const FAILURE: u8 = 1;
    /// Bad input: a bad number, format or argument.
    pub const BAD_INPUT: u8 = 2;
    /// The SMS settings are missing or invalid.
    pub const SETTINGS: u8 = 3;
    /// The gateway refused (or the text exceeds its limit).
    pub const REJECTED: u8 = 4;
    /// No clear answer: the gateway may have taken the message.
    pub const UNKNOWN: u8 = 5;
    /// Stopped by SIGTERM or Ctrl-C before the end (`mailing send`: what
    /// was in flight is settled; run it again to carry on).
    pub const STOPPED: u8 = 130;
}

const EXIT_CODES: &str = "\
Exit status: 0 success; 1 other failure (unreadable file, port in use);
2 bad input (number, format, arguments); 3 SMS settings missing or invalid;
4 the gateway refused (or a text exceeds the limit); 5 no clear answer, the
message may have been sent. `mailing send`: 0 when every ready recipient
was accepted, 4 when some were refused, 5 when some ended unknown, 130
when stopped by SIGTERM/Ctrl-C (what was in flight is settled).";

#[derive(Parser)]
#[command(
    name = "crm-comms",
    version,
    about = "SMS gateways, call links and layered preferences for CRM backends",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Print JSON (one object, or one object per line for running servers).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send test SMS and preview texts.
    #[command(
        subcommand,
        after_help = "Example:\n  crm-comms sms test --settings sms.toml --to \"+47 41 00 00 00\""
    )]
    Sms(SmsCommand),
    /// Render call links and write protocol-handler registrations.
    #[command(
        subcommand,
        after_help = "Example:\n  crm-comms link render --format tel:%p --number \"22 33 44 55\" --country NO"
    )]
    Link(LinkCommand),
    /// Read layered preferences.
    #[command(
        subcommand,
        after_help = "Example:\n  crm-comms prefs get --store prefs.toml --section Phone --key PhoneLinkFormat --user 7"
    )]
    Prefs(PrefsCommand),
    /// SMS mailings on the embedded store: create from CSV, send (paced,
    /// resumable), status, export, pause, resume, cancel.
    #[command(
        subcommand,
        after_help = "Example:\n  crm-comms mailing create --store crm.db --settings sms.toml --recipients contacts.csv --text 'Hei {firstname}'\n  crm-comms mailing send --store crm.db --settings sms.toml --id 1"
    )]
    Mailing(MailingCommand),
    /// Consent and personal data in a mailing store: opt-out and opt-in
    /// (logged), the consent log, erasure, access, the retention purge.
    #[command(
        subcommand,
        after_help = "Example:\n  crm-comms privacy erase --store crm.db --number '41 00 00 01'\n  crm-comms privacy purge --store crm.db --days 90"
    )]
    Privacy(PrivacyCommand),
    /// Run a loopback gateway emulator and print what it receives.
    #[command(
        after_help = "Example:\n  crm-comms emulate pswincom --listen 127.0.0.1:8025 --user crm --password secret"
    )]
    Emulate(EmulateArgs),
    /// Run the webhook receiver and print each incoming SMS and delivery
    /// report as one JSON line; with `--store`, also apply them to a
    /// mailing store (reports on their recipients, STOPP/START recorded).
    #[command(
        after_help = "Example:\n  crm-comms receive --listen 127.0.0.1:8080 --secret-file /etc/crm-comms/callback-secret --store crm.db\n\nRoutes: /intelecom/mo, /intelecom/dr, /pswincom/mo, /pswincom/dr.\nThe secret (from --secret-file or CRM_COMMS_CALLBACK_SECRET) is accepted in the X-API-Key header or the `secret` query parameter."
    )]
    Receive(ReceiveArgs),
}

/// A failure: the exit status and a one-line message.
struct Fail(u8, String);

/// Serves the crate's metrics (`crm_comms_…`) for Prometheus to scrape at
/// `addr`, when given.
fn serve_metrics(addr: Option<SocketAddr>) -> Result<(), Fail> {
    if let Some(addr) = addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| fail(exit::FAILURE, format!("--metrics {addr}: {e}")))?;
    }
    Ok(())
}

fn fail(code: u8, message: impl std::fmt::Display) -> Fail {
    Fail(code, message.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(Fail(exit::FAILURE, format!("cannot start: {e}"))),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => report(f),
    }
}

fn report(f: Fail) -> ExitCode {
    eprintln!("error: {}", terminal_safe(&f.1));
    ExitCode::from(f.0)
}

/// Prints a JSON value as one line.
fn print_json(value: &serde_json::Value) {
    out!("{value}");
}

async fn run(cli: Cli) -> Result<u8, Fail> {
    let json = cli.json;
    match cli.command {
        Command::Sms(SmsCommand::Test { settings, to, text }) => {
            sms_test(json, &settings, &to, text.as_deref()).await
        }
        Command::Sms(SmsCommand::Preview { text, provider }) => {
            Ok(sms_preview(json, &text, provider))
        }
        Command::Link(LinkCommand::Render {
            format,
            number,
            country,
            vars,
        }) => link_render(json, &format, &number, country.as_deref(), &vars),
        Command::Link(LinkCommand::Reg { scheme, exe }) => link_reg(json, &scheme, &exe),
        Command::Prefs(PrefsCommand::Get {
            store,
            section,
            key,
            user,
            group,
            database,
            explain,
        }) => {
            let ctx = {
                let mut c = user.map_or_else(Context::system, Context::user);
                if let Some(g) = group {
                    c = c.in_group(g);
                }
                if let Some(d) = database {
                    c = c.in_database(d);
                }
                c
            };
            prefs_get(json, &store, &section, &key, &ctx, explain)
        }
        Command::Mailing(command) => mailing(json, command).await,
        Command::Privacy(command) => privacy(json, command).await,
        Command::Emulate(args) => emulate(json, args).await,
        Command::Receive(args) => receive(args).await,
    }
}
