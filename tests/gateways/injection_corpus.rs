//! One corpus of hostile input — scheme changes, URI and quote breakouts,
//! CR/LF header injection, XML element and entity tricks, invalid XML
//! characters, JSON breakouts, Windows command-line metacharacters — run
//! against every output the crate writes. Each case gets the exact safe
//! output back (the value round-trips) or a typed error.
#![cfg(all(
    feature = "intelecom",
    feature = "pswincom",
    feature = "smtp",
    feature = "testing"
))]

use std::time::SystemTime;

use crm_comms::intelecom::IntelecomMail;
use crm_comms::intelecom::SmtpSecurity;
use crm_comms::links::{PhoneLinkFormat, WindowsRegistration};
use crm_comms::phone::{DefaultCountry, PhoneNumber};
use crm_comms::sms::{Message, Secret, Sender, SmsErrorKind};
use crm_comms::testing::wire::intelecom as iw;
use crm_comms::testing::wire::pswincom as pw;
use quick_xml::events::Event;

const HOSTILE: &[&str] = &[
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "tel:+4799999999",
    "//evil.example.com/x",
    "\\\\evil\\share",
    "x?y=1&z=2#frag",
    "a b\tc",
    "\r\nBcc: evil@example.com",
    "%0d%0aBcc: evil@example.com",
    "\"; calc.exe & \"",
    "\" --new-window \"http://evil",
    "%1 %* ^& | < > %PATH% !VAR!",
    "</TEXT><RCV>4700000000</RCV><TEXT>",
    "]]><!-- --><![CDATA[x]]>",
    "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>&e;",
    "&amp;&lt;&#0;&#x1F600;",
    "\u{0}\u{1}\u{8}\u{B}\u{C}\u{1F}\u{7F}",
    "\u{FFFE}\u{FFFF}\u{D7FF}\u{E000}",
    "\u{202E}gnp.exe",
    "😀👨‍👩‍👧 Ølberg & Søn",
    "\"},{\"recipient\":\"+4700000000\",\"content\":\"x",
    "\\u0000\\\"",
    "",
];

fn number() -> PhoneNumber {
    "+4722334455".parse().unwrap()
}

#[test]
fn hostile_variables_keep_the_links_scheme_and_come_back_exactly() {
    for format in [
        "domycall:%p?company={v}",
        "callto:%p#{v}",
        "x-crm:{v}/%p",
        "tel:%p;ext={v}",
    ] {
        let f: PhoneLinkFormat = format.parse().unwrap();
        let scheme = format!("{}:", f.scheme());
        for &value in HOSTILE {
            let link = f.render(&number(), &[("v", value)]).unwrap();
            let s = link.as_str();
            assert!(s.starts_with(&scheme), "{format} {value:?}: {s}");
            // Nothing that ends a quoted "%1", splits a command line, or
            // starts a second URI.
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|} ".contains(&b)),
                "{format} {value:?}: {s}"
            );
            assert_eq!(s.matches(':').count(), 1, "one scheme only: {s}");
            let call = f.parse_link(s).unwrap();
            assert_eq!(call.variable("v"), Some(value), "{format}: {s}");
            assert_eq!(*call.number(), number());
        }
    }
}

#[test]
fn hostile_numbers_are_typed_errors() {
    let norway: DefaultCountry = "NO".parse().unwrap();
    for &value in HOSTILE {
        match PhoneNumber::parse(value, Some(&norway)) {
            Err(_) => {}
            // An RFC 3966 URI is a way of writing a number; nothing else is.
            Ok(n) if value == "tel:+4799999999" => assert_eq!(n.e164(), "+4799999999"),
            Ok(n) => panic!("{value:?} parsed as {n}"),
        }
    }
    // The number itself can only ever be written as +digits.
    let f: PhoneLinkFormat = "tel:%p".parse().unwrap();
    assert_eq!(
        f.render(&number(), &[]).unwrap().as_str(),
        "tel:+4722334455"
    );
}

#[test]
fn hostile_schemes_and_executables_cannot_break_the_reg_file() {
    for &value in HOSTILE {
        if let Ok(reg) = WindowsRegistration::new(value, r"C:\crm\dial.exe").build() {
            panic!("{value:?} accepted as a scheme:\n{}", reg.to_reg_text());
        }
        match WindowsRegistration::new("domycall", format!(r"C:\crm\{value}.exe")).build() {
            Err(_) => {}
            Ok(reg) => {
                let text = reg.to_reg_text();
                // Exactly the four keys, and one command line that quotes
                // the path and "%1".
                assert_eq!(text.matches("\r\n[HKEY").count(), 4, "{value:?}:\n{text}");
                let command = text
                    .lines()
                    .find(|l| l.contains("%1"))
                    .expect("a command line");
                assert!(command.ends_with(r#"\" \"%1\"""#), "{value:?}: {command}");
                assert!(!value.contains('"') && !value.contains('\r') && !value.contains('\n'));
            }
        }
    }
}

/// The `TEXT`, `OP`, `CLIENT` and `PW` a `PSWin` body carries, read back.
fn read_pswin(body: &[u8]) -> (Vec<(String, String)>, String, String) {
    let doc = pw::decode_document(body).unwrap();
    let mut r = quick_xml::Reader::from_str(&doc);
    let mut path: Vec<String> = Vec::new();
    let mut msgs: Vec<(String, String)> = Vec::new();
    let (mut client, mut password) = (String::new(), String::new());
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if name == "MSG" {
                    msgs.push(Default::default());
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let v = t.unescape().unwrap().into_owned();
                match path.last().map(String::as_str) {
                    Some("TEXT") => msgs.last_mut().unwrap().0.push_str(&v),
                    Some("OP") => msgs.last_mut().unwrap().1.push_str(&v),
                    Some("CLIENT") => client.push_str(&v),
                    Some("PW") => password.push_str(&v),
                    _ => {}
                }
            }
            Event::DocType(_) => panic!("a DOCTYPE in a request"),
            Event::Eof => break,
            _ => {}
        }
    }
    (msgs, client, password)
}

#[test]
fn hostile_texts_and_credentials_stay_inside_their_pswin_elements() {
    for &value in HOSTILE.iter().filter(|v| !v.is_empty()) {
        let message = Message::builder()
            .to_all([number(), "+4741000001".parse().unwrap()])
            .text(value)
            .build();
        let Ok(message) = message else {
            // Only texts no SMS can carry are refused.
            assert!(value.chars().all(char::is_control), "{value:?}");
            continue;
        };
        let sent =
            pw::wire_messages(&message, &crm_comms::pswincom::LIMITS, SystemTime::now()).unwrap();
        let body = pw::to_latin1(&pw::request_xml(value, &Secret::new(value), &sent));
        let (msgs, client, password) = read_pswin(&body);
        assert_eq!(msgs.len(), 2, "{value:?}");
        for (text, op) in msgs {
            let back = if op == "9" {
                let units: Vec<u16> = (0..text.len())
                    .step_by(4)
                    .map(|i| u16::from_str_radix(&text[i..i + 4], 16).unwrap())
                    .collect();
                String::from_utf16(&units).unwrap()
            } else {
                assert_eq!(op, "", "{value:?}");
                text
            };
            assert_eq!(back, value);
        }
        // Credentials: everything XML can carry comes back; what it cannot
        // (controls, U+FFFE) never breaks the document.
        let xml_safe = value.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        });
        if xml_safe {
            assert_eq!(client, value);
            assert_eq!(password, value);
        }
    }
}

#[test]
fn hostile_senders_are_typed_errors_or_carried_exactly() {
    for &value in HOSTILE {
        match Sender::parse(value) {
            Err(_) => {}
            Ok(s) => {
                let m = Message::builder()
                    .to(number())
                    .text("x")
                    .sender(s)
                    .build()
                    .unwrap();
                let sent = pw::wire_messages(&m, &crm_comms::pswincom::LIMITS, SystemTime::now());
                if let Ok(sent) = sent {
                    assert_eq!(sent[0].sender.as_deref(), Some(value.trim()), "{value:?}");
                }
            }
        }
    }
}

#[test]
fn hostile_texts_stay_one_intelecom_json_message() {
    for &value in HOSTILE.iter().filter(|v| !v.is_empty()) {
        let Ok(message) = Message::builder()
            .to(number())
            .text(value)
            .client_reference("ref-1")
            .build()
        else {
            continue;
        };
        let request = iw::SendRequest {
            service_id: 1000,
            username: value,
            password: &Secret::new(value),
            batch_reference: None,
            message: iw::wire_messages(&message),
        };
        let json = serde_json::to_string(&request).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["message"].as_array().unwrap().len(), 1, "{value:?}");
        assert_eq!(v["message"][0]["content"], value);
        assert_eq!(v["message"][0]["recipient"], "+4722334455");
        assert_eq!(v["username"], value);
        assert_eq!(v["password"], value);
    }
}

#[test]
fn hostile_mail_settings_are_refused_before_any_mail() {
    for &value in HOSTILE {
        let header_breaking = value.contains(['\r', '\n', ',', '<', '>', '"', '\0']);
        let base = || {
            IntelecomMail::builder()
                .service_id(1234)
                .from("crm@example.com")
                .smtp("127.0.0.1", SmtpSecurity::DangerousPlaintext)
        };
        for (what, b) in [
            ("from", base().from(value)),
            ("domain", base().domain(value)),
            ("subject", base().subject(value)),
        ] {
            if let Err(e) = b.build() {
                assert_eq!(e.kind(), SmsErrorKind::InvalidConfig, "{what} {value:?}");
            } else {
                let breaks_a_header = value.contains(['\r', '\n']);
                let breaks_an_address = header_breaking && what != "subject";
                assert!(
                    !breaks_a_header && !breaks_an_address,
                    "{what} {value:?} was accepted"
                );
            }
        }
    }
}
