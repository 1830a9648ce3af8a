//! Segmenting never splits an escape or a surrogate pair and reassembles to
//! the input; the counts agree with the parts.

use crm_comms::sms::encoding::{Encoding, gsm_cost, preview, split};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('a'),
            Just('€'),
            Just('^'),
            Just('ø'),
            Just('Ж'),
            Just('😀'),
            any::<char>()
        ],
        0..1200,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn parts_reassemble_and_fit(t in text(), pswin in any::<bool>()) {
        let limits = if pswin { crm_comms::pswincom::LIMITS } else { crm_comms::intelecom::LIMITS };
        let p = preview(&t, &limits);
        let parts = split(&t, &limits);
        prop_assert_eq!(parts.concat(), t.clone());
        prop_assert_eq!(parts.len(), p.parts);
        prop_assert_eq!(p.characters, t.chars().count());
        let gsm = t.chars().all(|c| gsm_cost(c) != 0);
        prop_assert_eq!(p.encoding == Encoding::Gsm7, gsm);
        let (single, part) = match p.encoding {
            Encoding::Gsm7 => (limits.gsm_single, limits.gsm_part),
            _ => (limits.ucs2_single, limits.ucs2_part),
        };
        let size = |s: &str| -> usize {
            s.chars().map(|c| if gsm { gsm_cost(c) as usize } else { c.len_utf16() }).sum()
        };
        prop_assert_eq!(parts.iter().map(|s| size(s)).sum::<usize>(), p.units);
        if parts.len() == 1 {
            prop_assert!(p.units <= single);
        } else {
            for s in &parts {
                prop_assert!(size(s) <= part);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn segments_agrees_with_preview(t in text()) {
        for limits in [crm_comms::intelecom::LIMITS, crm_comms::pswincom::LIMITS] {
            let p = preview(&t, &limits);
            let s = crm_comms::sms::encoding::segments(&t, &limits);
            prop_assert_eq!((s.encoding, s.units, s.parts), (p.encoding, p.units, p.parts));
        }
    }
}
