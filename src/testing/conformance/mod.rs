//! The contract every [`SmsProvider`] must keep, checked: for this crate's
//! providers and third parties' alike.
//!
//! [`check_all`] runs the rules that need only the provider;
//! [`check_on_loopback`] adds those that read the gateway's side of the
//! wire: the adapter talks to a [`LoopbackGateway`] (its own [`Wire`], or
//! one of this crate's emulators) that records every request and plays
//! scripted faults, so the suite compares what was sent with what the
//! adapter says — each recipient once with its own exact text, sender,
//! priority, report flag and reference; each accepted outcome's reference
//! the one the gateway gave *that* recipient; batches within `max_batch`;
//! one meaning per HTTP status ([`Outcome::for_http_status`]); a lost answer
//! unknown and never resent, not even later; no secret in any error (at
//! any depth of its source chain), in `Debug` or in anything logged through
//! `tracing` during the run.
//!
//! Both return a [`SuiteReport`]: each rule by name, passed or failed with
//! what was seen; a panic inside the adapter fails the rule it happened in
//! and the others still run. [`run_all`] and [`run_on_loopback`] assert it
//! passes, for tests:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use crm_comms::sms::StubProvider;
//! use crm_comms::testing::conformance;
//!
//! let provider = StubProvider::new_ok();
//! let report = conformance::check_all(&provider, &conformance::Config::default()).await;
//! report.assert_passes();
//! // A rule the config cannot feed is listed as not run, never skipped in silence.
//! assert!(report.to_string().contains("not run"));
//! # });
//! ```
//!
//! The rules assume the provider accepts well-formed messages to the
//! configured numbers (point it at an emulator or a test account). On the
//! loopback, [`Config::refused_number`] and [`Config::request_timeout`] are
//! required: without them the rules that need them fail, saying so.
//!
//! Stable: this module follows semver (new rules may be added in minor
//! versions; a rule is never weakened without a major one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::phone::PhoneNumber;
use crate::sms::encoding::{Encoding, preview};
use crate::sms::{
    Message, Outcome, Priority, SendReport, Sender, SmsError, SmsErrorKind, SmsProvider,
};
use crate::testing::loopback::{Fault, LoopbackGateway, Received, Wire, WireMessage};
use crate::testing::suite::{LogCapture, SuiteReport};

mod provider_rules;
mod wire_rules;

pub use provider_rules::{
    batches_are_split, duplicates_refused_as_claimed, invalid_sender_refused,
    one_outcome_per_recipient, refused_recipient, secrets_redacted, send_each_reports,
    texts_per_capability, unsupported_options_refused,
};
pub use wire_rules::{
    batches_fit_on_the_wire, http_statuses_mean_one_thing, lost_answers_unknown,
    no_request_after_the_last_step, references_are_the_gateways, send_each_on_the_wire,
    wire_carries_each_message,
};

/// What the checks need to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Numbers the provider will accept (the defaults when empty).
    pub numbers: Vec<PhoneNumber>,
    /// Secrets that must never appear in the provider's `Debug`, in any
    /// error or in anything it logs.
    pub secrets: Vec<String>,
    /// A valid number the gateway refuses (a landline, a number the
    /// emulator is told to refuse): [`refused_recipient`] needs it.
    /// Required on the loopback.
    pub refused_number: Option<PhoneNumber>,
    /// The provider's request timeout, short enough to test (a few
    /// seconds): [`lost_answers_unknown`] makes the gateway answer later
    /// than that and expects `Unknown`. Required on the loopback.
    pub request_timeout: Option<Duration>,
    /// How long the suite waits after its last step for a request that
    /// should never come (a resend in the background): 3 s by default.
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            numbers: ["+4790000001", "+4790000002", "+4790000003"]
                .iter()
                .map(|s| s.parse().expect("valid test number"))
                .collect(),
            secrets: Vec::new(),
            refused_number: None,
            request_timeout: None,
            grace: Duration::from_secs(3),
        }
    }
}

/// The most recipients a check sends in one message: a gateway without a
/// batch limit (`max_batch` huge, even `usize::MAX`) is checked with this
/// many, never with an overflowing count.
pub const MAX_CHECKED_RECIPIENTS: usize = 1000;

/// The longest text a check builds: a gateway whose limit is longer is
/// checked at this length (and its limit is not probed).
pub const MAX_CHECKED_TEXT: usize = 10_000;

impl Config {
    /// The secrets to look for (empty ones would match everything).
    fn secrets(&self) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// The configured numbers (the defaults when none).
fn pool(config: &Config) -> Vec<PhoneNumber> {
    if config.numbers.is_empty() {
        Config::default().numbers
    } else {
        config.numbers.clone()
    }
}

/// `n` numbers from the config, repeated as needed.
fn numbers(config: &Config, n: usize) -> Vec<PhoneNumber> {
    let pool = pool(config);
    (0..n).map(|i| pool[i % pool.len()]).collect()
}

/// The configured numbers without repeats (at most three).
fn distinct(config: &Config) -> Vec<PhoneNumber> {
    let mut out: Vec<PhoneNumber> = Vec::new();
    for n in pool(config) {
        if !out.contains(&n) && out.len() < 3 {
            out.push(n);
        }
    }
    out
}

/// A token no earlier run used (for client references).
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", nanos % 0xFFFF_FFFF_FFFF)
}

fn build(builder: crate::sms::MessageBuilder) -> Message {
    builder.build().expect("the suite builds valid messages")
}

fn assert_in_order(report: &SendReport, message: &Message) {
    let got: Vec<_> = report.outcomes().iter().map(|o| o.recipient).collect();
    assert_eq!(
        got,
        message.recipients(),
        "the report must have exactly one outcome per recipient, in the message's order"
    );
}

fn assert_all_accepted(report: &SendReport, what: &str) {
    for o in report.outcomes() {
        assert!(
            o.outcome.is_accepted(),
            "{what}: a well-formed message to {} was not accepted: {:?}",
            o.recipient,
            o.outcome
        );
    }
}

/// Where `secret` shows in `e`: its `Display`, its `Debug`, or any error
/// down its source chain.
fn secret_in_error(e: &SmsError, secret: &str) -> Option<String> {
    if format!("{e:?}").contains(secret) {
        return Some("the error's Debug".into());
    }
    let mut level: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = level {
        if err.to_string().contains(secret) || format!("{err:?}").contains(secret) {
            return Some(if depth == 0 {
                "the error's message".into()
            } else {
                format!("the error's source at depth {depth}")
            });
        }
        level = err.source();
        depth += 1;
    }
    None
}

/// Panics when an error in `report` shows one of the configured secrets.
fn assert_no_secret_in(report: &SendReport, config: &Config) {
    for secret in config.secrets() {
        for o in report.outcomes() {
            if let Some(e) = o.outcome.error()
                && let Some(place) = secret_in_error(e, secret)
            {
                panic!("a configured secret shows in {place} (kind {:?})", e.kind());
            }
        }
    }
}

/// The personalised messages [`send_each_reports`] sends: a text of its own
/// to each recipient, one message with two recipients.
fn personalised(config: &Config, tag: &str) -> Vec<Message> {
    let to = distinct(config);
    let mut out: Vec<Message> = (0..3)
        .map(|i| {
            build(
                Message::builder()
                    .to(to[i % to.len()])
                    .text(format!("Conformance {tag}: Hei nummer {}", i + 1)),
            )
        })
        .collect();
    if to.len() >= 2 {
        out.push(build(
            Message::builder()
                .to_all(to[..2].iter().copied())
                .text(format!("Conformance {tag}: to both")),
        ));
    }
    out
}

/// Every check of [`check_on_loopback`]; panics naming every rule broken.
pub async fn run_on_loopback<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) {
    check_on_loopback(p, gateway, config).await.assert_passes();
}

/// Every check of [`check_all`]; panics naming every rule broken.
pub async fn run_all(p: &dyn SmsProvider, config: &Config) {
    check_all(p, config).await.assert_passes();
}

/// The rules that need only the provider.
async fn provider_rules(
    r: &mut SuiteReport,
    p: &dyn SmsProvider,
    config: &Config,
    on_loopback: bool,
) {
    r.rule(
        "one outcome per recipient, in order",
        one_outcome_per_recipient(p, config),
    )
    .await;
    r.rule("batches are split", batches_are_split(p, config))
        .await;
    r.rule(
        "texts as the capabilities say",
        texts_per_capability(p, config),
    )
    .await;
    r.rule(
        "an invalid sender is refused",
        invalid_sender_refused(p, config),
    )
    .await;
    const REFUSED: &str = "a refused recipient is rejected alone";
    if config.refused_number.is_some() || on_loopback {
        r.rule(REFUSED, refused_recipient(p, config)).await;
    } else {
        r.not_run(REFUSED, "Config::refused_number is not set");
    }
    r.rule(
        "unsupported options are refused",
        unsupported_options_refused(p, config),
    )
    .await;
    r.rule(
        "send_each: one report per message",
        send_each_reports(p, config),
    )
    .await;
    r.rule(
        "a claim of refusing duplicates holds",
        duplicates_refused_as_claimed(p, config),
    )
    .await;
    r.rule("no secret in Debug or errors", secrets_redacted(p, config))
        .await;
}

/// The rule that reads what was logged.
fn logged_rule(r: &mut SuiteReport, logs: &LogCapture, config: &Config) {
    let text = logs.text();
    let leak = config.secrets().find(|s| text.contains(s));
    r.rules.push((
        "nothing logged shows a secret",
        match leak {
            None => Ok(()),
            Some(secret) => {
                let line = text
                    .lines()
                    .find(|l| l.contains(secret))
                    .unwrap_or("")
                    .replace(secret, "***");
                Err(format!(
                    "a configured secret was logged through tracing: {line}"
                ))
            }
        },
    ));
}

/// Every rule that needs only the provider, each rule's result by name: a
/// rule the provider breaks — or a panic inside the provider — fails that
/// rule, and the others still run. [`refused_recipient`] is listed as not
/// run without [`Config::refused_number`].
pub async fn check_all(p: &dyn SmsProvider, config: &Config) -> SuiteReport {
    let logs = LogCapture::default();
    let mut r = SuiteReport::default();
    logs.run(provider_rules(&mut r, p, config, false)).await;
    logged_rule(&mut r, &logs, config);
    r
}

/// [`check_all`]'s rules and the wire's, against `gateway`, which the
/// provider must be configured to talk to. Every rule runs:
/// [`Config::refused_number`] and [`Config::request_timeout`] are
/// required, and the rules that need them fail without them.
pub async fn check_on_loopback<W: Wire>(
    p: &dyn SmsProvider,
    gateway: &LoopbackGateway<W>,
    config: &Config,
) -> SuiteReport {
    let logs = LogCapture::default();
    let mut r = SuiteReport::default();
    logs.run(async {
        provider_rules(&mut r, p, config, true).await;
        r.rule(
            "each message arrives once, intact",
            wire_carries_each_message(p, gateway, config),
        )
        .await;
        r.rule(
            "send_each: each text to its own recipient",
            send_each_on_the_wire(p, gateway, config),
        )
        .await;
        r.rule(
            "references are the gateway's, per recipient",
            references_are_the_gateways(p, gateway, config),
        )
        .await;
        r.rule(
            "batches fit on the wire",
            batches_fit_on_the_wire(p, gateway, config),
        )
        .await;
        r.rule(
            "one meaning per HTTP status",
            http_statuses_mean_one_thing(p, gateway, config),
        )
        .await;
        r.rule(
            "a lost answer is unknown and not resent",
            lost_answers_unknown(p, gateway, config),
        )
        .await;
        r.rule(
            "no request after the last step",
            no_request_after_the_last_step(gateway, config),
        )
        .await;
    })
    .await;
    logged_rule(&mut r, &logs, config);
    r
}
