//! The recipient's own daytime: the computed holiday calendars against
//! the `holidays` package (`tests/fixtures/local_time/holidays.tsv`,
//! written by `scripts/local_time_oracle.py`), every generated time zone
//! known to the bundled tz database, and the rule read across zones,
//! holidays and daylight saving time.

use std::collections::BTreeMap;

use crm_comms::mailing::{
    Daytime, HOLIDAY_REGIONS, RecipientHours, public_holiday, public_holidays, region_time_zones,
};
use jiff::Timestamp;
use jiff::civil::Date;

const ORACLE: &str = include_str!("../fixtures/local_time/holidays.tsv");

/// (region, date) → the names the oracle gives (two on one day joined by
/// `; `).
fn oracle() -> BTreeMap<(String, Date), Vec<String>> {
    let mut days = BTreeMap::new();
    for line in ORACLE.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (Some(region), Some(date), Some(names)) = (cols.next(), cols.next(), cols.next())
        else {
            panic!("bad oracle line {line:?}");
        };
        let mut names: Vec<String> = names.split("; ").map(str::to_owned).collect();
        names.sort();
        days.insert((region.to_owned(), date.parse().unwrap()), names);
    }
    days
}

#[test]
fn the_nordic_calendars_agree_with_the_holidays_package_2000_to_2099() {
    let oracle = oracle();
    assert!(oracle.len() > 6000, "{}", oracle.len());
    let mut ours = BTreeMap::new();
    for region in HOLIDAY_REGIONS {
        for year in 2000..2100 {
            for (date, name) in public_holidays(region, year) {
                ours.entry(((*region).to_owned(), date))
                    .or_insert_with(Vec::new)
                    .push(name.to_owned());
            }
        }
    }
    for names in ours.values_mut() {
        names.sort();
    }
    let missing: Vec<_> = oracle
        .iter()
        .filter(|(k, _)| !ours.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = ours
        .iter()
        .filter(|(k, _)| !oracle.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(ours, oracle);
    // The one-day reader agrees with the year's list.
    for ((region, date), names) in &oracle {
        let name = public_holiday(region, *date).unwrap();
        assert!(
            names.iter().any(|n| n == name),
            "{region} {date}: {name} not in {names:?}"
        );
        let next = date.tomorrow().unwrap();
        assert_eq!(
            public_holiday(region, next).is_some(),
            oracle.contains_key(&(region.clone(), next)),
            "{region} {next}"
        );
    }
}

#[test]
fn every_generated_time_zone_is_in_the_bundled_database() {
    for region in [
        "NO", "SE", "DK", "FI", "IS", "GB", "US", "RU", "ES", "AU", "XK", "BR",
    ] {
        let zones = region_time_zones(region);
        assert!(!zones.is_empty(), "{region}");
        for z in zones {
            assert!(jiff::tz::TimeZone::get(z).is_ok(), "{region}: {z}");
        }
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn from(d: Daytime) -> (String, String) {
    match d {
        Daytime::From { at, reason } => (at.to_string(), reason),
        other => panic!("expected From, got {other:?}"),
    }
}

#[test]
fn easter_and_17_may_hold_a_norwegian_number_until_the_next_working_morning() {
    let rule: RecipientHours = "09:00-20:00".parse().unwrap();
    // Maundy Thursday 2027 (25 March) at noon in Oslo: Thursday, Friday,
    // Easter Sunday and Monday are holidays, Saturday is not.
    let (t, why) = from(rule.check("NO", at("2027-03-25T11:00:00Z")));
    assert_eq!(t, "2027-03-27T08:00:00Z");
    assert!(why.contains("Maundy Thursday"), "{why}");
    // Saturday at noon: send.
    assert_eq!(rule.check("NO", at("2027-03-27T11:00:00Z")), Daytime::Now);
    // Easter Sunday evening: Monday is a holiday too; Tuesday 09:00 in
    // summer time (UTC+2 from 28 March).
    let (t, why) = from(rule.check("NO", at("2027-03-28T19:00:00Z")));
    assert_eq!(t, "2027-03-30T07:00:00Z");
    assert!(why.contains("Easter Sunday"), "{why}");
    // 17 May 2027 is a Monday.
    let (t, why) = from(rule.check("NO", at("2027-05-17T07:00:00Z")));
    assert_eq!(t, "2027-05-18T07:00:00Z");
    assert!(
        why.contains("Constitution Day") && why.contains("NO"),
        "{why}"
    );
    // Sweden works on 17 May; Norway's holidays do not hold a Swede.
    assert_eq!(rule.check("SE", at("2027-05-17T07:00:00Z")), Daytime::Now);
    // Opted out of holidays: the hours alone.
    let hours_only = rule.without_holidays();
    assert_eq!(
        hours_only.check("NO", at("2027-05-17T07:00:00Z")),
        Daytime::Now
    );
    assert_eq!(hours_only.to_string(), "09:00-20:00 holidays-allowed");
    assert_eq!(
        hours_only.to_string().parse::<RecipientHours>().unwrap(),
        hours_only
    );
}

#[test]
fn a_number_abroad_is_held_to_its_own_daytime() {
    let rule: RecipientHours = "08:00-21:00".parse().unwrap();
    // 18:00 UTC on a Wednesday in winter: 19:00 in Oslo, 20:00 in
    // Helsinki, 18:00 in London; 03:00 the next day in Tokyo.
    let now = at("2026-12-02T18:00:00Z");
    for region in ["NO", "FI", "GB"] {
        assert_eq!(rule.check(region, now), Daytime::Now, "{region}");
    }
    let (t, why) = from(rule.check("JP", now));
    assert_eq!(t, "2026-12-02T23:00:00Z");
    assert!(why.contains("Asia/Tokyo"), "{why}");
    // 20:30 UTC: 21:30 in Oslo (closed until 08:00), 20:30 in London.
    let now = at("2026-12-02T20:30:00Z");
    assert_eq!(from(rule.check("NO", now)).0, "2026-12-03T07:00:00Z");
    assert_eq!(rule.check("GB", now), Daytime::Now);
    // A non-geographic number has no daytime to keep.
    assert_eq!(rule.check("001", now), Daytime::Now);
}

#[test]
fn a_country_with_several_zones_is_read_the_most_conservative_way() {
    let rule: RecipientHours = "08:00-21:00".parse().unwrap();
    // 14:00 UTC in winter: 09:00 in New York, 04:00 in Honolulu.
    let (t, why) = from(rule.check("US", at("2026-12-02T14:00:00Z")));
    // 08:00 in Honolulu (UTC-10) is 18:00 UTC, and New York (13:00) and
    // Anchorage/Adak are inside too.
    assert_eq!(t, "2026-12-02T18:00:00Z");
    assert!(
        why.contains("most conservative") && why.contains("29"),
        "{why}"
    );
    // Spain: the Canaries are an hour behind Madrid.
    let (t, _) = from(rule.check("ES", at("2026-12-02T07:30:00Z")));
    assert_eq!(t, "2026-12-02T08:00:00Z");
    // Russia's eleven hours of zones share no hour of a short span.
    let short: RecipientHours = "09:00-10:00".parse().unwrap();
    match short.check("RU", at("2026-12-02T12:00:00Z")) {
        Daytime::Never { reason } => assert!(reason.contains("RU"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_hours_start_on_the_local_clock_across_daylight_saving_time() {
    let rule: RecipientHours = "08:00-21:00 holidays-allowed".parse().unwrap();
    // Saturday 28 March 2026, 22:00 in Oslo (UTC+1); the clocks go forward
    // that night: 08:00 on Sunday is 06:00 UTC.
    let (t, _) = from(rule.check("NO", at("2026-03-28T21:00:00Z")));
    assert_eq!(t, "2026-03-29T06:00:00Z");
    // And back on 25 October: 08:00 on Sunday is 07:00 UTC.
    let (t, _) = from(rule.check("NO", at("2026-10-24T20:00:00Z")));
    assert_eq!(t, "2026-10-25T07:00:00Z");
}

#[test]
fn bad_hours_are_typed_errors() {
    for bad in ["", "8-21", "21:00-08:00", "08:00-21:00 sometimes", "08:00"] {
        let e = bad.parse::<RecipientHours>().unwrap_err();
        assert!(e.is_hours(), "{bad:?}: {e}");
    }
}
