//! Properties of call links that must hold for any input.

use crm_comms::links::{PhoneLinkFormat, VariableSource};
use crm_comms::phone::PhoneNumber;
use proptest::prelude::*;

/// Gives the same value for every variable a format names.
struct Every<'a>(&'a str);

impl VariableSource for Every<'_> {
    fn variable(&self, _: &str) -> Option<&str> {
        Some(self.0)
    }
}

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
    fn any_value_keeps_the_scheme_and_comes_back(value in any::<String>(), digits in "9[0-9]{7}") {
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
    fn every_rendered_link_is_a_uri_with_the_formats_scheme(
        scheme in "[a-zA-Z][a-zA-Z0-9+.-]{0,8}",
        pieces in prop::collection::vec(piece(), 0..8),
        value in any::<String>(),
        digits in "9[0-9]{7}",
    ) {
        let input = format!("{scheme}:%p{}", pieces.concat());
        let Ok(f) = input.parse::<PhoneLinkFormat>() else { return Ok(()) };
        let number: PhoneNumber = format!("+47{digits}").parse().unwrap();
        let link = f.render(&number, &Every(&value)).unwrap();
        // An independent parser (the WHATWG URL parser) reads it as a URI
        // with exactly the format's scheme: no value can add a second one.
        let uri = url::Url::parse(link.as_str())
            .map_err(|e| TestCaseError::fail(format!("{} is not a URI: {e}", link.as_str())))?;
        prop_assert_eq!(uri.scheme(), scheme.to_ascii_lowercase());
        let forbidden: &[u8] = b"\"^|<>\\`{} ";
        let safe = link.as_str().bytes().all(|b| b.is_ascii_graphic() && !forbidden.contains(&b));
        prop_assert!(safe, "unsafe link {}", link.as_str());
        // When the link reads back (adjacent variables can make it
        // ambiguous), the number is the one rendered.
        if let Ok(call) = f.parse_link(link.as_str()) {
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
