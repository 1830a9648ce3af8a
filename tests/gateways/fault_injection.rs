//! Fault injection: every way a gateway conversation can break, against
//! both gateways' emulators, each send wrapped in a [`Failover`] to a
//! backup. For every fault:
//!
//! - every recipient has exactly one outcome, in recipient order;
//! - the expected outcome (accepted / rejected / unknown, with its kind);
//! - a recipient the gateway received is never reported as not having
//!   reached it (the emulator's record is the truth);
//! - the backup gets exactly the recipients the primary certainly did not
//!   send — never one whose outcome was unknown — so nobody gets the SMS
//!   twice.
#![cfg(all(feature = "intelecom", feature = "pswincom", feature = "testing"))]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::support::category;
use crm_comms::intelecom::Intelecom;
use crm_comms::pswincom::Pswincom;
use crm_comms::sms::{
    Failover, Message, Outcome, SendReport, SmsError, SmsErrorKind, SmsProvider, StubProvider,
};
use crm_comms::testing::intelecom_emulator::{self as ie, IntelecomEmulator, IntelecomWire};
use crm_comms::testing::pswincom_emulator::{self as pe, PswincomEmulator, PswincomWire};

const PASSWORD: &str = "fault-pw";
const TIMEOUT: Duration = Duration::from_millis(700);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gateway {
    Intelecom,
    Pswincom,
}

/// What breaks.
#[derive(Clone, Debug)]
enum Fault {
    ResetBeforeRequestRead,
    ResetAfterRequestRead,
    Http(u16),
    SlowPastTimeout,
    TruncatedAnswer,
    /// The second of three recipients refused by the gateway.
    PartialBatch,
    ConnectRefused,
    DnsFailure,
    /// The host's certificate does not verify.
    UntrustedCertificate,
    /// The host does not speak TLS at all.
    NotTls,
}

/// The outcome expected per recipient: category and kind.
type Expected = (&'static str, Option<SmsErrorKind>);

const ACCEPTED: Expected = ("accepted", None);

fn expected(gateway: Gateway, fault: &Fault) -> Vec<Expected> {
    let all = |e: Expected| vec![e; 3];
    let unknown = |k| ("unknown", Some(k));
    let rejected = |k| ("rejected", Some(k));
    match fault {
        Fault::ResetBeforeRequestRead | Fault::ResetAfterRequestRead | Fault::TruncatedAnswer => {
            all(unknown(SmsErrorKind::Protocol))
        }
        Fault::Http(429) => all(rejected(SmsErrorKind::RateLimited)),
        Fault::Http(_) => all(unknown(SmsErrorKind::GatewayInternal)),
        Fault::SlowPastTimeout => all(unknown(SmsErrorKind::Timeout)),
        Fault::PartialBatch => match gateway {
            // Intelecom status 24 (held): the gateway kept it.
            Gateway::Intelecom => vec![ACCEPTED, unknown(SmsErrorKind::RateLimited), ACCEPTED],
            Gateway::Pswincom => vec![ACCEPTED, rejected(SmsErrorKind::Rejected), ACCEPTED],
        },
        Fault::ConnectRefused | Fault::DnsFailure => all(rejected(SmsErrorKind::Unavailable)),
        Fault::UntrustedCertificate | Fault::NotTls => all(rejected(SmsErrorKind::Tls)),
    }
}

const FAULTS: &[Fault] = &[
    Fault::ResetBeforeRequestRead,
    Fault::ResetAfterRequestRead,
    Fault::Http(500),
    Fault::Http(502),
    Fault::Http(503),
    Fault::Http(429),
    Fault::SlowPastTimeout,
    Fault::TruncatedAnswer,
    Fault::PartialBatch,
    Fault::ConnectRefused,
    Fault::DnsFailure,
    Fault::UntrustedCertificate,
    Fault::NotTls,
];

fn message() -> Message {
    Message::builder()
        .to_all(
            ["+4741000001", "+4741000002", "+4741000003"]
                .iter()
                .map(|n| n.parse().unwrap()),
        )
        .text("Møte kl. 10")
        .build()
        .unwrap()
}

/// Either emulator, started for one case.
enum Emulator {
    Intelecom(IntelecomEmulator),
    Pswincom(PswincomEmulator),
}

impl Emulator {
    async fn start(gateway: Gateway) -> Emulator {
        match gateway {
            Gateway::Intelecom => Emulator::Intelecom(
                IntelecomEmulator::start(IntelecomWire::new(1000, "crm", PASSWORD))
                    .await
                    .unwrap(),
            ),
            Gateway::Pswincom => Emulator::Pswincom(
                PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Where the provider is pointed for `fault`: the emulator, or a
    /// broken host.
    async fn url(&self, fault: &Fault, tls: &mut Option<tokio::task::JoinHandle<()>>) -> String {
        let path = match self {
            Emulator::Intelecom(_) => "",
            Emulator::Pswincom(_) => "/",
        };
        match fault {
            Fault::ConnectRefused => {
                let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = closed.local_addr().unwrap();
                drop(closed);
                format!("http://{addr}{path}")
            }
            Fault::DnsFailure => format!("https://sms-gateway.invalid{path}"),
            Fault::UntrustedCertificate => {
                let (addr, task) = untrusted_tls_server().await;
                *tls = Some(task);
                format!("https://{addr}{path}")
            }
            // TLS spoken to a plain HTTP server.
            Fault::NotTls => format!("https://{}{path}", self.addr()),
            _ => match self {
                Emulator::Intelecom(e) => e.base_url(),
                Emulator::Pswincom(e) => e.base_url(),
            },
        }
    }

    fn addr(&self) -> String {
        let url = match self {
            Emulator::Intelecom(e) => e.base_url(),
            Emulator::Pswincom(e) => e.base_url(),
        };
        url.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    fn script(&self, fault: &Fault) {
        match self {
            Emulator::Intelecom(e) => {
                let f = match fault {
                    Fault::ResetBeforeRequestRead => ie::IntelecomFault::ResetBeforeBody,
                    Fault::ResetAfterRequestRead => ie::IntelecomFault::ResetAfterBody,
                    Fault::Http(s) => ie::IntelecomFault::Http(*s),
                    Fault::SlowPastTimeout => ie::IntelecomFault::Slow(TIMEOUT * 3),
                    Fault::TruncatedAnswer => ie::IntelecomFault::TruncatedAnswer,
                    Fault::PartialBatch => {
                        ie::IntelecomFault::Answer(ie::IntelecomAnswerFault::StatusCodes(vec![
                            1, 24, 1,
                        ]))
                    }
                    _ => return,
                };
                e.fail_next(f);
            }
            Emulator::Pswincom(e) => {
                let f = match fault {
                    Fault::ResetBeforeRequestRead => pe::PswincomFault::ResetBeforeBody,
                    Fault::ResetAfterRequestRead => pe::PswincomFault::ResetAfterBody,
                    Fault::Http(s) => pe::PswincomFault::Http(*s),
                    Fault::SlowPastTimeout => pe::PswincomFault::Slow(TIMEOUT * 3),
                    Fault::TruncatedAnswer => pe::PswincomFault::TruncatedAnswer,
                    Fault::PartialBatch => {
                        pe::PswincomFault::Answer(pe::PswincomAnswerFault::FailIds(vec![
                            "2".into(),
                        ]))
                    }
                    _ => return,
                };
                e.fail_next(f);
            }
        }
    }

    /// The recipients (E.164) whose request body reached the gateway,
    /// answered or not.
    fn reached(&self) -> HashSet<String> {
        match self {
            Emulator::Intelecom(e) => e
                .received()
                .into_iter()
                .flat_map(|r| r.request.messages.into_iter().map(|m| m.recipient))
                .collect(),
            Emulator::Pswincom(e) => e
                .received()
                .into_iter()
                .flat_map(|r| r.request.messages)
                .map(|m| format!("+{}", m.receiver))
                .collect(),
        }
    }

    fn provider(&self, url: String) -> Box<dyn SmsProvider> {
        match self {
            Emulator::Intelecom(_) => Box::new(
                Intelecom::builder()
                    .base_url(url)
                    .dangerous_allow_http()
                    .service_id(1000)
                    .credentials("crm", PASSWORD)
                    .timeout(TIMEOUT)
                    .connect_timeout(TIMEOUT)
                    .build()
                    .unwrap(),
            ),
            Emulator::Pswincom(_) => Box::new(
                Pswincom::builder()
                    .base_url(url)
                    .dangerous_allow_http()
                    .credentials("crm", PASSWORD)
                    .timeout(TIMEOUT)
                    .connect_timeout(TIMEOUT)
                    .build()
                    .unwrap(),
            ),
        }
    }
}

/// A TLS server on loopback whose self-signed certificate no client
/// trusts; it completes nothing.
async fn untrusted_tls_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio_rustls::rustls::{self, pki_types::pem::PemObject};
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(include_bytes!(
        "../fixtures/tls/untrusted-cert.pem"
    ))
    .collect::<Result<Vec<_>, _>>()
    .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(include_bytes!(
        "../fixtures/tls/untrusted-key.pem"
    ))
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client aborts the handshake: it does not trust us.
                assert!(acceptor.accept(stream).await.is_err());
            });
        }
    });
    (addr, task)
}

/// The invariants every case must hold.
fn check(
    gateway: Gateway,
    fault: &Fault,
    m: &Message,
    report: &SendReport,
    reached: &HashSet<String>,
    backup: &StubProvider,
    primary_only: &SendReport,
) {
    let case = format!("{gateway:?} {fault:?}");
    // One outcome per recipient, in order.
    let recipients: Vec<_> = report.outcomes().iter().map(|o| o.recipient).collect();
    assert_eq!(recipients, m.recipients(), "{case}");

    // What the primary said.
    let got: Vec<_> = primary_only
        .outcomes()
        .iter()
        .map(|o| category(&o.outcome))
        .collect();
    assert_eq!(got, expected(gateway, fault), "{case}: {primary_only:?}");

    // Never "could not reach the gateway" for a recipient the gateway has.
    for o in primary_only.outcomes() {
        // Rejected for a transport reason: the request never got there.
        let unreachable = matches!(&o.outcome, Outcome::Rejected(e)
            if matches!(e.kind(), SmsErrorKind::Unavailable | SmsErrorKind::Tls | SmsErrorKind::Timeout));
        if unreachable {
            assert!(
                !reached.contains(o.recipient.e164()),
                "{case}: {} reached the gateway but is reported as not sent",
                o.recipient
            );
        }
    }

    // The backup got exactly the recipients the primary certainly did not
    // send for a reason another gateway can fix (the one retry predicate).
    let to_backup: Vec<_> = primary_only
        .outcomes()
        .iter()
        .filter(|o| o.outcome.is_retryable())
        .map(|o| o.recipient)
        .collect();
    let backed_up: Vec<_> = backup
        .messages()
        .iter()
        .flat_map(|m| m.recipients().to_vec())
        .collect();
    assert_eq!(backed_up, to_backup, "{case}: the backup's share");
    for o in report.outcomes() {
        let was_unknown = primary_only
            .outcomes()
            .iter()
            .any(|p| p.recipient == o.recipient && matches!(p.outcome, Outcome::Unknown(_)));
        if was_unknown {
            assert!(
                !backed_up.contains(&o.recipient),
                "{case}: {} sent twice after an unknown outcome",
                o.recipient
            );
            assert!(matches!(o.outcome, Outcome::Unknown(_)), "{case}");
        }
        if backed_up.contains(&o.recipient) {
            assert_eq!(o.provider, "backup", "{case}");
            assert!(matches!(o.outcome, Outcome::Accepted { .. }), "{case}");
        }
    }
}

async fn run(gateway: Gateway) {
    for fault in FAULTS {
        let emu = Emulator::start(gateway).await;
        let mut tls = None;
        let url = emu.url(fault, &mut tls).await;
        let m = message();

        // Primary alone (what it says), then the same fault behind a
        // failover to a backup.
        emu.script(fault);
        let primary_only = emu.provider(url.clone()).send(&m).await;
        let reached = emu.reached();

        let backup = Arc::new(StubProvider::new_ok().with_name("backup"));
        let emu2 = Emulator::start(gateway).await;
        let mut tls2 = None;
        let url2 = emu2.url(fault, &mut tls2).await;
        emu2.script(fault);
        let failover = Failover::new(emu2.provider(url2), backup.clone());
        let report = failover.send(&m).await;
        let reached2 = emu2.reached();
        assert_eq!(reached, reached2, "{gateway:?} {fault:?}: the same fault");

        check(
            gateway,
            fault,
            &m,
            &report,
            &reached,
            &backup,
            &primary_only,
        );
        for t in [tls, tls2].into_iter().flatten() {
            t.abort();
        }
    }
}

#[tokio::test]
async fn intelecom_faults() {
    run(Gateway::Intelecom).await;
}

#[tokio::test]
async fn pswincom_faults() {
    run(Gateway::Pswincom).await;
}

/// `PSWinCom`'s own failover host: used after a connect or TLS failure, never
/// after the first host may have taken the request.
#[tokio::test]
async fn pswincom_failover_host_never_sends_twice() {
    for fault in FAULTS {
        let emu = Emulator::start(Gateway::Pswincom).await;
        let backup = PswincomEmulator::start(PswincomWire::new("crm", PASSWORD))
            .await
            .unwrap();
        let mut tls = None;
        let url = emu.url(fault, &mut tls).await;
        emu.script(fault);
        let p = Pswincom::builder()
            .base_url(url)
            .failover_url(backup.base_url())
            .dangerous_allow_http()
            .credentials("crm", PASSWORD)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .unwrap();
        let m = message();
        let r = p.send(&m).await;
        assert_eq!(r.outcomes().len(), 3, "{fault:?}");
        let primary = expected(Gateway::Pswincom, fault);
        let backed_up: usize = backup
            .received()
            .iter()
            .map(|r| r.request.messages.len())
            .sum();
        let fails_over = primary.iter().all(|(category, kind)| {
            *category == "rejected"
                && kind.is_some_and(|k| {
                    Outcome::Rejected(SmsError::new(k, "primary", "")).is_retryable()
                })
        });
        if fails_over {
            assert_eq!(backed_up, 3, "{fault:?}");
            assert!(r.all_accepted(), "{fault:?}: {r:?}");
        } else {
            assert_eq!(backed_up, 0, "{fault:?}: the failover host must not get it");
            let got: Vec<_> = r.outcomes().iter().map(|o| category(&o.outcome)).collect();
            assert_eq!(got, primary, "{fault:?}");
        }
        if let Some(t) = tls {
            t.abort();
        }
    }
}
