//! Delivery reports and incoming SMS, in provider-neutral form.

use crate::phone::PhoneNumber;

/// The final state a delivery report gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Delivered to the handset.
    Delivered,
    /// Not delivered and it will not be; `permanent` when sending to the
    /// number again will fail too (unknown or barred number).
    Failed {
        /// Whether the number itself is the problem.
        permanent: bool,
    },
    /// Not delivered within the validity period.
    Expired,
    /// A state this crate does not know; the raw code is kept.
    Unknown,
}

/// One delivery report (DR) from a gateway.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DeliveryReceipt {
    /// The gateway that sent it.
    pub provider: &'static str,
    /// The gateway's reference of the message (as in the send report).
    pub reference: String,
    /// The client reference sent with the message, if echoed.
    pub client_reference: Option<String>,
    /// The batch reference sent with the message, if echoed.
    pub batch_reference: Option<String>,
    /// The recipient, when the report names it.
    pub recipient: Option<PhoneNumber>,
    /// The state.
    pub state: DeliveryState,
    /// The gateway's own status code, as text.
    pub status_code: String,
    /// The gateway's description.
    pub description: Option<String>,
    /// The operator's code and description, if given.
    pub operator_status: Option<String>,
    /// When it was delivered or failed, as the gateway wrote it.
    pub done_at: Option<String>,
}

/// One incoming SMS (MO) from a gateway.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IncomingMessage {
    /// The gateway that sent it.
    pub provider: &'static str,
    /// The gateway's id of the message; the same on redelivery.
    pub id: String,
    /// The sender's number as the gateway wrote it.
    pub from_raw: String,
    /// The sender, when it is a valid international number.
    pub from: Option<PhoneNumber>,
    /// The number it was sent to (a short number such as `1960`).
    pub to: Option<String>,
    /// The full text.
    pub text: String,
    /// The keyword the gateway routed it by, if it says.
    pub keyword: Option<String>,
    /// The text without the keyword, if the gateway gives it.
    pub stripped_text: Option<String>,
    /// The session id, for replies within a session.
    pub session_id: Option<String>,
    /// When it was received, as the gateway wrote it.
    pub received_at: Option<String>,
    /// The sender's network as `mcc:mnc`.
    pub network: Option<String>,
    /// Other fields the gateway sent, by name (PSWinCom's `ADDRESS`,
    /// `POSITION/POS/LATITUDE`, `METADATA/…`; Intelecom's `serviceid`,
    /// `sctimestamp`, …).
    pub extras: Vec<(String, String)>,
}

/// A callback body (or one entry of it) that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {reason}", entry.map(|e| format!("entry {e}: ")).unwrap_or_default())]
pub struct CallbackError {
    /// The 0-based entry of a batch, or `None` for the whole body.
    pub entry: Option<usize>,
    /// The field (or `body`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl CallbackError {
    /// An error about the whole body.
    pub fn body(reason: impl Into<String>) -> Self {
        CallbackError {
            entry: None,
            field: "body".into(),
            reason: reason.into(),
        }
    }

    /// An error about one field of one entry.
    pub fn field(entry: usize, field: &str, reason: impl Into<String>) -> Self {
        CallbackError {
            entry: Some(entry),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
