//! The conformance kit for a gateway's pushes: an adapter's
//! [`PushFormat`] (how its delivery reports and incoming SMS are read and
//! answered) checked the way [`conformance`](super::conformance) checks its
//! [`SmsProvider`](crate::sms::SmsProvider).
//!
//! Give it the gateway's documented examples and, where the gateway has
//! them, a push with one unreadable entry and a report for a send you
//! recorded; say how the gateway reads an answer ([`AckReading`]). The kit
//! checks that:
//!
//! - every documented example parses, every entry readable, of its kind,
//!   named by the format;
//! - answers have the gateway's shape: all acknowledged reads as all
//!   acknowledged, and no entry marked [`EntryFate::Redeliver`] ever reads
//!   as acknowledged (it would be lost);
//! - an unreadable entry keeps its place, is reported with its raw text,
//!   and keeps its ID, so the answer acknowledges it (the gateway stops
//!   repeating it) while the others are read;
//! - a report for a recorded send names that send's reference;
//! - hostile bodies (empty, cut short, not UTF-8, a megabyte of one byte,
//!   deep nesting) give typed errors or unreadable entries, never a panic.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use crm_comms::sms::push::{EntryFate, PushAnswer, PushEntry, PushFormat, PushKind, PushRequest, Pushed};
//! use crm_comms::sms::{CallbackError, DeliveryReceipt, DeliveryState};
//! use crm_comms::testing::push_kit::{PushKit, PushSample};
//!
//! /// One report per push: `id=<ref>&status=ok`.
//! struct Tiny;
//! impl PushFormat for Tiny {
//!     fn name(&self) -> &'static str { "tiny" }
//!     fn parse(&self, _: PushKind, r: &PushRequest<'_>) -> Result<Vec<PushEntry<Pushed>>, CallbackError> {
//!         let text = String::from_utf8_lossy(r.body);
//!         let id = text.strip_prefix("id=").and_then(|t| t.strip_suffix("&status=ok"));
//!         let entry = id
//!             .map(|id| Pushed::Delivery(DeliveryReceipt::new("tiny", id, DeliveryState::Delivered, "ok")))
//!             .ok_or_else(|| CallbackError::field(0, "id", "unreadable").with_raw(&text));
//!         Ok(vec![PushEntry::without_id(entry)])
//!     }
//!     fn answer(&self, _: PushKind, _: &PushRequest<'_>, e: &[(String, EntryFate)]) -> PushAnswer {
//!         PushAnswer::all_or_redeliver(&e.iter().map(|(_, f)| *f).collect::<Vec<_>>())
//!     }
//! }
//!
//! let report = PushKit::new()
//!     .example(PushSample::post(PushKind::Delivery, "text/plain", "id=t-1&status=ok"))
//!     .bad_entry(PushSample::post(PushKind::Delivery, "text/plain", "id=t-2&status=?"), 0)
//!     .report_for_send(PushSample::post(PushKind::Delivery, "text/plain", "id=t-9&status=ok"), "t-9")
//!     .check(&Tiny)
//!     .await;
//! report.assert_passes();
//! # });
//! ```
//!
//! Stable: this module follows semver.

use std::collections::HashSet;
use std::fmt;

use crate::sms::push::{
    EntryFate, PushAnswer, PushEntry, PushFormat, PushKind, PushRequest, Pushed,
};
use crate::testing::suite::SuiteReport;

/// A push as the gateway sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushSample {
    /// Incoming SMS or delivery reports.
    pub kind: PushKind,
    /// `GET` or `POST`.
    pub method: String,
    /// The `Content-Type` (empty for `GET`).
    pub content_type: String,
    /// The query string (a `GET` push's fields).
    pub query: String,
    /// The body.
    pub body: Vec<u8>,
}

impl PushSample {
    /// A `POST` of `body` as `content_type`.
    #[must_use]
    pub fn post(kind: PushKind, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        PushSample {
            kind,
            method: "POST".into(),
            content_type: content_type.into(),
            query: String::new(),
            body: body.into(),
        }
    }

    /// A `GET` with this query string.
    #[must_use]
    pub fn get(kind: PushKind, query: &str) -> Self {
        PushSample {
            kind,
            method: "GET".into(),
            content_type: String::new(),
            query: query.into(),
            body: Vec::new(),
        }
    }

    /// The same push with another body.
    fn with_body(&self, body: Vec<u8>) -> Self {
        PushSample {
            body,
            ..self.clone()
        }
    }

    fn request(&self) -> PushRequest<'_> {
        PushRequest::new(&self.method, &self.content_type, &self.query, &self.body)
    }
}

type AckFn = dyn Fn(&PushAnswer, &[String]) -> Vec<bool> + Send + Sync;

/// How the gateway reads an answer to a push: for each entry ID, whether
/// it takes the entry as acknowledged (and stops repeating it).
pub struct AckReading(Box<AckFn>);

impl fmt::Debug for AckReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AckReading")
    }
}

impl AckReading {
    /// A gateway that repeats the whole push unless the answer is 2xx (most
    /// gateways; Intelecom, form pushes).
    #[must_use]
    pub fn whole_push_on_2xx() -> Self {
        AckReading(Box::new(|answer, ids| {
            vec![(200..300).contains(&answer.status); ids.len()]
        }))
    }

    /// A gateway with its own reading: `read(answer, ids)` gives, for each
    /// ID in order, whether it is acknowledged.
    pub fn custom(
        read: impl Fn(&PushAnswer, &[String]) -> Vec<bool> + Send + Sync + 'static,
    ) -> Self {
        AckReading(Box::new(read))
    }

    fn read(&self, answer: &PushAnswer, ids: &[String]) -> Vec<bool> {
        (self.0)(answer, ids)
    }
}

/// What the kit checks a [`PushFormat`] with; see the [module docs](self).
#[derive(Debug)]
pub struct PushKit {
    examples: Vec<PushSample>,
    bad_entry: Option<(PushSample, usize)>,
    report_for_send: Option<(PushSample, String)>,
    acks: AckReading,
}

impl Default for PushKit {
    fn default() -> Self {
        PushKit::new()
    }
}

impl PushKit {
    /// No samples yet; answers read as [`AckReading::whole_push_on_2xx`].
    #[must_use]
    pub fn new() -> Self {
        PushKit {
            examples: Vec::new(),
            bad_entry: None,
            report_for_send: None,
            acks: AckReading::whole_push_on_2xx(),
        }
    }

    /// A documented push that must parse, every entry readable.
    #[must_use]
    pub fn example(mut self, sample: PushSample) -> Self {
        self.examples.push(sample);
        self
    }

    /// A push whose entry `index` is unreadable (the others readable).
    #[must_use]
    pub fn bad_entry(mut self, sample: PushSample, index: usize) -> Self {
        self.bad_entry = Some((sample, index));
        self
    }

    /// A delivery report that must name `reference`: the gateway's (or the
    /// client's) reference of a send the test recorded.
    #[must_use]
    pub fn report_for_send(mut self, sample: PushSample, reference: impl Into<String>) -> Self {
        self.report_for_send = Some((sample, reference.into()));
        self
    }

    /// How the gateway reads answers.
    #[must_use]
    pub fn acks_read_as(mut self, reading: AckReading) -> Self {
        self.acks = reading;
        self
    }

    /// Runs every rule on `format`; a rule whose sample was not given is
    /// listed as not run.
    pub async fn check(&self, format: &dyn PushFormat) -> SuiteReport {
        let mut r = SuiteReport::default();
        r.rule("documented examples parse", async {
            self.examples_parse(format);
        })
        .await;
        r.rule("answers have the gateway's shape", async {
            self.answers_shaped(format);
        })
        .await;
        const BAD: &str = "an unreadable entry keeps its place, raw text and ID";
        match &self.bad_entry {
            Some((sample, index)) => {
                r.rule(BAD, async {
                    self.bad_entry_kept(format, sample, *index);
                })
                .await;
            }
            None => r.not_run(BAD, "no PushKit::bad_entry sample"),
        }
        const MATCH: &str = "a report for a recorded send names it";
        match &self.report_for_send {
            Some((sample, reference)) => {
                r.rule(MATCH, async {
                    report_names_send(format, sample, reference);
                })
                .await;
            }
            None => r.not_run(MATCH, "no PushKit::report_for_send sample"),
        }
        r.rule("hostile bodies never panic", async {
            self.hostile_bodies(format);
        })
        .await;
        r
    }

    fn examples_parse(&self, format: &dyn PushFormat) {
        assert!(
            !self.examples.is_empty(),
            "not checked: give the gateway's documented examples (PushKit::example)"
        );
        for (n, sample) in self.examples.iter().enumerate() {
            let entries = parse(format, sample, n);
            assert!(!entries.is_empty(), "example {n}: no entries read");
            for (i, e) in entries.iter().enumerate() {
                match &e.result {
                    Ok(p) => check_kind(format, sample.kind, p, n, i),
                    Err(err) => panic!("example {n}, entry {i} is unreadable: {err}"),
                }
            }
        }
    }

    fn answers_shaped(&self, format: &dyn PushFormat) {
        for (n, sample) in self.examples.iter().enumerate() {
            let ids: Vec<String> = parse(format, sample, n).into_iter().map(|e| e.id).collect();
            let answer_with = |fates: &[EntryFate]| {
                let entries: Vec<(String, EntryFate)> =
                    ids.iter().cloned().zip(fates.iter().copied()).collect();
                format.answer(sample.kind, &sample.request(), &entries)
            };
            let all = answer_with(&vec![EntryFate::Acknowledged; ids.len()]);
            let read = self.acks.read(&all, &ids);
            assert!(
                read.len() == ids.len() && read.iter().all(|a| *a),
                "example {n}: an answer acknowledging every entry is not read as such by the gateway (HTTP {}, {:?})",
                all.status,
                String::from_utf8_lossy(&all.body)
            );
            for redeliver in 0..ids.len() {
                let fates: Vec<EntryFate> = (0..ids.len())
                    .map(|i| {
                        if i == redeliver {
                            EntryFate::Redeliver
                        } else {
                            EntryFate::Acknowledged
                        }
                    })
                    .collect();
                let answer = answer_with(&fates);
                let read = self.acks.read(&answer, &ids);
                assert!(
                    !read.get(redeliver).copied().unwrap_or(true),
                    "example {n}: entry {redeliver} was to be redelivered, but the answer (HTTP {}) acknowledges it: it would be lost",
                    answer.status
                );
            }
        }
    }

    fn bad_entry_kept(&self, format: &dyn PushFormat, sample: &PushSample, index: usize) {
        let entries = parse(format, sample, usize::MAX);
        let Some(bad) = entries.get(index) else {
            panic!(
                "the push has {} entries; entry {index} is missing",
                entries.len()
            )
        };
        match &bad.result {
            Ok(p) => panic!("entry {index} is unreadable but was read as {p:?}"),
            Err(e) => assert!(
                e.raw.as_deref().is_some_and(|r| !r.is_empty()),
                "entry {index} is reported without its raw text: {e}"
            ),
        }
        for (i, e) in entries.iter().enumerate().filter(|(i, _)| *i != index) {
            if let Err(err) = &e.result {
                panic!("entry {i} is readable, but one bad entry made it unreadable: {err}");
            }
        }
        if entries.iter().any(|e| !e.id.is_empty()) {
            assert!(
                !bad.id.is_empty(),
                "the unreadable entry lost its ID: the answer cannot acknowledge it, and the gateway repeats it"
            );
        }
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let fates: Vec<(String, EntryFate)> = ids
            .iter()
            .map(|id| (id.clone(), EntryFate::Acknowledged))
            .collect();
        let answer = format.answer(sample.kind, &sample.request(), &fates);
        let read = self.acks.read(&answer, &ids);
        assert!(
            read.get(index).copied().unwrap_or(false),
            "the unreadable entry (reported) is not acknowledged: the gateway would repeat it forever"
        );
    }

    fn hostile_bodies(&self, format: &dyn PushFormat) {
        let mut samples: Vec<PushSample> = Vec::new();
        for kind in [PushKind::Delivery, PushKind::Incoming] {
            let base = self
                .examples
                .iter()
                .find(|s| s.kind == kind)
                .cloned()
                .unwrap_or_else(|| PushSample::post(kind, "application/octet-stream", ""));
            samples.push(base.with_body(Vec::new()));
            samples.push(base.with_body(vec![b'A'; 1 << 20]));
            samples.push(base.with_body(vec![0xFF, 0xFE, 0x00, b'<', 0xC3]));
            samples.push(base.with_body("<a>".repeat(20_000).into_bytes()));
            samples.push(base.with_body("[{".repeat(20_000).into_bytes()));
            let body = &base.body;
            for cut in [body.len() / 3, body.len() / 2, body.len().saturating_sub(1)] {
                samples.push(base.with_body(body[..cut].to_vec()));
            }
            let mut flipped = body.clone();
            if let Some(b) = flipped.get_mut(body.len() / 2) {
                *b = 0xFF;
            }
            samples.push(base.with_body(flipped));
        }
        for s in &samples {
            let ids: Vec<(String, EntryFate)> = match format.parse(s.kind, &s.request()) {
                Ok(entries) => entries
                    .into_iter()
                    .map(|e| (e.id, EntryFate::Acknowledged))
                    .collect(),
                Err(_) => Vec::new(),
            };
            let _ = format.answer(s.kind, &s.request(), &ids);
        }
    }
}

fn parse(format: &dyn PushFormat, sample: &PushSample, n: usize) -> Vec<PushEntry<Pushed>> {
    let which = if n == usize::MAX {
        "the push".to_owned()
    } else {
        format!("example {n}")
    };
    match format.parse(sample.kind, &sample.request()) {
        Ok(entries) => entries,
        Err(e) => panic!("{which} could not be read at all: {e}"),
    }
}

fn check_kind(format: &dyn PushFormat, kind: PushKind, p: &Pushed, n: usize, i: usize) {
    let provider = match (kind, p) {
        (PushKind::Delivery, Pushed::Delivery(d)) => d.provider,
        (PushKind::Incoming, Pushed::Incoming(m)) => m.provider,
        _ => panic!("example {n}, entry {i}: a {kind:?} push read as {p:?}"),
    };
    assert_eq!(
        provider,
        format.name(),
        "example {n}, entry {i} names another gateway"
    );
}

fn report_names_send(format: &dyn PushFormat, sample: &PushSample, reference: &str) {
    let entries = parse(format, sample, usize::MAX);
    let receipts: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.result {
            Ok(Pushed::Delivery(d)) => Some(d),
            _ => None,
        })
        .collect();
    let named: HashSet<&str> = receipts
        .iter()
        .flat_map(|d| [Some(d.reference.as_str()), d.client_reference.as_deref()])
        .flatten()
        .collect();
    assert!(
        named.contains(reference),
        "no delivery report names the send's reference {reference:?} (they name {named:?})"
    );
}
