//! What a mailing is: its settings, its recipients, and what becomes of
//! each of them.//!
//! `window.rs` holds the daily send window, `spec.rs` the mailing's
//! settings, `prepare.rs` a recipient's way from a CSV line to a row (or a
//! reason it is blocked) and the dry run, `cost.rs` prices per part and
//! what a dry run's parts cost, `frequency.rs` the cap across mailings, `state.rs` the states a
//! recipient and a mailing go through and their counts.

use std::time::Duration;

mod cost;
mod frequency;
mod prepare;
mod spec;
mod state;
mod window;

pub use cost::{Amount, Cost, CostLine, CountryParts, PartPrices};
pub use frequency::FrequencyCap;
pub use prepare::{BlockReason, DryRun, Prepared, Preparer, Recipient};
pub use spec::MailingSpec;
pub use state::{MailingStatus, RecipientRow, RecipientState, Stats};
pub use window::SendWindow;

/// A mailing's number in its store: what `create` returned, never a
/// recipient's row number or any other count.
///
/// ```
/// use crm_comms::mailing::MailingId;
/// let id: MailingId = "42".parse().unwrap();
/// assert_eq!((id.get(), id.to_string()), (42, "42".to_owned()));
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MailingId(i64);

impl MailingId {
    /// The mailing numbered `n` in its store.
    #[must_use]
    pub const fn new(n: i64) -> Self {
        MailingId(n)
    }

    /// The number, as the store keeps it.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for MailingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for MailingId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(MailingId)
    }
}
/// How long a claim lasts without a heartbeat, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
