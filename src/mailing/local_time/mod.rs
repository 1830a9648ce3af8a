//! The recipient's own daytime: a mailing's hours read in the time zone of
//! each number's country, and no sending on that country's public
//! holidays.
//!
//! `hours.rs` holds the daily span, `holidays.rs` the computed calendars,
//! `zones.rs` the regions' time zones (generated from the tz database).
//!
//! A country with several time zones is read the most conservative way:
//! a number is sent to only when every one of its country's zones is
//! inside the hours and on a working day (a US number at 08:00 in
//! Honolulu; a Spanish one when the Canaries agree with Madrid). Numbers
//! carry no zone of their own (a mobile travels), so this is the only
//! reading that never wakes anyone; [`Daytime::From`] says which zone held
//! a number back.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::mailing::{SpecError, SpecErrorKind};

mod holidays;
mod hours;
mod zones;

pub use holidays::{HOLIDAY_REGIONS, easter_sunday, public_holiday, public_holidays};
pub use hours::DailyHours;

/// The IANA time zones of a region (`NO` → `Europe/Oslo`; `US` → 29
/// zones); empty for a region the tz database does not place (the
/// non-geographic `001`).
///
/// ```
/// use crm_comms::mailing::region_time_zones;
/// assert_eq!(region_time_zones("SE"), ["Europe/Stockholm"]);
/// assert!(region_time_zones("US").contains(&"Pacific/Honolulu"));
/// assert!(region_time_zones("001").is_empty());
/// ```
#[must_use]
pub fn region_time_zones(region: &str) -> &'static [&'static str] {
    zones::REGION_ZONES
        .binary_search_by(|(r, _)| (*r).cmp(region))
        .map_or(&[], |i| zones::REGION_ZONES[i].1)
}

/// When a mailing may text a recipient in the recipient's own time:
/// inside these daily hours in the time zone of the number's country, and
/// (unless [`without_holidays`](Self::without_holidays)) not on that
/// country's public holidays. Written `08:00-21:00`, or
/// `08:00-21:00 holidays-allowed`.
///
/// ```
/// use crm_comms::mailing::{Daytime, RecipientHours};
///
/// let rule: RecipientHours = "08:00-21:00".parse()?;
/// // 07:30 in Stockholm, a Monday: held until 08:00 local.
/// let now = "2027-03-01T06:30:00Z".parse()?;
/// match rule.check("SE", now) {
///     Daytime::From { at, reason } => {
///         assert_eq!(at.to_string(), "2027-03-01T07:00:00Z");
///         assert!(reason.contains("Europe/Stockholm"), "{reason}");
///     }
///     other => panic!("{other:?}"),
/// }
/// // Noon on 17 May in Oslo: a holiday, held until the 18th at 08:00.
/// let Daytime::From { at, reason } = rule.check("NO", "2027-05-17T10:00:00Z".parse()?) else {
///     panic!()
/// };
/// assert_eq!((at.to_string().as_str(), reason.contains("Constitution Day")),
///            ("2027-05-18T06:00:00Z", true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientHours {
    hours: DailyHours,
    holidays: bool,
}

/// How far ahead a recipient's daytime is looked for before it is called
/// never (a country whose zones share no hour of the span).
const HORIZON_DAYS: i64 = 21;

const HOLIDAYS_ALLOWED: &str = "holidays-allowed";

/// What [`RecipientHours::check`] says about a recipient now.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Daytime {
    /// It is daytime where the number is: send.
    Now,
    /// Not now: from `at` on, and why not now.
    From {
        /// The first moment every zone of the number's country is inside
        /// the hours on a working day.
        at: Timestamp,
        /// Why not now (quiet hours in which zone, or which holiday).
        reason: String,
    },
    /// Never: the country's zones share no hour of the span.
    Never {
        /// Why.
        reason: String,
    },
}

impl RecipientHours {
    /// Recipients are texted inside `hours` in their own time zone, and
    /// not on their country's public holidays.
    #[must_use]
    pub fn new(hours: DailyHours) -> Self {
        RecipientHours {
            hours,
            holidays: true,
        }
    }

    /// Public holidays are not kept (the hours still are).
    #[must_use]
    pub fn without_holidays(mut self) -> Self {
        self.holidays = false;
        self
    }

    /// The daily hours.
    #[must_use]
    pub fn hours(&self) -> DailyHours {
        self.hours
    }

    /// Whether public holidays are kept (default yes).
    #[must_use]
    pub fn keeps_holidays(&self) -> bool {
        self.holidays
    }

    /// Whether a number of `region` (as [`PhoneNumber::region`] gives it)
    /// may be texted at `now`, and if not, from when. A region without a
    /// known time zone (non-geographic numbers) is never held.
    ///
    /// [`PhoneNumber::region`]: crate::phone::PhoneNumber::region
    #[must_use]
    pub fn check(&self, region: &str, now: Timestamp) -> Daytime {
        let names = region_time_zones(region);
        let zones: Vec<(&str, TimeZone)> = names
            .iter()
            .filter_map(|n| TimeZone::get(n).ok().map(|z| (*n, z)))
            .collect();
        if zones.is_empty() {
            return Daytime::Now;
        }
        let mut at = now;
        let mut reason = None;
        let limit = now
            .checked_add(jiff::SignedDuration::from_hours(24 * HORIZON_DAYS))
            .unwrap_or(Timestamp::MAX);
        loop {
            let mut moved = false;
            for (name, zone) in &zones {
                let Some((next, why)) = self.next_in(region, name, zone, at) else {
                    continue;
                };
                if reason.is_none() {
                    reason = Some(why);
                }
                if next > at {
                    at = next;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
            if at > limit {
                return Daytime::Never {
                    reason: format!(
                        "the hours {} {} never fall inside all of {region}'s {} time zones at once",
                        self.hours,
                        if self.holidays {
                            "on a working day"
                        } else {
                            "of a day"
                        },
                        zones.len()
                    ),
                };
            }
        }
        match reason {
            None => Daytime::Now,
            Some(mut why) => {
                if zones.len() > 1 {
                    why.push_str(&format!(
                        " (the most conservative reading of {region}'s {} time zones)",
                        zones.len()
                    ));
                }
                Daytime::From { at, reason: why }
            }
        }
    }

    /// When `zone` next allows sending from `at` (`None`: now), and why
    /// not at `at`.
    fn next_in(
        &self,
        region: &str,
        name: &str,
        zone: &TimeZone,
        at: Timestamp,
    ) -> Option<(Timestamp, String)> {
        let local = at.to_zoned_datetime(zone.clone());
        let holiday = |d| self.holidays.then(|| public_holiday(region, d)).flatten();
        let today = holiday(local.date());
        if today.is_none() && self.hours.contains(local.time()) {
            return None;
        }
        let why = match today {
            Some(name_of_day) => format!("a public holiday in {region} ({name_of_day})"),
            None => format!("quiet hours in {name} (texts go {} local time)", self.hours),
        };
        let mut day = local.date();
        if today.is_some() || local.time() >= self.hours.end() {
            day = day.tomorrow().ok()?;
        }
        // Holidays run at most a few days in a row; past the horizon the
        // caller gives up.
        for _ in 0..HORIZON_DAYS {
            if holiday(day).is_none() {
                break;
            }
            day = day.tomorrow().ok()?;
        }
        let opens = day
            .to_datetime(self.hours.start())
            .to_zoned_datetime(zone.clone())
            .ok()?
            .timestamp();
        Some((opens, why))
    }
}

impl fmt::Display for RecipientHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.holidays {
            write!(f, "{}", self.hours)
        } else {
            write!(f, "{} {HOLIDAYS_ALLOWED}", self.hours)
        }
    }
}

impl fmt::Debug for RecipientHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientHours({self})")
    }
}

impl std::str::FromStr for RecipientHours {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (hours, rest) = s.split_once(' ').unwrap_or((s, ""));
        let rule = RecipientHours::new(hours.parse()?);
        match rest.trim() {
            "" => Ok(rule),
            HOLIDAYS_ALLOWED => Ok(rule.without_holidays()),
            other => Err(SpecError::new(
                SpecErrorKind::Hours,
                format!("recipient hours: {other:?} is not `{HOLIDAYS_ALLOWED}`"),
            )),
        }
    }
}
