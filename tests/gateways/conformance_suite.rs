//! The conformance suite catches what an adapter gets wrong on the wire:
//! one adapter that keeps the contract passes, and each of four that break
//! it in one way (never splits batches, reports a timeout as rejected,
//! resends a request the gateway may have taken, shows its key in an
//! error) fails the suite, driven against the generic loopback gateway.
#![cfg(all(feature = "http", feature = "testing"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crm_comms::gateway_http::{GatewayHttp, HttpOptions};
use crm_comms::sms::{
    Capabilities, ErrorKind, Message, Outcome, RecipientOutcome, Secret, SendReport, SmsError,
    SmsProvider, async_trait, check_and_send_in_batches,
};
use crm_comms::testing::conformance::{Config, check_on_loopback};
use crm_comms::testing::loopback::{Answer, HeaderMap, LoopbackGateway, Recorded, Wire};
use crm_comms::testing::push::{PushResult, PushTarget};

const KEY: &str = "line-key-6120";

/// A gateway that takes `key\nnumber\nnumber…\n\ntext` and answers one
/// `OK <id>` line per number; a wrong key is 401.
#[derive(Debug, Default)]
struct LineWire {
    next: AtomicU64,
}

fn lines(body: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(body);
    let mut parts = text.split('\n');
    let key = parts.next().unwrap_or("").to_owned();
    let numbers = parts
        .take_while(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (key, numbers)
}

#[async_trait]
impl Wire for LineWire {
    type Request = Vec<String>;
    type AnswerFault = std::convert::Infallible;
    type PushFormat = ();
    type Dr = ();
    type Mo = ();

    fn path(&self) -> &'static str {
        "/send"
    }

    fn read(&self, _: &HeaderMap, body: &[u8]) -> Recorded<Vec<String>> {
        let (_, numbers) = lines(body);
        let masked = String::from_utf8_lossy(body).replacen(KEY, "***", 1);
        Recorded {
            request: numbers,
            masked_body: masked,
        }
    }

    fn recipients(request: &Vec<String>) -> usize {
        request.len()
    }

    fn answer(&self, _: &HeaderMap, body: &[u8], _: Option<&Self::AnswerFault>) -> Answer<Self> {
        let (key, numbers) = lines(body);
        if key != KEY {
            return Answer::error_page(401, "bad key");
        }
        let text: String = numbers
            .iter()
            .map(|_| format!("OK {}\n", self.next.fetch_add(1, Ordering::Relaxed)))
            .collect();
        Answer::new(200, "text/plain", text)
    }

    async fn push_drs(&self, _: &PushTarget, (): &(), _: &[()]) -> PushResult {
        PushResult::default()
    }

    async fn push_mos(&self, _: &PushTarget, (): &(), _: &[()]) -> PushResult {
        PushResult::default()
    }
}

/// What an adapter gets wrong, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    NeverSplits,
    TimeoutAsRejected,
    ResendsUnknown,
    KeyInError,
}

#[derive(Debug)]
struct LineAdapter {
    http: GatewayHttp,
    url: String,
    key: Secret,
    flaw: Flaw,
}

const CAPS: Capabilities = Capabilities::none()
    .with_unicode(true)
    .with_max_batch(2)
    .with_references(true);

impl LineAdapter {
    fn new(base_url: &str, flaw: Flaw) -> Self {
        let options = HttpOptions::default()
            .dangerous_allow_http()
            .with_timeout(Duration::from_millis(600));
        LineAdapter {
            http: GatewayHttp::new("line", options).unwrap(),
            url: format!("{base_url}/send"),
            key: Secret::new(KEY),
            flaw,
        }
    }

    async fn post(&self, batch: &Message) -> Result<Vec<u8>, Outcome> {
        let mut body = format!("{}\n", self.key.expose());
        for r in batch.recipients() {
            body.push_str(r.e164());
            body.push('\n');
        }
        body.push('\n');
        body.push_str(batch.text());
        let url = &self.url;
        self.http
            .post_ok(url, "text/plain", "text/plain", body.into_bytes())
            .await
    }

    async fn send_batch(&self, batch: Message) -> SendReport {
        let mut answer = self.post(&batch).await;
        if self.flaw == Flaw::ResendsUnknown && matches!(answer, Err(Outcome::Unknown(_))) {
            answer = self.post(&batch).await;
        }
        let answer = match answer {
            Ok(a) => a,
            Err(Outcome::Unknown(e)) if self.flaw == Flaw::TimeoutAsRejected => {
                return SendReport::same_for_all(&batch, "line", Outcome::Rejected(e));
            }
            Err(Outcome::Rejected(e)) if self.flaw == Flaw::KeyInError => {
                let leaky =
                    SmsError::new(e.kind(), "line", format!("{e} (key {})", self.key.expose()));
                return SendReport::same_for_all(&batch, "line", Outcome::Rejected(leaky));
            }
            Err(o) => return SendReport::same_for_all(&batch, "line", o),
        };
        let text = String::from_utf8_lossy(&answer).into_owned();
        let mut ids = text.lines().map(|l| l.trim_start_matches("OK ").to_owned());
        let outcomes = batch
            .recipients()
            .iter()
            .map(|&recipient| RecipientOutcome {
                recipient,
                outcome: match ids.next() {
                    Some(id) => Outcome::Accepted {
                        reference: Some(id),
                    },
                    None => Outcome::Unknown(SmsError::new(
                        ErrorKind::Protocol,
                        "line",
                        "no answer line for this recipient",
                    )),
                },
                provider: "line".into(),
            })
            .collect();
        SendReport::new(outcomes)
    }
}

#[async_trait]
impl SmsProvider for LineAdapter {
    fn name(&self) -> &'static str {
        "line"
    }

    fn capabilities(&self) -> Capabilities {
        CAPS
    }

    async fn send(&self, message: &Message) -> SendReport {
        // The flawed one claims batches of 2 but sends everything at once.
        let caps = if self.flaw == Flaw::NeverSplits {
            CAPS.with_max_batch(10_000)
        } else {
            CAPS
        };
        check_and_send_in_batches(message, &caps, "line", 1, |batch| self.send_batch(batch)).await
    }
}

/// Runs the suite on a fresh gateway; whether it passed, and the panic
/// message if not.
async fn suite(flaw: Flaw) -> Result<(), String> {
    let gateway = Arc::new(LoopbackGateway::start(LineWire::default()).await.unwrap());
    let adapter = LineAdapter::new(&gateway.base_url(), flaw);
    let config = Config {
        secrets: vec![KEY.into()],
        request_timeout: Some(Duration::from_millis(600)),
        ..Config::default()
    };
    let report = check_on_loopback(&adapter, &gateway, &config).await;
    let failed = report.failures();
    if failed.is_empty() {
        return Ok(());
    }
    // Each failure names its rule and what was seen; the other rules ran.
    assert!(report.rules.len() > failed.len(), "{report:?}");
    Err(failed
        .iter()
        .map(|(rule, seen)| format!("{rule}: {seen}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adapter_that_keeps_the_contract_passes() {
    suite(Flaw::None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_suite_catches_each_flaw() {
    for (flaw, rule) in [
        (Flaw::NeverSplits, "batches fit on the wire: "),
        (Flaw::TimeoutAsRejected, "expected Unknown"),
        (Flaw::ResendsUnknown, "must not be sent again"),
        (Flaw::KeyInError, "shows a secret"),
    ] {
        let failure = suite(flaw).await.expect_err(&format!("{flaw:?} passed"));
        assert!(failure.contains(rule), "{flaw:?}: {failure}");
    }
}
