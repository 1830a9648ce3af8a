//! `crm-comms receive`: the webhook receiver, each push one JSON line.

use super::*;

/// Where `receive` takes its callback secret from (never the command line,
/// which every user of the machine can read in `/proc`).
const SECRET_ENV: &str = "CRM_COMMS_CALLBACK_SECRET";

#[derive(Args)]
pub(crate) struct ReceiveArgs {
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
    /// Seconds a new connection may take to send its first byte (until it
    /// does, it takes no connection slot).
    #[arg(long, default_value_t = crm_comms::receiver::DEFAULT_FIRST_BYTE_TIMEOUT.as_secs_f64())]
    first_byte_timeout: f64,
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
    /// Apply what arrives to this mailing store (a SQLite file or a
    /// `postgres://` URL): delivery reports matched to their recipients,
    /// opt-out and opt-in keywords recorded (and logged), redeliveries
    /// remembered across restarts. Everything is still printed.
    #[arg(long, value_name = "STORE")]
    store: Option<String>,
    /// Serve metrics for Prometheus here (`127.0.0.1:9185`): reports by
    /// state and whether they matched a recipient.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// With `--store`: the opt-out keywords.
    #[arg(long, value_delimiter = ',', default_value = "STOPP,STOP,AVMELD,UNSUB")]
    stop_keywords: Vec<String>,
    /// With `--store`: the opt-in keywords.
    #[arg(long, value_delimiter = ',', default_value = "START")]
    start_keywords: Vec<String>,
}

/// A receiver that applies what arrives to `store`: reports matched to
/// recipients, consent keywords recorded, the store as dedup memory; each
/// push still printed through `print`.
fn store_receiver<S>(
    store: S,
    keywords: &crm_comms::mailing::ConsentKeywords,
    print_mo: impl Fn(Routed) -> std::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static,
    print: impl Fn(serde_json::Value) -> Result<(), HandlerError> + Send + Sync + Clone + 'static,
) -> crm_comms::receiver::ReceiverBuilder
where
    S: crm_comms::mailing::MailingStore + crm_comms::receiver::DedupStore + Clone + 'static,
{
    let shared = std::sync::Arc::new(store.clone());
    let consent_print = print.clone();
    let router = crm_comms::mailing::with_consent(
        InboundRouter::new(print_mo),
        shared.clone(),
        keywords,
        None,
        move |m: &Routed| {
            let _ = consent_print(serde_json::json!({ "type": "mo", "message": m }));
        },
    );
    let reports = crm_comms::mailing::reports_into(shared, move |e: DeliveryEvent, _| {
        let _ = print(serde_json::json!({ "type": "dr", "event": e }));
    });
    WebhookReceiver::builder(router, reports).dedup(store)
}

/// The callback secret: from `--secret-file`, else the environment; `None`
/// only with `--dangerous-no-secret`.
pub(crate) fn callback_secret(args: &ReceiveArgs) -> Result<Option<String>, Fail> {
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

pub(crate) fn seconds(name: &str, value: f64) -> Result<Duration, Fail> {
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
pub(crate) fn malformed_sink(path: &std::path::Path) -> Result<Box<dyn Write + Send>, Fail> {
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
pub(crate) fn install_logging() {
    install_logging_with("warn,crm_comms=info");
}

/// Logs to stderr; `RUST_LOG` chooses what, else `default`.
pub(crate) fn install_logging_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Completes on SIGTERM or Ctrl-C, or when stdout is closed.
pub(crate) async fn stop_signal(stdout_closed: std::sync::Arc<tokio::sync::Notify>) {
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

pub(crate) async fn receive(args: ReceiveArgs) -> Result<u8, Fail> {
    install_logging();
    let secret = callback_secret(&args)?;
    serve_metrics(args.metrics)?;
    let stdout_closed = std::sync::Arc::new(tokio::sync::Notify::new());
    // A line that cannot be written is an error for the gateway (it
    // redelivers), and closing stdout stops the receiver.
    let printer = |closed: std::sync::Arc<tokio::sync::Notify>| {
        move |line: serde_json::Value| -> Result<(), HandlerError> {
            emit(&line.to_string()).map_err(|e| {
                closed.notify_one();
                HandlerError::from(format!("stdout is closed: {e}"))
            })
        }
    };
    let print_mo = {
        let print = printer(stdout_closed.clone());
        move |m: Routed| {
            std::future::ready(print(serde_json::json!({ "type": "mo", "message": m })))
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
    let base = match &args.store {
        None => WebhookReceiver::builder(InboundRouter::new(print_mo), print_dr),
        Some(store) => {
            let stop: Vec<&str> = args.stop_keywords.iter().map(|k| k.trim()).collect();
            let start: Vec<&str> = args.start_keywords.iter().map(|k| k.trim()).collect();
            let keywords =
                crm_comms::mailing::ConsentKeywords::new(&stop, &start).map_err(|e| {
                    fail(
                        exit::BAD_INPUT,
                        format!("--stop-keywords/--start-keywords: {e}"),
                    )
                })?;
            let print = printer(stdout_closed.clone());
            if store.starts_with("postgres://") || store.starts_with("postgresql://") {
                let s = crm_comms::store::postgres::PgStore::connect(store)
                    .await
                    .map_err(|e| fail(exit::FAILURE, e))?;
                store_receiver(s, &keywords, print_mo, print)
            } else {
                let s = crm_comms::store::sqlite::SqliteStore::open_existing(store)
                    .await
                    .map_err(|e| fail(exit::FAILURE, e))?;
                store_receiver(s, &keywords, print_mo, print)
            }
        }
    };
    let mut builder = base
        .on_malformed(report_malformed)
        .max_body(args.max_body)
        .header_timeout(seconds("header-timeout", args.header_timeout)?)
        .first_byte_timeout(seconds("first-byte-timeout", args.first_byte_timeout)?)
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
