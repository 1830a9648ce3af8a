//! The phone-link format parser and renderer: any text either fails to
//! parse with an error, or parses, prints back to an equal format, and
//! renders links that keep the format's scheme whatever the variables are.
#![no_main]

use crm_comms::links::PhoneLinkFormat;
use crm_comms::phone::PhoneNumber;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the format, the rest a variable value.
    let (format, value) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(f) = format.parse::<PhoneLinkFormat>() else {
        return;
    };
    let again: PhoneLinkFormat = f.to_string().parse().expect("Display output parses");
    assert_eq!(again, f);
    let number: PhoneNumber = "+4722334455".parse().unwrap();
    let vars = [("cuid", value), ("name", value), ("x", value)];
    if let Ok(link) = f.render(&number, &vars[..]) {
        let scheme = format!("{}:", f.scheme());
        assert!(link.as_str().starts_with(&scheme), "scheme changed: {link}");
        assert!(!link.as_str().chars().any(|c| c.is_whitespace() || c.is_control() || c == '"'));
        let _ = f.parse_link(link.as_str());
    }
});
