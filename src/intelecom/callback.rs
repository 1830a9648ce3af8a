//! Delivery reports and incoming SMS pushed by Intelecom/Puzzel: JSON
//! (`{"dr":[…]}`, `{"mo":[…]}`), XML (`<dr><message>…`, `<mo><message>…`)
//! and GET templates, into [`DeliveryReceipt`] and [`IncomingMessage`].
//!
//! A batch gives one result per entry, so one bad entry never loses the
//! others. Field names are compared case-insensitively (GET templates name
//! them as the customer chose, e.g. `customerMessageReference`), and a
//! repeated name keeps its first value ([`Fields`]).

use quick_xml::events::Event;

use super::wire::PROVIDER;
use crate::phone::PhoneNumber;
use crate::sms::push::{Fields, MAX_FIELDS};
use crate::sms::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage};

/// Largest callback body read, in bytes.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// What a DR `statuscode` means.
#[must_use]
pub fn dr_state(code: i64) -> DeliveryState {
    match code {
        // 390: sent but not billed — delivered as far as the sender cares.
        0 | 390 => DeliveryState::Delivered,
        361 | 362 => DeliveryState::Expired,
        350 | 351 | 357 | 358 | 359 | 654 | 655 => DeliveryState::Failed { permanent: true },
        354 | 355 | 356 | 360 | 363 | 364 | 368 | 369 | 370 | 371 | 380 | 385 | 386 | 650 | 651
        | 652 | 653 => DeliveryState::Failed { permanent: false },
        _ => DeliveryState::Unknown,
    }
}

fn dr_from_fields(i: usize, mut f: Fields) -> Result<DeliveryReceipt, CallbackError> {
    let reference = f
        .take("messageid")
        .ok_or_else(|| CallbackError::field(i, "messageid", "is missing"))?;
    let code_text = f
        .take("statuscode")
        .ok_or_else(|| CallbackError::field(i, "statuscode", "is missing"))?;
    let code: i64 = code_text.trim().parse().map_err(|_| {
        CallbackError::field(i, "statuscode", format!("{code_text:?} is not a number"))
    })?;
    let operator = match (f.take("extstatuscode"), f.take("extstatusdescription")) {
        (Some(c), Some(d)) => Some(format!("{c} {d}")),
        (c, d) => c.or(d),
    };
    Ok(DeliveryReceipt {
        provider: PROVIDER,
        reference,
        client_reference: f.take("customermessagereference"),
        batch_reference: f.take("customerbatchreference"),
        recipient: f
            .take("recipient")
            .or_else(|| f.take("msisdn"))
            .and_then(|r| PhoneNumber::parse(&r, None).ok()),
        state: dr_state(code),
        status_code: code.to_string(),
        description: f.take("statusdescription"),
        operator_status: operator,
        done_at: f
            .take("timestamp")
            .or_else(|| f.take("deliverytime"))
            .map(|t| crate::sms::gateway_time(&t)),
    })
}

fn mo_from_fields(i: usize, mut f: Fields) -> Result<IncomingMessage, CallbackError> {
    let id = f
        .take("messageid")
        .ok_or_else(|| CallbackError::field(i, "messageid", "is missing"))?;
    let from_raw = f
        .take("originator")
        .ok_or_else(|| CallbackError::field(i, "originator", "is missing"))?;
    let text = f
        .remove("content")
        .ok_or_else(|| CallbackError::field(i, "content", "is missing"))?;
    let network = match (f.take("mcc"), f.take("mnc")) {
        (Some(mcc), Some(mnc)) => Some(format!("{mcc}:{mnc}")),
        _ => None,
    };
    Ok(IncomingMessage {
        provider: PROVIDER,
        id,
        unique_id: true,
        from: PhoneNumber::parse(&from_raw, None).ok(),
        from_raw,
        to: f.take("sno"),
        text,
        keyword: f.take("command"),
        stripped_text: f.remove("strippedcontent"),
        session_id: f.take("sessionid"),
        received_at: f.take("timestamp"),
        network,
        extras: {
            let mut rest: Vec<(String, String)> = f.into_iter().collect();
            rest.sort();
            rest
        },
    })
}

/// Reads the entries of `{"<root>":[{…},…]}`; each entry's values may be
/// strings, numbers, booleans or null. Streamed with serde (no
/// intermediate `serde_json::Value`); an entry that is not an object, or a
/// field that is a list or an object, is an error in its place.
fn json_entries<'a>(body: &'a [u8], root: &str) -> Result<Parsed<'a>, CallbackError> {
    use serde::de::DeserializeSeed;

    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| CallbackError::body(format!("is not UTF-8 JSON: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let entries = json::Push {
        root,
        base: text.as_ptr() as usize,
    }
    .deserialize(&mut de)
    .and_then(|e| de.end().map(|()| e))
    .map_err(|e| {
        if e.is_data() {
            // Well-formed JSON of another shape (a list, a string, a
            // root that is not a list).
            CallbackError::body(format!("has no \"{root}\" list ({e})"))
        } else {
            CallbackError::body(format!("is not JSON: {e}"))
        }
    })?;
    let entries = entries.ok_or_else(|| CallbackError::body(format!("has no \"{root}\" list")))?;
    Ok(Parsed {
        text: text.into(),
        entries,
    })
}

/// The serde visitors behind [`json_entries`].
mod json {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{CallbackError, Fields};

    /// The whole body: the `root` list, if present.
    pub(super) struct Push<'a> {
        pub(super) root: &'a str,
        /// Where the body starts in memory (entries' spans are offsets).
        pub(super) base: usize,
    }

    type Entries = Vec<(std::ops::Range<usize>, Result<Fields, CallbackError>)>;

    impl<'de> DeserializeSeed<'de> for Push<'_> {
        type Value = Option<Entries>;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Push<'_> {
        type Value = Option<Entries>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an object with a \"{}\" list", self.root)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.root && found.is_none() {
                    found = Some(map.next_value_seed(List(self.base))?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    /// The list of entries (with the body's start).
    struct List(usize);

    impl<'de> DeserializeSeed<'de> for List {
        type Value = Entries;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for List {
        type Value = Entries;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of entries")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            // Each entry's text first (borrowed, no copy), then its fields:
            // an entry that cannot be read keeps its raw text for the report.
            while let Some(raw) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                let i = entries.len();
                let start = (raw.get().as_ptr() as usize).saturating_sub(self.0);
                let mut de = serde_json::Deserializer::from_str(raw.get());
                let entry = Entry(i)
                    .deserialize(&mut de)
                    .unwrap_or_else(|e| Err(CallbackError::field(i, "entry", e.to_string())));
                entries.push((start..start + raw.get().len(), entry));
            }
            Ok(entries)
        }
    }

    /// One entry: its fields, or why it cannot be read.
    struct Entry(usize);

    impl<'de> DeserializeSeed<'de> for Entry {
        type Value = Result<Fields, CallbackError>;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl Entry {
        fn not_an_object<E>(&self) -> Result<Result<Fields, CallbackError>, E> {
            Ok(Err(CallbackError::field(
                self.0,
                "entry",
                "is not an object",
            )))
        }
    }

    impl<'de> Visitor<'de> for Entry {
        type Value = Result<Fields, CallbackError>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an entry")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Fields::new();
            let mut error = None;
            while let Some(Key(key)) = map.next_key::<Key>()? {
                match map.next_value::<Scalar>()? {
                    Scalar::Text(v) => {
                        if !fields.insert(key, v) {
                            error.get_or_insert_with(|| {
                                CallbackError::field(
                                    self.0,
                                    "entry",
                                    format!("has more than {} fields", super::MAX_FIELDS),
                                )
                            });
                        }
                    }
                    Scalar::Null => {}
                    Scalar::Nested => {
                        error.get_or_insert_with(|| {
                            CallbackError::field(self.0, &key, "is not a string or number")
                        });
                    }
                }
            }
            Ok(match error {
                Some(e) => Err(e),
                None => Ok(fields),
            })
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            self.not_an_object()
        }

        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            self.not_an_object()
        }

        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            self.not_an_object()
        }

        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            self.not_an_object()
        }

        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            self.not_an_object()
        }

        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            self.not_an_object()
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            self.not_an_object()
        }
    }

    /// A field name, lowercased as it is read.
    struct Key(String);

    impl<'de> de::Deserialize<'de> for Key {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl Visitor<'_> for KeyVisitor {
        type Value = Key;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field name")
        }

        fn visit_str<E>(self, v: &str) -> Result<Key, E> {
            Ok(Key(v.to_ascii_lowercase()))
        }
    }

    /// A field's value as text.
    enum Scalar {
        Text(String),
        Null,
        /// A list or an object (consumed).
        Nested,
    }

    impl<'de> de::Deserialize<'de> for Scalar {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ScalarVisitor)
        }
    }

    struct ScalarVisitor;

    impl<'de> Visitor<'de> for ScalarVisitor {
        type Value = Scalar;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }

        fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
            Ok(Scalar::Text(v.to_owned()))
        }

        fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
            Ok(Scalar::Text(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
            Ok(Scalar::Text(v.to_string()))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
            Ok(Scalar::Text(v.to_string()))
        }

        fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
            // As serde_json writes it (`1.0`, `2.5`).
            Ok(Scalar::Text(
                serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string()),
            ))
        }

        fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
            Ok(Scalar::Text(v.to_string()))
        }

        fn visit_unit<E>(self) -> Result<Scalar, E> {
            Ok(Scalar::Null)
        }

        fn visit_none<E>(self) -> Result<Scalar, E> {
            Ok(Scalar::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Scalar::Nested)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Scalar::Nested)
        }
    }
}

/// Reads the entries of `<root><message><field>…</field>…</message>…</root>`,
/// decoded as the XML declaration says (ISO-8859-1 or UTF-8). No DTD is
/// read and no entity but XML's own five is expanded. Elements below a
/// field are skipped; past [`MAX_FIELDS`] the entry fails. An entry that
/// fails keeps its raw text.
fn xml_entries<'a>(body: &'a [u8], root: &str) -> Result<Parsed<'a>, CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let doc = crate::xml_text::decode_document(body).map_err(CallbackError::body)?;
    let mut reader = quick_xml::Reader::from_str(&doc);
    reader.config_mut().trim_text(true);
    let mut depth = 0usize;
    let mut entries = Vec::new();
    let mut current: Option<(Fields, Option<CallbackError>, usize)> = None;
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut saw_root = false;
    let position = |r: &quick_xml::Reader<&[u8]>| usize::try_from(r.buffer_position()).unwrap_or(0);
    loop {
        let before = position(&reader);
        let event = reader
            .read_event()
            .map_err(|e| CallbackError::body(format!("is not well-formed XML: {e}")))?;
        let i = entries.len();
        let too_many =
            || CallbackError::field(i, "entry", format!("has more than {MAX_FIELDS} fields"));
        match event {
            Event::Start(e) => {
                depth += 1;
                let name = || String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                match depth {
                    1 if name() == root => saw_root = true,
                    1 => {
                        return Err(CallbackError::body(format!(
                            "root element is <{}>, not <{root}>",
                            name()
                        )));
                    }
                    2 => current = Some((Fields::new(), None, before)),
                    3 => {
                        field = Some(name());
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Empty(e) if depth == 2 => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if let Some((f, error, _)) = current.as_mut()
                    && !f.insert(name, String::new())
                {
                    error.get_or_insert_with(too_many);
                }
            }
            Event::Text(t) if depth == 3 => match t.unescape() {
                Ok(s) => text.push_str(&s),
                Err(e) => {
                    if let Some((_, error, _)) = current.as_mut() {
                        let name = field.clone().unwrap_or_default();
                        error.get_or_insert_with(|| CallbackError::field(i, &name, e.to_string()));
                    }
                }
            },
            Event::CData(t) if depth == 3 => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                match depth {
                    3 => {
                        if let (Some((f, error, _)), Some(name)) = (current.as_mut(), field.take())
                            && !f.insert(name, std::mem::take(&mut text))
                        {
                            error.get_or_insert_with(too_many);
                        }
                    }
                    2 => {
                        if let Some((f, error, start)) = current.take() {
                            let end = position(&reader);
                            entries.push((
                                start..end,
                                match error {
                                    None => Ok(f),
                                    Some(e) => Err(e),
                                },
                            ));
                        }
                    }
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof if depth > 0 => {
                return Err(CallbackError::body(
                    "is not well-formed XML: it ends inside an element",
                ));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(CallbackError::body(format!("has no <{root}> element")));
    }
    Ok(Parsed {
        text: doc.into(),
        entries,
    })
}

/// A push's entries: each one's place in `text` and its fields.
struct Parsed<'a> {
    text: std::borrow::Cow<'a, str>,
    entries: Vec<(std::ops::Range<usize>, Result<Fields, CallbackError>)>,
}

impl Parsed<'_> {
    /// Each entry built with `build`; an entry that fails carries its raw
    /// text.
    fn build<T>(
        self,
        build: fn(usize, Fields) -> Result<T, CallbackError>,
    ) -> Vec<Result<T, CallbackError>> {
        let text = self.text;
        self.entries
            .into_iter()
            .enumerate()
            .map(|(i, (span, f))| {
                f.and_then(|f| build(i, f))
                    .map_err(|e| match text.get(span) {
                        Some(raw) => e.with_raw(raw),
                        None => e,
                    })
            })
            .collect()
    }
}

fn query_fields(query: &[u8]) -> Fields {
    form_urlencoded::parse(query.strip_prefix(b"?").unwrap_or(query))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

/// The parser behind [`IntelecomPushes`], reachable for fuzz targets,
/// benches and tests through `crm_comms::testing::wire::intelecom` (not
/// API).
#[allow(unreachable_pub)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) mod entries {
    use super::{
        CallbackError, DeliveryReceipt, Fields, IncomingMessage, dr_from_fields, json_entries,
        mo_from_fields, query_fields, xml_entries,
    };

    /// How a push's entries are written (its body, or a GET's query).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PushBody {
        /// `{"dr":[…]}` / `{"mo":[…]}` (POST).
        Json,
        /// `<dr><message>…` / `<mo><message>…` (POST).
        Xml,
        /// A GET template's query string: one entry.
        Query,
    }

    /// What a push carries: delivery reports or incoming SMS.
    pub trait PushedEntry: Sized {
        /// The JSON list's or XML root's name (`dr`, `mo`).
        const ROOT: &'static str;
        /// The entry at `index` from its fields.
        ///
        /// # Errors
        ///
        /// The field that is missing or unreadable.
        fn from_fields(index: usize, fields: Fields) -> Result<Self, CallbackError>;
    }

    impl PushedEntry for DeliveryReceipt {
        const ROOT: &'static str = "dr";
        fn from_fields(index: usize, fields: Fields) -> Result<Self, CallbackError> {
            dr_from_fields(index, fields)
        }
    }

    impl PushedEntry for IncomingMessage {
        const ROOT: &'static str = "mo";
        fn from_fields(index: usize, fields: Fields) -> Result<Self, CallbackError> {
            mo_from_fields(index, fields)
        }
    }

    /// The entries of a push written as `encoding` (for
    /// [`PushBody::Query`], `input` is the query string), each read on
    /// its own: a bad entry is an `Err` in its place, with its raw text.
    ///
    /// # Errors
    ///
    /// A [`CallbackError`] when the body as a whole cannot be read.
    pub fn read<T: PushedEntry>(
        encoding: PushBody,
        input: &[u8],
    ) -> Result<Vec<Result<T, CallbackError>>, CallbackError> {
        Ok(match encoding {
            PushBody::Json => json_entries(input, T::ROOT)?.build(T::from_fields),
            PushBody::Xml => xml_entries(input, T::ROOT)?.build(T::from_fields),
            PushBody::Query => vec![T::from_fields(0, query_fields(input))],
        })
    }
}

/// Intelecom's pushes for the webhook receiver: JSON and XML `POST`s and
/// `GET` templates on `/intelecom/mo` and `/intelecom/dr`, answered 200
/// (empty) once every entry is handled and 500 to have the batch
/// redelivered (the gateway repeats the whole push).
#[derive(Clone, Copy, Debug, Default)]
pub struct IntelecomPushes;

impl crate::sms::push::PushFormat for IntelecomPushes {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn accepts_get(&self) -> bool {
        true
    }

    fn parse(
        &self,
        kind: crate::sms::push::PushKind,
        request: &crate::sms::push::PushRequest<'_>,
    ) -> Result<Vec<crate::sms::push::PushEntry<crate::sms::push::Pushed>>, CallbackError> {
        use crate::sms::push::{PushEntry, PushKind, Pushed};
        use entries::{PushBody, read};
        let (encoding, input) = if request.method.eq_ignore_ascii_case("GET") {
            (PushBody::Query, request.query.as_bytes())
        } else {
            let encoding = match request.media_type().as_str() {
                "application/json" => PushBody::Json,
                "application/xml" | "text/xml" => PushBody::Xml,
                other => {
                    return Err(CallbackError::unsupported_content_type(format!(
                        "content type {other:?} is not JSON or XML"
                    )));
                }
            };
            (encoding, request.body)
        };
        Ok(match kind {
            PushKind::Delivery => read::<DeliveryReceipt>(encoding, input)?
                .into_iter()
                .map(|r| PushEntry::without_id(r).map(Pushed::Delivery))
                .collect(),
            _ => read::<IncomingMessage>(encoding, input)?
                .into_iter()
                .map(|r| PushEntry::without_id(r).map(Pushed::Incoming))
                .collect(),
        })
    }

    fn answer(
        &self,
        _: crate::sms::push::PushKind,
        _: &crate::sms::push::PushRequest<'_>,
        entries: &[(String, crate::sms::push::EntryFate)],
    ) -> crate::sms::push::PushAnswer {
        let fates: Vec<_> = entries.iter().map(|(_, f)| *f).collect();
        crate::sms::push::PushAnswer::all_or_redeliver(&fates)
    }
}
