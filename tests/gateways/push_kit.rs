//! The push-format kit on both gateways' formats (passing), and on broken
//! variants of them, each caught on the rule it breaks.
#![cfg(all(feature = "intelecom", feature = "pswincom", feature = "testing"))]

use crm_comms::intelecom::callback::IntelecomPushes;
use crm_comms::pswincom::callback::PswincomPushes;
use crm_comms::sms::CallbackError;
use crm_comms::sms::push::{
    EntryFate, PushAnswer, PushEntry, PushFormat, PushKind, PushRequest, Pushed,
};
use crm_comms::testing::pswincom_emulator;
use crm_comms::testing::push_kit::{AckReading, PushKit, PushSample};
use crm_comms::testing::suite::SuiteReport;

const DR_JSON: &[u8] = include_bytes!("../fixtures/intelecom/dr_push.json");
const DR_XML: &[u8] = include_bytes!("../fixtures/intelecom/dr_push.xml");
const MO_JSON: &[u8] = include_bytes!("../fixtures/intelecom/mo_push.json");
const MO_XML: &[u8] = include_bytes!("../fixtures/intelecom/mo_push.xml");
const PSW_MO_XML: &[u8] = include_bytes!("../fixtures/pswincom/mo_latin1.xml");
const PSW_MO_FORM: &[u8] = include_bytes!("../fixtures/pswincom/mo_form_latin1.txt");
const PSW_DR_FORM: &[u8] = include_bytes!("../fixtures/pswincom/dr_form_delivered.txt");
const FORM: &str = "application/x-www-form-urlencoded; charset=iso-8859-1";

fn psw_dr_xml(second_ref: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<MSGLST>\
         <MSG><ID>1</ID><REF>4A4B0034DC</REF><RCV>4790000001</RCV><STATE>DELIVRD</STATE>\
         <DELIVERYTIME>2026/12/04 10:00:00</DELIVERYTIME></MSG>\
         <MSG><ID>2</ID>{second_ref}<RCV>4790000002</RCV><STATE>UNDELIV</STATE></MSG>\
         </MSGLST>"
    )
    .into_bytes()
}

fn intelecom_kit() -> PushKit {
    let bad = br#"{"dr":[{"messageid":"6y034000cy00","statuscode":0},{"statuscode":0}]}"#;
    PushKit::new()
        .example(PushSample::post(
            PushKind::Delivery,
            "application/json",
            DR_JSON,
        ))
        .example(PushSample::post(
            PushKind::Delivery,
            "application/xml",
            DR_XML,
        ))
        .example(PushSample::post(
            PushKind::Incoming,
            "application/json",
            MO_JSON,
        ))
        .example(PushSample::post(
            PushKind::Incoming,
            "application/xml",
            MO_XML,
        ))
        .bad_entry(
            PushSample::post(PushKind::Delivery, "application/json", bad.as_slice()),
            1,
        )
        .report_for_send(
            PushSample::post(PushKind::Delivery, "application/json", DR_JSON),
            "6y034000dy00",
        )
}

fn pswincom_kit() -> PushKit {
    PushKit::new()
        .example(PushSample::post(
            PushKind::Incoming,
            "application/xml",
            PSW_MO_XML,
        ))
        .example(PushSample::post(PushKind::Incoming, FORM, PSW_MO_FORM))
        .example(PushSample::post(PushKind::Delivery, FORM, PSW_DR_FORM))
        .example(PushSample::post(
            PushKind::Delivery,
            "application/xml",
            psw_dr_xml("<REF>4A4B0034DD</REF>"),
        ))
        .bad_entry(
            PushSample::post(PushKind::Delivery, "application/xml", psw_dr_xml("")),
            1,
        )
        .report_for_send(
            PushSample::post(PushKind::Delivery, FORM, PSW_DR_FORM),
            "456",
        )
        .acks_read_as(pswincom_emulator::ack_reading())
}

#[tokio::test]
async fn both_gateways_push_formats_pass() {
    let r = intelecom_kit().check(&IntelecomPushes).await;
    r.assert_passes();
    assert!(r.not_run.is_empty(), "{r}");
    let r = pswincom_kit().check(&PswincomPushes).await;
    r.assert_passes();
    assert!(r.not_run.is_empty(), "{r}");
}

/// What a broken push format gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    RefusesXml,
    NamesAnotherGateway,
    AcksEverything,
    DropsRaw,
    LosesBadId,
    OneBadEntrySpoilsAll,
    WrongReference,
    PanicsOnEmpty,
}

struct Broken<F> {
    inner: F,
    flaw: Flaw,
}

impl<F: PushFormat> PushFormat for Broken<F> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn parse(
        &self,
        kind: PushKind,
        request: &PushRequest<'_>,
    ) -> Result<Vec<PushEntry<Pushed>>, CallbackError> {
        if self.flaw == Flaw::RefusesXml && request.media_type().ends_with("xml") {
            return Err(CallbackError::unsupported_content_type("no XML"));
        }
        assert!(
            !(self.flaw == Flaw::PanicsOnEmpty && request.body.is_empty()),
            "empty body"
        );
        let mut entries = self.inner.parse(kind, request)?;
        let any_bad = entries.iter().any(|e| e.result.is_err());
        for e in &mut entries {
            match (&mut e.result, self.flaw) {
                (Err(err), Flaw::DropsRaw) => err.raw = None,
                (Err(_), Flaw::LosesBadId) => e.id.clear(),
                (Ok(_), Flaw::OneBadEntrySpoilsAll) if any_bad => {
                    e.result = Err(CallbackError::body("a bad entry in the push"));
                }
                (Ok(Pushed::Delivery(d)), Flaw::WrongReference) => d.reference.push('x'),
                (Ok(Pushed::Delivery(d)), Flaw::NamesAnotherGateway) => d.provider = "other",
                (Ok(Pushed::Incoming(m)), Flaw::NamesAnotherGateway) => m.provider = "other",
                _ => {}
            }
        }
        Ok(entries)
    }

    fn answer(
        &self,
        kind: PushKind,
        request: &PushRequest<'_>,
        entries: &[(String, EntryFate)],
    ) -> PushAnswer {
        if self.flaw == Flaw::AcksEverything {
            let all: Vec<_> = entries
                .iter()
                .map(|(id, _)| (id.clone(), EntryFate::Acknowledged))
                .collect();
            return self.inner.answer(kind, request, &all);
        }
        self.inner.answer(kind, request, entries)
    }
}

fn failed(report: &SuiteReport) -> Vec<&'static str> {
    report.failures().into_iter().map(|(r, _)| r).collect()
}

#[tokio::test]
async fn the_kit_catches_each_broken_push_format() {
    let cases = [
        (Flaw::RefusesXml, "documented examples parse"),
        (Flaw::NamesAnotherGateway, "documented examples parse"),
        (Flaw::AcksEverything, "answers have the gateway's shape"),
        (
            Flaw::DropsRaw,
            "an unreadable entry keeps its place, raw text and ID",
        ),
        (
            Flaw::LosesBadId,
            "an unreadable entry keeps its place, raw text and ID",
        ),
        (
            Flaw::OneBadEntrySpoilsAll,
            "an unreadable entry keeps its place, raw text and ID",
        ),
        (
            Flaw::WrongReference,
            "a report for a recorded send names it",
        ),
        (Flaw::PanicsOnEmpty, "hostile bodies never panic"),
    ];
    for (flaw, rule) in cases {
        // LosesBadId only shows where entries have IDs: PSWinCom's XML.
        if flaw != Flaw::LosesBadId {
            let r = intelecom_kit()
                .check(&Broken {
                    inner: IntelecomPushes,
                    flaw,
                })
                .await;
            assert!(failed(&r).contains(&rule), "Intelecom, {flaw:?}:\n{r}");
        }
        let r = pswincom_kit()
            .check(&Broken {
                inner: PswincomPushes,
                flaw,
            })
            .await;
        assert!(failed(&r).contains(&rule), "PSWinCom, {flaw:?}:\n{r}");
    }
}

#[tokio::test]
async fn without_samples_the_rules_say_so() {
    let r = PushKit::new()
        .acks_read_as(AckReading::whole_push_on_2xx())
        .check(&IntelecomPushes)
        .await;
    assert_eq!(failed(&r), ["documented examples parse"], "{r}");
    assert_eq!(r.not_run.len(), 2, "{r}");
    assert!(r.to_string().contains("not run"), "{r}");
}
