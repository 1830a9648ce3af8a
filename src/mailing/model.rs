//! What a mailing is: its settings, its recipients, and what becomes of
//! each of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

use super::{SpecError, SpecErrorKind, Template};
use crate::phone::{DefaultCountry, PhoneNumber, PhoneNumberType};
use crate::sms::encoding::{Encoding, Limits, preview};
use crate::sms::{Priority, Sender};

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

/// A daily window in a time zone in which a mailing may send (the CRM
/// sends marketing SMS 08:00–21:00 local time); outside it, sending waits
/// for the next opening. Written `08:00-21:00 Europe/Oslo`.
///
/// ```
/// use crm_comms::mailing::SendWindow;
///
/// let w: SendWindow = "08:00-21:00 Europe/Oslo".parse()?;
/// // 22:30 in Oslo in winter (UTC+1): closed until 08:00 the next morning.
/// let at = "2026-12-02T21:30:00Z".parse()?;
/// assert_eq!(w.next_opening(at).unwrap().to_string(), "2026-12-03T07:00:00Z");
/// // 12:00 in Oslo: open.
/// assert_eq!(w.next_opening("2026-12-02T11:00:00Z".parse()?), None);
/// assert_eq!(w.to_string(), "08:00-21:00 Europe/Oslo");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendWindow {
    start: Time,
    end: Time,
    zone_name: String,
    zone: TimeZone,
}

impl SendWindow {
    /// The window `start`–`end` (local times, `start` before `end`) in
    /// the IANA zone `zone` (`Europe/Oslo`), from the bundled time-zone
    /// database.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] of kind [`SpecErrorKind::SendWindow`]: an unknown
    /// zone, or `start` not before `end`.
    pub fn new(start: Time, end: Time, zone: &str) -> Result<Self, SpecError> {
        let bad = |m: String| SpecError::new(SpecErrorKind::SendWindow, m);
        let tz = TimeZone::get(zone)
            .map_err(|_| bad(format!("send window: unknown time zone {zone:?}")))?;
        if start >= end {
            return Err(bad(format!("send window: {start} is not before {end}")));
        }
        Ok(SendWindow {
            start,
            end,
            zone_name: zone.to_owned(),
            zone: tz,
        })
    }

    /// When the window next opens after `now`, or `None` while it is open.
    #[must_use]
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let local = now.to_zoned_datetime(self.zone.clone());
        let t = local.time();
        if t >= self.start && t < self.end {
            return None;
        }
        let mut day = local.date();
        if t >= self.end {
            day = day.tomorrow().ok()?;
        }
        day.to_datetime(self.start)
            .to_zoned_datetime(self.zone.clone())
            .ok()
            .map(|z| z.timestamp())
    }
}

impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} {}",
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M"),
            self.zone_name
        )
    }
}

impl fmt::Debug for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SendWindow({self})")
    }
}

impl std::str::FromStr for SendWindow {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            SpecError::new(
                SpecErrorKind::SendWindow,
                format!("send window {s:?}: write it as `08:00-21:00 Europe/Oslo`"),
            )
        };
        let (times, zone) = s.trim().split_once(' ').ok_or_else(bad)?;
        let (a, b) = times.split_once('-').ok_or_else(bad)?;
        let time = |t: &str| Time::strptime("%H:%M", t.trim()).map_err(|_| bad());
        SendWindow::new(time(a)?, time(b)?, zone.trim())
    }
}

/// What is sent, to whom it is not, and when: everything about a mailing
/// but its recipients. Build it with [`MailingSpec::new`] and the `with_*`
/// methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MailingSpec {
    /// A name for people (shown in statistics).
    pub name: String,
    /// The text, with `{variables}`.
    pub template: Template,
    /// The sender; the provider's default when `None`.
    pub sender: Option<Sender>,
    /// The priority (default normal).
    pub priority: Priority,
    /// Whether delivery reports are asked for (default yes).
    pub delivery_report: bool,
    /// Send no earlier than this.
    pub send_at: Option<Timestamp>,
    /// Send only inside this daily window.
    pub window: Option<SendWindow>,
    /// One message per number (default yes): a number that appears again
    /// is blocked as a duplicate.
    pub one_per_number: bool,
    /// The country of numbers written without one (`NO`).
    pub default_country: Option<DefaultCountry>,
    /// Whether fixed-line numbers are sent to (default no: they are
    /// blocked as "not a mobile number", as are toll-free, premium-rate,
    /// shared-cost, universal-access and voicemail numbers). Allow them
    /// where the operator reads texts to landlines aloud. Decided when
    /// recipients are prepared; not stored with the mailing.
    pub allow_fixed_line: bool,
    /// The gateway's limits the parts are counted with (default: 6 parts of
    /// the standard sizes).
    pub limits: Limits,
}

impl MailingSpec {
    /// A mailing of `template` with the defaults above.
    #[must_use]
    pub fn new(name: impl Into<String>, template: Template) -> Self {
        MailingSpec {
            name: name.into(),
            template,
            sender: None,
            priority: Priority::default(),
            delivery_report: true,
            send_at: None,
            window: None,
            one_per_number: true,
            default_country: None,
            allow_fixed_line: false,
            limits: Limits::standard(6),
        }
    }

    /// With a sender.
    #[must_use]
    pub fn with_sender(mut self, sender: Sender) -> Self {
        self.sender = Some(sender);
        self
    }

    /// With a priority.
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Whether to ask for delivery reports.
    #[must_use]
    pub fn with_delivery_report(mut self, yes: bool) -> Self {
        self.delivery_report = yes;
        self
    }

    /// Sends no earlier than `at`.
    #[must_use]
    pub fn with_send_at(mut self, at: Timestamp) -> Self {
        self.send_at = Some(at);
        self
    }

    /// Sends only inside `window`.
    #[must_use]
    pub fn with_window(mut self, window: SendWindow) -> Self {
        self.window = Some(window);
        self
    }

    /// Whether a number may get the message once only (default yes).
    #[must_use]
    pub fn with_one_per_number(mut self, yes: bool) -> Self {
        self.one_per_number = yes;
        self
    }

    /// Whether fixed-line numbers are sent to (default no).
    #[must_use]
    pub fn with_fixed_lines_allowed(mut self, yes: bool) -> Self {
        self.allow_fixed_line = yes;
        self
    }

    /// Whether a number of this type is sent to: the types that can take
    /// an SMS ([`PhoneNumberType::can_receive_sms`]), and fixed lines when
    /// [`allow_fixed_line`](Self::allow_fixed_line) says so.
    #[must_use]
    pub fn sends_to(&self, kind: PhoneNumberType) -> bool {
        kind.can_receive_sms() || (self.allow_fixed_line && kind == PhoneNumberType::FixedLine)
    }

    /// The country of numbers written without one.
    #[must_use]
    pub fn with_default_country(mut self, country: DefaultCountry) -> Self {
        self.default_country = Some(country);
        self
    }

    /// The gateway's limits (the provider's `capabilities().limits`).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// When sending may start at `now` or later: `None` when it may start
    /// now.
    #[must_use]
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let from = match self.send_at {
            Some(at) if at > now => at,
            _ => now,
        };
        let opening = self
            .window
            .as_ref()
            .and_then(|w| w.next_opening(from))
            .unwrap_or(from);
        (opening > now).then_some(opening)
    }
}

/// One recipient as the CRM's selection or a CSV file gives it: the number
/// as typed and the values of the template's variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recipient {
    /// The number as typed.
    pub number: String,
    /// Variable values by lowercase name.
    pub variables: HashMap<String, String>,
    /// Where it came from (a CSV line), for reasons and the export.
    pub line: Option<u64>,
}

impl Recipient {
    /// A recipient with no variables.
    #[must_use]
    pub fn new(number: impl Into<String>) -> Self {
        Recipient {
            number: number.into(),
            ..Recipient::default()
        }
    }

    /// With the variable `name` (any case) set to `value`.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables
            .insert(name.to_ascii_lowercase(), value.into());
        self
    }
}

/// Why a recipient is not sent to. Blocked recipients are kept, with the
/// reason, and never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockReason {
    /// The template's variable has no value for this recipient (or only
    /// blanks: "Hei , …" is not sent).
    MissingVariable(String),
    /// The number cannot be read, or is in no range of its country (the
    /// parser's reason).
    InvalidNumber(String),
    /// The number is valid but of a kind that cannot take an SMS (a fixed
    /// line, unless the mailing allows those; toll-free, premium-rate,
    /// shared-cost, universal-access, voicemail).
    NotMobile(PhoneNumberType),
    /// The number already has this mailing ("one message per number"): on
    /// this line of the recipients, where known.
    Duplicate {
        /// The line of its first appearance.
        first_line: Option<u64>,
    },
    /// The number is on the opt-out list.
    OptedOut,
    /// The rendered text cannot be sent (too long for the gateway).
    TextTooLong(String),
    /// The rendered text has a control character no SMS carries (NUL and
    /// the other C0 controls but line breaks and tabs), usually from a
    /// broken import.
    ControlCharacter(char),
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::MissingVariable(n) => write!(f, "no value for {{{n}}}"),
            BlockReason::InvalidNumber(r) => write!(f, "invalid number: {r}"),
            BlockReason::NotMobile(kind) => write!(f, "not a mobile number ({kind})"),
            BlockReason::Duplicate { first_line: None } => {
                f.write_str("duplicate number (one message per number)")
            }
            BlockReason::Duplicate {
                first_line: Some(l),
            } => write!(
                f,
                "duplicate number (one message per number; first on line {l})"
            ),
            BlockReason::OptedOut => f.write_str("on the opt-out list"),
            BlockReason::TextTooLong(r) => write!(f, "text too long: {r}"),
            BlockReason::ControlCharacter(c) => {
                write!(
                    f,
                    "the text has the control character U+{:04X}",
                    u32::from(*c)
                )
            }
        }
    }
}

/// A recipient ready for the outbox: the number, the rendered text with
/// its encoding and part count, or why it is blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prepared {
    /// The number in E.164 when it could be read, else as typed (masked
    /// in logs).
    pub number: String,
    /// The rendered text (empty for a blocked recipient whose text could
    /// not be rendered).
    pub text: String,
    /// The text's alphabet.
    pub encoding: Encoding,
    /// The SMS parts the text takes.
    pub parts: u32,
    /// The CSV line or other origin.
    pub line: Option<u64>,
    /// Why it is not sent, if it is not.
    pub blocked: Option<BlockReason>,
}

/// Renders recipients for one mailing: numbers read with the mailing's
/// default country, texts rendered and measured, duplicates and opted-out
/// numbers blocked. It remembers the numbers it has seen (about 40 bytes
/// each), so a mailing of 10⁶ recipients needs some 40 MB here.
#[derive(Debug)]
pub struct Preparer<'a> {
    spec: &'a MailingSpec,
    opted_out: &'a HashSet<String>,
    /// Numbers seen, with the line each was first seen on.
    seen: HashMap<String, Option<u64>>,
}

impl<'a> Preparer<'a> {
    /// A preparer for `spec`, blocking the numbers in `opted_out` (E.164).
    #[must_use]
    pub fn new(spec: &'a MailingSpec, opted_out: &'a HashSet<String>) -> Self {
        Preparer {
            spec,
            opted_out,
            seen: HashMap::new(),
        }
    }

    /// Also treats `numbers` (E.164) as already in the mailing (when
    /// enqueueing is resumed).
    pub fn already_seen(&mut self, numbers: impl IntoIterator<Item = String>) {
        self.seen.extend(numbers.into_iter().map(|n| (n, None)));
    }

    /// One recipient, ready or blocked.
    pub fn prepare(&mut self, r: &Recipient) -> Prepared {
        let blocked = |number: String, reason| Prepared {
            number,
            text: String::new(),
            encoding: Encoding::Gsm7,
            parts: 0,
            line: r.line,
            blocked: Some(reason),
        };
        let number = match PhoneNumber::parse(&r.number, self.spec.default_country.as_ref()) {
            Ok(n) => n,
            Err(e) => {
                return blocked(
                    r.number.trim().to_owned(),
                    BlockReason::InvalidNumber(e.to_string()),
                );
            }
        };
        let e164 = number.e164().to_owned();
        if !self.spec.sends_to(number.number_type()) {
            return blocked(e164, BlockReason::NotMobile(number.number_type()));
        }
        let text = match self.spec.template.render(|name| {
            r.variables
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.trim().is_empty())
        }) {
            Ok(t) => t,
            Err(missing) => return blocked(e164, BlockReason::MissingVariable(missing)),
        };
        let p = preview(&text, &self.spec.limits);
        let mut out = Prepared {
            number: e164,
            text,
            encoding: p.encoding,
            parts: p.parts as u32,
            line: r.line,
            blocked: None,
        };
        let control = out
            .text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
        out.blocked = if self.opted_out.contains(&out.number) {
            Some(BlockReason::OptedOut)
        } else if let Some(c) = control {
            Some(BlockReason::ControlCharacter(c))
        } else if p.exceeds_limit() {
            Some(BlockReason::TextTooLong(format!(
                "{} {} units; at most {} fit in {} parts",
                p.units, p.encoding, p.max_units, self.spec.limits.max_parts
            )))
        } else if !self.spec.one_per_number {
            None
        } else if let Some(first) = self.seen.get(&out.number) {
            Some(BlockReason::Duplicate { first_line: *first })
        } else {
            self.seen.insert(out.number.clone(), r.line);
            None
        };
        out
    }
}

/// What a mailing would send, before anything is: per-encoding counts and
/// parts, and the blocked recipients by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DryRun {
    /// Recipients that would be sent to.
    pub ready: u64,
    /// Of those, in GSM-7.
    pub gsm7: u64,
    /// Of those, in UCS-2.
    pub ucs2: u64,
    /// The parts all of them take.
    pub parts: u64,
    /// Blocked recipients per reason kind (`missing variable`, `invalid
    /// number`, `not a mobile number`, `duplicate`, `opted out`, `text too
    /// long`, `control character`).
    pub blocked: Vec<(String, u64)>,
}

impl DryRun {
    /// Counts one prepared recipient.
    pub fn add(&mut self, p: &Prepared) {
        match &p.blocked {
            None => {
                self.ready += 1;
                self.parts += u64::from(p.parts);
                match p.encoding {
                    Encoding::Ucs2 => self.ucs2 += 1,
                    _ => self.gsm7 += 1,
                }
            }
            Some(reason) => {
                let kind = match reason {
                    BlockReason::MissingVariable(_) => "missing variable",
                    BlockReason::InvalidNumber(_) => "invalid number",
                    BlockReason::NotMobile(_) => "not a mobile number",
                    BlockReason::Duplicate { .. } => "duplicate",
                    BlockReason::OptedOut => "opted out",
                    BlockReason::TextTooLong(_) => "text too long",
                    BlockReason::ControlCharacter(_) => "control character",
                };
                match self.blocked.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, n)) => *n += 1,
                    None => self.blocked.push((kind.to_owned(), 1)),
                }
            }
        }
    }
}

/// Where a recipient is. Each ends in exactly one final state:
/// accepted (maybe then delivered, or failed by its report), failed,
/// blocked, unknown or cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RecipientState {
    /// Waiting to be sent.
    Pending,
    /// Taken by a worker, not yet sent (back to pending after a crash).
    Claimed,
    /// Written down just before the request went out: the gateway may
    /// have it (unknown after a crash, never resent blindly).
    Sending,
    /// The gateway took it.
    Accepted,
    /// Its delivery report says delivered.
    Delivered,
    /// The gateway refused it, or its report says it failed.
    Failed,
    /// Never sent: see its reason.
    Blocked,
    /// The gateway may or may not have it (a timeout, a crash mid-request);
    /// not resent automatically.
    Unknown,
    /// The mailing was cancelled before it was sent.
    Cancelled,
}

impl RecipientState {
    /// Every state, in the order statistics list them.
    pub const ALL: [RecipientState; 9] = [
        RecipientState::Pending,
        RecipientState::Claimed,
        RecipientState::Sending,
        RecipientState::Accepted,
        RecipientState::Delivered,
        RecipientState::Failed,
        RecipientState::Blocked,
        RecipientState::Unknown,
        RecipientState::Cancelled,
    ];

    /// The state's name as stored and printed (`pending`, `sending`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Claimed => "claimed",
            RecipientState::Sending => "sending",
            RecipientState::Accepted => "accepted",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
            RecipientState::Blocked => "blocked",
            RecipientState::Unknown => "unknown",
            RecipientState::Cancelled => "cancelled",
        }
    }

    /// The state named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        RecipientState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether nothing more will be sent for it.
    #[must_use]
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RecipientState::Pending | RecipientState::Claimed | RecipientState::Sending
        )
    }
}

impl fmt::Display for RecipientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a mailing is sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MailingStatus {
    /// Sends when a worker runs it (and its time and window allow).
    Active,
    /// Stopped by hand; no new claims until resumed.
    Paused,
    /// Stopped for good; what was not sent is cancelled.
    Cancelled,
}

impl MailingStatus {
    /// The status's name as stored and printed.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MailingStatus::Active => "active",
            MailingStatus::Paused => "paused",
            MailingStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        [
            MailingStatus::Active,
            MailingStatus::Paused,
            MailingStatus::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

impl fmt::Display for MailingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per state at one moment, and the parts sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// The mailing's status.
    pub status: Option<MailingStatus>,
    /// Recipients per state (every state listed, zeros included).
    pub states: Vec<(RecipientState, u64)>,
    /// Parts of the recipients the gateway took (accepted, delivered, and
    /// failed by report).
    pub parts_sent: u64,
    /// Parts of all recipients not blocked.
    pub parts_total: u64,
    /// Delivery reports kept because no recipient matched them (yet).
    pub unmatched_reports: u64,
}

/// The states with recipients in them, as people read them:
/// `accepted 3, failed 1`.
impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (state, n) in self.states.iter().filter(|(_, n)| *n > 0) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{state} {n}")?;
        }
        Ok(())
    }
}

impl Stats {
    /// The count in `state`.
    #[must_use]
    pub fn count(&self, state: RecipientState) -> u64 {
        self.states
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }

    /// All recipients.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.states.iter().map(|(_, n)| n).sum()
    }

    /// Whether every recipient is in a final state.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.states.iter().all(|(s, n)| s.is_final() || *n == 0)
    }
}

/// One recipient's row, as the export writes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RecipientRow {
    /// The row's id in the store (its order in the mailing).
    pub id: i64,
    /// The CSV line it came from.
    pub line: Option<u64>,
    /// The number (E.164 when readable).
    pub number: String,
    /// The state.
    pub state: RecipientState,
    /// The SMS parts.
    pub parts: u32,
    /// The client reference sent with it.
    pub client_reference: String,
    /// The gateway's reference.
    pub reference: Option<String>,
    /// Why it was blocked, failed or is unknown.
    pub reason: Option<String>,
    /// When it was delivered or failed, as its report says.
    pub done_at: Option<String>,
}

/// How long a claim lasts without a heartbeat, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
