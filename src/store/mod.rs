//! What every store behind this crate reports when it fails: one
//! [`StoreError`] for the stores of sent messages and handled pushes
//! ([`SentStore`](crate::sms::tracking::SentStore), the receiver's
//! `DedupStore`), the backends of layered preferences
//! ([`PrefStore`](crate::prefs::PrefStore)) and the mailing outbox.
//!
//! The kind tells a caller what to do: wait and try again
//! ([`Unavailable`](StoreErrorKind::Unavailable)), give the work up because
//! another worker owns it now ([`Fenced`](StoreErrorKind::Fenced)), or fix
//! the store itself ([`Schema`](StoreErrorKind::Schema)).
//!
//! ```
//! use crm_comms::store::{StoreError, StoreErrorKind};
//!
//! let e = StoreError::new(StoreErrorKind::Unavailable, "the database is restarting");
//! assert!(e.is_unavailable());
//! assert_eq!(e.to_string(), "store: the database is restarting");
//! // A backend's own text converts too (kind `Other`).
//! let e: StoreError = "database is read-only".into();
//! assert_eq!(e.kind(), StoreErrorKind::Other);
//! ```

#[cfg(feature = "mailing")]
#[cfg_attr(docsrs, doc(cfg(feature = "mailing")))]
pub mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "mailing")]
mod rows;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod schema;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

pub use crate::store_error::{StoreError, StoreErrorKind};
