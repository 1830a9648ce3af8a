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

/// Literal national prefixes the metadata lets the full parse strip
/// (`0`, GB's `180020`), per calling code, read from the metadata here
/// independently of the crate's table.
fn literal_prefixes() -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for meta in DATABASE.iter() {
        let patterns = [
            meta.national_prefix().map(str::to_owned),
            meta.national_prefix_for_parsing()
                .map(|r| r.as_str().to_owned()),
        ];
        for pattern in patterns.into_iter().flatten() {
            for alt in pattern.trim_start_matches('^').split('|') {
                let alt = alt.trim();
                if !alt.is_empty() && alt.bytes().all(|b| b.is_ascii_digit()) {
                    out.push((meta.country_code(), alt.to_owned()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn numbers_starting_with_or_near_a_national_prefix_parse_the_same_both_ways() {
    let prefixes = literal_prefixes();
    assert!(
        prefixes.iter().any(|(c, p)| *c == 44 && p == "180020"),
        "the metadata no longer has GB's 180020: {prefixes:?}"
    );
    let mut checked = 0;
    for (code, literal) in &prefixes {
        let cc_len = code.to_string().len();
        // Every leading part of the prefix, exactly or with its next digit
        // changed: the numbers the fast path must tell apart.
        for k in 1..=literal.len() {
            let mut starts = vec![literal[..k].to_owned()];
            if k < literal.len() {
                let next = literal.as_bytes()[k];
                starts.extend(
                    (b'0'..=b'9')
                        .filter(|&d| d != next)
                        .map(|d| format!("{}{}", &literal[..k], d as char)),
                );
            }
            for start in starts {
                for len in start.len()..=15 - cc_len {
                    let tail: String = (0..len - start.len())
                        .map(|i| char::from(b'0' + ((i * 7 + 3) % 10) as u8))
                        .collect();
                    same(&format!("+{code}{start}{tail}"));
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} numbers checked");
}

#[test]
fn uk_numbers_take_the_fast_path_unless_they_start_with_a_national_prefix() {
    // Geographic numbers outside London start with 1, as GB's `180020`
    // prefix does; only that prefix itself needs the full parse.
    assert!(takes_fast_path("+441632960123"));
    assert!(takes_fast_path("+441800212345"));
    assert!(!takes_fast_path("+441800201234"));
    assert!(!takes_fast_path("+4401632960123"));
    same("+441632960123");
    same("+441800201234");
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
