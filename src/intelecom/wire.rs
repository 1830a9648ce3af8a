//! The Intelecom/Puzzel REST JSON wire format (`POST {base}/gw/rs/sendMessages`),
//! as documented in the gateway's REST and common documentation and its
//! 2013-02 XSD: building the request from a [`Message`], reading the
//! response back into one [`Outcome`] per recipient.
//!
//! Pure functions: no I/O here, so every rule is tested on bytes.

// Why one file above 500 lines: one idea (the request and its answer on the
// wire); about 190 of its lines are unit tests on bytes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sms::{Message, Outcome, Priority, Sender, SmsError, SmsErrorKind};

/// The provider name used in errors and reports.
pub use super::PROVIDER;

/// The parameter key that turns the delivery report off for one message.
pub const SKIP_DELIVERY_REPORT: &str = "skip_customer_report_delivery";

/// The request body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest<'a> {
    /// The service ID.
    pub service_id: u32,
    /// The user name.
    pub username: &'a str,
    /// The password (only ever serialised into the request body).
    #[serde(serialize_with = "expose")]
    pub password: &'a crate::sms::Secret,
    /// The client's batch reference, echoed in DRs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_reference: Option<&'a str>,
    /// One entry per recipient (the JSON key is singular).
    pub message: Vec<RestMessage<'a>>,
}

fn expose<S: serde::Serializer>(s: &&crate::sms::Secret, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose())
}

/// One message of the request (`message[]` of the REST body).
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RestMessage<'a> {
    /// E.164 with `+`.
    pub recipient: &'a str,
    /// The text.
    pub content: &'a str,
    /// Echoed in the response and in DRs as `customermessagereference`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
    /// Per-message settings.
    pub settings: WireSettings<'a>,
}

/// The per-message `settings` object.
#[derive(Debug, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireSettings<'a> {
    /// 1 = low … 3 = high.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// The coded validity (0–173), not minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity: Option<u8>,
    /// The sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub originator_settings: Option<OriginatorSettings>,
    /// Special settings as a list of `{key, value}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameter: Vec<Parameter<'a>>,
}

/// `{originatorType, originator}`; types in upper case as in the JSON
/// documentation and the official .NET client.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OriginatorSettings {
    /// `ALPHANUMERIC`, `INTERNATIONAL` or `NETWORK`.
    pub originator_type: &'static str,
    /// The sender.
    pub originator: String,
}

/// One `{key, value}` parameter.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Parameter<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: &'a str,
}

/// The gateway's coded validity for `d`: the smallest code whose period is
/// at least `d` (0–143: (v+1)×5 min; 144–167: 12 h + (v−143)×30 min;
/// 168–173: (v−166) days).
#[must_use]
pub fn validity_code(d: Duration) -> u8 {
    let minutes = d.as_secs().div_ceil(60);
    if minutes <= 144 * 5 {
        return minutes.div_ceil(5).saturating_sub(1) as u8;
    }
    if minutes <= 12 * 60 + 24 * 30 {
        return (143 + (minutes - 12 * 60).div_ceil(30)) as u8;
    }
    let days = minutes.div_ceil(24 * 60);
    (166 + days.clamp(2, 7)) as u8
}

/// Builds the per-recipient entries of a request for `message`.
#[must_use]
pub fn wire_messages(message: &Message) -> Vec<RestMessage<'_>> {
    let originator = message.sender().map(|s| match s {
        Sender::Alphanumeric(name) => OriginatorSettings {
            originator_type: "ALPHANUMERIC",
            originator: name.clone(),
        },
        Sender::International(n) => OriginatorSettings {
            originator_type: "INTERNATIONAL",
            originator: n.e164().to_owned(),
        },
        Sender::Short(s) => OriginatorSettings {
            originator_type: "NETWORK",
            originator: s.clone(),
        },
        // Sender is non-exhaustive; new kinds are sent as alphanumeric
        // text and checked by the gateway.
        #[allow(unreachable_patterns)]
        other => OriginatorSettings {
            originator_type: "ALPHANUMERIC",
            originator: other.as_text(),
        },
    });
    let unicode =
        crate::sms::encoding::detect(message.text()) == crate::sms::encoding::Encoding::Ucs2;
    message
        .recipients()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut parameter = Vec::new();
            if !message.delivery_report() {
                parameter.push(Parameter {
                    key: SKIP_DELIVERY_REPORT,
                    value: "true",
                });
            }
            if unicode {
                parameter.push(Parameter {
                    key: "parsing-type",
                    value: "AUTO_DETECT",
                });
            }
            RestMessage {
                recipient: r.e164(),
                content: message.text(),
                client_reference: message.recipient_reference(i),
                settings: WireSettings {
                    priority: Some(priority(message.priority())),
                    validity: message.validity().map(validity_code),
                    originator_settings: originator.as_ref().map(|o| OriginatorSettings {
                        originator_type: o.originator_type,
                        originator: o.originator.clone(),
                    }),
                    parameter,
                },
            }
        })
        .collect()
}

fn priority(p: Priority) -> u8 {
    p.number()
}

/// The response body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// The batch reference (optional in practice, though the XSD requires it).
    #[serde(default)]
    pub batch_reference: Option<String>,
    /// One status per message the gateway answered for.
    #[serde(default)]
    pub message_status: Vec<MessageStatus>,
}

/// The gateway's answer for one message.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStatus {
    /// 1 = accepted; see [`status_outcome`].
    pub status_code: i64,
    /// The gateway's text.
    #[serde(default)]
    pub status_message: Option<String>,
    /// The client reference sent.
    #[serde(default)]
    pub client_reference: Option<String>,
    /// The recipient as the gateway normalised it.
    #[serde(default)]
    pub recipient: Option<String>,
    /// The gateway's id, the key of delivery reports.
    #[serde(default)]
    pub message_id: Option<String>,
    /// A session id, when a session was started.
    #[serde(default)]
    pub session_id: Option<String>,
    /// 1-based position in the request.
    #[serde(default)]
    pub sequence_index: Option<i64>,
}

/// The outcome a documented `statusCode` means.
#[must_use]
pub fn status_outcome(status: &MessageStatus) -> Outcome {
    let text = status
        .status_message
        .clone()
        .unwrap_or_else(|| format!("status code {}", status.status_code));
    let err = |kind| {
        SmsError::new(
            kind,
            PROVIDER,
            format!("{text} (status {})", status.status_code),
        )
    };
    match status.status_code {
        1 => match &status.message_id {
            Some(id) if !id.is_empty() => Outcome::Accepted {
                reference: Some(id.clone()),
            },
            // "Accepted" without the id DRs are matched by: still accepted
            // by the gateway's word, but nothing to track.
            _ => Outcome::Accepted { reference: None },
        },
        2 => Outcome::Rejected(err(SmsErrorKind::Unauthenticated)),
        3 => Outcome::Rejected(err(SmsErrorKind::Rejected)),
        4 => Outcome::Rejected(err(SmsErrorKind::InvalidConfig)),
        // The status message names the bad parameter; a bad recipient is
        // the recipient's fault, not the message's.
        5 if text.to_ascii_lowercase().contains("recipient") => {
            Outcome::Rejected(err(SmsErrorKind::InvalidRecipient))
        }
        5 => Outcome::Rejected(err(SmsErrorKind::InvalidMessage)),
        // An internal error at the gateway after it read the request: it
        // may have taken the message (the crate's one reading of a
        // gateway's internal failure, as of HTTP 5xx).
        6 => Outcome::Unknown(err(SmsErrorKind::GatewayInternal)),
        // Held by the spam filter until approved by hand: it may still go.
        24 => Outcome::Unknown(err(SmsErrorKind::RateLimited)),
        // A duplicate reference (the account's uniqueness check, one
        // hour): an earlier request with it was taken, this one was not.
        25 => Outcome::Rejected(err(SmsErrorKind::Duplicate)),
        _ => Outcome::Unknown(err(SmsErrorKind::Protocol)),
    }
}

/// Maps a response body to one outcome per sent message, in request order.
/// Statuses are matched by `sequenceIndex`, then by `clientReference`, never
/// by position; a message without a status gets an unknown outcome (the
/// gateway answered but did not say), and so does every message when the
/// body cannot be read.
#[must_use]
pub fn outcomes(body: &[u8], sent: &[RestMessage<'_>]) -> Vec<Outcome> {
    let response: SendResponse = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            let err = SmsError::new(
                SmsErrorKind::Protocol,
                PROVIDER,
                format!("the gateway's answer is not the documented JSON: {e}"),
            );
            return vec![Outcome::Unknown(err); sent.len()];
        }
    };
    // Statuses by their 1-based sequence index, and (for statuses without
    // one) by client reference; each status answers one message at most.
    let mut by_index: Vec<Option<usize>> = vec![None; sent.len()];
    let mut by_reference: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::default();
    for (j, s) in response.message_status.iter().enumerate() {
        match s.sequence_index {
            Some(n) if n >= 1 && (n as usize) <= sent.len() => {
                by_index[n as usize - 1].get_or_insert(j);
            }
            Some(_) => {}
            None => {
                if let Some(r) = s.client_reference.as_deref() {
                    by_reference.entry(r).or_default().push(j);
                }
            }
        }
    }
    for list in by_reference.values_mut() {
        list.reverse();
    }
    sent.iter()
        .enumerate()
        .map(|(i, m)| {
            let found = by_index[i].or_else(|| {
                let r = m.client_reference.as_deref()?;
                by_reference.get_mut(r)?.pop()
            });
            match found {
                Some(j) => status_outcome(&response.message_status[j]),
                None => Outcome::Unknown(SmsError::new(
                    SmsErrorKind::Protocol,
                    PROVIDER,
                    format!("the gateway's answer has no status for message {}", i + 1),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::Secret;

    fn message(n: usize) -> Message {
        Message::builder()
            .to_all((0..n).map(|i| format!("+47410000{i:02}").parse().unwrap()))
            .text("This is a message from Puzzel.")
            .sender(Sender::parse("Puzzel").unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn request_matches_the_documented_example() {
        let m = message(1);
        let secret = Secret::new("xdyf3bf2");
        let req = SendRequest {
            service_id: 1000,
            username: "Puzzel",
            password: &secret,
            batch_reference: None,
            message: wire_messages(&m),
        };
        let json: serde_json::Value = serde_json::to_value(&req).unwrap();
        let expected: serde_json::Value = serde_json::from_str(
            r#"{"serviceId":1000,"username":"Puzzel","password":"xdyf3bf2",
                "message":[{"recipient":"+4741000000","content":"This is a message from Puzzel.",
                  "settings":{"priority":2,
                    "originatorSettings":{"originator":"Puzzel","originatorType":"ALPHANUMERIC"},
                    "parameter":[{"key":"skip_customer_report_delivery","value":"true"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(json, expected);
        // The request's Debug never shows the password.
        assert!(!format!("{req:?}").contains("xdyf3bf2"));
    }

    #[test]
    fn options_map_to_the_wire() {
        let m = Message::builder()
            .to("+4741000000".parse().unwrap())
            .text("Møte ✅")
            .sender(Sender::parse("1960").unwrap())
            .priority(Priority::High)
            .delivery_report(true)
            .client_reference("case-1")
            .validity(Duration::from_secs(7 * 86_400))
            .build()
            .unwrap();
        let w = &wire_messages(&m)[0];
        assert_eq!(w.settings.priority, Some(3));
        assert_eq!(w.settings.validity, Some(173));
        assert_eq!(w.client_reference.as_deref(), Some("case-1"));
        assert_eq!(
            w.settings
                .originator_settings
                .as_ref()
                .unwrap()
                .originator_type,
            "NETWORK"
        );
        assert_eq!(
            w.settings.parameter,
            [Parameter {
                key: "parsing-type",
                value: "AUTO_DETECT"
            }]
        );
        let many = Message::builder()
            .to_all([
                "+4741000000".parse().unwrap(),
                "+4741000001".parse().unwrap(),
            ])
            .text("x")
            .client_reference("b")
            .build()
            .unwrap();
        let refs: Vec<_> = wire_messages(&many)
            .into_iter()
            .map(|w| w.client_reference)
            .collect();
        assert_eq!(refs, [Some("b-1".to_string()), Some("b-2".to_string())]);
    }

    #[test]
    fn validity_codes() {
        let m = |x: u64| Duration::from_secs(x * 60);
        assert_eq!(validity_code(m(5)), 0);
        assert_eq!(validity_code(m(6)), 1);
        assert_eq!(validity_code(m(12 * 60)), 143);
        assert_eq!(validity_code(m(12 * 60 + 30)), 144);
        assert_eq!(validity_code(m(24 * 60)), 167);
        assert_eq!(validity_code(m(24 * 60 + 1)), 168);
        assert_eq!(validity_code(m(2 * 24 * 60)), 168);
        assert_eq!(validity_code(m(7 * 24 * 60)), 173);
    }

    #[test]
    fn documented_response_gives_the_message_id() {
        let m = message(1);
        let sent = wire_messages(&m);
        let body = br#"{"messageStatus":[{"statusCode":1,"statusMessage":"Message enqueued for sending",
            "clientReference":null,"recipient":"+4741000000","messageId":"760081j1ll00","sessionId":null,"sequenceIndex":1}]}"#;
        assert_eq!(
            outcomes(body, &sent),
            [Outcome::Accepted {
                reference: Some("760081j1ll00".into())
            }]
        );
    }

    #[test]
    fn statuses_are_matched_by_index_not_position_and_gaps_are_unknown() {
        let m = message(3);
        let sent = wire_messages(&m);
        let body = br#"{"messageStatus":[
            {"statusCode":2,"statusMessage":"Access error","sequenceIndex":3},
            {"statusCode":1,"messageId":"a","sequenceIndex":1}]}"#;
        let o = outcomes(body, &sent);
        assert_eq!(
            o[0],
            Outcome::Accepted {
                reference: Some("a".into())
            }
        );
        assert!(matches!(&o[1], Outcome::Unknown(e) if e.kind() == SmsErrorKind::Protocol));
        assert!(matches!(&o[2], Outcome::Rejected(e) if e.is_auth()));
    }

    #[test]
    fn every_documented_status_code() {
        let cases = [
            (2, "rejected", SmsErrorKind::Unauthenticated),
            (3, "rejected", SmsErrorKind::Rejected),
            (4, "rejected", SmsErrorKind::InvalidConfig),
            (5, "rejected", SmsErrorKind::InvalidMessage),
            (6, "unknown", SmsErrorKind::GatewayInternal),
            (24, "unknown", SmsErrorKind::RateLimited),
            (25, "rejected", SmsErrorKind::Duplicate),
            (99, "unknown", SmsErrorKind::Protocol),
        ];
        for (code, what, kind) in cases {
            let s = MessageStatus {
                status_code: code,
                status_message: Some("x".into()),
                client_reference: None,
                recipient: None,
                message_id: None,
                session_id: None,
                sequence_index: Some(1),
            };
            let (got, e) = match status_outcome(&s) {
                Outcome::Rejected(e) => ("rejected", e),
                Outcome::Unknown(e) => ("unknown", e),
                other => panic!("{code}: {other:?}"),
            };
            assert_eq!((got, e.kind()), (what, kind), "{code}");
        }
        // An internal error may have taken the message: never resent.
        assert!(
            !status_outcome(&MessageStatus {
                status_code: 6,
                status_message: None,
                client_reference: None,
                recipient: None,
                message_id: None,
                session_id: None,
                sequence_index: None
            })
            .is_retryable()
        );
    }

    #[test]
    fn unreadable_answers_make_every_recipient_unknown() {
        let m = message(2);
        let sent = wire_messages(&m);
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"{\"messageStatus\":[{\"statusCode\":1",
            b"",
            b"null",
        ] {
            let o = outcomes(body, &sent);
            assert_eq!(o.len(), 2);
            assert!(
                o.iter().all(|o| matches!(o, Outcome::Unknown(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
