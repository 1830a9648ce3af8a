//! SMS mailings: one personalised text to many recipients, sent durably.
//!
//! - [`Template`]: the text with the CRM's `{variables}` (the call links'
//!   reader), rendered as plain text.
//! - [`MailingSpec`], [`Recipient`], [`Preparer`]: each recipient's text
//!   rendered, its encoding and parts counted, or the recipient **blocked
//!   with the reason** (a missing variable, an invalid or duplicate number,
//!   the opt-out list) — never silently dropped; [`DryRun`] counts before
//!   anything is sent.
//! - [`Outbox`]: the store seam, one row per recipient, with the state
//!   machine that never sends a recipient twice (claim with a lease and an
//!   attempt number, *sending* written before the request, settle fenced by
//!   the attempt, recover after a crash). The in-memory store
//!   (`crate::store::memory`), the embedded SQLite store (feature
//!   `sqlite`) and the shared PostgreSQL store (feature `postgres`)
//!   implement it, and `testing::outbox_suite` is its contract.
//! - [`MailingRunner`]: claims, paces (messages or parts per second),
//!   sends many texts per request ([`SmsProvider::send_each`]) and
//!   settles, with back-off on 429/5xx.
//! - [`reports_into`], [`with_opt_out`]: the webhook receiver's delivery
//!   reports matched in the outbox (before or after the send settled), and
//!   `STOPP` replies put on the opt-out list.
//!
//! [`SmsProvider::send_each`]: crate::sms::SmsProvider::send_each

mod admin;
mod csv_io;
mod local_time;
pub mod model;
pub mod outbox;
mod privacy;
mod receiving;
mod run_error;
mod runner;
mod settle;
mod spec_error;
mod template;

pub(crate) use admin::started as admin_started;
pub use admin::{MailingAdmin, MailingListing, parse_client_reference};
pub use csv_io::{
    EXPORT_HEADER, MAX_FIELD_BYTES, RecipientReader, RecipientsError, read_recipients,
    spreadsheet_safe, write_rows,
};
pub use local_time::{
    DailyHours, Daytime, HOLIDAY_REGIONS, RecipientHours, easter_sunday, public_holiday,
    public_holidays, region_time_zones,
};
pub use model::{
    Amount, BlockReason, Cost, CostLine, CountryParts, DryRun, FrequencyCap, MailingId,
    MailingSpec, MailingStatus, PartPrices, Prepared, Preparer, Recipient, RecipientRow,
    RecipientState, SendWindow, Stats,
};
pub use outbox::{
    Claimed, HoldCheck, MatchedRow, Outbox, RESEND_MARGIN, RateTake, Recovered, ReportMatch,
    Settlement, resend_horizon,
};
pub use privacy::{
    ConsentAction, ConsentEntry, Erased, MailingStore, NumberRecord, Privacy, Purged,
    suppression_hash,
};
pub(crate) use privacy::{key_from_hex, privacy_key};
pub use receiving::{
    ConsentKeywords, DEFAULT_START_KEYWORDS, DEFAULT_STOP_KEYWORDS, OutboxReports, reports_into,
    with_consent, with_opt_out,
};
pub use run_error::RunError;
pub use runner::{MailingRunner, Pace, Progress, RunEnd};
pub use spec_error::{SpecError, SpecErrorKind};
pub use template::Template;
