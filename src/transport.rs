//! What a transport's error says (HTTP through `gateway_http`, SMTP
//! through Intelecom's e-mail mode): helpers for turning a client
//! library's error chain into an [`SmsError`](crate::sms::SmsError)'s
//! message and kind. Kept out of the neutral `sms` core.

/// An error and its sources as one line (`a: b: c`), skipping a source
/// whose text the line already has (many errors print their source).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Whether an error chain's text says TLS failed (certificates, handshake):
/// HTTP and SMTP clients report these as connection errors.
pub(crate) fn mentions_tls(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    // rustls' words for a peer that does not speak TLS, an alert and a
    // certificate it does not trust.
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "peer sent alert",
        "peer is incompatible",
    ]
    .iter()
    .any(|w| text.contains(w))
}
