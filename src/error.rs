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
    /// A gateway's push (or one entry of it) cannot be read.
    #[error(transparent)]
    Callback(#[from] sms::CallbackError),
    /// An "SMS endpoint" code cannot be read.
    #[error(transparent)]
    Endpoint(#[from] sms::inbound::EndpointError),
    /// An application's handler of incoming SMS or delivery reports failed.
    #[error(transparent)]
    Handler(#[from] sms::inbound::HandlerError),
    /// A store of sent messages or handled pushes failed.
    #[error(transparent)]
    Store(#[from] sms::tracking::StoreError),
    /// A webhook receiver cannot be built.
    #[cfg(feature = "receiver")]
    #[error(transparent)]
    Receiver(#[from] crate::receiver::ReceiverError),
    /// The SMTP relay of Intelecom's e-mail mode failed.
    #[cfg(feature = "smtp")]
    #[error(transparent)]
    SmtpRelay(#[from] crate::intelecom::SmtpRelayError),
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_public_error_converts() {
        fn converts<E: Into<super::Error>>() {}
        converts::<crate::phone::PhoneError>();
        converts::<crate::links::FormatError>();
        converts::<crate::links::RenderError>();
        converts::<crate::links::ArgumentError>();
        converts::<crate::links::RegistrationError>();
        converts::<crate::prefs::PrefsError>();
        converts::<crate::sms::MessageError>();
        converts::<crate::sms::SenderError>();
        converts::<crate::sms::SmsError>();
        converts::<crate::sms::CallbackError>();
        converts::<crate::sms::inbound::EndpointError>();
        converts::<crate::sms::inbound::HandlerError>();
        converts::<crate::sms::tracking::StoreError>();
        converts::<crate::settings::SettingsError>();
        #[cfg(feature = "receiver")]
        converts::<crate::receiver::ReceiverError>();
        #[cfg(feature = "smtp")]
        converts::<crate::intelecom::SmtpRelayError>();
    }

    #[test]
    fn error_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<super::Error>();
    }
}
