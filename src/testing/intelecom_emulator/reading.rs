//! The request as the gateway reads it: its JSON shape (unknown fields
//! refused), the per-message syntax check (status code 5), and the record
//! of what came in with the password masked.

use serde::Deserialize;

use super::IntelecomRequest;
use crate::testing::loopback::{Recorded, WireMessage};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Req {
    pub(super) service_id: i64,
    pub(super) username: String,
    pub(super) password: String,
    #[serde(default)]
    pub(super) batch_reference: Option<String>,
    pub(super) message: Vec<Msg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Msg {
    pub(super) recipient: String,
    pub(super) content: String,
    #[serde(default)]
    pub(super) price: Option<i64>,
    #[serde(default)]
    pub(super) client_reference: Option<String>,
    #[serde(default)]
    settings: Option<Settings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    validity: Option<i64>,
    #[serde(default)]
    originator_settings: Option<Originator>,
    #[serde(default)]
    parameter: Vec<Param>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    new_session: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Originator {
    originator_type: String,
    originator: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Param {
    key: String,
    value: String,
}

const KNOWN_PARAMETERS: &[&str] = &[
    "businessModel",
    "dcs",
    "udh",
    "pid",
    "flash",
    "parsing-type",
    "skip_customer_report_delivery",
];

/// Why one message is a syntax error (statusCode 5), if it is.
pub(super) fn syntax_error(m: &Msg) -> Option<String> {
    let r = m.recipient.as_bytes();
    if !(r.first() == Some(&b'+')
        && (9..=16).contains(&r.len())
        && r[1..].iter().all(u8::is_ascii_digit)
        && r[1] != b'0')
    {
        return Some(format!("recipient {:?} is not E.164 with +", m.recipient));
    }
    // "Must be a mobile MSISDN": Norwegian mobile numbers are 8 digits
    // starting with 4 or 9 (other countries are not checked).
    let mobile =
        |national: &str| national.len() == 8 && matches!(national.as_bytes()[0], b'4' | b'9');
    if m.recipient.strip_prefix("+47").is_some_and(|n| !mobile(n)) {
        return Some(format!(
            "recipient {:?} is not a mobile number",
            m.recipient
        ));
    }
    if m.content.is_empty() {
        return Some("content is empty".into());
    }
    if m.content.chars().count() > 918 {
        return Some("content is longer than 918 characters".into());
    }
    if m.price.is_some_and(|p| p < 0) {
        return Some("price is negative".into());
    }
    if let Some(s) = &m.settings {
        if s.priority.is_some_and(|p| !(1..=3).contains(&p)) {
            return Some("priority must be 1, 2 or 3".into());
        }
        if s.validity.is_some_and(|v| !(0..=173).contains(&v)) {
            return Some("validity must be 0-173".into());
        }
        if let Some(o) = &s.originator_settings {
            let ok = match o.originator_type.as_str() {
                "ALPHANUMERIC" | "Alphanumeric" => {
                    !o.originator.is_empty()
                        && o.originator.chars().count() <= 11
                        && o.originator
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || " %&-+.,".contains(c))
                }
                "INTERNATIONAL" | "International" => {
                    o.originator.starts_with('+')
                        && o.originator[1..].bytes().all(|b| b.is_ascii_digit())
                }
                "NETWORK" | "Network" => {
                    !o.originator.is_empty() && o.originator.bytes().all(|b| b.is_ascii_digit())
                }
                _ => false,
            };
            if !ok {
                return Some(format!(
                    "originatorSettings {:?}/{:?} is invalid",
                    o.originator_type, o.originator
                ));
            }
        }
        for p in &s.parameter {
            if !KNOWN_PARAMETERS.contains(&p.key.as_str()) {
                return Some(format!("unknown parameter {:?}", p.key));
            }
            if p.key == "skip_customer_report_delivery"
                && !matches!(p.value.as_str(), "true" | "false")
            {
                return Some("skip_customer_report_delivery must be true or false".into());
            }
        }
        // `sessionId` together with `newSession` is documented as allowed
        // (a new session wins), so it is not checked.
        let _ = (&s.session_id, s.new_session);
    }
    None
}

/// The body with the password's JSON string replaced by `"***"`.
/// The body as recorded: the request's password and the emulator's own
/// masked, as JSON strings and as they stand (a body that is not JSON, or
/// not the JSON expected, is recorded too).
fn masked(body: &[u8], req: Option<&Req>, configured: &str) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    let secrets = req
        .map(|r| r.password.as_str())
        .into_iter()
        .chain(Some(configured))
        .filter(|p| !p.is_empty());
    for secret in secrets {
        if let Ok(quoted) = serde_json::to_string(secret) {
            text = text.replace(&quoted, "\"***\"");
        }
        text = text.replace(secret, "***");
    }
    text
}

pub(super) fn recorded(
    body: &[u8],
    req: Option<&Req>,
    configured: &str,
) -> Recorded<IntelecomRequest> {
    Recorded {
        request: req
            .map(|r| IntelecomRequest {
                messages: r.message.iter().map(Msg::wire_message).collect(),
            })
            .unwrap_or_default(),
        masked_body: masked(body, req, configured),
    }
}

impl Msg {
    /// The message in the shape every gateway shares.
    fn wire_message(&self) -> WireMessage {
        let mut w = WireMessage::new(self.recipient.as_str(), self.content.as_str())
            .with_delivery_report(!skips_dr(self));
        if let Some(s) = &self.settings {
            if let Some(o) = &s.originator_settings {
                w = w.with_sender(o.originator.as_str());
            }
            if let Some(p) = s.priority.and_then(|p| u8::try_from(p).ok()) {
                w = w.with_priority(p);
            }
        }
        if let Some(r) = &self.client_reference {
            w = w.with_client_reference(r.as_str());
        }
        w
    }
}

/// Whether a message asked the gateway not to report its delivery.
pub(super) fn skips_dr(m: &Msg) -> bool {
    m.settings.as_ref().is_some_and(|s| {
        s.parameter
            .iter()
            .any(|p| p.key == "skip_customer_report_delivery" && p.value == "true")
    })
}
