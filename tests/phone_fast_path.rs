//! The E.164 fast path must give exactly what the full parse gives.

use crm_comms::phone::{PhoneNumber, parse_without_fast_path, takes_fast_path};
use phonenumber::metadata::DATABASE;
use proptest::prelude::*;

fn codes() -> Vec<u16> {
    (1u16..1000)
        .filter(|c| DATABASE.by_code(c).is_some())
        .collect()
}

/// Example numbers from the metadata, in E.164: real, valid numbers of every
/// type for every region.
fn examples() -> Vec<String> {
    use phonenumber::Type::*;
    let mut out = Vec::new();
    for meta in DATABASE.iter() {
        for kind in [
            FixedLine,
            Mobile,
            TollFree,
            PremiumRate,
            SharedCost,
            PersonalNumber,
            Voip,
            Pager,
            Uan,
            Voicemail,
        ] {
            if let Some(ex) = meta.descriptors().get(kind).and_then(|d| d.example()) {
                out.push(format!("+{}{}", meta.country_code(), ex));
            }
        }
    }
    out
}

fn same(input: &str) {
    let fast = PhoneNumber::parse(input, None);
    let full = parse_without_fast_path(input, None);
    match (&fast, &full) {
        (Ok(a), Ok(b)) => assert_eq!(a.e164(), b.e164(), "{input}"),
        (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{input}"),
        _ => panic!("{input}: fast {fast:?} vs full {full:?}"),
    }
}

#[test]
fn every_metadata_example_parses_the_same_both_ways() {
    let examples = examples();
    assert!(examples.len() > 1000, "only {} examples", examples.len());
    let mut fast = 0;
    for e in &examples {
        same(e);
        if takes_fast_path(e) {
            fast += 1;
        }
    }
    // Most canonical numbers must actually take the fast path, or the
    // comparison above proves little.
    assert!(
        fast * 10 > examples.len() * 7,
        "{fast} of {} took the fast path",
        examples.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn generated_e164_numbers_parse_the_same_both_ways(
        code_index in 0usize..215,
        nsn in "[0-9]{1,14}",
    ) {
        let codes = codes();
        let code = codes[code_index % codes.len()];
        let input = format!("+{code}{nsn}");
        same(&input);
    }

    #[test]
    fn non_canonical_spellings_agree_too(s in "\\+?[0-9 ]{0,18}") {
        same(&s);
    }
}
