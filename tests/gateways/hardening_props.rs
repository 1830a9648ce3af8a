//! Properties that must hold for any input: `PSWin` XML bodies read back to
//! the messages they carry, and every send report has exactly one outcome
//! per recipient whatever the gateway answers.
#![cfg(all(feature = "intelecom", feature = "pswincom", feature = "testing"))]

use std::time::SystemTime;

use crm_comms::phone::PhoneNumber;
use crm_comms::sms::{Message, Outcome, Secret, Sender};
use crm_comms::testing::wire::pswincom::{self as pw, WireText};
use proptest::prelude::*;
use quick_xml::events::Event;

/// Texts with the characters that matter: XML specials, Latin-1, GSM
/// extension characters, non-Latin-1, emoji, controls, CR/LF.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('<'),
            Just('&'),
            Just('>'),
            Just('"'),
            Just('\''),
            Just('\r'),
            Just('\n'),
            Just('ø'),
            Just('€'),
            Just('Ж'),
            Just('😀'),
            Just(']'),
            "[a-zA-Z0-9 ]".prop_map(|s| s.chars().next().unwrap()),
            any::<char>(),
        ],
        1..200,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn numbers() -> impl Strategy<Value = Vec<PhoneNumber>> {
    prop::collection::vec("[49][0-9]{7}", 1..5).prop_map(|v| {
        v.into_iter()
            .map(|d| format!("+47{d}").parse().unwrap())
            .collect()
    })
}

/// The `MSG`s of a request body as (ID, TEXT, OP, SND, RCV), read with a
/// plain XML reader after decoding the declared encoding.
fn read_request(body: &[u8]) -> (String, String, Vec<[String; 5]>) {
    let doc = pw::decode_document(body).expect("decodes");
    let mut r = quick_xml::Reader::from_str(&doc);
    let mut path: Vec<String> = Vec::new();
    let (mut client, mut pwd) = (String::new(), String::new());
    let mut msgs: Vec<[String; 5]> = Vec::new();
    loop {
        match r.read_event().expect("well-formed XML") {
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
                let v = t.unescape().expect("valid escapes").into_owned();
                let at = match path.last().map(String::as_str) {
                    Some("CLIENT") => {
                        client.push_str(&v);
                        continue;
                    }
                    Some("PW") => {
                        pwd.push_str(&v);
                        continue;
                    }
                    Some("ID") => 0,
                    Some("TEXT") => 1,
                    Some("OP") => 2,
                    Some("SND") => 3,
                    Some("RCV") => 4,
                    _ => continue,
                };
                msgs.last_mut().unwrap()[at].push_str(&v);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (client, pwd, msgs)
}

fn from_hex(hex: &str) -> String {
    let units: Vec<u16> = (0..hex.len())
        .step_by(4)
        .map(|i| u16::from_str_radix(&hex[i..i + 4], 16).unwrap())
        .collect();
    String::from_utf16(&units).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn pswin_request_bodies_read_back_to_the_same_messages(
        t in text(),
        to in numbers(),
        user in "[a-zA-Z0-9<&>\"' ]{1,12}",
        password in any::<String>().prop_filter("not empty", |p| !p.is_empty()),
        sender in prop::option::of("[A-Za-z0-9 ]{1,11}"),
    ) {
        let mut b = Message::builder().to_all(to.clone()).text(&t);
        if let Some(Ok(s)) = sender.as_deref().map(Sender::parse) {
            b = b.sender(s);
        }
        let Ok(message) = b.build() else { return Ok(()) };
        let Ok(sent) = pw::wire_messages(&message, &crm_comms::pswincom::LIMITS, SystemTime::now()) else {
            return Ok(());
        };
        let body = pw::to_latin1(&pw::request_xml(&user, &Secret::new(password.clone()), &sent));
        prop_assert!(body.starts_with(b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>"));
        let (client, pwd, msgs) = read_request(&body);
        prop_assert_eq!(client, user);
        // XML cannot carry every character; what it can must come back.
        if password.chars().all(|c| matches!(c, '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)) {
            prop_assert_eq!(pwd.replace("\r\n", "\n"), password.replace("\r\n", "\n"));
        }
        prop_assert_eq!(msgs.len(), to.len());
        for (i, (m, n)) in msgs.iter().zip(&to).enumerate() {
            prop_assert_eq!(&m[0], &(i + 1).to_string());
            prop_assert_eq!(&m[4], n.digits());
            let text_back = if m[2] == "9" { from_hex(&m[1]) } else { m[1].clone() };
            prop_assert_eq!(&text_back, &t, "OP {:?}", m[2]);
            match &sent[i].text {
                WireText::Plain(_) => prop_assert_eq!(m[2].as_str(), ""),
                WireText::UnicodeHex(_) => prop_assert_eq!(m[2].as_str(), "9"),
            }
            prop_assert_eq!(m[3].as_str(), sent[i].sender.as_deref().unwrap_or(""));
        }
    }

    #[test]
    fn any_pswin_answer_gives_one_outcome_per_recipient(
        to in numbers(),
        body in prop_oneof![
            any::<Vec<u8>>(),
            // Structured answers with random IDs and statuses.
            (prop::collection::vec(("[0-9]{1,2}", prop_oneof![Just("OK"), Just("FAIL"), Just("")]), 0..8),
             prop_oneof![Just("OK"), Just("FAIL"), Just("MAYBE")])
                .prop_map(|(msgs, logon)| {
                    let m: String = msgs.iter().map(|(id, st)| format!(
                        "<MSG><ID>{id}</ID><STATUS>{st}</STATUS><INFO>x</INFO><REF>R{id}</REF></MSG>"
                    )).collect();
                    format!("<SESSION><LOGON>{logon}</LOGON><REASON/><MSGLST>{m}</MSGLST></SESSION>").into_bytes()
                }),
        ],
    ) {
        let message = Message::builder().to_all(to.clone()).text("Hei").build().unwrap();
        let sent = pw::wire_messages(&message, &crm_comms::pswincom::LIMITS, SystemTime::now()).unwrap();
        let outcomes = pw::outcomes(&body, &sent);
        prop_assert_eq!(outcomes.len(), to.len());
        // Only an explicit OK for that ID is ever "accepted".
        let text = String::from_utf8_lossy(&body);
        for (i, o) in outcomes.iter().enumerate() {
            if o.is_accepted() {
                let id = format!("<ID>{}</ID><STATUS>OK</STATUS>", i + 1);
                prop_assert!(text.contains(&id), "accepted without an OK for ID {}", i + 1);
            }
        }
    }

    #[test]
    fn any_intelecom_answer_gives_one_outcome_per_recipient(
        to in numbers(),
        body in prop_oneof![
            any::<Vec<u8>>(),
            (prop::collection::vec((0i64..8, prop_oneof![Just(1i64), Just(2), Just(5), Just(99)]), 0..8))
                .prop_map(|st| {
                    let s: Vec<String> = st.iter().map(|(seq, code)| format!(
                        r#"{{"sequenceIndex":{seq},"statusCode":{code},"messageId":"m{seq}"}}"#
                    )).collect();
                    format!(r#"{{"messageStatus":[{}]}}"#, s.join(",")).into_bytes()
                }),
        ],
    ) {
        use crm_comms::testing::wire::intelecom as iw;
        let message = Message::builder().to_all(to.clone()).text("Hei").build().unwrap();
        let sent = iw::wire_messages(&message);
        let outcomes = iw::outcomes(&body, &sent);
        prop_assert_eq!(outcomes.len(), to.len());
        for o in &outcomes {
            if let Outcome::Accepted { reference } = o {
                prop_assert!(reference.is_some(), "the web service always gives a reference");
            }
        }
    }
}
