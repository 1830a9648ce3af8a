//! Intelecom delivery reports and incoming SMS, from the documented
//! example payloads and hostile variations.
#![cfg(feature = "intelecom")]

use crm_comms::intelecom::callback::dr_state;
use crm_comms::sms::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage};
use crm_comms::testing::wire::intelecom::PushBody::{Json, Query, Xml};
use crm_comms::testing::wire::intelecom::{PushedEntry, read};

/// The one entry of a GET template's query.
fn from_query<T: PushedEntry>(query: &str) -> Result<T, CallbackError> {
    read::<T>(Query, query.as_bytes())?.remove(0)
}

const DR_JSON: &[u8] = include_bytes!("../fixtures/intelecom/dr_push.json");
const DR_XML: &[u8] = include_bytes!("../fixtures/intelecom/dr_push.xml");
const MO_JSON: &[u8] = include_bytes!("../fixtures/intelecom/mo_push.json");
const MO_XML: &[u8] = include_bytes!("../fixtures/intelecom/mo_push.xml");

#[test]
fn documented_dr_pushes_json_and_xml_agree() {
    for body in [DR_JSON, DR_XML] {
        let drs: Vec<_> = read::<DeliveryReceipt>(Json, body)
            .or_else(|_| read::<DeliveryReceipt>(Xml, body))
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(drs.len(), 2);
        assert_eq!(drs[0].reference, "6y034000cy00");
        assert_eq!(drs[0].client_reference.as_deref(), Some("MyRef123"));
        assert_eq!(drs[0].batch_reference.as_deref(), Some("MyBatch001"));
        assert_eq!(drs[0].state, DeliveryState::Delivered);
        assert_eq!(drs[0].status_code, "0");
        assert_eq!(drs[0].operator_status.as_deref(), Some("0 Delivered"));
        assert_eq!(drs[1].reference, "6y034000dy00");
    }
}

#[test]
fn documented_mo_pushes_json_and_xml() {
    let mos: Vec<_> = read::<IncomingMessage>(Json, MO_JSON)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(mos.len(), 2);
    let m = &mos[0];
    assert_eq!(m.id, "7a02c0000f00");
    assert_eq!(m.from.unwrap().e164(), "+4799999999");
    assert_eq!(m.to.as_deref(), Some("1960"));
    assert_eq!(m.text, "Kodeord Testmelding 1");
    assert_eq!(m.keyword.as_deref(), Some("Kodeord"));
    assert_eq!(m.stripped_text.as_deref(), Some("Testmelding 1"));
    assert_eq!(m.session_id.as_deref(), Some("1234567890"));
    assert_eq!(m.network.as_deref(), Some("242:1"));
    assert_eq!(m.received_at.as_deref(), Some("20140206 11:45:33"));
    let xml: Vec<_> = read::<IncomingMessage>(Xml, MO_XML)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(xml.len(), 2);
    assert_eq!(xml[0].id, "7a02c0000f00");
    assert_eq!(xml[0].keyword.as_deref(), Some("Kodeord"));
}

#[test]
fn one_bad_entry_does_not_lose_the_others() {
    let body = br#"{"dr":[
        {"messageid":"a","statuscode":0},
        {"statuscode":0},
        {"messageid":"c","statuscode":"x"},
        7,
        {"messageid":"e","statuscode":"361"}]}"#;
    let r = read::<DeliveryReceipt>(Json, body).unwrap();
    assert_eq!(r.len(), 5);
    assert!(r[0].is_ok());
    assert_eq!(
        r[1].as_ref().unwrap_err().to_string(),
        "entry 1: messageid: is missing"
    );
    assert_eq!(
        r[2].as_ref().unwrap_err().to_string(),
        "entry 2: statuscode: \"x\" is not a number"
    );
    assert!(r[3].is_err());
    assert_eq!(r[4].as_ref().unwrap().state, DeliveryState::Expired);

    let xml = b"<dr><message><messageid>a</messageid><statuscode>0</statuscode></message>\
        <message><statuscode>0</statuscode></message>\
        <message><messageid>&lt;c&amp;&gt;</messageid><statuscode>351</statuscode></message></dr>";
    let r = read::<DeliveryReceipt>(Xml, xml).unwrap();
    assert_eq!(r.len(), 3);
    assert!(r[1].is_err());
    let c = r[2].as_ref().unwrap();
    assert_eq!(c.reference, "<c&>");
    assert_eq!(c.state, DeliveryState::Failed { permanent: true });
}

#[test]
fn malformed_bodies_are_errors_naming_the_problem() {
    for (body, reason) in [
        (&b"not json"[..], "is not JSON"),
        (b"{\"mo\":[]}", "has no \"dr\" list"),
        (b"[]", "has no \"dr\" list"),
    ] {
        let e = read::<DeliveryReceipt>(Json, body).unwrap_err();
        assert!(e.to_string().contains(reason), "{e}");
    }
    for (body, reason) in [
        (&b"<dr><message>"[..], "XML"),
        (b"<mo></mo>", "root element is <mo>"),
        (b"", "has no <dr> element"),
        (
            b"<dr><message><messageid>&xxe;</messageid></message></dr>",
            "entity",
        ),
    ] {
        let r = read::<DeliveryReceipt>(Xml, body);
        let text = match r {
            Err(e) => e.to_string(),
            Ok(v) => v
                .into_iter()
                .filter_map(Result::err)
                .map(|e| e.to_string())
                .collect(),
        };
        assert!(
            text.contains(reason),
            "{:?}: {text}",
            String::from_utf8_lossy(body)
        );
    }
    // A DOCTYPE with an external entity is not fetched or expanded.
    let xxe = b"<?xml version=\"1.0\"?><!DOCTYPE dr [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><dr><message><messageid>&x;</messageid><statuscode>0</statuscode></message></dr>";
    let r = read::<DeliveryReceipt>(Xml, xxe).unwrap();
    assert!(r[0].is_err());
}

#[test]
fn get_templates() {
    let dr = from_query::<DeliveryReceipt>("messageid=6y034000cy00&statuscode=0&statusdescription=OK.+Message+processed&extstatuscode=0&extstatusdescription=Delivered&customerMessageReference=MyRef123&customerBatchReference=MyBatch001&serviceid=123").unwrap();
    assert_eq!(dr.client_reference.as_deref(), Some("MyRef123"));
    assert_eq!(dr.description.as_deref(), Some("OK. Message processed"));
    assert_eq!(dr.state, DeliveryState::Delivered);
    let mo = from_query::<IncomingMessage>("?messageid=1&sno=1960&command=Kodeord&content=Kodeord%20Dette%20er%20en%20melding%20med%20%C3%A6%C3%B8%C3%A5&originator=%2B4799999999&mcc=242&mnc=1").unwrap();
    assert_eq!(mo.text, "Kodeord Dette er en melding med æøå");
    assert_eq!(mo.from.unwrap().e164(), "+4799999999");
    assert_eq!(
        from_query::<IncomingMessage>("messageid=1")
            .unwrap_err()
            .to_string(),
        "entry 0: originator: is missing"
    );
}

#[test]
fn every_documented_dr_code_is_mapped() {
    assert_eq!(dr_state(0), DeliveryState::Delivered);
    assert_eq!(dr_state(390), DeliveryState::Delivered);
    for code in [350, 351, 357, 358, 359, 654, 655] {
        assert_eq!(
            dr_state(code),
            DeliveryState::Failed { permanent: true },
            "{code}"
        );
    }
    for code in [
        354, 355, 356, 360, 363, 364, 368, 369, 370, 371, 380, 385, 386, 650, 651, 652, 653,
    ] {
        assert_eq!(
            dr_state(code),
            DeliveryState::Failed { permanent: false },
            "{code}"
        );
    }
    for code in [361, 362] {
        assert_eq!(dr_state(code), DeliveryState::Expired);
    }
    assert_eq!(dr_state(4242), DeliveryState::Unknown);
}

#[test]
fn json_entries_of_the_wrong_shape_are_errors_in_their_place() {
    let body = br#"{"x":{"a":[1]},"mo":[5,
        {"messageid":"m","originator":"+4741000001","content":"hi","extra":{"a":1}},
        {"messageid":7,"originator":"+4741000001","content":"ok","mcc":242,"mnc":1,
         "flag":true,"gone":null,"Rate":2.5}],"y":"ignored"}"#;
    let r = read::<IncomingMessage>(Json, body).unwrap();
    assert_eq!(r.len(), 3);
    let e0 = r[0].as_ref().unwrap_err();
    assert_eq!((e0.entry, e0.field.as_str()), (Some(0), "entry"));
    let e1 = r[1].as_ref().unwrap_err();
    assert_eq!((e1.entry, e1.field.as_str()), (Some(1), "extra"));
    let m = r[2].as_ref().unwrap();
    assert_eq!(m.id, "7");
    assert_eq!(m.network.as_deref(), Some("242:1"));
    assert_eq!(
        m.extras,
        [
            ("flag".to_owned(), "true".to_owned()),
            ("rate".to_owned(), "2.5".to_owned())
        ]
    );
    for (body, reason) in [
        (&br#"{"mo":{"a":1}}"#[..], "has no \"mo\" list"),
        (br#"{"mo":[] } x"#, "is not JSON"),
        (br#"{"mo":[{"messageid":"a""#, "is not JSON"),
        (br#""mo""#, "has no \"mo\" list"),
    ] {
        let e = read::<IncomingMessage>(Json, body).unwrap_err();
        assert!(e.to_string().contains(reason), "{e}");
    }
}

/// Issue 19, item 7: an entry with 75,000 fields (1 MiB) is one failed
/// entry, read in linear time; the others are kept.
#[test]
fn an_entry_with_too_many_fields_fails_alone() {
    let mut body =
        String::from(r#"{"mo":[{"messageid":"m1","originator":"+4741000001","content":"Hei""#);
    for i in 0..75_000 {
        body.push_str(&format!(r#","field{i:05}":"v""#));
    }
    body.push_str(r#"},{"messageid":"m2","originator":"+4741000002","content":"Ja"}]}"#);
    assert!(body.len() > 1_000_000);
    let mos = read::<IncomingMessage>(Json, body.as_bytes()).unwrap();
    assert_eq!(mos.len(), 2);
    let e = mos[0].as_ref().unwrap_err();
    assert!(e.reason.contains("more than 64 fields"), "{e}");
    let raw = e.raw.as_deref().unwrap();
    assert!(raw.starts_with(r#"{"messageid":"m1""#), "{raw:.80}");
    assert_eq!(raw.len(), crm_comms::sms::MAX_RAW_ENTRY);
    assert_eq!(mos[1].as_ref().unwrap().id, "m2");
}

/// Issue 19, item 9: an unreadable entry keeps its raw text; a document
/// declared ISO-8859-1 is decoded as such.
#[test]
fn malformed_entries_keep_their_text_and_declared_encodings_are_decoded() {
    let drs = read::<DeliveryReceipt>(
        Json,
        br#"{"dr":[{"messageid":"a","statuscode":1.5e3}, {"messageid":"b","statuscode":0}]}"#,
    )
    .unwrap();
    let e = drs[0].as_ref().unwrap_err();
    assert_eq!(e.field, "statuscode", "{e}");
    assert_eq!(
        e.raw.as_deref(),
        Some(r#"{"messageid":"a","statuscode":1.5e3}"#)
    );
    assert!(
        !e.to_string().contains("messageid"),
        "no content in Display: {e}"
    );
    assert!(drs[1].is_ok());

    let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><mo><message><messageid>x1</messageid><originator>+4741000001</originator><content>P\xe5 tide</content></message><message><messageid>x2</messageid><content>&nope;</content></message></mo>".to_vec();
    let mos = read::<IncomingMessage>(Xml, &xml).unwrap();
    assert_eq!(mos[0].as_ref().unwrap().text, "På tide");
    let e = mos[1].as_ref().unwrap_err();
    assert!(
        e.raw
            .as_deref()
            .unwrap()
            .starts_with("<message><messageid>x2"),
        "{e:?}"
    );
    // Undeclared means UTF-8, as XML says: a Latin-1 byte is refused.
    xml.drain(..44);
    assert!(read::<IncomingMessage>(Xml, &xml).is_err());
}

#[test]
fn a_repeated_field_keeps_its_first_value_in_both_gateways() {
    // One rule for both parsers (`sms::push::Fields`): names compared
    // case-insensitively, the first value wins.
    let body = br#"{"dr":[{"messageId":"first","MESSAGEID":"second","statusCode":0}]}"#;
    let dr = read::<DeliveryReceipt>(Json, body)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(dr.reference, "first");
    let dr =
        from_query::<DeliveryReceipt>("messageid=first&statuscode=0&MessageId=second").unwrap();
    assert_eq!(dr.reference, "first");
    let form = b"RCV=4799999999&REF=first&STATE=DELIVRD&ref=second";
    let dr = crm_comms::testing::wire::pswincom::parse_dr_form(form, None).unwrap();
    assert_eq!(dr.reference, "first");
}
