//! Where a recipient is, whether a mailing is sending, and the counts.

use std::fmt;

/// Where a recipient is. Each ends in exactly one final state:
/// accepted (maybe then delivered, or failed by its report), failed,
/// blocked, unknown, cancelled or expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RecipientState {
    /// Waiting to be sent.
    Pending,
    /// Taken by a worker, not yet sent (back to pending after a crash).
    Claimed,
    /// Waiting for its own daytime (quiet hours or a public holiday where
    /// its number is); pending again when that comes.
    Held,
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
    /// The mailing expired before its turn: never sent late.
    Expired,
}

impl RecipientState {
    /// Every state, in the order statistics list them.
    pub const ALL: [RecipientState; 11] = [
        RecipientState::Pending,
        RecipientState::Claimed,
        RecipientState::Held,
        RecipientState::Sending,
        RecipientState::Accepted,
        RecipientState::Delivered,
        RecipientState::Failed,
        RecipientState::Blocked,
        RecipientState::Unknown,
        RecipientState::Cancelled,
        RecipientState::Expired,
    ];

    /// The state's name as stored and printed (`pending`, `sending`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Claimed => "claimed",
            RecipientState::Held => "held",
            RecipientState::Sending => "sending",
            RecipientState::Accepted => "accepted",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
            RecipientState::Blocked => "blocked",
            RecipientState::Unknown => "unknown",
            RecipientState::Cancelled => "cancelled",
            RecipientState::Expired => "expired",
        }
    }

    /// The state named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        RecipientState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether it counts as a message the number got (or may have got)
    /// for a [`FrequencyCap`](super::FrequencyCap): sending, accepted,
    /// delivered or unknown.
    #[must_use]
    pub fn counts_as_sent(self) -> bool {
        matches!(
            self,
            RecipientState::Sending
                | RecipientState::Accepted
                | RecipientState::Delivered
                | RecipientState::Unknown
        )
    }

    /// Whether nothing more will be sent for it.
    #[must_use]
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RecipientState::Pending
                | RecipientState::Claimed
                | RecipientState::Held
                | RecipientState::Sending
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
