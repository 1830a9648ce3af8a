//! `crm-comms emulate`: a loopback gateway emulator that prints what it gets.

use super::*;

#[derive(Args)]
pub(crate) struct EmulateArgs {
    /// Which gateway.
    #[arg(value_enum)]
    gateway: Gateway,
    /// Where to listen (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The user name it accepts.
    #[arg(long, default_value = "crm")]
    user: String,
    /// The password it accepts.
    #[arg(long, default_value = "secret")]
    password: String,
    /// Intelecom's service ID.
    #[arg(long, default_value_t = 1000)]
    service_id: i64,
}

/// One request an emulator got, as printed.
pub(crate) struct Seen {
    body: String,
    status: u16,
}

/// Either emulator, behind one shape.
pub(crate) enum Emulator {
    Intelecom(IntelecomEmulator),
    Pswincom(PswincomEmulator),
}

impl Emulator {
    fn url(&self) -> String {
        match self {
            Emulator::Intelecom(e) => e.base_url(),
            Emulator::Pswincom(e) => e.base_url(),
        }
    }

    fn seen(&self) -> u64 {
        match self {
            Emulator::Intelecom(e) => e.requests_seen(),
            Emulator::Pswincom(e) => e.requests_seen(),
        }
    }

    /// The last `n` requests.
    fn recent(&self, n: usize) -> Vec<Seen> {
        let all: Vec<Seen> = match self {
            Emulator::Intelecom(e) => e
                .received()
                .into_iter()
                .map(|r| Seen {
                    body: r.body,
                    status: r.status,
                })
                .collect(),
            Emulator::Pswincom(e) => e
                .received()
                .into_iter()
                .map(|r| Seen {
                    body: r.body,
                    status: r.status,
                })
                .collect(),
        };
        let skip = all.len().saturating_sub(n);
        all.into_iter().skip(skip).collect()
    }
}

pub(crate) async fn emulate(json: bool, args: EmulateArgs) -> Result<u8, Fail> {
    let gateway = match args.gateway {
        Gateway::Intelecom => "intelecom",
        Gateway::Pswincom => "pswincom",
    };
    let cannot = |e: std::io::Error| {
        fail(
            exit::FAILURE,
            format!("cannot listen on {}: {e}", args.listen),
        )
    };
    let emu = match args.gateway {
        Gateway::Intelecom => Emulator::Intelecom(
            IntelecomEmulator::start_on(
                args.listen,
                IntelecomWire::new(args.service_id, &args.user, &args.password),
            )
            .await
            .map_err(cannot)?,
        ),
        Gateway::Pswincom => Emulator::Pswincom(
            PswincomEmulator::start_on(args.listen, PswincomWire::new(&args.user, &args.password))
                .await
                .map_err(cannot)?,
        ),
    };
    let url = emu.url();
    if json {
        print_json(&serde_json::json!({ "gateway": gateway, "listening": url }));
    } else {
        out!(
            "{gateway} emulator listening on {url} (user {:?}; password masked in the log)",
            args.user
        );
    }
    flush();
    let mut printed = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = emu.seen();
        if now == printed {
            continue;
        }
        let new = usize::try_from(now - printed).unwrap_or(usize::MAX);
        for r in emu.recent(new) {
            if json {
                print_json(&serde_json::json!({
                    "gateway": gateway, "request": r.body, "answered": r.status,
                }));
            } else {
                out!("request: {}", r.body);
                out!("answered: HTTP {}", r.status);
            }
        }
        flush();
        printed = now;
    }
}

pub(crate) fn flush() {
    let _ = std::io::stdout().flush();
}
