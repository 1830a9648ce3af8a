//! Every Intelecom MO/DR callback parser (JSON, XML, GET query): any body
//! is entries or a typed error, never a panic.
#![no_main]

use crm_comms::intelecom::callback as cb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cb::parse_dr_json(data);
    let _ = cb::parse_mo_json(data);
    let _ = cb::parse_dr_xml(data);
    let _ = cb::parse_mo_xml(data);
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = cb::parse_dr_query(query);
        let _ = cb::parse_mo_query(query);
    }
});
