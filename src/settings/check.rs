//! Checking the settings: every field, the first problem named by its
//! field, and what a checked page yields.

use super::error::bad;
use super::{NumberOrText, ProviderKind, SettingsError, SmsSettings};
use crate::phone::DefaultCountry;
use crate::sms::{Priority, Secret, Sender};

/// The e-mail mode's own rules: a relay, a sender address, and nothing
/// the mode cannot do.
fn check_email(s: &SmsSettings) -> Result<(), SettingsError> {
    let Some(smtp) = &s.smtp else {
        return Err(bad(
            "smtp",
            "an outgoing mail server is required when the web service is off",
        ));
    };
    if smtp.host.trim().is_empty() {
        return Err(bad("smtp.host", "is required"));
    }
    if smtp.from.trim().is_empty() {
        return Err(bad("smtp.from", "is required"));
    }
    if s.delivery_report {
        return Err(bad(
            "delivery_report",
            "delivery reports are not available when SMS are sent by e-mail; turn them off or use the web service",
        ));
    }
    if s.sender.as_deref().is_some_and(|x| !x.trim().is_empty()) {
        return Err(bad(
            "sender",
            "a sender cannot be set when SMS are sent by e-mail (the service's default is used)",
        ));
    }
    Ok(())
}

/// What a checked [`SmsSettings`] yields.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub(crate) service_id: Option<u32>,
    pub(crate) priority: Priority,
    pub(crate) sender: Option<Sender>,
    pub(crate) default_country: Option<DefaultCountry>,
}

impl SmsSettings {
    /// Checks every field; the first problem names its field.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`]: priority not 1–3, service ID missing or not a
    /// positive number, missing user name or password for the web service,
    /// an invalid sender for the gateway, an unknown default country,
    /// e-mail mode for `PSWinCom` (its address is not documented), and for
    /// Intelecom's e-mail mode a missing `smtp` relay or sender address, or
    /// a delivery report or sender (which that mode cannot do). Priority is
    /// ignored in e-mail mode.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.check().map(|_| ())
    }

    /// The "SMS endpoint" code as an [`SmsEndpoint`](crate::sms::inbound::SmsEndpoint)
    /// for an [`InboundRouter`](crate::sms::inbound::InboundRouter); `None` when
    /// it is not set.
    ///
    /// # Errors
    ///
    /// When the code is not a keyword, a number or `KEYWORD@number`.
    pub fn endpoint(&self) -> Result<Option<crate::sms::inbound::SmsEndpoint>, SettingsError> {
        match self.sms_endpoint.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(code) => code
                .parse()
                .map(Some)
                .map_err(|e: crate::sms::SmsError| bad("sms_endpoint", e.message())),
        }
    }

    pub(crate) fn check(&self) -> Result<Checked, SettingsError> {
        self.endpoint()?;
        let priority =
            Priority::try_from(self.priority).map_err(|e| bad("priority", e.message()))?;
        let service_id = match &self.service_id {
            None => None,
            Some(NumberOrText::Number(n)) => Some(
                u32::try_from(*n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("service_id", format!("{n} is not a positive number")))?,
            ),
            Some(NumberOrText::Text(t)) => Some(
                t.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("service_id", format!("{t:?} is not a positive number")))?,
            ),
        };
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        let no_password = self.password.as_ref().is_none_or(Secret::is_empty);
        match self.provider {
            ProviderKind::Intelecom => {
                if service_id.is_none() {
                    return Err(bad("service_id", "is required for Intelecom"));
                }
                if self.use_web_service && blank(&self.user_name) {
                    return Err(bad("user_name", "is required to use the web service"));
                }
                if self.use_web_service && no_password {
                    return Err(bad("password", "is required to use the web service"));
                }
                if !self.use_web_service {
                    check_email(self)?;
                }
            }
            ProviderKind::Pswincom => {
                if !self.use_web_service {
                    return Err(bad(
                        "use_web_service",
                        "PSWinCom has no documented e-mail sending; use the web service",
                    ));
                }
                if blank(&self.user_name) {
                    return Err(bad("user_name", "is required for PSWinCom"));
                }
                if no_password {
                    return Err(bad("password", "is required for PSWinCom"));
                }
            }
        }
        let sender = match self.sender.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => {
                let sender = Sender::parse(s).map_err(|e| bad("sender", e.message()))?;
                if let Sender::Alphanumeric(name) = &sender {
                    self.provider
                        .capabilities()
                        .sender_rules
                        .check_alphanumeric(name)
                        .map_err(|e| bad("sender", e.message()))?;
                }
                Some(sender)
            }
        };
        let default_country = match self.default_country.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(
                c.parse::<DefaultCountry>()
                    .map_err(|e| bad("default_country", e.to_string()))?,
            ),
        };
        Ok(Checked {
            service_id,
            priority,
            sender,
            default_country,
        })
    }

    /// The service ID as a number, if set and valid.
    #[must_use]
    pub fn service_id(&self) -> Option<u32> {
        self.check().ok().and_then(|c| c.service_id)
    }

    /// The default country, if set and valid.
    #[must_use]
    pub fn default_country(&self) -> Option<DefaultCountry> {
        self.check().ok().and_then(|c| c.default_country)
    }
}
