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
    /// A phone link format could not be parsed.
    #[error(transparent)]
    LinkFormat(#[from] links::FormatError),
    /// A call link could not be rendered.
    #[error(transparent)]
    LinkRender(#[from] links::RenderError),
    /// A link a protocol handler received does not match its format.
    #[error(transparent)]
    LinkArgument(#[from] links::ArgumentError),
    /// A Windows protocol registration could not be written.
    #[error(transparent)]
    Registration(#[from] links::RegistrationError),
    /// A preference could not be read, stored or loaded.
    #[error(transparent)]
    Prefs(#[from] prefs::PrefsError),
    /// An SMS message could not be built.
    #[error(transparent)]
    SmsMessage(#[from] sms::MessageError),
    /// An SMS sender cannot be used.
    #[error(transparent)]
    SmsSender(#[from] sms::SenderError),
    /// Sending an SMS failed.
    #[error(transparent)]
    Sms(#[from] sms::SmsError),
    /// The SMS settings are invalid.
    #[error(transparent)]
    SmsSettings(#[from] settings::SettingsError),
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<super::Error>();
    }
}
