//! `PSWinCom`'s wire format: the request as the gateway documents it (and
//! nothing a user typed can break out of its element), the response mapped
//! by ID, and the callbacks and acknowledgements.
#![cfg(all(feature = "pswincom", feature = "testing"))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crm_comms::pswincom::callback::dr_state;
use crm_comms::sms::{DeliveryState, Message, Outcome, Secret, Sender, SmsErrorKind};
use crm_comms::testing::wire::pswincom::{
    self as wire, WireText, delivery_time, from_latin1, outcomes, parse_response, request_xml,
    to_latin1, wire_messages, wire_text,
};
use crm_comms::testing::wire::pswincom::{
    ack_xml, normalize_delivery_time, parse_dr_form, parse_dr_xml, parse_mo_form, parse_mo_xml,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/pswincom/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn message(text: &str) -> Message {
    Message::builder()
        .to("+4799999999".parse().unwrap())
        .to("+4741000000".parse().unwrap())
        .text(text)
        .build()
        .unwrap()
}

/// The elements of each MSG, in order, read back with an XML parser.
fn msgs(xml: &str) -> Vec<Vec<(String, String)>> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let (mut out, mut path) = (Vec::new(), Vec::<String>::new());
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                let n = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if n == "MSG" {
                    out.push(Vec::new());
                }
                path.push(n);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) if path.len() == 4 => {
                let v = t.unescape().unwrap().into_owned();
                out.last_mut().unwrap().push((path[3].clone(), v));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn the_request_is_the_documented_session() {
    let m = Message::builder()
        .to("+4799999999".parse().unwrap())
        .text("Hei på deg")
        .sender(Sender::parse("MyCompany").unwrap())
        .delivery_report(true)
        .validity(Duration::from_secs(3630))
        .build()
        .unwrap();
    let sent = wire_messages(&m, &crm_comms::pswincom::LIMITS, SystemTime::now()).unwrap();
    let xml = request_xml("user", &Secret::new("pass"), &sent);
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><SESSION><CLIENT>user</CLIENT><PW>pass</PW>\
         <MSGLST><MSG><ID>1</ID><TEXT>Hei på deg</TEXT><RCPREQ>Y</RCPREQ><SND>MyCompany</SND>\
         <RCV>4799999999</RCV><TTL>61</TTL></MSG></MSGLST></SESSION>"
    );
    let bytes = to_latin1(&xml);
    assert!(
        bytes.windows(3).any(|w| w == b"p\xe5 "),
        "å is one Latin-1 byte"
    );
    assert_eq!(from_latin1(&bytes), xml);
    assert_eq!(wire::CONTENT_TYPE, "text/xml; charset=iso-8859-1");
}

#[test]
fn ids_count_from_one_and_receivers_have_no_plus() {
    let sent = wire_messages(
        &message("x"),
        &crm_comms::pswincom::LIMITS,
        SystemTime::now(),
    )
    .unwrap();
    let got: Vec<_> = sent.iter().map(|m| (m.id, m.receiver.as_str())).collect();
    assert_eq!(got, [(1, "4799999999"), (2, "4741000000")]);
    let sender = Message::builder()
        .to("+4799999999".parse().unwrap())
        .text("x")
        .sender(Sender::parse("+4791234567").unwrap())
        .build()
        .unwrap();
    let sent = wire_messages(&sender, &crm_comms::pswincom::LIMITS, SystemTime::now()).unwrap();
    assert_eq!(sent[0].sender.as_deref(), Some("4791234567"));
}

#[test]
fn texts_go_plain_only_when_latin1_and_gsm() {
    let cases = [
        ("Hei på deg ÆØÅ", None),
        (
            "Price: 10 €",
            Some("00500072006900630065003a002000310030002020ac"),
        ),
        ("מה", Some("05de05d4")),
        ("😀", Some("d83dde00")),
        ("ΔΦ", Some("039403a6")), // GSM-7 but not Latin-1
        (
            "page\u{c}break",
            Some("0070006100670065000c0062007200650061006b"),
        ),
        ("Ü and ü", None),
        ("ó", Some("00f3")), // Latin-1 but not GSM-7
    ];
    for (text, hex) in cases {
        match (wire_text(text), hex) {
            (WireText::Plain(t), None) => assert_eq!(t, text),
            (WireText::UnicodeHex(h), Some(expected)) => assert_eq!(h, expected, "{text:?}"),
            (got, _) => panic!("{text:?}: {got:?}"),
        }
    }
    // OP 9 follows TEXT in the MSG.
    let sent = wire_messages(
        &message("😀"),
        &crm_comms::pswincom::LIMITS,
        SystemTime::now(),
    )
    .unwrap();
    let xml = request_xml("u", &Secret::new("p"), &sent);
    let fields = &msgs(&xml)[0];
    let names: Vec<_> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["ID", "TEXT", "OP", "RCV"]);
    assert_eq!(fields[2].1, "9");
}

#[test]
fn nothing_typed_breaks_out_of_its_element() {
    let hostile = "</TEXT><RCV>4700000000</RCV><TEXT>&amp; <!-- ]]> \r\n end";
    let m = Message::builder()
        .to("+4799999999".parse().unwrap())
        .text(hostile)
        .build()
        .unwrap();
    let sent = wire_messages(&m, &crm_comms::pswincom::LIMITS, SystemTime::now()).unwrap();
    let xml = request_xml("us</CLIENT>er", &Secret::new("p<w>&\"€"), &sent);
    let parsed = msgs(&xml);
    assert_eq!(parsed.len(), 1);
    assert_eq!(
        parsed[0],
        vec![
            ("ID".to_owned(), "1".to_owned()),
            ("TEXT".to_owned(), hostile.to_owned()),
            ("RCV".to_owned(), "4799999999".to_owned()),
        ],
        "the text (with its CR) comes back exactly, as text"
    );
    assert!(xml.contains("&#13;"), "CR survives XML line-end handling");
    let bytes = to_latin1(&xml);
    assert!(
        String::from_utf8_lossy(&bytes).contains("&#8364;"),
        "€ in the password is a character reference in the Latin-1 body"
    );
}

#[test]
fn lengths_are_checked_as_sent() {
    let limits = crm_comms::pswincom::LIMITS;
    assert!(wire_messages(&message(&"a".repeat(2144)), &limits, SystemTime::now()).is_ok());
    let e = wire_messages(&message(&"a".repeat(2145)), &limits, SystemTime::now()).unwrap_err();
    assert_eq!(e.kind(), SmsErrorKind::TextTooLong);
    // € is GSM-7 but goes as Unicode, where the budget is smaller.
    let e = wire_messages(&message(&"€".repeat(1100)), &limits, SystemTime::now()).unwrap_err();
    assert_eq!(e.kind(), SmsErrorKind::TextTooLong, "{e}");
}

#[test]
fn delivery_time_is_norwegian_local_time_within_7_days() {
    // 2026-01-15 10:00:30 UTC → 11:01 CET (rounded up to the minute).
    let now = at(1_768_400_000);
    let winter = at(1_768_471_230);
    assert_eq!(
        delivery_time(winter, now).unwrap().as_deref(),
        Some("202601151101")
    );
    // 2026-07-01 10:00:00 UTC → 12:00 CEST (from 2026-06-30).
    let now = at(1_782_800_000);
    let summer = at(1_782_900_000);
    assert_eq!(
        delivery_time(summer, now).unwrap().as_deref(),
        Some("202607011200")
    );
    assert_eq!(delivery_time(now, summer).unwrap(), None, "the past: now");
    let e = delivery_time(at(1_782_800_000 + 8 * 86_400), now).unwrap_err();
    assert!(delivery_time(at(1_782_800_000 + 7 * 86_400 - 60), now).is_ok());
    assert_eq!(e.kind(), SmsErrorKind::NotSupported);
    assert_eq!(wire::ttl_minutes(Duration::from_secs(1)), 1);
    assert_eq!(wire::ttl_minutes(Duration::from_secs(3600)), 60);
}

/// Across both 2026 transitions (01:00 UTC on 29 March and 25 October):
/// the minute before and the minute of each, on the Oslo wall clock.
#[test]
fn delivery_time_follows_oslo_across_dst_transitions() {
    let spring = 1_774_746_000; // 2026-03-29T01:00:00Z
    let autumn = 1_792_890_000; // 2026-10-25T01:00:00Z
    for (utc, local) in [
        (spring - 60, "202603290159"), // CET, the last minute before
        (spring, "202603290300"),      // CEST: 02:00–02:59 never happen
        (spring + 1, "202603290301"),  // rounded up to the minute
        (autumn - 60, "202610250259"), // CEST, the first 02:59
        (autumn, "202610250200"),      // CET: 02:00–02:59 again
        (autumn + 3600, "202610250300"),
    ] {
        let now = at(utc - 86_400);
        assert_eq!(
            delivery_time(at(utc), now).unwrap().as_deref(),
            Some(local),
            "{utc}"
        );
    }
}

#[test]
fn responses_are_matched_by_id() {
    let sent = wire_messages(
        &Message::builder()
            .to_all(["+4799999991", "+4799999992", "+4799999993"].map(|n| n.parse().unwrap()))
            .text("x")
            .build()
            .unwrap(),
        &crm_comms::pswincom::LIMITS,
        SystemTime::now(),
    )
    .unwrap();
    // IDs 2, 1, 3: OK, FAIL, INVALID_STATUS (counts as FAIL).
    let o = outcomes(&fixture("response_mixed_status.xml"), &sent);
    assert!(matches!(&o[0], Outcome::Rejected(e) if e.kind() == SmsErrorKind::Rejected));
    assert_eq!(o[1], Outcome::Accepted { reference: None });
    assert!(matches!(&o[2], Outcome::Rejected(_)));

    let o = outcomes(&fixture("response_logon_fail.xml"), &sent);
    for x in &o {
        let e = x.error().unwrap();
        assert!(e.is_auth() && e.message().contains("Username or password is incorrect"));
    }
    // An empty answer to messages: unknown for each.
    let o = outcomes(&fixture("response_logon_ok_empty.xml"), &sent);
    assert!(o.iter().all(|x| matches!(x, Outcome::Unknown(_))));
    assert!(
        parse_response(&fixture("response_logon_ok_empty.xml"))
            .unwrap()
            .messages
            .is_empty()
    );

    let answer = |msgs: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><SESSION><LOGON>OK</LOGON><REASON/><MSGLST>{msgs}</MSGLST></SESSION>"
        )
    };
    let ok = |id: u32, r: &str| {
        format!("<MSG><ID>{id}</ID><REF>{r}</REF><STATUS>OK</STATUS><INFO/></MSG>")
    };
    let body = answer(&format!(
        "{}{}<MSG><ID>2</ID><STATUS>FAIL</STATUS><INFO>Invalid receiver</INFO></MSG>",
        ok(3, "C"),
        ok(1, "A")
    ));
    let o = outcomes(body.as_bytes(), &sent);
    assert_eq!(
        o[0],
        Outcome::Accepted {
            reference: Some("A".into())
        }
    );
    assert!(matches!(&o[1], Outcome::Rejected(e) if e.kind() == SmsErrorKind::InvalidRecipient));
    assert_eq!(
        o[2],
        Outcome::Accepted {
            reference: Some("C".into())
        }
    );

    // Missing and contradicting answers are unknown; the rest stand.
    let body = answer(&format!(
        "{}{}<MSG><ID>3</ID><STATUS>FAIL</STATUS><INFO/></MSG>",
        ok(3, "C"),
        ok(1, "A")
    ));
    let o = outcomes(body.as_bytes(), &sent);
    assert!(o[0].is_accepted());
    assert!(matches!(&o[1], Outcome::Unknown(_)), "ID 2 missing");
    assert!(matches!(&o[2], Outcome::Unknown(_)), "ID 3 answered twice");

    for junk in [
        &b"<html><body>502 Bad Gateway</body></html>"[..],
        b"",
        b"<SESSION><LOGON>OK</LOGON><MSGLST><MSG><ID>1</I",
        b"{\"not\":\"xml\"}",
        b"<SESSION><LOGON>MAYBE</LOGON></SESSION>",
    ] {
        let o = outcomes(junk, &sent);
        assert_eq!(o.len(), 3);
        assert!(
            o.iter()
                .all(|x| matches!(x, Outcome::Unknown(e) if e.kind() == SmsErrorKind::Protocol)),
            "{:?}",
            String::from_utf8_lossy(junk)
        );
    }
}

#[test]
fn delivery_reports_parse_in_both_forms() {
    let dr = parse_dr_form(&fixture("dr_form_delivered.txt"), None).unwrap();
    assert_eq!(dr.reference, "456");
    assert_eq!(dr.state, DeliveryState::Delivered);
    assert_eq!(dr.done_at.as_deref(), Some("2015-07-09 00:00:00"));
    let dr = parse_dr_form(&fixture("dr_form_undeliv.txt"), None).unwrap();
    assert_eq!(dr.state, DeliveryState::Failed { permanent: true });
    assert_eq!(dr.done_at, None);

    let xml = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\
        <MSGLST><MSG><ID>1</ID><REF>984342374</REF><RCV>4530123456</RCV><STATE>DELIVRD</STATE>\
        <DELIVERYTIME>2006.02.23 15:23:23</DELIVERYTIME></MSG>\
        <MSG><ID>2</ID><RCV>4530123456</RCV><STATE>EXPIRED</STATE></MSG>\
        <MSG><ID>3</ID><REF>x</REF><RCV>4530123456</RCV><STATE>SOMETHING_NEW</STATE></MSG></MSGLST>";
    let entries = parse_dr_xml(xml).unwrap();
    assert_eq!(entries.len(), 3);
    let first = entries[0].result.as_ref().unwrap();
    assert_eq!(first.reference, "984342374");
    assert_eq!(first.recipient.unwrap().e164(), "+4530123456");
    assert_eq!(first.done_at.as_deref(), Some("2006-02-23 15:23:23"));
    let e = entries[1].result.as_ref().unwrap_err();
    assert_eq!((e.entry, e.field.as_str()), (Some(1), "REF"), "{e}");
    assert_eq!(entries[1].id, "2", "a bad entry keeps its ID for the ack");
    let third = entries[2].result.as_ref().unwrap();
    assert_eq!(
        (third.state, third.status_code.as_str()),
        (DeliveryState::Unknown, "SOMETHING_NEW")
    );
}

#[test]
fn every_documented_state_is_mapped() {
    use DeliveryState::*;
    let cases = [
        ("DELIVRD", Delivered),
        ("EXPIRED", Expired),
        ("DELETED", Failed { permanent: false }),
        ("UNDELIV", Failed { permanent: true }),
        ("UNKNOWN", Unknown),
        ("REJECTD", Failed { permanent: true }),
        ("FAILED", Failed { permanent: false }),
        ("NULL", Unknown),
        ("ACCEPTD", Unknown),
        ("BARRED", Failed { permanent: true }),
        ("BARREDT", Failed { permanent: false }),
        ("BARREDC", Failed { permanent: true }),
        ("BARREDA", Failed { permanent: true }),
        ("BARREDP", Failed { permanent: true }),
        ("ZEROBAL", Failed { permanent: false }),
        ("ZERO_BAL", Failed { permanent: false }),
        ("INV_NET", Failed { permanent: true }),
        ("delivrd", Delivered),
        ("", Unknown),
    ];
    for (state, expected) in cases {
        assert_eq!(dr_state(state), expected, "{state}");
    }
    assert_eq!(
        normalize_delivery_time("202607011200"),
        "2026-07-01 12:00:00"
    );
    assert_eq!(
        normalize_delivery_time("2013.03.01 23:01:00"),
        "2013-03-01 23:01:00"
    );
    assert_eq!(normalize_delivery_time("yesterday"), "yesterday");
}

#[test]
fn incoming_sms_parse_from_latin1_forms_and_xml() {
    let mo = parse_mo_form(&fixture("mo_form_latin1.txt"), None).unwrap();
    assert_eq!(mo.text, "Hei på deg ØØØ");
    assert_eq!(mo.from.unwrap().e164(), "+4748043043");
    assert_eq!(mo.to.as_deref(), Some("4759443671"));
    assert_eq!(mo.network.as_deref(), Some("242:00"));
    let mo = parse_mo_form(&fixture("mo_form_cyrillic_qmarks.txt"), None).unwrap();
    assert_eq!(mo.text, "??????");
    let utf8 = parse_mo_form(b"ID=1&SND=4748043043&RCV=1960&TXT=p%C3%A5", Some("utf-8")).unwrap();
    assert_eq!(utf8.text, "på");
    let e = parse_mo_form(b"ID=1&RCV=1960&TXT=x", None).unwrap_err();
    assert_eq!(e.field, "SND");

    let entries = parse_mo_xml(&fixture("mo_latin1.xml")).unwrap();
    let mo = entries[0].result.as_ref().unwrap();
    assert_eq!(mo.text, "Hei på deg ØØØ");
    let entries = parse_mo_xml(&fixture("mo_receiver_test.xml")).unwrap();
    let mo = entries[0].result.as_ref().unwrap();
    assert_eq!(
        (mo.from_raw.as_str(), mo.to.as_deref(), mo.text.as_str()),
        ("12345678", Some("26112"), "Some message")
    );

    let extras = b"<MSGLST><MSG><ID>1</ID><TEXT>Hi</TEXT><SND>4799999999</SND><RCV>1960</RCV>\
        <NET>242:01</NET><ADDRESS>Ola;;Nordmann;Gate 1;0150;Oslo</ADDRESS>\
        <POSITION><STATUS>0</STATUS><INFO>OK</INFO><POS><LONGITUDE>10.7</LONGITUDE>\
        <LATITUDE>59.9</LATITUDE><RADIUS>500</RADIUS><COUNCIL>Oslo</COUNCIL>\
        <COUNCILNUMBER>0301</COUNCILNUMBER><PLACE>Sentrum</PLACE></POS></POSITION>\
        <METADATA><DATA KEY=\"TIMESTAMP\" VALUE=\"2026-11-24 12:00:00\"/>\
        <DATA KEY=\"REFERENCE\" VALUE=\"abc-123\"/></METADATA></MSG></MSGLST>";
    let mo = parse_mo_xml(extras).unwrap().remove(0).result.unwrap();
    assert_eq!(
        mo.id, "abc-123",
        "the gateway's reference, not the push counter"
    );
    assert_eq!(mo.received_at.as_deref(), Some("2026-11-24 12:00:00"));
    assert!(
        mo.extras
            .contains(&("POSITION/POS/LATITUDE".into(), "59.9".into()))
    );
    assert!(
        mo.extras
            .contains(&("ADDRESS".into(), "Ola;;Nordmann;Gate 1;0150;Oslo".into()))
    );
}

#[test]
fn no_entity_is_ever_expanded_or_fetched() {
    let xxe = b"<?xml version=\"1.0\"?><!DOCTYPE MSGLST [<!ENTITY x SYSTEM \"file:///etc/passwd\">\
        <!ENTITY y \"expanded\">]><MSGLST><MSG><ID>1</ID><TEXT>&x;</TEXT><SND>4799999999</SND>\
        <RCV>1960</RCV></MSG><MSG><ID>2</ID><TEXT>&y;</TEXT><SND>4799999999</SND><RCV>1960</RCV></MSG>\
        <MSG><ID>3</ID><TEXT>fine</TEXT><SND>4799999999</SND><RCV>1960</RCV></MSG></MSGLST>";
    let entries = parse_mo_xml(xxe).unwrap();
    assert_eq!(entries.len(), 3);
    for e in &entries[..2] {
        let err = e.result.as_ref().unwrap_err();
        assert_eq!(err.field, "TEXT", "{err}");
    }
    assert_eq!(entries[2].result.as_ref().unwrap().text, "fine");
    for bad in [
        &b"not xml"[..],
        b"<OTHER/>",
        b"<MSGLST><MSG><ID>1</ID>",
        b"",
    ] {
        assert!(
            parse_dr_xml(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn acknowledgements_list_every_id() {
    let ack = ack_xml([("1", true), ("2", false), ("<3>", true)]);
    let text = from_latin1(&ack);
    assert_eq!(
        text,
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><MSGLST><MSG><ID>1</ID><STATUS>OK</STATUS></MSG>\
         <MSG><ID>2</ID><STATUS>FAIL</STATUS></MSG><MSG><ID>&lt;3&gt;</ID><STATUS>OK</STATUS></MSG></MSGLST>"
    );
    // The official receiver's acknowledgement has the same MSGLST shape.
    let official = from_latin1(&fixture("ack_ok.xml"));
    let ours = from_latin1(&ack_xml([("1", true)]));
    let body = |s: &str| s[s.find("<MSGLST>").unwrap()..].trim().to_owned();
    assert_eq!(body(&official), body(&ours));
}

/// Issue 19, items 7 and 10: nesting 50,000 deep or 75,000 fields fail
/// only their entry (read in linear time), and an entry with an unreadable
/// field is still acknowledged by its `ID`, with its raw text kept.
#[test]
fn hostile_entries_fail_alone_and_keep_their_id() {
    let good = "<MSG><ID>9</ID><REF>r9</REF><RCV>4741000009</RCV><STATE>DELIVRD</STATE></MSG>";
    let deep = format!(
        "<?xml version=\"1.0\"?><MSGLST><MSG><ID>1</ID><X>{}{}</X></MSG>{good}</MSGLST>",
        "<A>".repeat(50_000),
        "</A>".repeat(50_000)
    );
    let drs = parse_dr_xml(deep.as_bytes()).unwrap();
    assert_eq!(drs.len(), 2);
    assert_eq!(drs[0].id, "1");
    let e = drs[0].result.as_ref().unwrap_err();
    assert!(e.reason.contains("deeper than 8"), "{e}");
    assert_eq!(drs[1].id, "9");
    assert!(drs[1].result.is_ok());

    let many: String = (0..75_000).map(|i| format!("<F{i}>v</F{i}>")).collect();
    let wide = format!("<MSGLST><MSG><ID>3</ID>{many}</MSG>{good}</MSGLST>");
    assert!(wide.len() > 1_000_000);
    let drs = parse_dr_xml(wide.as_bytes()).unwrap();
    assert_eq!(drs[0].id, "3");
    assert!(
        drs[0]
            .result
            .as_ref()
            .unwrap_err()
            .reason
            .contains("64-field limit")
    );
    assert!(drs[1].result.is_ok());

    let bad = "<MSGLST><MSG><TEXT>&bogus;</TEXT><ID>2</ID><SND>4741000001</SND></MSG></MSGLST>";
    let mos = parse_mo_xml(bad.as_bytes()).unwrap();
    assert_eq!(mos[0].id, "2", "acknowledged by its ID");
    let e = mos[0].result.as_ref().unwrap_err();
    assert_eq!(e.field, "TEXT");
    assert_eq!(
        e.raw.as_deref(),
        Some("<MSG><TEXT>&bogus;</TEXT><ID>2</ID><SND>4741000001</SND></MSG>")
    );
}
