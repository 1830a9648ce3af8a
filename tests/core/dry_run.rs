//! The dry run's new counts: a mailing's cap on parts, smart encoding
//! (applied or only counted), and the cost per country and encoding.

use std::collections::HashSet;

use crm_comms::mailing::{BlockReason, DryRun, MailingSpec, PartPrices, Preparer, Recipient};
use crm_comms::sms::encoding::{Encoding, Limits, detect, preview};
use crm_comms::sms::smart_encoding::{SMART_TABLE, smart_gsm7};
use proptest::prelude::*;

fn spec(text: &str) -> MailingSpec {
    MailingSpec::new("t", text.parse().unwrap()).with_default_country("NO".parse().unwrap())
}

fn run(spec: &MailingSpec, list: &[Recipient]) -> (DryRun, Vec<crm_comms::mailing::Prepared>) {
    let none = HashSet::new();
    let mut p = Preparer::new(spec, &none);
    let mut dry = DryRun::default();
    let prepared: Vec<_> = list.iter().map(|r| p.prepare(r)).collect();
    for x in &prepared {
        dry.add(x);
    }
    (dry, prepared)
}

#[test]
fn a_text_over_the_mailings_cap_is_blocked_with_its_parts() {
    // 170 characters of GSM-7: two parts.
    let s = spec("{t}").with_max_parts(1);
    let list = [
        Recipient::new("41000001").with("t", "a".repeat(170)),
        Recipient::new("41000002").with("t", "kort"),
    ];
    let (dry, prepared) = run(&s, &list);
    assert_eq!(
        prepared[0].blocked,
        Some(BlockReason::TooManyParts {
            parts: 2,
            allowed: 1
        })
    );
    assert_eq!(
        prepared[0].blocked.as_ref().unwrap().to_string(),
        "the text takes 2 SMS parts; the mailing allows at most 1"
    );
    assert_eq!(prepared[1].blocked, None);
    assert_eq!(dry.ready, 1);
    assert_eq!(dry.blocked, [("too many parts".to_owned(), 1)]);
}

#[test]
fn smart_encoding_is_counted_when_off_and_applied_when_on() {
    // A ’ pasted into 100 characters: UCS-2 in two parts, or GSM-7 in one.
    let text = format!("{} – Kari’s kafé", "Hei ".repeat(25));
    let list = [
        Recipient::new("41000001").with("t", text.clone()),
        Recipient::new("41000002").with("t", format!("{text} 🎉")),
        Recipient::new("41000003").with("t", "kort"),
    ];
    let (off, prepared) = run(&spec("{t}"), &list);
    assert_eq!(prepared[0].text, text, "never changed when off");
    assert_eq!(
        (prepared[0].encoding, prepared[0].parts),
        (Encoding::Ucs2, 2)
    );
    assert_eq!((off.smart_recipients, off.smart_parts), (1, 1));
    assert_eq!(off.parts, 2 + 2 + 1);

    let (on, prepared) = run(&spec("{t}").with_smart_encoding(true), &list);
    assert_eq!(
        prepared[0].text,
        format!("{} - Kari's kafé", "Hei ".repeat(25))
    );
    assert_eq!(
        (prepared[0].encoding, prepared[0].parts),
        (Encoding::Gsm7, 1)
    );
    // The emoji needs UCS-2 anyway: left exactly as written.
    assert_eq!(prepared[1].text, format!("{text} 🎉"));
    assert_eq!((on.smart_recipients, on.smart_parts), (1, 1));
    assert_eq!(on.parts, 1 + 2 + 1);
}

#[test]
fn the_cost_is_parts_times_the_countrys_price_per_encoding() {
    let list = [
        Recipient::new("41000001").with("t", "Hei"),
        Recipient::new("41000002").with("t", "Hei ✅"),
        Recipient::new("+46701234561").with("t", "a".repeat(170)),
        Recipient::new("+4520123456").with("t", "Hej"),
    ];
    let (dry, _) = run(&spec("{t}"), &list);
    let lines: Vec<(String, Encoding, u64, u64)> = dry
        .by_country
        .iter()
        .map(|c| (c.region.clone(), c.encoding, c.recipients, c.parts))
        .collect();
    assert_eq!(
        lines,
        [
            ("NO".to_owned(), Encoding::Gsm7, 1, 1),
            ("NO".to_owned(), Encoding::Ucs2, 1, 1),
            ("SE".to_owned(), Encoding::Gsm7, 1, 2),
            ("DK".to_owned(), Encoding::Gsm7, 1, 1),
        ]
    );
    let cost = dry.cost(&"NO=0.45,SE=0.60,*=0.80".parse::<PartPrices>().unwrap());
    // 2 × 0.45 + 2 × 0.60 + 1 × 0.80
    assert_eq!(cost.total.to_string(), "2.90");
    assert_eq!(cost.unpriced_parts, 0);
    let cost = dry.cost(&"NO=0.45".parse::<PartPrices>().unwrap());
    assert_eq!(
        (cost.total.to_string(), cost.unpriced_parts),
        ("0.90".to_owned(), 3)
    );
    for bad in ["", "abc", "NOR=0.45", "0.12345", "-1", "NO=", "1e3"] {
        let e = bad.parse::<PartPrices>().unwrap_err();
        assert_eq!(
            e.kind(),
            crm_comms::mailing::SpecErrorKind::Price,
            "{bad:?}"
        );
    }
}

fn table_replaced(text: &str) -> String {
    text.chars()
        .map(|c| {
            SMART_TABLE
                .iter()
                .find(|(k, _)| *k == c)
                .map_or_else(|| c.to_string(), |(_, r)| (*r).to_owned())
        })
        .collect()
}

proptest! {
    /// Whatever the text: smart encoding changes the table's characters
    /// and nothing else, and only when the result is GSM-7 in fewer parts.
    #[test]
    fn smart_encoding_changes_only_the_table_and_only_to_save_parts(
        text in proptest::collection::vec(
            prop_oneof![
                4 => proptest::char::range('a', 'z'),
                1 => prop::sample::select(vec!['’', '‘', '“', '”', '–', '—', '…', '«', '»', '\u{a0}']),
                1 => prop::sample::select(vec!['æ', 'ø', 'å', '€', '{', '‚', '„', 'Ж', '🎉', '\u{202f}']),
            ],
            0..400,
        ).prop_map(|v| v.into_iter().collect::<String>())
    ) {
        let limits = Limits::standard(6);
        if let Some(smart) = smart_gsm7(&text, &limits) {
            prop_assert_eq!(&smart.text, &table_replaced(&text));
            prop_assert_eq!(detect(&smart.text), Encoding::Gsm7);
            prop_assert_eq!(smart.parts, preview(&smart.text, &limits).parts);
            prop_assert_eq!(smart.parts_before, preview(&text, &limits).parts);
            prop_assert!(smart.parts < smart.parts_before);
        } else {
            let replaced = table_replaced(&text);
            let saves = detect(&replaced) == Encoding::Gsm7
                && detect(&text) == Encoding::Ucs2
                && preview(&replaced, &limits).parts < preview(&text, &limits).parts;
            prop_assert!(!saves, "a saving was missed: {:?}", text);
        }
    }
}
