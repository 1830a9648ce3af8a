//! What is sent, to whom it is not, and when: a mailing's settings.

use jiff::Timestamp;

use super::FrequencyCap;
use super::SendWindow;
use crate::mailing::{RecipientHours, Template};
use crate::phone::{DefaultCountry, PhoneNumberType};
use crate::sms::encoding::Limits;
use crate::sms::{Priority, Sender};

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
    /// Send nothing after this: a recipient whose turn comes later ends
    /// [`Expired`](super::RecipientState::Expired), and what is sent asks
    /// the gateway to drop it at this time too (a validity on the wire), so
    /// "20 % today" never arrives tomorrow.
    pub expires_at: Option<Timestamp>,
    /// Send each recipient only inside these hours in the time zone of its
    /// number's country, and not on that country's public holidays (on
    /// top of [`window`](Self::window)): a recipient whose turn comes
    /// outside is [`Held`](super::RecipientState::Held) until its
    /// morning, and [`Expired`](super::RecipientState::Expired) when that
    /// is after the mailing's expiry.
    pub recipient_hours: Option<RecipientHours>,
    /// At most so many messages to one number per period across every
    /// mailing in the store, checked when the recipient's turn comes (over
    /// it: blocked with the reason).
    pub frequency_cap: Option<FrequencyCap>,
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
    /// The most parts a recipient's text may take in this mailing (default:
    /// the gateway's limit): a longer text is blocked with the reason,
    /// never sent. Decided when recipients are prepared; not stored.
    pub max_parts: Option<u32>,
    /// Whether pasted typography (’ “ ” – … « », the non-breaking space)
    /// is replaced by GSM-7 equivalents when that saves parts (default no;
    /// see [`smart_encoding`](crate::sms::smart_encoding)). The dry run
    /// counts what it saves either way. Decided when recipients are
    /// prepared; not stored.
    pub smart_encoding: bool,
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
            expires_at: None,
            recipient_hours: None,
            frequency_cap: None,
            one_per_number: true,
            default_country: None,
            allow_fixed_line: false,
            limits: Limits::standard(6),
            max_parts: None,
            smart_encoding: false,
        }
    }

    /// At most `n` parts per recipient (see [`max_parts`](Self::max_parts)).
    #[must_use]
    pub fn with_max_parts(mut self, n: u32) -> Self {
        self.max_parts = Some(n.max(1));
        self
    }

    /// Whether to replace pasted typography when it saves parts (see
    /// [`smart_encoding`](Self::smart_encoding)).
    #[must_use]
    pub fn with_smart_encoding(mut self, yes: bool) -> Self {
        self.smart_encoding = yes;
        self
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

    /// Sends nothing after `at` (see [`expires_at`](Self::expires_at)).
    #[must_use]
    pub fn with_expiry(mut self, at: Timestamp) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sends each recipient in its own daytime (see
    /// [`recipient_hours`](Self::recipient_hours)).
    #[must_use]
    pub fn with_recipient_hours(mut self, hours: RecipientHours) -> Self {
        self.recipient_hours = Some(hours);
        self
    }

    /// Caps messages per number across mailings (see
    /// [`frequency_cap`](Self::frequency_cap)).
    #[must_use]
    pub fn with_frequency_cap(mut self, cap: FrequencyCap) -> Self {
        self.frequency_cap = Some(cap);
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
