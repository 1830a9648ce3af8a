//! PSWinCom's send response: any body gives exactly one outcome per sent
//! message, never a panic.
#![no_main]

use std::time::SystemTime;

use crm_comms::testing::wire::pswincom as wire;
use crm_comms::sms::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let message = Message::builder()
        .to_all(["+4741000001", "+4741000002", "+4741000003"].map(|n| n.parse().unwrap()))
        .text("Hei")
        .build()
        .unwrap();
    let sent = wire::wire_messages(&message, &crm_comms::pswincom::LIMITS, SystemTime::now()).unwrap();
    assert_eq!(wire::outcomes(data, &sent).len(), sent.len());
    let _ = wire::parse_response(data);
});
