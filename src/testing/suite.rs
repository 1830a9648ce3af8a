//! What a conformance suite found: each rule by name, passed or failed
//! with what was seen. The provider suite
//! ([`conformance`](super::conformance)) and the store suites
//! ([`outbox_suite`](super::outbox_suite),
//! [`sent_store_suite`](super::sent_store_suite),
//! [`dedup_suite`](super::dedup_suite)) return one.
//!
//! Stable: this module follows semver.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;

/// What one run of a suite found.
///
/// Its `Display` is one line per rule (`ok`, `FAILED: what was seen`,
/// `not run: why`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SuiteReport {
    /// `(rule, Ok(()) or Err(what was seen))`, in the order run.
    pub rules: Vec<(&'static str, Result<(), String>)>,
    /// Rules that could not run with what the suite was given, and why
    /// (never silently: they are listed here and in `Display`).
    pub not_run: Vec<(&'static str, String)>,
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (rule, result) in &self.rules {
            match result {
                Ok(()) => writeln!(f, "ok       {rule}")?,
                Err(seen) => writeln!(f, "FAILED   {rule}: {seen}")?,
            }
        }
        for (rule, why) in &self.not_run {
            writeln!(f, "not run  {rule}: {why}")?;
        }
        Ok(())
    }
}

impl SuiteReport {
    /// Records that `rule` could not run, and why.
    pub fn not_run(&mut self, rule: &'static str, why: impl Into<String>) {
        self.not_run.push((rule, why.into()));
    }

    /// Whether every rule that ran passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.rules.iter().all(|(_, r)| r.is_ok())
    }

    /// Runs one rule: a panic inside it (an assertion, or the code under
    /// test) fails that rule with its message; the suite goes on.
    pub async fn rule(&mut self, name: &'static str, rule: impl Future<Output = ()>) {
        let outcome = std::panic::AssertUnwindSafe(rule).catch_unwind().await;
        self.rules.push((
            name,
            outcome.map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned())
            }),
        ));
    }

    /// The rules that failed, with what was seen.
    #[must_use]
    pub fn failures(&self) -> Vec<(&'static str, &str)> {
        self.rules
            .iter()
            .filter_map(|(r, res)| res.as_ref().err().map(|e| (*r, e.as_str())))
            .collect()
    }

    /// Panics naming every failed rule and what it saw (for tests).
    ///
    /// # Panics
    ///
    /// When any rule failed.
    pub fn assert_passes(&self) {
        let failed = self.failures();
        assert!(
            failed.is_empty(),
            "{} of {} rule(s) broken:\n{}",
            failed.len(),
            self.rules.len(),
            failed
                .iter()
                .map(|(r, e)| format!("- {r}: {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Everything logged through `tracing` while a future runs (all levels,
/// span fields included), for checking that no secret is logged.
#[derive(Clone, Default)]
pub(crate) struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Runs `fut` with every `tracing` event and span it makes written
    /// here (on the future's own task; tasks it spawns keep theirs).
    pub(crate) async fn run<T>(&self, fut: impl Future<Output = T>) -> T {
        use tracing::instrument::WithSubscriber;
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
            .finish();
        fut.with_subscriber(subscriber).await
    }

    /// What was logged, as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}
