//! The CRM's SMS settings, and the settings page's "send a test SMS".

use std::fmt;

use crate::intelecom::SmtpSecurity;
use crate::phone::{DefaultCountry, PhoneNumber};
use crate::sms::Secret;
use crate::sms::{
    Capabilities, Message, MessageDefaults, Outcome, Priority, Sender, SmsErrorKind, SmsProvider,
    WithDefaults,
};

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

/// What kind of [`SettingsError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsErrorKind {
    /// A field is missing or its value is wrong.
    Invalid,
    /// The gateway's client refused the settings (its error is the
    /// [`source`](std::error::Error::source)).
    Refused,
    /// This build lacks the feature the configured channel needs.
    FeatureMissing,
    /// The settings file cannot be read or parsed.
    File,
}

/// A setting that is missing or wrong: which field, what kind, and why.
#[derive(Clone, Debug, thiserror::Error)]
#[error("SMS setting `{field}`: {reason}")]
#[non_exhaustive]
pub struct SettingsError {
    /// The field (the settings page's name for it).
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
    kind: SettingsErrorKind,
    #[source]
    source: Option<Box<crate::sms::SmsError>>,
}

impl SettingsError {
    /// What kind of error it is.
    #[must_use]
    pub fn kind(&self) -> SettingsErrorKind {
        self.kind
    }

    /// Whether the build lacks the channel's feature.
    #[must_use]
    pub fn is_feature_missing(&self) -> bool {
        self.kind == SettingsErrorKind::FeatureMissing
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        field,
        reason: reason.into(),
        kind: if field == "file" {
            SettingsErrorKind::File
        } else {
            SettingsErrorKind::Invalid
        },
        source: None,
    }
}

/// The gateway client's refusal of these settings, blamed on the field
/// its message names (`provider` when it names none), with the error kept
/// as the source.
#[cfg(any(feature = "intelecom", feature = "pswincom", feature = "smtp"))]
fn refused(default_field: &'static str, e: crate::sms::SmsError) -> SettingsError {
    let text = e.message().to_ascii_lowercase();
    let field = if text.contains("url") || text.contains("http") {
        "base_url"
    } else if text.contains("password") {
        "password"
    } else if text.contains("user") {
        "user_name"
    } else if text.contains("service") {
        "service_id"
    } else {
        default_field
    };
    SettingsError {
        field,
        reason: e.message().to_owned(),
        kind: SettingsErrorKind::Refused,
        source: Some(Box::new(e)),
    }
}

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

/// The result of "send a test SMS", for a settings page.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// The gateway accepted the message.
    Accepted {
        /// Its reference, if the channel gives one.
        reference: Option<String>,
    },
    /// The settings are incomplete or wrong.
    SettingsInvalid(String),
    /// The number could not be parsed.
    NumberInvalid(String),
    /// The gateway rejected the user name or password.
    CredentialsRejected(String),
    /// The gateway does not accept the sender.
    SenderInvalid(String),
    /// The text cannot be sent.
    TextInvalid(String),
    /// The gateway could not be reached.
    GatewayUnreachable(String),
    /// A TLS connection could not be made.
    TlsFailure(String),
    /// The gateway is rate-limiting or holding messages.
    RateLimited(String),
    /// The gateway refused the message.
    Rejected(String),
    /// The gateway may or may not have accepted it.
    Unknown(String),
}

impl Diagnosis {
    /// Whether the test SMS was accepted.
    #[must_use]
    pub fn is_accepted(&self) -> bool {
        matches!(self, Diagnosis::Accepted { .. })
    }

    /// A stable name for scripts (`accepted`, `settings_invalid`,
    /// `number_invalid`, `credentials_rejected`, `sender_invalid`,
    /// `text_invalid`, `gateway_unreachable`, `tls_failure`,
    /// `rate_limited`, `rejected`, `unknown`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Diagnosis::Accepted { .. } => "accepted",
            Diagnosis::SettingsInvalid(_) => "settings_invalid",
            Diagnosis::NumberInvalid(_) => "number_invalid",
            Diagnosis::CredentialsRejected(_) => "credentials_rejected",
            Diagnosis::SenderInvalid(_) => "sender_invalid",
            Diagnosis::TextInvalid(_) => "text_invalid",
            Diagnosis::GatewayUnreachable(_) => "gateway_unreachable",
            Diagnosis::TlsFailure(_) => "tls_failure",
            Diagnosis::RateLimited(_) => "rate_limited",
            Diagnosis::Rejected(_) => "rejected",
            Diagnosis::Unknown(_) => "unknown",
        }
    }

    /// Whether the gateway may have taken the message although it did not
    /// say so (do not resend blindly).
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(self, Diagnosis::Unknown(_))
    }
}

/// As `{"kind": "...", "reference": "..." | null, "message": "..."}`.
impl serde::Serialize for Diagnosis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Diagnosis", 3)?;
        st.serialize_field("kind", self.kind())?;
        let reference = match self {
            Diagnosis::Accepted { reference } => reference.as_deref(),
            _ => None,
        };
        st.serialize_field("reference", &reference)?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::Accepted { reference: Some(r) } => {
                write!(f, "accepted by the gateway (reference {r})")
            }
            Diagnosis::Accepted { reference: None } => {
                f.write_str("accepted (this channel gives no gateway reference)")
            }
            Diagnosis::SettingsInvalid(m) => write!(f, "settings are invalid: {m}"),
            Diagnosis::NumberInvalid(m) => write!(f, "the number is invalid: {m}"),
            Diagnosis::CredentialsRejected(m) => {
                write!(f, "the gateway rejected the user name or password: {m}")
            }
            Diagnosis::SenderInvalid(m) => write!(f, "the sender is not accepted: {m}"),
            Diagnosis::TextInvalid(m) => write!(f, "the text cannot be sent: {m}"),
            Diagnosis::GatewayUnreachable(m) => write!(f, "the gateway could not be reached: {m}"),
            Diagnosis::TlsFailure(m) => write!(f, "a secure (TLS) connection failed: {m}"),
            Diagnosis::RateLimited(m) => {
                write!(f, "the gateway is holding or limiting messages: {m}")
            }
            Diagnosis::Rejected(m) => write!(f, "the gateway refused the message: {m}"),
            Diagnosis::Unknown(m) => write!(
                f,
                "no clear answer; the message may have been sent, check before trying again: {m}"
            ),
        }
    }
}

/// The text of a test SMS when none is given.
pub const DEFAULT_TEST_TEXT: &str = "Test SMS from the CRM";

/// Sends one test SMS to `to` (typed by the administrator) through
/// `provider` and says what happened, in terms a settings page can show.
pub async fn send_test_sms(
    provider: &dyn SmsProvider,
    to: &str,
    default_country: Option<&DefaultCountry>,
    text: Option<&str>,
) -> Diagnosis {
    let number = match PhoneNumber::parse(to, default_country) {
        Ok(n) => n,
        Err(e) => return Diagnosis::NumberInvalid(e.to_string()),
    };
    let message = match Message::builder()
        .to(number)
        .text(text.unwrap_or(DEFAULT_TEST_TEXT))
        .build()
    {
        Ok(m) => m,
        Err(e) => return Diagnosis::TextInvalid(e.to_string()),
    };
    diagnose(
        provider
            .send(&message)
            .await
            .into_outcomes()
            .pop()
            .map(|o| o.outcome),
    )
}

impl SmsSettings {
    /// Builds the provider from these settings and sends a test SMS with
    /// the configured sender, priority and default country.
    pub async fn send_test_sms(&self, to: &str, text: Option<&str>) -> Diagnosis {
        match self.build_provider() {
            Ok(provider) => self.send_test_sms_via(provider.as_ref(), to, text).await,
            Err(e) => Diagnosis::SettingsInvalid(e.to_string()),
        }
    }

    /// Sends a test SMS with these settings' sender, priority, delivery
    /// report and default country through `provider` (built once with
    /// [`build_provider`](Self::build_provider) to test many numbers).
    pub async fn send_test_sms_via(
        &self,
        provider: &dyn SmsProvider,
        to: &str,
        text: Option<&str>,
    ) -> Diagnosis {
        let checked = match self.check() {
            Ok(c) => c,
            Err(e) => return Diagnosis::SettingsInvalid(e.to_string()),
        };
        let number = match PhoneNumber::parse(to, checked.default_country.as_ref()) {
            Ok(n) => n,
            Err(e) => return Diagnosis::NumberInvalid(e.to_string()),
        };
        let mut builder = Message::builder()
            .to(number)
            .text(text.unwrap_or(DEFAULT_TEST_TEXT))
            .priority(checked.priority)
            .delivery_report(self.delivery_report);
        if let Some(s) = checked.sender {
            builder = builder.sender(s);
        }
        match builder.build() {
            Ok(m) => diagnose(
                provider
                    .send(&m)
                    .await
                    .into_outcomes()
                    .pop()
                    .map(|o| o.outcome),
            ),
            Err(e) => Diagnosis::TextInvalid(e.to_string()),
        }
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

fn diagnose(outcome: Option<Outcome>) -> Diagnosis {
    let e = match outcome {
        Some(Outcome::Accepted { reference }) => return Diagnosis::Accepted { reference },
        Some(Outcome::Unknown(e)) => return Diagnosis::Unknown(e.to_string()),
        Some(Outcome::Rejected(e)) => e,
        None => return Diagnosis::Unknown("the provider returned no outcome".into()),
    };
    let m = e.to_string();
    match e.kind() {
        SmsErrorKind::Unauthenticated => Diagnosis::CredentialsRejected(m),
        SmsErrorKind::InvalidSender => Diagnosis::SenderInvalid(m),
        SmsErrorKind::InvalidRecipient => Diagnosis::NumberInvalid(m),
        SmsErrorKind::TextTooLong
        | SmsErrorKind::UnsupportedText
        | SmsErrorKind::InvalidMessage => Diagnosis::TextInvalid(m),
        SmsErrorKind::InvalidConfig => Diagnosis::SettingsInvalid(m),
        SmsErrorKind::Unavailable => Diagnosis::GatewayUnreachable(m),
        SmsErrorKind::Tls => Diagnosis::TlsFailure(m),
        SmsErrorKind::RateLimited => Diagnosis::RateLimited(m),
        SmsErrorKind::Timeout => Diagnosis::Unknown(m),
        _ => Diagnosis::Rejected(m),
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
}
