//! The CRM's SMS settings, and the settings page's "send a test SMS".
//!
//! This file holds the page's fields (what is read from and written to a
//! settings file); `check.rs` checks them, `build.rs` builds the gateway's
//! client from them, `test_sms.rs` sends a test SMS, `error.rs` says which
//! field is wrong and why.

use crate::intelecom::SmtpSecurity;
use crate::sms::{Capabilities, Secret};

/// Which gateway the CRM uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Intelecom, now Puzzel.
    Intelecom,
    /// `PSWinCom`, now LINK Mobility.
    #[serde(alias = "linkmobility")]
    Pswincom,
}

impl ProviderKind {
    /// What the gateway can do, as documented.
    #[must_use]
    pub fn capabilities(self) -> Capabilities {
        match self {
            ProviderKind::Intelecom => crate::intelecom::CAPABILITIES,
            ProviderKind::Pswincom => crate::pswincom::CAPABILITIES,
        }
    }
}

/// The outgoing mail server for Intelecom's e-mail mode ("use web
/// service" off): the CRM's own SMTP relay, and what the mails look like.
///
/// `Debug` never shows the password.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SmtpSettings {
    /// The relay's host name.
    pub host: String,
    /// The relay's port (default: the security's usual port).
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is secured (default `start_tls`).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// The relay's user name, if it wants a login.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The relay's password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The mails' sender address (`crm@example.com`).
    pub from: String,
    /// A subject (default none; the gateway ignores it unless set up to
    /// append it to the text).
    #[serde(default)]
    pub subject: Option<String>,
    /// The gateway's mail domain (default `smsmail.intele.com`).
    #[serde(default)]
    pub gateway_domain: Option<String>,
    /// Write recipients as `+47…` in the address instead of `47…`.
    #[serde(default)]
    pub recipient_with_plus: bool,
}

impl SmtpSettings {
    /// A relay at `host` secured with `security`, sending as `from`.
    pub fn new(host: impl Into<String>, security: SmtpSecurity, from: impl Into<String>) -> Self {
        SmtpSettings {
            host: host.into(),
            security,
            from: from.into(),
            ..SmtpSettings::default()
        }
    }
}

/// A number or a string (the CRM stores the service ID as text).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(i64),
    Text(String),
}

/// The CRM's SMS settings, as on its settings page, with the CRM plugin's
/// own key names accepted as aliases (`intele_serviceId`,
/// `intele_username`, `intele_password`, `pswin_username`,
/// `pswin_password`).
///
/// `Debug` never shows the password.
///
/// ```
/// use crm_comms::settings::{ProviderKind, SmsSettings};
///
/// let s: SmsSettings = serde_json::from_str(r#"{
///     "provider": "intelecom", "intele_serviceId": "1234",
///     "intele_username": "crm", "intele_password": "hunter2", "priority": 3
/// }"#)?;
/// s.validate()?;
/// assert_eq!(s.provider, ProviderKind::Intelecom);
/// assert!(!format!("{s:?}").contains("hunter2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SmsSettings {
    /// The gateway.
    pub provider: ProviderKind,
    /// The CRM's code for recognising incoming SMS (routing is the
    /// receiver's job; not sent to the gateway).
    #[serde(default)]
    pub sms_endpoint: Option<String>,
    /// Send over the web service (`true`) or by e-mail (`false`).
    #[serde(default = "yes")]
    pub use_web_service: bool,
    /// Ask for delivery reports.
    #[serde(default)]
    pub delivery_report: bool,
    /// Intelecom's service ID.
    #[serde(default, alias = "intele_serviceId")]
    service_id: Option<NumberOrText>,
    /// The gateway user name.
    #[serde(default, alias = "intele_username", alias = "pswin_username")]
    pub user_name: Option<String>,
    /// The gateway password.
    #[serde(default, alias = "intele_password", alias = "pswin_password")]
    pub password: Option<Secret>,
    /// SMS priority 1, 2 or 3 (Intelecom only).
    #[serde(default = "two")]
    pub priority: u8,
    /// The sender name or number.
    #[serde(default)]
    pub sender: Option<String>,
    /// Country assumed for numbers typed without a country code (`NO`, `47`).
    #[serde(default)]
    pub default_country: Option<String>,
    /// The gateway's base URL (Intelecom) or XML endpoint (`PSWinCom`),
    /// instead of its real host (for an emulator or a proxy).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Allow a plain `http://` base URL (**sends the password
    /// unencrypted**; for loopback emulators only).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Intelecom: the account has Puzzel's uniqueness check on (a repeated
    /// `clientReference` is refused for an hour), so a mailing may resend
    /// what a crash left unknown. Only set it when the account has it.
    #[serde(default)]
    pub duplicate_check: bool,
    /// The outgoing mail server for Intelecom's e-mail mode; required when
    /// `use_web_service` is off.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
}

fn yes() -> bool {
    true
}

fn two() -> u8 {
    2
}

mod build;
mod check;
mod error;
mod test_sms;

#[cfg(any(feature = "toml", feature = "json"))]
use error::bad;
pub use error::{SettingsError, SettingsErrorKind};
pub use test_sms::{DEFAULT_TEST_TEXT, Diagnosis};

impl SmsSettings {
    /// Settings for `provider` with everything else empty or default.
    #[must_use]
    pub fn new(provider: ProviderKind) -> Self {
        SmsSettings {
            provider,
            sms_endpoint: None,
            use_web_service: true,
            delivery_report: false,
            service_id: None,
            user_name: None,
            password: None,
            priority: 2,
            sender: None,
            default_country: None,
            base_url: None,
            allow_insecure_http: false,
            duplicate_check: false,
            smtp: None,
        }
    }

    /// Switches to Intelecom's e-mail mode through `smtp`.
    #[must_use]
    pub fn with_email(mut self, smtp: SmtpSettings) -> Self {
        self.use_web_service = false;
        self.smtp = Some(smtp);
        self
    }

    /// What the configured channel can do: the gateway's capabilities, or
    /// the e-mail mode's (no reference, no delivery report, no sender, no
    /// priority, GSM-7 only).
    #[must_use]
    pub fn capabilities(&self) -> Capabilities {
        match (self.provider, self.use_web_service) {
            (ProviderKind::Intelecom, false) => crate::intelecom::MAIL_CAPABILITIES,
            (kind, _) => kind.capabilities(),
        }
    }

    /// Sets the service ID.
    #[must_use]
    pub fn with_service_id(mut self, id: u32) -> Self {
        self.service_id = Some(NumberOrText::Number(i64::from(id)));
        self
    }

    /// Sets user name and password.
    #[must_use]
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.user_name = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Reads settings from a TOML (`.toml`) or JSON (any other name) file,
    /// with the same keys as the settings page.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] for the field `file` naming the path and what
    /// is wrong (unreadable, not TOML/JSON, unknown keys).
    #[cfg(any(feature = "toml", feature = "json"))]
    pub fn load(path: &std::path::Path) -> Result<SmsSettings, SettingsError> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad("file", format!("{shown} cannot be read: {e}")))?;
        let toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        if toml {
            #[cfg(feature = "toml")]
            return toml::from_str(&text).map_err(|e| {
                bad(
                    "file",
                    format!("{shown} is not valid TOML settings: {}", e.message()),
                )
            });
            #[cfg(not(feature = "toml"))]
            return Err(bad(
                "file",
                format!("{shown}: TOML needs the `toml` feature"),
            ));
        }
        #[cfg(feature = "json")]
        return serde_json::from_str(&text)
            .map_err(|e| bad("file", format!("{shown} is not valid JSON settings: {e}")));
        #[cfg(not(feature = "json"))]
        Err(bad(
            "file",
            format!("{shown}: JSON needs the `json` feature"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19, item 3: a build without the channel's feature refuses to
    /// build a provider and names the feature (CI runs this with
    /// `--no-default-features`).
    #[test]
    fn a_channel_without_its_feature_is_an_error_naming_it() {
        let cases = [
            (
                SmsSettings::new(ProviderKind::Pswincom).with_credentials("u", "p"),
                cfg!(feature = "pswincom"),
                "`pswincom`",
            ),
            (
                SmsSettings::new(ProviderKind::Intelecom)
                    .with_service_id(1)
                    .with_credentials("u", "p"),
                cfg!(feature = "intelecom"),
                "`intelecom`",
            ),
        ];
        for (settings, built_in, feature) in cases {
            match settings.build_provider() {
                Ok(p) => assert!(built_in, "{} built without {feature}", p.name()),
                Err(e) => {
                    assert!(!built_in, "{e}");
                    assert_eq!(e.field, "provider");
                    assert!(e.is_feature_missing());
                    assert!(e.to_string().contains(feature), "{e}");
                }
            }
        }
    }

    /// A refusal by the gateway's builder is blamed on the field the
    /// builder names (never guessed from its English message).
    #[cfg(feature = "intelecom")]
    #[test]
    fn a_refused_setting_names_its_own_field() {
        let base = SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_credentials("u", "p");
        let mut url = base.clone();
        url.base_url = Some("ftp://user-service.example".into());
        let e = url.build_provider().unwrap_err();
        assert_eq!(
            (e.field, e.kind()),
            ("base_url", SettingsErrorKind::Refused),
            "{e}"
        );
        // A message that mentions another field's word changes nothing.
        let mut plain = base.clone();
        plain.base_url = Some("http://password.example/service".into());
        let e = plain.build_provider().unwrap_err();
        assert_eq!(e.field, "base_url", "{e}");
        let no_password = SmsSettings::new(ProviderKind::Intelecom)
            .with_service_id(1)
            .with_credentials("u", "");
        let e = no_password.build_provider().unwrap_err();
        assert_eq!(e.field, "password", "{e}");
    }
}
