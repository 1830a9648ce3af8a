//! Public holidays, computed: fixed dates, the Easter-based ones (the
//! Gregorian computus), and "the first such weekday from a date" ones
//! (Midsummer, All Saints' Day). Checked for 2000–2099 against the
//! `holidays` package (`tests/core/holidays.rs`, fixture from
//! `scripts/local_time_oracle.py`); its default category is the one
//! kept, so days off by custom only (Swedish Midsummer Eve, Christmas Eve
//! outside Finland) are not holidays here.

use jiff::civil::{Date, Weekday};

/// The regions with a holiday calendar.
pub const HOLIDAY_REGIONS: &[&str] = &["DK", "FI", "IS", "NO", "SE"];

/// How a holiday's date is found in a year.
#[derive(Clone, Copy)]
enum Rule {
    /// The same month and day every year.
    Fixed(i8, i8),
    /// Days after (before, when negative) Easter Sunday.
    Easter(i16),
    /// The first such weekday on or after a month and day.
    WeekdayFrom(Weekday, i8, i8),
}

/// One holiday, and the years it is kept (inclusive).
struct Holiday {
    name: &'static str,
    rule: Rule,
    years: (i16, i16),
}

const ALWAYS: (i16, i16) = (i16::MIN, i16::MAX);

const fn h(name: &'static str, rule: Rule) -> Holiday {
    Holiday {
        name,
        rule,
        years: ALWAYS,
    }
}

const fn during(name: &'static str, rule: Rule, years: (i16, i16)) -> Holiday {
    Holiday { name, rule, years }
}

use Rule::{Easter, Fixed, WeekdayFrom};

const NEW_YEAR: Holiday = h("New Year's Day", Fixed(1, 1));
const MAUNDY_THURSDAY: Holiday = h("Maundy Thursday", Easter(-3));
const GOOD_FRIDAY: Holiday = h("Good Friday", Easter(-2));
const EASTER_SUNDAY: Holiday = h("Easter Sunday", Easter(0));
const EASTER_MONDAY: Holiday = h("Easter Monday", Easter(1));
const ASCENSION: Holiday = h("Ascension Day", Easter(39));
const PENTECOST: Holiday = h("Pentecost", Easter(49));
const PENTECOST_MONDAY: Holiday = h("Pentecost Monday", Easter(50));
const EPIPHANY: Holiday = h("Epiphany", Fixed(1, 6));
const CHRISTMAS: Holiday = h("Christmas Day", Fixed(12, 25));
const BOXING_DAY: Holiday = h("Second Day of Christmas", Fixed(12, 26));

const NORWAY: &[Holiday] = &[
    NEW_YEAR,
    MAUNDY_THURSDAY,
    GOOD_FRIDAY,
    EASTER_SUNDAY,
    EASTER_MONDAY,
    h("Labor Day", Fixed(5, 1)),
    ASCENSION,
    h("Constitution Day", Fixed(5, 17)),
    PENTECOST,
    PENTECOST_MONDAY,
    CHRISTMAS,
    BOXING_DAY,
];

const SWEDEN: &[Holiday] = &[
    NEW_YEAR,
    EPIPHANY,
    GOOD_FRIDAY,
    EASTER_SUNDAY,
    EASTER_MONDAY,
    h("May Day", Fixed(5, 1)),
    ASCENSION,
    PENTECOST,
    during("Pentecost Monday", Easter(50), (i16::MIN, 2004)),
    during("National Day", Fixed(6, 6), (2005, i16::MAX)),
    h("Midsummer Day", WeekdayFrom(Weekday::Saturday, 6, 20)),
    h("All Saints' Day", WeekdayFrom(Weekday::Saturday, 10, 31)),
    CHRISTMAS,
    BOXING_DAY,
];

const DENMARK: &[Holiday] = &[
    NEW_YEAR,
    MAUNDY_THURSDAY,
    GOOD_FRIDAY,
    EASTER_SUNDAY,
    EASTER_MONDAY,
    // Abolished from 2024.
    during("Great Prayer Day", Easter(26), (i16::MIN, 2023)),
    ASCENSION,
    PENTECOST,
    PENTECOST_MONDAY,
    CHRISTMAS,
    BOXING_DAY,
];

const FINLAND: &[Holiday] = &[
    NEW_YEAR,
    EPIPHANY,
    GOOD_FRIDAY,
    EASTER_SUNDAY,
    EASTER_MONDAY,
    h("May Day", Fixed(5, 1)),
    ASCENSION,
    PENTECOST,
    h("Midsummer Eve", WeekdayFrom(Weekday::Friday, 6, 19)),
    h("Midsummer Day", WeekdayFrom(Weekday::Saturday, 6, 20)),
    h("All Saints' Day", WeekdayFrom(Weekday::Saturday, 10, 31)),
    h("Independence Day", Fixed(12, 6)),
    h("Christmas Eve", Fixed(12, 24)),
    CHRISTMAS,
    BOXING_DAY,
];

const ICELAND: &[Holiday] = &[
    NEW_YEAR,
    MAUNDY_THURSDAY,
    GOOD_FRIDAY,
    EASTER_SUNDAY,
    EASTER_MONDAY,
    h("First Day of Summer", WeekdayFrom(Weekday::Thursday, 4, 19)),
    h("Labor Day", Fixed(5, 1)),
    ASCENSION,
    PENTECOST,
    PENTECOST_MONDAY,
    h("National Day", Fixed(6, 17)),
    h("Commerce Day", WeekdayFrom(Weekday::Monday, 8, 1)),
    CHRISTMAS,
    BOXING_DAY,
];

fn calendar(region: &str) -> &'static [Holiday] {
    match region {
        "NO" => NORWAY,
        "SE" => SWEDEN,
        "DK" => DENMARK,
        "FI" => FINLAND,
        "IS" => ICELAND,
        _ => &[],
    }
}

/// Easter Sunday of `year` (Gregorian; the anonymous computus of 1876).
///
/// ```
/// use crm_comms::mailing::easter_sunday;
/// assert_eq!(easter_sunday(2027).to_string(), "2027-03-28");
/// ```
#[must_use]
pub fn easter_sunday(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // Within jiff's years (-9999..=9999) the computus gives 22 March to
    // 25 April, always a valid date.
    Date::new(year, month as i8, day as i8).unwrap_or(Date::MIN)
}

impl Rule {
    fn date(self, year: i16, easter: Date) -> Option<Date> {
        match self {
            Rule::Fixed(m, d) => Date::new(year, m, d).ok(),
            Rule::Easter(days) => easter.checked_add(jiff::Span::new().days(days)).ok(),
            Rule::WeekdayFrom(weekday, m, d) => {
                let from = Date::new(year, m, d).ok()?;
                let ahead = (weekday.to_monday_zero_offset()
                    - from.weekday().to_monday_zero_offset())
                .rem_euclid(7);
                from.checked_add(jiff::Span::new().days(ahead)).ok()
            }
        }
    }
}

/// The public holiday on `date` in `region` (`NO`, `SE`, `DK`, `FI`,
/// `IS`), by its English name; `None` on a working day or in a region
/// without a calendar ([`HOLIDAY_REGIONS`]).
///
/// ```
/// use crm_comms::mailing::public_holiday;
/// let d = |s: &str| s.parse().unwrap();
/// assert_eq!(public_holiday("NO", d("2027-05-17")), Some("Constitution Day"));
/// assert_eq!(public_holiday("NO", d("2027-03-29")), Some("Easter Monday"));
/// assert_eq!(public_holiday("SE", d("2027-05-17")), None);
/// assert_eq!(public_holiday("GB", d("2027-12-25")), None);
/// ```
#[must_use]
pub fn public_holiday(region: &str, date: Date) -> Option<&'static str> {
    let year = date.year();
    let easter = easter_sunday(year);
    calendar(region)
        .iter()
        .filter(|h| (h.years.0..=h.years.1).contains(&year))
        .find(|h| h.rule.date(year, easter) == Some(date))
        .map(|h| h.name)
}

/// Every public holiday of `year` in `region`, by date, with its name
/// (two on one day are both listed).
#[must_use]
pub fn public_holidays(region: &str, year: i16) -> Vec<(Date, &'static str)> {
    let easter = easter_sunday(year);
    let mut days: Vec<(Date, &'static str)> = calendar(region)
        .iter()
        .filter(|h| (h.years.0..=h.years.1).contains(&year))
        .filter_map(|h| Some((h.rule.date(year, easter)?, h.name)))
        .collect();
    days.sort();
    days
}
