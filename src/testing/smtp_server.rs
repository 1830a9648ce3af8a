//! A real SMTP server on loopback, for testing the e-mail mode.
//!
//! The SMTP conversation is the `mailin` crate's state machine (a complete
//! RFC 5321 server side: `EHLO`, `AUTH PLAIN`/`LOGIN`, `MAIL`, `RCPT`,
//! `DATA` with dot-unstuffing, `RSET`, `QUIT`); this module only adds the
//! socket loop on `127.0.0.1:0`, keeps every mail that arrived, and can be
//! scripted to refuse or drop mail.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use crm_comms::testing::smtp_server::SmtpServer;
//!
//! let server = SmtpServer::start().await.unwrap();
//! assert!(server.port() > 0);
//! assert!(server.received().is_empty());
//! # });
//! ```

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest command line accepted (RFC 5321 allows 512 octets for
/// commands and 1000 for text lines).
const MAX_LINE: usize = 1000;
/// The largest mail kept (bigger ones are refused with 552).
const MAX_MAIL: usize = 1 << 20;

/// One mail as it arrived: the envelope and the raw message (headers and
/// body, dot-unstuffed, CRLF line ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent after `DATA`.
    pub data: Vec<u8>,
    /// The user name the client logged in with, if it did.
    pub user: Option<String>,
}

/// A scripted failure for the next mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpFault {
    /// `550` to `RCPT TO`: the recipient is refused.
    RejectRecipient,
    /// `451` at the end of `DATA`: try again later (the server then closes
    /// the connection).
    TemporaryFailure,
    /// `554` at the end of `DATA`: refused for good (the server then closes
    /// the connection).
    PermanentFailure,
    /// The whole mail is read, then the connection is closed without an
    /// answer: the client cannot know whether it was taken.
    CloseAfterData,
}

#[derive(Debug, Default)]
struct State {
    received: Vec<ReceivedMail>,
    /// Mail transactions started (`MAIL FROM` commands) so far.
    started: usize,
    /// Faults by the number of the transaction they hit.
    faults: Vec<(usize, SmtpFault)>,
    credentials: Option<(String, crate::sms::Secret)>,
    logins_refused: usize,
}

/// The loopback SMTP server. It runs until dropped.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SmtpServer {
    /// Starts a server that takes mail from anyone, without `AUTH`.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> io::Result<Self> {
        Self::start_inner(None).await
    }

    /// Starts a server that offers `AUTH PLAIN` and `LOGIN` (over the
    /// plain connection, as loopback tests need) and takes mail only after
    /// a login with these credentials.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start_with_login(user: &str, password: &str) -> io::Result<Self> {
        Self::start_inner(Some((user.to_owned(), password.into()))).await
    }

    async fn start_inner(credentials: Option<(String, crate::sms::Secret)>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let auth = credentials.is_some();
        let state = Arc::new(Mutex::new(State {
            credentials,
            ..State::default()
        }));
        let mut session = SessionBuilder::new("crm-comms-test-smtp");
        if auth {
            session
                .enable_auth(AuthMechanism::Plain)
                .enable_auth(AuthMechanism::Login)
                .insecure_enable_plaintext_auth();
        }
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let handler = MailHandler::new(Arc::clone(&shared));
                let logged_in = Arc::clone(&handler.logged_in);
                let session = session.build(peer.ip(), handler);
                let needs_login = auth.then_some(logged_in);
                tokio::spawn(serve(stream, session, needs_login));
            }
        });
        Ok(SmtpServer { addr, state, task })
    }

    /// The host to connect to: `127.0.0.1`.
    #[must_use]
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every mail accepted so far, in order.
    #[must_use]
    pub fn received(&self) -> Vec<ReceivedMail> {
        lock(&self.state).received.clone()
    }

    /// How many logins were refused (wrong user name or password).
    #[must_use]
    pub fn logins_refused(&self) -> usize {
        lock(&self.state).logins_refused
    }

    /// Makes the next mail fail as `fault`.
    pub fn fail_next(&self, fault: SmtpFault) {
        self.fail_after(0, fault);
    }

    /// Makes the mail after the next `n` ones fail as `fault` (`0` is the
    /// next mail).
    pub fn fail_after(&self, n: usize, fault: SmtpFault) {
        let mut state = lock(&self.state);
        let at = state.started + n;
        state.faults.push((at, fault));
    }
}

/// Runs one SMTP session over `stream`. With `needs_login`, `MAIL` before a
/// successful `AUTH` gets `530 5.7.0 Authentication required` (RFC 4954).
///
/// Two things are handled here rather than by the state machine: that
/// `530`, and a refusal at the end of `DATA`, after which the server
/// answers and closes the connection (the state machine cannot go on with
/// the session after it).
async fn serve(
    stream: TcpStream,
    mut session: mailin::Session<MailHandler>,
    needs_login: Option<Arc<AtomicBool>>,
) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    if write
        .write_all(&response_bytes(&session.greeting()))
        .await
        .is_err()
    {
        return;
    }
    let mut line = Vec::with_capacity(128);
    let mut in_data = false;
    loop {
        line.clear();
        match (&mut read)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            // A line longer than SMTP allows: refuse and hang up.
            let _ = write.write_all(b"500 Line too long\r\n").await;
            return;
        }
        let is_mail = !in_data && line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"MAIL ");
        if is_mail
            && needs_login
                .as_ref()
                .is_some_and(|l| !l.load(Ordering::SeqCst))
        {
            if write
                .write_all(b"530 5.7.0 Authentication required\r\n")
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let data_end = in_data && line == b".\r\n";
        let response = session.process(&line);
        if response.code == 354 {
            in_data = true;
        }
        if data_end {
            in_data = false;
            if response.code == DROP_CODE {
                // CloseAfterData: hang up without answering.
                return;
            }
            if response.is_error {
                let _ = write.write_all(&response_bytes(&response)).await;
                return;
            }
        }
        match response.action {
            Action::Reply => {
                if write.write_all(&response_bytes(&response)).await.is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = write.write_all(&response_bytes(&response)).await;
                return;
            }
            Action::NoReply => {}
            Action::UpgradeTls => {
                // STARTTLS is never offered.
                return;
            }
        }
    }
}

/// The marker reply `data_end` gives for [`SmtpFault::CloseAfterData`].
const DROP_CODE: u16 = 599;

fn response_bytes(response: &Response) -> Vec<u8> {
    response
        .buffer()
        .unwrap_or_else(|_| b"451 Local error\r\n".to_vec())
}

/// Collects one session's mails into the shared state.
#[derive(Debug)]
struct MailHandler {
    state: Arc<Mutex<State>>,
    user: Option<String>,
    logged_in: Arc<AtomicBool>,
    /// The number of the current mail transaction.
    number: usize,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    too_big: bool,
}

impl MailHandler {
    fn new(state: Arc<Mutex<State>>) -> Self {
        MailHandler {
            state,
            user: None,
            logged_in: Arc::new(AtomicBool::new(false)),
            number: 0,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            too_big: false,
        }
    }

    fn login(&mut self, user: &str, password: &str) -> Response {
        let mut state = lock(&self.state);
        match &state.credentials {
            Some((u, p)) if u == user && p.expose() == password => {
                self.user = Some(user.to_owned());
                self.logged_in.store(true, Ordering::SeqCst);
                mailin::response::AUTH_OK
            }
            _ => {
                state.logins_refused += 1;
                mailin::response::INVALID_CREDENTIALS
            }
        }
    }

    /// Whether `fault` is scripted for the current mail (and takes it).
    fn fault(&self, fault: SmtpFault) -> bool {
        let mut state = lock(&self.state);
        let scripted = (self.number, fault);
        match state.faults.iter().position(|f| *f == scripted) {
            Some(i) => {
                state.faults.remove(i);
                true
            }
            None => false,
        }
    }
}

impl Handler for MailHandler {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        let mut state = lock(&self.state);
        self.number = state.started;
        state.started += 1;
        drop(state);
        from.clone_into(&mut self.from);
        self.to.clear();
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.fault(SmtpFault::RejectRecipient) {
            return mailin::response::NO_MAILBOX;
        }
        self.to.push(to.to_owned());
        mailin::response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.data.clear();
        self.too_big = false;
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.data.len() + buf.len() > MAX_MAIL {
            self.too_big = true;
        } else {
            self.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if self.too_big {
            return mailin::response::NO_STORAGE;
        }
        if self.fault(SmtpFault::TemporaryFailure) {
            return mailin::response::INTERNAL_ERROR;
        }
        if self.fault(SmtpFault::PermanentFailure) {
            return mailin::response::TRANSACTION_FAILED;
        }
        if self.fault(SmtpFault::CloseAfterData) {
            return Response::custom(DROP_CODE, "dropped".into());
        }
        lock(&self.state).received.push(ReceivedMail {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
            user: self.user.clone(),
        });
        mailin::response::OK
    }

    fn auth_plain(&mut self, _authorization_id: &str, user: &str, password: &str) -> Response {
        self.login(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        self.login(user, password)
    }
}
