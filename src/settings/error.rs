//! The settings page's error: which field, what kind, and why.

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
    pub(super) kind: SettingsErrorKind,
    #[source]
    pub(super) source: Option<Box<crate::sms::SmsError>>,
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

pub(super) fn bad(field: &'static str, reason: impl Into<String>) -> SettingsError {
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

/// The gateway client's refusal of these settings, blamed on the settings
/// field behind the builder setting the error names
/// ([`SmsError::setting`](crate::sms::SmsError::setting)), or on
/// `default_field` when it names none; the error is kept as the source.
#[cfg(any(feature = "intelecom", feature = "pswincom", feature = "smtp"))]
pub(super) fn refused(default_field: &'static str, e: crate::sms::SmsError) -> SettingsError {
    let field = match e.setting() {
        Some("base_url" | "failover_url") => "base_url",
        Some("username") => "user_name",
        Some("password") => "password",
        Some("service_id") => "service_id",
        Some("smtp_host") => "smtp.host",
        Some("smtp_user") => "smtp.user_name",
        Some("from") => "smtp.from",
        Some("domain") => "smtp.gateway_domain",
        Some("subject") => "smtp.subject",
        _ => default_field,
    };
    SettingsError {
        field,
        reason: e.message().to_owned(),
        kind: SettingsErrorKind::Refused,
        source: Some(Box::new(e)),
    }
}
