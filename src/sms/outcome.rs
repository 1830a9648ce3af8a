//! What happened to each recipient of a message.

use super::error::{SmsError, SmsErrorKind};
use super::message::Message;
use crate::phone::PhoneNumber;

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The gateway said it accepted the message for this recipient.
    Accepted {
        /// The gateway's reference, used to match delivery reports. `None`
        /// when the channel gives none (Intelecom's e-mail mode: the mail
        /// server accepted the mail, the gateway says nothing).
        reference: Option<String>,
    },
    /// The message was not accepted for this recipient, and **certainly
    /// did not reach the gateway's queue** (refused before sending, no
    /// connection, or a gateway answer saying so); see
    /// [`Outcome::is_retryable`] for whether sending again can help.
    Rejected(SmsError),
    /// The gateway may or may not have accepted it (a timeout after the
    /// request was sent, a connection lost mid-answer). Do not resend
    /// blindly: it may reach the recipient twice.
    Unknown(SmsError),
}

impl Outcome {
    /// What a gateway's non-200 HTTP answer means for every message of the
    /// request: the one meaning per status that every web-service adapter
    /// gives it (this crate's through `gateway_http`; the conformance suite
    /// checks yours against it).
    ///
    /// - 401/403: `Rejected`, [`SmsErrorKind::Unauthenticated`] (a mailing
    ///   stops; the recipients are not at fault);
    /// - 400/413/415: `Rejected`, [`SmsErrorKind::InvalidMessage`];
    /// - 429: `Rejected`, [`SmsErrorKind::RateLimited`] (retryable: wait and
    ///   send again);
    /// - anything else (5xx, an unexpected 3xx or 2xx): `Unknown`,
    ///   [`SmsErrorKind::GatewayInternal`] — the gateway read the request and
    ///   did not say what it did with it.
    ///
    /// ```
    /// use crm_comms::sms::{SmsErrorKind, Outcome};
    /// let o = Outcome::for_http_status("acme", 503);
    /// assert!(matches!(&o, Outcome::Unknown(e) if e.kind() == SmsErrorKind::GatewayInternal));
    /// assert!(matches!(Outcome::for_http_status("acme", 401),
    ///     Outcome::Rejected(e) if e.kind() == SmsErrorKind::Unauthenticated));
    /// ```
    #[must_use]
    pub fn for_http_status(
        provider: impl Into<std::borrow::Cow<'static, str>>,
        status: u16,
    ) -> Outcome {
        let err = |kind, m: String| SmsError::new(kind, provider, m);
        match status {
            401 | 403 => Outcome::Rejected(err(
                SmsErrorKind::Unauthenticated,
                format!("the gateway refused the credentials (HTTP {status})"),
            )),
            400 | 413 | 415 => Outcome::Rejected(err(
                SmsErrorKind::InvalidMessage,
                format!("the gateway refused the request (HTTP {status})"),
            )),
            429 => Outcome::Rejected(err(
                SmsErrorKind::RateLimited,
                format!("the gateway is rate-limiting (HTTP {status})"),
            )),
            _ => Outcome::Unknown(err(
                SmsErrorKind::GatewayInternal,
                format!(
                    "the gateway answered HTTP {status}; the messages may or may not have been accepted"
                ),
            )),
        }
    }

    /// Whether it is `Accepted`.
    #[must_use]
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted { .. })
    }

    /// The gateway's reference of an accepted outcome, if it gave one.
    ///
    /// ```
    /// use crm_comms::sms::Outcome;
    /// let o = Outcome::Accepted { reference: Some("4A4B0034DC".into()) };
    /// assert_eq!(o.reference(), Some("4A4B0034DC"));
    /// assert_eq!(Outcome::Accepted { reference: None }.reference(), None);
    /// ```
    #[must_use]
    pub fn reference(&self) -> Option<&str> {
        match self {
            Outcome::Accepted { reference } => reference.as_deref(),
            _ => None,
        }
    }

    /// Whether it is **safe to send this recipient again** and doing so
    /// (later, or through another provider) may succeed: the one
    /// definition of "retryable" in this crate, used by
    /// [`Failover`](super::Failover) and the gateways' own failover hosts.
    ///
    /// True only for a [`Rejected`](Outcome::Rejected) outcome (certainly
    /// not sent) whose cause lies outside the message: the gateway could not
    /// be reached ([`Unavailable`](SmsErrorKind::Unavailable),
    /// [`Tls`](SmsErrorKind::Tls), a [`Timeout`](SmsErrorKind::Timeout) before the
    /// request was written), refused the credentials or rate-limited. Never
    /// for an [`Unknown`](Outcome::Unknown) outcome, whatever its kind: the
    /// gateway may have accepted it, and sending again may deliver it twice
    /// — an HTTP 5xx or a gateway's internal error is unknown
    /// ([`GatewayInternal`](SmsErrorKind::GatewayInternal) is never retried).
    /// Never for a message the gateway or the provider refused as invalid
    /// (fix the message instead).
    ///
    /// ```
    /// use crm_comms::sms::{SmsErrorKind, Outcome, SmsError};
    /// let refused = SmsError::new(SmsErrorKind::Unavailable, "gw", "connection refused");
    /// assert!(Outcome::Rejected(refused).is_retryable());
    /// // HTTP 503 after the request was written: maybe sent.
    /// let down = SmsError::new(SmsErrorKind::GatewayInternal, "gw", "HTTP 503");
    /// assert!(!Outcome::Unknown(down.clone()).is_retryable());
    /// assert!(!Outcome::Rejected(down).is_retryable());
    /// let bad = SmsError::new(SmsErrorKind::InvalidRecipient, "gw", "no such number");
    /// assert!(!Outcome::Rejected(bad).is_retryable());
    /// ```
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Outcome::Rejected(e) => matches!(
                e.kind(),
                SmsErrorKind::Unavailable
                    | SmsErrorKind::Tls
                    | SmsErrorKind::Timeout
                    | SmsErrorKind::Unauthenticated
                    | SmsErrorKind::RateLimited
            ),
            Outcome::Accepted { .. } | Outcome::Unknown(_) => false,
        }
    }

    /// Whether the gateway may have accepted it: `Accepted` or `Unknown`.
    /// The opposite of "certainly not sent".
    #[must_use]
    pub fn may_have_been_sent(&self) -> bool {
        !matches!(self, Outcome::Rejected(_))
    }

    /// The error of a rejected or unknown outcome.
    #[must_use]
    pub fn error(&self) -> Option<&SmsError> {
        match self {
            Outcome::Accepted { .. } => None,
            Outcome::Rejected(e) | Outcome::Unknown(e) => Some(e),
        }
    }
}

/// One recipient's outcome and the provider that handled it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientOutcome {
    /// The recipient.
    pub recipient: PhoneNumber,
    /// What happened.
    pub outcome: Outcome,
    /// The name of the provider that handled it (differs from the one
    /// called when a failover provider used its second provider).
    pub provider: String,
}

/// The result of a send: exactly one outcome per recipient, in the
/// message's recipient order.
#[derive(Clone, Debug, PartialEq)]
pub struct SendReport {
    outcomes: Vec<RecipientOutcome>,
}

impl SendReport {
    /// A report from outcomes in recipient order.
    #[must_use]
    pub fn new(outcomes: Vec<RecipientOutcome>) -> Self {
        SendReport { outcomes }
    }

    /// The same outcome for every recipient of `message` (a whole-request
    /// failure, a refusal before sending).
    #[must_use]
    pub fn same_for_all(message: &Message, provider: &str, outcome: Outcome) -> Self {
        SendReport {
            outcomes: message
                .recipients()
                .iter()
                .map(|r| RecipientOutcome {
                    recipient: *r,
                    outcome: outcome.clone(),
                    provider: provider.to_owned(),
                })
                .collect(),
        }
    }

    /// Every outcome, in recipient order.
    #[must_use]
    pub fn outcomes(&self) -> &[RecipientOutcome] {
        &self.outcomes
    }

    /// The outcomes, taken.
    #[must_use]
    pub fn into_outcomes(self) -> Vec<RecipientOutcome> {
        self.outcomes
    }

    /// Whether every recipient was accepted.
    #[must_use]
    pub fn all_accepted(&self) -> bool {
        self.outcomes.iter().all(|o| o.outcome.is_accepted())
    }

    /// Whether some recipients were accepted and others not.
    #[must_use]
    pub fn is_partial(&self) -> bool {
        let accepted = self.accepted().count();
        accepted > 0 && accepted < self.outcomes.len()
    }

    /// The accepted recipients.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.outcomes.iter().filter(|o| o.outcome.is_accepted())
    }

    /// The rejected recipients.
    pub fn rejected(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Rejected(_)))
    }

    /// The recipients whose outcome is unknown.
    pub fn unknown(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Unknown(_)))
    }
}
