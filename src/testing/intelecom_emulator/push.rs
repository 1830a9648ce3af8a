//! Pushing to the CRM as the gateway does: delivery reports and incoming
//! SMS as JSON, XML or one `GET` per entry to a URL template.

use crate::testing::push::{OutgoingPush, PushTarget};

/// How the emulator formats pushes: the gateway's three transports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntelecomPushTransport {
    /// `POST` `{"dr":[…]}` / `{"mo":[…]}`, `application/json`.
    Json,
    /// `POST` `<dr><message>…</message></dr>` / `<mo>…`, `application/xml`.
    Xml,
    /// One `GET` per entry to the target's URL, its `[field]` tokens
    /// replaced by the percent-encoded values (unknown tokens become empty).
    Get,
}

/// A delivery report the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntelecomPushedDr {
    /// The MT `messageId` it reports on.
    pub message_id: String,
    /// The sender's `clientReference`.
    pub client_reference: Option<String>,
    /// The sender's `batchReference`.
    pub batch_reference: Option<String>,
    /// `statuscode` (0 delivered; see the gateway's table).
    pub status_code: i64,
}

/// An incoming SMS the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntelecomPushedMo {
    /// `messageid` (the same on redelivery).
    pub message_id: String,
    /// The short number it was sent to (`sno`).
    pub short_number: String,
    /// The sender, `+47…`.
    pub originator: String,
    /// The whole text.
    pub content: String,
    /// The keyword that routed it, if the service has one.
    pub command: Option<String>,
    /// The session it replies to, if any.
    pub session_id: Option<String>,
}

/// One field value, typed as the gateway types it in JSON.
#[derive(Clone, Debug)]
pub(super) enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Text(t) => t.clone(),
        }
    }
}

pub(super) type Fields = Vec<(&'static str, Value)>;

const DR_STATUS_TEXT: &[(i64, &str)] = &[
    (0, "OK. Message processed successfully."),
    (351, "Unknown recipient"),
    (361, "Validity expired"),
    (364, "Subscriber temporarily unreachable"),
];

impl IntelecomPushedDr {
    pub(super) fn fields(&self) -> Fields {
        let description = DR_STATUS_TEXT
            .iter()
            .find(|(c, _)| *c == self.status_code)
            .map_or("Error", |(_, t)| t);
        let mut f: Fields = vec![("messageid", Value::Text(self.message_id.clone()))];
        if let Some(b) = &self.batch_reference {
            f.push(("customerbatchreference", Value::Text(b.clone())));
        }
        if let Some(r) = &self.client_reference {
            f.push(("customermessagereference", Value::Text(r.clone())));
        }
        f.extend([
            ("serviceid", Value::Int(123)),
            ("servicename", Value::Text("Emulator".into())),
            ("mcc", Value::Int(242)),
            ("mnc", Value::Int(1)),
            ("type", Value::Int(6)),
            ("statuscode", Value::Int(self.status_code)),
            ("statusdescription", Value::Text(description.into())),
            (
                "extstatuscode",
                Value::Text(if self.status_code == 0 { "0" } else { "1" }.into()),
            ),
            (
                "extstatusdescription",
                Value::Text(
                    if self.status_code == 0 {
                        "Delivered"
                    } else {
                        "Failed"
                    }
                    .into(),
                ),
            ),
        ]);
        f
    }
}

impl IntelecomPushedMo {
    pub(super) fn fields(&self) -> Fields {
        let stripped = match &self.command {
            Some(c) => {
                let rest = self.content.trim_start();
                match rest.get(..c.len()) {
                    Some(head) if head.eq_ignore_ascii_case(c) => rest[c.len()..].trim_start(),
                    _ => rest,
                }
            }
            None => self.content.as_str(),
        };
        vec![
            ("messageid", Value::Text(self.message_id.clone())),
            ("serviceid", Value::Int(123)),
            ("servicename", Value::Text("Emulator".into())),
            ("sno", Value::Text(self.short_number.clone())),
            ("originator", Value::Text(self.originator.clone())),
            ("mcc", Value::Int(242)),
            ("mnc", Value::Int(1)),
            ("content", Value::Text(self.content.clone())),
            (
                "command",
                Value::Text(self.command.clone().unwrap_or_default()),
            ),
            ("strippedcontent", Value::Text(stripped.to_owned())),
            ("type", Value::Int(1)),
            ("timestamp", Value::Text("20261124 12:00:00".into())),
            ("sctimestamp", Value::Text("20261124 12:00:00".into())),
            (
                "sessionid",
                Value::Text(self.session_id.clone().unwrap_or_default()),
            ),
        ]
    }
}

/// The HTTP requests that push `entries` under `root` (`dr` or `mo`).
pub(super) fn requests(
    target: &PushTarget,
    format: &IntelecomPushTransport,
    root: &str,
    entries: &[Fields],
) -> Vec<OutgoingPush> {
    match format {
        IntelecomPushTransport::Json => {
            let list: Vec<serde_json::Value> = entries
                .iter()
                .map(|f| {
                    serde_json::Value::Object(
                        f.iter()
                            .map(|(k, v)| {
                                let v = match v {
                                    Value::Int(i) => serde_json::Value::from(*i),
                                    Value::Text(t) => serde_json::Value::from(t.as_str()),
                                };
                                ((*k).to_owned(), v)
                            })
                            .collect(),
                    )
                })
                .collect();
            let body = serde_json::json!({ root: list }).to_string();
            vec![OutgoingPush {
                url: target.url.clone(),
                body: Some(("application/json".into(), body.into_bytes())),
                headers: Vec::new(),
                ids: Vec::new(),
            }]
        }
        IntelecomPushTransport::Xml => {
            let mut w = quick_xml::Writer::new(Vec::new());
            let _ = w.write_event(quick_xml::events::Event::Decl(
                quick_xml::events::BytesDecl::new("1.0", Some("UTF-8"), None),
            ));
            let _ = w.create_element(root).write_inner_content(|w| {
                for f in entries {
                    w.create_element("message").write_inner_content(|w| {
                        for (k, v) in f {
                            w.create_element(*k)
                                .write_text_content(quick_xml::events::BytesText::new(&v.text()))?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            });
            vec![OutgoingPush {
                url: target.url.clone(),
                body: Some(("application/xml".into(), w.into_inner())),
                headers: Vec::new(),
                ids: Vec::new(),
            }]
        }
        IntelecomPushTransport::Get => entries
            .iter()
            .map(|f| OutgoingPush {
                url: fill_template(&target.url, f),
                body: None,
                headers: Vec::new(),
                ids: Vec::new(),
            })
            .collect(),
    }
}

/// Replaces each `[name]` in `template` (case-insensitively) with the
/// percent-encoded value; unknown names become empty.
fn fill_template(template: &str, fields: &Fields) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        if let Some((_, v)) = fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            out.extend(form_urlencoded::byte_serialize(v.text().as_bytes()));
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}
