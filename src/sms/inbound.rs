//! Incoming SMS routed by the CRM's "SMS endpoint" code.
//!
//! The settings page has an "SMS endpoint" per gateway: a code that lets
//! the CRM recognise which incoming SMS are its own. An [`SmsEndpoint`] is
//! that code: a keyword (the first word of the text, as gateways route by
//! it), a short number the SMS was sent to, or both. An [`InboundRouter`]
//! hands each [`IncomingMessage`] to the [`IncomingHandler`] registered for
//! the endpoint it matches, and everything else to a fallback — a message
//! is never dropped.
//!
//! ```
//! use crm_comms::sms::inbound::{first_word, SmsEndpoint};
//!
//! let code: SmsEndpoint = "TILBUD@26112".parse()?;
//! assert_eq!(code.keyword(), Some("TILBUD"));
//! assert_eq!(code.number(), Some("26112"));
//! assert_eq!(first_word("  «Tilbud»: hei på deg!"), Some(("Tilbud", "hei på deg!")));
//! # Ok::<(), crm_comms::sms::SmsError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

use super::receipt::IncomingMessage;
use crate::phone::PhoneNumber;
use crate::sms::{SmsError, SmsErrorKind};

/// An "SMS endpoint" code: a keyword, a number, or a keyword on a number.
///
/// Written as `KEYWORD`, `26112` (digits, optionally with `+`: a number) or
/// `KEYWORD@26112`; [`Display`](fmt::Display) writes the same form back.
/// Keywords compare case-insensitively (Unicode: `æøå` match `ÆØÅ`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SmsEndpoint {
    keyword: Option<String>,
    /// Lowercased keyword, for matching.
    folded: Option<String>,
    number: Option<String>,
}

/// An "SMS endpoint" code that cannot be used: an [`SmsError`] of kind
/// [`SmsErrorKind::InvalidConfig`] naming the code and what is wrong.
fn invalid_endpoint(code: &str, reason: &str) -> SmsError {
    SmsError::before_provider(
        SmsErrorKind::InvalidConfig,
        format!("SMS endpoint {code:?}: {reason}"),
    )
}

impl SmsEndpoint {
    /// Messages whose first word is `keyword` (one word of letters and
    /// digits).
    ///
    /// # Errors
    ///
    /// When `keyword` is empty or not one word.
    pub fn for_keyword(keyword: &str) -> Result<Self, SmsError> {
        Self::keyword_only(keyword).map_err(|reason| invalid_endpoint(keyword, reason))
    }

    fn keyword_only(keyword: &str) -> Result<Self, &'static str> {
        Ok(SmsEndpoint {
            folded: Some(check_keyword(keyword)?.to_lowercase()),
            keyword: Some(keyword.to_owned()),
            number: None,
        })
    }

    /// Messages sent to the short number or number `number` (digits,
    /// optionally with a leading `+`).
    ///
    /// # Errors
    ///
    /// When `number` is not digits.
    pub fn for_number(number: &str) -> Result<Self, SmsError> {
        Self::number_only(number).map_err(|reason| invalid_endpoint(number, reason))
    }

    fn number_only(number: &str) -> Result<Self, &'static str> {
        Ok(SmsEndpoint {
            keyword: None,
            folded: None,
            number: Some(check_number(number)?),
        })
    }

    /// Messages to `number` whose first word is `keyword`.
    ///
    /// # Errors
    ///
    /// As [`for_keyword`](Self::for_keyword) and [`for_number`](Self::for_number).
    pub fn for_keyword_on(keyword: &str, number: &str) -> Result<Self, SmsError> {
        Self::keyword_on(keyword, number)
            .map_err(|reason| invalid_endpoint(&format!("{keyword}@{number}"), reason))
    }

    fn keyword_on(keyword: &str, number: &str) -> Result<Self, &'static str> {
        Ok(SmsEndpoint {
            number: Some(check_number(number)?),
            ..SmsEndpoint::keyword_only(keyword)?
        })
    }

    /// The keyword, as given.
    #[must_use]
    pub fn keyword(&self) -> Option<&str> {
        self.keyword.as_deref()
    }

    /// The number, digits without `+`.
    #[must_use]
    pub fn number(&self) -> Option<&str> {
        self.number.as_deref()
    }

    /// How specific it is: keyword and number beat keyword, which beats
    /// number.
    fn rank(&self) -> u8 {
        match (&self.keyword, &self.number) {
            (Some(_), Some(_)) => 3,
            (Some(_), None) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for SmsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.keyword, &self.number) {
            (Some(k), Some(n)) => write!(f, "{k}@{n}"),
            (Some(k), None) => f.write_str(k),
            (None, Some(n)) => f.write_str(n),
            (None, None) => Ok(()),
        }
    }
}

impl FromStr for SmsEndpoint {
    type Err = SmsError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let code = code.trim();
        let parsed = if code.is_empty() {
            Err("is empty")
        } else if let Some((k, n)) = code.split_once('@') {
            SmsEndpoint::keyword_on(k.trim(), n.trim())
        } else if code
            .strip_prefix('+')
            .unwrap_or(code)
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            SmsEndpoint::number_only(code)
        } else {
            SmsEndpoint::keyword_only(code)
        };
        parsed.map_err(|reason| invalid_endpoint(code, reason))
    }
}

impl serde::Serialize for SmsEndpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SmsEndpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn check_keyword(keyword: &str) -> Result<&str, &'static str> {
    if keyword.is_empty() {
        return Err("the keyword is empty");
    }
    if !keyword.chars().all(char::is_alphanumeric) {
        return Err("the keyword must be one word of letters and digits");
    }
    Ok(keyword)
}

fn check_number(number: &str) -> Result<String, &'static str> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the number must be 1 to 15 digits");
    }
    Ok(digits.to_owned())
}

/// Whether `c` separates words around a keyword (whitespace and
/// punctuation, including `«»`, `–` and the like).
fn separator(c: char) -> bool {
    !c.is_alphanumeric()
}

/// The first word of `text` and the text after it, both without the
/// whitespace and punctuation around them; `None` when there is no word.
pub fn first_word(text: &str) -> Option<(&str, &str)> {
    let start = text.find(|c: char| !separator(c))?;
    let rest = &text[start..];
    let end = rest.find(separator).unwrap_or(rest.len());
    let (word, after) = rest.split_at(end);
    let after = after.trim_start_matches(separator_or_space_before_text);
    Some((word, after.trim_end()))
}

/// Separators skipped between the keyword and the text: whitespace and
/// punctuation, but not the first character of the text itself (an
/// opening quote or a `+` that belongs to it is kept only when it follows
/// a space: `TILBUD: "hei"` keeps `"hei"`).
fn separator_or_space_before_text(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ':' | ',' | '.' | ';' | '!' | '?' | '-' | '–' | '—' | '»' | '«'
        )
}

/// An incoming SMS after routing: what a handler gets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Routed {
    /// The endpoint it matched; `None` for the fallback.
    pub endpoint: Option<SmsEndpoint>,
    /// The keyword it was routed by, as the sender wrote it.
    pub keyword: Option<String>,
    /// The text without the keyword (the whole text for a number-only
    /// endpoint or the fallback).
    pub text: String,
    /// The sender, when it is a valid international number.
    pub from: Option<PhoneNumber>,
    /// The message as the gateway sent it (ids, session id, extras).
    pub message: IncomingMessage,
}

impl Routed {
    /// The gateway's id of the message (the same on redelivery).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.message.id
    }

    /// Intelecom's session id, to continue a session in a reply.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.message.session_id.as_deref().filter(|s| !s.is_empty())
    }
}

/// What a handler gives when it could not take a message: any error,
/// boxed (tower's `BoxError`), so a handler can `?` whatever it calls; a
/// text works too (`Err("the CRM database is down".into())`). The receiver
/// then asks the gateway to deliver the message again.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Takes routed incoming SMS. Implemented for async closures
/// `Fn(Routed) -> impl Future<Output = Result<(), HandlerError>>`.
#[async_trait]
pub trait IncomingHandler: Send + Sync {
    /// Handles one message. An error makes the receiver ask for
    /// redelivery; the message is then handed over again.
    async fn handle(&self, message: Routed) -> Result<(), HandlerError>;
}

#[async_trait]
impl<F, Fut> IncomingHandler for F
where
    F: Fn(Routed) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), HandlerError>> + Send,
{
    async fn handle(&self, message: Routed) -> Result<(), HandlerError> {
        self(message).await
    }
}

/// Routes incoming SMS to handlers by [`SmsEndpoint`].
///
/// The most specific match wins: keyword on number, then keyword, then
/// number; the keyword is Intelecom's `command` when the gateway gives it,
/// else the first word of the text. Anything unmatched goes to the
/// fallback.
///
/// ```
/// use crm_comms::sms::inbound::{InboundRouter, Routed, HandlerError};
///
/// let router = InboundRouter::new(|m: Routed| async move {
///     println!("unmatched: {}", m.text);
///     Ok::<(), HandlerError>(())
/// })
/// .route("TILBUD".parse()?, |m: Routed| async move {
///     println!("offer reply from {:?}: {}", m.from, m.text);
///     Ok(())
/// });
/// assert_eq!(router.endpoints().count(), 1);
/// # Ok::<(), crm_comms::sms::SmsError>(())
/// ```
#[derive(Clone)]
pub struct InboundRouter {
    routes: Vec<(SmsEndpoint, Arc<dyn IncomingHandler>)>,
    fallback: Arc<dyn IncomingHandler>,
}

impl fmt::Debug for InboundRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundRouter")
            .field(
                "endpoints",
                &self
                    .routes
                    .iter()
                    .map(|(e, _)| e.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl InboundRouter {
    /// A router with only a fallback handler.
    pub fn new(fallback: impl IncomingHandler + 'static) -> Self {
        InboundRouter {
            routes: Vec::new(),
            fallback: Arc::new(fallback),
        }
    }

    /// Adds a handler for `endpoint` (a later handler for the same endpoint
    /// replaces the earlier one).
    #[must_use]
    pub fn route(mut self, endpoint: SmsEndpoint, handler: impl IncomingHandler + 'static) -> Self {
        self.routes.retain(|(e, _)| *e != endpoint);
        self.routes.push((endpoint, Arc::new(handler)));
        self
    }

    /// The endpoints with a handler.
    pub fn endpoints(&self) -> impl Iterator<Item = &SmsEndpoint> {
        self.routes.iter().map(|(e, _)| e)
    }

    /// Which endpoint `message` matches and what its handler gets, without
    /// handing it over.
    #[must_use]
    pub fn resolve(&self, message: IncomingMessage) -> Routed {
        self.pick(message).0
    }

    /// Routes `message` and hands it to its handler.
    ///
    /// # Errors
    ///
    /// The handler's error.
    pub async fn dispatch(&self, message: IncomingMessage) -> Result<Routed, HandlerError> {
        let (routed, handler) = self.pick(message);
        handler.handle(routed.clone()).await?;
        Ok(routed)
    }

    fn pick(&self, message: IncomingMessage) -> (Routed, Arc<dyn IncomingHandler>) {
        // The keyword: the gateway's own when it routed by one, else the
        // first word of the text.
        let gateway_keyword = message
            .keyword
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let (keyword, stripped) = match gateway_keyword {
            Some(k) => {
                let stripped = match &message.stripped_text {
                    Some(s) => s.trim().to_owned(),
                    None => first_word(&message.text)
                        .filter(|(w, _)| w.to_lowercase() == k.to_lowercase())
                        .map_or_else(|| message.text.trim().to_owned(), |(_, r)| r.to_owned()),
                };
                (Some(k.to_owned()), stripped)
            }
            None => match first_word(&message.text) {
                Some((w, rest)) => (Some(w.to_owned()), rest.to_owned()),
                None => (None, message.text.trim().to_owned()),
            },
        };
        let folded = keyword.as_deref().map(str::to_lowercase);
        let to = message
            .to
            .as_deref()
            .map(|n| n.trim().trim_start_matches('+'));
        let best = self
            .routes
            .iter()
            .filter(|(e, _)| {
                let keyword_ok = e.folded.is_none() || e.folded == folded;
                let number_ok = e.number.is_none() || e.number.as_deref() == to;
                keyword_ok && number_ok
            })
            .max_by_key(|(e, _)| e.rank());
        let from = message.from;
        match best {
            Some((endpoint, handler)) => {
                let by_keyword = endpoint.keyword.is_some();
                let routed = Routed {
                    endpoint: Some(endpoint.clone()),
                    keyword: if by_keyword { keyword } else { None },
                    text: if by_keyword {
                        stripped
                    } else {
                        message.text.trim().to_owned()
                    },
                    from,
                    message,
                };
                (routed, handler.clone())
            }
            None => (
                Routed {
                    endpoint: None,
                    keyword: None,
                    text: message.text.trim().to_owned(),
                    from,
                    message,
                },
                self.fallback.clone(),
            ),
        }
    }
}
