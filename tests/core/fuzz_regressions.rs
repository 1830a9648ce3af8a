//! Inputs the fuzzers (`fuzz/`) found, kept as regression tests with the
//! property each target asserts. The raw inputs are in
//! `tests/fixtures/fuzz/`.

use crm_comms::links::PhoneLinkFormat;
use crm_comms::phone::{DefaultCountry, PhoneNumber};

/// A 2,026-byte format whose canonical spelling (which escapes some
/// characters) was longer than the 2,048 bytes the parser accepts, so
/// `to_string()` did not parse back. Now the parser refuses it.
#[test]
fn link_format_whose_canonical_spelling_is_too_long() {
    let input = include_str!("../fixtures/fuzz/link_format-canonical-too-long");
    assert!(input.len() <= 2048);
    match input.parse::<PhoneLinkFormat>() {
        Err(e) => assert!(e.to_string().contains("longer than 2048 bytes"), "{e}"),
        Ok(f) => {
            let again: PhoneLinkFormat = f.to_string().parse().expect("Display output parses");
            assert_eq!(again, f);
        }
    }
    // Every accepted format prints back to something that parses.
    let long_but_fine = format!("tel:%p?x={}", "a".repeat(2000));
    let f: PhoneLinkFormat = long_but_fine.parse().unwrap();
    assert_eq!(f.to_string().parse::<PhoneLinkFormat>().unwrap(), f);
}

/// `+62 0741 …` (a national prefix written after the country code) parsed
/// as `+620741…` with a default country and as `+62741…` without, so a
/// number's E.164 form did not parse back to it. (Inputs that only parse
/// with a default country — no `+` first — must still give a number whose
/// E.164 form parses back to it.)
#[test]
fn an_international_number_does_not_depend_on_the_default_country() {
    let fuzzed = include_str!("../fixtures/fuzz/phone-national-prefix-after-country-code");
    // `(+4)6)0 (93M1tn0)`: the country code inside parentheses, so the
    // input did not look international and the default country's rules
    // were applied to it.
    let parenthesised = include_str!("../fixtures/fuzz/phone-country-code-in-parentheses");
    // `+860 (0-000)  22  e4500`: `phonenumber` strips one national prefix
    // per parse, so each E.164 form parsed to a shorter number.
    let zeros = include_str!("../fixtures/fuzz/phone-repeated-national-prefix");
    // `+5509) 011-00k00`: read as a number whose E.164 form was too short.
    let carrier = include_str!("../fixtures/fuzz/phone-carrier-code");
    let norway: DefaultCountry = "NO".parse().unwrap();
    let sweden: DefaultCountry = "SE".parse().unwrap();
    for input in [
        fuzzed,
        parenthesised,
        zeros,
        carrier,
        "+86 0 0 10 1234 5678",
        "+39 06 1234 5678",
        "(+46) 0 70 123 45 67",
        "+62 0741 37 45 641",
        "0062 0741 37 45 641",
        "+6207413745641",
        "+44 (0)20 7946 0018",
        "0044 020 7946 0018",
    ] {
        let without = PhoneNumber::parse(input, None);
        for default in [&norway, &sweden] {
            let with = PhoneNumber::parse(input, Some(default));
            if without.is_ok() {
                assert_eq!(with, without, "{input:?} with {default}");
            }
            if let Ok(n) = with {
                assert_eq!(PhoneNumber::parse(n.e164(), None).unwrap(), n, "{input:?}");
            }
        }
    }
    assert_eq!(
        PhoneNumber::parse("+62 0741 37 45 641", Some(&norway))
            .unwrap()
            .e164(),
        "+627413745641"
    );
}
