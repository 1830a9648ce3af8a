//! An SMS to send: recipients, text, sender, priority and options.

// Why one file above 500 lines: one idea (a message, its builder and its
// defaults); about 110 of its lines are unit tests.

use std::time::{Duration, SystemTime};

use crate::phone::PhoneNumber;
use crate::sms::{Sender, SmsError, SmsErrorKind};

/// How quickly the gateway should send: the CRM's SMS priority 1, 2 or 3.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub enum Priority {
    /// 1: slowest.
    Low,
    /// 2: the default.
    #[default]
    Medium,
    /// 3: fastest.
    High,
}

impl Priority {
    /// The CRM's number: 1, 2 or 3.
    #[must_use]
    pub fn number(self) -> u8 {
        match self {
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
        }
    }
}

impl TryFrom<u8> for Priority {
    type Error = SmsError;

    fn try_from(n: u8) -> Result<Self, Self::Error> {
        match n {
            1 => Ok(Priority::Low),
            2 => Ok(Priority::Medium),
            3 => Ok(Priority::High),
            n => Err(invalid_message(format!(
                "SMS priority must be 1, 2 or 3, not {n}"
            ))),
        }
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.number()
    }
}

/// An SMS to one or more recipients. Build it with [`Message::builder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    recipients: Vec<PhoneNumber>,
    text: String,
    sender: Option<Sender>,
    /// `None`: not set, [`Priority::default`] unless defaults say otherwise.
    priority: Option<Priority>,
    /// `None`: not set, no report unless defaults say otherwise.
    delivery_report: Option<bool>,
    client_reference: Option<String>,
    validity: Option<Duration>,
    send_at: Option<SystemTime>,
    /// For a batch of a larger message: the position of its first
    /// recipient there, and how many recipients that message has (0: this
    /// is the whole message).
    batch_of: (usize, usize),
}

impl Message {
    /// Starts a message.
    #[must_use]
    pub fn builder() -> MessageBuilder {
        MessageBuilder::default()
    }

    /// The recipients, in order; outcomes come back in this order.
    #[must_use]
    pub fn recipients(&self) -> &[PhoneNumber] {
        &self.recipients
    }

    /// The text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The sender, if set (else the gateway's default for the account).
    #[must_use]
    pub fn sender(&self) -> Option<&Sender> {
        self.sender.as_ref()
    }

    /// The priority (the default, 2, when none was set).
    #[must_use]
    pub fn priority(&self) -> Priority {
        self.priority.unwrap_or_default()
    }

    /// Whether a delivery report is requested (no, when not set).
    #[must_use]
    pub fn delivery_report(&self) -> bool {
        self.delivery_report.unwrap_or(false)
    }

    /// This message with `defaults` filled in where it sets nothing of its
    /// own: its sender, priority and delivery-report choice win when set.
    ///
    /// ```
    /// use crm_comms::sms::{Message, MessageDefaults, Priority, Sender};
    ///
    /// let defaults = MessageDefaults::new()
    ///     .sender(Sender::alphanumeric("SuperOffice")?)
    ///     .priority(Priority::High)
    ///     .delivery_report(true);
    /// let m = Message::builder().to("+4741000001".parse()?).text("Hei").build()?;
    /// let m = m.with_defaults(&defaults);
    /// assert_eq!(m.priority(), Priority::High);
    /// assert!(m.delivery_report());
    /// let own = Message::builder()
    ///     .to("+4741000001".parse()?)
    ///     .text("Hei")
    ///     .priority(Priority::Low)
    ///     .delivery_report(false)
    ///     .build()?
    ///     .with_defaults(&defaults);
    /// assert_eq!(own.priority(), Priority::Low);
    /// assert!(!own.delivery_report());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_defaults(&self, defaults: &MessageDefaults) -> Message {
        Message {
            sender: self.sender.clone().or_else(|| defaults.sender.clone()),
            priority: self.priority.or(defaults.priority),
            delivery_report: self.delivery_report.or(defaults.delivery_report),
            ..self.clone()
        }
    }

    /// The caller's reference, echoed in delivery reports.
    #[must_use]
    pub fn client_reference(&self) -> Option<&str> {
        self.client_reference.as_deref()
    }

    /// How long the network should keep trying to deliver.
    #[must_use]
    pub fn validity(&self) -> Option<Duration> {
        self.validity
    }

    /// When to send, if not now.
    #[must_use]
    pub fn send_at(&self) -> Option<SystemTime> {
        self.send_at
    }

    /// The same message to other recipients (for failover).
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidMessage`] when `recipients` is empty: a message
    /// always has someone to go to.
    pub fn with_recipients(&self, recipients: Vec<PhoneNumber>) -> Result<Message, SmsError> {
        if recipients.is_empty() {
            return Err(invalid_message("the message has no recipients".into()));
        }
        Ok(Message {
            recipients,
            batch_of: (0, 0),
            ..self.clone()
        })
    }

    /// This message with `reference` as its client reference (the
    /// tracker's generated ones are valid by construction).
    pub(crate) fn with_client_reference(&self, reference: String) -> Message {
        Message {
            client_reference: Some(reference),
            ..self.clone()
        }
    }

    /// The recipients `start..start + len` as a batch of this message:
    /// [`recipient_reference`](Self::recipient_reference) keeps numbering
    /// them by their place in the whole message.
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidMessage`] when the range holds no recipient
    /// (`len` is 0 or `start` is past the last one).
    pub fn batch(&self, start: usize, len: usize) -> Result<Message, SmsError> {
        if len == 0 || start >= self.recipients.len() {
            return Err(invalid_message(format!(
                "a batch of {len} from recipient {start} of {} has no recipients",
                self.recipients.len()
            )));
        }
        Ok(self.slice(start, len))
    }

    /// [`batch`](Self::batch) for callers that take `start` below the
    /// recipient count and `len` of at least one (so never empty).
    pub(crate) fn slice(&self, start: usize, len: usize) -> Message {
        debug_assert!(len > 0 && start < self.recipients.len());
        let end = start.saturating_add(len).min(self.recipients.len());
        let (offset, total) = match self.batch_of {
            (_, 0) => (0, self.recipients.len()),
            whole => whole,
        };
        Message {
            recipients: self.recipients[start.min(end)..end].to_vec(),
            batch_of: (offset + start, total),
            ..self.clone()
        }
    }

    /// The client reference for recipient `index` (0-based, in this
    /// message): the message's reference as is when the whole message has
    /// one recipient, else with `-<n>` appended, `n` the recipient's 1-based
    /// place in the whole message (so references stay unique across
    /// batches). `None` without a client reference.
    ///
    /// ```
    /// use crm_comms::sms::Message;
    /// let m = Message::builder()
    ///     .to_all(["+4741000001", "+4741000002", "+4741000003"].map(|n| n.parse().unwrap()))
    ///     .text("Hei")
    ///     .client_reference("case-7")
    ///     .build()?;
    /// assert_eq!(m.recipient_reference(0).as_deref(), Some("case-7-1"));
    /// assert_eq!(m.batch(2, 1)?.recipient_reference(0).as_deref(), Some("case-7-3"));
    /// assert!(m.batch(3, 1).is_err(), "past the last recipient");
    /// # Ok::<(), crm_comms::sms::SmsError>(())
    /// ```
    #[must_use]
    pub fn recipient_reference(&self, index: usize) -> Option<String> {
        let r = self.client_reference.as_deref()?;
        let (offset, total) = match self.batch_of {
            (_, 0) => (0, self.recipients.len()),
            whole => whole,
        };
        Some(if total == 1 {
            r.to_owned()
        } else {
            format!("{r}-{}", offset + index + 1)
        })
    }
}

/// Builds a [`Message`]; [`build`](MessageBuilder::build) validates it.
///
/// ```
/// use crm_comms::sms::{Message, Priority, Sender};
///
/// let msg = Message::builder()
///     .to("+4799999999".parse()?)
///     .text("Hei på deg")
///     .sender(Sender::parse("SuperOffice")?)
///     .priority(Priority::High)
///     .delivery_report(true)
///     .client_reference("case-4711")
///     .build()?;
/// assert_eq!(msg.recipients().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MessageBuilder {
    recipients: Vec<PhoneNumber>,
    text: String,
    sender: Option<Sender>,
    priority: Option<Priority>,
    delivery_report: Option<bool>,
    client_reference: Option<String>,
    validity: Option<Duration>,
    send_at: Option<SystemTime>,
}

/// What a provider fills in for messages that do not set it themselves:
/// the CRM's settings' sender, priority and delivery-report choice (see
/// [`Message::with_defaults`] and [`WithDefaults`](super::WithDefaults)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageDefaults {
    /// The sender, for messages without one.
    pub sender: Option<Sender>,
    /// The priority, for messages that set none.
    pub priority: Option<Priority>,
    /// Whether to ask for a delivery report, for messages that do not say.
    pub delivery_report: Option<bool>,
}

impl MessageDefaults {
    /// No defaults.
    #[must_use]
    pub fn new() -> Self {
        MessageDefaults::default()
    }

    /// Sets the default sender.
    #[must_use]
    pub fn sender(mut self, sender: Sender) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Sets the default priority.
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets whether delivery reports are asked for by default.
    #[must_use]
    pub fn delivery_report(mut self, yes: bool) -> Self {
        self.delivery_report = Some(yes);
        self
    }
}

impl MessageBuilder {
    /// Adds a recipient.
    #[must_use]
    pub fn to(mut self, number: PhoneNumber) -> Self {
        self.recipients.push(number);
        self
    }

    /// Adds recipients.
    #[must_use]
    pub fn to_all(mut self, numbers: impl IntoIterator<Item = PhoneNumber>) -> Self {
        self.recipients.extend(numbers);
        self
    }

    /// Sets the text.
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// Sets the sender.
    #[must_use]
    pub fn sender(mut self, sender: Sender) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Requests (or not) a delivery report.
    #[must_use]
    pub fn delivery_report(mut self, yes: bool) -> Self {
        self.delivery_report = Some(yes);
        self
    }

    /// Sets the caller's reference (1–64 printable ASCII characters).
    #[must_use]
    pub fn client_reference(mut self, reference: impl Into<String>) -> Self {
        self.client_reference = Some(reference.into());
        self
    }

    /// Sets how long the network keeps trying (5 minutes to 7 days).
    #[must_use]
    pub fn validity(mut self, validity: Duration) -> Self {
        self.validity = Some(validity);
        self
    }

    /// Sends at a later time.
    #[must_use]
    pub fn send_at(mut self, at: SystemTime) -> Self {
        self.send_at = Some(at);
        self
    }

    /// Validates the message.
    ///
    /// # Errors
    ///
    /// An [`SmsError`] of kind [`SmsErrorKind::InvalidMessage`] naming what is wrong.
    pub fn build(self) -> Result<Message, SmsError> {
        if self.recipients.is_empty() {
            return Err(invalid_message("the message has no recipients".into()));
        }
        if self.text.is_empty() {
            return Err(invalid_message("the message text is empty".into()));
        }
        if let Some(c) = self.text.chars().find(|&c| c == '\0') {
            return Err(invalid_message(format!(
                "the message text contains {c:?}, which cannot be sent"
            )));
        }
        if let Some(r) = &self.client_reference
            && (r.is_empty() || r.len() > 64 || !r.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(invalid_message(
                "the client reference must be 1-64 printable ASCII characters".into(),
            ));
        }
        if let Some(v) = self.validity
            && !(Duration::from_secs(300)..=Duration::from_secs(7 * 86_400)).contains(&v)
        {
            return Err(invalid_message(format!(
                "the validity must be between 5 minutes and 7 days, not {v:?}"
            )));
        }
        Ok(Message {
            recipients: self.recipients,
            text: self.text,
            sender: self.sender,
            priority: self.priority,
            delivery_report: self.delivery_report,
            client_reference: self.client_reference,
            batch_of: (0, 0),
            validity: self.validity,
            send_at: self.send_at,
        })
    }
}

/// A message that cannot be built.
fn invalid_message(what: String) -> SmsError {
    SmsError::before_provider(SmsErrorKind::InvalidMessage, what)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> PhoneNumber {
        "+4799999999".parse().unwrap()
    }

    /// The kind and text of a local validation error (no provider).
    fn local(e: &SmsError) -> (SmsErrorKind, String) {
        assert_eq!(e.provider(), "", "{e:?}");
        assert!(e.is_invalid_input(), "{e:?}");
        (e.kind(), e.to_string())
    }

    fn bad_sender(s: &str) -> String {
        let (kind, text) = local(&Sender::parse(s).unwrap_err());
        assert_eq!(kind, SmsErrorKind::InvalidSender);
        text
    }

    fn bad_message(b: MessageBuilder) -> String {
        let (kind, text) = local(&b.build().unwrap_err());
        assert_eq!(kind, SmsErrorKind::InvalidMessage);
        text
    }

    #[test]
    fn priority_is_the_crms_1_2_3() {
        assert_eq!(Priority::try_from(1).unwrap(), Priority::Low);
        assert_eq!(Priority::try_from(3).unwrap().number(), 3);
        assert_eq!(
            local(&Priority::try_from(4).unwrap_err()),
            (
                SmsErrorKind::InvalidMessage,
                "SMS priority must be 1, 2 or 3, not 4".into()
            )
        );
        assert_eq!(
            serde_json::from_str::<Priority>("2").unwrap(),
            Priority::Medium
        );
        assert!(serde_json::from_str::<Priority>("0").is_err());
    }

    #[test]
    fn senders_per_gateway() {
        assert_eq!(bad_sender(""), "the sender is empty");
        assert_eq!(
            bad_sender("ABCDEFGHIJKL"),
            "the sender has 12 characters; at most 11 are allowed"
        );
        assert_eq!(
            bad_sender("Bjørn"),
            "the sender contains 'ø', which senders cannot contain"
        );
        assert_eq!(
            bad_sender("A\r\nB"),
            "the sender contains '\\r', which senders cannot contain"
        );
        assert_eq!(
            bad_sender("..."),
            "an alphanumeric sender must contain a letter"
        );
        assert_eq!(
            bad_sender("+47"),
            "the sender looks like a phone number but is not a valid international number"
        );
        assert!(matches!(
            Sender::parse("4799999999").unwrap(),
            Sender::International(_)
        ));
    }

    #[test]
    fn builder_validates() {
        assert_eq!(
            bad_message(Message::builder().text("x")),
            "the message has no recipients"
        );
        assert_eq!(
            bad_message(Message::builder().to(n())),
            "the message text is empty"
        );
        assert_eq!(
            bad_message(Message::builder().to(n()).text("a\0b")),
            "the message text contains '\\0', which cannot be sent"
        );
        for bad in ["", "a b", "æ", &"x".repeat(65)] {
            assert_eq!(
                bad_message(Message::builder().to(n()).text("x").client_reference(bad)),
                "the client reference must be 1-64 printable ASCII characters",
                "{bad:?}"
            );
        }
        assert!(
            bad_message(
                Message::builder()
                    .to(n())
                    .text("x")
                    .validity(Duration::from_secs(60))
            )
            .starts_with("the validity must be between 5 minutes and 7 days")
        );
        let m = Message::builder()
            .to_all([n(), "+4722334455".parse().unwrap()])
            .text("Hei")
            .validity(Duration::from_secs(3600))
            .build()
            .unwrap();
        assert_eq!(m.recipients().len(), 2);
        assert_eq!(m.priority(), Priority::Medium);
        assert!(!m.delivery_report());
    }
}
