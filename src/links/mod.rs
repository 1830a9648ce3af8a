//! Call links: the CRM's "phone link format" preference, rendered for a
//! contact's numbers.
//!
//! The preference value (`tel:%p` by default; `callto:%p` for Skype,
//! `facetime:%p`, or an ISV's own `domycall:%p?company={cuid}`) is parsed
//! once into a [`PhoneLinkFormat`] and rendered for each number with
//! [`PhoneLinkFormat::render`].
//!
//! # Safety
//!
//! What a user typed (a number, a company name) can never change a link's
//! scheme, end its path, add a query parameter or a second URI, or break out
//! of the quoted `"%1"` on a Windows command line: numbers are validated
//! [`PhoneNumber`](crate::phone::PhoneNumber)s written as E.164, and
//! variable values are percent-encoded down to `A-Z a-z 0-9 - . _ ~`.
//! Schemes that run code or open web pages are refused by default
//! ([`SchemePolicy`]).
//!
//! # For ISVs
//!
//! [`PhoneLinkFormat::parse_link`] reads back the link a protocol handler is
//! started with, and [`WindowsRegistration`] writes the `.reg` file that
//! registers the handler with a correctly quoted command line.
//!
//! ```
//! use crm_comms::links::PhoneLinkFormat;
//! use crm_comms::phone::{DefaultCountry, PhoneNumber};
//!
//! let format: PhoneLinkFormat = "callto:%p".parse()?;
//! let no: DefaultCountry = "NO".parse()?;
//! let numbers = [
//!     PhoneNumber::parse("22 33 44 55", Some(&no))?,
//!     PhoneNumber::parse("+47 901 23 456", Some(&no))?,
//! ];
//! let links = format.render_all(&numbers, &crm_comms::links::NoVariables)?;
//! assert_eq!(links[0].as_str(), "callto:+4722334455");
//! assert_eq!(links[1].as_str(), "callto:+4790123456");
//! # Ok::<(), crm_comms::Error>(())
//! ```

mod error;
pub(crate) mod format;
mod handler;
mod registry;
mod render;

pub use error::LinkError;
pub use format::{DANGEROUS_SCHEMES, FormatErrorKind, ParseOptions, PhoneLinkFormat, SchemePolicy};
pub use handler::{MAX_LINK_LEN, ReceivedCall};
pub use registry::{Hive, WindowsRegistration};
pub use render::{NoVariables, PhoneLink, RenderOptions, UnknownVariables, VariableSource};
