//! Intelecom's e-mail mode ("use web service" off, feature `smtp`).
//!
//! One mail per recipient to `<msisdn>-<serviceid>@smsmail.intele.com`
//! with the SMS text as the plain-text body, through an SMTP relay
//! (lettre's pooled async transport) or any lettre
//! [`AsyncTransport`].
//!
//! # What this mode cannot do
//!
//! The gateway documents e-mail as "few parameters, no synchronous ack"
//! (`../shared/reference/gateways.md` §1.12), so:
//!
//! - **No reference.** An accepted outcome means *the SMTP relay took the
//!   mail* (it answered `250` to the end of `DATA`); it says nothing about
//!   the gateway. [`Outcome::Accepted`] has `reference: None`.
//! - **No delivery reports**: a message that asks for one is refused with
//!   [`SmsErrorKind::NotSupported`] before anything is sent, so nobody waits
//!   for a report that never comes.
//! - **No sender**: the service's default originator is used; a message
//!   with a sender is refused with [`SmsErrorKind::InvalidSender`].
//! - **Priority is ignored** (a documented no-op, as for `PSWinCom`); the
//!   capabilities say `priority: false`.
//! - **GSM-7 text only, at most 918 characters** (6 parts). The gateway
//!   says "only plain text" and does not say how it treats characters
//!   outside the GSM alphabet; the safest reading is to refuse them with
//!   [`SmsErrorKind::UnsupportedText`] rather than risk a garbled SMS.
//!   [`MAIL_CAPABILITIES`] is the one place to change this.
//!
//! # The address
//!
//! The documentation does not say whether the recipient keeps its `+`.
//! This crate writes the international number as digits without `+`
//! (`4799999999-1234@smsmail.intele.com`), which is what the CRM itself
//! documents (`<msisdn>-<ServiceID>`) and which no mail system can mistake
//! for a `+` sub-address; [`IntelecomMailBuilder::recipient_with_plus`]
//! switches to `+4799999999-1234@…` if the gateway turns out to want it.
//!
//! # The body
//!
//! The text is the whole body, `text/plain; charset=utf-8`, seven-bit when
//! it is ASCII with short lines and quoted-printable otherwise. As in every
//! mail, line breaks travel as CRLF and the body's last line ends with
//! one; the gateway reads the body as the SMS text.
//!
//! # Injection
//!
//! Every address is built from digits and validated parts; the sender
//! address, the gateway domain and the optional subject are checked for
//! control characters when the provider is built, and lettre encodes
//! headers. No input can add a header or a recipient; the text is only
//! ever the body.

// Why one file above 500 lines: one channel (builder, relay, provider and
// the mail each message becomes), most of it the documented limits of the
// mode and their refusals.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{Address, AsyncTransport, Tokio1Executor};

pub use super::{MAIL_CAPABILITIES, SmtpSecurity};
use crate::sms::{
    Capabilities, Message, Outcome, RecipientOutcome, Secret, SendReport, SmsError, SmsErrorKind,
    SmsProvider, check_and_send_in_batches,
};
use crate::transport::{error_chain, mentions_tls};

/// The provider name in reports: `intelecom-mail`.
pub const MAIL_PROVIDER: &str = "intelecom-mail";

/// The gateway's documented mail domain.
pub const DEFAULT_MAIL_DOMAIN: &str = "smsmail.intele.com";

/// A pooled SMTP connection to the CRM's outgoing mail server, made on
/// first use (lettre's pool needs a running Tokio runtime, so building the
/// provider does not).
///
/// `Debug` shows the host, port and security, never the credentials.
#[derive(Clone)]
pub struct SmtpRelay {
    builder: AsyncSmtpTransportBuilder,
    transport: Arc<OnceLock<AsyncSmtpTransport<Tokio1Executor>>>,
    host: String,
    port: u16,
    security: SmtpSecurity,
}

impl fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpRelay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl SmtpRelay {
    fn transport(&self) -> Result<&AsyncSmtpTransport<Tokio1Executor>, SmsError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(config("the SMTP transport needs a Tokio runtime").with_setting("runtime"));
        }
        Ok(self
            .transport
            .get_or_init(|| self.builder.clone().build::<Tokio1Executor>()))
    }
}

#[async_trait]
impl AsyncTransport for SmtpRelay {
    type Ok = lettre::transport::smtp::response::Response;
    /// What went wrong, classified as for any other gateway: a refusal
    /// by the relay, a connection or TLS failure (certainly not sent), or
    /// a conversation that broke off (kind `Timeout` or `Protocol`: the
    /// relay may have taken the mail).
    type Error = SmsError;

    async fn send_raw(
        &self,
        envelope: &lettre::address::Envelope,
        email: &[u8],
    ) -> Result<Self::Ok, Self::Error> {
        self.transport()?
            .send_raw(envelope, email)
            .await
            .map_err(|e| smtp_error(&e))
    }

    async fn shutdown(&self) {
        if let Some(t) = self.transport.get() {
            t.shutdown().await;
        }
    }
}

/// Builds an [`IntelecomMail`] provider; [`build`](Self::build) validates.
///
/// ```
/// use crm_comms::intelecom::{IntelecomMail, SmtpSecurity};
///
/// let provider = IntelecomMail::builder()
///     .service_id(1234)
///     .from("crm@example.com")
///     .smtp("smtp.example.com", SmtpSecurity::StartTls)
///     .smtp_credentials("crm", "hunter2")
///     .build()?;
/// assert!(!format!("{provider:?}").contains("hunter2"));
/// assert_eq!(provider.address_for(&"+4799999999".parse()?), "4799999999-1234@smsmail.intele.com");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct IntelecomMailBuilder {
    service_id: Option<u32>,
    from: Option<String>,
    subject: Option<String>,
    domain: String,
    with_plus: bool,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    security: SmtpSecurity,
    smtp_user: Option<String>,
    smtp_password: Option<Secret>,
    timeout: Duration,
    concurrency: usize,
}

impl Default for IntelecomMailBuilder {
    fn default() -> Self {
        IntelecomMailBuilder {
            service_id: None,
            from: None,
            subject: None,
            domain: DEFAULT_MAIL_DOMAIN.into(),
            with_plus: false,
            smtp_host: None,
            smtp_port: None,
            security: SmtpSecurity::StartTls,
            smtp_user: None,
            smtp_password: None,
            timeout: Duration::from_secs(30),
            concurrency: 2,
        }
    }
}

impl IntelecomMailBuilder {
    /// The service ID (the part after the `-` in the address).
    #[must_use]
    pub fn service_id(mut self, id: u32) -> Self {
        self.service_id = Some(id);
        self
    }

    /// The sender address of the mails (`crm@example.com` or
    /// `CRM <crm@example.com>`); the gateway allow-lists the sending
    /// server, not this address.
    #[must_use]
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// A subject for the mails (default: none). The gateway ignores it
    /// unless the service is set up to append it to the text.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The gateway's mail domain (default [`DEFAULT_MAIL_DOMAIN`]).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }

    /// Write the recipient as `+4799999999` instead of `4799999999` in the
    /// address (see the [module docs](self)).
    #[must_use]
    pub fn recipient_with_plus(mut self, yes: bool) -> Self {
        self.with_plus = yes;
        self
    }

    /// The SMTP relay (the CRM's outgoing mail server) and how the
    /// connection is secured. Not needed with
    /// [`build_with_transport`](Self::build_with_transport).
    #[must_use]
    pub fn smtp(mut self, host: impl Into<String>, security: SmtpSecurity) -> Self {
        self.smtp_host = Some(host.into());
        self.security = security;
        self
    }

    /// The relay's port (default: the security's usual port).
    #[must_use]
    pub fn smtp_port(mut self, port: u16) -> Self {
        self.smtp_port = Some(port);
        self
    }

    /// Log in to the relay (`AUTH`) with these credentials.
    #[must_use]
    pub fn smtp_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.smtp_user = Some(user.into());
        self.smtp_password = Some(password.into());
        self
    }

    /// Time allowed for each step with the SMTP server: connecting, and each
    /// command and answer (default 30 s); a whole mail gets at most three
    /// times this. A timeout after the mail was handed over is an unknown
    /// outcome.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Mails in flight at once, and pooled connections (default 2: the
    /// gateway calls e-mail a low-volume channel).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Validates and builds the provider with a pooled SMTP connection to
    /// the relay set by [`smtp`](Self::smtp).
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidConfig`] naming what is missing or wrong (as
    /// [`build_with_transport`](Self::build_with_transport), and the relay
    /// host).
    pub fn build(self) -> Result<IntelecomMail<SmtpRelay>, SmsError> {
        let host = self
            .smtp_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| config("the SMTP server is missing").with_setting("smtp_host"))?
            .to_owned();
        if host
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '/')
        {
            return Err(
                config("the SMTP server must be a host name or address").with_setting("smtp_host")
            );
        }
        let port = self.smtp_port.unwrap_or(self.security.default_port());
        let tls = || {
            TlsParameters::new(host.clone()).map_err(|e| {
                config("the TLS settings for the SMTP server are invalid")
                    .with_setting("smtp_host")
                    .with_source(e)
            })
        };
        let tls = match self.security {
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::DangerousPlaintext => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(self.timeout))
            .pool_config(PoolConfig::new().max_size(self.concurrency as u32));
        match (&self.smtp_user, &self.smtp_password) {
            (Some(user), Some(password)) if !user.trim().is_empty() => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (Some(_), _) => {
                return Err(config("the SMTP user name is empty").with_setting("smtp_user"));
            }
            (None, _) => {}
        }
        let relay = SmtpRelay {
            builder,
            transport: Arc::new(OnceLock::new()),
            host,
            port,
            security: self.security,
        };
        self.build_with_transport(relay)
    }

    /// Validates and builds the provider over `transport` (any lettre
    /// async transport: a relay you built yourself, lettre's
    /// `AsyncStubTransport`, …).
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidConfig`] naming what is missing or wrong: the
    /// service ID, the sender address, the domain, or a subject with control
    /// characters.
    pub fn build_with_transport<T>(self, transport: T) -> Result<IntelecomMail<T>, SmsError>
    where
        T: AsyncTransport + Send + Sync + 'static,
    {
        let service_id = self
            .service_id
            .filter(|id| *id > 0)
            .ok_or_else(|| config("the service ID is missing").with_setting("service_id"))?;
        let from = self
            .from
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| config("the sender address (from) is missing").with_setting("from"))?;
        if from.chars().any(char::is_control) {
            return Err(
                config("the sender address (from) contains control characters")
                    .with_setting("from"),
            );
        }
        let from: Mailbox = from.parse().map_err(|e| {
            config("the sender address (from) is not a valid e-mail address")
                .with_setting("from")
                .with_source(e)
        })?;
        let domain = self.domain.trim().to_owned();
        if domain.is_empty() || domain.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(config("the gateway's mail domain is invalid").with_setting("domain"));
        }
        Address::new(format!("4799999999-{service_id}"), &domain).map_err(|e| {
            config("the gateway's mail domain is not a valid e-mail domain")
                .with_setting("domain")
                .with_source(e)
        })?;
        if self
            .subject
            .as_deref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err(config("the subject contains control characters").with_setting("subject"));
        }
        Ok(IntelecomMail {
            transport,
            from,
            subject: self.subject.filter(|s| !s.trim().is_empty()),
            service_id,
            domain,
            with_plus: self.with_plus,
            timeout: self.timeout,
            concurrency: self.concurrency,
        })
    }
}

fn config(m: &str) -> SmsError {
    SmsError::new(SmsErrorKind::InvalidConfig, MAIL_PROVIDER, m.to_owned())
}

/// Sends SMS through Intelecom's e-mail interface: one mail per recipient.
/// See the [module docs](self) for what this mode can and cannot do.
///
/// Sending needs a Tokio runtime (outside one, every recipient gets an
/// [`SmsErrorKind::InvalidConfig`] refusal); building does not.
pub struct IntelecomMail<T = SmtpRelay> {
    transport: T,
    from: Mailbox,
    subject: Option<String>,
    service_id: u32,
    domain: String,
    with_plus: bool,
    timeout: Duration,
    concurrency: usize,
}

impl<T: fmt::Debug> fmt::Debug for IntelecomMail<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntelecomMail")
            .field("transport", &self.transport)
            .field("from", &self.from.email.to_string())
            .field("service_id", &self.service_id)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl IntelecomMail<SmtpRelay> {
    /// Starts a builder.
    #[must_use]
    pub fn builder() -> IntelecomMailBuilder {
        IntelecomMailBuilder::default()
    }
}

impl<T> IntelecomMail<T> {
    /// The gateway address a message to `number` is mailed to.
    pub fn address_for(&self, number: &crate::PhoneNumber) -> String {
        let n = if self.with_plus {
            number.e164()
        } else {
            number.digits()
        };
        format!("{n}-{}@{}", self.service_id, self.domain)
    }

    /// The mail for one recipient.
    fn mail(&self, number: &crate::PhoneNumber, text: &str) -> Result<lettre::Message, SmsError> {
        let invalid =
            |m: &str| SmsError::new(SmsErrorKind::InvalidMessage, MAIL_PROVIDER, m.to_owned());
        let to: Address = self
            .address_for(number)
            .parse()
            .map_err(|e| invalid("the gateway address could not be built").with_source(e))?;
        let body = Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::SevenBit)
            .or_else(|raw| Body::new_with_encoding(raw, ContentTransferEncoding::QuotedPrintable))
            .map_err(|_| invalid("the text cannot be encoded as a mail body"))?;
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .message_id(None)
            .header(ContentType::TEXT_PLAIN);
        if let Some(s) = &self.subject {
            builder = builder.subject(s.clone());
        }
        builder
            .body(body)
            .map_err(|e| invalid("the mail could not be built").with_source(e))
    }
}

impl<T> IntelecomMail<T>
where
    T: AsyncTransport + Send + Sync + 'static,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    async fn send_one(&self, number: crate::PhoneNumber, text: &str) -> Outcome {
        let mail = match self.mail(&number, text) {
            Ok(m) => m,
            Err(e) => return Outcome::Rejected(e),
        };
        let limit = self.timeout.saturating_mul(3);
        match tokio::time::timeout(limit, self.transport.send(mail)).await {
            Ok(Ok(_)) => Outcome::Accepted { reference: None },
            Ok(Err(e)) => classify(&e),
            Err(_) => Outcome::Unknown(SmsError::new(
                SmsErrorKind::Timeout,
                MAIL_PROVIDER,
                format!(
                    "the SMTP server did not finish within {limit:?}; the mail may have been accepted"
                ),
            )),
        }
    }
}

/// What a transport error means for the mail. An [`SmsError`] (what
/// [`SmtpRelay`] gives) and lettre's SMTP errors are read precisely; any
/// other transport's errors are unknown outcomes (the safe reading: the
/// mail may have gone).
fn classify<E: std::error::Error + Send + Sync + 'static>(e: &E) -> Outcome {
    let any: &(dyn std::error::Error + 'static) = e;
    let err = if let Some(e) = any.downcast_ref::<SmsError>() {
        e.clone()
    } else if let Some(s) = any.downcast_ref::<lettre::transport::smtp::Error>() {
        smtp_error(s)
    } else {
        return Outcome::Unknown(SmsError::new(
            SmsErrorKind::Other,
            MAIL_PROVIDER,
            format!(
                "the mail transport failed; the mail may have been accepted: {}",
                error_chain(any)
            ),
        ));
    };
    match err.kind() {
        // The conversation broke off after the mail may have been sent.
        SmsErrorKind::Timeout | SmsErrorKind::Protocol | SmsErrorKind::Other => {
            Outcome::Unknown(err)
        }
        _ => Outcome::Rejected(err),
    }
}

/// lettre's SMTP error as an [`SmsError`]: a refusal by the relay, a
/// connection or TLS failure and a bad mail are kinds whose mail was
/// certainly not taken; `Timeout` and `Protocol` mean it may have been.
fn smtp_error(s: &lettre::transport::smtp::Error) -> SmsError {
    let text = error_chain(s);
    let err = |kind, m: String| SmsError::new(kind, MAIL_PROVIDER, m);
    if let Some(code) = s.status() {
        let code_num: u16 = code.to_string().parse().unwrap_or(0);
        let kind = match code_num {
            530 | 534 | 535 | 538 | 454 => SmsErrorKind::Unauthenticated,
            552 => SmsErrorKind::TextTooLong,
            _ if s.is_transient() => SmsErrorKind::Unavailable,
            _ => SmsErrorKind::Rejected,
        };
        // The relay answered with a refusal: it has not taken the mail.
        return err(kind, format!("the SMTP server refused the mail: {text}"));
    }
    if s.is_tls() {
        return err(
            SmsErrorKind::Tls,
            format!("TLS with the SMTP server failed: {text}"),
        );
    }
    // lettre has no predicate for "could not connect"; its Display says so.
    if s.to_string().starts_with("Connection error") {
        let kind = if mentions_tls(&text) {
            SmsErrorKind::Tls
        } else {
            SmsErrorKind::Unavailable
        };
        return err(
            kind,
            format!("could not connect to the SMTP server: {text}"),
        );
    }
    if s.is_client() {
        return err(
            SmsErrorKind::InvalidMessage,
            format!("the mail could not be sent: {text}"),
        );
    }
    let kind = if s.is_timeout() {
        SmsErrorKind::Timeout
    } else {
        SmsErrorKind::Protocol
    };
    err(
        kind,
        format!("the SMTP conversation broke off; the mail may have been accepted: {text}"),
    )
}

#[async_trait]
impl<T> SmsProvider for IntelecomMail<T>
where
    T: AsyncTransport + fmt::Debug + Send + Sync + 'static,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        MAIL_PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        MAIL_CAPABILITIES
    }

    async fn send(&self, message: &Message) -> SendReport {
        if tokio::runtime::Handle::try_current().is_err() {
            let e = config("sending by e-mail needs a Tokio runtime");
            return SendReport::same_for_all(message, MAIL_PROVIDER, Outcome::Rejected(e));
        }
        let caps = MAIL_CAPABILITIES;
        check_and_send_in_batches(
            message,
            &caps,
            MAIL_PROVIDER,
            self.concurrency,
            |one| async move {
                let mut outcomes = Vec::with_capacity(1);
                for &recipient in one.recipients() {
                    outcomes.push(RecipientOutcome {
                        recipient,
                        outcome: self.send_one(recipient, one.text()).await,
                        provider: MAIL_PROVIDER.to_owned(),
                    });
                }
                SendReport::new(outcomes)
            },
        )
        .await
    }
}
