use super::*;

fn no() -> DefaultCountry {
    "NO".parse().unwrap()
}

#[test]
fn digit_runs_in_gateway_texts_are_masked() {
    let cases = [
        (
            "Invalid recipient 4741000017",
            "Invalid recipient 474*****17",
        ),
        ("to +47 410 00 017.", "to +47 4** ** *17."),
        (
            "4741000017-1000@smsmail.intele.com",
            "474*******-**00@smsmail.intele.com",
        ),
        ("HTTP 503 after 12345 ms", "HTTP 503 after 12345 ms"),
        ("id 123456", "id 123*56"),
        ("", ""),
    ];
    for (input, masked) in cases {
        assert_eq!(mask_digit_runs(input), masked, "{input}");
    }
}

#[test]
fn what_users_type_in_norway() {
    let cases = [
        "+47 22 33 44 55",
        "+4722334455",
        "0047 22334455",
        "0047 22 33 44 55",
        "22 33 44 55",
        "22334455",
        "22-33-44-55",
        "22.33.44.55",
        "(22) 33 44 55",
        "tel:+47-22-33-44-55",
    ];
    for c in cases {
        let n = PhoneNumber::parse(c, Some(&no())).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert_eq!(n.e164(), "+4722334455", "{c}");
    }
    // Norway has no trunk prefix: a "(0)" is a digit, and +47 022 33 44 55
    // is no number (libphonenumber agrees). Refused, never guessed.
    for c in ["+47 (0)22 33 44 55", "+47(0)22334455"] {
        let e = PhoneNumber::parse(c, Some(&no())).unwrap_err();
        assert_eq!(e.kind(), PhoneErrorKind::TooLong, "{c}");
    }
}

#[test]
fn trunk_prefix_of_other_countries() {
    let gb: DefaultCountry = "GB".parse().unwrap();
    let n = PhoneNumber::parse("020 7946 0018", Some(&gb)).unwrap();
    assert_eq!(n.e164(), "+442079460018");
    let n = PhoneNumber::parse("+44 (0)20 7946 0018", None).unwrap();
    assert_eq!(n.e164(), "+442079460018");
    assert_eq!(n.national(), "020 7946 0018");
    assert_eq!(n.international(), "+44 20 7946 0018");
    // Italian numbers keep their leading zero.
    let n = PhoneNumber::parse("+39 06 1234 5678", None).unwrap();
    assert_eq!(n.e164(), "+390612345678");
    assert_eq!(n.national_significant(), "0612345678");
}

#[test]
fn default_country_by_code_or_region() {
    let by_code: DefaultCountry = "47".parse().unwrap();
    let n = PhoneNumber::parse("90 12 34 56", Some(&by_code)).unwrap();
    assert_eq!(n.e164(), "+4790123456");
    let us: DefaultCountry = "1".parse().unwrap();
    assert_eq!(us.region(), "US");
    let se = DefaultCountry::from_region("se").unwrap();
    assert_eq!(se.calling_code(), 46);
    assert_eq!(
        "ZZ".parse::<DefaultCountry>().unwrap_err().kind(),
        PhoneErrorKind::UnknownCountry
    );
    assert_eq!(
        "999".parse::<DefaultCountry>().unwrap_err().kind(),
        PhoneErrorKind::UnknownCountry
    );
}

#[test]
fn garbage_is_a_typed_error() {
    let forty = "1".repeat(40);
    let long = "+".to_string() + &"4".repeat(100);
    let cases: &[(&str, PhoneErrorKind)] = &[
        ("", PhoneErrorKind::Empty),
        ("   ", PhoneErrorKind::Empty),
        ("abc", PhoneErrorKind::NotANumber),
        ("+", PhoneErrorKind::NotANumber),
        ("++", PhoneErrorKind::NotANumber),
        (&forty, PhoneErrorKind::MissingCountry),
        (&long, PhoneErrorKind::TooLong),
        ("+47 1234", PhoneErrorKind::TooShort),
        ("+47 123456", PhoneErrorKind::InvalidLength),
        ("+47 123456789012", PhoneErrorKind::TooLong),
        ("22334455", PhoneErrorKind::MissingCountry),
        ("+999 1234567", PhoneErrorKind::InvalidCountryCode),
        ("+47 22334455 ext. 12", PhoneErrorKind::HasExtension),
    ];
    for (input, kind) in cases {
        let e = PhoneNumber::parse(input, None).unwrap_err();
        assert_eq!(e.kind(), *kind, "{input:?}: {e}");
    }
    let e = PhoneNumber::parse(&forty, Some(&no())).unwrap_err();
    assert_eq!(e.kind(), PhoneErrorKind::TooLong);
}

#[test]
fn errors_mask_the_number() {
    let e = PhoneNumber::parse("+47 1234 5678 9012", None).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("5678"), "{msg}");
    assert!(
        msg.starts_with("phone number \"+47 1*** **** **12\""),
        "{msg}"
    );
    let n = PhoneNumber::parse("+4722334455", None).unwrap();
    assert_eq!(format!("{n:?}"), "PhoneNumber(+472*****55)");
}

#[test]
fn crafted_rfc3966_inputs_from_the_advisories_do_not_panic() {
    // GHSA-whhr-7f2w-qqj2 and GHSA-mjw4-jj88-v687 shapes.
    let cases = [
        "+dwPAA;phone-context=AA",
        "+dwPAA;phone-context=+AA",
        ";phone-context=",
        "tel:;phone-context=+",
        "+0;phone-context=0",
        "tel:+1;isub=;phone-context=+1",
        "+1;phone-context=+1;phone-context=+1",
        "\u{0}+47\u{0}",
        "٣٣٣٣٣٣٣",
    ];
    for c in cases {
        for d in [None, Some(&no())] {
            let _ = PhoneNumber::parse(c, d);
        }
    }
}

#[test]
fn numbers_carry_their_region_and_type() {
    let n = PhoneNumber::parse("+4722334455", None).unwrap();
    assert_eq!(
        (n.region(), n.number_type()),
        ("NO", PhoneNumberType::FixedLine)
    );
    let n = PhoneNumber::parse("+12125551234", None).unwrap();
    assert_eq!(
        (n.region(), n.number_type()),
        ("US", PhoneNumberType::FixedLineOrMobile)
    );
    let n = PhoneNumber::parse("+80012345678", None).unwrap();
    assert_eq!(
        (n.region(), n.number_type()),
        ("001", PhoneNumberType::TollFree)
    );
    // Derived from the digits: equal numbers have equal regions and types.
    let a = PhoneNumber::parse("412 34 567", Some(&no())).unwrap();
    let b: PhoneNumber = "+4741234567".parse().unwrap();
    assert_eq!(a, b);
    assert_eq!(a.number_type(), PhoneNumberType::Mobile);
}

#[test]
fn serde_round_trip() {
    let n = PhoneNumber::parse("+4722334455", None).unwrap();
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(json, "\"+4722334455\"");
    assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), n);
    assert!(serde_json::from_str::<PhoneNumber>("\"abc\"").is_err());
    let d: DefaultCountry = serde_json::from_str("47").unwrap();
    assert_eq!(d.region(), "NO");
    let d: DefaultCountry = serde_json::from_str("\"NO\"").unwrap();
    assert_eq!(d.calling_code(), 47);
}
