//! What a provider can do: limits, sender rules, and the options it
//! carries, so callers and the conformance suite can branch on it.

use super::encoding::Limits;
use super::sender::SenderRules;

/// What a provider can do, so callers and the conformance suite can branch
/// on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Part sizes and the most parts a message may have.
    pub limits: Limits,
    /// Whether texts outside the GSM alphabet can be sent (as UCS-2).
    pub unicode: bool,
    /// Whether delivery reports can be requested.
    pub delivery_reports: bool,
    /// Whether [`Priority`](super::Priority) has an effect.
    pub priority: bool,
    /// Whether [`Message::send_at`](super::Message::send_at) is supported.
    pub scheduling: bool,
    /// The most recipients the provider sends in one gateway request; a
    /// larger message is split transparently.
    pub max_batch: usize,
    /// Whether a message's [`Sender`](super::Sender) can be set at all (Intelecom's
    /// e-mail mode cannot: the service's default originator is used).
    pub custom_sender: bool,
    /// What the gateway accepts as an alphanumeric sender.
    pub sender_rules: SenderRules,
    /// Whether accepted outcomes carry a gateway reference.
    pub references: bool,
    /// Whether a message's [`client_reference`](super::Message::client_reference)
    /// reaches the gateway (one per recipient,
    /// [`Message::recipient_reference`](super::Message::recipient_reference)) and comes back in its delivery
    /// reports. `PSWinCom` has no such field; Intelecom does.
    pub client_references: bool,
    /// For how long the gateway refuses a message whose client reference
    /// it has already taken (with [`SmsErrorKind::Duplicate`](super::SmsErrorKind::Duplicate)), so that
    /// sending again with the same reference within that time can never
    /// deliver twice: Puzzel's uniqueness check, when the account has it
    /// on, remembers a reference for one hour. A mailing then resends what
    /// a crash left unknown — only while the window (less a margin) is
    /// open; after it, the recipient stays unknown. `None`: the gateway
    /// takes a repeated reference again.
    pub rejects_duplicates: Option<std::time::Duration>,
}

impl Capabilities {
    /// Nothing beyond plain GSM-7 text to one recipient at a time: one
    /// part, batches of 1, no Unicode, reports, priority, scheduling,
    /// custom sender or references. The safe start for an adapter: switch
    /// on with `with_*` what its gateway documents.
    ///
    /// ```
    /// use crm_comms::sms::Capabilities;
    /// let caps = Capabilities::none().with_unicode(true).with_max_batch(50);
    /// assert!(caps.unicode && !caps.delivery_reports && caps.max_batch == 50);
    /// ```
    #[must_use]
    pub const fn none() -> Self {
        Capabilities {
            limits: Limits::standard(1),
            unicode: false,
            delivery_reports: false,
            priority: false,
            scheduling: false,
            max_batch: 1,
            custom_sender: false,
            sender_rules: SenderRules::ANY,
            references: false,
            client_references: false,
            rejects_duplicates: None,
        }
    }

    /// Everything supported, 6 parts, batches of 100, any sender: for
    /// fakes. An adapter should start from [`none`](Self::none), so that
    /// it never claims what its gateway does not do.
    #[must_use]
    pub const fn full() -> Self {
        Capabilities {
            limits: Limits::standard(6),
            unicode: true,
            delivery_reports: true,
            priority: true,
            scheduling: true,
            max_batch: 100,
            custom_sender: true,
            sender_rules: SenderRules::ANY,
            references: true,
            client_references: true,
            rejects_duplicates: None,
        }
    }

    /// Sets the limits.
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets for how long the gateway refuses a repeated client reference
    /// (`None`: it does not).
    #[must_use]
    pub const fn with_rejects_duplicates(mut self, window: Option<std::time::Duration>) -> Self {
        self.rejects_duplicates = window;
        self
    }

    /// Sets whether client references reach the gateway.
    #[must_use]
    pub const fn with_client_references(mut self, yes: bool) -> Self {
        self.client_references = yes;
        self
    }

    /// Sets the batch size (at least 1).
    #[must_use]
    pub const fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = if n == 0 { 1 } else { n };
        self
    }

    /// Sets the sender rules.
    #[must_use]
    pub const fn with_sender_rules(mut self, rules: SenderRules) -> Self {
        self.sender_rules = rules;
        self
    }

    /// Sets Unicode support.
    #[must_use]
    pub const fn with_unicode(mut self, yes: bool) -> Self {
        self.unicode = yes;
        self
    }

    /// Sets priority support.
    #[must_use]
    pub const fn with_priority(mut self, yes: bool) -> Self {
        self.priority = yes;
        self
    }

    /// Sets scheduling support.
    #[must_use]
    pub const fn with_scheduling(mut self, yes: bool) -> Self {
        self.scheduling = yes;
        self
    }

    /// Sets whether references are returned.
    #[must_use]
    pub const fn with_references(mut self, yes: bool) -> Self {
        self.references = yes;
        self
    }

    /// Sets whether a sender can be set.
    #[must_use]
    pub const fn with_custom_sender(mut self, yes: bool) -> Self {
        self.custom_sender = yes;
        self
    }

    /// Sets delivery-report support.
    #[must_use]
    pub const fn with_delivery_reports(mut self, yes: bool) -> Self {
        self.delivery_reports = yes;
        self
    }
}
