//! `sms`, `link`, `prefs`, `emulate`, `receive` and `--help`.

use crate::common::*;

#[tokio::test]
async fn a_test_sms_through_intelecom_succeeds_and_a_wrong_password_is_rejected() {
    let emu = IntelecomEmulator::start(IntelecomWire::new(1000, "crm", "hunter2"))
        .await
        .unwrap();
    let ok = intelecom_settings(&emu.base_url(), "hunter2");
    let o = run(&[
        "sms",
        "test",
        "--settings",
        ok.to_str().unwrap(),
        "--to",
        "41 00 00 00",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("41 00 00 00: accepted by the gateway (reference"),
        "{}",
        stdout(&o)
    );
    assert_eq!(emu.received()[0].request.recipients(), ["+4741000000"]);

    let wrong = intelecom_settings(&emu.base_url(), "not-it");
    let o = run(&[
        "sms",
        "test",
        "--settings",
        wrong.to_str().unwrap(),
        "--to",
        "41000000",
    ])
    .await;
    assert_eq!(code(&o), 4);
    assert!(
        stdout(&o).contains("rejected the user name or password"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("not-it") && !stderr(&o).contains("not-it"));
}

#[tokio::test]
async fn an_unclear_answer_exits_5_and_a_bad_number_2() {
    let emu = support::intelecom_emulator().await;
    let settings = intelecom_settings(&emu.base_url(), "pw");
    emu.fail_next(IntelecomFault::ResetAfterBody);
    let o = run(&[
        "sms",
        "test",
        "--settings",
        settings.to_str().unwrap(),
        "--to",
        "41000000",
    ])
    .await;
    assert_eq!(code(&o), 5, "{}", stdout(&o));
    assert!(stdout(&o).contains("may have been sent"));
    let o = run(&[
        "sms",
        "test",
        "--settings",
        settings.to_str().unwrap(),
        "--to",
        "12",
    ])
    .await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stdout(&o).contains("12: the number is invalid"));
}

#[tokio::test]
async fn a_test_sms_through_pswincom_to_several_numbers_as_json() {
    let emu = PswincomEmulator::start(PswincomWire::new("crm", "pw"))
        .await
        .unwrap();
    let settings = temp_file(
        "sms.json",
        &format!(
            r#"{{"provider": "pswincom", "pswin_username": "crm", "pswin_password": "pw",
                "default_country": "NO", "base_url": "{}", "allow_insecure_http": true}}"#,
            emu.base_url()
        ),
    );
    let o = run(&[
        "--json",
        "sms",
        "test",
        "--settings",
        settings.to_str().unwrap(),
        "--to",
        "41000001",
        "--to",
        "+4741000002",
        "--text",
        "Hei på deg",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["provider"], "pswincom");
    assert_eq!(v["all_accepted"], true);
    assert_eq!(v["results"][1]["to"], "+4741000002");
    assert_eq!(v["results"][1]["diagnosis"]["kind"], "accepted");
    let texts: Vec<String> = emu
        .received()
        .iter()
        .map(|r| r.request.messages[0].text.clone())
        .collect();
    assert_eq!(texts, ["Hei på deg", "Hei på deg"]);
}

#[tokio::test]
async fn a_test_sms_by_email_reaches_the_smtp_server() {
    let smtp = SmtpServer::start().await.unwrap();
    let settings = temp_file(
        "sms.toml",
        &format!(
            r#"provider = "intelecom"
use_web_service = false
intele_serviceId = "1000"
default_country = "NO"

[smtp]
host = "{}"
port = {}
security = "dangerous_plaintext"
from = "crm@example.com"
"#,
            smtp.host(),
            smtp.port()
        ),
    );
    let o = run(&[
        "sms",
        "test",
        "--settings",
        settings.to_str().unwrap(),
        "--to",
        "41000000",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("provider: intelecom-mail"));
    assert_eq!(
        smtp.received()[0].to,
        ["4741000000-1000@smsmail.intele.com"]
    );
}

#[tokio::test]
async fn bad_settings_and_missing_files_are_one_line_errors() {
    let no_password = temp_file(
        "sms.toml",
        "provider = \"pswincom\"\npswin_username = \"crm\"\n",
    );
    let o = run(&[
        "sms",
        "test",
        "--settings",
        no_password.to_str().unwrap(),
        "--to",
        "41000000",
    ])
    .await;
    assert_eq!(code(&o), 3);
    assert_eq!(
        stderr(&o),
        "error: SMS setting `password`: is required for PSWinCom\n"
    );
    let garbage = temp_file("sms.toml", "provider = [");
    let o = run(&[
        "sms",
        "test",
        "--settings",
        garbage.to_str().unwrap(),
        "--to",
        "1",
    ])
    .await;
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).starts_with("error: SMS setting `file`:"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = run(&[
        "sms",
        "test",
        "--settings",
        "/no/such/file.json",
        "--to",
        "1",
    ])
    .await;
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("cannot be read"));
    assert!(!stderr(&o).contains("panicked") && !stderr(&o).contains("backtrace"));
}

#[tokio::test]
async fn preview_says_encoding_parts_and_limit() {
    let o = run(&[
        "sms",
        "preview",
        "--text",
        "Hei på deg 😀",
        "--provider",
        "pswincom",
    ])
    .await;
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.contains("encoding: UCS-2") || out.contains("encoding: Ucs2"),
        "{out}"
    );
    assert!(out.contains("Unicode because of: '😀'"), "{out}");
    assert!(out.contains("limit: within"));
    let long = "x".repeat(5000);
    let o = run(&["--json", "sms", "preview", "--text", &long]).await;
    assert_eq!(code(&o), 4);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["exceeds_limit"], true);
    assert_eq!(v["preview"]["characters"], 5000);
}

#[tokio::test]
async fn links_render_safely_and_bad_formats_fail_with_2() {
    let o = run(&[
        "link",
        "render",
        "--format",
        "domycall:%p?company={cuid}&name={name}",
        "--number",
        "22 33 44 55",
        "--number",
        "+46 70 123 45 67",
        "--country",
        "NO",
        "--var",
        "cuid=4711",
        "--var",
        "name=Ola & Sønner",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "domycall:+4722334455?company=4711&name=Ola%20%26%20S%C3%B8nner\n\
         domycall:+46701234567?company=4711&name=Ola%20%26%20S%C3%B8nner\n"
    );
    let o = run(&[
        "--json",
        "link",
        "render",
        "--format",
        "tel:%p",
        "--number",
        "+4722334455",
    ])
    .await;
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["links"][0], "tel:+4722334455");
    for bad in [
        vec![
            "link",
            "render",
            "--format",
            "javascript:%p",
            "--number",
            "+4722334455",
        ],
        vec![
            "link",
            "render",
            "--format",
            "tel:%p",
            "--number",
            "not a number",
        ],
        vec![
            "link",
            "render",
            "--format",
            "tel:%p",
            "--number",
            "+4722334455",
            "--var",
            "novalue",
        ],
    ] {
        let o = run(&bad).await;
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error:"), "{}", stderr(&o));
    }
    let o = run(&[
        "link",
        "reg",
        "--scheme",
        "domycall",
        "--exe",
        r"C:\Program Files\DoMyCall\dial.exe",
    ])
    .await;
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains(r#"@="\"C:\\Program Files\\DoMyCall\\dial.exe\" \"%1\"""#),
        "{}",
        stdout(&o)
    );
    let o = run(&["link", "reg", "--scheme", "bad scheme", "--exe", "x.exe"]).await;
    assert_eq!(code(&o), 2);
}

#[tokio::test]
async fn prefs_get_resolves_and_explains() {
    let prefs = Preferences::new();
    prefs
        .set(Entry::new(
            Level::System,
            0,
            "Phone",
            "LinkFormat",
            "callto:%p",
        ))
        .unwrap();
    prefs
        .set(Entry::new(
            Level::Group,
            3,
            "Phone",
            "LinkFormat",
            "facetime:%p",
        ))
        .unwrap();
    let store = temp_file("prefs.toml", &prefs.to_toml_string().unwrap());
    let s = store.to_str().unwrap();
    let o = run(&[
        "prefs",
        "get",
        "--store",
        s,
        "--section",
        "Phone",
        "--key",
        "LinkFormat",
        "--user",
        "7",
        "--group",
        "3",
        "--explain",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("facetime:%p\nfrom: group 3"), "{out}");
    assert!(
        out.contains("callto:%p"),
        "the explanation lists the system value: {out}"
    );
    let o = run(&[
        "--json",
        "prefs",
        "get",
        "--store",
        s,
        "--section",
        "Phone",
        "--key",
        "LinkFormat",
    ])
    .await;
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["value"], "callto:%p");
    let o = run(&[
        "prefs",
        "get",
        "--store",
        "/no/such.toml",
        "--section",
        "a",
        "--key",
        "b",
    ])
    .await;
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).starts_with("error: /no/such.toml cannot be read"));
}

#[tokio::test]
async fn the_emulator_prints_each_request_with_the_password_masked() {
    let mut emu = Running::start(&[
        "emulate",
        "pswincom",
        "--user",
        "crm",
        "--password",
        "hunter2",
    ]);
    let first = emu.line().await;
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the URL")
        .to_owned();
    let provider = Pswincom::builder()
        .base_url(&url)
        .dangerous_allow_http()
        .no_failover()
        .credentials("crm", "hunter2")
        .build()
        .unwrap();
    let m = Message::builder()
        .to("+4741000001".parse().unwrap())
        .text("Hei")
        .build()
        .unwrap();
    assert!(provider.send(&m).await.all_accepted());
    let request = emu.line().await;
    assert!(request.starts_with("request: <?xml"), "{request}");
    assert!(
        request.contains("<PW>***</PW>") && !request.contains("hunter2"),
        "{request}"
    );
    assert_eq!(emu.line().await, "answered: HTTP 200\n");
}

#[tokio::test]
async fn the_receiver_prints_json_lines_and_refuses_requests_without_the_secret() {
    let mut rx = Running::start_with(
        &["receive", "--listen", "127.0.0.1:0"],
        &[("CRM_COMMS_CALLBACK_SECRET", "s3")],
        Stdio::null(),
    );
    let first: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    let base = first["listening"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let form = "ID=1&SND=4748043043&RCV=26112&TXT=Hei+p%e5+deg&NET=242:00";
    let denied = http
        .post(format!("{base}/pswincom/mo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let ok = http
        .post(format!("{base}/pswincom/mo?secret=s3"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let line: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    assert_eq!(line["type"], "mo");
    assert_eq!(line["message"]["text"], "Hei på deg");
    assert_eq!(line["message"]["message"]["from_raw"], "4748043043");
}

#[tokio::test]
async fn every_subcommand_has_help_with_an_example() {
    for args in [
        vec!["sms", "--help"],
        vec!["sms", "test", "--help"],
        vec!["sms", "preview", "--help"],
        vec!["link", "--help"],
        vec!["link", "render", "--help"],
        vec!["link", "reg", "--help"],
        vec!["prefs", "get", "--help"],
        vec!["emulate", "--help"],
        vec!["receive", "--help"],
        vec!["privacy", "--help"],
    ] {
        let o = run(&args).await;
        assert_eq!(code(&o), 0, "{args:?}");
        assert!(
            stdout(&o).contains("Example:\n  crm-comms "),
            "{args:?}: {}",
            stdout(&o)
        );
    }
    let o = run(&["sms", "test"]).await;
    assert_eq!(code(&o), 2, "missing arguments are usage errors");
}

/// Issue 19, item 14: the secret never on the command line; no secret only
/// with an explicit flag, said on stderr.
#[tokio::test]
async fn the_receiver_takes_its_secret_from_the_environment_or_a_file_only() {
    let o = run(&["receive", "--listen", "127.0.0.1:0", "--secret", "s3"]).await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("CRM_COMMS_CALLBACK_SECRET"),
        "{}",
        stderr(&o)
    );
    let o = run(&["receive", "--listen", "127.0.0.1:0"]).await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no callback secret"), "{}", stderr(&o));
    let o = run(&[
        "receive",
        "--listen",
        "127.0.0.1:0",
        "--secret-file",
        "/no/such/file",
    ])
    .await;
    assert_eq!(code(&o), 2);

    let dir = std::env::temp_dir().join(format!("crm-comms-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let mut rx = Running::start(&[
        "receive",
        "--listen",
        "127.0.0.1:0",
        "--secret-file",
        file.to_str().unwrap(),
    ]);
    let first: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    let base = first["listening"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let dr = r#"{"dr":[{"messageid":"m-1","statuscode":0}]}"#;
    let post = |secret: &'static str| {
        http.post(format!("{base}/intelecom/dr"))
            .header("content-type", "application/json")
            .header("x-api-key", secret)
            .body(dr)
            .send()
    };
    assert_eq!(post("wrong").await.unwrap().status(), 401);
    assert_eq!(post("from-a-file").await.unwrap().status(), 200);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", rx.child.id())).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&cmdline).contains("from-a-file"));
    drop(rx);

    let mut open = Running::start_with(
        &[
            "receive",
            "--listen",
            "127.0.0.1:0",
            "--dangerous-no-secret",
        ],
        &[],
        Stdio::piped(),
    );
    let _ = open.line().await;
    let mut err = String::new();
    let mut stderr = open.child.stderr.take().unwrap();
    let _ = open.child.kill();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert!(err.contains("WITHOUT a callback secret"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19, items 9, 12 and 13: each unreadable entry becomes a JSON line
/// with its reason and raw text; SIGTERM stops the receiver cleanly; a
/// closed stdout (`| head -n1`) stops it without a panic.
#[cfg(unix)]
#[tokio::test]
async fn the_receiver_reports_malformed_entries_and_stops_cleanly() {
    let dir = std::env::temp_dir().join(format!("crm-comms-cli-m-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let malformed = dir.join("malformed.jsonl");
    let env = [("CRM_COMMS_CALLBACK_SECRET", "s3")];
    let mut rx = Running::start_with(
        &[
            "receive",
            "--listen",
            "127.0.0.1:0",
            "--malformed",
            malformed.to_str().unwrap(),
        ],
        &env,
        Stdio::piped(),
    );
    let first: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    let base = first["listening"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .post(format!("{base}/intelecom/dr"))
        .header("content-type", "application/json")
        .header("x-api-key", "s3")
        .body(r#"{"dr":[{"messageid":"a","statuscode":1.5e3},{"messageid":"b","statuscode":0}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "acknowledged");
    let line: serde_json::Value = serde_json::from_str(&rx.line().await).unwrap();
    assert_eq!(line["event"]["receipt"]["reference"], "b");
    let written = std::fs::read_to_string(&malformed).unwrap();
    let m: serde_json::Value = serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(m["type"], "malformed");
    assert_eq!(m["field"], "statuscode");
    assert_eq!(m["raw"], r#"{"messageid":"a","statuscode":1.5e3}"#);

    // SIGTERM: a clean exit, status 0.
    let pid = rx.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let s = rx.child.wait().unwrap();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut rx.child.stderr.take().unwrap(), &mut err);
        (s, err)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{status:?}");
    assert!(!status.1.contains("panicked"), "{}", status.1);

    // Stdout closed after the first line, as `| head -n1` does.
    let mut child = Command::new(BIN)
        .args(["receive", "--listen", "127.0.0.1:0"])
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    let base = serde_json::from_str::<serde_json::Value>(&first).unwrap()["listening"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{base}/intelecom/dr"))
        .header("content-type", "application/json")
        .header("x-api-key", "s3")
        .body(r#"{"dr":[{"messageid":"c","statuscode":0}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500, "not printed, so to be redelivered");
    let (status, err) = tokio::task::spawn_blocking(move || {
        let s = child.wait().unwrap();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        (s, err)
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?} {err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
