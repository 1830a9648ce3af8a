//! The conformance suite catches what an adapter gets wrong: one adapter
//! that keeps the contract passes (with and without a claim of refusing
//! duplicates), and each of a battery of adapters broken in one way — at
//! least one per rule — fails the suite, on the rule it breaks, driven
//! against the generic loopback gateway with a third gateway's wire
//! ("Kite", JSON) written for this test.
#![cfg(all(feature = "http", feature = "testing"))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crm_comms::gateway_http::{GatewayHttp, HttpOptions};
use crm_comms::sms::{
    Capabilities, Message, Outcome, RecipientOutcome, Secret, SendReport, SmsError, SmsErrorKind,
    SmsProvider, async_trait, check_and_send_in_batches,
};
use crm_comms::testing::conformance::{Config, check_on_loopback};
use crm_comms::testing::loopback::{
    Answer, HeaderMap, LoopbackGateway, Recorded, Wire, WireMessage,
};
use crm_comms::testing::push::{PushResult, PushTarget};
use serde_json::{Value, json};

const KEY: &str = "kite-key-6120";
const TIMEOUT: Duration = Duration::from_millis(600);

/// Kite's gateway: `POST /send` of `{"key", "messages":[{"to","text",
/// "from"?,"priority"?,"dr"?,"ref"?}]}`, answered `{"results":[{"id"} |
/// {"error"}]}` in order; numbers ending in 99 are refused; a wrong key is
/// 401; with the duplicate check on, a `ref` seen before is refused as
/// `duplicate`.
#[derive(Debug, Default)]
struct KiteWire {
    next: AtomicU64,
    duplicate_check: AtomicBool,
    refs: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The messages of a Kite body, read with the gateway's own code.
fn kite_messages(body: &[u8]) -> Vec<WireMessage> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let mut w = WireMessage::new(
                m["to"].as_str().unwrap_or_default(),
                m["text"].as_str().unwrap_or_default(),
            )
            .with_delivery_report(m["dr"].as_bool().unwrap_or(false));
            if let Some(s) = m["from"].as_str() {
                w = w.with_sender(s);
            }
            if let Some(p) = m["priority"].as_u64() {
                w = w.with_priority(u8::try_from(p).unwrap_or(0));
            }
            if let Some(r) = m["ref"].as_str() {
                w = w.with_client_reference(r);
            }
            w
        })
        .collect()
}

#[async_trait]
impl Wire for KiteWire {
    type Request = Vec<WireMessage>;
    type AnswerFault = std::convert::Infallible;
    type PushFormat = ();
    type Dr = ();
    type Mo = ();

    fn path(&self) -> &'static str {
        "/send"
    }

    fn read(&self, _: &HeaderMap, body: &[u8]) -> Recorded<Vec<WireMessage>> {
        Recorded {
            request: kite_messages(body),
            masked_body: String::from_utf8_lossy(body).replace(KEY, "***"),
        }
    }

    fn messages(request: &Vec<WireMessage>) -> Vec<WireMessage> {
        request.clone()
    }

    fn answer(&self, h: &HeaderMap, body: &[u8], _: Option<&Self::AnswerFault>) -> Answer<Self> {
        let key_ok = serde_json::from_slice::<Value>(body).is_ok_and(|v| v["key"] == KEY);
        if !key_ok {
            return Answer::error_page(401, "bad key");
        }
        let mut read = self.read(h, body);
        let mut refs = self.refs.lock().unwrap();
        let results: Vec<Value> = read
            .request
            .iter_mut()
            .map(|m| {
                if m.recipient.ends_with("99") {
                    return json!({"error": "refused"});
                }
                if let Some(r) = &m.client_reference
                    && !refs.insert(r.clone())
                    && self.duplicate_check.load(Ordering::Relaxed)
                {
                    return json!({"error": "duplicate"});
                }
                let id = format!("kite-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
                m.gateway_reference = Some(id.clone());
                json!({ "id": id })
            })
            .collect();
        Answer::new(
            200,
            "application/json",
            json!({ "results": results }).to_string(),
        )
        .recorded(read)
    }

    async fn push_drs(&self, _: &PushTarget, (): &(), _: &[()]) -> PushResult {
        PushResult::default()
    }

    async fn push_mos(&self, _: &PushTarget, (): &(), _: &[()]) -> PushResult {
        PushResult::default()
    }
}

/// What an adapter gets wrong, if anything: one way each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    /// Claims the gateway refuses duplicates, truthfully (the wire checks).
    HonestDuplicateClaim,
    OutcomesReversed,
    NoReferences,
    GivesUpAfterFirstBatch,
    IgnoresTextLimit,
    InvalidSenderNotRefused,
    RefusedFailsAll,
    SchedulingNotRefused,
    PanicsOnEmpty,
    FalseDuplicateClaim,
    DebugShowsKey,
    KeyInError,
    KeyDeepInSource,
    KeyLogged,
    DropsSender,
    DropsPriority,
    DropsDeliveryReport,
    DropsClientReference,
    TruncatesText,
    QuestionMarks,
    SendsTwice,
    SendEachFirstText,
    RotatesReferences,
    NeverSplits,
    ServerErrorAsRejected,
    AuthAsInvalidRecipient,
    RetryAfterDropped,
    TimeoutAsRejected,
    UnreadableAsRejected,
    ResendsUnknown,
    LateResend,
}

/// Each flaw and the rule that must catch it.
const BATTERY: &[(Flaw, &str)] = &[
    (
        Flaw::OutcomesReversed,
        "one outcome per recipient, in order",
    ),
    (Flaw::NoReferences, "one outcome per recipient, in order"),
    (Flaw::GivesUpAfterFirstBatch, "batches are split"),
    (Flaw::IgnoresTextLimit, "texts as the capabilities say"),
    (
        Flaw::InvalidSenderNotRefused,
        "an invalid sender is refused",
    ),
    (
        Flaw::RefusedFailsAll,
        "a refused recipient is rejected alone",
    ),
    (
        Flaw::SchedulingNotRefused,
        "unsupported options are refused",
    ),
    (Flaw::PanicsOnEmpty, "send_each: one report per message"),
    (
        Flaw::FalseDuplicateClaim,
        "a claim of refusing duplicates holds",
    ),
    (Flaw::DebugShowsKey, "no secret in Debug or errors"),
    (Flaw::KeyInError, "no secret in Debug or errors"),
    (Flaw::KeyDeepInSource, "no secret in Debug or errors"),
    (Flaw::KeyLogged, "nothing logged shows a secret"),
    (Flaw::DropsSender, "each message arrives once, intact"),
    (Flaw::DropsPriority, "each message arrives once, intact"),
    (
        Flaw::DropsDeliveryReport,
        "each message arrives once, intact",
    ),
    (
        Flaw::DropsClientReference,
        "each message arrives once, intact",
    ),
    (Flaw::TruncatesText, "each message arrives once, intact"),
    (Flaw::QuestionMarks, "each message arrives once, intact"),
    (Flaw::SendsTwice, "each message arrives once, intact"),
    (
        Flaw::SendEachFirstText,
        "send_each: each text to its own recipient",
    ),
    (
        Flaw::RotatesReferences,
        "references are the gateway's, per recipient",
    ),
    (Flaw::NeverSplits, "batches fit on the wire"),
    (Flaw::ServerErrorAsRejected, "one meaning per HTTP status"),
    (Flaw::AuthAsInvalidRecipient, "one meaning per HTTP status"),
    (Flaw::RetryAfterDropped, "one meaning per HTTP status"),
    (
        Flaw::TimeoutAsRejected,
        "a lost answer is unknown and not resent",
    ),
    (
        Flaw::UnreadableAsRejected,
        "a lost answer is unknown and not resent",
    ),
    (
        Flaw::ResendsUnknown,
        "a lost answer is unknown and not resent",
    ),
    (Flaw::LateResend, "no request after the last step"),
];

const CAPS: Capabilities = Capabilities::none()
    .with_limits(crm_comms::sms::encoding::Limits::standard(3))
    .with_unicode(true)
    .with_max_batch(2)
    .with_references(true)
    .with_client_references(true)
    .with_custom_sender(true)
    .with_priority(true)
    .with_delivery_reports(true);

/// A source error two levels down, for the flaw that hides the key there.
#[derive(Debug, thiserror::Error)]
#[error("connection refused")]
struct Outer(#[source] Inner);

#[derive(Debug, thiserror::Error)]
#[error("login as {0} failed")]
struct Inner(String);

#[derive(Debug)]
struct KiteAdapter {
    http: GatewayHttp,
    url: String,
    key: Secret,
    /// Shown by `Debug`: empty unless the flaw is to show the key.
    #[allow(dead_code)] // read by the derived Debug
    debug_note: String,
    flaw: Flaw,
}

impl KiteAdapter {
    fn new(base_url: &str, flaw: Flaw) -> Self {
        let options = HttpOptions::default()
            .dangerous_allow_http()
            .with_timeout(TIMEOUT);
        KiteAdapter {
            http: GatewayHttp::new("kite", options).unwrap(),
            url: format!("{base_url}/send"),
            key: Secret::new(KEY),
            debug_note: if flaw == Flaw::DebugShowsKey {
                format!("key={KEY}")
            } else {
                String::new()
            },
            flaw,
        }
    }

    fn caps(&self) -> Capabilities {
        match self.flaw {
            Flaw::HonestDuplicateClaim | Flaw::FalseDuplicateClaim => {
                CAPS.with_rejects_duplicates(Some(Duration::from_secs(3600)))
            }
            _ => CAPS,
        }
    }

    /// What the adapter checks messages against (the flawed ones check
    /// less than they claim).
    fn checked_caps(&self) -> Capabilities {
        match self.flaw {
            Flaw::NeverSplits => self.caps().with_max_batch(10_000),
            Flaw::IgnoresTextLimit => self
                .caps()
                .with_limits(crm_comms::sms::encoding::Limits::standard(30)),
            Flaw::InvalidSenderNotRefused => {
                let mut rules = crm_comms::sms::SenderRules::ANY;
                rules.max_alphanumeric = 20;
                self.caps().with_sender_rules(rules)
            }
            Flaw::SchedulingNotRefused => self.caps().with_scheduling(true),
            _ => self.caps(),
        }
    }

    fn body(&self, batch: &Message) -> Vec<u8> {
        let mut text = batch.text().to_owned();
        if self.flaw == Flaw::TruncatesText {
            text = text.chars().take(160).collect();
        }
        if self.flaw == Flaw::QuestionMarks {
            text = text
                .chars()
                .map(|c| {
                    if c.is_ascii() || "æøåÆØÅéÜ€£".contains(c) {
                        c
                    } else {
                        '?'
                    }
                })
                .collect();
        }
        let messages: Vec<Value> = batch
            .recipients()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut m = json!({ "to": r.e164(), "text": text });
                if let Some(s) = batch.sender().filter(|_| self.flaw != Flaw::DropsSender) {
                    m["from"] = json!(s.as_text());
                }
                if self.flaw != Flaw::DropsPriority {
                    m["priority"] = json!(batch.priority().number());
                }
                if self.flaw != Flaw::DropsDeliveryReport {
                    m["dr"] = json!(batch.delivery_report());
                }
                if let Some(r) = batch
                    .recipient_reference(i)
                    .filter(|_| self.flaw != Flaw::DropsClientReference)
                {
                    m["ref"] = json!(r);
                }
                m
            })
            .collect();
        json!({ "key": self.key.expose(), "messages": messages })
            .to_string()
            .into_bytes()
    }

    async fn post(&self, body: Vec<u8>) -> Result<Vec<u8>, Outcome> {
        if self.flaw == Flaw::KeyLogged {
            tracing::debug!(key = self.key.expose(), "kite: posting");
        }
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        self.http
            .post_ok_with_headers(&self.url, &headers, body)
            .await
    }

    /// The flaws that misreport an error.
    fn misreport(&self, outcome: Outcome) -> Outcome {
        match (self.flaw, outcome) {
            (Flaw::TimeoutAsRejected, Outcome::Unknown(e)) if e.kind() == SmsErrorKind::Timeout => {
                Outcome::Rejected(e)
            }
            (Flaw::ServerErrorAsRejected, Outcome::Unknown(e))
                if e.kind() == SmsErrorKind::GatewayInternal =>
            {
                Outcome::Rejected(e)
            }
            (Flaw::AuthAsInvalidRecipient, Outcome::Rejected(e))
                if e.kind() == SmsErrorKind::Unauthenticated =>
            {
                Outcome::Rejected(SmsError::new(
                    SmsErrorKind::InvalidRecipient,
                    "kite",
                    e.to_string(),
                ))
            }
            (Flaw::RetryAfterDropped, Outcome::Rejected(e)) => {
                Outcome::Rejected(SmsError::new(e.kind(), "kite", e.to_string()))
            }
            (_, o) => o,
        }
    }

    fn refused(&self, why: &str) -> SmsError {
        let kind = if why == "duplicate" {
            SmsErrorKind::Duplicate
        } else {
            SmsErrorKind::InvalidRecipient
        };
        match self.flaw {
            Flaw::KeyInError => SmsError::new(kind, "kite", format!("{why} (as {KEY})")),
            Flaw::KeyDeepInSource => {
                SmsError::new(kind, "kite", why.to_owned()).with_source(Outer(Inner(KEY.into())))
            }
            _ => SmsError::new(kind, "kite", why.to_owned()),
        }
    }

    async fn send_batch(&self, batch: Message) -> SendReport {
        if self.flaw == Flaw::GivesUpAfterFirstBatch && batch.recipient_reference(0).is_none() {
            // (without a client reference: only the batches of the split rule)
            static BATCHES: AtomicU64 = AtomicU64::new(0);
            if BATCHES.fetch_add(1, Ordering::Relaxed) > 3 {
                let e = SmsError::new(SmsErrorKind::Unavailable, "kite", "gave up");
                return SendReport::same_for_all(&batch, "kite", Outcome::Rejected(e));
            }
        }
        let body = self.body(&batch);
        let mut answer = self.post(body.clone()).await;
        if self.flaw == Flaw::SendsTwice {
            answer = self.post(body.clone()).await;
        }
        if let Err(Outcome::Unknown(e)) = &answer {
            if self.flaw == Flaw::ResendsUnknown {
                answer = self.post(body.clone()).await;
            } else if self.flaw == Flaw::LateResend && e.kind() == SmsErrorKind::Timeout {
                let (http, url) = (self.http.clone(), self.url.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let headers = [("content-type", "application/json")];
                    let _ = http.post_ok_with_headers(&url, &headers, body).await;
                });
            }
        }
        let answer = match answer {
            Ok(a) => a,
            Err(o) => return SendReport::same_for_all(&batch, "kite", self.misreport(o)),
        };
        let Some(results) = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v["results"].as_array().cloned())
        else {
            let e = SmsError::new(SmsErrorKind::Protocol, "kite", "unreadable answer");
            let o = if self.flaw == Flaw::UnreadableAsRejected {
                Outcome::Rejected(e)
            } else {
                Outcome::Unknown(e)
            };
            return SendReport::same_for_all(&batch, "kite", o);
        };
        let mut ids: Vec<Option<String>> = results
            .iter()
            .map(|r| r["id"].as_str().map(str::to_owned))
            .collect();
        if self.flaw == Flaw::RotatesReferences && ids.len() > 1 {
            ids.rotate_left(1);
        }
        let any_refused = results.iter().any(|r| r["error"].is_string());
        let mut outcomes: Vec<RecipientOutcome> = batch
            .recipients()
            .iter()
            .enumerate()
            .map(|(i, &recipient)| {
                let outcome = match (results.get(i), ids.get(i).cloned().flatten()) {
                    _ if self.flaw == Flaw::RefusedFailsAll && any_refused => {
                        Outcome::Rejected(self.refused("refused"))
                    }
                    (Some(_), Some(id)) => Outcome::Accepted {
                        reference: (self.flaw != Flaw::NoReferences).then_some(id),
                    },
                    (Some(r), None) => {
                        Outcome::Rejected(self.refused(r["error"].as_str().unwrap_or("refused")))
                    }
                    (None, _) => Outcome::Unknown(SmsError::new(
                        SmsErrorKind::Protocol,
                        "kite",
                        "no result for this recipient",
                    )),
                };
                RecipientOutcome {
                    recipient,
                    outcome,
                    provider: "kite".into(),
                }
            })
            .collect();
        if self.flaw == Flaw::OutcomesReversed {
            outcomes.reverse();
        }
        SendReport::new(outcomes)
    }
}

#[async_trait]
impl SmsProvider for KiteAdapter {
    fn name(&self) -> &'static str {
        "kite"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps()
    }

    async fn send(&self, message: &Message) -> SendReport {
        check_and_send_in_batches(message, &self.checked_caps(), "kite", 1, |batch| {
            self.send_batch(batch)
        })
        .await
    }

    async fn send_each(&self, messages: &[Message]) -> Vec<SendReport> {
        let first_text = match self.flaw {
            Flaw::PanicsOnEmpty => Some(messages[0].text().to_owned()),
            Flaw::SendEachFirstText => messages.first().map(|m| m.text().to_owned()),
            _ => None,
        };
        let mut reports = Vec::new();
        for m in messages {
            let m = match &first_text {
                Some(text) if self.flaw == Flaw::SendEachFirstText => Message::builder()
                    .to_all(m.recipients().iter().copied())
                    .text(text.clone())
                    .build()
                    .unwrap(),
                _ => m.clone(),
            };
            reports.push(self.send(&m).await);
        }
        reports
    }
}

/// Runs the suite on a fresh gateway: the names of the rules it failed
/// and what each saw (empty: passed).
async fn suite(flaw: Flaw) -> Vec<(String, String)> {
    let gateway = LoopbackGateway::start(KiteWire::default()).await.unwrap();
    if flaw == Flaw::HonestDuplicateClaim {
        gateway
            .wire()
            .duplicate_check
            .store(true, Ordering::Relaxed);
    }
    let adapter = KiteAdapter::new(&gateway.base_url(), flaw);
    let config = Config {
        secrets: vec![KEY.into()],
        refused_number: Some("+4790000099".parse().unwrap()),
        request_timeout: Some(TIMEOUT),
        grace: Duration::from_millis(1500),
        ..Config::default()
    };
    let report = check_on_loopback(&adapter, &gateway, &config).await;
    assert!(report.not_run.is_empty(), "{report}");
    // Each failure names its rule and what was seen; the others ran.
    report
        .failures()
        .into_iter()
        .map(|(rule, seen)| (rule.to_owned(), seen.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adapter_that_keeps_the_contract_passes() {
    for flaw in [Flaw::None, Flaw::HonestDuplicateClaim] {
        let failed = suite(flaw).await;
        assert!(failed.is_empty(), "{flaw:?}: {failed:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_suite_catches_each_broken_adapter_on_the_rule_it_breaks() {
    let runs: Vec<_> = BATTERY
        .iter()
        .map(|&(flaw, rule)| tokio::spawn(async move { (flaw, rule, suite(flaw).await) }))
        .collect();
    let mut missed = Vec::new();
    for run in runs {
        let (flaw, rule, failed) = run.await.unwrap();
        if !failed.iter().any(|(r, _)| r == rule) {
            missed.push(format!(
                "{flaw:?} not caught by {rule:?}; failed: {failed:?}"
            ));
        }
        for (_, seen) in &failed {
            assert!(
                !seen.contains(KEY),
                "{flaw:?}: a failure message shows the key: {seen}"
            );
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
    // Every rule of the suite has at least one broken adapter that fails it.
    let report = {
        let gateway = LoopbackGateway::start(KiteWire::default()).await.unwrap();
        let adapter = KiteAdapter::new(&gateway.base_url(), Flaw::None);
        let config = Config {
            refused_number: Some("+4790000099".parse().unwrap()),
            request_timeout: Some(TIMEOUT),
            grace: Duration::from_millis(100),
            ..Config::default()
        };
        check_on_loopback(&adapter, &gateway, &config).await
    };
    for (rule, _) in &report.rules {
        assert!(
            BATTERY.iter().any(|(_, r)| r == rule),
            "no broken adapter in the battery for the rule {rule:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_what_the_loopback_rules_need_they_fail_saying_so() {
    let gateway = LoopbackGateway::start(KiteWire::default()).await.unwrap();
    let adapter = KiteAdapter::new(&gateway.base_url(), Flaw::None);
    let config = Config {
        grace: Duration::from_millis(100),
        ..Config::default()
    };
    let report = check_on_loopback(&adapter, &gateway, &config).await;
    let failed = report.failures();
    let names: Vec<&str> = failed.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        names,
        [
            "a refused recipient is rejected alone",
            "a lost answer is unknown and not resent"
        ],
        "{report}"
    );
    assert!(
        failed
            .iter()
            .all(|(_, seen)| seen.contains("not checked: Config::")),
        "{report}"
    );
}
