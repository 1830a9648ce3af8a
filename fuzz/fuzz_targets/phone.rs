//! Phone-number parsing: any text is a number or a typed error, and a
//! number's E.164 form parses back to the same number.
#![no_main]

use crm_comms::phone::{DefaultCountry, PhoneNumber};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let norway: DefaultCountry = "NO".parse().unwrap();
    for default in [None, Some(&norway)] {
        if let Ok(n) = PhoneNumber::parse(text, default) {
            let again = PhoneNumber::parse(n.e164(), None).expect("E.164 parses");
            assert_eq!(again, n);
            assert!(n.e164().starts_with('+'));
            let _ = (n.national(), n.international(), n.rfc3966(), format!("{n:?}"));
        }
    }
});
