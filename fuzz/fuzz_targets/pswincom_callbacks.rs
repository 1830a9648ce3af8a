//! Every PSWinCom MO/DR callback parser (XML, form) and the ack reader:
//! any body is entries or a typed error, never a panic; the IDs of what
//! parses make an ack that reads back the same.
#![no_main]

use crm_comms::testing::wire::pswincom as cb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = cb::parse_dr_xml(data) {
        let ack = cb::ack_xml(entries.iter().map(|e| (e.id.as_str(), e.result.is_ok())));
        let read = cb::parse_ack(&ack);
        // An entry without an ID cannot be acknowledged by ID.
        if entries.iter().all(|e| !e.id.trim().is_empty() && e.id.trim() == e.id) {
            let read = read.expect("our own ack reads");
            assert_eq!(read.len(), entries.len());
        }
    }
    let _ = cb::parse_mo_xml(data);
    for charset in [None, Some("utf-8"), Some("iso-8859-1")] {
        let _ = cb::parse_dr_form(data, charset);
        let _ = cb::parse_mo_form(data, charset);
    }
    let _ = cb::parse_ack(data);
});
