//! A third gateway from the docs alone: an adapter for "Acme SMS", a
//! made-up JSON API, written the way this crate's own gateways are; its
//! delivery reports mounted on the webhook receiver through `PushFormat`
//! (dedup, tracking and answers for free); and the conformance suite every
//! provider must pass.
//!
//! ```sh
//! cargo run --example custom_provider --features http,testing,receiver
//! ```
//!
//! Acme's API (served here by the crate's loopback gateway with Acme's
//! `Wire`: what an integrator writes to test an adapter without the real
//! gateway):
//!
//! - `POST /v1/messages`, `Authorization: Bearer <key>`, JSON
//!   `{"to":["+47…"],"text":"…","from":"…"?}`, at most 50 numbers;
//! - answer `{"results":[{"to":"+47…","id":"acme-1"} | {"to":"+47…","error":"…"}]}`,
//!   one per number, in order; 401 for a wrong key;
//! - delivery reports pushed as `POST /acme/dr` with `{"id":"acme-1","status":"delivered"|"failed"}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crm_comms::gateway_http::{GatewayHttp, HttpOptions};
use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
use crm_comms::sms::push::{
    EntryFate, PushAnswer, PushEntry, PushFormat, PushKind, PushRequest, Pushed,
};
use crm_comms::sms::tracking::{DeliveryEvent, DeliveryTracker, MemorySentStore};
use crm_comms::sms::{
    CallbackError, Capabilities, DeliveryReceipt, DeliveryState, Message, Outcome,
    RecipientOutcome, Secret, SendReport, SmsError, SmsErrorKind, SmsProvider, async_trait,
    check_and_send_in_batches,
};
use crm_comms::testing::loopback::{
    Answer, HeaderMap, LoopbackGateway, Recorded, Wire, WireMessage,
};
use crm_comms::testing::push::{PushResult, PushTarget};
use serde_json::{Value, json};

/// The name Acme's outcomes carry.
const PROVIDER: &str = "acme";

/// What Acme documents: Unicode, 50 numbers a request, a reference per
/// message, its own sender names; no reports asked per message (they are
/// on for the account), no priority, no scheduling. Starting from
/// `Capabilities::none()` means nothing is claimed by accident.
const CAPABILITIES: Capabilities = Capabilities::none()
    .with_unicode(true)
    .with_max_batch(50)
    .with_references(true)
    .with_custom_sender(true)
    .with_delivery_reports(true);

/// The adapter. `Debug` must not show the key: `Secret` sees to that.
#[derive(Debug)]
struct Acme {
    http: GatewayHttp,
    url: String,
    key: Secret,
}

impl Acme {
    fn new(base_url: &str, key: &str, options: HttpOptions) -> Result<Self, SmsError> {
        let url = GatewayHttp::check_url(PROVIDER, "Acme URL", base_url, options.allow_http)?;
        Ok(Acme {
            http: GatewayHttp::new(PROVIDER, options)?,
            url: format!("{}/v1/messages", url.as_str().trim_end_matches('/')),
            key: Secret::new(key),
        })
    }

    /// One request for one batch: the wire out, the answer back, exactly
    /// one outcome per recipient.
    async fn send_batch(&self, batch: Message) -> SendReport {
        let body = json!({
            "to": batch.recipients().iter().map(crm_comms::PhoneNumber::e164).collect::<Vec<_>>(),
            "text": batch.text(),
            "from": batch.sender().map(crm_comms::sms::Sender::as_text),
        });
        // The key goes in a header, never in a URL or an error.
        let bearer = format!("Bearer {}", self.key.expose());
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("authorization", bearer.as_str()),
        ];
        let answer = self
            .http
            .post_ok_with_headers(&self.url, &headers, body.to_string().into_bytes())
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(outcome) => return SendReport::same_for_all(&batch, PROVIDER, outcome),
        };
        let results = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v["results"].as_array().cloned())
            .unwrap_or_default();
        let outcomes = batch
            .recipients()
            .iter()
            .enumerate()
            .map(|(i, &recipient)| {
                let r = results.get(i).filter(|r| r["to"] == recipient.e164());
                let outcome = match r {
                    Some(r) if r["id"].is_string() => Outcome::Accepted {
                        reference: r["id"].as_str().map(str::to_owned),
                    },
                    Some(r) => Outcome::Rejected(SmsError::new(
                        SmsErrorKind::InvalidRecipient,
                        PROVIDER,
                        r["error"].as_str().unwrap_or("refused"),
                    )),
                    // The gateway had the request and said nothing about
                    // this number: it may have sent it.
                    None => Outcome::Unknown(SmsError::new(
                        SmsErrorKind::Protocol,
                        PROVIDER,
                        "the answer has no result for this recipient",
                    )),
                };
                RecipientOutcome {
                    recipient,
                    outcome,
                    provider: PROVIDER.to_owned(),
                }
            })
            .collect();
        SendReport::new(outcomes)
    }
}

#[async_trait]
impl SmsProvider for Acme {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn send(&self, message: &Message) -> SendReport {
        // Validation against the capabilities, batching, one outcome per
        // recipient and logging, as every built-in provider does.
        check_and_send_in_batches(message, &CAPABILITIES, PROVIDER, 4, |batch| {
            self.send_batch(batch)
        })
        .await
    }
}

/// Acme's pushes for the webhook receiver: it then routes, dedups,
/// tracks and answers them like the built-in gateways' (`/acme/dr`).
struct AcmePushes;

impl PushFormat for AcmePushes {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn parse(
        &self,
        kind: PushKind,
        request: &PushRequest<'_>,
    ) -> Result<Vec<PushEntry<Pushed>>, CallbackError> {
        if kind != PushKind::Delivery || request.media_type() != "application/json" {
            return Err(CallbackError::unsupported_content_type(
                "Acme pushes delivery reports as JSON",
            ));
        }
        let v: Value = serde_json::from_slice(request.body)
            .map_err(|e| CallbackError::body(format!("is not JSON: {e}")))?;
        let receipt = (|| {
            let status = v["status"].as_str()?;
            let state = match status {
                "delivered" => DeliveryState::Delivered,
                "failed" => DeliveryState::Failed { permanent: true },
                _ => DeliveryState::Unknown,
            };
            Some(DeliveryReceipt::new(
                PROVIDER,
                v["id"].as_str()?,
                state,
                status,
            ))
        })();
        let result = receipt.ok_or_else(|| {
            CallbackError::field(0, "id", "id and status are required")
                .with_raw(&String::from_utf8_lossy(request.body))
        });
        Ok(vec![PushEntry::without_id(result).map(Pushed::Delivery)])
    }

    fn answer(
        &self,
        _: PushKind,
        _: &PushRequest<'_>,
        entries: &[(String, EntryFate)],
    ) -> PushAnswer {
        let fates: Vec<EntryFate> = entries.iter().map(|(_, f)| *f).collect();
        PushAnswer::all_or_redeliver(&fates)
    }
}

/// Acme's side of the wire for the crate's loopback gateway: the request
/// read and checked independently of the adapter, the documented answers.
/// The loopback core adds the recorder, scripted faults and start/stop.
#[derive(Debug, Default)]
struct AcmeWire {
    next: AtomicU64,
}

/// The messages of a request, read with the gateway's own code (never the
/// adapter's): one per number, the same text and sender; Acme reports on
/// every message (reports are on for the account).
fn acme_messages(body: &[u8]) -> Vec<WireMessage> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let text = v["text"].as_str().unwrap_or_default();
    v["to"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| {
            let m = WireMessage::new(n, text).with_delivery_report(true);
            match v["from"].as_str() {
                Some(from) => m.with_sender(from),
                None => m,
            }
        })
        .collect()
}

#[async_trait]
impl Wire for AcmeWire {
    type Request = Vec<WireMessage>;
    type AnswerFault = std::convert::Infallible;
    type PushFormat = ();
    type Dr = Value;
    type Mo = Value;

    fn path(&self) -> &'static str {
        "/v1/messages"
    }

    // The key travels in a header, so the body has nothing to mask.
    fn read(&self, _: &HeaderMap, body: &[u8]) -> Recorded<Vec<WireMessage>> {
        Recorded {
            request: acme_messages(body),
            masked_body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    fn messages(request: &Vec<WireMessage>) -> Vec<WireMessage> {
        request.clone()
    }

    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _: Option<&Self::AnswerFault>,
    ) -> Answer<Self> {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {ACME_KEY}")) {
            return Answer::new(401, "application/json", r#"{"error":"bad key"}"#);
        }
        let text_ok = serde_json::from_slice::<Value>(body).is_ok_and(|v| v["text"].is_string());
        let mut messages = acme_messages(body);
        if messages.is_empty() || messages.len() > 50 || !text_ok {
            return Answer::new(400, "application/json", r#"{"error":"bad request"}"#);
        }
        let results: Vec<Value> = messages
            .iter_mut()
            .map(|m| {
                if m.recipient.ends_with("99") {
                    json!({"to": m.recipient, "error": "not a mobile number"})
                } else {
                    let id = format!("acme-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
                    m.gateway_reference = Some(id.clone());
                    json!({"to": m.recipient, "id": id})
                }
            })
            .collect();
        // Recorded with the IDs given: the conformance suite checks each
        // outcome's reference against them.
        let recorded = Recorded {
            request: messages,
            masked_body: String::from_utf8_lossy(body).into_owned(),
        };
        Answer::new(
            200,
            "application/json",
            json!({ "results": results }).to_string(),
        )
        .recorded(recorded)
    }

    async fn push_drs(&self, target: &PushTarget, (): &(), drs: &[Value]) -> PushResult {
        let requests = drs
            .iter()
            .map(|dr| crm_comms::testing::push::OutgoingPush {
                url: target.url.clone(),
                body: Some(("application/json".into(), dr.to_string().into_bytes())),
                headers: Vec::new(),
                ids: Vec::new(),
            })
            .collect();
        crm_comms::testing::push::deliver(target, requests).await
    }

    async fn push_mos(&self, _: &PushTarget, (): &(), _: &[Value]) -> PushResult {
        PushResult::default() // Acme has no incoming SMS.
    }
}

const ACME_KEY: &str = "acme-key-123";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = LoopbackGateway::start(AcmeWire::default()).await?;
    let options = HttpOptions::default()
        .dangerous_allow_http() // loopback only
        .with_timeout(Duration::from_secs(1));
    let acme = Acme::new(&gateway.base_url(), ACME_KEY, options)?;

    // 1. The contract every provider must keep, checked on the wire too:
    //    each recipient gets its own exact text once, references are the
    //    gateway's, batches of at most 50, one meaning per HTTP status,
    //    lost answers unknown (and never resent), no key in any error or log.
    let config = crm_comms::testing::conformance::Config {
        secrets: vec![ACME_KEY.into()],
        refused_number: Some("+4790000099".parse()?),
        request_timeout: Some(Duration::from_secs(1)),
        grace: Duration::from_secs(2),
        ..Default::default()
    };
    let report = crm_comms::testing::conformance::check_on_loopback(&acme, &gateway, &config).await;
    print!(
        "conformance ({} requests on the wire):\n{report}",
        gateway.requests_seen()
    );
    report.assert_passes();

    // 1b. Its pushes, checked by the push kit: the documented example
    //     parses, an unreadable report is kept with its raw text and
    //     acknowledged, a report names the send it belongs to.
    use crm_comms::testing::push_kit::{PushKit, PushSample};
    let dr = |body: &'static str| PushSample::post(PushKind::Delivery, "application/json", body);
    let pushes = PushKit::new()
        .example(dr(r#"{"id":"acme-1","status":"delivered"}"#))
        .bad_entry(dr(r#"{"status":"delivered"}"#), 0)
        .report_for_send(dr(r#"{"id":"acme-7","status":"failed"}"#), "acme-7")
        .check(&AcmePushes)
        .await;
    print!("push kit:\n{pushes}");
    pushes.assert_passes();

    // 2. A send, tracked so its delivery reports match.
    let tracker = DeliveryTracker::new(MemorySentStore::new());
    let message = Message::builder()
        .to_all(["+4741000001", "+4741000002", "+4790000099"].map(|n| n.parse().unwrap()))
        .text("Hei fra Acme")
        .build()?;
    let report = tracker.send("case-1", &acme, &message).await?;
    for o in report.outcomes() {
        println!("{}: {:?}", o.recipient, o.outcome);
    }

    // 3. Its delivery-report route, next to the receiver's own routes.
    let deliveries = |e: DeliveryEvent| async move {
        println!(
            "delivery report for {:?}: {:?}",
            e.sent.as_ref().map(|s| s.key.as_str()),
            e.state()
        );
        Ok::<(), HandlerError>(())
    };
    let receiver = crm_comms::receiver::WebhookReceiver::builder(
        InboundRouter::new(|_: Routed| async { Ok(()) }),
        deliveries,
    )
    .tracker(tracker.clone())
    .gateway(AcmePushes)
    .build()?;
    let app = receiver.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let first = report.outcomes()[0].outcome.reference().unwrap_or_default();
    // The gateway's report, pushed the way the loopback core pushes
    // (redelivered until the receiver answers 200).
    let pushed = gateway
        .push_drs(
            &PushTarget::new(format!("{base}/acme/dr")),
            &(),
            &[json!({"id": first, "status": "delivered"})],
        )
        .await;
    println!("DR push answered HTTP {:?}", pushed.statuses);
    Ok(())
}
