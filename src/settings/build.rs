//! Building the configured gateway's client from the settings: each
//! channel is its real client, behind its feature.

#[cfg(feature = "smtp")]
use super::SmtpSettings;
use super::check::Checked;
#[cfg(any(feature = "intelecom", feature = "pswincom", feature = "smtp"))]
use super::error::refused;
use super::error::{SettingsErrorKind, bad};
use super::{ProviderKind, SettingsError, SmsSettings};
#[cfg(any(feature = "intelecom", feature = "pswincom", feature = "smtp"))]
use crate::sms::Secret;
use crate::sms::{MessageDefaults, SmsProvider, WithDefaults};

impl SmsSettings {
    /// Builds the configured provider in one call.
    ///
    /// Each channel is its real client: Intelecom's web service (feature
    /// `intelecom`), Intelecom's e-mail mode (`smtp`) and `PSWinCom`'s XML
    /// API (`pswincom`). The provider carries these settings' `sender`,
    /// `priority` and `delivery_report` as [`MessageDefaults`] for every
    /// message that does not set its own (see [`WithDefaults`]).
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate); `base_url` when the base URL is
    /// invalid or plain `http://` without `allow_insecure_http`; and
    /// `provider` when this build lacks the channel's feature (the error
    /// names the feature to enable; nothing is ever silently faked).
    pub fn build_provider(&self) -> Result<Box<dyn SmsProvider>, SettingsError> {
        let checked = self.check()?;
        let mut defaults = MessageDefaults::new()
            .priority(checked.priority)
            .delivery_report(self.delivery_report);
        if let Some(sender) = checked.sender.clone() {
            defaults = defaults.sender(sender);
        }
        let provider = self.build_channel(&checked)?;
        Ok(Box::new(WithDefaults::new(provider, defaults)))
    }

    /// The channel's own client, without defaults.
    fn build_channel(&self, checked: &Checked) -> Result<Box<dyn SmsProvider>, SettingsError> {
        #[cfg(feature = "intelecom")]
        if let (ProviderKind::Intelecom, true, Some(service_id)) =
            (self.provider, self.use_web_service, checked.service_id)
        {
            let mut b = crate::intelecom::Intelecom::builder()
                .service_id(service_id)
                .credentials(
                    self.user_name.clone().unwrap_or_default(),
                    self.password.clone().unwrap_or_else(|| Secret::new("")),
                );
            if let Some(url) = self.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
                b = b.base_url(url.trim());
            }
            if self.allow_insecure_http {
                b = b.dangerous_allow_http();
            }
            let provider = b
                .duplicate_check(self.duplicate_check)
                .build()
                .map_err(|e| refused("provider", e))?;
            return Ok(Box::new(provider));
        }
        #[cfg(feature = "pswincom")]
        if self.provider == ProviderKind::Pswincom {
            let mut b = crate::pswincom::Pswincom::builder().credentials(
                self.user_name.clone().unwrap_or_default(),
                self.password.clone().unwrap_or_else(|| Secret::new("")),
            );
            if let Some(url) = self.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
                // An explicit endpoint (an emulator, a proxy) has no failover.
                b = b.base_url(url.trim()).no_failover();
            }
            if self.allow_insecure_http {
                b = b.dangerous_allow_http();
            }
            let provider = b.build().map_err(|e| refused("provider", e))?;
            return Ok(Box::new(provider));
        }
        #[cfg(feature = "smtp")]
        if let (ProviderKind::Intelecom, false, Some(service_id), Some(smtp)) = (
            self.provider,
            self.use_web_service,
            checked.service_id,
            &self.smtp,
        ) {
            return Ok(Box::new(build_mail(service_id, smtp)?));
        }
        let _ = checked;
        let (channel, feature) = match (self.provider, self.use_web_service) {
            (ProviderKind::Intelecom, true) => ("Intelecom's web service", "intelecom"),
            (ProviderKind::Intelecom, false) => ("Intelecom by e-mail", "smtp"),
            (ProviderKind::Pswincom, _) => ("PSWinCom", "pswincom"),
        };
        Err(SettingsError {
            kind: SettingsErrorKind::FeatureMissing,
            ..bad(
                "provider",
                format!(
                    "this build of crm-comms cannot send through {channel}; enable the `{feature}` feature"
                ),
            )
        })
    }
}

#[cfg(feature = "smtp")]
fn build_mail(
    service_id: u32,
    smtp: &SmtpSettings,
) -> Result<crate::intelecom::IntelecomMail, SettingsError> {
    let mut b = crate::intelecom::IntelecomMail::builder()
        .service_id(service_id)
        .from(smtp.from.trim())
        .smtp(smtp.host.trim(), smtp.security)
        .recipient_with_plus(smtp.recipient_with_plus);
    if let Some(port) = smtp.port {
        b = b.smtp_port(port);
    }
    if let Some(user) = smtp.user_name.as_deref().filter(|u| !u.trim().is_empty()) {
        b = b.smtp_credentials(
            user,
            smtp.password.clone().unwrap_or_else(|| Secret::new("")),
        );
    }
    if let Some(subject) = &smtp.subject {
        b = b.subject(subject.clone());
    }
    if let Some(domain) = smtp
        .gateway_domain
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        b = b.domain(domain);
    }
    b.build().map_err(|e| refused("smtp", e))
}
