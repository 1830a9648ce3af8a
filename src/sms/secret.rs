//! Credentials that never show up in `Debug`, `Display`, errors or logs.

use std::fmt;

/// A password or API key. `Debug` prints `Secret(***)`; there is no
/// `Display`. The value is only reachable through
/// [`expose`](Secret::expose), which makes every use of it easy to find.
///
/// ```
/// use crm_comms::sms::Secret;
///
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for the one place that must send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (a missing password).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

/// Visitor methods that refuse their value without showing it.
macro_rules! refuse_without_quoting {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<E: serde::de::Error>(self, _: $ty) -> Result<Secret, E> {
                Err(not_a_string())
            }
        )*
    };
}

/// Reads a string; anything else is an error that does not quote the
/// value (serde's own "invalid type: integer `…`" would show a numeric
/// password in the settings loader's error).
struct SecretVisitor;

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }

    refuse_without_quoting! {
        visit_bool: bool,
        visit_i64: i64,
        visit_u64: u64,
        visit_i128: i128,
        visit_u128: u128,
        visit_f64: f64,
        visit_char: char,
        visit_bytes: &[u8],
    }
}

fn not_a_string<E: serde::de::Error>() -> E {
    E::custom("a secret must be a string (quote it); its value is not shown")
}

impl<'de> serde::Deserialize<'de> for Secret {
    /// Reads a string. Any other type is refused with an error that does
    /// not quote the value.
    ///
    /// ```
    /// use crm_comms::sms::Secret;
    ///
    /// let e = serde_json::from_str::<Secret>("73910455").unwrap_err();
    /// assert!(!e.to_string().contains("73910455"));
    /// ```
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `deserialize_any`: with `deserialize_string` the format itself
        // builds the type error, quoting the value.
        d.deserialize_any(SecretVisitor)
    }
}

impl serde::Serialize for Secret {
    /// Serialises as `"***"`: settings written back out never carry the
    /// password.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}
