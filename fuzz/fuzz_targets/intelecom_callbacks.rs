//! Every Intelecom MO/DR callback parser (JSON, XML, GET query): any body
//! is entries or a typed error, never a panic.
#![no_main]

use crm_comms::sms::{DeliveryReceipt, IncomingMessage};
use crm_comms::testing::wire::intelecom::PushBody::{Json, Query, Xml};
use crm_comms::testing::wire::intelecom::read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read::<DeliveryReceipt>(Json, data);
    let _ = read::<IncomingMessage>(Json, data);
    let _ = read::<DeliveryReceipt>(Xml, data);
    let _ = read::<IncomingMessage>(Xml, data);
    let _ = read::<DeliveryReceipt>(Query, data);
    let _ = read::<IncomingMessage>(Query, data);
});
