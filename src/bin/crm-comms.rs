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
use crm_comms::testing::intelecom_emulator::IntelecomEmulator;
use crm_comms::testing::pswincom_emulator::PswincomEmulator;

/// `println!` that ends the process quietly when stdout is closed
/// (`crm-comms … | head -n1`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        if let Err(e) = emit(&format!($($arg)*)) {
            closed_stdout(e)
        }
    };
}

/// Writes one line to stdout and flushes it.
fn emit(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

fn closed_stdout(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(i32::from(exit::FAILURE));
}

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
}

const EXIT_CODES: &str = "\
Exit status: 0 success; 1 other failure (unreadable file, port in use);
2 bad input (number, format, arguments); 3 SMS settings missing or invalid;
4 the gateway refused (or a text exceeds the limit); 5 no clear answer, the
message may have been sent.";

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
    /// Run a loopback gateway emulator and print what it receives.
    #[command(
        after_help = "Example:\n  crm-comms emulate pswincom --listen 127.0.0.1:8025 --user crm --password secret"
    )]
    Emulate(EmulateArgs),
    /// Run the webhook receiver and print each incoming SMS and delivery
    /// report as one JSON line.
    #[command(
        after_help = "Example:\n  crm-comms receive --listen 127.0.0.1:8080 --secret s3cret\n\nRoutes: /intelecom/mo, /intelecom/dr, /pswincom/mo, /pswincom/dr.\nThe secret is accepted in the X-API-Key header or the `secret` query parameter."
    )]
    Receive(ReceiveArgs),
}

#[derive(Subcommand)]
enum SmsCommand {
    /// Send a test SMS with the CRM's SMS settings (TOML or JSON file).
    #[command(
        after_help = "Example:\n  crm-comms sms test --settings sms.toml --to \"+47 41 00 00 00\" --to 41000001\n\nA `base_url` in the file replaces the gateway's real host; a plain http:// URL\nalso needs `allow_insecure_http = true`."
    )]
    Test {
        /// The settings file (`.toml`, else JSON).
        #[arg(long)]
        settings: PathBuf,
        /// A number to send to (repeat for several).
        #[arg(long, required = true)]
        to: Vec<String>,
        /// The text (default: the library's test text).
        #[arg(long)]
        text: Option<String>,
    },
    /// Show the encoding, parts and characters left of a text.
    #[command(
        after_help = "Example:\n  crm-comms sms preview --text \"Hei på deg 😀\" --provider pswincom"
    )]
    Preview {
        /// The text.
        #[arg(long)]
        text: String,
        /// Whose limits apply.
        #[arg(long, value_enum, default_value_t = Gateway::Intelecom)]
        provider: Gateway,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Gateway {
    Intelecom,
    Pswincom,
}

#[derive(Subcommand)]
enum LinkCommand {
    /// Render a phone link format for numbers.
    #[command(
        after_help = "Example:\n  crm-comms link render --format 'domycall:%p?company={cuid}' --number '22 33 44 55' --country NO --var cuid=4711"
    )]
    Render {
        /// The phone link format (`tel:%p`, `callto:%p`, `domycall:%p?c={cuid}`).
        #[arg(long)]
        format: String,
        /// A number as typed (repeat for several).
        #[arg(long, required = true)]
        number: Vec<String>,
        /// The default country for numbers typed without one (`NO` or `47`).
        #[arg(long)]
        country: Option<String>,
        /// A template variable (repeat for several).
        #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Write the `.reg` file that registers a protocol handler on Windows.
    #[command(
        after_help = "Example:\n  crm-comms link reg --scheme domycall --exe 'C:\\Program Files\\DoMyCall\\dial.exe'"
    )]
    Reg {
        /// The URI scheme.
        #[arg(long)]
        scheme: String,
        /// The handler's executable.
        #[arg(long)]
        exe: String,
    },
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[derive(Subcommand)]
enum PrefsCommand {
    /// Resolve a preference and say where the value came from.
    #[command(
        after_help = "Example:\n  crm-comms prefs get --store prefs.toml --section Phone --key PhoneLinkFormat --user 7 --group 3 --explain"
    )]
    Get {
        /// The preference store (`.toml`, else JSON).
        #[arg(long)]
        store: PathBuf,
        /// The section.
        #[arg(long)]
        section: String,
        /// The key.
        #[arg(long)]
        key: String,
        /// The user's id.
        #[arg(long)]
        user: Option<u32>,
        /// The user's group id.
        #[arg(long)]
        group: Option<u32>,
        /// The database id.
        #[arg(long)]
        database: Option<u32>,
        /// Show every level considered.
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Args)]
struct EmulateArgs {
    /// Which gateway.
    #[arg(value_enum)]
    gateway: Gateway,
    /// Where to listen (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The user name it accepts.
    #[arg(long, default_value = "crm")]
    user: String,
    /// The password it accepts.
    #[arg(long, default_value = "secret")]
    password: String,
    /// Intelecom's service ID.
    #[arg(long, default_value_t = 1000)]
    service_id: i64,
}

/// Where `receive` takes its callback secret from (never the command line,
/// which every user of the machine can read in `/proc`).
const SECRET_ENV: &str = "CRM_COMMS_CALLBACK_SECRET";

#[derive(Args)]
struct ReceiveArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Read the callback secret (X-API-Key header or `secret` query
    /// parameter) from this file's first line. Without it, the secret comes
    /// from the environment variable `CRM_COMMS_CALLBACK_SECRET`.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// Not accepted: a secret on the command line is visible to every user
    /// of the machine.
    #[arg(long, hide = true)]
    secret: Option<String>,
    /// Accept pushes without any secret (anyone who can reach the port can
    /// post fake messages). Only for a loopback test.
    #[arg(long)]
    dangerous_no_secret: bool,
    /// The largest body accepted, in bytes (a vendor-sized push of 10,000
    /// delivery reports is about 3 MB).
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Seconds a client may take to send a request's head.
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_HEADER_TIMEOUT.as_secs_f64())]
    header_timeout: f64,
    /// Seconds a client may take to send a body.
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_BODY_TIMEOUT.as_secs_f64())]
    body_timeout: f64,
    /// Seconds a connection may sit without a request.
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_IDLE_TIMEOUT.as_secs_f64())]
    idle_timeout: f64,
    /// The most connections served at once; more are closed at once.
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds pushes in flight get to finish on SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_SHUTDOWN_GRACE.as_secs_f64())]
    shutdown_grace: f64,
    /// Append each unreadable pushed entry here as a JSON line (reason and
    /// raw entry); `-` is stderr.
    #[arg(long, value_name = "PATH", default_value = "-")]
    malformed: PathBuf,
}

/// A failure: the exit status and a one-line message.
struct Fail(u8, String);

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
    eprintln!("error: {}", f.1);
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
        Command::Emulate(args) => emulate(json, args).await,
        Command::Receive(args) => receive(args).await,
    }
}

async fn sms_test(
    json: bool,
    path: &std::path::Path,
    to: &[String],
    text: Option<&str>,
) -> Result<u8, Fail> {
    let settings = SmsSettings::load(path).map_err(|e| fail(exit::SETTINGS, e))?;
    settings.validate().map_err(|e| fail(exit::SETTINGS, e))?;
    let provider = settings
        .build_provider()
        .map_err(|e| fail(exit::SETTINGS, e))?;
    let bar = (to.len() > 1 && !json).then(|| {
        let bar = indicatif::ProgressBar::new(to.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} test SMS sent {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut results: Vec<(&str, Diagnosis)> = Vec::with_capacity(to.len());
    for number in to {
        let d = settings
            .send_test_sms_via(provider.as_ref(), number, text)
            .await;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        results.push((number, d));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let code = if results.iter().all(|(_, d)| d.is_accepted()) {
        0
    } else if results
        .iter()
        .any(|(_, d)| matches!(d, Diagnosis::SettingsInvalid(_)))
    {
        exit::SETTINGS
    } else if results.iter().any(|(_, d)| d.is_unknown()) {
        exit::UNKNOWN
    } else if results
        .iter()
        .all(|(_, d)| d.is_accepted() || matches!(d, Diagnosis::NumberInvalid(_)))
    {
        exit::BAD_INPUT
    } else {
        exit::REJECTED
    };
    if json {
        print_json(&serde_json::json!({
            "provider": provider.name(),
            "results": results
                .iter()
                .map(|(to, d)| serde_json::json!({ "to": to, "diagnosis": d }))
                .collect::<Vec<_>>(),
            "all_accepted": code == 0,
        }));
    } else {
        out!("provider: {}", provider.name());
        for (to, d) in &results {
            out!("{to}: {d}");
        }
    }
    Ok(code)
}

fn sms_preview(json: bool, text: &str, provider: Gateway) -> u8 {
    let limits = match provider {
        Gateway::Intelecom => crm_comms::intelecom::LIMITS,
        Gateway::Pswincom => crm_comms::pswincom::LIMITS,
    };
    let p = preview(text, &limits);
    if json {
        print_json(&serde_json::json!({
            "preview": p,
            "exceeds_limit": p.exceeds_limit(),
        }));
    } else {
        out!("encoding: {}", p.encoding);
        out!("characters: {}", p.characters);
        out!("units: {} of at most {}", p.units, p.max_units);
        out!("parts: {}", p.parts);
        out!("left in this part: {}", p.remaining_in_part);
        if !p.forced_ucs2_by.is_empty() {
            let chars: Vec<String> = p.forced_ucs2_by.iter().map(|c| format!("{c:?}")).collect();
            out!("Unicode because of: {}", chars.join(" "));
        }
        out!(
            "limit: {}",
            if p.exceeds_limit() {
                "exceeded"
            } else {
                "within"
            }
        );
    }
    if p.exceeds_limit() { exit::REJECTED } else { 0 }
}

fn link_render(
    json: bool,
    format: &str,
    numbers: &[String],
    country: Option<&str>,
    vars: &[(String, String)],
) -> Result<u8, Fail> {
    let bad = |e: &dyn std::fmt::Display| fail(exit::BAD_INPUT, e);
    let format: PhoneLinkFormat = format.parse().map_err(|e| bad(&e))?;
    let country: Option<DefaultCountry> =
        country.map(str::parse).transpose().map_err(|e| bad(&e))?;
    let numbers = numbers
        .iter()
        .map(|n| PhoneNumber::parse(n, country.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let links = format
        .render_all(&numbers, vars.as_slice())
        .map_err(|e| bad(&e))?;
    if json {
        print_json(&serde_json::json!({
            "format": format.to_string(),
            "links": links.iter().map(crm_comms::links::PhoneLink::as_str).collect::<Vec<_>>(),
        }));
    } else {
        for l in &links {
            out!("{l}");
        }
    }
    Ok(0)
}

fn link_reg(json: bool, scheme: &str, exe: &str) -> Result<u8, Fail> {
    let reg = WindowsRegistration::new(scheme, exe)
        .build()
        .map_err(|e| fail(exit::BAD_INPUT, e))?;
    let text = reg.to_reg_text();
    if json {
        print_json(&serde_json::json!({ "reg": text }));
    } else {
        print!("{text}");
    }
    Ok(0)
}

fn prefs_get(
    json: bool,
    path: &std::path::Path,
    section: &str,
    key: &str,
    ctx: &Context,
    explain: bool,
) -> Result<u8, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            exit::FAILURE,
            format!("{} cannot be read: {e}", path.display()),
        )
    })?;
    let toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let prefs = if toml {
        Preferences::from_toml_str(&text)
    } else {
        Preferences::from_json_str(&text)
    }
    .map_err(|e| fail(exit::BAD_INPUT, format!("{}: {e}", path.display())))?;
    let snapshot = prefs.snapshot();
    let resolved = snapshot.get_str(ctx, section, key);
    let explanation = explain.then(|| snapshot.explain(ctx, section, key).to_string());
    if json {
        print_json(&serde_json::json!({
            "section": section,
            "key": key,
            "value": resolved.as_ref().map(crm_comms::prefs::Resolved::value),
            "origin": resolved.as_ref().map(|r| r.origin().to_string()),
            "locked_by": resolved.as_ref().and_then(crm_comms::prefs::Resolved::locked_by).map(|o| o.to_string()),
            "explain": explanation,
        }));
    } else {
        match &resolved {
            Some(r) => {
                out!("{}", r.value());
                out!("from: {}", r.origin());
                if let Some(l) = r.locked_by() {
                    out!("locked by: {l}");
                }
            }
            None => out!("(not set)"),
        }
        if let Some(e) = explanation {
            out!("{e}");
        }
    }
    Ok(if resolved.is_some() { 0 } else { exit::FAILURE })
}

/// One request an emulator got, as printed.
struct Seen {
    body: String,
    status: u16,
}

/// Either emulator, behind one shape.
enum Emulator {
    Intelecom(IntelecomEmulator),
    Pswincom(PswincomEmulator),
}

impl Emulator {
    fn url(&self) -> String {
        match self {
            Emulator::Intelecom(e) => e.base_url(),
            Emulator::Pswincom(e) => e.url(),
        }
    }

    fn seen(&self) -> u64 {
        match self {
            Emulator::Intelecom(e) => e.requests_seen(),
            Emulator::Pswincom(e) => e.requests_seen(),
        }
    }

    /// The last `n` requests.
    fn recent(&self, n: usize) -> Vec<Seen> {
        let all: Vec<Seen> = match self {
            Emulator::Intelecom(e) => e
                .received()
                .into_iter()
                .map(|r| Seen {
                    body: r.body,
                    status: r.status,
                })
                .collect(),
            Emulator::Pswincom(e) => e
                .received()
                .into_iter()
                .map(|r| Seen {
                    body: r.body,
                    status: r.status,
                })
                .collect(),
        };
        let skip = all.len().saturating_sub(n);
        all.into_iter().skip(skip).collect()
    }
}

async fn emulate(json: bool, args: EmulateArgs) -> Result<u8, Fail> {
    let gateway = match args.gateway {
        Gateway::Intelecom => "intelecom",
        Gateway::Pswincom => "pswincom",
    };
    let cannot = |e: std::io::Error| {
        fail(
            exit::FAILURE,
            format!("cannot listen on {}: {e}", args.listen),
        )
    };
    let emu = match args.gateway {
        Gateway::Intelecom => Emulator::Intelecom(
            IntelecomEmulator::start_on(args.listen, args.service_id, &args.user, &args.password)
                .await
                .map_err(cannot)?,
        ),
        Gateway::Pswincom => Emulator::Pswincom(
            PswincomEmulator::start_on(args.listen, &args.user, &args.password)
                .await
                .map_err(cannot)?,
        ),
    };
    let url = emu.url();
    if json {
        print_json(&serde_json::json!({ "gateway": gateway, "listening": url }));
    } else {
        out!(
            "{gateway} emulator listening on {url} (user {:?}; password masked in the log)",
            args.user
        );
    }
    flush();
    let mut printed = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = emu.seen();
        if now == printed {
            continue;
        }
        let new = usize::try_from(now - printed).unwrap_or(usize::MAX);
        for r in emu.recent(new) {
            if json {
                print_json(&serde_json::json!({
                    "gateway": gateway, "request": r.body, "answered": r.status,
                }));
            } else {
                out!("request: {}", r.body);
                out!("answered: HTTP {}", r.status);
            }
        }
        flush();
        printed = now;
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
}

/// The callback secret: from `--secret-file`, else the environment; `None`
/// only with `--dangerous-no-secret`.
fn callback_secret(args: &ReceiveArgs) -> Result<Option<String>, Fail> {
    if args.secret.is_some() {
        return Err(fail(
            exit::BAD_INPUT,
            format!(
                "--secret is not accepted (every user of the machine can read a command line); \
                 put the secret in {SECRET_ENV} or a file for --secret-file"
            ),
        ));
    }
    let secret = match &args.secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                fail(
                    exit::BAD_INPUT,
                    format!("{} cannot be read: {e}", path.display()),
                )
            })?;
            let first = text.lines().next().unwrap_or("").trim().to_owned();
            if first.is_empty() {
                return Err(fail(
                    exit::BAD_INPUT,
                    format!("{} holds no secret", path.display()),
                ));
            }
            Some(first)
        }
        None => std::env::var(SECRET_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty()),
    };
    match (secret, args.dangerous_no_secret) {
        (Some(_), true) => Err(fail(
            exit::BAD_INPUT,
            "--dangerous-no-secret with a secret: choose one",
        )),
        (Some(s), false) => Ok(Some(s)),
        (None, true) => {
            eprintln!(
                "warning: running WITHOUT a callback secret: anyone who can reach {} can post fake messages",
                args.listen
            );
            Ok(None)
        }
        (None, false) => Err(fail(
            exit::BAD_INPUT,
            format!(
                "no callback secret: set {SECRET_ENV} or pass --secret-file \
                 (or --dangerous-no-secret for a loopback test)"
            ),
        )),
    }
}

fn seconds(name: &str, value: f64) -> Result<Duration, Fail> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            fail(
                exit::BAD_INPUT,
                format!("--{name} must be a positive number of seconds"),
            )
        })
}

/// Where malformed entries are written, one JSON line each.
fn malformed_sink(path: &std::path::Path) -> Result<Box<dyn Write + Send>, Fail> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stderr()));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|f| Box::new(f) as Box<dyn Write + Send>)
        .map_err(|e| {
            fail(
                exit::FAILURE,
                format!("{} cannot be opened: {e}", path.display()),
            )
        })
}

/// Logs to stderr; `RUST_LOG` chooses what (default: warnings, and the
/// receiver's own notices).
fn install_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,crm_comms=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Completes on SIGTERM or Ctrl-C, or when stdout is closed.
async fn stop_signal(stdout_closed: std::sync::Arc<tokio::sync::Notify>) {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = stdout_closed.notified() => {}
    }
}

async fn receive(args: ReceiveArgs) -> Result<u8, Fail> {
    install_logging();
    let secret = callback_secret(&args)?;
    let stdout_closed = std::sync::Arc::new(tokio::sync::Notify::new());
    // A line that cannot be written is an error for the gateway (it
    // redelivers), and closing stdout stops the receiver.
    let printer = |closed: std::sync::Arc<tokio::sync::Notify>| {
        move |line: serde_json::Value| -> Result<(), HandlerError> {
            emit(&line.to_string()).map_err(|e| {
                closed.notify_one();
                HandlerError::new("stdout is closed").with_source(e)
            })
        }
    };
    let print_mo = {
        let print = printer(stdout_closed.clone());
        move |m: Routed| {
            let r = print(serde_json::json!({ "type": "mo", "message": m }));
            async move { r }
        }
    };
    let print_dr = {
        let print = printer(stdout_closed.clone());
        move |e: DeliveryEvent| {
            let r = print(serde_json::json!({ "type": "dr", "event": e }));
            async move { r }
        }
    };
    let sink = std::sync::Mutex::new(malformed_sink(&args.malformed)?);
    let report_malformed = move |m: crm_comms::receiver::MalformedEntry| {
        let line = serde_json::json!({
            "type": "malformed",
            "provider": m.provider,
            "kind": m.kind,
            "id": m.id,
            "entry": m.error.entry,
            "field": m.error.field,
            "reason": m.error.reason,
            "raw": m.error.raw,
        });
        let mut sink = sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if writeln!(sink, "{line}")
            .and_then(|()| sink.flush())
            .is_err()
        {
            tracing::error!(provider = m.provider, kind = m.kind, id = %m.id, error = %m.error,
                "an unreadable entry could not be written to the --malformed file");
        }
    };
    let mut builder = WebhookReceiver::builder(InboundRouter::new(print_mo), print_dr)
        .on_malformed(report_malformed)
        .max_body(args.max_body)
        .header_timeout(seconds("header-timeout", args.header_timeout)?)
        .body_timeout(seconds("body-timeout", args.body_timeout)?)
        .idle_timeout(seconds("idle-timeout", args.idle_timeout)?)
        .shutdown_grace(seconds("shutdown-grace", args.shutdown_grace)?)
        .max_connections(args.max_connections);
    if let Some(s) = &secret {
        builder = builder
            .secret_header("X-API-Key", s.as_str())
            .secret_query("secret", s.as_str());
    }
    let receiver = builder.build().map_err(|e| fail(exit::BAD_INPUT, e))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            fail(
                exit::FAILURE,
                format!("cannot listen on {}: {e}", args.listen),
            )
        })?;
    let addr = listener.local_addr().map_err(|e| fail(exit::FAILURE, e))?;
    print_json(&serde_json::json!({ "listening": format!("http://{addr}") }));
    receiver
        .serve_with_shutdown(listener, stop_signal(stdout_closed))
        .await
        .map_err(|e| fail(exit::FAILURE, e))?;
    tracing::info!("stopped");
    Ok(0)
}
