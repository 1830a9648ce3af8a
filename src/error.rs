//! The crate-wide error.

use crate::{links, phone, prefs, settings, sms};

/// A `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error of this crate.
///
/// Each module has its own, more precise error type; they all convert into
/// this one with `?`. Match on the variant to get the module's error back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A phone number could not be parsed.
    #[error(transparent)]
    Phone(#[from] phone::PhoneError),
    /// A call link could not be parsed, rendered, read back or registered.
    #[error(transparent)]
    Link(#[from] links::LinkError),
    /// A preference could not be read, stored or loaded.
    #[error(transparent)]
    Prefs(#[from] prefs::PrefsError),
    /// An SMS could not be built or sent (a message, a sender, an "SMS
    /// endpoint" code, or a gateway's answer).
    #[error(transparent)]
    Sms(#[from] sms::SmsError),
    /// The SMS settings are invalid.
    #[error(transparent)]
    SmsSettings(#[from] settings::SettingsError),
    /// A gateway's push (or one entry of it) cannot be read.
    #[error(transparent)]
    Callback(#[from] sms::CallbackError),
    /// An application's handler of incoming SMS or delivery reports failed.
    #[error("{0}")]
    Handler(#[from] sms::inbound::HandlerError),
    /// A store failed (sent messages, handled pushes, a mailing outbox).
    #[error(transparent)]
    Store(#[from] crate::store_error::StoreError),
    /// A mailing's recipients file cannot be read (its line and column).
    #[cfg(feature = "mailing")]
    #[error(transparent)]
    Recipients(#[from] crate::mailing::RecipientsError),
    /// A webhook receiver's option is invalid.
    #[cfg(feature = "receiver")]
    #[error(transparent)]
    Receiver(#[from] crate::receiver::ReceiverError),
    /// A mailing run ended with an error (its store, or the gateway
    /// refusing the credentials).
    #[cfg(feature = "mailing")]
    #[error(transparent)]
    Mailing(#[from] crate::mailing::RunError),
    /// A mailing's template or send window cannot be used.
    #[cfg(feature = "mailing")]
    #[error(transparent)]
    MailingSpec(#[from] crate::mailing::SpecError),
}

impl Error {
    /// Whether trying again later may work: a store that could not be
    /// reached or was busy, a gateway that was unreachable or
    /// rate-limiting.
    ///
    /// ```
    /// use crm_comms::Error;
    /// use crm_comms::store::{StoreError, StoreErrorKind};
    /// let e: Error = StoreError::new(StoreErrorKind::Unavailable, "restarting").into();
    /// assert!(e.is_unavailable() && !e.is_invalid_input());
    /// let e: Error = "12".parse::<crm_comms::PhoneNumber>().unwrap_err().into();
    /// assert!(e.is_invalid_input() && !e.is_unavailable());
    /// ```
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_unavailable(),
            #[cfg(feature = "mailing")]
            Error::Mailing(e) => e.is_unavailable(),
            Error::Sms(e) => matches!(
                e.kind(),
                sms::SmsErrorKind::Unavailable | sms::SmsErrorKind::RateLimited
            ),
            _ => false,
        }
    }

    /// Whether what was given is at fault (a number, a link format, a
    /// message, settings, a recipients file, a push): fix the input, do
    /// not retry.
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Error::Phone(_) | Error::SmsSettings(_) | Error::Callback(_) => true,
            #[cfg(feature = "mailing")]
            Error::Recipients(_) | Error::MailingSpec(_) => true,
            #[cfg(feature = "receiver")]
            Error::Receiver(e) => e.is_invalid(),
            Error::Link(e) => e.is_format() || e.is_foreign_link(),
            Error::Sms(e) => e.is_invalid_input(),
            _ => false,
        }
    }

    /// Whether the gateway refused the credentials.
    #[must_use]
    pub fn is_auth(&self) -> bool {
        match self {
            Error::Sms(e) => e.is_auth(),
            #[cfg(feature = "mailing")]
            Error::Mailing(e) => e.is_auth(),
            _ => false,
        }
    }

    /// Whether another worker owns the work now (a mailing's rows were
    /// taken over): give it up.
    #[must_use]
    pub fn is_fenced(&self) -> bool {
        match self {
            Error::Store(e) => e.is_fenced(),
            #[cfg(feature = "mailing")]
            Error::Mailing(e) => e.is_fenced(),
            _ => false,
        }
    }

    /// Whether a store is not this crate's or is from a newer version.
    #[must_use]
    pub fn is_schema(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_schema())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_public_error_converts() {
        fn converts<E: Into<super::Error>>() {}
        converts::<crate::phone::PhoneError>();
        converts::<crate::links::LinkError>();
        converts::<crate::prefs::PrefsError>();
        converts::<crate::sms::SmsError>();
        converts::<crate::sms::CallbackError>();
        converts::<crate::sms::inbound::HandlerError>();
        converts::<crate::store_error::StoreError>();
        converts::<crate::settings::SettingsError>();
        #[cfg(feature = "mailing")]
        converts::<crate::mailing::RecipientsError>();
        #[cfg(feature = "mailing")]
        converts::<crate::mailing::RunError>();
        #[cfg(feature = "mailing")]
        converts::<crate::mailing::SpecError>();
        #[cfg(feature = "receiver")]
        converts::<crate::receiver::ReceiverError>();
    }

    #[test]
    fn error_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<super::Error>();
    }
}
