//! A recipient's way from a CSV line to an outbox row (or the reason it
//! is blocked), and the dry run that counts them before anything is sent.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{Cost, CountryParts, MailingSpec, PartPrices};
use crate::phone::{PhoneNumber, PhoneNumberType};
use crate::sms::encoding::{Encoding, preview};
use crate::sms::smart_encoding::smart_gsm7;

/// One recipient as the CRM's selection or a CSV file gives it: the number
/// as typed and the values of the template's variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recipient {
    /// The number as typed.
    pub number: String,
    /// Variable values by lowercase name.
    pub variables: HashMap<String, String>,
    /// Where it came from (a CSV line), for reasons and the export.
    pub line: Option<u64>,
}

impl Recipient {
    /// A recipient with no variables.
    #[must_use]
    pub fn new(number: impl Into<String>) -> Self {
        Recipient {
            number: number.into(),
            ..Recipient::default()
        }
    }

    /// With the variable `name` (any case) set to `value`.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables
            .insert(name.to_ascii_lowercase(), value.into());
        self
    }
}

/// Why a recipient is not sent to. Blocked recipients are kept, with the
/// reason, and never sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockReason {
    /// The template's variable has no value for this recipient (or only
    /// blanks: "Hei , …" is not sent).
    MissingVariable(String),
    /// The number cannot be read, or is in no range of its country (the
    /// parser's reason).
    InvalidNumber(String),
    /// The number is valid but of a kind that cannot take an SMS (a fixed
    /// line, unless the mailing allows those; toll-free, premium-rate,
    /// shared-cost, universal-access, voicemail).
    NotMobile(PhoneNumberType),
    /// The number already has this mailing ("one message per number"): on
    /// this line of the recipients, where known.
    Duplicate {
        /// The line of its first appearance.
        first_line: Option<u64>,
    },
    /// The number is on the opt-out list.
    OptedOut,
    /// The rendered text cannot be sent (too long for the gateway).
    TextTooLong(String),
    /// The rendered text takes more parts than the mailing allows
    /// ([`MailingSpec::max_parts`]).
    TooManyParts {
        /// The parts it takes.
        parts: u32,
        /// The most the mailing allows.
        allowed: u32,
    },
    /// The rendered text has a control character no SMS carries (NUL and
    /// the other C0 controls but line breaks and tabs), usually from a
    /// broken import.
    ControlCharacter(char),
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::MissingVariable(n) => write!(f, "no value for {{{n}}}"),
            BlockReason::InvalidNumber(r) => write!(f, "invalid number: {r}"),
            BlockReason::NotMobile(kind) => write!(f, "not a mobile number ({kind})"),
            BlockReason::Duplicate { first_line: None } => {
                f.write_str("duplicate number (one message per number)")
            }
            BlockReason::Duplicate {
                first_line: Some(l),
            } => write!(
                f,
                "duplicate number (one message per number; first on line {l})"
            ),
            BlockReason::OptedOut => f.write_str("on the opt-out list"),
            BlockReason::TextTooLong(r) => write!(f, "text too long: {r}"),
            BlockReason::TooManyParts { parts, allowed } => write!(
                f,
                "the text takes {parts} SMS parts; the mailing allows at most {allowed}"
            ),
            BlockReason::ControlCharacter(c) => {
                write!(
                    f,
                    "the text has the control character U+{:04X}",
                    u32::from(*c)
                )
            }
        }
    }
}

/// A recipient ready for the outbox: the number, the rendered text with
/// its encoding and part count, or why it is blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prepared {
    /// The number in E.164 when it could be read, else as typed (masked
    /// in logs).
    pub number: String,
    /// The rendered text (empty for a blocked recipient whose text could
    /// not be rendered).
    pub text: String,
    /// The text's alphabet.
    pub encoding: Encoding,
    /// The SMS parts the text takes.
    pub parts: u32,
    /// The CSV line or other origin.
    pub line: Option<u64>,
    /// Why it is not sent, if it is not.
    pub blocked: Option<BlockReason>,
    /// The number's region (`NO`), empty when it could not be read.
    pub region: &'static str,
    /// The parts smart encoding saves on this text (applied when the
    /// mailing has it on; counted by the dry run either way).
    pub smart_saving: u32,
}

/// Renders recipients for one mailing: numbers read with the mailing's
/// default country, texts rendered and measured, duplicates and opted-out
/// numbers blocked. It remembers the numbers it has seen (about 40 bytes
/// each), so a mailing of 10⁶ recipients needs some 40 MB here.
#[derive(Debug)]
pub struct Preparer<'a> {
    spec: &'a MailingSpec,
    opted_out: &'a HashSet<String>,
    /// Numbers seen, with the line each was first seen on.
    seen: HashMap<String, Option<u64>>,
}

impl<'a> Preparer<'a> {
    /// A preparer for `spec`, blocking the numbers in `opted_out` (E.164).
    #[must_use]
    pub fn new(spec: &'a MailingSpec, opted_out: &'a HashSet<String>) -> Self {
        Preparer {
            spec,
            opted_out,
            seen: HashMap::new(),
        }
    }

    /// Also treats `numbers` (E.164) as already in the mailing (when
    /// enqueueing is resumed).
    pub fn already_seen(&mut self, numbers: impl IntoIterator<Item = String>) {
        self.seen.extend(numbers.into_iter().map(|n| (n, None)));
    }

    /// One recipient, ready or blocked.
    pub fn prepare(&mut self, r: &Recipient) -> Prepared {
        let blocked = |number: String, reason| Prepared {
            number,
            text: String::new(),
            encoding: Encoding::Gsm7,
            parts: 0,
            line: r.line,
            blocked: Some(reason),
            region: "",
            smart_saving: 0,
        };
        let number = match PhoneNumber::parse(&r.number, self.spec.default_country.as_ref()) {
            Ok(n) => n,
            Err(e) => {
                return blocked(
                    r.number.trim().to_owned(),
                    BlockReason::InvalidNumber(e.to_string()),
                );
            }
        };
        let e164 = number.e164().to_owned();
        if !self.spec.sends_to(number.number_type()) {
            let mut b = blocked(e164, BlockReason::NotMobile(number.number_type()));
            b.region = number.region();
            return b;
        }
        let text = match self.spec.template.render(|name| {
            r.variables
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.trim().is_empty())
        }) {
            Ok(t) => t,
            Err(missing) => {
                let mut b = blocked(e164, BlockReason::MissingVariable(missing));
                b.region = number.region();
                return b;
            }
        };
        let mut text = text;
        let mut p = preview(&text, &self.spec.limits);
        let mut smart_saving = 0;
        if p.encoding == Encoding::Ucs2
            && let Some(smart) = smart_gsm7(&text, &self.spec.limits)
        {
            smart_saving = (smart.parts_before - smart.parts) as u32;
            if self.spec.smart_encoding {
                text = smart.text;
                p = preview(&text, &self.spec.limits);
            }
        }
        let mut out = Prepared {
            number: e164,
            text,
            encoding: p.encoding,
            parts: p.parts as u32,
            line: r.line,
            blocked: None,
            region: number.region(),
            smart_saving,
        };
        let allowed = self.spec.max_parts.unwrap_or(u32::MAX);
        let control = out
            .text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
        out.blocked = if self.opted_out.contains(&out.number) {
            Some(BlockReason::OptedOut)
        } else if let Some(c) = control {
            Some(BlockReason::ControlCharacter(c))
        } else if p.exceeds_limit() {
            Some(BlockReason::TextTooLong(format!(
                "{} {} units; at most {} fit in {} parts",
                p.units, p.encoding, p.max_units, self.spec.limits.max_parts
            )))
        } else if out.parts > allowed {
            Some(BlockReason::TooManyParts {
                parts: out.parts,
                allowed,
            })
        } else if !self.spec.one_per_number {
            None
        } else if let Some(first) = self.seen.get(&out.number) {
            Some(BlockReason::Duplicate { first_line: *first })
        } else {
            self.seen.insert(out.number.clone(), r.line);
            None
        };
        out
    }
}

/// What a mailing would send, before anything is: per-encoding counts and
/// parts, and the blocked recipients by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DryRun {
    /// Recipients that would be sent to.
    pub ready: u64,
    /// Of those, in GSM-7.
    pub gsm7: u64,
    /// Of those, in UCS-2.
    pub ucs2: u64,
    /// The parts all of them take.
    pub parts: u64,
    /// Blocked recipients per reason kind (`missing variable`, `invalid
    /// number`, `not a mobile number`, `duplicate`, `opted out`, `text too
    /// long`, `too many parts`, `control character`).
    pub blocked: Vec<(String, u64)>,
    /// Recipients that would be sent, per country and encoding, in the
    /// order first seen.
    pub by_country: Vec<CountryParts>,
    /// Recipients whose parts smart encoding saves (or would save, when
    /// the mailing has it off).
    pub smart_recipients: u64,
    /// The parts it saves on them.
    pub smart_parts: u64,
}

impl DryRun {
    /// Counts one prepared recipient.
    pub fn add(&mut self, p: &Prepared) {
        match &p.blocked {
            None => {
                self.ready += 1;
                self.parts += u64::from(p.parts);
                match p.encoding {
                    Encoding::Ucs2 => self.ucs2 += 1,
                    _ => self.gsm7 += 1,
                }
                if p.smart_saving > 0 {
                    self.smart_recipients += 1;
                    self.smart_parts += u64::from(p.smart_saving);
                }
                match self
                    .by_country
                    .iter_mut()
                    .find(|c| c.region == p.region && c.encoding == p.encoding)
                {
                    Some(c) => {
                        c.recipients += 1;
                        c.parts += u64::from(p.parts);
                    }
                    None => self.by_country.push(CountryParts {
                        region: p.region.to_owned(),
                        encoding: p.encoding,
                        recipients: 1,
                        parts: u64::from(p.parts),
                    }),
                }
            }
            Some(reason) => {
                let kind = match reason {
                    BlockReason::MissingVariable(_) => "missing variable",
                    BlockReason::InvalidNumber(_) => "invalid number",
                    BlockReason::NotMobile(_) => "not a mobile number",
                    BlockReason::Duplicate { .. } => "duplicate",
                    BlockReason::OptedOut => "opted out",
                    BlockReason::TextTooLong(_) => "text too long",
                    BlockReason::TooManyParts { .. } => "too many parts",
                    BlockReason::ControlCharacter(_) => "control character",
                };
                match self.blocked.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, n)) => *n += 1,
                    None => self.blocked.push((kind.to_owned(), 1)),
                }
            }
        }
    }

    /// What the recipients that would be sent cost at `prices`, per
    /// country and encoding.
    ///
    /// ```
    /// use crm_comms::mailing::{DryRun, MailingSpec, Preparer, Recipient};
    ///
    /// let spec = MailingSpec::new("t", "Hei {n}".parse()?)
    ///     .with_default_country("NO".parse()?);
    /// let none = Default::default();
    /// let mut p = Preparer::new(&spec, &none);
    /// let mut dry = DryRun::default();
    /// for r in [Recipient::new("41000001").with("n", "Kari"),
    ///           Recipient::new("+46701234561").with("n", "Åsa")] {
    ///     dry.add(&p.prepare(&r));
    /// }
    /// let cost = dry.cost(&"NO=0.45,SE=0.60".parse()?);
    /// assert_eq!(cost.total.to_string(), "1.05");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn cost(&self, prices: &PartPrices) -> Cost {
        Cost::of(&self.by_country, prices)
    }
}
