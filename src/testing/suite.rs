//! What a conformance suite found: each rule by name, passed or failed
//! with what was seen. The store suites ([`outbox_suite`](super::outbox_suite),
//! [`sent_store_suite`](super::sent_store_suite),
//! [`dedup_suite`](super::dedup_suite)) return one.

use std::future::Future;

use futures_util::FutureExt;

/// What one run of a suite found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SuiteReport {
    /// `(rule, Ok(()) or Err(what was seen))`, in the order run.
    pub rules: Vec<(&'static str, Result<(), String>)>,
}

impl SuiteReport {
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
