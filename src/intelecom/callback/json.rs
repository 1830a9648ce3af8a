//! The JSON pushes (`{"dr":[…]}`, `{"mo":[…]}`), streamed with serde.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{CallbackError, Fields, MAX_BODY, Parsed};

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
                                format!("has more than {} fields", crate::sms::push::MAX_FIELDS),
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

/// Reads the entries of `{"<root>":[{…},…]}`; each entry's values may be
/// strings, numbers, booleans or null. Streamed with serde (no
/// intermediate `serde_json::Value`); an entry that is not an object, or a
/// field that is a list or an object, is an error in its place.
pub(super) fn json_entries<'a>(body: &'a [u8], root: &str) -> Result<Parsed<'a>, CallbackError> {
    use serde::de::DeserializeSeed;

    if body.len() > MAX_BODY {
        return Err(CallbackError::body("is too large"));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| CallbackError::body(format!("is not UTF-8 JSON: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let entries = Push {
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
