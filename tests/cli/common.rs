//! What every `crm-comms` test uses: running the binary, reading its
//! output, temporary files, settings for the loopback emulators, a child
//! process killed when dropped, and a mailing created through the CLI.

pub(crate) use std::io::{BufRead, BufReader};
pub(crate) use std::path::PathBuf;
pub(crate) use std::process::{Child, Command, Output, Stdio};
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) use crm_comms::prefs::{Entry, Level, Preferences};
pub(crate) use crm_comms::pswincom::Pswincom;
pub(crate) use crm_comms::sms::{Message, SmsProvider};
pub(crate) use crm_comms::testing::intelecom_emulator::{
    IntelecomEmulator, IntelecomFault, IntelecomWire,
};
pub(crate) use crm_comms::testing::pswincom_emulator::{PswincomEmulator, PswincomWire};
pub(crate) use crm_comms::testing::smtp_server::SmtpServer;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_crm-comms");

pub(crate) use super::support;

/// Runs the binary off the async runtime.
pub(crate) async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file in a fresh temporary folder.
pub(crate) fn temp_file(name: &str, contents: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "crm-comms-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

pub(crate) fn intelecom_settings(base_url: &str, password: &str) -> PathBuf {
    temp_file(
        "sms.toml",
        &format!(
            r#"provider = "intelecom"
intele_serviceId = "1000"
intele_username = "crm"
intele_password = "{password}"
default_country = "NO"
base_url = "{base_url}"
allow_insecure_http = true
"#
        ),
    )
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// A running child process, killed when dropped; its stdout lines arrive
/// through a channel fed by a reader thread.
pub(crate) struct Running {
    pub(crate) child: Child,
    lines: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<String>>>,
}

impl Running {
    pub(crate) fn start(args: &[&str]) -> Self {
        Running::start_with(args, &[], Stdio::null())
    }

    pub(crate) fn start_with(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.send(line + "\n").is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: std::sync::Arc::new(std::sync::Mutex::new(rx)),
        }
    }

    pub(crate) async fn line(&mut self) -> String {
        let lines = self.lines.clone();
        tokio::task::spawn_blocking(move || {
            lines
                .lock()
                .unwrap()
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("a line within 20 s")
        })
        .await
        .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `crm-comms mailing create` for the store `db`, the settings and
/// the recipients file, with `text` and the `extra` arguments.
pub(crate) async fn create_mailing(
    db: &std::path::Path,
    settings: &std::path::Path,
    recipients: &std::path::Path,
    text: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "mailing",
        "create",
        "--store",
        db.to_str().unwrap(),
        "--settings",
        settings.to_str().unwrap(),
        "--recipients",
        recipients.to_str().unwrap(),
        "--text",
        text,
    ];
    args.extend_from_slice(extra);
    run(&args).await
}

/// `crm-comms mailing create` of `n` recipients through `emu` with `text`
/// (the account's duplicate check as said), then the arguments of
/// `mailing send` for it: the store's path and the arguments.
pub(crate) async fn created_mailing_with(
    emu: &IntelecomEmulator,
    duplicate_check: bool,
    n: usize,
    text: &str,
) -> (PathBuf, Vec<String>) {
    let (settings, recipients) = mailing_files(emu, duplicate_check, n);
    let db = settings.with_file_name("crm.db");
    let o = create_mailing(&db, &settings, &recipients, text, &[]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().next(), Some("mailing 1 created"));
    let (s, d) = (
        settings.to_str().unwrap().to_owned(),
        db.to_str().unwrap().to_owned(),
    );
    let send = [
        "mailing",
        "send",
        "--store",
        &d,
        "--settings",
        &s,
        "--id",
        "1",
    ]
    .map(str::to_owned)
    .to_vec();
    (db, send)
}

/// [`created_mailing_with`] a plain text and no duplicate check.
pub(crate) async fn created_mailing(emu: &IntelecomEmulator, n: usize) -> (PathBuf, Vec<String>) {
    created_mailing_with(emu, false, n, "Hei {firstname}").await
}

/// SMS settings for `emu` and a CSV of `n` recipients (`number,firstname`),
/// in a fresh folder.
pub(crate) fn mailing_files(
    emu: &IntelecomEmulator,
    duplicate_check: bool,
    n: usize,
) -> (PathBuf, PathBuf) {
    let settings = temp_file(
        "sms.toml",
        &format!(
            "provider = \"intelecom\"\nservice_id = \"1000\"\nuser_name = \"crm\"\npassword = \"pw\"\ndefault_country = \"NO\"\nbase_url = \"{}\"\nallow_insecure_http = true\nduplicate_check = {duplicate_check}\n",
            emu.base_url()
        ),
    );
    let mut csv = String::from("number,firstname\n");
    for i in 0..n {
        csv.push_str(&format!("4{i:07},Kari{i}\n"));
    }
    let recipients = settings.with_file_name("recipients.csv");
    std::fs::write(&recipients, csv).unwrap();
    (settings, recipients)
}
