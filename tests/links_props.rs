//! Properties of call links that must hold for any input.

use crm_comms::links::PhoneLinkFormat;
use crm_comms::phone::PhoneNumber;
use proptest::prelude::*;

/// Pieces a format can be built from.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("%p".to_string()),
        Just("%%".to_string()),
        "[a-z0-9=&;./-]{1,6}",
        "\\{[a-zA-Z0-9_?]{1,6}\\}",
        "%[0-9a-fA-F]{2}",
        Just("?".to_string()),
        Just("#".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn display_then_parse_round_trips(scheme in "[a-zA-Z][a-zA-Z0-9+.-]{0,8}", pieces in prop::collection::vec(piece(), 0..8)) {
        let input = format!("{scheme}:%p{}", pieces.concat());
        if let Ok(f) = input.parse::<PhoneLinkFormat>() {
            let again: PhoneLinkFormat = f.to_string().parse().unwrap();
            prop_assert_eq!(&again, &f);
            prop_assert_eq!(again.to_string(), f.to_string());
        }
    }

    #[test]
    fn any_value_keeps_the_scheme_and_comes_back(value in any::<String>(), digits in "[2-9][0-9]{7}") {
        let number: PhoneNumber = format!("+47{digits}").parse().unwrap();
        for format in ["domycall:%p?c={cuid}", "x:{cuid}/%p", "x:%p#{cuid}", "x:%p-{cuid}"] {
            let f: PhoneLinkFormat = format.parse().unwrap();
            let link = f.render(&number, &[("cuid", value.as_str())]).unwrap();
            let scheme = format!("{}:", f.scheme());
            prop_assert!(link.as_str().starts_with(&scheme));
            let forbidden: &[u8] = b"\"^|<>\\`{} ";
            let safe = link.as_str().bytes().all(|b| b.is_ascii_graphic() && !forbidden.contains(&b));
            prop_assert!(safe, "unsafe link {}", link.as_str());
            let call = f.parse_link(link.as_str()).unwrap();
            prop_assert_eq!(call.variable("cuid"), Some(value.as_str()));
            prop_assert_eq!(call.number(), &number);
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in any::<String>()) {
        let _ = s.parse::<PhoneLinkFormat>();
        let f = PhoneLinkFormat::default();
        let _ = f.parse_link(&s);
    }
}
